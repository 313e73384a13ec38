"""Who may see which child: the one set of rules for attaching a student to an account.

Every path that attaches a student (the link import, New and Modify User, the contact card's
create-account, AutoCreate) asks ``AttachRules.refusal`` first, so a child's record reaches an
account only when all of these allow it:

- **Portal access**: a contact whose entry on a student's card says PORTAL_ACCESS N never gets
  that student on the account whose logon is the contact's email.
- **Two households**: an email that contacts of two households share (different names and no
  student common to all of them, judged over every card in the database) gets none of their
  students, whatever order the runs come in: both households would see the children.
- **A student's own email** (a STUDENT_EMAIL) is never a guardian's logon: such a guardian account
  gets no student.
- **A STUDENT account** sees only its own student: one student at most, and when its logon is a
  student's STUDENT_EMAIL, only that student.

``load_rules`` reads what they look at in bulk; ``exposures`` finds the links already stored that
the rules forbid, so that every run can warn about them by account and students.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    delete,
    false,
    func,
    or_,
    select,
)

from backend.accounts.logon import logon_key
from backend.database.engine import rows_in, where_in
from backend.database.models import Contact, PortalUser, Student, StudentContact, StudentLink
from backend.imports.contract import CHUNK, RowResult
from backend.staff.identity import Actor
from backend.staff.scope import Scope, restricted_schools

Own = tuple[str, ...]
"""The IDs of the students whose STUDENT_EMAIL an email is (one, unless a roster gave two
students one email), sorted."""


class CardUse(NamedTuple):
    """One entry on a student's card whose contact's email is a logon being judged (a tuple:
    a state's AutoCreate makes 100,000 of them a part, three times faster than dataclasses)."""

    email_key: str
    student: int  # the student's primary key
    student_id: str
    contact_id: str
    first_name: str
    last_name: str
    portal_access: bool
    school: int | None = None  # the student's school, for messages to a school's staff

    @property
    def person(self) -> tuple[str, str]:
        return (self.first_name.casefold(), self.last_name.casefold())


@dataclass
class AttachRules:
    """What the rules look at for some logons, and the students a batch attaches as it plans."""

    uses: dict[str, list[CardUse]] = field(default_factory=dict)  # email key -> card entries
    own: dict[str, Own] = field(default_factory=dict)  # email key -> students whose own it is
    # Logon key of a STUDENT account -> the students it sees (primary key -> student ID).
    sees: dict[str, dict[int, str]] = field(default_factory=dict)
    # A school's staff's schools: a refusal names only people and students of these; None
    # names everyone (a district admin, the office's own database).
    schools: frozenset[int] | None = None
    _verdicts: dict[str, str] = field(default_factory=dict)

    def refusal(self, key: str, user_type: str, student: int, student_id: str) -> str:
        """Why the account of logon key ``key`` may not see the student, or '' when it may."""
        if user_type == "STUDENT":
            return self._student_account(key, student, student_id)
        if key in self.own:
            named = self.schools is None
            return own_email(self.own[key], named) + ": a guardian account with it gets no student"
        uses = [u for u in self.uses.get(key, ()) if u.student == student]
        barred = next((u for u in uses if not u.portal_access), None)
        if barred is not None:
            return (
                f"PORTAL_ACCESS is N for {barred.first_name} {barred.last_name} (contact "
                f"{barred.contact_id}) on the card of student {student_id}, whose email this is "
                "(rule: portal access): they may not see this student in the portal"
            )
        if uses and self.households(key):
            return self.households(key)
        return ""

    def attached(self, key: str, user_type: str, student: int, student_id: str) -> None:
        """Note a student the batch attaches, so later rows of the batch are judged with it."""
        if user_type == "STUDENT":
            self.sees.setdefault(key, {})[student] = student_id

    def detached(self, key: str, student: int) -> None:
        self.sees.get(key, {}).pop(student, None)

    def _student_account(self, key: str, student: int, student_id: str) -> str:
        own = self.own.get(key, ())
        if own and student_id not in own:
            whose = f"student {_names(own)}" if self.schools is None else "another student"
            return (
                f"The logon is the own email of {whose} (STUDENT_EMAIL): a student account "
                "sees only its own student"
            )
        others = sorted(sid for pk, sid in self.sees.get(key, {}).items() if pk != student)
        if others:
            which = f"student {others[0]}" if self.schools is None else "another student"
            return f"A student account sees only its own student, and this one already sees {which}"
        return ""

    def households(self, key: str) -> str:
        """'' when one person or one family uses the email, else why it gets no student."""
        if key not in self._verdicts:
            self._verdicts[key] = two_households(self.uses.get(key, []), self.schools)
        return self._verdicts[key]


def _names(students: Own) -> str:
    return " and ".join(students)


def own_email(students: Own, named: bool = True) -> str:
    """Why a student's own email is no guardian's logon; ``named`` False (a school's staff, who
    may not learn of another school's student) names no student."""
    of = f" of student {_names(students)}" if named else ""
    return f"The logon is the student's own email (STUDENT_EMAIL{of}), never a guardian's"


def _party(use: CardUse, schools: frozenset[int] | None) -> str:
    """A contact as a refusal names them: a school's staff learn nothing of another school's."""
    if schools is not None and use.school not in schools:
        return "a contact at another school"
    return f"{use.first_name} {use.last_name} (contact {use.contact_id}, student {use.student_id})"


def two_households(uses: list[CardUse], schools: frozenset[int] | None = None) -> str:
    """Why an email's card entries are two households, or '' when they are one family.

    Different names are one family only when a student is on the card of every one of them.
    With ``schools`` (a school's staff), only contacts of those schools are named.
    """
    students_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    for use in uses:
        students_of[use.person].add(use.student)
    if len(students_of) < 2 or set.intersection(*students_of.values()):
        return ""
    ordered = sorted(uses, key=lambda u: (u.student_id, u.contact_id))
    first = ordered[0]
    other = next(u for u in ordered if u.person != first.person)
    return (
        f"Email shared by two households, {_party(first, schools)} and "
        f"{_party(other, schools)}: no student is attached to it (rule: two households, one "
        "email), as it would show one family's children to the other; fix one of the emails"
    )


def load_rules(
    connection: Connection,
    keys: Collection[str],
    actor: Actor = None,
    *,
    student_accounts: Collection[str] | None = None,
    uses: Iterable[CardUse] | None = None,
) -> AttachRules:
    """The rules' view of these logon keys: every card entry with the email in the database,
    the students whose own email it is, and the students each STUDENT account sees. For a
    school's staff (``actor``), refusals name only their schools' people. A caller that has
    read the keys' accounts names the STUDENT ones (``student_accounts``): only theirs are
    looked up; one that has the keys' card entries gives them (``uses``)."""
    rules = AttachRules(schools=restricted_schools(actor))
    for use in card_uses(connection, keys) if uses is None else uses:
        rules.uses.setdefault(use.email_key, []).append(use)
    sees = (
        select(PortalUser.logon_key, Student.id, Student.student_id)
        .join(StudentLink, StudentLink.user_id == PortalUser.id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(PortalUser.user_type == "STUDENT")
    )
    seeing = keys if student_accounts is None else student_accounts
    for key, pk, sid in rows_in(connection, sees, PortalUser.logon_key, seeing):
        rules.sees.setdefault(key, {})[pk] = sid
    rules.own = students_own(connection, keys)
    return rules


def card_uses(connection: Connection, keys: Collection[str]) -> list[CardUse]:
    """Every card entry whose contact's email key is one of ``keys``.

    One query per table, each looked up by its index: joined in one query (the keys an array),
    PostgreSQL hashed whole tables, which a state's AutoCreate paid again in every part.
    """
    contacts = {
        row.id: row
        for row in rows_in(
            connection,
            select(
                Contact.id,
                Contact.email_key,
                Contact.contact_id,
                Contact.first_name,
                Contact.last_name,
            ),
            Contact.email_key,
            keys,
        )
    }
    entries = list(
        rows_in(
            connection,
            select(
                StudentContact.contact_id, StudentContact.student_id, StudentContact.portal_access
            ),
            StudentContact.contact_id,
            contacts,
        )
    )
    students = {
        pk: (sid, school)
        for pk, sid, school in rows_in(
            connection,
            select(Student.id, Student.student_id, Student.school_id),
            Student.id,
            {entry[1] for entry in entries},
        )
    }
    uses = []
    for contact_pk, student_pk, access in entries:
        _, key, contact_id, first, last = contacts[contact_pk]
        sid, school = students[student_pk]
        if key is not None:
            uses.append(CardUse(key, student_pk, sid, contact_id, first, last, access, school))
    return uses


def shared_emails(connection: Connection) -> set[str]:
    """The email keys on more than one card entry: a run over many students reads only these
    emails' entries from the database (one query here instead of one per part), as any other
    email's one entry is on the card that names it."""
    query = (
        select(Contact.email_key)
        .join(StudentContact, StudentContact.contact_id == Contact.id)
        .where(Contact.email_key.is_not(None))
        .group_by(Contact.email_key)
        .having(func.count() > 1)
    )
    return {key for key in connection.execute(query).scalars() if key}


def students_own(connection: Connection, keys: Collection[str]) -> dict[str, Own]:
    """Which of these email keys are a student's own email: key -> those students' IDs.

    Few keys are looked up; for many, reading every student's email once is the faster way.
    """
    query = select(Student.student_id, Student.email).where(Student.email.is_not(None))
    if len(keys) <= CHUNK:
        wanted = where_in(connection, func.lower(Student.email, type_=String), keys)
        # lower() is the key of ASCII text only: 'Straße' is 'strasse' to a logon's key.
        query = query.where(or_(false() if wanted is None else wanted, _not_ascii(connection)))
    found = _own(connection.execute(query))
    return {key: found[key] for key in keys if key in found}


def _not_ascii(connection: Connection) -> ColumnElement[bool]:
    """A student's email with a character outside ASCII, whose key SQL's lower() cannot make."""
    if connection.dialect.name == "postgresql":
        return Student.email.regexp_match("[^\\x01-\\x7f]")
    return Student.email.op("GLOB", is_comparison=True)("*[^\x01-\x7f]*")


def _own(rows: Iterable[tuple[str, str | None]]) -> dict[str, Own]:
    found: dict[str, set[str]] = defaultdict(set)
    for sid, email in rows:
        if email:
            found[logon_key(email)].add(sid)
    return {key: tuple(sorted(students)) for key, students in found.items()}


@dataclass(frozen=True)
class Exposure:
    """A stored link the rules forbid: an account that sees a student it must not."""

    logon_id: str
    student_ids: tuple[str, ...]
    why: str

    def warning(self) -> RowResult:
        students = ", ".join(self.student_ids)
        plural = "s" if len(self.student_ids) > 1 else ""
        return RowResult(
            None,
            self.logon_id,
            "skipped",
            "Found as it was; this run does not change it",
            warning=(
                f"The account {self.logon_id} already sees student{plural} {students}, "
                f"which the rules forbid: {self.why}. Detach them (portal user modify "
                f"{self.logon_id} --detach STUDENT_ID) and fix the contact card"
            ),
        )


def exposures(connection: Connection, actor: Actor = None) -> list[RowResult]:
    """A warning for each account that already sees a student the rules forbid, found in bulk
    over the whole database: every run lists them until someone fixes them. A school's staff
    are told only of their own students."""
    own = _own(
        connection.execute(
            select(Student.student_id, Student.email).where(Student.email.is_not(None))
        )
    )
    found = [*_shared_by_households(connection), *_access_revoked(connection)]
    found += _own_email_logons(connection, own, named=restricted_schools(actor) is None)
    found += _student_accounts(connection, own)
    merged: dict[tuple[str, str], set[str]] = defaultdict(set)
    scope = Scope.load(connection, actor, student_ids={student for _, student, _ in found})
    for logon, student_id, why in found:
        if scope.sees_student(student_id):
            merged[(logon, why)].add(student_id)
    return [
        Exposure(logon, tuple(sorted(students)), why).warning()
        for (logon, why), students in sorted(merged.items())
    ]


Found = tuple[str, str, str]
"""(an account's logon, a student ID it sees, why it must not)."""


def _shared_by_households(connection: Connection) -> list[Found]:
    shared = (
        select(Contact.email_key)
        .where(Contact.email_key.is_not(None))
        .group_by(Contact.email_key)
        .having(func.count() > 1)
    )
    keys = [key for (key,) in connection.execute(shared) if key is not None]
    if not keys:
        return []
    rules = load_rules(connection, keys)
    found: list[Found] = []
    linked = (
        select(PortalUser.logon_key, PortalUser.logon_id, StudentLink.student_id)
        .join(StudentLink, StudentLink.user_id == PortalUser.id)
        .where(PortalUser.user_type != "STUDENT")
    )
    shared_keys = [k for k in keys if rules.households(k)]
    for key, logon, student in rows_in(connection, linked, PortalUser.logon_key, shared_keys):
        on_cards = {u.student: u.student_id for u in rules.uses[key]}
        if student in on_cards:
            found.append((logon, on_cards[student], "its email is shared by two households"))
    return found


def _access_revoked(connection: Connection) -> list[Found]:
    query = (
        select(PortalUser.logon_id, Student.student_id, Contact.contact_id)
        .select_from(StudentLink)
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Contact, Contact.email_key == PortalUser.logon_key)
        .join(
            StudentContact,
            and_(
                StudentContact.contact_id == Contact.id,
                StudentContact.student_id == StudentLink.student_id,
            ),
        )
        .join(Student, Student.id == StudentLink.student_id)
        .where(StudentContact.portal_access == false(), PortalUser.user_type != "STUDENT")
    )
    return [
        (logon, sid, f"PORTAL_ACCESS is N for contact {cid} on the student's card")
        for logon, sid, cid in connection.execute(query)
    ]


def _seen(student_accounts: bool) -> Select[int, str, str, str]:
    """Each link of the guardian (or the student) accounts: account id, logon key and logon,
    and the student's ID."""
    query = (
        select(PortalUser.id, PortalUser.logon_key, PortalUser.logon_id, Student.student_id)
        .select_from(StudentLink)
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
    )
    if student_accounts:
        return query.where(PortalUser.user_type == "STUDENT")
    return query.where(PortalUser.user_type != "STUDENT")


def _own_email_logons(connection: Connection, own: dict[str, Own], named: bool) -> list[Found]:
    found: list[Found] = []
    query = _seen(student_accounts=False)
    for _, key, logon, sid in rows_in(connection, query, PortalUser.logon_key, own):
        whose = f"student {_names(own[key])}" if named else "a student"
        why = f"its logon is the own email of {whose}, never a guardian's"
        found.append((logon, sid, why))
    return found


def _student_accounts(connection: Connection, own: dict[str, Own]) -> list[Found]:
    """Student accounts that see more than one student, or another than the one whose email
    their logon is."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, key, logon, sid in connection.execute(_seen(student_accounts=True)):
        seen[(key, logon)].add(sid)
    found: list[Found] = []
    for (key, logon), students in seen.items():
        mine = own.get(key, ())
        barred = students - set(mine) if mine else set()
        if len(students) > 1 and not barred:  # which one is its own is for a person to say
            barred = students
        why = "a student account sees only its own student"
        found += [(logon, sid, why) for sid in sorted(barred)]
    return found


def links_of_logons(
    connection: Connection, keys: Collection[str]
) -> dict[tuple[str, int], tuple[int, str]]:
    """The stored links of the accounts of these logon keys: (logon key, student's primary key)
    -> (the link's id, the account's logon), for detaching what a card no longer allows."""
    query = select(
        PortalUser.logon_key, StudentLink.student_id, StudentLink.id, PortalUser.logon_id
    ).join(StudentLink, StudentLink.user_id == PortalUser.id)
    return {
        (key, student): (link, logon)
        for key, student, link, logon in rows_in(connection, query, PortalUser.logon_key, keys)
    }


def detach(connection: Connection, link_ids: Collection[int]) -> None:
    condition = where_in(connection, StudentLink.id, link_ids)
    if condition is not None:
        connection.execute(delete(StudentLink).where(condition))
