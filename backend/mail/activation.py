"""Account activation: a single-use, expiring token in an email link sets the first password.

New accounts never get a password. The outbox issues a token when it hands an activation message
to the mail server; only the token's SHA-256 is stored, so a copy of the database cannot activate
anything. The raw token lives in the email and nowhere else: it is never logged, stored or written
to an audit event.
"""

import hashlib
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import quote, urlsplit, urlunsplit

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select, update

from backend.accounts.logon import logon_key
from backend.database.engine import read_transaction, write_transaction
from backend.database.models import ActivationToken, PortalUser, utcnow
from backend.errors import InputError
from backend.settings import get_settings

ACTIVATION_LINK_MARK = "[[activation-link]]"
"""Where a message body's activation link goes; the outbox replaces it when it sends."""

MIN_PASSWORD_LENGTH = 10

INVALID_LINK = (
    "This activation link is not valid: it may have expired or been used already. "
    "Ask the school for a new one."
)
"""One message for a wrong, expired or used token: the page must not say which it was."""

HASH_PROFILES: dict[str, Parameters] = {
    "production": profiles.RFC_9106_LOW_MEMORY,  # argon2-cffi's own default
    "cheapest": profiles.CHEAPEST,
}
"""The argon2id parameters for each value of the ``password_hash_cost`` setting."""


@cache
def _hasher_for(cost: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(HASH_PROFILES[cost])


def password_hasher() -> PasswordHasher:
    """The hasher at the cost the settings choose (production unless a test suite says so)."""
    return _hasher_for(get_settings().password_hash_cost)


def as_utc(now: datetime | None) -> datetime:
    """The current time, or the caller's time in UTC (SQLite stores times without their zone).

    A naive time is taken to be UTC already.
    """
    if now is None:
        return utcnow()
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    """What is stored for a token: 256 random bits need no salt or slow hash to stay unguessable."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(connection: Connection, user_id: int, *, now: datetime | None = None) -> str:
    """Store a new token's hash for the account, in the caller's transaction; return the token."""
    now = as_utc(now)
    token = secrets.token_urlsafe(32)  # 256 bits
    connection.execute(
        insert(ActivationToken),
        {
            "user_id": user_id,
            "token_hash": token_hash(token),
            "created_at": now,
            "expires_at": now + timedelta(hours=get_settings().activation_hours),
            "used_at": None,
        },
    )
    return token


def activation_link(token: str) -> str:
    """The portal's activation page with ``token=`` added to whatever query it already has."""
    parts = urlsplit(get_settings().activation_url)
    pair = "token=" + quote(token, safe="")
    query = f"{parts.query}&{pair}" if parts.query else pair
    return urlunsplit(parts._replace(query=query))


def check_password(password: str) -> None:
    """Refuse a password the portal would not accept, in words the parent can act on."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long; "
            f"this one has {len(password)}."
        )


def activate(engine: Engine, token: str, new_password: str, *, now: datetime | None = None) -> str:
    """Set the account's first password with a valid token; return the account's logon.

    Every unused token of the account is spent with it: once a password is set, an older
    activation email must not be able to set another one.
    """
    check_password(new_password)
    now = as_utc(now)
    # Hashing is deliberately slow: do it before taking the write lock, not while holding it.
    password_hash = password_hasher().hash(new_password)
    with write_transaction(engine) as connection:
        # One query for all three ways a token is invalid, so no branch tells them apart.
        found = connection.execute(
            select(ActivationToken.user_id, PortalUser.logon_id)
            .join(PortalUser, PortalUser.id == ActivationToken.user_id)
            .where(
                ActivationToken.token_hash == token_hash(token),
                ActivationToken.used_at.is_(None),
                ActivationToken.expires_at > now,
            )
        ).first()
        if found is None:
            raise InputError(INVALID_LINK)
        connection.execute(
            update(PortalUser)
            .where(PortalUser.id == found.user_id)
            .values(password_hash=password_hash, updated_at=now)
        )
        connection.execute(
            update(ActivationToken)
            .where(ActivationToken.user_id == found.user_id, ActivationToken.used_at.is_(None))
            .values(used_at=now)
        )
        logon_id: str = found.logon_id
        return logon_id


@cache
def _dummy_hash(cost: str) -> str:
    """A hash to verify against when there is no account, so both cases take as long."""
    return _hasher_for(cost).hash(secrets.token_urlsafe(16))


def _key(logon_id: str) -> str:
    """The key of a logon as typed on a sign-in page (spaces and Unicode form are forgiven)."""
    return logon_key(unicodedata.normalize("NFC", logon_id.strip()))


def verify_password(engine: Engine, logon_id: str, password: str) -> bool:
    """The portal's sign-in check: False for a wrong password, no account, or no password yet."""
    with read_transaction(engine) as connection:
        stored = connection.execute(
            select(PortalUser.password_hash).where(PortalUser.logon_key == _key(logon_id))
        ).scalar_one_or_none()
    cost = get_settings().password_hash_cost
    try:
        verified = _hasher_for(cost).verify(stored or _dummy_hash(cost), password)
    except (VerificationError, InvalidHashError):
        return False
    return verified and stored is not None
