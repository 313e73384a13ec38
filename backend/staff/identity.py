"""Staff identities: who a request to a district server comes from, and which schools they see.

A staff member is a district admin (every school) or a school's staff (the schools listed for
them). Each holds one personal API token, shown once when made and stored only as its SHA-256:
``identify`` turns a token into a ``StaffIdentity``, which the server's scope rules read. A
later sign-in through the district's identity provider (OIDC: Microsoft Entra ID, Google) will
find the same staff row by ``identity_issuer`` and ``identity_subject`` and yield the same
identity, so nothing that reads an identity depends on how it was proved.
"""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError

from backend.accounts.logon import logon_key, normalise_email
from backend.database.engine import read_transaction, write_transaction
from backend.database.models import School, Staff, StaffSchool, StaffToken, utcnow
from backend.errors import InputError, NotFoundError, NotSignedIn
from backend.imports.cell_values import refuse_invisible

TOKEN_PREFIX = "ppa_"
"""Begins every staff token, so one pasted where it does not belong (a chat, a repository) is
recognised for what it is, by people and by secret scanners."""
DISTRICT_ADMIN = "district-admin"
SCHOOL_STAFF = "school-staff"
ROLES = (DISTRICT_ADMIN, SCHOOL_STAFF)
ACTIVE, DISABLED = "ACTIVE", "DISABLED"
NAME_CHARS: int = Staff.display_name.type.length
NOT_SIGNED_IN = (
    "This staff token is not valid: it may be mistyped, replaced by a newer one, or its "
    "holder's access may have ended. Ask the district's portal administrator for a new one."
)
USE_NOTED_EVERY = timedelta(minutes=1)
"""How often a token's last use is written: a server asked many times a minute by one person
would otherwise write once per request."""


@dataclass(frozen=True)
class StaffIdentity:
    """A staff member as the server's rules see them: who, what role, which schools."""

    staff_id: int
    email: str
    role: str
    school_ids: frozenset[int] = frozenset()
    school_codes: tuple[str, ...] = ()

    @property
    def is_district_admin(self) -> bool:
        return self.role == DISTRICT_ADMIN

    def sees_school(self, school_id: int | None) -> bool:
        """A district admin sees every school, and students of no school; school staff see
        only their own schools."""
        return self.is_district_admin or (school_id is not None and school_id in self.school_ids)


Actor = str | StaffIdentity | None
"""Who runs a batch: a staff identity (a district server's request), which the batch names
and whose scope the services apply; a name; or nobody, which records the system login."""


@dataclass(frozen=True)
class StaffMember:
    """One member as `portal staff list` shows them."""

    id: int
    email: str
    display_name: str | None
    role: str
    status: str
    school_codes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


def token_hash(token: str) -> str:
    """The token as stored: its SHA-256, in hex.

    A token is 256 random bits, so a fast hash is enough: slow hashes (argon2, bcrypt) exist
    to make guessing a human-chosen password from its hash expensive, and no guess finds a
    256-bit random value. A fast hash also lets the token be found by an index lookup on its
    hash, with no per-member comparison whose timing could leak anything.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(connection: Connection, staff_id: int) -> str:
    """Make, store (as its hash) and return a new token for ``staff_id``."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        insert(StaffToken),
        {"staff_id": staff_id, "token_hash": token_hash(token), "created_at": utcnow()},
    )
    return token


