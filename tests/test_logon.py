"""Logon normalisation and its fast path, which must never accept what email-validator rejects."""

import unicodedata

import pytest
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from factories import USER_HEADERS, input_table
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from backend.accounts.logon import (
    SPECIAL_USE_DOMAINS,
    _fast_email,
    logon_key,
    normalise_email,
    normalise_logon,
)
from backend.imports.contract import no_progress
from backend.imports.users import CHANGEABLE, UserState, plan_users, validate_rows


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


def test_the_fast_path_knows_email_validators_special_use_domains() -> None:
    assert set(SPECIAL_USE_DOMAIN_NAMES) == SPECIAL_USE_DOMAINS
    for domain in SPECIAL_USE_DOMAINS:
        assert _fast_email(f"jane@school.{domain}") is None
        with pytest.raises(ValueError, match="special-use or reserved"):
            normalise_email(f"jane@school.{domain}")


# Logons as people see them: characters that fold together, look alike or hide.
LATIN = "aAkKsSiIeE0.\u00df\u0130\u0131\u00e9\u0301"  # ß, dotted and dotless i, é, e + accent
CYRILLIC = "\u043a\u041a\u0456\u0406\u0430\u0410"  # Cyrillic ka, i and a
TRICKY = (
    "\u212a\u017f\uff4b\u03c3\u03c2\u03a3\u00b5\u200b"  # Kelvin, long s, wide k, sigmas, µ, ZWSP
)
RESPELL = st.sampled_from(
    [
        str.upper,
        str.lower,
        str.casefold,
        str.swapcase,
        lambda s: s.replace("ss", "\u00df"),
        lambda s: s.replace("k", "\u212a"),
        lambda s: unicodedata.normalize("NFD", s),
    ]
)


def address(letters: str, domain: str) -> st.SearchStrategy[str]:
    local = st.text(alphabet=st.sampled_from(letters), min_size=1, max_size=8)
    return local.filter(lambda s: "." not in (s[0], s[-1]) and ".." not in s).map(
        lambda s: f"{s}@{domain}"
    )


LOGON = address(LATIN, "School.org") | address(
    CYRILLIC, "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
)


@st.composite
def two_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A logon and another spelling of it, often one that folds to the same key."""
    logon = draw(LOGON)
    if draw(st.booleans()):
        return logon, draw(RESPELL)(logon)
    return logon, draw(LOGON | address(LATIN + CYRILLIC + TRICKY, "school.org"))


def accepted(raw: str) -> str | None:
    try:
        return normalise_logon(raw)
    except ValueError:
        return None


@settings(max_examples=500, deadline=None)
@given(two_spellings())
def test_each_logon_has_one_key_and_one_key_one_account(pair: tuple[str, str]) -> None:
    stored, typed = (accepted(raw) for raw in pair)
    assume(stored is not None)
    assert stored is not None
    key = logon_key(stored)
    assert normalise_logon(stored) == stored and logon_key(key) == key
    state = UserState(
        {key: {"id": 1, "logon_id": stored, "user_type": "GUARDIAN"} | dict.fromkeys(CHANGEABLE)}
    )
    rows = validate_rows(
        input_table(USER_HEADERS, [[pair[1], "New", "Name", "GUARDIAN"]]), no_progress
    )
    plan = plan_users(state, rows, "upsert")
    [result] = plan.results
    event("refused" if typed is None else "same key" if logon_key(typed) == key else "other")
    if typed is None:
        assert result.action == "error" and not plan.updates and not plan.inserts
    elif logon_key(typed) != key:
        assert result.action == "added"
    elif typed.lower() == stored.lower():  # one account, spelt in other capitals
        assert result.action == "updated" and plan.updates[0]["_id"] == 1
    else:  # one key, but not the same logon on screen: nothing changes
        assert result.action == "error" and not plan.updates and not plan.inserts
        assert "compare alike" in result.reason
