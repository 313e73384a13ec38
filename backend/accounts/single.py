"""Single accounts (New User and Modify User) and the students attached to them.

Each action is a batch in the audit trail, planned and written by the same planners as the
imports, so one account typed by hand obeys exactly the rules of a thousand imported ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend.accounts.logon import logon_key
from backend.database.engine import read_transaction
from backend.database.models import PortalUser, School, Student, StudentLink
from backend.errors import InputError, NotFoundError
from backend.imports.batches import run_batch
from backend.imports.contract import InputTable, Report, RowResult
from backend.imports.links import (
    AccountRef,
    LinkPlan,
    LinkRow,
    LinkState,
    load_links,
    plan_links,
    write_links,
)
from backend.imports.users import (
    ImportMode,
    UserPlan,
    UserRow,
    UserState,
    load_users,
    plan_users,
    validate_rows,
    write_users,
)
from backend.staff.identity import Actor
from backend.staff.scope import Scope, in_schools


@dataclass
class LinkedStudent:
    student_id: str
    first_name: str
    last_name: str
    grade: str | None
    school: str | None
    relationship: str | None
    is_primary: bool
    notices: bool


@dataclass
class Account:
    logon_id: str
    user_type: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    language: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    students: list[LinkedStudent] = field(default_factory=list)


@dataclass
class _Combined:
    """A batch that touches an account and its links at once."""

    users: UserPlan
    links: LinkPlan
    results: list[RowResult] = field(default_factory=list)


def plan_account(
    users: UserState,
    links: LinkState,
    user_rows: Sequence[UserRow],
    link_rows: Sequence[LinkRow],
    mode: ImportMode,
    scope: Scope | None = None,
) -> _Combined:
    """The account's plan, then its links' plan, which may attach students to a new account;
    a school's staff (``scope``) change only what is theirs."""
    user_plan = plan_users(users, user_rows, mode, scope)
    pending = {
        logon_key(r["logon_id"]): AccountRef(None, r["logon_id"], r["user_type"], r["status"])
        for r in user_plan.inserts
    }
    link_plan = plan_links(links, link_rows, pending=pending, scope=scope)
    return _Combined(user_plan, link_plan, user_plan.results + link_plan.results)


def _user_table(values: dict[str, Any]) -> InputTable:
    """One users-import row from keyword values, to be checked by the users import's columns."""
    values = dict.fromkeys(("logon_id", "first_name", "last_name", "user_type")) | values
    headers = [name.upper() for name in values]
    return InputTable(headers=headers, rows=[(1, list(values.values()))])


def run_account_batch(
    engine: Engine,
    *,
    kind: str,
    user: dict[str, Any] | None,
    mode: ImportMode,
    links: Sequence[LinkRow],
    apply: bool,
    actor: Actor,
    options: dict[str, Any],
) -> Report:
    """One batch that may add or change an account and attach or detach its students."""
    table = _user_table(user) if user else None
    user_rows = validate_rows(table, lambda *_: None) if table else []

    def plan(connection: Connection) -> _Combined:
        states = load_users(connection, user_rows), load_links(connection, links, actor)
        scope = Scope.load(
            connection,
            actor,
            student_ids={r.student for r in links if r.student},
            logon_keys={r.key for r in user_rows if r.key}
            | {logon_key(r.logon) for r in links if r.logon},
        )
        return plan_account(*states, user_rows, links, mode, scope)

    def write(connection: Connection, combined: _Combined, batch_id: int) -> None:
        write_users(connection, combined.users, batch_id, lambda *_: None)
        write_links(connection, combined.links, batch_id)

    report, _ = run_batch(
        engine,
        kind=kind,
        options=options,
        table=None,
        apply=apply,
        plan=plan,
        write=write,
        actor=actor,
        tables=(table,),
    )
    return report


def new_user(
    engine: Engine,
    *,
    logon_id: str,
    user_type: str,
    last_name: str,
    first_name: str,
    email: str | None = None,
    students: Sequence[str] = (),
    actor: Actor = None,
) -> Report:
    """New User: one account from logon, type and names; optionally attach students at once."""
    user = {
        "logon_id": logon_id,
        "user_type": user_type,
        "last_name": last_name,
        "first_name": first_name,
        "email": email,
    }
    links = [LinkRow(None, logon_id.strip(), sid, {}) for sid in students]
    return run_account_batch(
        engine,
        kind="new user",
        user=user,
        mode="insert-only",
        links=links,
        apply=True,
        actor=actor,
        options={},
    )


def modify_user(
    engine: Engine,
    logon_id: str,
    *,
    changes: dict[str, str] | None = None,
    attach: Sequence[str] = (),
    detach: Sequence[str] = (),
    relationship: str | None = None,
    actor: Actor = None,
) -> Report:
    """Modify User: change names, email, phone, language or status; attach or detach students."""
    account = get_account(engine, logon_id, actor=actor)
    allowed = {"first_name", "last_name", "email", "phone", "language", "status"}
    unknown = set(changes or {}) - allowed
    if unknown:
        raise InputError(f"These can't be changed here: {', '.join(sorted(unknown))}")
    if not changes and not attach and not detach:
        raise InputError("Nothing to change: give a new value or a student to attach or detach")
    user = (
        {"logon_id": account.logon_id, "user_type": account.user_type, **changes}
        if changes
        else None
    )
    extra = {"relationship": relationship} if relationship else {}
    links = [LinkRow(None, account.logon_id, sid, dict(extra)) for sid in attach]
    links += [LinkRow(None, account.logon_id, sid, {"action": "REMOVE"}) for sid in detach]
    return run_account_batch(
        engine,
        kind="modify user",
        user=user,
        mode="update-only",
        links=links,
        apply=True,
        actor=actor,
        options={"logon": account.logon_id},
    )


def get_account(engine: Engine, logon_id: str, *, actor: Actor = None) -> Account:
    """An account with the students attached to it. For a school's staff, an account they may
    not change answers as one that does not exist, and only their students are listed."""
    key = logon_key(logon_id.strip())
    with read_transaction(engine) as connection:
        row = connection.execute(select(PortalUser).where(PortalUser.logon_key == key)).first()
        scope = Scope.load(connection, actor, logon_keys=[key])
        if row is None or not scope.may_change(key):
            raise NotFoundError(f"There is no account '{logon_id.strip()}'")
        students = connection.execute(
            select(
                Student.student_id,
                Student.first_name,
                Student.last_name,
                Student.grade,
                School.code,
                StudentLink.relationship,
                StudentLink.is_primary,
                StudentLink.notices,
            )
            .join(Student, Student.id == StudentLink.student_id)
            .join(School, School.id == Student.school_id, isouter=True)
            .where(StudentLink.user_id == row.id, in_schools(actor, Student.school_id))
            .order_by(Student.last_name, Student.first_name)
        )
        fields = {k: getattr(row, k) for k in Account.__dataclass_fields__ if k != "students"}
        return Account(**fields, students=[LinkedStudent(*s) for s in students])
