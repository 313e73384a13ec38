"""Coverage: the numbers per school and grade, the students without a working account with
what to do for each, the terminal's table, and the workbook as openpyxl and LibreOffice read it."""

import zipfile
from pathlib import Path

import openpyxl
import pytest
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    SCHOOL_HEADERS,
    USER_HEADERS,
    input_table,
    make_accounts,
)
from helpers import run_cli
from libreoffice import convert, ods_sheet
from sqlalchemy import Engine, event

from addin.workbooks.coverage_book import SUMMARY_SHEET, UNCOVERED_SHEET
from backend.accounts.coverage import (
    ADD_EMAIL,
    AUTOCREATE,
    FIX_CARD,
    RESEND,
    coverage,
)
from backend.database.engine import write_transaction
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import activate, issue_token

STUDENTS = ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STATUS"]
ROSTER = {
    "schools": [["101", "Lincoln"], ["201", "Washington"]],
    "students": [
        ["00001", "Ann", "Able", "K", "101", "ACTIVE"],  # one account activated, one not
        ["00002", "Ben", "Best", "K", "101", "ACTIVE"],  # an account never activated
        ["00003", "Cal", "Cole", "1", "101", "ACTIVE"],  # a contact with an email
        ["00004", "Dee", "Dunn", "1", "101", "ACTIVE"],  # a contact without email
        ["00005", "Eve", "East", "1", "101", "ACTIVE"],  # PORTAL_ACCESS N
        ["00006", "Fay", "Fox", "2", "201", "ACTIVE"],  # the contact's account is disabled
        ["00007", "Gus", "Gray", "2", "201", "ACTIVE"],  # one email, two households
        ["00008", "Hal", "Hill", "2", "201", "ACTIVE"],
        ["00009", "Ivy", "Ivo", "10", "201", "INACTIVE"],  # not counted
        ["00010", "Jo", "Able", "10", "201", "ACTIVE"],  # Ann's brother
    ],
    "contacts": [
        ["00001", "C1", "Mia", "Able", "Mother", "mia@example.org", "Y", "Y", 1],
        ["00010", "C1", "Mia", "Able", "Mother", "mia@example.org", "Y", "Y", 1],
        ["00003", "C3", "Cara", "Cole", "Mother", "cara@example.org", "Y", "Y", 1],
        ["00004", "C4", "Dan", "Dunn", "Father", None, "Y", "Y", 1],
        ["00005", "C5", "Eli", "East", "Father", "eli@example.org", "Y", "N", 1],
        ["00006", "C6", "Fran", "Fox", "Mother", "fran@example.org", "Y", "Y", 1],
        ["00007", "C7", "Gil", "Gray", "Father", "home@example.org", "Y", "Y", 1],
        ["00008", "C8", "Hope", "Hill", "Mother", "home@example.org", "Y", "Y", 1],
        ["00009", "C9", "Ian", "Ivo", "Father", "ian@example.org", "Y", "Y", 1],
    ],
}
PASSWORD = "correct horse battery"


def build_district(engine: Engine) -> None:
    """The roster, three accounts made by imports, two of them activated, one disabled."""
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, ROSTER["schools"], sheet="Schools"),
        students=input_table(STUDENTS, ROSTER["students"], sheet="Students"),
        contacts=input_table(CONTACT_HEADERS, ROSTER["contacts"], sheet="Contacts"),
        apply=True,
    )
    assert report.counts["error"] == 0
    ids = make_accounts(engine, "mia@example.org", "dad@example.org", "fran@example.org")
    links = [
        ["mia@example.org", "00001", "Mother"],
        ["mia@example.org", "00010", "Mother"],
        ["dad@example.org", "00002", "Father"],
        ["dad@example.org", "00001", "Father"],  # Ann has an activated account too
        ["fran@example.org", "00006", "Mother"],
    ]
    assert import_links(engine, input_table(LINK_HEADERS, links), apply=True).counts["error"] == 0
    for logon in ("mia@example.org", "fran@example.org"):
        with write_transaction(engine) as connection:
            token = issue_token(connection, ids[logon])
        activate(engine, token, PASSWORD)
    disable = input_table(
        [*USER_HEADERS, "STATUS"], [["fran@example.org", "Fran", "Fox", "GUARDIAN", "DISABLED"]]
    )
    assert import_users(engine, disable, apply=True).counts["updated"] == 1


# School, grade: active students, working, not activated, could get one, none.
EXPECTED = {
    ("101", "K"): [2, 1, 1, 0, 0],
    ("101", "1"): [3, 0, 0, 1, 2],
    ("201", "2"): [3, 0, 0, 1, 2],
    ("201", "10"): [1, 1, 0, 0, 0],
}


