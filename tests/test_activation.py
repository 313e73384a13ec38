"""Account activation on SQLite and PostgreSQL: single-use, expiring, hashed tokens."""

import re
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from factories import make_accounts
from sqlalchemy import Engine, select, text

from backend.database.engine import write_transaction
from backend.database.models import ActivationToken, Base, PortalUser, utcnow
from backend.errors import InputError
from backend.mail.activation import (
    ACTIVATION_LINK_MARK,
    INVALID_LINK,
    activate,
    activation_link,
    issue_token,
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
