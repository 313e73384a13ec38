"""The student-link import: which students each account sees.

Each row ties a LOGONID to a STUDENT_ID, or with ACTION REMOVE unties them. A run may be scoped
to some schools: a row for a student elsewhere is an error, so one school's office cannot change
another school's links by mistake. ``load_links`` reads what the rows name in bulk; ``plan_links``
decides each row from that alone.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Engine, Table, delete, select

from backend.accounts.attach_rules import AttachRules, load_rules
from backend.accounts.logon import logon_key, normalise_logon, same_but_case
from backend.database.engine import bulk_update, insert_rows, rows_in, where_in
from backend.database.models import PortalUser, School, Student, StudentLink, utcnow
from backend.imports.batches import run_batch
from backend.imports.columns import LOGONID, RELATIONSHIP, STUDENT_ID, yes_no
from backend.imports.contract import (
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
from backend.staff.identity import Actor
from backend.staff.scope import Scope, student_refusal

LINK_COLUMNS: tuple[Column, ...] = (
    replace(
        LOGONID,
        help="The account, as imported with the users import.",
    ),
    replace(
        STUDENT_ID,
        help="The student to attach to (or remove from) the account.",
    ),
    replace(
        RELATIONSHIP,
        help="What the account holder is to the student: Mother, Father, Guardian, Self, ...",
    ),
    Column(
        "PRIMARY",
        "is_primary",
        yes_no,
        False,
        ("PRIMARYACCOUNT", "ISPRIMARY"),
        "Y if this is the household's main account for the student (default N).",
    ),
    Column(
        "NOTICES",
        "notices",
        yes_no,
        False,
        ("RECEIVESNOTICES", "EMAILNOTICES"),
        "Y if the account gets the school's notices about this student (default Y).",
    ),
    Column(
        "ACTION",
        "action",
        enum_parser("ACTION", ("ADD", "REMOVE")),
        False,
        (),
        "ADD (the default) attaches the student; REMOVE detaches them.",
    ),
)
# What a link holds besides the pair it ties, and the header each is shown under.
LINK_FIELDS = field_headers(LINK_COLUMNS, leave_out=("logon_id", "student_id", "action"))


@dataclass
class LinkRow:
    """One wanted link change, from a sheet row or from a single-account action."""

    number: int | None
    logon: str | None
    student: str | None
    values: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.logon or '?'} / {self.student or '?'}"


@dataclass
class LinkPlan:
    results: list[RowResult] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)


class AccountRef(NamedTuple):
    id: int | None  # None for an account the same batch is about to add
    logon: str
    user_type: str = "GUARDIAN"
    status: str = "ACTIVE"


class StudentRef(NamedTuple):
    id: int
    school: str | None  # the school's code
    status: str = "ACTIVE"


@dataclass(frozen=True)
class LinkState:
    """What a link plan looks at: accounts by logon key, students by ID, links by id pair, and
    the rules that say who may see which child."""

    accounts: dict[str, AccountRef] = field(default_factory=dict)
    students: dict[str, StudentRef] = field(default_factory=dict)
    links: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    rules: AttachRules = field(default_factory=AttachRules)


def link_rows(table: InputTable) -> list[LinkRow]:
    rows = []
    for number, values, problems in parse_rows(table, match_headers(table, LINK_COLUMNS)):
        logon = values.pop("logon_id", None)
        if logon is None:
            add_blank(problems, "LOGONID", "; every row needs the account's logon")
        else:
            try:
                logon = normalise_logon(logon, email_required="@" in logon)
            except ValueError as exc:
                problems.insert(0, f"LOGONID: {exc}")
        student = values.pop("student_id", None)
        if student is None:
            add_blank(problems, "STUDENT_ID", "; every row needs the student's ID", first=False)
        rows.append(LinkRow(number, logon, student, values, problems))
    return rows


def load_links(connection: Connection, rows: Sequence[LinkRow], actor: Actor = None) -> LinkState:
    """The accounts, students and links the rows name, in bulk: one query per table."""
    keys = {logon_key(r.logon) for r in rows if r.logon and not r.problems}
    state = LinkState(rules=load_rules(connection, keys, actor))
    accounts = select(
        PortalUser.logon_key,
        PortalUser.id,
        PortalUser.logon_id,
        PortalUser.user_type,
        PortalUser.status,
    )
    for key, id_, logon, user_type, status in rows_in(
        connection, accounts, PortalUser.logon_key, keys
    ):
        state.accounts[key] = AccountRef(id_, logon, user_type, status)
    students = select(Student.student_id, Student.id, School.code, Student.status).join(
        School, School.id == Student.school_id, isouter=True
    )
    wanted = {r.student for r in rows if r.student}
    for sid, id_, code, student_status in rows_in(connection, students, Student.student_id, wanted):
        state.students[sid] = StudentRef(id_, code, student_status)
    account_ids = {a.id for a in state.accounts.values() if a.id is not None}
    names = ("id", "user_id", "student_id", *LINK_FIELDS)
    links = select(*(getattr(StudentLink, name) for name in names))
    for link in rows_in(connection, links, StudentLink.user_id, account_ids):
        state.links[(link[1], link[2])] = dict(zip(names, link, strict=True))
    return state


def plan_links(
    state: LinkState,
    rows: Sequence[LinkRow],
    schools: Sequence[str] = (),
    pending: Mapping[str, AccountRef] | None = None,
    scope: Scope | None = None,
) -> LinkPlan:
    """Split wanted links into added / updated / removed / skipped / error.

    ``pending`` holds, by logon key, the accounts the same batch is about to add, so one batch
    can create an account and attach its students. A student is attached only when the rules
    of ``attach_rules`` allow it, and, for a school's staff (``scope``), only a student of their
    schools to an account they may change.
    """
    plan = LinkPlan()
    wanted = {code.casefold() for code in schools}
    accounts = dict(pending or {})
    accounts.update(state.accounts)
    seen: dict[tuple[str, str], int | None] = {}
    for row in rows:
        account, student, problems = _resolve(accounts, state, row, wanted, schools)
        if scope is not None and scope.restricted and not problems:
            problems = _out_of_scope(scope, account, row)
        key = f"{account.logon} / {row.student}" if account and row.student else row.key
        if account is None or student is None or row.student is None or problems:
            plan.results.append(RowResult(row.number, key, "error", "; ".join(problems)))
            continue
        pair = (logon_key(account.logon), row.student)
        if pair in seen:
            reason = f"Same LOGONID and STUDENT_ID as row {seen[pair]}, which is used"
            plan.results.append(RowResult(row.number, key, "skipped", reason))
            continue
        seen[pair] = row.number
        current = state.links.get((account.id, student.id)) if account.id is not None else None
        if row.values.get("action") == "REMOVE":
            result = _plan_remove(row, key, current, plan)
            state.rules.detached(pair[0], student.id)
        elif current is None:  # only a new attachment is judged by the rules
            refusal = state.rules.refusal(pair[0], account.user_type, student.id, row.student)
            if refusal:
                result = RowResult(row.number, key, "error", refusal)
            else:
                result = _plan_add(row, key, pair[0], account, student, plan)
                state.rules.attached(pair[0], account.user_type, student.id, row.student)
        else:
            result = _plan_change(row, key, current, plan)
        plan.results.append(result)
    return plan


def _resolve(
    accounts: Mapping[str, AccountRef],
    state: LinkState,
    row: LinkRow,
    scope: set[str],
    schools: Sequence[str],
) -> tuple[AccountRef | None, StudentRef | None, list[str]]:
    """The row's account and student, and what is wrong with the row."""
    problems = list(row.problems)
    account = accounts.get(logon_key(row.logon)) if row.logon and not problems else None
    if account is not None and row.logon and not same_but_case(account.logon, row.logon):
        problems.append(
            f"LOGONID: '{row.logon}' is not the account's logon '{account.logon}', though the "
            "two compare alike; type the logon exactly as it is (capitals may differ)"
        )
        account = None
    if row.logon and not problems and account is None:
        problems.append(
            f"LOGONID: there is no account '{row.logon}'; add it with the "
            "users import (or New User) first"
        )
    student = state.students.get(row.student) if row.student else None
    if row.student and student is None:
        problems.append(f"STUDENT_ID: there is no student '{row.student}'; import the roster first")
    elif student and scope and (student.school or "").casefold() not in scope:
        problems.append(
            f"STUDENT_ID: student {row.student} is at school "
            f"{student.school or '(none)'}, outside this run's schools "
            f"({', '.join(schools)})"
        )
    return account, student, problems


