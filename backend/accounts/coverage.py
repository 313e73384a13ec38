"""Coverage: which active students a guardian can already see in the portal, and what would
give each of the others a working account.

Every ACTIVE student is in exactly one state, the first that applies:

- ``WORKING``: attached to an ACTIVE guardian account that has been activated (a password set);
- ``NOT_ACTIVATED``: attached to ACTIVE guardian accounts, none of them activated yet;
- ``CAN_GET``: no such account, but a contact on the card could get one: an email, GUARDIAN Y,
  PORTAL_ACCESS Y, and the rules of who may see which child (``attach_rules``) allow it;
- ``NO_CONTACT``: none of these.

Read in a few bulk queries for the whole district (the rules' own lookups go in chunks of
emails), whatever its size: never one query per student.
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Exists, Select, select
from sqlalchemy.orm import aliased

from backend.accounts.attach_rules import AttachRules, load_rules
from backend.database.models import (
    Contact,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.errors import NotFoundError
from backend.staff.identity import Actor
from backend.staff.scope import in_schools, restricted_schools

WORKING = "working account"
NOT_ACTIVATED = "not activated"
CAN_GET = "could get one"
NO_CONTACT = "none"
STATES = (WORKING, NOT_ACTIVATED, CAN_GET, NO_CONTACT)

RESEND = "Send the activation email again"
AUTOCREATE = "Run AutoCreate for the student"
ADD_EMAIL = "Add a guardian's email to the student's card"
FIX_CARD = "Fix the contact card (see why)"

NO_SCHOOL = "(no school)"
NO_GRADE = "(none)"
_EARLY_GRADES = {"PK": -2, "TK": -1, "K": 0}

Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class StudentRow:
    """An active student as the report shows them."""

    id: int
    student_id: str
    first_name: str
    last_name: str
    grade: str
    school_code: str
    school_name: str


@dataclass(frozen=True)
class CardEntry:
    """A contact on a student's card, with the account whose logon is the contact's email."""

    contact_id: str
    first_name: str
    last_name: str
    email: str | None
    email_key: str | None
    is_guardian: bool
    portal_access: bool
    account: str | None  # that account's logon
    account_type: str | None
    account_status: str | None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name} (contact {self.contact_id}, {self.email})"

    @property
    def candidate(self) -> bool:
        """An email, GUARDIAN Y and PORTAL_ACCESS Y: the rules may still say no."""
        return bool(self.email_key) and self.is_guardian and self.portal_access


@dataclass(frozen=True)
class Uncovered:
    """A student without a working account, and what to do about it."""

    student: StudentRow
    state: str
    action: str
    why: str


@dataclass(frozen=True)
class GradeCount:
    """One school and grade: how many active students are in each state."""

    school_code: str
    school_name: str
    grade: str
    counts: dict[str, int]

    @property
    def students(self) -> int:
        return sum(self.counts.values())


@dataclass
class Coverage:
    """The district's (or one school's) coverage: counts per school and grade, in school then
    grade order, and every active student without a working account."""

    grades: list[GradeCount] = field(default_factory=list)
    uncovered: list[Uncovered] = field(default_factory=list)

    def schools(self) -> list[tuple[str, str, list[GradeCount]]]:
        """(code, name, its grades) for each school, in order."""
        found: dict[str, tuple[str, str, list[GradeCount]]] = {}
        for row in self.grades:
            found.setdefault(row.school_code, (row.school_code, row.school_name, []))[2].append(row)
        return list(found.values())

    def total(self, grades: Iterable[GradeCount] | None = None) -> dict[str, int]:
        """The counts of these grades (every grade by default), added up."""
        counts: Counter[str] = Counter({state: 0 for state in STATES})
        for row in self.grades if grades is None else grades:
            counts.update(row.counts)
        return {state: counts[state] for state in STATES}


def grade_order(grade: str) -> tuple[int, int, str]:
    """PK, TK, K, then 1, 2 .. 12 by number, then any other grade by name; none last."""
    if grade == NO_GRADE:
        return (3, 0, grade)
    if grade.upper() in _EARLY_GRADES:
        return (0, _EARLY_GRADES[grade.upper()], grade)
    if grade.isdigit():
        return (1, int(grade), grade)
    return (2, 0, grade)


def coverage(engine: Engine, school: str | None = None, *, actor: Actor = None) -> Coverage:
    """Every active student's state (of the school whose code is ``school``, if given). A
    school's staff see only their schools; another school answers as one that does not exist."""
    with _one_moment(engine) as connection:
        pk = _check_school(connection, school, actor) if school is not None else None
        within = [in_schools(actor, Student.school_id)]
        within += [Student.school_id == pk] if pk is not None else []
        schools = {
            pk: (code, name)
            for pk, code, name in connection.execute(select(School.id, School.code, School.name))
        }
        students = _students(connection, within)
        waiting = _never_activated(connection, within)
        cards = _cards(connection, within)
        keys = {e.email_key for entries in cards.values() for e in entries if e.candidate}
        rules = load_rules(connection, {key for key in keys if key}, actor)
    return _report(students, schools, waiting, cards, rules)


