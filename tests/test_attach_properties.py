"""Generated districts, attach paths run in random orders: no account ever sees a student the
rules forbid, checked after every step against a plain reading of the rules over the database."""

from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
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
def districts(draw: st.DrawFn) -> District:
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
    contacts = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(NAMES) - 1), st.one_of(st.none(), st.sampled_from(EMAILS))
            ),
            min_size=1,
            max_size=4,
        )
    )
    cards = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(students) - 1),
                st.integers(0, len(contacts) - 1),
                st.booleans(),
                st.booleans(),
            ),
            min_size=1,
            max_size=8,
            unique_by=lambda card: (card[0], card[1]),
        )
    )
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
    )
    return st.lists(one, min_size=1, max_size=6)


def sid(n: int) -> str:
    return f"{n:03d}"


def roster_rows(district: District, revoked: set[int]) -> dict[str, Any]:
    yes = {True: "Y", False: "N"}
    contacts = []
    for n, (s, c, guardian, access) in enumerate(district.cards):
        first, last = NAMES[district.contacts[c][0]]
        email = district.contacts[c][1]
        allowed = access and n not in revoked
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


def run(engine: Engine, district: District, step: tuple[Any, ...], revoked: set[int]) -> None:
    kind = step[0]
    if kind == "autocreate":
        autocreate(engine, Options(schools=[step[1]] if step[1] else []), apply=True)
    elif kind == "create-account":
        with suppress(PortalError):  # no email, or on no card: refused in words
            create_account_from_contact(engine, f"C{step[1]}", apply=True)
    elif kind in ("link", "student account"):
        user_type = "GUARDIAN" if kind == "link" else "STUDENT"
        import_users(
            engine, input_table(USER_HEADERS, [[step[1], "A", "B", user_type]]), apply=True
        )
        import_links(engine, input_table(LINK_HEADERS, [[step[1], sid(step[2]), None]]), apply=True)
    elif kind == "new user":
        new_user(
            engine,
            logon_id=step[1],
            user_type=step[2],
            last_name="B",
            first_name="A",
            students=[sid(step[3])],
        )
    else:
        revoked.add(step[1])
        import_roster(engine, **roster_rows(district, revoked), apply=True)


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


def forbidden(engine: Engine) -> list[str]:
    """Every stored link the rules forbid."""
    db = read(engine)
    students_of: dict[str, set[int]] = defaultdict(set)
    for key, _, student in db.seen:
        students_of[key].add(student)
    problems = []
    for key, user_type, student in db.seen:
        if user_type == "STUDENT":
            if len(students_of[key]) > 1 or (key in db.own and student not in db.own[key]):
                problems.append(f"student account {key} sees {sorted(students_of[key])}")
            continue
        if key in db.own:
            problems.append(f"guardian {key} is a student's own email and sees {student}")
        if (key, student) in db.barred:
            problems.append(f"{key} sees {student} with portal access N")
        groups = list(db.people[key].values())
        households = len(groups) > 1 and not set.intersection(*groups)
        if households and any(student in group for group in groups):
            problems.append(f"{key} of two households sees {student}")
    return problems


@settings(
    max_examples=25,
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
        revoked: set[int] = set()
        import_roster(engine, **roster_rows(district, revoked), apply=True)
        for step in data.draw(steps(district)):
            run(engine, district, step, revoked)
            assert forbidden(engine) == [], step
    finally:
        engine.dispose()
