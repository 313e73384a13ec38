"""A student's contact card as the seed's icons read it, and an account made from a contact.

Each guardian contact gets one status:

- ``has account``: a guardian account's logon is this contact's email (linked to the student
  or not);
- ``can create``: an email and no such account (the seed's ``+``);
- ``logon differs``: an email and no such account, but the student is linked to a guardian
  account whose logon is no contact's email on this card: probably this contact under another
  logon (the seed's "no icon: search the student ID in Logon IDs");
- ``no email``: nothing to create an account from.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend.accounts.logon import logon_key
from backend.accounts.single import run_account_batch
from backend.database.engine import read_transaction
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
from backend.imports.links import LinkRow

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


@dataclass
class Card:
    student_id: str
    first_name: str
    last_name: str
    grade: str | None
    school: str | None
    entries: list[CardEntry]
    logons: list[LinkedLogon]


def _student(connection: Connection, student_id: str) -> tuple[int, list[Any]]:
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
        .where(Student.student_id == student_id.strip())
    ).first()
    if row is None:
        raise NotFoundError(f"There is no student '{student_id.strip()}'")
    return row[0], list(row[1:])


def _logons(connection: Connection, student_pk: int) -> list[LinkedLogon]:
    rows = connection.execute(
        select(
            PortalUser.logon_id,
            PortalUser.user_type,
            PortalUser.status,
            PortalUser.first_name,
            PortalUser.last_name,
            StudentLink.relationship,
        )
        .join(StudentLink, StudentLink.user_id == PortalUser.id)
        .where(StudentLink.student_id == student_pk)
        .order_by(PortalUser.logon_key)
    )
    return [LinkedLogon(*row) for row in rows]


def logons_for_student(engine: Engine, student_id: str) -> list[LinkedLogon]:
    """The seed's search of Logon IDs by student ID: every account attached to the student."""
    with read_transaction(engine) as connection:
        student_pk, _ = _student(connection, student_id)
        return _logons(connection, student_pk)


def contact_card(engine: Engine, student_id: str) -> Card:
    """The student's contacts, each with its account status, in priority order."""
    with read_transaction(engine) as connection:
        student_pk, student = _student(connection, student_id)
        contacts = connection.execute(
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
        ).all()
        keys = {c.email_key for c in contacts if c.email_key}
        accounts = (
            dict(
                connection.execute(
                    select(PortalUser.logon_key, PortalUser.logon_id).where(
                        PortalUser.logon_key.in_(keys), PortalUser.user_type == "GUARDIAN"
                    )
                ).all()
            )
            if keys
            else {}
        )
        logons = _logons(connection, student_pk)
    guardians = [a.logon_id for a in logons if a.user_type == "GUARDIAN"]
    linked_keys = {logon_key(logon) for logon in guardians}
    unexplained = [logon for logon in guardians if logon_key(logon) not in keys]
    entries = []
    for c in contacts:
        entry = CardEntry(
            c.contact_id,
            c.first_name,
            c.last_name,
            c.relationship,
            c.email,
            c.is_guardian,
            c.portal_access,
            c.priority,
            NO_EMAIL,
        )
        if c.email_key:
            entry.shared_with = [
                o.contact_id
                for o in contacts
                if o.email_key == c.email_key and o.contact_id != c.contact_id
            ]
            if c.email_key in accounts:
                entry.status, entry.account = HAS_ACCOUNT, accounts[c.email_key]
                entry.linked = c.email_key in linked_keys
            elif unexplained:
                entry.status, entry.other_logons = LOGON_DIFFERS, unexplained
            else:
                entry.status = CAN_CREATE
        entries.append(entry)
    return Card(*student, entries=entries, logons=logons)


def create_account_from_contact(
    engine: Engine, contact_id: str, *, apply: bool = False, actor: str | None = None
) -> Report:
    """The seed's ``+``: a guardian account from the contact's email, attached to each student
    whose card lists the contact with portal access allowed."""
    with read_transaction(engine) as connection:
        contact = connection.execute(
            select(
                Contact.id, Contact.contact_id, Contact.first_name, Contact.last_name, Contact.email
            ).where(Contact.contact_id == contact_id.strip())
        ).first()
        if contact is None:
            raise NotFoundError(f"There is no contact '{contact_id.strip()}'")
        if not contact.email:
            raise InputError(
                f"Contact {contact.contact_id} ({contact.first_name} "
                f"{contact.last_name}) has no email; add one to the contact first"
            )
        cards = connection.execute(
            select(Student.student_id, StudentContact.relationship)
            .join(StudentContact, StudentContact.student_id == Student.id)
            .where(StudentContact.contact_id == contact.id, StudentContact.portal_access)
            .order_by(Student.student_id)
        ).all()
    user = {
        "logon_id": contact.email,
        "user_type": "GUARDIAN",
        "first_name": contact.first_name,
        "last_name": contact.last_name,
    }
    links = [
        LinkRow(None, contact.email, sid, {"relationship": relationship} if relationship else {})
        for sid, relationship in cards
    ]
    return run_account_batch(
        engine,
        kind="account from contact",
        user=user,
        mode="insert-only",
        links=links,
        apply=apply,
        actor=actor,
        options={"contact": contact.contact_id},
    )
