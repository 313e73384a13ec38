"""The users import: one row per logon, matched by LOGONID.

A run loads the stored accounts its rows name (``load_users``), then plans each row against them
(``plan_users``, a pure function). Simulation and apply run the same planner; apply loads and
plans again inside its write transaction so a run that waited for another sees what that one
committed.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, select

from backend.accounts.attach_rules import Own, own_email, students_own
from backend.accounts.logon import logon_key, normalise_email, normalise_logon, same_but_case
from backend.database.engine import bulk_update, insert_rows, rows_in
from backend.database.models import PortalUser, utcnow
from backend.imports.batches import run_batch
from backend.imports.columns import FIRST_NAME, LAST_NAME, LOGONID, text
from backend.imports.contract import (
    CHUNK,
    Column,
    InputTable,
    Progress,
    Report,
    RowResult,
    add_blank,
    enum_parser,
    field_headers,
    match_headers,
    no_progress,
    parse_rows,
)
from backend.imports.reviewed import Review
from backend.mail.activation import revoke_links_of_shut_accounts
from backend.staff.identity import Actor
from backend.staff.scope import Scope, account_refusal

ImportMode = Literal["upsert", "insert-only", "update-only"]
IMPORT_MODES: tuple[ImportMode, ...] = ("upsert", "insert-only", "update-only")
USER_TYPES = ("GUARDIAN", "STUDENT")
STATUSES = ("ACTIVE", "DISABLED")


def _phone(text: str) -> str:
    if sum(map(str.isdigit, text)) < 7 or len(text) > 40:
        raise ValueError(f"'{text}' does not look like a phone number (7 to 40 characters, digits)")
    return text


# LOGONID is parsed last, once USER_TYPE is known (a student may log on with a username).
USER_COLUMNS: tuple[Column, ...] = (
    replace(
        LOGONID,
        help="The logon: an email address for a guardian; an email or a username for a student.",
    ),
    replace(
        FIRST_NAME,
        help="First name. Needed for a new account; blank leaves an existing account's as it is.",
    ),
    replace(
        LAST_NAME,
        help="Last name. Needed for a new account; blank leaves an existing account's as it is.",
    ),
    Column(
        "USER_TYPE",
        "user_type",
        enum_parser("USER_TYPE", USER_TYPES),
        True,
        ("LOGONTYPE", "TYPE", "ACCOUNTTYPE"),
        "GUARDIAN or STUDENT. Needed for a new account; an account's type never changes.",
    ),
    Column(
        "EMAIL",
        "email",
        normalise_email,
        False,
        ("EMAILADDRESS", "CONTACTEMAIL"),
        "Where notices go, when it differs from the logon (e.g. a student username).",
        stores=(PortalUser.email,),
    ),
    Column(
        "STATUS",
        "status",
        enum_parser("STATUS", STATUSES),
        False,
        ("ACCOUNTSTATUS",),
        "ACTIVE or DISABLED. New accounts are ACTIVE unless this says otherwise.",
    ),
    Column(
        "PHONE",
        "phone",
        _phone,
        False,
        ("PHONENUMBER", "CELLPHONE", "MOBILE"),
        "A contact phone number, kept as typed.",
        stores=(PortalUser.phone,),
    ),
    Column(
        "LANGUAGE",
        "language",
        text,
        False,
        ("PREFERREDLANGUAGE",),
        "Preferred language for notices, e.g. English or Spanish.",
        holds="text",
        stores=(PortalUser.language,),
    ),
)
# Fields an import may change on an existing account, and the header each is shown under.
CHANGEABLE = field_headers(USER_COLUMNS, leave_out=("logon_id", "user_type"))
# What a new account needs besides its logon.
NEEDED_FOR_NEW = tuple(c.name for c in USER_COLUMNS if c.required and c.field != "logon_id")
LOADED = ("id", "logon_id", "user_type", *CHANGEABLE)
_NEEDED_FIELDS = tuple((c.name, c.field) for c in USER_COLUMNS if c.name in NEEDED_FOR_NEW)
_INSERTED = ("logon_id", "user_type", *CHANGEABLE)


@dataclass
class UserPlan:
    results: list[RowResult] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UserRow:
    number: int
    key: str | None
    values: dict[str, Any]
    problems: list[str]


@dataclass(frozen=True)
class UserState:
    """The stored accounts a users plan looks at, by logon key, each as ``LOADED`` fields."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    own: dict[str, Own] = field(default_factory=dict)  # a student's own email -> the student


