"""A roster planned and written a few rows at a time says and does what one part would."""

from collections.abc import Iterator
from typing import Any

import pytest
from factories import CONTACT_HEADERS, SCHOOL_HEADERS, STUDENT_HEADERS, input_table
from sqlalchemy import Engine, text

from backend.imports.contract import InputTable, Report, RowLog
from backend.imports.links import import_links
from backend.imports.reviewed import Review
from backend.imports.roster import import_roster
from backend.imports.users import import_users

STUDENTS = [
    ["001", "Ava", "Lee", "3", "101", None],  # 2: stored, unchanged
    ["005", "Ned", "Fox", "2", "301", None],  # 3: new, school 301 added by its code
    ["006", "Ola", "Kay", "4", "301", None],  # 4
    ["007", "Pia", "Roy", "1", "101", None],  # 5
    ["005", "Ned", "Fox", "2", "301", None],  # 6: the same as row 3
    ["008", "Una", "Bee", "3", "101", None],  # 7: one ID, two names
    ["002", "Max", "Lee", "6", "101", None],  # 8: stored, a grade up
    ["008", "Zed", "Cox", "3", "101", None],  # 9
]
CONTACTS = [
    ["005", "C10", "Joy", "Fox", "Mother", "joy@example.org", "Y", "Y", 1],  # 2: new, new student
    ["001", "C1", "Mia", "Lee", "Mother", "mia.lee@example.org", "Y", "Y", 1],  # 3: unchanged
    ["001", "C3", "Ada", "Lee", "Grandmother", "Ada@example.org", None, None, 3],  # 4: N kept
    ["006", "C10", "Joy", "Fox", "Mother", "joy@example.org", "Y", "Y", 1],  # 5
    ["007", "C10", "Jay", "Fox", "Mother", "joy@example.org", "Y", "Y", 1],  # 6: not row 2's
    ["005", "C10", "Joy", "Fox", "Mother", "joy@example.org", "Y", "Y", 2],  # 7: row 2's pair
    ["008", "C11", "Rex", "Bee", "Father", None, "Y", "Y", 1],  # 8: the clashing ID
    ["002", "C3", "Ada", "Lee", "Grandmother", "Ada@example.org", "Y", "N", 3],  # 9
    ["002", "C1", "Mia", "Lee", "Mother", "mia.other@example.org", "Y", "Y", 1],  # 10
    ["999", "C12", "No", "One", "Mother", None, "Y", "Y", 1],  # 11: no such student
    ["001", "C13", "Ida", "Lee", "Aunt", "ada@example.org", "Y", "N", 4],  # 12: row 4 detached
]


def tables() -> dict[str, InputTable]:
    return {
        "students": input_table(STUDENT_HEADERS, STUDENTS, sheet="Students"),
        "contacts": input_table(CONTACT_HEADERS, CONTACTS, sheet="Contacts"),
    }


def stored_district(engine: Engine) -> None:
    """Students 001 and 002 of school 101; Mia on 001's card, Ada on it with PORTAL_ACCESS N
    and no email; Ada's account sees 001 and 002."""
    import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table(
            STUDENT_HEADERS,
            [["001", "Ava", "Lee", "3", "101", None], ["002", "Max", "Lee", "5", "101", None]],
            sheet="Students",
        ),
        contacts=input_table(
            CONTACT_HEADERS,
            [
                ["001", "C1", "Mia", "Lee", "Mother", "mia.lee@example.org", "Y", "Y", 1],
                ["001", "C3", "Ada", "Lee", "Grandmother", None, "N", "N", 3],
            ],
            sheet="Contacts",
        ),
        apply=True,
    )
    headers = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"]
    import_users(
        engine, input_table(headers, [["ada@example.org", "Ada", "Lee", "GUARDIAN"]]), apply=True
    )
    links = [["ada@example.org", "001"], ["ada@example.org", "002"]]
    import_links(engine, input_table(["LOGONID", "STUDENT_ID"], links), apply=True)


def rows(report: Report) -> list[tuple[Any, ...]]:
    return [
        (r.sheet, r.row, r.key, r.action, r.reason, r.changes, r.warning) for r in report.results
    ]


