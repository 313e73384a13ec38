"""Account activation on SQLite and PostgreSQL: single-use, expiring, hashed tokens."""

import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from factories import USER_HEADERS, input_table, make_accounts
from sqlalchemy import Engine, select, text

from backend.database.engine import write_transaction
from backend.database.models import ActivationToken, Base, PortalUser, utcnow
from backend.errors import InputError, SettingsError
from backend.imports.users import import_users
from backend.mail.activation import (
    ACTIVATION_LINK_MARK,
    INVALID_LINK,
    activate,
    activation_link,
    issue_token,
    message_token,
    password_hasher,
    verify_password,
)
from backend.mail.outbox import queue_message
from backend.settings import get_settings

PASSWORD = "correct horse battery"


def new_token(engine: Engine, user_id: int, **kwargs: Any) -> str:
    with write_transaction(engine) as connection:
        return issue_token(connection, user_id, **kwargs)


def tokens(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(ActivationToken).order_by(ActivationToken.id)))


def set_status(engine: Engine, status: str, *logons: str) -> None:
    """Disable or enable accounts the way staff do: a users import with a STATUS column."""
    rows = [[logon, "Pat", "Lee", "GUARDIAN", status] for logon in logons]
    table = input_table([*USER_HEADERS, "STATUS"], rows, source_name="status.xlsx")
    assert import_users(engine, table, apply=True).counts["error"] == 0


def refused(engine: Engine, token: str) -> str:
    with pytest.raises(InputError) as caught:
        activate(engine, token, PASSWORD)
    return str(caught.value)