def _out_of_scope(scope: Scope, account: AccountRef | None, row: LinkRow) -> list[str]:
    """A school's staff touch only links of their students, on accounts they may change."""
    problems = []
    if row.student is not None and not scope.sees_student(row.student):
        problems.append(student_refusal(row.student))
    if account is not None and account.id is not None:
        problem = scope.account_problem(logon_key(account.logon), account.logon)
        problems += [problem] if problem else []
    return problems


def link_scope(connection: Connection, rows: Sequence[LinkRow], actor: Actor) -> Scope:
    """The scope of the rows' students and accounts, in bulk."""
    return Scope.load(
        connection,
        actor,
        student_ids={r.student for r in rows if r.student},
        logon_keys={logon_key(r.logon) for r in rows if r.logon and not r.problems},
    )


def _plan_remove(
    row: LinkRow, key: str, current: dict[str, Any] | None, plan: LinkPlan
) -> RowResult:
    if current is None:
        return RowResult(row.number, key, "skipped", "Not attached; nothing to remove")
    plan.deletes.append(current["id"])
    return RowResult(row.number, key, "removed", f"Student {row.student} detached")


def _plan_add(
    row: LinkRow,
    key: str,
    account_key: str,
    account: AccountRef,
    student: StudentRef,
    plan: LinkPlan,
) -> RowResult:
    wanted = row.values
    plan.inserts.append(
        {
            "user_id": account.id,
            "logon_key": account_key,
            "student_id": student.id,
            "relationship": wanted.get("relationship"),
            "is_primary": wanted.get("is_primary", False),
            "notices": wanted.get("notices", True),
        }
    )
    result = RowResult(row.number, key, "added", f"Student {row.student} attached")
    result.warning = attach_warning(account, row.student or "", student.status)
    return result


