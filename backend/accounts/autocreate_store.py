"""AutoCreate's database side: the bulk reads before planning and the writes after it.

Everything is loaded one query per table (``rows_in``), never one per row.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from itertools import islice
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, false, or_, select, true

from backend.accounts.attach_rules import CardUse, card_uses, load_rules
from backend.accounts.autocreate import Options
from backend.accounts.autocreate_plan import (
    Account,
    AutoCreatePlan,
    CardContact,
    Created,
    State,
    StudentRow,
    card_use,
)
from backend.database.engine import new_ids, rows_in
from backend.database.models import (
    Contact,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.errors import InputError
from backend.imports.contract import Progress, RowResult
from backend.imports.links import LinkPlan, write_links
from backend.imports.users import UserPlan, write_users
from backend.mail.activation import ACTIVATION_LINK_MARK
from backend.mail.outbox import queue_messages
from backend.mail.templates import Template, context, render
from backend.staff.identity import Actor
from backend.staff.scope import Scope, restricted_schools, school_ids_of, student_refusal

PREVIEW_LINK = "(the activation link: made when the email is sent)"
PREVIEWS = 3  # messages shown in a simulation's log
Preview = tuple[str, str, str]
"""A message as it will read: to, subject, body."""


def selection(
    connection: Connection, options: Options, actor: Actor = None
) -> tuple[list[int], list[RowResult]]:
    """The selected active students' primary keys in student ID order, and a row for each
    listed student that cannot be used. Only keys are kept: a state's million students are
    loaded a part at a time (``load``)."""
    query = select(Student.id, Student.student_id, Student.status).join(
        School, School.id == Student.school_id, isouter=True
    )
    problems: list[RowResult] = []
    if options.students:
        wanted = [s.strip() for s in options.students if s.strip()]
        rows = list(rows_in(connection, query, Student.student_id, wanted))
        rows, problems = _in_scope(connection, rows, actor)
        found = {row.student_id for row in rows} | {p.key for p in problems}
        problems += [
            RowResult(None, sid, "error", f"STUDENT_ID: there is no student '{sid}'")
            for sid in dict.fromkeys(wanted)
            if sid not in found
        ]
        problems += [
            RowResult(None, r.student_id, "skipped", f"Student {r.student_id} is {r.status}")
            for r in rows
            if r.status != "ACTIVE"
        ]
        rows = [r for r in rows if r.status == "ACTIVE"]
    else:
        query = query.where(Student.status == "ACTIVE", _schools_of(connection, options, actor))
        if options.schools:
            query = query.where(
                or_(School.code.in_(options.schools), School.name.in_(options.schools))
            )
        if options.grades:
            query = query.where(Student.grade.in_([g.strip() for g in options.grades]))
        rows = list(connection.execute(query))
    rows.sort(key=lambda r: r.student_id)
    return [r.id for r in rows], problems


def load(
    connection: Connection,
    students: list[int],
    contact: str | None = None,
    actor: Actor = None,
    shared: Collection[str] | None = None,
) -> State:
    """Some selected students (primary keys), their cards (only ``contact``'s entries, if
    given), the accounts and links of the cards' emails, and the rules' view of those emails.
    A school's staff attach only to accounts they may change.

    With ``shared`` (``shared_emails``: the emails on more than one card entry), only those
    emails' card entries are read: any other email's one entry is on these cards.
    """
    state = State()
    state.students = _students(connection, students)
    state.cards = _cards(connection, state.students, contact)
    keys = {c.email_key for card in state.cards.values() for c in card if c.email_key}
    state.accounts = _accounts(connection, keys)
    scope = Scope.load(connection, actor, logon_keys=keys)
    if scope.restricted:
        state.accounts = {
            k: replace(a, changeable=scope.may_change(k)) for k, a in state.accounts.items()
        }
    state.links = _links(connection, (a.id for a in state.accounts.values()))
    student_logons = [k for k, a in state.accounts.items() if a.user_type == "STUDENT"]
    uses = None if shared is None else _uses(connection, state, keys, shared)
    state.rules = load_rules(connection, keys, actor, student_accounts=student_logons, uses=uses)
    state.own = state.rules.own
    return state


def _uses(
    connection: Connection, state: State, keys: set[str], shared: Collection[str]
) -> list[CardUse]:
    """The card entries of these emails: those of the emails on one entry alone come from the
    part's own cards, the others from the database."""
    uses = card_uses(connection, {key for key in keys if key in shared})
    for student in state.students:
        for c in state.cards.get(student.id, ()):
            if c.email_key and c.email_key not in shared:
                uses.append(card_use(student, c))
    return uses


def _students(connection: Connection, ids: list[int]) -> list[StudentRow]:
    """The students of these primary keys, in student ID order."""
    query = select(
        Student.id,
        Student.student_id,
        Student.first_name,
        Student.last_name,
        Student.grade,
        School.name,
        Student.school_id,
    ).join(School, School.id == Student.school_id, isouter=True)
    students = [StudentRow(*row) for row in rows_in(connection, query, Student.id, ids)]
    students.sort(key=lambda s: s.student_id)
    return students


def _in_scope(
    connection: Connection, rows: list[Any], actor: Actor
) -> tuple[list[Any], list[RowResult]]:
    """The listed students a school's staff may select, and a row error for each other one."""
    scope = Scope.load(connection, actor, student_ids=[r.student_id for r in rows])
    refused = [
        RowResult(None, r.student_id, "error", student_refusal(r.student_id))
        for r in rows
        if not scope.sees_student(r.student_id)
    ]
    return [r for r in rows if scope.sees_student(r.student_id)], refused


