"""Readers hand the import values and column names; the import assumes no spreadsheet."""

from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    SCHOOL_HEADERS,
    STUDENT_HEADERS,
    USER_HEADERS,
)
from helpers import LogRow, read_log, run_cli, write_workbook
from sqlalchemy import create_engine, text

from addin.workbooks.interface import table_from_grid
from backend.errors import HeaderError
from backend.imports.contract import InputTable, match_headers
from backend.imports.users import USER_COLUMNS


class Grid:
    """The least of a Workbook that ``table_from_grid`` reads."""

    name = "book.xlsx"

    def __init__(self, cells: list[list[Any]]) -> None:
        self.cells = cells

    def grid(self, sheet: str) -> list[list[Any]]:
        return self.cells

    def sha256(self) -> str | None:
        return None


def test_the_sheet_reader_gives_whole_numbers_as_int_and_letters() -> None:
    grid = Grid([["STUDENT_ID", "GRADE", "SCORE"], [123.0, 7.0, 12.5], ["00123", True, None]])
    table = table_from_grid(grid, "Students")  # type: ignore[arg-type]
    assert [cells for _, cells in table.rows] == [[123, 7, 12.5], ["00123", True, None]]
    assert type(table.rows[0][1][0]) is int
    assert table.labels == ["A", "B", "C"]


def header_problems(table: InputTable) -> str:
    with pytest.raises(HeaderError) as caught:
        match_headers(table, USER_COLUMNS)
    return str(caught.value)


def test_columns_are_numbered_unless_the_reader_names_them() -> None:
    headers = ["LOGONID", "FIRST_NAME", "FIRST_NAME", "LAST_NAEM", None]
    rows = [(2, ["a@example.org", "A", "B", "C", "stray"])]
    numbered = header_problems(InputTable(headers, rows))
    assert "FIRST_NAME appears twice (columns 2 and 3)" in numbered
    assert "unknown column 'LAST_NAEM' (column 4): did you mean LAST_NAME?" in numbered
    assert "column 5 has values but no header" in numbered
    lettered = header_problems(InputTable(headers, rows, labels=list("ABCDE")))
    assert "FIRST_NAME appears twice (columns B and C)" in lettered
    assert "unknown column 'LAST_NAEM' (cell D1)" in lettered
    assert "column E has values but no header" in lettered


# Cells as district files hold them: typed as numbers, dates, times and text, through each import
# and the database on both kinds.

Capsys = pytest.CaptureFixture[str]
LONG_NUMBER = 12345678901234567890
TOO_MANY_DIGITS = "has more digits than Excel keeps in a number (15)"


def typed_workbook(path: Path, sheets: dict[str, tuple[list[str], list[list[Any]]]]) -> Path:
    """Cells typed as Excel types them: text, numbers, dates and times (each with its format)."""
    with xlsxwriter.Workbook(path) as workbook:
        formats = {
            datetime: workbook.add_format({"num_format": "yyyy-mm-dd"}),
            time: workbook.add_format({"num_format": "hh:mm"}),
        }
        for name, (headers, rows) in sheets.items():
            sheet = workbook.add_worksheet(name)
            sheet.write_row(0, 0, headers)
            for number, row in enumerate(rows, start=1):
                for column, value in enumerate(row):
                    if isinstance(value, str):
                        sheet.write_string(number, column, value)
                    elif isinstance(value, datetime | time):
                        sheet.write_datetime(number, column, value, formats[type(value)])
                    elif value is not None:
                        sheet.write_number(number, column, value)
    return path


