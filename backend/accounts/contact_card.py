"""A student's contact card with each contact's account status, and an account made from a
contact.

Each guardian contact gets one status:

- ``has account``: a guardian account's logon is this contact's email (linked to the student
  or not);
- ``can create``: an email and no such account (one account can be made from the contact);
- ``logon differs``: an email and no such account, but the student is linked to a guardian
  account whose logon is no contact's email on this card: probably this contact under another
  logon (look for the student's ID among the logons attached to it); the entry suggests the
  rename that would make that logon the contact's email, from the logon most like it (a
  ``has account`` entry suggests a merge instead when such a logon is very like its email);
- ``no email``: nothing to create an account from.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from sqlalchemy import ColumnElement, Connection, Engine, false, select

from backend.accounts.logon import logon_key
from backend.accounts.rename import merge_command, rename_command
from backend.database.engine import read_transaction, rows_in
from backend.database.models import (
    Contact,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.errors import InputError, NotFoundError
from backend.imports.contract import Report
from backend.staff.identity import Actor
from backend.staff.scope import in_schools, restricted_schools

HAS_ACCOUNT = "has account"
CAN_CREATE = "can create"
LOGON_DIFFERS = "logon differs"
NO_EMAIL = "no email"


@dataclass
class LinkedLogon:
    logon_id: str
    user_type: str
    status: str
    first_name: str
    last_name: str
    relationship: str | None


@dataclass
class CardEntry:
    contact_id: str
    first_name: str
    last_name: str
    relationship: str | None
    email: str | None
    is_guardian: bool
    portal_access: bool
    priority: int | None
    status: str
    account: str | None = None  # the account whose logon is this email
    linked: bool = False  # that account is attached to this student
    shared_with: list[str] = field(default_factory=list)  # other contacts with the same email
    other_logons: list[str] = field(default_factory=list)  # for ``logon differs``
    # The rename (``logon differs``) or merge (``has account``) that would fix a mistyped logon.
    suggestion: str | None = None


@dataclass
class Card:
    student_id: str
    first_name: str
    last_name: str
    grade: str | None
    school: str | None
    entries: list[CardEntry]
    logons: list[LinkedLogon]


def _student(
    connection: Connection, student_id: str, actor: Actor = None
) -> tuple[int, str, str, str, str | None, str | None]:
    """The student's key and what the card shows of them: ID, names, grade, school code."""
    row = connection.execute(
        select(
            Student.id,
            Student.student_id,
            Student.first_name,
            Student.last_name,
            Student.grade,
            School.code,
        )
        .join(School, School.id == Student.school_id, isouter=True)
        .where(Student.student_id == student_id.strip(), _scoped(actor))
    ).first()
    if row is None:
        raise NotFoundError(f"There is no student '{student_id.strip()}'")
    return row


def _scoped(actor: Actor) -> "ColumnElement[bool]":
    """Students the actor sees: for a school's staff, a student of another school is no
    student at all, so a look-up answers for them exactly as for an unknown ID."""
    return in_schools(actor, Student.school_id)


def attached_logons(
    connection: Connection, student_ids: Collection[str], actor: Actor = None
) -> dict[str, list[LinkedLogon]]:
    """The logons attached to each of the students that exist (and the actor sees), by student
    ID, in logon order (a student with none maps to an empty list; an unknown ID is left out),
    in bulk."""
    found: dict[str, list[LinkedLogon]] = {}
    query = (
        select(
            Student.student_id,
            PortalUser.logon_id,
            PortalUser.user_type,
            PortalUser.status,
            PortalUser.first_name,
            PortalUser.last_name,
            StudentLink.relationship,
        )
        .select_from(Student)
        .outerjoin(StudentLink, StudentLink.student_id == Student.id)
        .outerjoin(PortalUser, PortalUser.id == StudentLink.user_id)
        .where(_scoped(actor))
        .order_by(Student.student_id, PortalUser.logon_key)
    )
    wanted = {student_id.strip() for student_id in student_ids}
    for student_id, logon, user_type, status, first, last, relationship in rows_in(
        connection, query, Student.student_id, wanted
    ):
        logons = found.setdefault(student_id, [])
        if logon is not None:
            logons.append(LinkedLogon(logon, user_type, status, first, last, relationship))
    return found


def logons_for_student(
    engine: Engine, student_id: str, *, actor: Actor = None
) -> list[LinkedLogon]:
    """Every account attached to the student, found by the student's ID."""
    with read_transaction(engine) as connection:
        found = attached_logons(connection, [student_id], actor)
    if student_id.strip() not in found:
        raise NotFoundError(f"There is no student '{student_id.strip()}'")
    return found[student_id.strip()]


def contact_card(engine: Engine, student_id: str, *, actor: Actor = None) -> Card:
    """The student's contacts, each with its account status, in priority order."""
    with read_transaction(engine) as connection:
        pk, sid, first_name, last_name, grade, school = _student(connection, student_id, actor)
        contacts = _contacts(connection, pk)
        keys = {key for _, key in contacts if key}
        accounts = _guardian_logons(connection, keys)
        logons = attached_logons(connection, [sid])[sid]
    entries = _entries(contacts, accounts, logons)
    return Card(sid, first_name, last_name, grade, school, entries, logons)