def _schools_of(connection: Connection, options: Options, actor: Actor) -> "ColumnElement[bool]":
    """A school's staff select among their schools: by default all of them, and a school
    outside them is refused in one line."""
    schools = restricted_schools(actor)
    if schools is None:
        return true()
    found = school_ids_of(connection, options.schools)
    outside = [s for s in options.schools if found.get(s) not in schools]
    if outside:
        raise InputError(f"School {outside[0]} is not one of your schools: leave it out")
    return Student.school_id.in_(sorted(schools)) if schools else false()


def _cards(
    connection: Connection, students: list[StudentRow], contact: str | None
) -> dict[int, list[CardContact]]:
    """Each student's contacts (or ``contact`` alone), in priority order (none last), then ID.

    One query per table, each looked up by its index: joined in one query (the keys an array),
    PostgreSQL hashed the whole contacts table for every part of a state's run.
    """
    entries = list(
        rows_in(
            connection,
            select(
                StudentContact.student_id,
                StudentContact.contact_id,
                StudentContact.relationship,
                StudentContact.is_guardian,
                StudentContact.portal_access,
                StudentContact.priority,
            ),
            StudentContact.student_id,
            [s.id for s in students],
        )
    )
    query = select(
        Contact.id,
        Contact.contact_id,
        Contact.first_name,
        Contact.last_name,
        Contact.email,
        Contact.email_key,
    )
    if contact is not None:
        query = query.where(Contact.contact_id == contact)
    contact_pks = {entry[1] for entry in entries}
    people = {row.id: row for row in rows_in(connection, query, Contact.id, contact_pks)}
    cards: dict[int, list[CardContact]] = defaultdict(list)
    for student_pk, contact_pk, relation, guardian, access, priority in entries:
        if (p := people.get(contact_pk)) is not None:
            entry = CardContact(
                p.contact_id,
                p.first_name,
                p.last_name,
                p.email,
                p.email_key,
                relation,
                guardian,
                access,
                priority,
            )
            cards[student_pk].append(entry)
    for card in cards.values():
        card.sort(key=lambda c: (c.priority is None, c.priority or 0, c.contact_id))
    return dict(cards)


def _accounts(connection: Connection, keys: set[str]) -> dict[str, Account]:
    query = select(
        PortalUser.id,
        PortalUser.logon_key,
        PortalUser.logon_id,
        PortalUser.user_type,
        PortalUser.status,
    )
    return {
        row.logon_key: Account(*row)
        for row in rows_in(connection, query, PortalUser.logon_key, keys)
    }


def _links(connection: Connection, account_ids: Iterable[int]) -> set[tuple[int, int]]:
    query = select(StudentLink.user_id, StudentLink.student_id)
    return {
        (user, student)
        for user, student in rows_in(connection, query, StudentLink.user_id, account_ids)
    }


def welcome(template: Template, created: Created) -> tuple[str, str]:
    """Subject and body of the message to a created account."""
    guardian = {"first_name": created.guardian.first_name, "last_name": created.guardian.last_name}
    students: list[Mapping[str, Any]] = [
        {
            "first_name": s.first_name,
            "last_name": s.last_name,
            "grade": s.grade,
            "school": s.school or "",
        }
        for s in created.students
    ]
    return render(template, context(guardian, created.logon, students))


def preview(created: Iterable[Created], template: Template, shown: int = 0) -> list[Preview]:
    """The first messages as they will read, after the ``shown`` already previewed."""
    found = []
    for account in islice(created, max(PREVIEWS - shown, 0)):
        subject, body = welcome(template, account)
        found.append((account.logon, subject, body.replace(ACTIVATION_LINK_MARK, PREVIEW_LINK)))
    return found


def check_template(template: Template) -> None:
    """Render the template once, so a run with no message to send still finds its faults."""
    render(template, context({"first_name": "A", "last_name": "B"}, "a@b.org", []))


def write(
    connection: Connection,
    result: AutoCreatePlan,
    batch_id: int,
    template: Template | None,
    progress: Progress,
) -> None:
    """Accounts, attachments and, with a template, one queued message per account whose
    students are all planned (``result.complete``).

    The new accounts' ids are drawn first, so this part's attachments to them need not read
    them back; only accounts an earlier part created are looked up by their logons."""
    table = cast(Table, PortalUser.__table__)
    drawn: dict[str, int] = {}
    for record, pk in zip(
        result.user_inserts, new_ids(connection, table, len(result.user_inserts)), strict=True
    ):
        record["id"] = drawn[record["logon_key"]] = pk
    for link in result.link_inserts:
        if link["user_id"] is None:
            link["user_id"] = drawn.get(link["logon_key"])
    write_users(connection, UserPlan(inserts=result.user_inserts), batch_id, progress)
    write_links(connection, LinkPlan(inserts=result.link_inserts), batch_id)
    if template is None or not result.complete:
        return
    query = select(PortalUser.logon_key, PortalUser.id).where(
        PortalUser.created_batch_id == batch_id
    )
    keys = [created.guardian.email_key for created in result.complete]
    ids: dict[str, int] = dict(rows_in(connection, query, PortalUser.logon_key, keys))
    messages = []
    for created in result.complete:
        subject, body = welcome(template, created)
        messages.append(
            {
                "batch_id": batch_id,
                "user_id": ids[created.guardian.email_key or ""],
                "to_address": created.logon,
                "subject": subject,
                "body": body,
            }
        )
    progress("Queueing emails", 0, len(messages))
    queue_messages(connection, messages)
    progress("Queueing emails", len(messages), len(messages))
