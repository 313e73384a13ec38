"""Account activation: a single-use, expiring token in an email link sets the first password.

New accounts never get a password. The outbox issues a token when it hands an activation message
to the mail server; only the token's SHA-256 is stored, so a copy of the database cannot activate
anything. The token of a message is made from a random seed stored with the message and a secret
kept outside the database (``activation_secret_file``): every attempt to deliver one message
carries the same link, and neither the database nor the secret alone can make it. The raw token
lives in the email and nowhere else: it is never logged, stored or written to an audit event.

A printed letter carries a short code instead (``new_code``), typed on the same page with the
logon. Its hash is an HMAC with the same secret, so a copy of the database cannot try codes
offline; each wrong code typed with the logon is counted, and at ``letter_code_attempts`` the
code stops working. An account has one way in at a time: a new code replaces its unused links
and codes, and a new email's link replaces an unused code.

Only an ACTIVE account can be activated or sign in: disabling an account deletes its unused
tokens (``revoke_links_of_shut_accounts``), so enabling it again revives no link sent before.
"""

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, Row, delete, insert, select, update

from backend.accounts.logon import logon_key
from backend.database.engine import read_transaction, where_in, write_transaction
from backend.database.models import ActivationToken, PortalUser, utcnow
from backend.errors import InputError, SettingsError
from backend.settings import get_settings

ACTIVATION_LINK_MARK = "[[activation-link]]"
"""Where a message body's activation link goes; the outbox replaces it when it sends."""

MIN_PASSWORD_LENGTH = 10
OPEN = "ACTIVE"
"""The one account status that may be activated, sign in, or be sent mail."""

INVALID_LINK = (
    "This activation link or code is not valid: it may have expired or been used already. "
    "Ask the school for a new one."
)
"""One message for a wrong, expired or used token or code: the page must not say which."""

LINK = "link"
LETTER = "letter"
"""The kinds of ``ActivationToken``: an emailed link's token, or a printed letter's code."""

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so no two characters look alike on paper."""
CODE_LENGTH = 12  # 60 bits: with the logon and a few tries per code, far beyond guessing
CODE_GROUP = 4
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

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


def activation_secret() -> bytes:
    """The secret in ``activation_secret_file``, made there (for its owner only) if absent."""
    return _secret_in(get_settings().activation_secret_file)


@cache
def _secret_in(name: str) -> bytes:
    path = Path(name).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)  # never replaces a secret another process made meanwhile
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        secret = b""
    if len(secret) < 32:
        raise SettingsError(
            f"PORTAL_ACTIVATION_SECRET_FILE ({path}) does not hold a secret of 64 hex digits: "
            "restore the file, or delete it to make a new one (a message sent again then "
            "carries a new link)"
        )
    return secret


def message_token(seed: str) -> str:
    """The token of a message's link: the same for a seed, unguessable without the secret."""
    digest = hmac.new(activation_secret(), seed.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")  # 256 bits


def message_link(
    connection: Connection, user_id: int, seed: str | None, *, now: datetime | None = None
) -> tuple[str, str]:
    """The token and seed of an activation message's link, in the caller's transaction.

    A message that carried a link before gets the same one, its expiry counted afresh. A first
    link, or one revoked since (the account was disabled), is new and replaces the account's
    other unused links: the newest message is the one that works.
    """
    now = as_utc(now)
    if seed is not None:
        token = message_token(seed)
        renewed = connection.execute(
            update(ActivationToken)
            .where(
                ActivationToken.token_hash == token_hash(token),
                ActivationToken.user_id == user_id,
                ActivationToken.used_at.is_(None),
            )
            .values(expires_at=now + timedelta(hours=get_settings().activation_hours))
        ).rowcount
        if renewed:
            return token, seed
    revoke_links(connection, user_id)
    seed = secrets.token_hex(32)
    return issue_token(connection, user_id, now=now, token=message_token(seed)), seed


def revoke_links(connection: Connection, user_id: int) -> None:
    """Delete the account's unused tokens: no link sent to it before works any more."""
    connection.execute(
        delete(ActivationToken).where(
            ActivationToken.user_id == user_id, ActivationToken.used_at.is_(None)
        )
    )


def revoke_links_of_shut_accounts(connection: Connection) -> None:
    """Delete the unused tokens of every account that is not ACTIVE, in one statement.

    Run in the transaction that changes accounts: a link sent before an account was disabled
    must not work again once it is enabled.
    """
    shut = select(PortalUser.id).where(PortalUser.status != OPEN)
    connection.execute(
        delete(ActivationToken).where(
            ActivationToken.user_id.in_(shut), ActivationToken.used_at.is_(None)
        )
    )


def issue_token(
    connection: Connection,
    user_id: int,
    *,
    now: datetime | None = None,
    token: str | None = None,
) -> str:
    """Store a token's hash for the account, in the caller's transaction; return the token.

    Without ``token``, a random one.
    """
    now = as_utc(now)
    token = token or secrets.token_urlsafe(32)  # 256 bits
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


def new_code() -> str:
    """A letter's code as printed: 12 characters of ``CODE_ALPHABET`` in groups of four."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalise_code(typed: str) -> str:
    """A code as typed, read as printed: capitals, spaces and dashes do not matter, and O, I
    and L are read as the digits 0, 1 and 1."""
    text = unicodedata.normalize("NFKC", typed).upper().translate(_READ_AS)
    return "".join(c for c in text if not c.isspace() and c not in "-_.")


def code_hash(user_id: int, code: str) -> str:
    """What is stored for a letter's code: keyed with the activation secret and the account,
    since 60 bits hashed alone could be tried offline from a copy of the database."""
    message = f"{LETTER}:{user_id}:{normalise_code(code)}".encode()
    return hmac.new(activation_secret(), message, hashlib.sha256).hexdigest()


def issue_codes(
    connection: Connection, user_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, str]:
    """A new letter code for each account, in the caller's transaction; return the codes.

    Each account's unused links and codes are deleted first: the newest letter is the one that
    works, as the newest email is.
    """
    now = as_utc(now)
    expires = now + timedelta(days=get_settings().letter_code_days)
    codes = {user_id: new_code() for user_id in user_ids}
    theirs = where_in(connection, ActivationToken.user_id, codes)
    if theirs is not None:
        connection.execute(delete(ActivationToken).where(theirs, ActivationToken.used_at.is_(None)))
    rows = [
        {
            "user_id": user_id,
            "token_hash": code_hash(user_id, code),
            "created_at": now,
            "expires_at": expires,
            "used_at": None,
            "kind": LETTER,
            "failed_attempts": 0,
        }
        for user_id, code in codes.items()
    ]
    if rows:
        connection.execute(insert(ActivationToken), rows)
    return codes


def activation_link(token: str, language: str | None = None) -> str:
    """The portal's activation page with ``token=`` added to whatever query it already has.

    With the account's LANGUAGE, ``lang=`` too: the page picks its language from the link, never
    from the token, so it says nothing about whether a token is valid.
    """
    parts = urlsplit(get_settings().activation_url)
    pairs = ["token=" + quote(token, safe="")]
    if language and language.strip():
        pairs.append("lang=" + quote(language.strip(), safe=""))
    query = "&".join([parts.query, *pairs] if parts.query else pairs)
    return urlunsplit(parts._replace(query=query))


def check_password(password: str) -> None:
    """Refuse a password the portal would not accept, in words the parent can act on."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long; "
            f"this one has {len(password)}."
        )