@contextmanager
def _one_moment(engine: Engine) -> Iterator[Connection]:
    """A read transaction whose queries all see the same moment, while imports run: SQLite's
    transactions do; PostgreSQL's default gives each statement a moment of its own."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def _check_school(connection: Connection, code: str, actor: Actor) -> int:
    """The school's key; an unknown school, or one outside a school staff member's, is refused."""
    found = connection.execute(select(School.id).where(School.code == code.strip())).scalar()
    schools = restricted_schools(actor)
    if found is not None and (schools is None or found in schools):
        return int(found)
    raise NotFoundError(
        f"There is no school with code '{code.strip()}'; see the Schools sheet of the roster"
    )


Within = list[ColumnElement[bool]]
"""Conditions on Student that keep the students asked for: one school's, or a staff member's."""


def _of_active_students(query: Query, within: Within) -> Query:
    """The query kept to active students (``within`` the schools asked for); it must join
    Student."""
    return query.where(Student.status == "ACTIVE", *within)


def _guardian_link(activated: bool = False) -> Exists:
    """Whether the student of the outer query is attached to an ACTIVE guardian account (an
    activated one). Its own aliases, so that an outer query over links and accounts too
    never correlates them."""
    link, account = aliased(StudentLink), aliased(PortalUser)
    query = (
        select(link.id)
        .join(account, account.id == link.user_id)
        .where(
            link.student_id == Student.id,
            account.user_type == "GUARDIAN",
            account.status == "ACTIVE",
        )
    )
    if activated:
        query = query.where(account.password_hash.is_not(None))
    return query.correlate(Student).exists()


ATTACHED = _guardian_link()
ACTIVATED = _guardian_link(activated=True)

StudentFacts = tuple[int, str, str, str, str | None, int | None, bool, bool]
"""A student's key, ID, names, grade and school's key, and whether an ACTIVE guardian account
is attached, and an activated one."""


def _students(connection: Connection, within: Within) -> Sequence[StudentFacts]:
    query = select(
        Student.id,
        Student.student_id,
        Student.first_name,
        Student.last_name,
        Student.grade,
        Student.school_id,
        ATTACHED,
        ACTIVATED,
    )
    return connection.execute(_of_active_students(query, within)).all()


def _never_activated(connection: Connection, within: Within) -> dict[int, list[str]]:
    """Student key -> the logons of the ACTIVE guardian accounts attached that were never
    activated (of students that may also have an activated one)."""
    query = (
        select(StudentLink.student_id, PortalUser.logon_id)
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(
            PortalUser.user_type == "GUARDIAN",
            PortalUser.status == "ACTIVE",
            PortalUser.password_hash.is_(None),
            ~ACTIVATED,
        )
        .order_by(PortalUser.logon_key)
    )
    found: dict[int, list[str]] = {}
    for student, logon in connection.execute(_of_active_students(query, within)).all():
        found.setdefault(student, []).append(logon)
    return found


def _cards(connection: Connection, within: Within) -> dict[int, list[CardEntry]]:
    """The card entries of the students with no ACTIVE guardian account attached, each with
    the account whose logon is the contact's email."""
    query = (
        select(
            StudentContact.student_id,
            Contact.contact_id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.email_key,
            StudentContact.is_guardian,
            StudentContact.portal_access,
            PortalUser.logon_id,
            PortalUser.user_type,
            PortalUser.status,
        )
        .select_from(StudentContact)
        .join(Contact, Contact.id == StudentContact.contact_id)
        .join(Student, Student.id == StudentContact.student_id)
        .outerjoin(PortalUser, PortalUser.logon_key == Contact.email_key)
        .where(~ATTACHED)
        .order_by(StudentContact.priority.is_(None), StudentContact.priority, Contact.contact_id)
    )
    found: dict[int, list[CardEntry]] = {}
    for student, *entry in connection.execute(_of_active_students(query, within)).all():
        found.setdefault(student, []).append(CardEntry(*entry))
    return found


