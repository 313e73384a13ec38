"""Activation emails for chosen accounts, whatever made them: one batch in the audit trail.

The same run simulates (who would get an email, and why the others would not) and applies
(one message per account queued in the outbox, with the same templates and pace as AutoCreate's).
A message sent to an account that had one before carries a new link: when it goes, the outbox
revokes the older links (``activation.message_link``), so only the newest email works.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, select

from backend.accounts.logon import logon_key, normalise_email
from backend.database.engine import rows_in
from backend.database.models import Batch, PortalUser, School, Student, StudentLink
from backend.errors import InputError, NotFoundError
from backend.imports.batches import batch_query, run_batch
from backend.imports.contract import Progress, Report, RowResult, no_progress
from backend.mail.activation import ACTIVATION_LINK_MARK, OPEN
from backend.mail.outbox import queue_messages
from backend.mail.templates import DEFAULT_NAME, Template, check, context, for_language, render
from backend.mail.templates import variants as template_variants
from backend.staff.identity import Actor
from backend.staff.scope import Scope, in_schools

KIND = "Activation emails"
PREVIEW_LINK = "(the activation link: made when the email is sent)"
PREVIEWS = 3  # messages shown in a simulation's log

_DISABLED = "The account is disabled: no activation email goes to it."
_NO_ADDRESS = (
    "The account has no email address (its logon is not one and EMAIL is blank): "
    "add an EMAIL with a users import, or print the parent a letter (`portal letters`)."
)
_ACTIVATED = "The account is activated already: the parent signs in with their own password."


@dataclass(frozen=True)
class Choice:
    """Which accounts get an activation email; every option given narrows the choice."""

    logons: Sequence[str] = ()
    school: str | None = None
    batch: int | None = None
    not_activated: bool = False
    template: str = DEFAULT_NAME

    def as_dict(self) -> dict[str, Any]:
        """The options as the audit trail keeps them."""
        return {
            "logons": list(self.logons),
            "school": self.school,
            "batch": self.batch,
            "not_activated": self.not_activated,
            "template": self.template,
        }


@dataclass
class SendPlan:
    results: list[RowResult] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    preview: list[tuple[str, str, str]] = field(default_factory=list)


def chosen_accounts(
    connection: Connection, choice: Choice, actor: Actor = None
) -> Select[*tuple[Any, ...]]:
    """The query of the chosen accounts, or a plain refusal of a school or batch that is not
    (or, for a school's staff, is not theirs to see)."""
    query = select(
        PortalUser.id,
        PortalUser.logon_id,
        PortalUser.logon_key,
        PortalUser.first_name,
        PortalUser.last_name,
        PortalUser.email,
        PortalUser.language,
        PortalUser.status,
        PortalUser.password_hash.is_not(None).label("activated"),
    ).order_by(PortalUser.logon_key)
    if choice.logons:
        query = query.where(PortalUser.logon_key.in_({logon_key(x.strip()) for x in choice.logons}))
    if choice.school is not None:
        query = query.where(PortalUser.id.in_(_of_school(connection, choice.school, actor)))
    if choice.batch is not None:
        query = query.where(_of_batch(connection, choice.batch, actor))
    if choice.not_activated:
        query = query.where(PortalUser.password_hash.is_(None))
    return query


def _of_school(connection: Connection, code: str, actor: Actor) -> Select[int]:
    """The accounts attached to a student of the school with this code."""
    school = connection.execute(
        select(School.id).where(School.code == code.strip(), in_schools(actor, School.id))
    ).scalar_one_or_none()
    if school is None:
        raise NotFoundError(
            f"There is no school with code '{code.strip()}': "
            "the roster import's SCHOOL_CODE column lists them"
        )
    return (
        select(StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(Student.school_id == school)
    )


def _of_batch(connection: Connection, batch: int, actor: Actor) -> ColumnElement[bool]:
    """The accounts the batch made or attached a student to."""
    query = batch_query(actor).where(Batch.id == batch)
    mode = connection.execute(query.with_only_columns(Batch.mode)).scalar_one_or_none()
    if mode is None:
        raise NotFoundError(f"There is no batch {batch}; `portal batches` lists them")
    if mode != "apply":
        raise InputError(
            f"Batch {batch} was a simulation and made no account: give the number "
            "of the run with --apply (`portal batches` lists them)"
        )
    linked = select(StudentLink.user_id).where(StudentLink.created_batch_id == batch)
    return (PortalUser.created_batch_id == batch) | PortalUser.id.in_(linked)


def scoped_accounts(connection: Connection, choice: Choice, actor: Actor) -> list[Row[Any]]:
    """The chosen accounts a school's staff may change (all of them for anyone else)."""
    accounts = list(connection.execute(chosen_accounts(connection, choice, actor)))
    scope = Scope.load(connection, actor, account_ids=[a.id for a in accounts])
    return [a for a in accounts if scope.may_change_id(a.id)]


def students_of(
    connection: Connection, user_ids: list[int], actor: Actor = None
) -> dict[int, list[Mapping[str, Any]]]:
    """Each account's active students (of a school staff member's schools), as the templates'
    ``students`` field lists them."""
    query = (
        select(
            StudentLink.user_id,
            Student.first_name,
            Student.last_name,
            Student.grade,
            Student.student_id,
            School.name.label("school"),
        )
        .join(Student, Student.id == StudentLink.student_id)
        .outerjoin(School, School.id == Student.school_id)
        .where(Student.status == OPEN, in_schools(actor, Student.school_id))
        .order_by(StudentLink.user_id, Student.last_name, Student.first_name, Student.id)
    )
    found: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows_in(connection, query, StudentLink.user_id, user_ids):
        found[row.user_id].append(
            {
                "first_name": row.first_name,
                "last_name": row.last_name,
                "grade": row.grade or "",
                "school": row.school or "",
                "student_id": row.student_id,
            }
        )
    return found


def address_of(account: Row[Any]) -> str | None:
    """Where the account's email goes: its EMAIL, else its logon when that is an address."""
    email: str | None = account.email
    if email:
        return email
    try:
        return normalise_email(account.logon_id)
    except ValueError:
        return None


def _refusal(account: Row[Any]) -> str | None:
    if account.status != OPEN:
        return _DISABLED
    if account.activated:
        return _ACTIVATED
    return None if address_of(account) else _NO_ADDRESS


def plan_sending(
    connection: Connection,
    choice: Choice,
    templates: Mapping[str, Template],
    actor: Actor = None,
) -> SendPlan:
    """One row per chosen account (and per asked logon that has none), one message per row
    that may get one. A school's staff choose among the accounts they may change: another
    is as one that does not exist."""
    planned = SendPlan()
    accounts = scoped_accounts(connection, choice, actor)
    found = {a.logon_key for a in accounts}
    for logon in dict.fromkeys(x.strip() for x in choice.logons):
        if logon_key(logon) not in found:
            reason = f"There is no account with logon '{logon}': check the spelling."
            planned.results.append(RowResult(None, logon, "error", reason))
    students = students_of(connection, [a.id for a in accounts], actor)
    for account in accounts:
        refusal = _refusal(account)
        if refusal:
            planned.results.append(RowResult(None, account.logon_id, "skipped", refusal))
            continue
        template = for_language(templates, choice.template, account.language)
        guardian = {"first_name": account.first_name, "last_name": account.last_name}
        subject, body = render(template, context(guardian, account.logon_id, students[account.id]))
        to_address = address_of(account) or ""
        planned.messages.append(
            {"user_id": account.id, "to_address": to_address, "subject": subject, "body": body}
        )
        planned.results.append(
            RowResult(
                None,
                account.logon_id,
                "added",
                f"Activation email to {to_address} (template '{template.name}')",
            )
        )
        if len(planned.preview) < PREVIEWS:
            planned.preview.append(
                (to_address, subject, body.replace(ACTIVATION_LINK_MARK, PREVIEW_LINK))
            )
    return planned


def send_activation(
    engine: Engine,
    choice: Choice,
    *,
    apply: bool = False,
    actor: Actor = None,
    progress: Progress = no_progress,
) -> Report:
    """Simulate, or with ``apply`` queue, the chosen accounts' activation emails: one batch."""
    if not (choice.logons or choice.school or choice.batch is not None or choice.not_activated):
        raise InputError(
            "Choose the accounts: --logon, --school, --batch or --not-activated "
            "(each one given narrows the choice)"
        )
    templates = template_variants(engine, choice.template)
    for template in templates.values():
        check(template)

    def write(connection: Connection, planned: SendPlan, batch_id: int) -> None:
        progress("Queueing emails", 0, len(planned.messages))
        queue_messages(connection, [m | {"batch_id": batch_id} for m in planned.messages])
        progress("Queueing emails", len(planned.messages), len(planned.messages))

    report, planned = run_batch(
        engine,
        kind=KIND,
        options=choice.as_dict(),
        table=None,
        apply=apply,
        plan=lambda connection: plan_sending(connection, choice, templates, actor),
        write=write,
        actor=actor,
        progress=progress,
    )
    report.extra[:0] = [("Emails queued", len(planned.messages) if apply else 0)]
    report.preview = planned.preview
    return report
