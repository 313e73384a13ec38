"""Generated districts, attach paths run in random orders: no path ever lets an account see a
student the rules forbid, checked after every step against a plain reading of the rules over the
database; and when a changed card makes a link already stored forbidden, every later run warns of
that account."""

from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from factories import CONTACT_HEADERS, LINK_HEADERS, STUDENT_HEADERS, USER_HEADERS, input_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from backend.accounts.autocreate import Options, autocreate
from backend.accounts.contact_card import create_account_from_contact
from backend.accounts.single import new_user
from backend.database.engine import make_engine
from backend.database.models import (
    Base,
    Contact,
    PortalUser,
    Student,
    StudentContact,
    StudentLink,
)
from backend.errors import PortalError
from backend.imports.contract import Report
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users

EMAILS = ["a@example.org", "b@example.org", "c@example.org"]
NAMES = [("Pat", "Fox"), ("Jo", "Roe"), ("Kim", "Ng")]
SCHOOLS = ["101", "201"]


@dataclass(frozen=True)
class District:
    students: list[tuple[str, str | None, str]]  # school, own email, status
    contacts: list[tuple[int, str | None]]  # name index, email
    cards: list[tuple[int, int, bool, bool]]  # student, contact, guardian, portal access


@st.composite
def districts(draw: st.DrawFn, min_contacts: int = 1) -> District:
    students = draw(
        st.lists(
            st.tuples(
                st.sampled_from(SCHOOLS),
                st.one_of(st.none(), st.sampled_from(EMAILS)),
                st.sampled_from(["ACTIVE", "ACTIVE", "INACTIVE"]),
            ),
            min_size=2,
            max_size=4,
        )
    )
    # By default each contact has a name and an email of their own; drawn offsets make them
    # share (EMAILS and NAMES are fewer than the contacts can be).
    offsets = draw(
        st.lists(
            st.tuples(st.integers(0, len(NAMES) - 1), st.one_of(st.integers(0, 2), st.none())),
            min_size=min_contacts,
            max_size=4,
        )
    )
    contacts = [
        (name, None if email is None else EMAILS[(c + email) % len(EMAILS)])
        for c, (name, email) in enumerate(offsets)
    ]
    card = st.tuples(
        st.integers(0, len(students) - 1),
        st.integers(0, len(contacts) - 1),
        st.booleans(),
        st.booleans(),
    )
    # Each contact on the card of a student of their own (the n-th, by default), then more.
    own_cards = [
        (draw(st.integers(0, len(students) - 1)) + c) % len(students) for c in range(len(contacts))
    ]
    entries = [(s, c, True, True) for c, s in enumerate(own_cards)]
    entries += draw(st.lists(card, max_size=6))
    cards = list({(s, c): (s, c, g, a) for s, c, g, a in entries}.values())
    return District(students, contacts, cards)


def steps(district: District) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    student = st.integers(0, len(district.students) - 1)
    one = st.one_of(
        st.tuples(st.just("autocreate"), st.one_of(st.none(), st.sampled_from(SCHOOLS))),
        st.tuples(st.just("create-account"), st.integers(0, len(district.contacts) - 1)),
        st.tuples(st.just("link"), st.sampled_from(EMAILS), student),
        st.tuples(
            st.just("new user"),
            st.sampled_from(EMAILS),
            st.sampled_from(["GUARDIAN", "STUDENT"]),
            student,
        ),
        st.tuples(st.just("student account"), st.sampled_from(EMAILS), student),
        st.tuples(st.just("revoke"), st.integers(0, len(district.cards) - 1)),
        st.tuples(
            st.just("re-email"),
            st.integers(0, len(district.contacts) - 1),
            st.sampled_from(EMAILS),
        ),
    )
    return st.lists(one, min_size=1, max_size=6)


def sid(n: int) -> str:
    return f"{n:03d}"


@dataclass
class Edits:
    """What later rosters change: card entries whose portal access is revoked, new emails."""

    revoked: set[int] = field(default_factory=set)
    emails: dict[int, str] = field(default_factory=dict)


def roster_rows(district: District, edits: Edits) -> dict[str, Any]:
    yes = {True: "Y", False: "N"}
    contacts = []
    for n, (s, c, guardian, access) in enumerate(district.cards):
        first, last = NAMES[(c + district.contacts[c][0]) % len(NAMES)]  # C0, C1 .. differ
        email = edits.emails.get(c, district.contacts[c][1])
        allowed = access and n not in edits.revoked
        contacts.append(
            [sid(s), f"C{c}", first, last, "Mother", email, yes[guardian], yes[allowed], 1]
        )
    return {
        "schools": input_table(
            ["SCHOOL_CODE", "SCHOOL_NAME"], [[s, f"School {s}"] for s in SCHOOLS]
        ),
        "students": input_table(
            [*STUDENT_HEADERS, "STATUS"],
            [
                [sid(n), "Kid", f"N{n}", "3", school, own, status]
                for n, (school, own, status) in enumerate(district.students)
            ],
        ),
        "contacts": input_table(CONTACT_HEADERS, contacts),
    }


