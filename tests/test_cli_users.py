"""`portal import users` and `portal batches` as a user runs them: output, exit codes, workbooks."""

from collections.abc import Callable
from pathlib import Path

import bad_workbooks
import openpyxl
import pytest
from helpers import USER_HEADERS, read_log, run_cli, write_workbook
from libreoffice import convert, ods_sheet
from sqlalchemy import create_engine, text

Capsys = pytest.CaptureFixture[str]

ROWS = [
    ["ann.lee@example.org", "Ann", "Lee", "GUARDIAN"],
    ["=1+2@school.org", "Formula", "Person", "GUARDIAN"],
    ["bad@@example.org", "Bad", "Row", "GUARDIAN"],
    ["ANN.LEE@example.org", "Ann", "Again", "GUARDIAN"],
]


def db_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(text(sql))]
    engine.dispose()
    return rows


def test_simulate_then_apply_writes_logs_next_to_the_input(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    original = source.read_bytes()

    simulated = run_cli(capsys, "--db", database_url, "import", "users", str(source))
    assert simulated.code == 1  # one row is in error
    assert "SIMULATION" in simulated.stdout and "nothing was saved" in simulated.stdout
    assert "2 added" in simulated.stdout and "1 errors" in simulated.stdout
    assert "row 4" in simulated.stdout and "--apply" in simulated.stdout
    assert db_rows(database_url, "SELECT logon_id FROM portal_users") == []
    simulation_log = tmp_path / "users.simulation.xlsx"
    summary, rows = read_log(simulation_log)
    assert summary["Mode"].startswith("SIMULATION")
    assert [(r.row, r.key, r.action) for r in rows] == [
        (4, "bad@@example.org", "error"),  # rows that need attention come first
        (2, "ann.lee@example.org", "added"),
        (3, "=1+2@school.org", "added"),
        (5, "ANN.LEE@example.org", "skipped"),
    ]

    applied = run_cli(capsys, "--db", database_url, "import", "users", str(source), "--apply")
    assert applied.code == 1 and "APPLIED" in applied.stdout
    summary_applied, rows_applied = read_log(tmp_path / "users.applied.xlsx")
    assert summary_applied["Mode"].startswith("APPLIED")
    assert [(r.row, r.key, r.action, r.reason) for r in rows_applied] == [
        (r.row, r.key, r.action, r.reason) for r in rows
    ]
    assert summary_applied["Added"] == 2 and summary_applied["Errors"] == 1
    assert sorted(db_rows(database_url, "SELECT logon_key FROM portal_users")) == [
        ("=1+2@school.org",),
        ("ann.lee@example.org",),
    ]
    assert source.read_bytes() == original  # the input is never written

    # The formula-looking logon is text in the log, not a formula, and stays text on edit.
    cell = openpyxl.load_workbook(tmp_path / "users.applied.xlsx")["Import Log"]
    formula_cell = next(c for row in cell.iter_rows() for c in row if c.value == "=1+2@school.org")
    assert formula_cell.data_type == "s"
    assert formula_cell.quotePrefix


def test_libreoffice_opens_the_result_and_sees_the_log(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    assert run_cli(capsys, "--db", database_url, "import", "users", str(source)).code == 1
    ods = convert(tmp_path / "users.simulation.xlsx", "ods", tmp_path / "lo")
    cells = ods_sheet(ods, "Import Log")
    texts = [[c.text for c in row] for row in cells]
    assert ["Row", "LOGONID", "Action", "Changes (old -> new)", "Reason"] in texts
    formula_row = next(row for row in cells if len(row) > 1 and row[1].text == "=1+2@school.org")
    assert formula_row[1].formula is None and formula_row[1].value_type == "string"
    assert [c.text for c in ods_sheet(ods, "Users")[0]] == USER_HEADERS


def test_blank_cells_in_a_second_file_leave_values(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    headers = [*USER_HEADERS, "PHONE"]
    first = write_workbook(
        tmp_path / "a.xlsx",
        headers,
        [["ann@example.org", "Ann", "Lee", "GUARDIAN", "555-000-1111"]],
    )
    second = write_workbook(
        tmp_path / "b.xlsx", headers, [["ann@example.org", "Anne", None, None, None]]
    )
    assert run_cli(capsys, "--db", database_url, "import", "users", str(first), "--apply").code == 0
    result = run_cli(capsys, "--db", database_url, "import", "users", str(second), "--apply")
    assert result.code == 0 and "1 updated" in result.stdout
    _, rows = read_log(tmp_path / "b.applied.xlsx")
    assert rows[0].action == "updated" and rows[0].changes == "FIRST_NAME: Ann -> Anne"
    assert db_rows(
        database_url, "SELECT first_name, last_name, user_type, phone FROM portal_users"
    ) == [("Anne", "Lee", "GUARDIAN", "555-000-1111")]


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not a workbook": (bad_workbooks.not_a_workbook, "not an Excel workbook"),
    "csv renamed": (bad_workbooks.csv_renamed, "CSV"),
    "empty sheet": (bad_workbooks.empty_sheet, "empty"),
    "headers only": (bad_workbooks.headers_only, "no rows"),
    "password": (bad_workbooks.password_protected, "password"),
    "macros": (bad_workbooks.with_macros, "macros"),
    "zip bomb": (bad_workbooks.zip_bomb, "unpacks to more than"),
    "xml bomb": (bad_workbooks.xml_bomb, "document type declaration"),
    "lying zip": (bad_workbooks.lying_zip, "damaged"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_get_one_line_and_exit_2_and_nothing_is_written(
    kind: str, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, expected = BAD_FILES[kind]
    monkeypatch.setenv("PORTAL_MAX_UNPACKED_MB", "5")
    folder = tmp_path / "in"
    folder.mkdir()
    path = make(folder)
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    before = sorted(p.name for p in folder.iterdir())
    for apply in ([], ["--apply"]):
        result = run_cli(capsys, "--db", url, "import", "users", str(path), *apply)
        assert result.code == 2, result
        assert expected in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()) == 1 or len(result.stderr) < 400
    assert sorted(p.name for p in folder.iterdir()) == before  # no result workbook
    assert db_rows(url, "SELECT count(*) FROM batches") == [(0,)]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["LOGONID", "FIRST_NAME", "LAST_NAME"], "missing required column USER_TYPE"),
        (["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "LOGONID"], "LOGONID appears twice"),
        (["LOGONID", "FRIST_NAME", "LAST_NAME", "USER_TYPE"], "unknown column 'FRIST_NAME'"),
    ],
)
def test_header_problems_exit_2_and_write_nothing(
    headers: list[str], expected: str, tmp_path: Path, capsys: Capsys
) -> None:
    source = write_workbook(
        tmp_path / "users.xlsx", headers, [["a@example.org", "A", "B", "GUARDIAN", "x"]]
    )
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    result = run_cli(capsys, "--db", url, "import", "users", str(source), "--apply")
    assert result.code == 2 and expected in result.stderr
    assert not (tmp_path / "users.applied.xlsx").exists()
    assert db_rows(url, "SELECT count(*) FROM batches") == [(0,)]


def test_bad_mode_and_missing_file(tmp_path: Path, capsys: Capsys) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    result = run_cli(capsys, "import", "users", str(source), "--mode", "merge")
    assert result.code == 2
    assert "'merge' is not one of 'upsert', 'insert-only', 'update-only'" in result.stderr
    result = run_cli(capsys, "import", "users", str(tmp_path / "nope.xlsx"))
    assert result.code == 2 and "not found" in result.stderr
    result = run_cli(capsys, "import", "users", str(source), "--out", str(source))
    assert result.code == 2 and "overwrite the input" in result.stderr


def test_batches_lists_runs_and_shows_events(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS[:1])
    run_cli(capsys, "--db", database_url, "import", "users", str(source))
    run_cli(capsys, "--db", database_url, "import", "users", str(source), "--apply")
    listing = run_cli(capsys, "--db", database_url, "batches")
    assert listing.code == 0
    assert (
        "SIMULATION" in listing.stdout
        and "APPLY" in listing.stdout
        and "users.xlsx" in listing.stdout
    )
    shown = run_cli(capsys, "--db", database_url, "batches", "2")
    assert shown.code == 0 and "ann.lee@example.org" in shown.stdout and "added" in shown.stdout
    missing = run_cli(capsys, "--db", database_url, "batches", "99")
    assert missing.code == 2 and "no batch 99" in missing.stderr


def test_every_command_has_help(capsys: Capsys) -> None:
    from typer.main import get_command

    from addin.cli.app import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    root = get_command(app)
    for path in walk(root, []):
        result = run_cli(capsys, *path, "--help")
        assert result.code == 0, path
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert (command.help or "").strip(), f"`portal {' '.join(path)}` has no help text"
        for param in command.params:
            if param.name != "help" and getattr(param, "help", None) is not None:
                assert param.help.strip()


def test_addin_build_is_reproducible_and_install_explains_itself(
    tmp_path: Path, capsys: Capsys
) -> None:
    first = run_cli(capsys, "addin", "build", "--out", str(tmp_path / "a.xlam"))
    second = run_cli(capsys, "addin", "build", "--out", str(tmp_path / "b.xlam"))
    assert first.code == second.code == 0 and "Add-in built" in first.stdout
    assert (tmp_path / "a.xlam").read_bytes() == (tmp_path / "b.xlam").read_bytes()
    installed = run_cli(capsys, "addin", "install", "--xlam", str(tmp_path / "a.xlam"))
    assert installed.code == 0 and "Excel is not available" in installed.stdout
    missing = run_cli(capsys, "addin", "install", "--xlam", str(tmp_path / "none.xlam"))
    assert missing.code == 2 and "Traceback" not in missing.stderr


def test_a_batch_log_rebuilt_from_the_audit_trail_keeps_its_rows_in_a_file(
    tmp_path: Path, database_url: str, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`portal batches N --out` reads a batch's events a part at a time into rows kept in a
    file, as for a state's millions of events; the log is the run's own, row for row."""
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, ROWS)
    ran = tmp_path / "ran.xlsx"
    run_cli(
        capsys, "--db", database_url, "import", "users", str(source), "--apply", "--out", str(ran)
    )
    monkeypatch.setattr("backend.imports.contract.SPILL_ROWS", 2)
    monkeypatch.setattr("backend.imports.batches.EVENTS_READ", 1)
    rebuilt = tmp_path / "rebuilt.xlsx"
    result = run_cli(capsys, "--db", database_url, "batches", "1", "--out", str(rebuilt))
    assert result.code == 0 and "Log of batch 1" in result.stdout
    (ran_summary, run_rows), (summary, rows) = read_log(ran), read_log(rebuilt)
    counts = ("Rows", "Added", "Skipped", "Errors")
    assert [summary[c] for c in counts] == [ran_summary[c] for c in counts] == [4, 2, 1, 1]
    assert [(r.row, r.key, r.action) for r in rows] == [(r.row, r.key, r.action) for r in run_rows]