def test_each_active_student_is_counted_once_in_its_state(engine: Engine) -> None:
    build_district(engine)
    report = coverage(engine)
    found = {(g.school_code, g.grade): [g.students, *g.counts.values()] for g in report.grades}
    assert found == EXPECTED
    assert list(found) == list(EXPECTED)  # K before 1, 2 before 10
    assert list(report.total().values()) == [2, 1, 2, 4]
    uncovered = {u.student.student_id: (u.state, u.action, u.why) for u in report.uncovered}
    assert uncovered["00002"] == (
        "not activated",
        RESEND,
        "Never activated: dad@example.org (portal activation send --logon dad@example.org)",
    )
    assert uncovered["00003"] == (
        "could get one",
        AUTOCREATE,
        "Cara Cole (contact C3, cara@example.org): a new account",
    )
    assert uncovered["00004"] == ("none", ADD_EMAIL, "No contact on the card has an email")
    assert uncovered["00005"][1] == ADD_EMAIL
    assert uncovered["00006"][1].startswith("Make the account fran@example.org ACTIVE again")
    for student in ("00007", "00008"):
        state, action, why = uncovered[student]
        assert (state, action) == ("none", FIX_CARD)
        assert "two households" in why
    assert "00001" not in uncovered and "00009" not in uncovered

    school = coverage(engine, "201")
    assert [(g.school_code, g.grade) for g in school.grades] == [("201", "2"), ("201", "10")]
    assert [u.student.student_id for u in school.uncovered] == ["00006", "00007", "00008"]


def _statements(engine: Engine) -> int:
    count = 0

    def counted(*_: object) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        coverage(engine)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_the_queries_do_not_grow_with_the_students(engine: Engine) -> None:
    build_district(engine)
    few = _statements(engine)
    more = [[f"1{n:04}", "Kid", f"Many{n}", "3", "101", "ACTIVE"] for n in range(300)]
    cards = [
        [f"1{n:04}", f"P{n}", "Pat", f"Many{n}", "Mother", f"p{n}@example.org", "Y", "Y", 1]
        for n in range(300)
    ]
    import_roster(
        engine,
        students=input_table(STUDENTS, more, sheet="Students"),
        contacts=input_table(CONTACT_HEADERS, cards, sheet="Contacts"),
        apply=True,
    )
    assert _statements(engine) == few <= 10
    assert coverage(engine).total()["could get one"] == 302


def test_the_command_prints_the_table_and_writes_the_workbook(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_district(engine)
    dest = tmp_path / "coverage.xlsx"
    result = run_cli(capsys, "--db", database_url, "coverage", "--out", str(dest))
    assert result.code == 0, result.stderr
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    assert ["101", "K", "2", "1", "1", "0", "0"] in rows
    assert ["201", "10", "1", "1", "0", "0", "0"] in rows
    assert ["101", "all", "5", "1", "1", "1", "2"] in rows
    assert ["District", "all", "9", "2", "1", "2", "4"] in rows
    assert f"Workbook: {dest}" in result.stdout.replace("\n", "")

    book = openpyxl.load_workbook(dest)
    assert book.sheetnames == [SUMMARY_SHEET, "School 101", "School 201", UNCOVERED_SHEET]
    rows = list(book[UNCOVERED_SHEET].iter_rows(values_only=True))
    assert rows[0][:7] == (
        "STUDENT_ID", "LAST_NAME", "FIRST_NAME", "School", "Grade", "State", "What to do"
    )  # fmt: skip
    assert [row[:7] for row in rows[1:3]] == [
        ("00002", "Best", "Ben", "101", "K", "Not activated", RESEND),
        ("00003", "Cole", "Cal", "101", "1", "Could get one", AUTOCREATE),
    ]
    assert [row[0] for row in rows[1:]] == [
        "00002",
        "00003",
        "00004",
        "00005",
        "00006",
        "00007",
        "00008",
    ]
    for name in ("School 101", "School 201"):
        assert len(book[name]._charts) == 1  # type: ignore[attr-defined]
    summary = list(book[SUMMARY_SHEET].iter_rows(values_only=True))
    assert ("District", "All schools", "All grades", 9, 2, 1, 2, 4) in [row[:8] for row in summary]

    ods = convert(dest, "ods", tmp_path / "lo")
    district = [
        [cell.text for cell in row[:8]]
        for row in ods_sheet(ods, SUMMARY_SHEET)
        if row and row[0].text == "District"
    ]
    assert district == [["District", "All schools", "All grades", "9", "2", "1", "2", "4"]]
    assert ods_sheet(ods, UNCOVERED_SHEET)[1][0].text == "00002"
    with zipfile.ZipFile(ods) as package:
        charts = [
            n for n in package.namelist() if n.startswith("Object") and n.endswith("content.xml")
        ]
    assert len(charts) == 2


def test_one_school_and_the_mistakes_a_user_makes(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_district(engine)
    result = run_cli(capsys, "--db", database_url, "coverage", "--school", "201")
    assert result.code == 0
    assert "101" not in result.stdout and "District" not in result.stdout
    assert "3 students have no working account" in result.stdout.replace("\n", " ")

    result = run_cli(capsys, "--db", database_url, "coverage", "--school", "999")
    assert result.code == 2
    assert "There is no school with code '999'" in result.stderr
    assert "Traceback" not in result.stderr

    folder = tmp_path / "out"
    folder.mkdir()
    result = run_cli(capsys, "--db", database_url, "coverage", "--out", str(folder / "c.csv"))
    assert (result.code, list(folder.iterdir())) == (2, [])
    assert "must end in .xlsx" in result.stderr