def run(engine: Engine, district: District, step: tuple[Any, ...], edits: Edits) -> list[Report]:
    """Run one step; the reports of the runs it made."""
    kind = step[0]
    if kind == "autocreate":
        return [autocreate(engine, Options(schools=[step[1]] if step[1] else []), apply=True)]
    if kind == "create-account":
        with suppress(PortalError):  # no email, or on no card: refused in words
            return [create_account_from_contact(engine, f"C{step[1]}", apply=True)]
        return []
    if kind in ("link", "student account"):
        user_type = "GUARDIAN" if kind == "link" else "STUDENT"
        rows = [[step[1], "A", "B", user_type]]
        return [
            import_users(engine, input_table(USER_HEADERS, rows), apply=True),
            import_links(
                engine, input_table(LINK_HEADERS, [[step[1], sid(step[2]), None]]), apply=True
            ),
        ]
    if kind == "new user":
        return [
            new_user(
                engine,
                logon_id=step[1],
                user_type=step[2],
                last_name="B",
                first_name="A",
                students=[sid(step[3])],
            )
        ]
    if kind == "revoke":
        edits.revoked.add(step[1])
    else:
        edits.emails[step[1]] = step[2]
    return [import_roster(engine, **roster_rows(district, edits), apply=True)]


@dataclass
class Database:
    """What the rules are about, read plainly from the database."""

    seen: list[tuple[str, str, int]]  # (logon key, account type, student) of every link
    people: dict[str, dict[tuple[str, str], set[int]]]  # email -> person -> their students
    barred: set[tuple[str, int]]  # (email, student) of card entries with portal access N
    own: dict[str, set[int]]  # a student's own email -> the students whose it is


def read(engine: Engine) -> Database:
    with engine.connect() as connection:
        seen = connection.execute(
            select(PortalUser.logon_key, PortalUser.user_type, StudentLink.student_id).join(
                StudentLink, StudentLink.user_id == PortalUser.id
            )
        ).all()
        cards = connection.execute(
            select(
                Contact.email_key,
                Contact.first_name,
                Contact.last_name,
                StudentContact.student_id,
                StudentContact.portal_access,
            ).join(StudentContact, StudentContact.contact_id == Contact.id)
        ).all()
        emails = connection.execute(select(Student.id, Student.email)).all()
    database = Database(
        [tuple(row) for row in seen], defaultdict(lambda: defaultdict(set)), set(), defaultdict(set)
    )
    for key, first, last, student, access in cards:
        if key:
            database.people[key][(first.casefold(), last.casefold())].add(student)
            if not access:
                database.barred.add((key, student))
    for pk, email in emails:
        if email:
            database.own[email.casefold()].add(pk)
    return database


Forbidden = tuple[str, int, str]
"""(an account's logon key, a student it sees, why it must not)."""


def forbidden(engine: Engine) -> set[Forbidden]:
    """Every stored link the rules forbid."""
    db = read(engine)
    students_of: dict[str, set[int]] = defaultdict(set)
    for key, _, student in db.seen:
        students_of[key].add(student)
    problems = set()
    for key, user_type, student in db.seen:
        if user_type == "STUDENT":
            if len(students_of[key]) > 1 or (key in db.own and student not in db.own[key]):
                problems.add((key, student, "a student account sees another student"))
            continue
        if key in db.own:
            problems.add((key, student, "a guardian logon that is a student's own email"))
        if (key, student) in db.barred:
            problems.add((key, student, "portal access N"))
        groups = list(db.people[key].values())
        households = len(groups) > 1 and not set.intersection(*groups)
        if households and any(student in group for group in groups):
            problems.add((key, student, "two households"))
    return problems


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_account_sees_a_forbidden_student_whatever_the_order(
    database_url: str, data: st.DataObject
) -> None:
    district = data.draw(districts())
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        edits = Edits()
        import_roster(engine, **roster_rows(district, edits), apply=True)
        for step in data.draw(steps(district)):
            before = forbidden(engine)
            reports = run(engine, district, step, edits)
            after = forbidden(engine)
            if step[0] != "re-email":  # only a changed card can make a stored link forbidden
                assert after <= before, step
            exposed = {key for key, _, _ in before}
            assert all(warned(report) == exposed for report in reports), step
    finally:
        engine.dispose()


def warned(report: Report) -> set[str]:
    """The logon keys of the accounts a run warns already see a student they must not."""
    return {
        (r.key or "").casefold()
        for r in report.results
        if r.warning and "which the rules forbid" in r.warning
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_links_a_changed_card_forbids_are_warned_of_by_the_next_run_of_any_kind(
    database_url: str, data: st.DataObject
) -> None:
    district = data.draw(districts(min_contacts=2))
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        edits = Edits()
        import_roster(engine, **roster_rows(district, edits), apply=True)
        for n in range(len(district.students)):  # every account a student's card allows
            for email in EMAILS:
                run(engine, district, ("link", email, n), edits)
        autocreate(engine, Options(), apply=True)
        # Contacts take another contact's email, as when a parent types the carpool's inbox.
        count = len(district.contacts)
        taker, other = data.draw(st.tuples(st.integers(0, count - 1), st.integers(1, count - 1)))
        giver = (taker + other) % count
        edits.emails[taker] = district.contacts[giver][1] or EMAILS[0]
        import_roster(engine, **roster_rows(district, edits), apply=True)
        exposed = {key for key, _, _ in forbidden(engine)}
        step = data.draw(steps(district))[0]
        for report in run(engine, district, step, edits):
            assert warned(report) == exposed, step
    finally:
        engine.dispose()
