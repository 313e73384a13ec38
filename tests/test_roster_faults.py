"""Rosters that cannot be misread: one ID for two children, a malformed email, no Schools sheet."""

from pathlib import Path

import pytest
from factories import (
    CONTACT_HEADERS,
    SCHOOL_HEADERS,
    SMALL_DISTRICT,
    STUDENT_HEADERS,
    input_table,
    workbook,
)
from helpers import read_log, run_cli
from sqlalchemy import Engine, create_engine, text

from backend.accounts.autocreate import Options, autocreate
from backend.imports.roster import import_roster

Capsys = pytest.CaptureFixture[str]


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = [tuple(row) for row in connection.execute(text(sql))]
    engine.dispose()
    return found


def contact(sid: str, cid: str, first: str, email: str | None) -> list[object]:
    return [sid, cid, first, "Lee", "Mother", email, "Y", "Y", 1]


def test_one_student_id_with_two_names_is_an_error_for_every_row_naming_it(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    path = workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (
                STUDENT_HEADERS,
                [
                    ["00123", "Ava", "Lee", "3", "101", None],
                    ["00124", "Max", "Ng", "4", "101", None],
                    ["00123", "Noah", "Stone", "5", "101", None],
                ],
            ),
            "Contacts": (
                CONTACT_HEADERS,
                [
                    contact("00123", "C1", "Mia", "mia@example.org"),
                    contact("00124", "C2", "Kim", "kim@example.org"),
                    contact("00123", "C3", "Sue", "sue@example.org"),
                ],
            ),
        },
    )
    applied = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert applied.code == 1
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert [(r.sheet, r.row, r.key, r.action) for r in rows] == [
        ("Students", 2, "00123", "error"),  # rows that need attention come first
        ("Students", 4, "00123", "error"),
        ("Contacts", 2, "00123 / C1", "error"),
        ("Contacts", 4, "00123 / C3", "error"),
        ("Schools", 2, "101", "added"),
        ("Students", 3, "00124", "added"),
        ("Contacts", 3, "00124 / C2", "added"),
    ]
    clash = "STUDENT_ID: '00123' is on Students rows 2 and 4 with different names"
    assert all(rows[i].reason.startswith(clash) for i in range(4))
    assert "correct the ID or the name" in rows[0].reason
    assert "so this contact lands on the right card" in rows[2].reason
    assert query(database_url, "SELECT student_id FROM students") == [("00124",)]
    cards = "SELECT c.contact_id FROM student_contacts sc JOIN contacts c ON c.id = sc.contact_id"
    assert query(database_url, cards) == [("C2",)]


def test_a_malformed_email_leaves_out_that_field_and_keeps_the_contact(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    path = workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (STUDENT_HEADERS, [["001", "Ava", "Lee", "3", "101", None]]),
            "Contacts": (
                CONTACT_HEADERS,
                [
                    contact("001", "C1", "Mia", "N/A"),
                    contact("001", "C2", "Tom", "a@example.org; b@example.org"),
                    contact("001", "C3", "Sue", "sue@example.org"),
                ],
            ),
        },
    )
    applied = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert applied.code == 0
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    contacts = [(r.key, r.action, r.warning) for r in rows if r.sheet == "Contacts"]
    assert [(key, action) for key, action, _ in contacts] == [
        ("001 / C1", "added"),
        ("001 / C2", "added"),
        ("001 / C3", "added"),
    ]
    assert str(contacts[0][2]).startswith(
        "EMAIL left out, the rest of the contact is kept: 'N/A' is not a valid email address"
    )
    assert "kept: 'a@example.org; b@example.org' is not a valid email" in contacts[1][2]
    people = "SELECT contact_id, first_name, email FROM contacts ORDER BY contact_id"
    assert query(database_url, people) == [
        ("C1", "Mia", None),
        ("C2", "Tom", None),
        ("C3", "Sue", "sue@example.org"),
    ]
    engine = create_engine(database_url)
    report = autocreate(engine, Options())
    engine.dispose()
    seen = {(r.key, r.action) for r in report.results}
    assert {("001 / C1", "skipped"), ("001 / C2", "skipped"), ("001 / C3", "added")} <= seen


def test_a_roster_without_a_schools_sheet_adds_the_schools_by_code(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    students = [
        ["001", "Ava", "Lee", "3", "201", None],
        ["002", "Max", "Lee", "5", "301", None],
        ["003", "Zoe", "Ng", "4", "201", None],
    ]
    path = workbook(tmp_path / "roster.xlsx", {"Students": (STUDENT_HEADERS, students)})
    applied = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert applied.code == 0
    summary, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert summary["Schools added by code"] == "201, 301"
    assert [(r.key, r.action) for r in rows] == [
        ("001", "added"),
        ("002", "added"),
        ("003", "added"),
    ]
    assert rows[0].reason == (
        "New student (school 201 added by its code, as the roster has no Schools sheet; "
        "give it its name in a Schools sheet)"
    )
    assert rows[2].reason == "New student"
    assert query(database_url, "SELECT code, name FROM schools ORDER BY code") == [
        ("201", "201"),
        ("301", "301"),
    ]


def test_with_a_schools_sheet_an_unknown_code_stays_an_error(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    """Even an empty Schools sheet (the template's) says there is no new school."""
    sheets = {
        "Schools": (SCHOOL_HEADERS, []),
        "Students": (STUDENT_HEADERS, [["001", "Ava", "Lee", "3", "201", None]]),
    }
    path = workbook(tmp_path / "roster.xlsx", sheets)
    applied = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert applied.code == 1
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert [(r.key, r.action) for r in rows] == [("001", "error")]
    assert "SCHOOL: '201' is not a known school code" in rows[0].reason
    assert query(database_url, "SELECT count(*) FROM schools") == [(0,)]


def test_a_clash_on_a_student_already_stored_changes_nothing(engine: Engine) -> None:
    """The stored student keeps its name and card when a later roster gives its ID twice."""
    import_roster(engine, **SMALL_DISTRICT.tables(), apply=True)
    tables = SMALL_DISTRICT.tables()
    clash = [["00123", "Ava", "Lee", "3", "101", None], ["00123", "Eve", "Park", "3", "101", None]]
    tables["students"] = input_table(STUDENT_HEADERS, clash, sheet="Students")
    report = import_roster(engine, **tables, apply=True)
    students = [r.action for r in report.results if r.sheet == "Students"]
    assert students == ["error", "error"]
    contacts = {r.key: r.action for r in report.results if r.sheet == "Contacts"}
    assert contacts["00123 / C1"] == contacts["00123 / C2"] == "error"
    with engine.connect() as connection:
        assert connection.execute(
            text("SELECT first_name, last_name FROM students WHERE student_id = '00123'")
        ).all() == [("Ava", "Lee")]
