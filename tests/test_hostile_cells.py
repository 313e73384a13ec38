"""Hostile cells get the same Import Log on SQLite and PostgreSQL, in simulation and in apply.

Every value a column would store is checked against the model's own column definition by the
planner, so the database never refuses a row the simulation accepted.
"""

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from factories import CONTACT_HEADERS, LINK_HEADERS, SCHOOL_HEADERS, STUDENT_HEADERS
from helpers import emptied, run_cli
from python_calamine import CalamineWorkbook
from sqlalchemy import String, create_engine, text
from sqlalchemy.orm import InstrumentedAttribute

from addin.workbooks.result_sheet import LOG_SHEET_NAME
from backend.database.models import (
    Base,
    Contact,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.imports.batches import KEY_CHARS, REASON_CHARS
from backend.imports.contract import Column, InputTable, parse_rows
from backend.imports.links import LINK_COLUMNS
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.imports.users import USER_COLUMNS

Capsys = pytest.CaptureFixture[str]
Sheets = dict[str, tuple[list[str], list[list[Any]]]]

LONG_CELL = "y" * 40_000  # past Excel's 32,767: only a hand-made file holds it
DOMAIN_LABEL = "b" * 60 + "."
USERS = (
    ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "PHONE", "LANGUAGE"],
    [
        ["ok@school.org", "Ann", "Lee", "GUARDIAN", None, None, None],
        ["nul@school.org", "Bo\x00b", "Lee", "GUARDIAN", None, None, None],
        [
            "a" * 64 + "@" + DOMAIN_LABEL * 4 + "c" * 8 + ".org",
            "Cy",
            "Lee",
            "GUARDIAN",
            None,
            None,
            None,
        ],
        ["{long}", "Di", "Lee", "GUARDIAN", None, None, None],
        ["c" * 235 + "@school.org", "Ed", "Lee", "GUARDIAN", None, None, None],
        ["d" * 60 + "@" + DOMAIN_LABEL * 3 + "c" * 7 + ".org", "Flo", "Lee", "GUARDIAN"],
        ["long.name@school.org", "G" * 101, "Lee", "GUARDIAN", None, None, None],
        ["lang@school.org", "Hal", "Lee", "GUARDIAN", None, "555-201-3344" * 4, "L" * 41],
        ["esc@school.org", "Es\x1bc", "Lee", "GUARDIAN", None, None, None],
        ["bidi@school.org", "\u202eIvy", "Lee\u200b", "GUARDIAN", "e" * 65 + "@school.org"],
        ["student\x00@school.org", "Jo", "Lee", "STUDENT", None, None, None],
    ],
)
ROSTER: Sheets = {
    "Schools": (SCHOOL_HEADERS, [["101", "Lincoln"], ["S" * 65, "Too long a code"]]),
    "Students": (
        STUDENT_HEADERS,
        [
            ["00123", "Ava", "Lee\x00", "3", "101", None],
            ["9" * 65, "Bo", "Lee", "3", "101", None],
            ["00124", "Cy", "Lee", "G" * 17, "101", None],
            ["00125", "Ra\x1bw", "Lee", "4", "101", "x" * 65 + "@school.org"],
        ],
    ),
    "Contacts": (
        CONTACT_HEADERS,
        [
            ["00123", "C1", "Mia", "Lee", "M" * 51, "mia@school.org", "Y", "Y", 1],
            ["00123", "C\x002", "Tom", "Lee", "Father", None, "Y", "Y", 2],
            ["00123", "C3", "Ada\x1b[2J", "Lee", "Aunt", None, "Y", "Y", 3],
        ],
    ),
}
LINKS = (
    LINK_HEADERS,
    [
        ["ok@school.org", "00123", "Mother"],
        ["ok@school.org", "00125", "R" * 51],
        ["nul@school.org\x00", "00123", "Mother"],
        ["nul@school.org", "00123", "Mo\x1bther"],
        ["d" * 60 + "@" + DOMAIN_LABEL * 3 + "c" * 6 + ".org", "7" * 64, "Father"],
    ],
)