def _revoke_tokens(connection: Connection, staff_id: int) -> None:
    connection.execute(
        update(StaffToken)
        .where(StaffToken.staff_id == staff_id, StaffToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _address(email: str) -> str:
    try:
        return normalise_email(email)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _display_name(name: str | None) -> str | None:
    name = (name or "").strip()
    if not name:
        return None
    try:
        refuse_invisible(name)
    except ValueError as exc:
        raise InputError(f"The name {exc}") from None
    if len(name) > NAME_CHARS:
        raise InputError(f"The name has {len(name)} characters; at most {NAME_CHARS} are allowed")
    return name


def _schools(connection: Connection, role: str, codes: Iterable[str]) -> dict[str, int]:
    """The schools of a new member by code -> id; refuses what the role does not allow and
    names every code no school has."""
    wanted = list(dict.fromkeys(code.strip() for code in codes if code.strip()))
    if role not in ROLES:
        raise InputError(f"'{role}' is not a staff role: use {' or '.join(ROLES)}")
    if role == DISTRICT_ADMIN and wanted:
        raise InputError("A district admin sees every school: leave out --school")
    if role == SCHOOL_STAFF and not wanted:
        raise InputError(
            "School staff need at least one school: add --school CODE, with the school's code "
            "as the roster gives it"
        )
    query = select(School.code, School.id).where(School.code.in_(wanted))
    found: dict[str, int] = {code: id_ for code, id_ in connection.execute(query)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        listed = ", ".join(f"'{code}'" for code in unknown)
        noun = "code" if len(unknown) == 1 else "codes"
        raise InputError(
            f"No school has the {noun} {listed}: check it against the roster's schools "
            "(import the roster first if the school is new)"
        )
    return {code: found[code] for code in wanted}


def _refuse_taken(connection: Connection, address: str) -> None:
    """Refuse a second member with the same email (compared as logons are)."""
    taken = connection.execute(
        select(Staff.email, Staff.status).where(Staff.email_key == logon_key(address))
    ).first()
    if taken is None:
        return
    if taken.status != ACTIVE:
        raise InputError(
            f"{taken.email} is already on the staff list, disabled: their access has ended, "
            "and a disabled member gets no new token"
        )
    raise InputError(
        f"{taken.email} is already on the staff list: `portal staff rotate-token "
        f"{taken.email}` gives them a new token"
    )


def add_staff(
    engine: Engine,
    email: str,
    *,
    role: str,
    school_codes: Iterable[str] = (),
    display_name: str | None = None,
) -> tuple[StaffIdentity, str]:
    """Add a staff member and make their first token; returns the identity and the token,
    which is shown this once and never stored."""
    address, name = _address(email), _display_name(display_name)
    with write_transaction(engine) as connection:
        _refuse_taken(connection, address)
        schools = _schools(connection, role, school_codes)
        staff_id = connection.execute(
            insert(Staff).returning(Staff.id),
            {
                "email": address,
                "email_key": logon_key(address),
                "display_name": name,
                "role": role,
                "status": ACTIVE,
                "created_at": utcnow(),
            },
        ).scalar_one()
        _give_schools(connection, staff_id, schools)
        token = _new_token(connection, staff_id)
    return _identity(staff_id, address, role, schools), token


def change_staff(
    engine: Engine, email: str, *, role: str, school_codes: Iterable[str] = ()
) -> StaffIdentity:
    """A member's new role and schools, in place of the old: their token stays theirs, and
    the server reads the change at their next request."""
    with write_transaction(engine) as connection:
        staff_id, stored, _ = _member(connection, email)
        schools = _schools(connection, role, school_codes)
        connection.execute(update(Staff).where(Staff.id == staff_id).values(role=role))
        connection.execute(delete(StaffSchool).where(StaffSchool.staff_id == staff_id))
        _give_schools(connection, staff_id, schools)
    return _identity(staff_id, stored, role, schools)


def _give_schools(connection: Connection, staff_id: int, schools: dict[str, int]) -> None:
    if schools:
        rows = [{"staff_id": staff_id, "school_id": id_} for id_ in schools.values()]
        connection.execute(insert(StaffSchool), rows)


def _identity(staff_id: int, email: str, role: str, schools: dict[str, int]) -> StaffIdentity:
    """An identity from a member's row and their schools (code -> id)."""
    codes = tuple(sorted(schools))
    return StaffIdentity(staff_id, email, role, frozenset(schools.values()), codes)


def _school_codes(connection: Connection, staff_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each member's school codes, sorted, in one query."""
    query = (
        select(StaffSchool.staff_id, School.code)
        .join(School, School.id == StaffSchool.school_id)
        .where(StaffSchool.staff_id.in_(list(staff_ids)))
        .order_by(School.code)
    )
    codes: dict[int, list[str]] = {}
    for staff_id, code in connection.execute(query):
        codes.setdefault(staff_id, []).append(code)
    return codes


def list_staff(engine: Engine) -> list[StaffMember]:
    """Every staff member, by email, with their schools and when a token of theirs was last
    used; three queries whatever the number of members."""
    with read_transaction(engine) as connection:
        members = connection.execute(select(Staff).order_by(Staff.email_key)).all()
        codes = _school_codes(connection, [m.id for m in members])
        used: dict[int, Any] = {
            staff_id: last
            for staff_id, last in connection.execute(
                select(StaffToken.staff_id, func.max(StaffToken.last_used_at)).group_by(
                    StaffToken.staff_id
                )
            )
        }
    return [
        StaffMember(
            m.id,
            m.email,
            m.display_name,
            m.role,
            m.status,
            tuple(codes.get(m.id, ())),
            m.created_at,
            used.get(m.id),
        )
        for m in members
    ]


def _member(connection: Connection, email: str) -> tuple[int, str, str]:
    """The id, email and status of the member with this email (compared as logons are)."""
    key = logon_key(email.strip())
    row = connection.execute(
        select(Staff.id, Staff.email, Staff.status).where(Staff.email_key == key)
    ).first()
    if row is None:
        raise NotFoundError(
            f"No staff member has the email {email.strip()}: `portal staff list` lists them"
        )
    return row.id, row.email, row.status


def disable_staff(engine: Engine, email: str) -> bool:
    """End a member's access: status DISABLED and every token revoked. False when they were
    disabled already."""
    with write_transaction(engine) as connection:
        staff_id, _, status = _member(connection, email)
        connection.execute(update(Staff).where(Staff.id == staff_id).values(status=DISABLED))
        _revoke_tokens(connection, staff_id)
    return status != DISABLED


def enable_staff(engine: Engine, email: str) -> str:
    """Give a disabled member their access back, with a new token (their old ones stay
    revoked: whoever kept one while they were away gains nothing)."""
    with write_transaction(engine) as connection:
        staff_id, stored, status = _member(connection, email)
        if status == ACTIVE:
            raise InputError(
                f"{stored} is active already: `portal staff rotate-token {stored}` gives them a "
                "new token"
            )
        connection.execute(update(Staff).where(Staff.id == staff_id).values(status=ACTIVE))
        return _new_token(connection, staff_id)


def rotate_token(engine: Engine, email: str) -> str:
    """A new token for an active member; every earlier token of theirs stops working."""
    with write_transaction(engine) as connection:
        staff_id, stored, status = _member(connection, email)
        if status != ACTIVE:
            raise InputError(
                f"{stored} is disabled: their access has ended, and a disabled member gets "
                "no new token"
            )
        _revoke_tokens(connection, staff_id)
        return _new_token(connection, staff_id)


def identify(engine: Engine, token: str) -> StaffIdentity:
    """The active staff member a token belongs to, found by the token's hash; notes its use.

    A mistyped, made-up, revoked (rotated) token and a disabled member's token all raise the
    same ``NotSignedIn``, so a caller learns nothing about which tokens or members exist.
    """
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise NotSignedIn(NOT_SIGNED_IN)
    now = utcnow()
    stale = or_(StaffToken.last_used_at.is_(None), StaffToken.last_used_at < now - USE_NOTED_EVERY)
    query = (
        select(StaffToken.id, stale, Staff.id, Staff.email, Staff.role)
        .join(Staff, Staff.id == StaffToken.staff_id)
        .where(
            StaffToken.token_hash == token_hash(token),
            StaffToken.revoked_at.is_(None),
            Staff.status == ACTIVE,
        )
    )
    with read_transaction(engine) as connection:
        row = connection.execute(query).first()
        if row is None:
            raise NotSignedIn(NOT_SIGNED_IN)
        token_id, unnoted, staff_id, email, role = row
        schools = connection.execute(
            select(School.id, School.code)
            .join(StaffSchool, StaffSchool.school_id == School.id)
            .where(StaffSchool.staff_id == staff_id)
            .order_by(School.code)
        ).all()
    if unnoted:
        _note_use(engine, token_id, now)
    return StaffIdentity(
        staff_id, email, role, frozenset(id_ for id_, _ in schools), tuple(c for _, c in schools)
    )


def _note_use(engine: Engine, token_id: int, now: datetime) -> None:
    """Write when a token was used, in a transaction of its own, at most once a minute.

    Most requests write nothing, so on SQLite they never wait for an import holding the write
    lock. Noting the use is bookkeeping: a database too busy to take it refuses no one.
    """
    try:
        with engine.begin() as connection:
            connection.execute(
                update(StaffToken)
                .where(
                    StaffToken.id == token_id,
                    or_(
                        StaffToken.last_used_at.is_(None),
                        StaffToken.last_used_at < now - USE_NOTED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
    except OperationalError:
        return
