"""Columns staff keep for themselves are left out and named; a misspelt header stays an error."""

from pathlib import Path

import pytest
from factories import CONTACT_HEADERS, SMALL_DISTRICT, USER_HEADERS, workbook
from helpers import read_log, run_cli, write_workbook
from sqlalchemy import create_engine, text

Capsys = pytest.CaptureFixture[str]


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(found)


def test_unknown_columns_are_ignored_and_named(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    path = write_workbook(
        tmp_path / "users.xlsx",
        [*USER_HEADERS, "NOTES", "Phone 2"],
        [["ann@example.org", "Ann", "Lee", "GUARDIAN", "called in May", "555-0100"]],
    )
    applied = run_cli(capsys, "--db", database_url, "import", "users", str(path), "--apply")
    assert applied.code == 0
    summary, rows = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Columns ignored"] == "NOTES, Phone 2"
    assert [(r.key, r.action) for r in rows] == [("ann@example.org", "added")]
    assert count(database_url, "portal_users") == 1


def test_roster_names_each_sheet_s_ignored_columns(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    sheets = SMALL_DISTRICT.sheets()
    headers, rows = sheets["Contacts"]
    sheets["Contacts"] = ([*headers, "NOTES"], [[*row, "x"] for row in rows])
    path = workbook(tmp_path / "roster.xlsx", sheets)
    applied = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert applied.code == 0
    summary, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert summary["Columns ignored"] == "NOTES (Contacts)"
    assert {r.action for r in rows} == {"added"}
    assert count(database_url, "student_contacts") == 4


@pytest.mark.parametrize(
    ("header", "meant"),
    [("FRIST_NAME", "FIRST_NAME"), ("E-mail Adress", "EMAIL"), ("Emial", "EMAIL")],
)
def test_a_misspelt_header_names_the_column_it_probably_means(
    tmp_path: Path, database_url: str, capsys: Capsys, header: str, meant: str
) -> None:
    headers = [header if h == meant else h for h in CONTACT_HEADERS]
    sheets = SMALL_DISTRICT.sheets()
    sheets["Contacts"] = (headers, sheets["Contacts"][1])
    path = workbook(tmp_path / "roster.xlsx", sheets)
    refused = run_cli(capsys, "--db", database_url, "import", "roster", str(path), "--apply")
    assert refused.code == 2
    column = CONTACT_HEADERS.index(meant)
    where = f"cell {chr(65 + column)}1"
    assert f"unknown column '{header}' ({where}): did you mean {meant}?" in refused.stderr
    assert count(database_url, "students") == 0 and count(database_url, "batches") == 0


def test_check_names_the_columns_left_out(tmp_path: Path, capsys: Capsys) -> None:
    path = write_workbook(
        tmp_path / "users.xlsx",
        [*USER_HEADERS, "NOTES"],
        [["ann@example.org", "Ann", "Lee", "GUARDIAN", "called in May"]],
    )
    checked = run_cli(capsys, "run", "users.check", str(path))
    assert checked.code == 0
    assert "Columns ignored (no import uses them): NOTES." in checked.stdout
