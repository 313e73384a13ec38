"""The end of a school year: accounts brought in line with the students who still attend.

One run (a batch of kind "year-end"), a simulation unless applied, does what a district does
each summer:

- every link to a student who is no longer ACTIVE is removed;
- an ACTIVE account, GUARDIAN or STUDENT, whose attached students have all left is disabled:
  its unused activation links stop working with it;
- ACTIVE accounts still not activated ``not_activated_days`` after they were made are listed
  (skipped, with what to do) and left as they are.

An account with no student attached at all (made before its links were imported, say) is left
as it is: only the departure of its students disables an account, so a second run finds
nothing to do. The writes are the student-link and users imports' own: a removed link and a
disabled account are recorded exactly as those imports record them. The state is read in a few
set-based queries (by chunks of account ids), whatever the district's size.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend.database.engine import read_transaction, rows_in
from backend.database.models import Batch, PortalUser, Student, StudentLink
from backend.errors import SettingsError
from backend.imports.batches import run_batch
from backend.imports.contract import Progress, Report, RowResult, no_progress
from backend.imports.links import LinkPlan, write_links
from backend.imports.reviewed import Review
from backend.imports.users import CHANGEABLE, UserPlan, write_users
from backend.mail.activation import OPEN, as_utc
from backend.settings import get_settings
from backend.staff.identity import Actor
from backend.staff.scope import district_only

KIND = "year-end"
DISABLED = "DISABLED"
STATUS = CHANGEABLE["status"]
"""The header a status change is recorded under, as the users import records it."""


@dataclass
class YearEndPlan:
    """The run's rows and the writes that carry them out, in the imports' own plans."""

    results: list[RowResult] = field(default_factory=list)
    links: LinkPlan = field(default_factory=LinkPlan)
    users: UserPlan = field(default_factory=UserPlan)
    disabled: dict[str, int] = field(default_factory=lambda: {"GUARDIAN": 0, "STUDENT": 0})
    never_activated: int = 0


def _departed_links(connection: Connection) -> Sequence[Any]:
    """Every link to a student who is no longer ACTIVE, by account then student."""
    query = (
        select(
            StudentLink.id,
            StudentLink.user_id,
            PortalUser.logon_id,
            Student.student_id,
            Student.status,
        )
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(Student.status != OPEN)
        .order_by(PortalUser.logon_key, Student.student_id)
    )
    return connection.execute(query).all()


def _accounts_left_alone(connection: Connection, users: Collection[int]) -> list[Any]:
    """Of these accounts (each with a student who left), the ACTIVE ones with no ACTIVE student
    attached, by logon, with what the users import loads of an account. Looked up by one array
    of ids: a plan that does not depend on the tables' statistics, fresh after a bulk load."""
    attached = (
        select(StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(Student.status == OPEN)
        .distinct()
    )
    still = {user_id for (user_id,) in rows_in(connection, attached, StudentLink.user_id, users)}
    accounts = select(
        PortalUser.logon_key,
        PortalUser.id,
        PortalUser.logon_id,
        PortalUser.user_type,
        *(getattr(PortalUser, name) for name in CHANGEABLE),
    ).where(PortalUser.status == OPEN)
    found = list(rows_in(connection, accounts, PortalUser.id, set(users) - still))
    return sorted(found, key=lambda account: account.logon_key)


def _never_activated(connection: Connection, made_before: datetime) -> Sequence[Any]:
    """The ACTIVE accounts without a password made before ``made_before``."""
    query = (
        select(PortalUser.id, PortalUser.logon_id, PortalUser.created_at)
        .where(
            PortalUser.status == OPEN,
            PortalUser.password_hash.is_(None),
            PortalUser.created_at <= made_before,
        )
        .order_by(PortalUser.logon_key)
    )
    return connection.execute(query).all()


def plan_year_end(connection: Connection, days: int, now: datetime) -> YearEndPlan:
    """The links to remove, the accounts to disable and the accounts to list, read in bulk."""
    plan = YearEndPlan()
    departed: dict[int, list[str]] = defaultdict(list)
    for link_id, user_id, logon, student_id, status in _departed_links(connection):
        plan.links.deletes.append(link_id)
        departed[user_id].append(student_id)
        key = f"{logon} / {student_id}"
        why = f"Student {student_id} detached: the student is {status}"
        plan.results.append(RowResult(None, key, "removed", why))
    shut: set[int] = set()
    for account in _accounts_left_alone(connection, departed):
        shut.add(account.id)
        plan.results.append(_disable(plan, account._mapping, departed[account.id]))
    for user_id, logon, created in _never_activated(connection, now - timedelta(days=days)):
        if user_id not in shut:
            plan.never_activated += 1
            plan.results.append(_not_activated(logon, as_utc(created), now))
    return plan


def _disable(plan: YearEndPlan, account: Any, students: list[str]) -> RowResult:
    """The account's status change, written as the users import writes one."""
    update = {f"new_{name}": account[name] for name in CHANGEABLE}
    update |= {"_id": account["id"], "new_status": DISABLED}
    plan.users.updates.append(update)
    plan.disabled[account["user_type"]] = plan.disabled.get(account["user_type"], 0) + 1
    gone = ", ".join(students)
    if account["user_type"] == "STUDENT":
        why = f"its student has left ({gone})"
    else:
        why = f"no ACTIVE student is attached any more (left: {gone})"
    changes = {STATUS: (account["status"], DISABLED)}
    return RowResult(None, account["logon_id"], "updated", f"Changed {STATUS}: {why}", changes)


def _not_activated(logon: str, created: datetime, now: datetime) -> RowResult:
    days = (now - created).days
    why = (
        f"Never activated, {days} days after it was made on {created:%Y-%m-%d}: send the "
        f"activation email again (portal activation send --logon {logon}) or disable the "
        "account; left as it is"
    )
    return RowResult(None, logon, "skipped", why)


def _write(connection: Connection, plan: YearEndPlan, batch_id: int, progress: Progress) -> None:
    """The imports' writers: links removed, then accounts disabled (their unused activation
    links revoked with them)."""
    write_links(connection, plan.links, batch_id)
    write_users(connection, plan.users, batch_id, progress)


def followed_simulation(engine: Engine, review: Review | None) -> Review | None:
    """The review, naming by default the latest year-end run when it is a simulation."""
    if review is None or review.batch_id is not None:
        return review
    with read_transaction(engine) as connection:
        last = connection.execute(
            select(Batch.id, Batch.mode).where(Batch.kind == KIND).order_by(Batch.id.desc())
        ).first()
    if last is None or last.mode != "simulation":
        return review
    return Review(last.id, review.confirmed)


def year_end(
    engine: Engine,
    *,
    apply: bool = False,
    actor: Actor = None,
    progress: Progress = no_progress,
    review: Review | None = None,
    now: datetime | None = None,
) -> Report:
    """Plan (and with ``apply`` do) the end of the school year; always record a batch.

    An apply given a ``review`` without a batch follows the latest year-end simulation, when
    no apply came after it.
    """
    district_only(actor, "The year end covers every school: only a district admin runs it")
    days = get_settings().not_activated_days
    if days < 1:
        raise SettingsError(f"PORTAL_NOT_ACTIVATED_DAYS is {days}: it must be 1 or more")
    moment = as_utc(now)
    report, plan = run_batch(
        engine,
        kind=KIND,
        options={"not_activated_days": days},
        table=None,
        apply=apply,
        plan=lambda connection: plan_year_end(connection, days, moment),
        write=lambda connection, plan, batch_id: _write(connection, plan, batch_id, progress),
        actor=actor,
        progress=progress,
        review=followed_simulation(engine, review) if apply else None,
    )
    report.extra[:0] = [
        ("Links removed", len(plan.links.deletes)),
        (
            "Accounts disabled",
            f"{plan.disabled['GUARDIAN']} guardian, {plan.disabled['STUDENT']} student",
        ),
        (
            "Never activated",
            f"{plan.never_activated} of the ACTIVE accounts made over {days} days ago: "
            "listed, left as they are",
        ),
    ]
    return report