def stored(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def outcome(rows: list[LogRow]) -> list[tuple[str | None, int | None, str]]:
    return [(r.sheet, r.row, r.action) for r in rows]


def reason_of(rows: list[LogRow], sheet: str | None, row: int) -> str:
    return next(r.reason or "" for r in rows if (r.sheet, r.row) == (sheet, row))


def test_ids_typed_as_numbers_dates_and_text_through_the_roster(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    nine = datetime(2024, 1, 9)
    source = typed_workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (
                ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "SCHOOL"],
                [
                    [LONG_NUMBER, "Ava", "Lee", "101"],
                    [9007199254740993, "Bo", "Lee", "101"],
                    [123456789012345, "Cy", "Lee", "101"],  # 15 digits: Excel keeps them
                    [nine, "Di", "Lee", "101"],
                    [time(8, 30), "Ed", "Lee", "101"],
                    [str(LONG_NUMBER), "Flo", "Lee", "101"],  # text keeps every digit
                    [12.5, "Gus", "Lee", "101"],
                    ["4\u202e21", "Hal", "Lee", "101"],
                    ["777", "Ann\x1b[2J\x1b]0;owned\x07", "Lee\x00", "101"],
                ],
            ),
            "Contacts": (
                CONTACT_HEADERS[:4],
                [
                    ["123456789012345", 98765432109876543210, "Mia", "Lee"],
                    ["123456789012345", 4711, "Tom", "Lee"],
                    ["123456789012345", nine, "Ada", "Lee"],
                    ["777", "C\u200b9", "Zoe", "Lee"],
                ],
            ),
        },
    )
    result = run_cli(capsys, "--db", database_url, "import", "roster", str(source), "--apply")
    assert result.code == 1
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    students = [("Students", n, a) for n, a in enumerate("eeaeeaeea", start=2)]
    contacts = [("Contacts", n, a) for n, a in enumerate("eaee", start=2)]
    actions = {"a": "added", "e": "error"}
    every = [("Schools", 2, "a"), *students, *contacts]
    assert outcome(rows) == [  # rows that need attention come first
        *((s, n, actions[a]) for s, n, a in every if a == "e"),
        *((s, n, actions[a]) for s, n, a in every if a == "a"),
    ]
    assert f"the number 12345678901234570000 {TOO_MANY_DIGITS}" in reason_of(rows, "Students", 2)
    assert f"the number 9007199254740992 {TOO_MANY_DIGITS}" in reason_of(rows, "Students", 3)
    assert "format the column as Text and type it again" in reason_of(rows, "Students", 3)
    assert not any("blank" in (r.reason or "") for r in rows)  # refused, not blank
    assert "Excel holds a date here (2024-01-09" in reason_of(rows, "Students", 5)
    assert "Excel holds a time here (08:30" in reason_of(rows, "Students", 6)
    assert "12.5 is not a whole number" in reason_of(rows, "Students", 8)
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in reason_of(rows, "Students", 9)
    assert reason_of(rows, "Students", 10) == (
        "New student (FIRST_NAME: removed 3 invisible characters (U+001B ESCAPE, U+0007 BELL); "
        "LAST_NAME: removed 1 invisible character (U+0000 NUL))"
    )
    assert f"CONTACT_ID: the number 98765432109876540000 {TOO_MANY_DIGITS}" in reason_of(
        rows, "Contacts", 2
    )
    assert "CONTACT_ID: Excel holds a date here" in reason_of(rows, "Contacts", 4)
    assert "CONTACT_ID: holds an invisible character (U+200B ZERO WIDTH SPACE)" in reason_of(
        rows, "Contacts", 5
    )
    assert sorted(
        stored(database_url, "SELECT student_id, first_name, last_name FROM students")
    ) == [
        ("123456789012345", "Cy", "Lee"),
        (str(LONG_NUMBER), "Flo", "Lee"),
        ("777", "Ann[2J]0;owned", "Lee"),
    ]
    assert stored(database_url, "SELECT contact_id FROM contacts") == [("4711",)]


