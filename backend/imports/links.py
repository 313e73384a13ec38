"""The student-link import (the seed's second import): which students each account sees.

Each row ties a LOGONID to a STUDENT_ID, or with ACTION REMOVE unties them. A run may be scoped
to some schools: a row for a student elsewhere is an error, so one school's office cannot change
another school's links by mistake.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from backend.accounts.logon import logon_key, normalise_logon
from backend.database.engine import bulk_insert, bulk_update
from backend.database.models import PortalUser, School, Student, StudentLink, utcnow
from backend.imports.batches import run_batch
from backend.imports.contract import (
    Column,
    InputTable,
    Progress,
    Report,
    RowResult,
    enum_parser,
    key_chunks,
    match_headers,
    no_progress,
    parse_rows,
    text_parser,
)
from backend.imports.roster_columns import student_id, yes_no

LINK_COLUMNS: tuple[Column, ...] = (
    Column(
        "LOGONID",
        "logon_id",
        str,
        True,
        ("LOGON", "LOGIN", "LOGINID", "USERNAME"),
        "The account, as imported with the users import.",
    ),
    Column(
        "STUDENT_ID",
        "student_id",
        student_id,
        True,
        ("STUDENTNUMBER",),
        "The student to attach to (or remove from) the account.",
    ),
    Column(
        "RELATIONSHIP",
        "relationship",
        text_parser(50),
        False,
        ("RELATION",),
        "What the account holder is to the student: Mother, Father, Guardian, Self, ...",
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
LINK_FIELDS = {"relationship": "RELATIONSHIP", "is_primary": "PRIMARY", "notices": "NOTICES"}


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


def link_rows(table: InputTable) -> list[LinkRow]:
    rows = []
    for number, values, problems in parse_rows(table, match_headers(table, LINK_COLUMNS)):
        logon = values.pop("logon_id", None)
        if logon is None:
            problems.insert(0, "LOGONID: is blank; every row needs the account's logon")
        else:
            try:
                logon = normalise_logon(logon, email_required="@" in logon)
            except ValueError as exc:
                problems.insert(0, f"LOGONID: {exc}")
        student = values.pop("student_id", None)
        if student is None:
            problems.append("STUDENT_ID: is blank; every row needs the student's ID")
        rows.append(LinkRow(number, logon, student, values, problems))
    return rows


def plan_links(
    connection: Connection,
    rows: Sequence[LinkRow],
    schools: Sequence[str] = (),
    pending: dict[str, str] | None = None,
) -> LinkPlan:
    """Split wanted links into added / updated / removed / skipped / error, loading in bulk.

    ``pending`` maps the logon keys of accounts the same batch is about to add to their logons,
    so one batch can create an account and attach its students.
    """
    accounts: dict[str, tuple[int | None, str]] = {
        key: (None, logon) for key, logon in (pending or {}).items()
    }
    for chunk in key_chunks({logon_key(r.logon) for r in rows if r.logon and not r.problems}):
        accounts.update(
            (key, (id_, logon))
            for id_, key, logon in connection.execute(
                select(PortalUser.id, PortalUser.logon_key, PortalUser.logon_id).where(
                    PortalUser.logon_key.in_(chunk)
                )
            )
        )
    students: dict[str, tuple[int, str | None]] = {}
    for chunk in key_chunks({r.student for r in rows if r.student}):
        students.update(
            (sid, (id_, code))
            for id_, sid, code in connection.execute(
                select(Student.id, Student.student_id, School.code)
                .join(School, School.id == Student.school_id, isouter=True)
                .where(Student.student_id.in_(chunk))
            )
        )
    links: dict[tuple[int, int], dict[str, Any]] = {}
    for chunk in key_chunks({id_ for id_, _ in accounts.values() if id_ is not None}):
        for row in connection.execute(
            select(
                StudentLink.id,
                StudentLink.user_id,
                StudentLink.student_id,
                StudentLink.relationship,
                StudentLink.is_primary,
                StudentLink.notices,
            ).where(StudentLink.user_id.in_(chunk))
        ):
            links[(row.user_id, row.student_id)] = dict(row._mapping)
    scope = {code.casefold() for code in schools}
    plan = LinkPlan()
    seen: dict[tuple[str, str], int | None] = {}
    for row in rows:
        problems = list(row.problems)
        account = accounts.get(logon_key(row.logon)) if row.logon and not problems else None
        if row.logon and not problems and account is None:
            problems.append(
                f"LOGONID: there is no account '{row.logon}'; add it with the "
                "users import (or New User) first"
            )
        student = students.get(row.student) if row.student else None
        if row.student and student is None:
            problems.append(
                f"STUDENT_ID: there is no student '{row.student}'; import the roster first"
            )
        elif student and scope and (student[1] or "").casefold() not in scope:
            problems.append(
                f"STUDENT_ID: student {row.student} is at school "
                f"{student[1] or '(none)'}, outside this run's schools "
                f"({', '.join(schools)})"
            )
        key = account[1] + " / " + row.student if account and row.student else row.key
        if problems:
            plan.results.append(RowResult(row.number, key, "error", "; ".join(problems)))
            continue
        assert account is not None and student is not None and row.student is not None
        pair = (logon_key(account[1]), row.student)
        if pair in seen:
            plan.results.append(
                RowResult(
                    row.number,
                    key,
                    "skipped",
                    f"Same LOGONID and STUDENT_ID as row {seen[pair]}, which is used",
                )
            )
            continue
        seen[pair] = row.number
        current = links.get((account[0], student[0])) if account[0] is not None else None
        wanted = {f: v for f, v in row.values.items() if f in LINK_FIELDS}
        if row.values.get("action") == "REMOVE":
            if current is None:
                plan.results.append(
                    RowResult(row.number, key, "skipped", "Not attached; nothing to remove")
                )
            else:
                plan.deletes.append(current["id"])
                plan.results.append(
                    RowResult(row.number, key, "removed", f"Student {row.student} detached")
                )
            continue
        if current is None:
            plan.inserts.append(
                {
                    "user_id": account[0],
                    "logon_key": pair[0],
                    "student_id": student[0],
                    "relationship": wanted.get("relationship"),
                    "is_primary": wanted.get("is_primary", False),
                    "notices": wanted.get("notices", True),
                }
            )
            plan.results.append(
                RowResult(row.number, key, "added", f"Student {row.student} attached")
            )
            continue
        changes = {LINK_FIELDS[f]: (current[f], v) for f, v in wanted.items() if v != current[f]}
        if not changes:
            plan.results.append(RowResult(row.number, key, "skipped", "Already attached"))
            continue
        plan.updates.append(
            {"_id": current["id"]} | {f"new_{f}": wanted.get(f, current[f]) for f in LINK_FIELDS}
        )
        plan.results.append(
            RowResult(row.number, key, "updated", "Changed " + ", ".join(changes), changes)
        )
    return plan


def write_links(connection: Connection, plan: LinkPlan, batch_id: int) -> None:
    now = utcnow()
    if plan.inserts:
        ids: dict[str, int] = {}
        if any(link["user_id"] is None for link in plan.inserts):
            # Accounts this batch has just added: one query finds them all.
            ids.update(
                connection.execute(
                    select(PortalUser.logon_key, PortalUser.id).where(
                        PortalUser.created_batch_id == batch_id
                    )
                ).all()
            )
        bulk_insert(
            connection,
            StudentLink.__table__,
            [
                {
                    "user_id": link["user_id"] or ids[link["logon_key"]],
                    "student_id": link["student_id"],
                    "relationship": link["relationship"],
                    "is_primary": link["is_primary"],
                    "notices": link["notices"],
                    "created_at": now,
                    "updated_at": now,
                    "created_batch_id": batch_id,
                    "updated_batch_id": batch_id,
                }
                for link in plan.inserts
            ],
        )
    bulk_update(
        connection,
        StudentLink,
        plan.updates,
        LINK_FIELDS,
        updated_at=now,
        updated_batch_id=batch_id,
    )
    for chunk in key_chunks(set(plan.deletes)):
        connection.execute(delete(StudentLink).where(StudentLink.id.in_(chunk)))


def import_links(
    engine: Engine,
    table: InputTable,
    *,
    apply: bool = False,
    schools: Sequence[str] = (),
    actor: str | None = None,
    progress: Progress = no_progress,
) -> Report:
    """Check, plan and (with ``apply``) write a student-link sheet; always record a batch."""
    rows = link_rows(table)
    report, _ = run_batch(
        engine,
        kind="student-link import",
        options={"schools": list(schools)} if schools else {},
        table=table,
        apply=apply,
        plan=lambda connection: plan_links(connection, rows, schools),
        write=lambda connection, plan, batch_id: write_links(connection, plan, batch_id),
        actor=actor,
        progress=progress,
    )
    return report