def hostile_workbook(path: Path, sheets: Sheets) -> Path:
    """Write the sheets, then put in the cell no writer makes: a text longer than Excel allows.
    (A raw NUL byte in the XML makes the file damaged: the hostile-input suite refuses it.)"""
    plain = path.with_suffix(".plain.xlsx")
    marks = {"{long}": "PLACEHOLDERLONG"}
    with xlsxwriter.Workbook(plain) as workbook:
        for name, (headers, rows) in sheets.items():
            sheet = workbook.add_worksheet(name)
            sheet.write_row(0, 0, headers)
            for number, row in enumerate(rows, start=1):
                for column, value in enumerate(row):
                    if isinstance(value, str):
                        sheet.write_string(number, column, marks.get(value, value))
                    elif value is not None:
                        sheet.write_number(number, column, value)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                data = data.replace(b"PLACEHOLDERLONG", LONG_CELL.encode())
            out.writestr(item, data)
    plain.unlink()
    return path


def log_rows(path: Path) -> list[tuple[Any, ...]]:
    """The log's rows as (sheet, row, key, action, changes, reason), read with calamine: the
    result keeps the input's own sheets, whose over-long cell stops stricter readers."""
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(LOG_SHEET_NAME).to_python()
    header = next(i for i, row in enumerate(grid) if row and row[0] in ("Row", "Sheet"))
    rows = [[v if v != "" else None for v in row] for row in grid[header + 1 :] if any(row)]
    if grid[header][0] == "Sheet":
        return [(r[0], int(r[1]), *r[2:6]) for r in rows]
    return [(None, int(r[0]), *r[1:5]) for r in rows]


def run_all(url: str, folder: Path, capsys: Capsys) -> dict[str, list[tuple[Any, ...]]]:
    """Each import simulated, then applied; every log's rows, keyed by the run."""
    folder.mkdir()
    books = {
        "users": hostile_workbook(folder / "users.xlsx", {"Users": USERS}),
        "roster": hostile_workbook(folder / "roster.xlsx", ROSTER),
        "links": hostile_workbook(folder / "links.xlsx", {"Links": LINKS}),
    }
    logs: dict[str, list[tuple[Any, ...]]] = {}
    for kind, book in books.items():
        for mode, flags in (("simulation", []), ("applied", ["--apply"])):
            result = run_cli(capsys, "--db", url, "import", kind, str(book), *flags)
            assert result.code == 1, result
            assert "Traceback" not in result.stdout + result.stderr
            assert "\x00" not in result.stdout and "\x1b" not in result.stdout
            logs[f"{kind} {mode}"] = log_rows(book.with_name(f"{kind}.{mode}.xlsx"))
    return logs


def stored_text(url: str) -> list[str]:
    """Every text the database holds in names, IDs and logons."""
    engine = create_engine(url)
    queries = (
        "SELECT logon_id || first_name || last_name FROM portal_users",
        "SELECT student_id || first_name || last_name FROM students",
        "SELECT contact_id || first_name || last_name FROM contacts",
        "SELECT coalesce(relationship, '') FROM student_links",
    )
    with engine.connect() as connection:
        found = [row[0] for query in queries for row in connection.execute(text(query))]
    engine.dispose()
    return found