def validate_rows(table: InputTable, progress: Progress) -> list[UserRow]:
    pairs = match_headers(table, USER_COLUMNS)
    rows: list[UserRow] = []
    total = len(table.rows)
    for done, (number, values, problems) in enumerate(parse_rows(table, pairs)):
        if done % CHUNK == 0:
            progress("Checking rows", done, total)
        rows.append(_user_row(number, values, problems))
    progress("Checking rows", total, total)
    return rows


def _user_row(number: int, values: dict[str, Any], problems: list[str]) -> UserRow:
    """The row with its LOGONID checked; a student may log on with a username."""
    raw = values.get("logon_id")
    if raw is None:
        add_blank(problems, "LOGONID", "; every row needs the account's logon")
        return UserRow(number, None, values, problems)
    try:
        values["logon_id"] = normalise_logon(
            raw, email_required=values.get("user_type") != "STUDENT"
        )
        key = logon_key(values["logon_id"])
    except ValueError as exc:
        problems.insert(0, f"LOGONID: {exc}")
        key = raw.strip().casefold()
    return UserRow(number, key, values, problems)


def load_users(connection: Connection, rows: Sequence[UserRow]) -> UserState:
    """The accounts the rows name, in bulk by logon key."""
    columns = [getattr(PortalUser, name) for name in LOADED]
    state = UserState()
    keys = {row.key for row in rows if row.key and not row.problems}
    query = select(PortalUser.logon_key, *columns)
    for row in rows_in(connection, query, PortalUser.logon_key, keys):
        state.accounts[row[0]] = dict(zip(LOADED, row[1:], strict=True))
    state.own.update(students_own(connection, keys))
    return state


def user_scope(connection: Connection, rows: Sequence[UserRow], actor: Actor) -> Scope:
    """The scope of the rows' accounts, in bulk."""
    keys = {row.key for row in rows if row.key and not row.problems}
    return Scope.load(connection, actor, logon_keys=keys)


def plan_users(
    state: UserState, rows: Sequence[UserRow], mode: ImportMode, scope: Scope | None = None
) -> UserPlan:
    """Each row's result against the stored accounts, and the writes that carry them out; a
    school's staff (``scope``) change only accounts they may change, and add any new one."""
    plan = UserPlan()
    first_row: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row.problems:
            reason = "; ".join(row.problems)
            result = RowResult(row.number, row.values.get("logon_id", row.key), "error", reason)
        elif row.key in first_row:
            result = _duplicate(row, *first_row[row.key])
        else:
            assert row.key is not None
            first_row[row.key] = (row.number, row.values["logon_id"])
            current = state.accounts.get(row.key)
            guardian = row.values.get("user_type") == "GUARDIAN"
            if current is not None and scope is not None and not scope.may_change(row.key):
                reason = account_refusal(row.values["logon_id"])
                result = RowResult(row.number, row.values["logon_id"], "error", reason)
            elif current is not None and not same_but_case(
                current["logon_id"], row.values["logon_id"]
            ):
                result = _look_alike(row, current["logon_id"], "the account")
            elif current is None and guardian and row.key in state.own:
                reason = (
                    f"LOGONID: {own_email(state.own[row.key], not (scope and scope.restricted))}"
                )
                result = RowResult(row.number, row.values["logon_id"], "error", reason)
            elif current is None:
                result = _plan_insert(row, mode, plan)
            else:
                result = _plan_update(row, current, mode, plan)
        plan.results.append(result)
    return plan


def _duplicate(row: UserRow, first: int, logon: str) -> RowResult:
    if not same_but_case(logon, row.values["logon_id"]):
        return _look_alike(row, logon, f"row {first}'s")
    return RowResult(
        row.number,
        row.values["logon_id"],
        "skipped",
        f"Same LOGONID as row {first}, which is used; LOGONIDs match whatever their capitals",
    )


def _look_alike(row: UserRow, other: str, whose: str) -> RowResult:
    """A logon that compares equal to another one but differs by more than capitals."""
    typed = row.values["logon_id"]
    return RowResult(
        row.number,
        typed,
        "error",
        f"LOGONID: '{typed}' is not {whose} logon '{other}', though the two compare alike; "
        "nothing was changed: type the logon exactly as it is (capitals may differ)",
    )