def query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_a_roster_in_parts_plans_and_writes_what_one_part_would(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_district(engine)
    whole = import_roster(engine, **tables())
    outcomes = [(sheet, row, key, action) for sheet, row, key, action, *_ in rows(whole)]
    assert outcomes == [
        ("Students", 2, "001", "skipped"),
        ("Students", 3, "005", "added"),
        ("Students", 4, "006", "added"),
        ("Students", 5, "007", "added"),
        ("Students", 6, "005", "skipped"),
        ("Students", 7, "008", "error"),
        ("Students", 8, "002", "updated"),
        ("Students", 9, "008", "error"),
        ("Contacts", 2, "005 / C10", "added"),
        ("Contacts", 3, "001 / C1", "skipped"),
        ("Contacts", 4, "001 / C3", "updated"),
        ("Contacts", 4, "ada@example.org / 001", "removed"),
        ("Contacts", 5, "006 / C10", "added"),
        ("Contacts", 6, "007 / C10", "error"),
        ("Contacts", 7, "005 / C10", "skipped"),
        ("Contacts", 8, "008 / C11", "error"),
        ("Contacts", 9, "002 / C3", "added"),
        ("Contacts", 9, "ada@example.org / 002", "removed"),
        ("Contacts", 10, "002 / C1", "error"),
        ("Contacts", 11, "999 / C12", "error"),
        ("Contacts", 12, "001 / C13", "added"),
    ]
    reasons = {(sheet, row, action): reason for sheet, row, _, action, reason, *_ in rows(whole)}
    assert "school 301 added by its code" in reasons[("Students", 3, "added")]
    assert reasons[("Students", 6, "skipped")] == "Same STUDENT_ID as row 3, which is used"
    assert (
        "'008' is on Students rows 7 and 9 with different names"
        in reasons[("Students", 7, "error")]
    )
    assert reasons[("Contacts", 6, "error")].startswith(
        "FIRST_NAME: 'Jay' differs from row 2 ('Joy') for the same CONTACT_ID"
    )
    assert reasons[("Contacts", 7, "skipped")] == (
        "Same STUDENT_ID and CONTACT_ID as row 2, which is used"
    )
    assert (
        "EMAIL: 'mia.other@example.org' differs from row 3 ('mia.lee@example.org')"
        in (reasons[("Contacts", 10, "error")])
    )
    assert "fix the Students sheet first" in reasons[("Contacts", 8, "error")]
    assert dict(whole.extra)["Schools added by code"] == "301"

    monkeypatch.setattr("backend.imports.contract.SPILL_ROWS", 3)
    for size in (2, 1):
        monkeypatch.setattr("backend.imports.roster.PART_ROWS", size)
        parts = import_roster(engine, **tables())
        assert isinstance(parts.results, RowLog) and rows(parts) == rows(whole)
        assert (parts.tallies, parts.extra) == (whole.tallies, whole.extra)

    applied = import_roster(engine, **tables(), apply=True, review=Review(parts.batch_id))
    assert dict(applied.extra)["Simulation"] == f"batch {parts.batch_id}: every row as simulated"
    assert rows(applied) == rows(whole) and applied.tallies == whole.tallies
    assert query(
        engine,
        "SELECT s.student_id, s.first_name, s.grade, c.code FROM students s "
        "JOIN schools c ON c.id = s.school_id ORDER BY 1",
    ) == [
        ("001", "Ava", "3", "101"),
        ("002", "Max", "6", "101"),
        ("005", "Ned", "2", "301"),
        ("006", "Ola", "4", "301"),
        ("007", "Pia", "1", "101"),
    ]
    assert query(engine, "SELECT contact_id, first_name, email FROM contacts ORDER BY 1") == [
        ("C1", "Mia", "mia.lee@example.org"),
        ("C10", "Joy", "joy@example.org"),
        ("C13", "Ida", "ada@example.org"),
        ("C3", "Ada", "Ada@example.org"),
    ]
    assert query(
        engine,
        "SELECT s.student_id, c.contact_id, e.portal_access, e.priority FROM student_contacts e "
        "JOIN students s ON s.id = e.student_id JOIN contacts c ON c.id = e.contact_id "
        "ORDER BY 1, 2",
    ) == [
        ("001", "C1", True, 1),
        ("001", "C13", False, 4),
        ("001", "C3", False, 3),
        ("002", "C3", False, 3),
        ("005", "C10", True, 1),
        ("006", "C10", True, 1),
    ]
    assert query(engine, "SELECT count(*) FROM student_links") == [(0,)]


class Reread:
    """Rows read again on each pass, as a state's bundle gives them: counted and iterated,
    never indexed."""

    def __init__(self, rows: list[tuple[int, list[Any]]]) -> None:
        self.rows, self.passes = rows, 0

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        self.passes += 1
        return iter(list(self.rows))

    def __len__(self) -> int:
        return len(self.rows)


def test_a_roster_reads_students_twice_and_contacts_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clash check reads the Students rows once before they are planned; the rows of a
    table are never held whole nor looked up by place."""
    stored_district(engine)
    whole = import_roster(engine, **tables())
    monkeypatch.setattr("backend.imports.roster.PART_ROWS", 3)
    reread = tables()
    students, contacts = Reread(reread["students"].rows), Reread(reread["contacts"].rows)  # type: ignore[arg-type]
    reread["students"].rows, reread["contacts"].rows = students, contacts
    parts = import_roster(engine, **reread)
    assert rows(parts) == rows(whole)
    assert (students.passes, contacts.passes) == (2, 1)