def _report(
    students: Sequence[StudentFacts],
    schools: dict[int, tuple[str, str]],
    waiting: dict[int, list[str]],
    cards: dict[int, list[CardEntry]],
    rules: AttachRules,
) -> Coverage:
    """Count each student in its state; say what to do for each without a working account."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    uncovered = []
    for pk, sid, first, last, grade, school_pk, attached, activated in students:
        code, name = schools.get(school_pk or 0, (NO_SCHOOL, NO_SCHOOL))
        grade = (grade or "").strip() or NO_GRADE
        if activated:
            state = WORKING
        else:
            student = StudentRow(pk, sid, first, last, grade, code, name)
            if attached:
                logons = waiting.get(pk, [])
                why = (
                    f"Never activated: {', '.join(logons)} (portal activation send "
                    + " ".join(f"--logon {logon}" for logon in logons)
                    + ")"
                )
                found = Uncovered(student, NOT_ACTIVATED, RESEND, why)
            else:
                found = _without_account(student, cards.get(pk, []), rules)
            uncovered.append(found)
            state = found.state
        counts.setdefault((code, name, grade), [0] * len(STATES))[STATES.index(state)] += 1
    ordered = sorted(counts.items(), key=lambda item: (item[0][0], grade_order(item[0][2])))
    grades = [GradeCount(*key, dict(zip(STATES, tally, strict=True))) for key, tally in ordered]
    uncovered.sort(key=lambda u: _place(u.student))
    return Coverage(grades, uncovered)


def _place(student: StudentRow) -> tuple[object, ...]:
    """Where a student comes in the list: school, grade, name, ID."""
    return (
        student.school_code,
        grade_order(student.grade),
        student.last_name,
        student.first_name,
        student.student_id,
    )


def _without_account(student: StudentRow, card: list[CardEntry], rules: AttachRules) -> Uncovered:
    """What would give a student with no account attached one: the first contact that could
    get one, else why none can."""
    refused: list[str] = []
    for entry in card:
        if not entry.candidate or entry.email_key is None:
            continue
        why = rules.refusal(entry.email_key, "GUARDIAN", student.id, student.student_id)
        if not why and entry.account_type not in (None, "GUARDIAN"):
            why = f"{entry.email} is the logon of a {entry.account_type} account"
        if why:
            refused.append(f"{entry.name}: {why}")
        elif entry.account is None:
            return Uncovered(student, CAN_GET, AUTOCREATE, f"{entry.name}: a new account")
        elif entry.account_status == "ACTIVE":
            why = f"{entry.name}: attach to the existing account {entry.account}"
            return Uncovered(student, CAN_GET, AUTOCREATE, why)
        else:
            action = (
                f"Make the account {entry.account} ACTIVE again "
                f"(portal user modify {entry.account} --status ACTIVE), then run AutoCreate"
            )
            why = f"{entry.name}: the account is {entry.account_status}"
            return Uncovered(student, CAN_GET, action, why)
    if refused:
        return Uncovered(student, NO_CONTACT, FIX_CARD, "; ".join(refused))
    return Uncovered(student, NO_CONTACT, ADD_EMAIL, _nobody(card))


def _nobody(card: list[CardEntry]) -> str:
    """Why no contact on the card could get an account, in a few words."""
    if not card:
        return "No contacts on the card"
    if not any(entry.email_key for entry in card):
        return "No contact on the card has an email"
    return "No contact with an email is marked GUARDIAN Y and PORTAL_ACCESS Y"
