"""Logon normalisation and its fast path, which must never accept what email-validator rejects."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.accounts.logon import _fast_email, logon_key, normalise_email, normalise_logon


@pytest.mark.parametrize(
    ("raw", "stored", "key"),
    [
        (" Jane.Doe@X.ORG ", "Jane.Doe@x.org", "jane.doe@x.org"),
        ("j.doe+school@gmail.com", "j.doe+school@gmail.com", "j.doe+school@gmail.com"),
        ("Jose\u0301@example.org", "Jos\u00e9@example.org", "jos\u00e9@example.org"),  # NFC
        ("STRASSE@example.de", "STRASSE@example.de", "strasse@example.de"),
    ],
)
def test_stored_form_and_key(raw: str, stored: str, key: str) -> None:
    assert normalise_logon(raw) == stored
    assert logon_key(normalise_logon(raw)) == key


def test_dots_and_tags_are_never_collapsed() -> None:
    keys = {
        logon_key(normalise_logon(v)) for v in ("a.b@gmail.com", "ab@gmail.com", "ab+1@gmail.com")
    }
    assert len(keys) == 3


@pytest.mark.parametrize(
    "bad",
    [
        "maria@@example.com",
        "john smith@example.net",
        "no-at-sign",
        "a@b",
        "x@localhost",
        "x@site.test",
        "@example.org",
        "a..b@example.org",
    ],
)
def test_invalid_addresses_say_why(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a valid email address"):
        normalise_email(bad)


def test_student_usernames_but_not_for_guardians() -> None:
    assert normalise_logon("jdoe12", email_required=False) == "jdoe12"
    with pytest.raises(ValueError):
        normalise_logon("jdoe12")
    with pytest.raises(ValueError, match="neither an email address nor a username"):
        normalise_logon("j doe", email_required=False)


ADDRESSY = st.text(
    alphabet=st.sampled_from("abcXYZ019.-_+@!#'=`~|{}é "), min_size=1, max_size=30
) | st.emails().map(str)


@settings(max_examples=600, deadline=None)
@given(ADDRESSY)
def test_fast_path_agrees_with_email_validator(value: str) -> None:
    fast = _fast_email(value)
    if fast is None:
        return
    try:
        checked = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AssertionError(f"fast path accepted {value!r}, email-validator says {exc}") from None
    assert fast == checked