def test_numeric_logons_and_student_ids_through_users_and_links(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    users = typed_workbook(
        tmp_path / "users.xlsx",
        {
            "Users": (
                USER_HEADERS,
                [
                    [20240001, "Sam", "Roe", "STUDENT"],
                    [LONG_NUMBER, "Tia", "Roe", "STUDENT"],
                    [datetime(2024, 3, 1), "Uma", "Roe", "STUDENT"],
                    ["ab\u200bc@school.org", "Val", "Roe", "GUARDIAN"],
                    ["kay@school.org", "Kay\x1b]0;owned\x07", "Roe\u202e", "GUARDIAN"],
                ],
            )
        },
    )
    result = run_cli(capsys, *db, "import", "users", str(users), "--apply")
    assert result.code == 1 and "\x1b" not in result.stdout
    _, rows = read_log(tmp_path / "users.applied.xlsx")
    assert outcome(rows) == [
        (None, 3, "error"),  # rows that need attention come first
        (None, 4, "error"),
        (None, 5, "error"),
        (None, 2, "added"),
        (None, 6, "added"),
    ]
    rows = sorted(rows, key=lambda r: r.row or 0)
    assert rows[0].key == "20240001"
    assert f"LOGONID: the number 12345678901234570000 {TOO_MANY_DIGITS}" in (rows[1].reason or "")
    assert "LOGONID: Excel holds a date here (2024-03-01" in (rows[2].reason or "")
    assert "blank" not in (rows[1].reason or "") + (rows[2].reason or "")
    assert "U+200B ZERO WIDTH SPACE" in (rows[3].reason or "")
    assert "FIRST_NAME: removed 2 invisible characters (U+001B ESCAPE, U+0007 BELL)" in (
        rows[4].reason or ""
    )
    assert "LAST_NAME: removed 1 invisible character (U+202E RIGHT-TO-LEFT OVERRIDE)" in (
        rows[4].reason or ""
    )
    shown = run_cli(capsys, *db, "user", "show", "kay@school.org")
    assert "Name: Kay]0;owned Roe" in shown.stdout and "\x1b" not in shown.stdout

    roster = typed_workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (STUDENT_HEADERS[:5], [["123456", "Sam", "Roe", "9", "101"]]),
        },
    )
    assert run_cli(capsys, *db, "import", "roster", str(roster), "--apply").code == 0
    links = typed_workbook(
        tmp_path / "links.xlsx",
        {
            "Links": (
                LINK_HEADERS,
                [
                    [20240001, 123456, "Self"],
                    [20240001, LONG_NUMBER, "Self"],
                    [20240001, datetime(2012, 3, 4), "Self"],
                    [datetime(2024, 3, 1), 123456, "Self"],
                ],
            )
        },
    )
    result = run_cli(capsys, *db, "import", "links", str(links), "--apply")
    assert result.code == 1
    _, rows = read_log(tmp_path / "links.applied.xlsx")
    assert outcome(rows) == [*((None, n, "error") for n in (3, 4, 5)), (None, 2, "added")]
    rows = sorted(rows, key=lambda r: r.row or 0)
    assert rows[0].key == "20240001 / 123456"
    assert f"STUDENT_ID: the number 12345678901234570000 {TOO_MANY_DIGITS}" in (
        rows[1].reason or ""
    )
    assert "STUDENT_ID: Excel holds a date here (2012-03-04" in (rows[2].reason or "")
    assert "LOGONID: Excel holds a date here (2024-03-01" in (rows[3].reason or "")
    assert not any("blank" in (r.reason or "") for r in rows)
    assert stored(database_url, "SELECT count(*) FROM student_links") == [(1,)]