def _contacts(connection: Connection, student_pk: int) -> list[tuple[CardEntry, str | None]]:
    """The card's contacts, each with its email's key: priority order (none last), then name."""
    rows = connection.execute(
        select(
            Contact.contact_id,
            Contact.first_name,
            Contact.last_name,
            StudentContact.relationship,
            Contact.email,
            StudentContact.is_guardian,
            StudentContact.portal_access,
            StudentContact.priority,
            Contact.email_key,
        )
        .join(StudentContact, StudentContact.contact_id == Contact.id)
        .where(StudentContact.student_id == student_pk)
        .order_by(
            StudentContact.priority.is_(None),
            StudentContact.priority,
            Contact.last_name,
            Contact.first_name,
        )
    )
    return [(CardEntry(*row[:8], status=NO_EMAIL), row.email_key) for row in rows]


def _guardian_logons(connection: Connection, keys: set[str]) -> dict[str, str]:
    """Logon key -> logon of the guardian accounts whose logon is one of these emails."""
    if not keys:
        return {}
    rows = connection.execute(
        select(PortalUser.logon_key, PortalUser.logon_id).where(
            PortalUser.logon_key.in_(keys), PortalUser.user_type == "GUARDIAN"
        )
    )
    return {key: logon for key, logon in rows}


def _entries(
    contacts: list[tuple[CardEntry, str | None]],
    accounts: dict[str, str],
    logons: list[LinkedLogon],
) -> list[CardEntry]:
    """Each contact's status, from the accounts of the card's emails and the student's logons."""
    guardians = [a.logon_id for a in logons if a.user_type == "GUARDIAN"]
    linked_keys = {logon_key(logon) for logon in guardians}
    keys = {key for _, key in contacts if key}
    unexplained = [logon for logon in guardians if logon_key(logon) not in keys]
    entries = []
    for entry, key in contacts:
        if key:
            entry.shared_with = [
                other.contact_id
                for other, other_key in contacts
                if other_key == key and other.contact_id != entry.contact_id
            ]
            if key in accounts:
                entry.status, entry.account = HAS_ACCOUNT, accounts[key]
                entry.linked = key in linked_keys
            elif unexplained:
                entry.status, entry.other_logons = LOGON_DIFFERS, unexplained
                entry.suggestion = _rename_suggestion(unexplained, entry.email)
            else:
                entry.status = CAN_CREATE
        entries.append(entry)
    _suggest_merges(entries, unexplained)
    return entries


def _likeness(logon: str, email: str) -> float:
    """How alike a logon and an email look, from 0 to 1 (a typo scores above 0.9)."""
    return SequenceMatcher(None, logon_key(logon), email.casefold()).ratio()


MERGE_LIKENESS = 0.85
"""How alike an unexplained logon and a contact's email with its own account must be for the
card to suggest merging the two accounts: a typo, not a relative's address."""


def _rename_suggestion(logons: list[str], email: str | None) -> str | None:
    """The rename of the logon most like the contact's email (a typo is closest) to that email."""
    if not email:
        return None
    return rename_command(max(logons, key=lambda logon: _likeness(logon, email)), email)


def _suggest_merges(entries: list[CardEntry], unexplained: list[str]) -> None:
    """An attached logon that no card email explains and that is very like the email of a
    contact with an account is probably that person's account made twice (a typo, then the
    right address): that contact's entry suggests merging it into the account with the email."""
    holders = [e for e in entries if e.status == HAS_ACCOUNT and e.email and e.account]
    for logon in unexplained:
        alike = [(_likeness(logon, e.email or ""), e) for e in holders]
        score, entry = max(alike, key=lambda pair: pair[0], default=(0.0, None))
        if entry is not None and entry.account and score >= MERGE_LIKENESS:
            entry.suggestion = merge_command(logon, entry.account)


def create_account_from_contact(
    engine: Engine,
    contact_id: str,
    *,
    apply: bool = False,
    actor: Actor = None,
    email_template: str | None = None,
) -> Report:
    """The card's +: AutoCreate for one contact, under AutoCreate's rules (a guardian with portal
    access, no email shared by two households, active students only): an account from the
    contact's email, attached to each student whose card allows it, and with ``email_template``
    the same welcome email AutoCreate queues."""
    from backend.accounts.autocreate import Options, autocreate

    with read_transaction(engine) as connection:
        contact = connection.execute(
            select(
                Contact.id, Contact.contact_id, Contact.first_name, Contact.last_name, Contact.email
            ).where(Contact.contact_id == contact_id.strip())
        ).first()
        students = connection.execute(
            select(Student.student_id)
            .join(StudentContact, StudentContact.student_id == Student.id)
            .where(StudentContact.contact_id == contact.id if contact else false(), _scoped(actor))
            .order_by(Student.student_id)
        ).scalars()
        selection = list(students)
    # For a school's staff, a contact on none of their students' cards is no contact at all.
    if contact is None or (restricted_schools(actor) is not None and not selection):
        raise NotFoundError(f"There is no contact '{contact_id.strip()}'")
    who = f"Contact {contact.contact_id} ({contact.first_name} {contact.last_name})"
    if not contact.email:
        raise InputError(f"{who} has no email; add one to the contact first")
    if not selection:
        raise InputError(f"{who} is on no student's card; import the roster first")
    options = Options(students=selection, email_template=email_template)
    return autocreate(
        engine,
        options,
        apply=apply,
        actor=actor,
        contact=contact.contact_id,
        kind="account from contact",
    )