def attach_warning(account: AccountRef, student_id: str, student_status: str) -> str | None:
    """Why an attachment that was allowed still needs a person's eyes, if it does."""
    if student_status != "ACTIVE":
        return (
            f"Student {student_id} is {student_status}: attached all the same; detach it if the "
            "student has left"
        )
    if account.status != "ACTIVE":
        return (
            f"The account {account.logon} is {account.status}: it sees the student once it is "
            "made ACTIVE again"
        )
    return None


def _plan_change(row: LinkRow, key: str, current: dict[str, Any], plan: LinkPlan) -> RowResult:
    """Filled cells that differ change the link; blank cells leave it as it is."""
    wanted = {f: v for f, v in row.values.items() if f in LINK_FIELDS}
    changes = {LINK_FIELDS[f]: (current[f], v) for f, v in wanted.items() if v != current[f]}
    if not changes:
        return RowResult(row.number, key, "skipped", "Already attached")
    plan.updates.append(
        {"_id": current["id"]} | {f"new_{f}": wanted.get(f, current[f]) for f in LINK_FIELDS}
    )
    return RowResult(row.number, key, "updated", "Changed " + ", ".join(changes), changes)


NEW_LINK_COLUMNS = (
    "user_id",
    "student_id",
    "relationship",
    "is_primary",
    "notices",
    "created_at",
    "updated_at",
    "created_batch_id",
    "updated_batch_id",
)


def write_links(connection: Connection, plan: LinkPlan, batch_id: int) -> None:
    now = utcnow()
    if plan.inserts:
        # Accounts this batch has just added, found by the logons these links name: one
        # query, which reads no more of them than one part of a run needs.
        added = select(PortalUser.logon_key, PortalUser.id).where(
            PortalUser.created_batch_id == batch_id
        )
        keys = {link["logon_key"] for link in plan.inserts if link["user_id"] is None}
        ids: dict[str, int] = dict(rows_in(connection, added, PortalUser.logon_key, keys))
        insert_rows(
            connection,
            cast(Table, StudentLink.__table__),
            NEW_LINK_COLUMNS,
            (
                (
                    link["user_id"] or ids[link["logon_key"]],
                    link["student_id"],
                    link["relationship"],
                    link["is_primary"],
                    link["notices"],
                    now,
                    now,
                    batch_id,
                    batch_id,
                )
                for link in plan.inserts
            ),
        )
    bulk_update(
        connection,
        StudentLink,
        plan.updates,
        LINK_FIELDS,
        updated_at=now,
        updated_batch_id=batch_id,
    )
    condition = where_in(connection, StudentLink.id, plan.deletes)
    if condition is not None:
        connection.execute(delete(StudentLink).where(condition))


def import_links(
    engine: Engine,
    table: InputTable,
    *,
    apply: bool = False,
    schools: Sequence[str] = (),
    actor: Actor = None,
    progress: Progress = no_progress,
    review: Review | None = None,
) -> Report:
    """Check, plan and (with ``apply``) write a student-link sheet; always record a batch."""
    rows = link_rows(table)
    report, _ = run_batch(
        engine,
        kind="student-link import",
        options={"schools": list(schools)} if schools else {},
        table=table,
        apply=apply,
        plan=lambda connection: plan_links(
            load_links(connection, rows, actor),
            rows,
            schools,
            scope=link_scope(connection, rows, actor),
        ),
        write=lambda connection, plan, batch_id: write_links(connection, plan, batch_id),
        actor=actor,
        progress=progress,
        review=review,
    )
    return report