def every_stored_text(engine: Engine) -> str:
    """Every value of every table, as text: a token must appear in none of them."""
    parts = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(text(f'SELECT * FROM "{table.name}"')):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_a_token_activates_its_account_once(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    assert not verify_password(engine, "ann@example.org", PASSWORD)  # no password yet
    token = new_token(engine, ids["ann@example.org"])
    other = new_token(engine, ids["ann@example.org"])  # e.g. a re-sent activation email

    assert activate(engine, token, PASSWORD) == "ann@example.org"
    assert verify_password(engine, "ann@example.org", PASSWORD)
    assert verify_password(engine, "  ANN@Example.org ", PASSWORD)  # as typed on a sign-in page
    assert not verify_password(engine, "ann@example.org", PASSWORD + "!")
    assert not verify_password(engine, "bob@example.org", PASSWORD)  # another account: untouched
    assert not verify_password(engine, "nobody@example.org", PASSWORD)
    with engine.connect() as connection:
        stored = connection.execute(
            select(PortalUser.password_hash).where(PortalUser.id == ids["ann@example.org"])
        ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    # The same link again, and the account's other link: both spent by the activation.
    for used in (token, other):
        with pytest.raises(InputError) as caught:
            activate(engine, used, "another password 123")
        assert str(caught.value) == INVALID_LINK
    assert verify_password(engine, "ann@example.org", PASSWORD)
    assert all(row.used_at is not None for row in tokens(engine))


def test_wrong_expired_and_used_tokens_get_the_same_message(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org")
    now = utcnow()
    token = new_token(engine, ids["ann@example.org"], now=now)
    hours = get_settings().activation_hours

    def refusal(candidate: str, when: Any) -> str:
        with pytest.raises(InputError) as caught:
            activate(engine, candidate, PASSWORD, now=when)
        return str(caught.value)

    messages = [
        refusal(token + "x", now),  # wrong
        refusal("", now),  # wrong
        refusal(token, now + timedelta(hours=hours + 1)),  # expired
        refusal(token, now + timedelta(hours=hours)),  # expired at its very moment
    ]
    still_valid = now + timedelta(hours=hours - 1)
    assert activate(engine, token, PASSWORD, now=still_valid) == "ann@example.org"
    messages.append(refusal(token, still_valid))  # used
    assert messages == [INVALID_LINK] * 5
    assert "expired" in INVALID_LINK and "Ask the school" in INVALID_LINK


def test_an_expired_token_changes_nothing(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org")
    now = utcnow()
    token = new_token(engine, ids["ann@example.org"], now=now)
    later = now + timedelta(hours=get_settings().activation_hours + 1)
    with pytest.raises(InputError, match="not valid"):
        activate(engine, token, PASSWORD, now=later)
    assert not verify_password(engine, "ann@example.org", PASSWORD)
    assert [row.used_at for row in tokens(engine)] == [None]


def test_a_short_password_is_refused_before_the_token_is_touched(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org")
    token = new_token(engine, ids["ann@example.org"])
    with pytest.raises(InputError, match=r"at least 10 characters.*has 9"):
        activate(engine, token, "short pwd")
    assert [row.used_at for row in tokens(engine)] == [None]
    assert activate(engine, token, "ten chars!") == "ann@example.org"


def test_only_the_tokens_hash_is_stored(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org")
    with write_transaction(engine) as connection:
        token = issue_token(connection, ids["ann@example.org"])
        queue_message(
            connection,
            to_address="ann@example.org",
            subject="Welcome",
            body=f"Set your password: {ACTIVATION_LINK_MARK}",
            user_id=ids["ann@example.org"],
            batch_id=None,
        )
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    [row] = tokens(engine)
    assert re.fullmatch(r"[0-9a-f]{64}", row.token_hash)
    assert row.expires_at - row.created_at == timedelta(hours=get_settings().activation_hours)
    assert token not in every_stored_text(engine)
    activate(engine, token, PASSWORD)
    assert token not in every_stored_text(engine)
    assert PASSWORD not in every_stored_text(engine)


def test_activation_link_keeps_the_pages_own_query(monkeypatch: pytest.MonkeyPatch) -> None:
    assert activation_link("a-b_c") == "https://portal.example.org/activate?token=a-b_c"
    monkeypatch.setenv("PORTAL_ACTIVATION_URL", "https://sis.example.org/parents?school=12#top")
    get_settings.cache_clear()
    assert activation_link("a/b") == "https://sis.example.org/parents?school=12&token=a%2Fb#top"


def hasher_parameters(hasher: PasswordHasher) -> tuple[Any, ...]:
    return (
        hasher.type,
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
    )


def test_passwords_hash_at_production_cost_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert hasher_parameters(password_hasher()) == hasher_parameters(
        PasswordHasher.from_parameters(profiles.CHEAPEST)
    )  # what the test suite chose
    monkeypatch.delenv("PORTAL_PASSWORD_HASH_COST")
    get_settings.cache_clear()
    assert get_settings().password_hash_cost == "production"
    assert hasher_parameters(password_hasher()) == hasher_parameters(PasswordHasher())
    assert hasher_parameters(password_hasher()) == hasher_parameters(
        PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
    )


def test_a_disabled_accounts_link_stays_dead_even_once_it_is_enabled_again(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    sent = new_token(engine, ids["ann@example.org"])  # the link of an email that went out
    others = new_token(engine, ids["bob@example.org"])
    set_status(engine, "DISABLED", "ann@example.org")
    assert refused(engine, sent) == INVALID_LINK  # the same words as for a wrong token
    assert not verify_password(engine, "ann@example.org", PASSWORD)
    assert [row.user_id for row in tokens(engine)] == [ids["bob@example.org"]]

    set_status(engine, "ACTIVE", "ann@example.org")
    assert refused(engine, sent) == INVALID_LINK
    assert not verify_password(engine, "ann@example.org", PASSWORD)
    assert activate(engine, others, PASSWORD) == "bob@example.org"  # another account: untouched


def test_a_disabled_account_cannot_sign_in_until_enabled_again(engine: Engine) -> None:
    ids = make_accounts(engine, "ann@example.org")
    activate(engine, new_token(engine, ids["ann@example.org"]), PASSWORD)
    assert verify_password(engine, "ann@example.org", PASSWORD)
    set_status(engine, "DISABLED", "ann@example.org")
    assert not verify_password(engine, "ann@example.org", PASSWORD)
    assert not verify_password(engine, "ann@example.org", PASSWORD + "!")
    set_status(engine, "ACTIVE", "ann@example.org")
    assert verify_password(engine, "ann@example.org", PASSWORD)


def test_a_disabled_account_cannot_be_activated_with_a_link_issued_while_disabled(
    engine: Engine,
) -> None:
    ids = make_accounts(engine, "ann@example.org")
    set_status(engine, "DISABLED", "ann@example.org")
    token = new_token(engine, ids["ann@example.org"])
    assert refused(engine, token) == INVALID_LINK
    assert not verify_password(engine, "ann@example.org", PASSWORD)


def test_a_messages_token_needs_the_secret_kept_outside_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed = "5eed" * 16
    token = message_token(seed)
    assert message_token(seed) == token and len(token) == 43  # 256 bits, URL-safe base64
    assert message_token(seed[:-1] + "0") != token
    secret_file = Path(get_settings().activation_secret_file)
    assert re.fullmatch(r"[0-9a-f]{64}", secret_file.read_text())
    if os.name == "posix":
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert [p.name for p in secret_file.parent.iterdir() if "activation" in p.name] == [
        secret_file.name
    ]

    monkeypatch.setenv("PORTAL_ACTIVATION_SECRET_FILE", str(tmp_path / "other" / "secret"))
    get_settings.cache_clear()
    assert message_token(seed) != token  # the database's seed alone makes no working link

    (tmp_path / "bad-secret").write_text("not a secret")
    monkeypatch.setenv("PORTAL_ACTIVATION_SECRET_FILE", str(tmp_path / "bad-secret"))
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match=r"does not hold a secret.*delete it to make a new one"):
        message_token(seed)