def _plan_insert(row: UserRow, mode: ImportMode, plan: UserPlan) -> RowResult:
    values = row.values
    logon = values["logon_id"]
    if mode == "update-only":
        return RowResult(
            row.number, logon, "skipped", "No account has this LOGONID; update-only mode adds none"
        )
    blank = [name for name, field in _NEEDED_FIELDS if field not in values]
    if blank:
        return RowResult(
            row.number,
            logon,
            "error",
            f"{', '.join(blank)} blank: a new account needs {_and(NEEDED_FOR_NEW)}",
        )
    record = {name: values.get(name) for name in _INSERTED}
    record["logon_key"] = row.key
    record["status"] = values.get("status", "ACTIVE")
    plan.inserts.append(record)
    return RowResult(row.number, logon, "added", f"New {values['user_type'].lower()} account")


def _and(names: Sequence[str]) -> str:
    """'A, B and C'."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _plan_update(
    row: UserRow, current: dict[str, Any], mode: ImportMode, plan: UserPlan
) -> RowResult:
    values = row.values
    logon = current["logon_id"]
    wanted_type = values.get("user_type")
    if wanted_type and wanted_type != current["user_type"]:
        return RowResult(
            row.number,
            logon,
            "error",
            f"USER_TYPE: this logon is an existing {current['user_type']} account; "
            "an account's type can't be changed by an import",
        )
    # Blank cells are absent from ``values``: they never erase what is stored.
    changes = {
        CHANGEABLE[name]: (current[name], new)
        for name, new in values.items()
        if name in CHANGEABLE and new != current[name]
    }
    if not changes:
        return RowResult(row.number, logon, "skipped", "Already up to date")
    if mode == "insert-only":
        return RowResult(
            row.number, logon, "skipped", "Account exists; insert-only mode changes none", changes
        )
    merged = {f"new_{name}": values.get(name, current[name]) for name in CHANGEABLE}
    merged["_id"] = current["id"]
    plan.updates.append(merged)
    return RowResult(row.number, logon, "updated", "Changed " + ", ".join(changes), changes)


def _stamped(
    records: list[dict[str, Any]], stamp: Iterable[Any], progress: Progress
) -> Iterator[tuple[Any, ...]]:
    """Each new account's values, then the ``stamp`` all share, telling ``progress`` every
    5,000 (every record holds the same fields, in the same order)."""
    shared, total = list(stamp), len(records)
    for start in range(0, total, CHUNK):
        progress("Adding accounts", start, total)
        for record in records[start : start + CHUNK]:
            yield (*record.values(), *shared)


def write_users(connection: Connection, plan: UserPlan, batch_id: int, progress: Progress) -> None:
    now = utcnow()
    stamp = {
        "created_at": now,
        "updated_at": now,
        "created_batch_id": batch_id,
        "updated_batch_id": batch_id,
        "password_hash": None,
    }
    total = len(plan.inserts)
    if total:
        columns = [*plan.inserts[0], *stamp]
        insert_rows(
            connection,
            cast(Table, PortalUser.__table__),
            columns,
            _stamped(plan.inserts, stamp.values(), progress),
        )
    progress("Adding accounts", total, total)
    total = len(plan.updates)
    for start in range(0, total, CHUNK):
        progress("Updating accounts", start, total)
        bulk_update(
            connection,
            PortalUser,
            plan.updates[start : start + CHUNK],
            CHANGEABLE,
            updated_at=now,
            updated_batch_id=batch_id,
        )
    if total:
        progress("Updating accounts", total, total)
        revoke_links_of_shut_accounts(connection)


def import_users(
    engine: Engine,
    table: InputTable,
    *,
    apply: bool = False,
    mode: ImportMode = "upsert",
    actor: Actor = None,
    progress: Progress = no_progress,
    kind: str = "users import",
    review: Review | None = None,
) -> Report:
    """Check, plan and (with ``apply``) write a users sheet; always record a batch and its log."""
    rows = validate_rows(table, progress)
    report, _ = run_batch(
        engine,
        kind=kind,
        options={"mode": mode},
        table=table,
        apply=apply,
        plan=lambda connection: plan_users(
            load_users(connection, rows), rows, mode, user_scope(connection, rows, actor)
        ),
        write=lambda connection, plan, batch_id: write_users(connection, plan, batch_id, progress),
        actor=actor,
        progress=progress,
        review=review,
    )
    return report
