"""A district of two schools, 101 and 201, their staff, and what school 201 holds.

Students 00123 and 00124 are at school 101, 00456 and 00457 at 201. Accounts, made from the
office's own computer (no staff identity): tom@example.org sees 00456 (school 201 only),
mia@example.org sees 00123 and 00456 (both schools), ann@example.org sees 00124 (school 101),
free@example.org sees no one. Staff: a clerk of 101, a clerk of 201 and a district admin; the
201 clerk has run a batch of their own.
"""

from dataclasses import dataclass
from typing import Any

from factories import CONTACT_HEADERS, LINK_HEADERS, STUDENT_HEADERS, USER_HEADERS, input_table
from sqlalchemy import Engine, select

from backend.database.models import (
    ActivationToken,
    Batch,
    OutboxMessage,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.staff.identity import DISTRICT_ADMIN, SCHOOL_STAFF, StaffIdentity, add_staff

STUDENTS = [
    ["00123", "Ava", "Lee", "3", "101", None],
    ["00124", "Ben", "Fry", "4", "101", None],
    ["00456", "Max", "Lee", "7", "201", None],
    ["00457", "Sam", "Ode", "8", "201", None],
]
CONTACTS = [
    ["00123", "C1", "Mia", "Lee", "Mother", "mia@example.org", "Y", "Y", 1],
    ["00456", "C1", "Mia", "Lee", "Mother", "mia@example.org", "Y", "Y", 1],
    ["00456", "C2", "Tom", "Lee", "Father", "tom@example.org", "Y", "Y", 2],
    ["00124", "C2", "Tom", "Lee", "Uncle", "tom@example.org", "Y", "Y", 2],
    ["00124", "C3", "Ann", "Fry", "Mother", "ann@example.org", "Y", "Y", 1],
    ["00457", "C4", "Eve", "Ode", "Mother", "eve@example.org", "Y", "Y", 1],
]
ACCOUNTS = ["tom@example.org", "mia@example.org", "ann@example.org", "free@example.org"]
LINKS = [
    ["tom@example.org", "00456", "Father"],
    ["mia@example.org", "00123", "Mother"],
    ["mia@example.org", "00456", "Mother"],
    ["ann@example.org", "00124", "Mother"],
]
TOM = "tom@example.org"
NOT_OURS = "account tom@example.org is looked after by another school's staff"


@dataclass(frozen=True)
class Town:
    engine: Engine
    clerk: StaffIdentity  # school 101's staff
    other: StaffIdentity  # school 201's staff
    admin: StaffIdentity
    their_batch: int  # a batch of the 201 clerk


def build(engine: Engine) -> Town:
    report = import_roster(
        engine,
        schools=input_table(["SCHOOL_CODE", "SCHOOL_NAME"], [["101", "Lincoln"], ["201", "Wash"]]),
        students=input_table(STUDENT_HEADERS, STUDENTS),
        contacts=input_table(CONTACT_HEADERS, CONTACTS),
        apply=True,
    )
    assert report.counts["error"] == 0, report.results
    rows = [[logon, "Pat", "Lee", "GUARDIAN"] for logon in ACCOUNTS]
    assert import_users(engine, input_table(USER_HEADERS, rows), apply=True).counts["added"] == 4
    report = import_links(engine, input_table(LINK_HEADERS, LINKS), apply=True)
    assert report.counts["added"] == 4, report.results
    clerk, _ = add_staff(engine, "clerk@lincoln.org", role=SCHOOL_STAFF, school_codes=["101"])
    other, _ = add_staff(engine, "clerk@wash.org", role=SCHOOL_STAFF, school_codes=["201"])
    admin, _ = add_staff(engine, "it@district.org", role=DISTRICT_ADMIN)
    table = input_table(USER_HEADERS, [[TOM, "Thomas", "Lee", "GUARDIAN"]])
    theirs = import_users(engine, table, apply=True, actor=other)
    assert theirs.counts["updated"] == 1
    return Town(engine, clerk, other, admin, theirs.batch_id)


def _rows(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def school_201(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Everything of school 201: its students, their cards and links, and tom's account with
    its mail and activation tokens, each row whole."""
    of_201 = select(Student.id).join(School, School.id == Student.school_id)
    of_201 = of_201.where(School.code == "201")
    tom = select(PortalUser.id).where(PortalUser.logon_id == TOM)
    return {
        "students": _rows(engine, select(Student).where(Student.id.in_(of_201))),
        "cards": _rows(engine, select(StudentContact).where(StudentContact.student_id.in_(of_201))),
        "links": _rows(
            engine,
            select(StudentLink).where(StudentLink.student_id.in_(of_201)).order_by(StudentLink.id),
        ),
        "account": _rows(engine, select(PortalUser).where(PortalUser.id.in_(tom))),
        "mail": _rows(engine, select(OutboxMessage).where(OutboxMessage.user_id.in_(tom))),
        "tokens": _rows(engine, select(ActivationToken).where(ActivationToken.user_id.in_(tom))),
    }


def links(engine: Engine) -> set[tuple[str, str, str | None]]:
    """Every (logon, student ID, relationship) attached."""
    query = (
        select(PortalUser.logon_id, Student.student_id, StudentLink.relationship)
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
    )
    with engine.connect() as connection:
        return {(a, b, c) for a, b, c in connection.execute(query)}


def batch_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(Batch.id)).all())


def reasons(results: Any) -> dict[str | None, str]:
    """Each error row's key -> its reason."""
    return {r.key: r.reason for r in results if r.action == "error"}
