"""An apply does exactly what the simulation staff reviewed showed, or says why not."""

import re
from pathlib import Path

import pytest
from factories import (
    CONTACT_HEADERS,
    SMALL_DISTRICT,
    STUDENT_HEADERS,
    USER_HEADERS,
    input_table,
)
from helpers import read_log, run_cli, write_workbook
from sqlalchemy import Engine, create_engine, text
from xlwings_double import FakeBook

from addin.excel.entry import run_action
from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.actions import dispatch
from backend.imports.roster import import_roster
from backend.imports.users import import_users

Capsys = pytest.CaptureFixture[str]
ROWS = [["ann@example.org", "Ann", "Lee", "GUARDIAN"], ["bo@example.org", "Bo", "Ng", "GUARDIAN"]]


def accounts(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT logon_id, first_name FROM portal_users"))
        names = {logon: first for logon, first in found}
    engine.dispose()
    return names


def someone_else_adds_ann(url: str) -> None:
    """Between simulation and apply, another office adds one of the file's accounts."""
    engine = create_engine(url)
    table = input_table(USER_HEADERS, [["ann@example.org", "Annie", "Lee", "GUARDIAN"]])
    import_users(engine, table, apply=True)
    engine.dispose()


def test_apply_after_the_database_changed_is_refused_with_the_rows(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    simulated = run_cli(capsys, *db, "import", "users", str(path))
    assert simulated.code == 0
    batch = read_log(tmp_path / "users.simulation.xlsx")[0]["Batch"]
    someone_else_adds_ann(database_url)

    refused = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert refused.code == 2
    assert f"simulation you reviewed (batch {batch})" in refused.stderr
    assert "row 2 ann@example.org: simulated added, now updated (FIRST_NAME: Annie -> Ann)" in (
        refused.stderr
    )
    assert "bo@example.org" not in refused.stderr  # done as simulated: not listed
    assert accounts(database_url) == {"ann@example.org": "Annie"}  # nothing saved
    assert not (tmp_path / "users.applied.xlsx").exists()

    confirmed = run_cli(capsys, *db, "import", "users", str(path), "--apply", "--yes")
    assert confirmed.code == 0
    summary, rows = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Simulation"] == f"batch {batch}: 1 row(s) differ from it, applied as confirmed"
    assert [(r.row, r.action, r.changes) for r in rows] == [
        (2, "updated", "FIRST_NAME: Annie -> Ann"),
        (3, "added", None),
    ]
    assert accounts(database_url) == {"ann@example.org": "Ann", "bo@example.org": "Bo"}


def test_apply_as_simulated_then_again_warns(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    run_cli(capsys, *db, "import", "users", str(path))
    batch = read_log(tmp_path / "users.simulation.xlsx")[0]["Batch"]
    applied = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert applied.code == 0
    summary, _ = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Simulation"] == f"batch {batch}: every row as simulated"
    assert "Warning" not in summary
    first_apply = summary["Batch"]

    again = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert again.code == 0
    assert "Warning: this same file was applied before, on " in again.stdout
    assert "Simulation: none: this apply was not simulated first" in again.stdout
    summary, rows = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Simulation"] == "none: this apply was not simulated first"
    assert summary["Warning"].startswith("this same file was applied before, on ")
    assert f"(batch {first_apply})" in summary["Warning"]
    assert {r.action for r in rows} == {"skipped"}


@pytest.mark.parametrize("digest", [None, "0" * 64])
def test_a_simulation_without_its_digest_is_compared_row_by_row(
    tmp_path: Path, database_url: str, capsys: Capsys, digest: str | None
) -> None:
    """A simulation recorded before digests were kept (or one whose digest does not match)
    is still followed: the apply compares its rows with the simulation's events."""
    db = ["--db", database_url]
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    run_cli(capsys, *db, "import", "users", str(path))
    batch = read_log(tmp_path / "users.simulation.xlsx")[0]["Batch"]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT outcomes_digest FROM batches")).scalar_one()
        connection.execute(text("UPDATE batches SET outcomes_digest = :d"), {"d": digest})
    assert len(kept) == 64
    applied = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert applied.code == 0
    summary, _ = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Simulation"] == f"batch {batch}: every row as simulated"
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT mode, outcomes_digest FROM batches ORDER BY id"))
        expected = [("simulation", digest is None), ("apply", True)]
        assert [(mode, d is None) for mode, d in stored] == expected
    engine.dispose()


def test_apply_with_no_simulation_says_so(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    applied = run_cli(capsys, "--db", database_url, "import", "users", str(path), "--apply")
    assert applied.code == 0
    summary, _ = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Simulation"] == "none: this apply was not simulated first"
    assert set(accounts(database_url)) == {"ann@example.org", "bo@example.org"}


def test_reviewed_names_the_simulation(tmp_path: Path, database_url: str, capsys: Capsys) -> None:
    db = ["--db", database_url]
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    other = write_workbook(tmp_path / "other.xlsx", USER_HEADERS, ROWS[:1])
    run_cli(capsys, *db, "import", "users", str(other))
    batch = read_log(tmp_path / "other.simulation.xlsx")[0]["Batch"]
    refused = run_cli(
        capsys, *db, "import", "users", str(path), "--apply", "--reviewed", str(batch)
    )
    assert refused.code == 2
    assert "row 3 bo@example.org: simulated not in the simulation, now added" in refused.stderr
    assert accounts(database_url) == {}
    unknown = run_cli(capsys, *db, "import", "users", str(path), "--apply", "--reviewed", "999")
    assert unknown.code == 2
    assert "Batch 999 is not a simulation of the users import" in unknown.stderr


def test_ribbon_apply_asks_when_rows_differ(tmp_path: Path, engine: Engine) -> None:
    sheet = [USER_HEADERS, *ROWS]
    book = FakeBook("users.xlsx", {"Users": sheet}, {"PortalTemplate": '="users"'}, ["no", "yes"])
    workbook = ExcelWorkbook(book)
    dispatch("users.simulate", workbook, engine)
    someone_else_adds_ann(str(engine.url))
    assert run_action("users.apply", workbook, engine) is None  # the user said no
    question = book.app.alerts[-2][0]
    assert "row 2 ann@example.org: simulated added, now updated" in question
    assert question.endswith("Apply anyway?")
    assert accounts(str(engine.url)) == {"ann@example.org": "Annie"}
    report = run_action("users.apply", workbook, engine)  # the user said yes
    assert report.counts == {"added": 1, "updated": 1, "removed": 0, "skipped": 0, "error": 0}


def test_flipping_autocreate_simulation_to_n_is_no_change(engine: Engine) -> None:
    options = [["Option", "Value", "Description"], ["SIMULATION", "Y", None]]
    sheets = {"Students": [["STUDENT_ID"]], "Options": options}
    book = FakeBook("ac.xlsx", sheets, {"PortalTemplate": '="autocreate"'}, answers=[])
    workbook = ExcelWorkbook(book)
    dispatch("autocreate.simulate", workbook, engine)
    book.sheets["Options"].cells[(2, 2)] = "N"
    report = run_action("autocreate.apply", workbook, engine)  # no question asked
    assert report is not None and report.mode == "apply"
    assert dict(report.extra)["Simulation"].endswith("every row as simulated")


def test_roster_apply_lists_the_rows_changed_since_its_simulation(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    path = SMALL_DISTRICT.workbook(tmp_path / "roster.xlsx")
    assert run_cli(capsys, *db, "import", "roster", str(path)).code == 0
    engine = create_engine(database_url)
    tables = SMALL_DISTRICT.tables()
    tables["students"] = input_table(
        STUDENT_HEADERS, [["00123", "Ava", "Lee", "4", "101", None]], sheet="Students"
    )
    import_roster(engine, schools=tables["schools"], students=tables["students"], apply=True)
    engine.dispose()
    refused = run_cli(capsys, *db, "import", "roster", str(path), "--apply")
    assert refused.code == 2
    assert "row 2 101: simulated added, now skipped" in refused.stderr
    assert "row 2 00123: simulated added, now updated (GRADE: 4 -> 3)" in refused.stderr
    assert query_one(database_url, "SELECT grade FROM students") == "4"
    applied = run_cli(capsys, *db, "import", "roster", str(path), "--apply", "--yes")
    assert applied.code == 0
    assert query_one(database_url, "SELECT grade FROM students WHERE student_id = '00123'") == "3"


def query_one(url: str, sql: str) -> object:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text(sql)).scalar_one()
    engine.dispose()
    return found


def test_a_row_simulated_as_added_that_would_now_fail_is_refused(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    path = write_workbook(
        tmp_path / "users.xlsx", USER_HEADERS, [["ann@example.org", "Ann", "Lee", "STUDENT"]]
    )
    assert run_cli(capsys, *db, "import", "users", str(path)).code == 0
    someone_else_adds_ann(database_url)  # as a GUARDIAN: a type never changes
    refused = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert refused.code == 2
    assert "row 2 ann@example.org: simulated added, now error" in refused.stderr
    assert not (tmp_path / "users.applied.xlsx").exists()


def test_autocreate_refuses_an_account_nobody_reviewed(engine: Engine) -> None:
    import_roster(engine, **SMALL_DISTRICT.tables(), apply=True)
    options = [["Option", "Value", "Description"], ["SIMULATION", "Y", None]]
    sheets = {"Students": [["STUDENT_ID"]], "Options": options}
    book = FakeBook("ac.xlsx", sheets, {"PortalTemplate": '="autocreate"'}, answers=["no"])
    workbook = ExcelWorkbook(book)
    simulated = dispatch("autocreate.simulate", workbook, engine)
    assert {r.key for r in simulated.results if r.action == "added"} == {
        "00123 / C1",
        "00123 / C2",
        "456 / C1",
    }
    new_contact = input_table(
        CONTACT_HEADERS,
        [["00123", "C9", "Lea", "Ng", "Aunt", "lea@example.org", "Y", "Y", 4]],
        sheet="Contacts",
    )
    import_roster(engine, contacts=new_contact, apply=True)
    book.sheets["Options"].cells[(2, 2)] = "N"
    assert run_action("autocreate.apply", workbook, engine) is None  # the user said no
    question = book.app.alerts[-2][0]
    assert "00123 / C9: simulated not in the simulation, now added" in question
    assert accounts(str(engine.url)) == {}


def test_a_long_apply_is_compared_a_bucket_at_a_time(
    tmp_path: Path, database_url: str, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state's apply is compared with its simulation a bucket at a time, through temporary
    files; the refusal still names the first differing rows, in run order, and counts all."""
    monkeypatch.setattr("backend.imports.reviewed.DIFFERENCES_BUCKET", 4)
    monkeypatch.setattr("backend.imports.reviewed.LISTED", 3)
    monkeypatch.setattr("backend.imports.reviewed.CHUNK", 2)  # rows written to the files
    db = ["--db", database_url]
    rows = [[f"p{n}@example.org", f"P{n}", "Lee", "GUARDIAN"] for n in range(30)]
    path = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, rows)
    assert run_cli(capsys, *db, "import", "users", str(path)).code == 0
    engine = create_engine(database_url)
    others = [[f"p{n}@example.org", "X", "Lee", "GUARDIAN"] for n in range(25)]
    import_users(engine, input_table(USER_HEADERS, others), apply=True)
    engine.dispose()

    refused = run_cli(capsys, *db, "import", "users", str(path), "--apply")
    assert refused.code == 2
    said = " ".join(refused.stderr.split())
    assert "Nothing was saved: 25 row(s) would now be done differently" in said
    listed = re.findall(r"row (\d+) p\d+@example.org: simulated added, now updated", said)
    assert listed == ["2", "3", "4"]
    assert "and 22 more" in said
    assert len(accounts(database_url)) == 25  # nothing of the file saved