def test_look_alike_logons_never_reach_another_account(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    first = write_workbook(
        tmp_path / "first.xlsx",
        USER_HEADERS,
        [
            ["kim@school.org", "Kim", "Ray", "GUARDIAN"],
            ["strauss@school.org", "Jo", "Strauss", "GUARDIAN"],
        ],
    )
    assert run_cli(capsys, *db, "import", "users", str(first), "--apply").code == 0
    second = write_workbook(
        tmp_path / "second.xlsx",
        USER_HEADERS,
        [
            ["\u212aim@school.org", "Evil", "Ray", "GUARDIAN"],
            ["strauß@school.org", "Evil", "Strauss", "GUARDIAN"],
            ["\uff4b\uff49\uff4d@school.org", "Evil", "Ray", "GUARDIAN"],
            ["кim@school.org", "Evil", "Ray", "GUARDIAN"],
            ["KIM@School.org", "Kimberly", "Ray", "GUARDIAN"],
            ["иван@пример.рф", "Ivan", "Petrov", "GUARDIAN"],
        ],
    )
    result = run_cli(capsys, *db, "import", "users", str(second), "--apply")
    assert result.code == 1
    _, rows = read_log(tmp_path / "second.applied.xlsx")
    assert [r.action for r in rows] == ["error", "error", "error", "error", "updated", "added"]
    assert "holds \u212a (U+212A KELVIN SIGN), a look-alike of 'K'" in (rows[0].reason or "")
    assert (
        "'strauß@school.org' is not the account logon 'strauss@school.org', though the two "
        "compare alike" in (rows[1].reason or "")
    )
    assert "U+FF4B FULLWIDTH LATIN SMALL LETTER K" in (rows[2].reason or "")
    assert "mixes Latin and Cyrillic letters: к (U+043A CYRILLIC SMALL LETTER KA)" in (
        rows[3].reason or ""
    )
    assert rows[4].changes == "FIRST_NAME: Kim -> Kimberly"
    assert sorted(stored(database_url, "SELECT logon_id, first_name FROM portal_users")) == [
        ("kim@school.org", "Kimberly"),
        ("strauss@school.org", "Jo"),
        ("иван@пример.рф", "Ivan"),
    ]

    roster = typed_workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (STUDENT_HEADERS[:5], [["00123", "Lu", "Strauss", "2", "101"]]),
        },
    )
    assert run_cli(capsys, *db, "import", "roster", str(roster), "--apply").code == 0
    links = write_workbook(
        tmp_path / "links.xlsx",
        LINK_HEADERS,
        [["strauß@school.org", "00123", "Father"], ["STRAUSS@school.org", "00123", "Father"]],
        sheet="Links",
    )
    result = run_cli(capsys, *db, "import", "links", str(links), "--apply")
    _, rows = read_log(tmp_path / "links.applied.xlsx")
    assert [r.action for r in rows] == ["error", "added"]
    assert "is not the account's logon 'strauss@school.org'" in (rows[0].reason or "")


def test_one_account_typed_on_the_terminal_obeys_the_same_rules(
    tmp_path: Path, capsys: Capsys
) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'portal.sqlite'}"]
    new = ["user", "new", "jo@example.org", "--type", "GUARDIAN", "--last", "Lee\x1b[2J"]
    made = run_cli(capsys, *db, *new, "--first", "Jo\x07")
    assert made.code == 0 and "\x1b" not in made.stdout and "\x07" not in made.stdout
    assert "(FIRST_NAME: removed 1 invisible character (U+0007 BELL); LAST_NAME: removed" in (
        made.stdout
    )
    look_alike = ["user", "new", "\u212aim@example.org", "--type", "GUARDIAN", "--last", "L"]
    refused = run_cli(capsys, *db, *look_alike, "--first", "F")
    assert refused.code == 1 and "U+212A KELVIN SIGN" in refused.stdout
    shown = run_cli(capsys, *db, "user", "show", "jo@example.org")
    assert "Name: Jo Lee[2J" in shown.stdout


def test_autocreate_attaches_no_student_to_a_look_alike_account(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    users = write_workbook(
        tmp_path / "users.xlsx", USER_HEADERS, [["strauss@school.org", "Jo", "Strauss", "GUARDIAN"]]
    )
    assert run_cli(capsys, *db, "import", "users", str(users), "--apply").code == 0
    roster = typed_workbook(
        tmp_path / "roster.xlsx",
        {
            "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"]]),
            "Students": (STUDENT_HEADERS[:5], [["00123", "Lu", "Strauß", "2", "101"]]),
            "Contacts": (
                CONTACT_HEADERS[:6],
                [["00123", "C1", "Eva", "Strauß", "Mother", "Strauß@school.org"]],
            ),
        },
    )
    assert run_cli(capsys, *db, "import", "roster", str(roster), "--apply").code == 0
    log = tmp_path / "autocreate.xlsx"
    result = run_cli(capsys, *db, "autocreate", "--apply", "--out", str(log))
    assert result.code == 0, result
    _, rows = read_log(log)
    assert [(r.action, r.reason) for r in rows] == [
        (
            "skipped",
            "The email Strauß@school.org is not the logon strauss@school.org, though they "
            "compare alike",
        )
    ]
    assert stored(database_url, "SELECT count(*) FROM student_links") == [(0,)]