def activate(
    engine: Engine,
    token: str,
    new_password: str,
    *,
    logon: str | None = None,
    now: datetime | None = None,
) -> str:
    """Set the account's first password with a valid token; return the account's logon.

    With ``logon``, ``token`` is the code of a printed letter to that account. Every unused
    token of the account is spent with it: once a password is set, an older email or letter
    must not be able to set another one. A disabled account's token is refused like a wrong one.
    """
    check_password(new_password)
    now = as_utc(now)
    # Hashing is deliberately slow: do it before taking the write lock, not while holding it.
    password_hash = password_hasher().hash(new_password)
    with write_transaction(engine) as connection:
        if logon is None:
            found = _link_holder(connection, token, now)
        else:
            found = _code_holder(connection, logon, token, now)
        if found is not None:
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
    if found is None:  # after the commit: a wrong code's count is kept
        raise InputError(INVALID_LINK)
    logon_id: str = found.logon_id
    return logon_id


def _link_holder(connection: Connection, token: str, now: datetime) -> Row[int, str] | None:
    """The account an emailed link's token activates, or None."""
    # One query for every way a token is invalid, so no branch tells them apart.
    return connection.execute(
        select(ActivationToken.user_id, PortalUser.logon_id)
        .join(PortalUser, PortalUser.id == ActivationToken.user_id)
        .where(
            ActivationToken.token_hash == token_hash(token),
            ActivationToken.kind == LINK,
            ActivationToken.used_at.is_(None),
            ActivationToken.expires_at > now,
            PortalUser.status == OPEN,
        )
    ).first()


def _code_holder(
    connection: Connection, logon: str, code: str, now: datetime
) -> Row[int, str] | None:
    """The account a letter's code activates with its logon, or None, the wrong try counted."""
    account = connection.execute(
        select(PortalUser.id.label("user_id"), PortalUser.logon_id).where(
            PortalUser.logon_key == _key(logon), PortalUser.status == OPEN
        )
    ).first()
    if account is None:
        return None
    unused = (
        ActivationToken.user_id == account.user_id,
        ActivationToken.kind == LETTER,
        ActivationToken.used_at.is_(None),
    )
    found = connection.execute(
        select(ActivationToken.id).where(
            *unused,
            ActivationToken.token_hash == code_hash(account.user_id, code),
            ActivationToken.expires_at > now,
            ActivationToken.failed_attempts < get_settings().letter_code_attempts,
        )
    ).first()
    if found is None:
        connection.execute(
            update(ActivationToken)
            .where(*unused)
            .values(failed_attempts=ActivationToken.failed_attempts + 1)
        )
        return None
    return account


@cache
def _dummy_hash(cost: str) -> str:
    """A hash to verify against when there is no account, so both cases take as long."""
    return _hasher_for(cost).hash(secrets.token_urlsafe(16))


def _key(logon_id: str) -> str:
    """The key of a logon as typed on a sign-in page (spaces and Unicode form are forgiven)."""
    return logon_key(unicodedata.normalize("NFC", logon_id.strip()))


def verify_password(engine: Engine, logon_id: str, password: str) -> bool:
    """The portal's sign-in check: False for a wrong password, no account, no password yet, or
    an account that is not ACTIVE."""
    with read_transaction(engine) as connection:
        stored = connection.execute(
            select(PortalUser.password_hash).where(
                PortalUser.logon_key == _key(logon_id), PortalUser.status == OPEN
            )
        ).scalar_one_or_none()
    cost = get_settings().password_hash_cost
    try:
        verified = _hasher_for(cost).verify(stored or _dummy_hash(cost), password)
    except (VerificationError, InvalidHashError):
        return False
    return verified and stored is not None