def test_hostile_rows_get_the_same_log_on_both_databases(
    tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest, capsys: Capsys
) -> None:
    shutil.copy(sqlite_template, tmp_path / "portal.sqlite")
    sqlite_url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    postgresql_url = emptied(request.getfixturevalue("pg_url"))
    on_sqlite = run_all(sqlite_url, tmp_path / "sqlite", capsys)
    on_postgresql = run_all(postgresql_url, tmp_path / "postgresql", capsys)
    for run, rows in on_sqlite.items():
        assert rows == on_postgresql[run], run
    for kind in ("users", "roster", "links"):
        simulated, applied = on_sqlite[f"{kind} simulation"], on_sqlite[f"{kind} applied"]
        assert [r[:4] for r in simulated] == [r[:4] for r in applied], kind

    users = {row[1]: row for row in on_sqlite["users applied"]}
    assert [users[n][3] for n in range(2, 13)] == [
        "added",  # a plain row
        "added",  # a NUL in a name: removed, with a note
        "error",  # a 321-character logon
        "error",  # a 40,000-character cell
        "error",  # a local part of 235 characters
        "error",  # an address of 255 characters
        "error",  # a first name one past its column
        "error",  # a phone and a language past theirs
        "added",  # an ESC in a name: removed, with a note
        "error",  # an EMAIL with a 65-character local part
        "error",  # a NUL in a logon
    ]
    assert "FIRST_NAME: removed 1 invisible character (U+0000 NUL)" in users[3][5]
    assert "FIRST_NAME: removed 1 invisible character (U+001B ESCAPE)" in users[10][5]
    assert "The email address is too long (1 character too many)" in users[7][5]
    assert "the part before the @ has 235 characters; at most 64 are allowed" in users[6][5]
    assert "LOGONID: holds 40,000 characters, more than an Excel cell can (32,767)" in users[5][5]
    assert "LOGONID: is 321 characters long; at most 320 fit" in users[4][5]
    assert "FIRST_NAME: is 101 characters long; at most 100 fit" in users[8][5]
    assert "LANGUAGE: is 41 characters long; at most 40 fit" in users[9][5]
    assert "EMAIL: " in users[11][5] and "at most 64 are allowed" in users[11][5]
    assert "LOGONID: holds an invisible character (U+0000 NUL)" in users[12][5]
    assert all(len(row[5] or "") <= REASON_CHARS for rows in on_sqlite.values() for row in rows)

    roster = {(row[0], row[1]): row for row in on_sqlite["roster applied"]}
    assert roster[("Schools", 3)][3] == "error"
    assert "SCHOOL_CODE: is 65 characters long; at most 64 fit" in roster[("Schools", 3)][5]
    assert "STUDENT_ID: is 65 characters long; at most 64 fit" in roster[("Students", 3)][5]
    assert "GRADE: is 17 characters long; at most 16 fit" in roster[("Students", 4)][5]
    assert [roster[("Students", n)][3] for n in range(2, 6)] == ["added", "error", "error", "error"]
    assert "STUDENT_EMAIL: " in roster[("Students", 5)][5]
    assert "at most 64 are allowed" in roster[("Students", 5)][5]
    assert "RELATIONSHIP: is 51 characters long; at most 50 fit" in roster[("Contacts", 2)][5]
    assert "CONTACT_ID: holds an invisible character (U+0000 NUL)" in roster[("Contacts", 3)][5]
    assert "FIRST_NAME: removed 1 invisible character (U+001B ESCAPE)" in roster[("Contacts", 4)][5]

    links = on_sqlite["links applied"]
    assert [row[3] for row in links] == ["error"] * 3 + ["added"] * 2  # errors first
    links.sort(key=lambda row: row[1])  # in run order
    assert [row[3] for row in links] == ["added", "error", "error", "added", "error"]
    assert "RELATIONSHIP: is 51 characters long; at most 50 fit" in links[1][5]
    assert "LOGONID: holds an invisible character (U+0000 NUL)" in links[2][5]
    assert "RELATIONSHIP: removed 1 invisible character (U+001B ESCAPE)" in links[3][5]
    assert len(links[4][2]) == KEY_CHARS and links[4][2].endswith("…")  # 321 cut to 320

    for url in (sqlite_url, postgresql_url):
        assert all("\x00" not in t and "\x1b" not in t for t in stored_text(url)), url


TABLES: list[tuple[tuple[Column, ...], tuple[type[Base], ...]]] = [
    (USER_COLUMNS, (PortalUser,)),
    (LINK_COLUMNS, (StudentLink,)),
    (SCHOOL_COLUMNS, (School,)),
    (STUDENT_COLUMNS, (Student,)),
    (CONTACT_COLUMNS, (Contact, StudentContact)),
]


@pytest.mark.parametrize(("columns", "models"), TABLES)
def test_every_text_a_column_saves_is_bounded_by_its_model(
    columns: tuple[Column, ...], models: tuple[type[Base], ...]
) -> None:
    for column in columns:
        saved = [
            getattr(m, column.field)
            for m in models
            if isinstance(getattr(m, column.field, None), InstrumentedAttribute)
            and isinstance(getattr(m, column.field).type, String)
        ]
        if not saved or column.choices:
            continue  # not saved as text, or one of a few values
        assert set(saved) <= set(column.stores), column.name
        limit = column.max_length
        assert limit == min(c.type.length for c in column.stores), column.name
        if column.holds == "text":  # free text: exactly the limit fits, one more does not
            table = InputTable([column.name], [(2, ["x" * limit]), (3, ["x" * (limit + 1)])])
            [(_, fits, none), (_, _, refused)] = parse_rows(table, [(0, column)])
            assert fits == {column.field: "x" * limit} and none == []
            assert refused == [
                f"{column.name}: is {limit + 1} characters long; at most {limit} fit"
            ]
