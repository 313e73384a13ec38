"""The hostile-input corpus (built by ``bad_workbooks``) through every import a user can run:
a refused input gets one line, exit 2, no traceback and an untouched database; an accepted one
a result workbook that openpyxl opens, whose Import Log holds no live formula."""

import shutil
from pathlib import Path

import bad_workbooks
import openpyxl
import pytest
from helpers import CliResult, run_cli
from libreoffice import convert
from sqlalchemy import create_engine, func, select

from addin.workbooks.result_sheet import LOG_SHEET_NAME
from backend.database.models import Base

Capsys = pytest.CaptureFixture[str]
REFUSED = bad_workbooks.refused_workbooks()
ACCEPTED = bad_workbooks.accepted_workbooks()
REFUSED_BUNDLES = bad_workbooks.refused_bundles()
ACCEPTED_BUNDLES = bad_workbooks.accepted_bundles()
AUDIT = {"batches", "batch_events"}
"""A simulation leaves its batch in the audit trail and nothing else."""

WORKBOOK_COMMANDS = [
    ["import", "users", "{path}", "--apply"],
    ["import", "links", "{path}", "--apply", "--sheet", "Users"],
    ["import", "roster", "{path}", "--apply"],
    ["run", "users.apply", "{path}", "--yes"],
]


def test_the_corpus_has_at_least_sixty_inputs() -> None:
    assert len(REFUSED) + len(ACCEPTED) + len(REFUSED_BUNDLES) + len(ACCEPTED_BUNDLES) >= 60


def snapshot(url: str, skip: set[str] = frozenset()) -> dict[str, int]:  # type: ignore[assignment]
    """Rows in each table of the database."""
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
            if table.name not in skip
        }
    engine.dispose()
    return counts


@pytest.fixture
def url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "portal.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def assert_refused(result: CliResult, expected: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.stdout + result.stderr, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert expected in lines[0], lines[0]


def run_refused(
    capsys: Capsys, url: str, path: Path, expected: str, commands: list[list[str]]
) -> None:
    before = snapshot(url)
    files = sorted(p.name for p in path.parent.iterdir())
    for command in commands:
        result = run_cli(capsys, "--db", url, *(a.format(path=path) for a in command))
        # A roster workbook has no Users sheet: a sheet's fault is not reached there.
        roster = command[:2] == ["import", "roster"] and "has no Schools" in result.stderr
        assert_refused(result, "" if roster else expected)
    assert snapshot(url) == before
    assert sorted(p.name for p in path.parent.iterdir()) == files  # no result, no temporary


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_refused_workbook(kind: str, tmp_path: Path, capsys: Capsys, url: str) -> None:
    make, expected = REFUSED[kind]
    folder = tmp_path / "in"
    folder.mkdir()
    run_refused(capsys, url, make(folder), expected, WORKBOOK_COMMANDS)


@pytest.mark.parametrize("kind", list(REFUSED_BUNDLES))
def test_a_refused_bundle(kind: str, tmp_path: Path, capsys: Capsys, url: str) -> None:
    make, expected = REFUSED_BUNDLES[kind]
    folder = tmp_path / "in"
    folder.mkdir()
    run_refused(capsys, url, make(folder), expected, [["import", "roster", "{path}", "--apply"]])


def assert_result_is_inert(path: Path) -> None:
    """openpyxl opens the result, and no cell of the Import Log is a formula."""
    book = openpyxl.load_workbook(path)
    log = book[LOG_SHEET_NAME]
    formulas = [c.coordinate for row in log.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == [], formulas
    assert log.max_row > 1


def run_accepted(capsys: Capsys, url: str, command: list[str], result: Path) -> CliResult:
    before = snapshot(url, AUDIT)
    done = run_cli(capsys, "--db", url, *command)
    assert done.code in (0, 1), done
    assert "Traceback" not in done.stdout + done.stderr, done
    assert snapshot(url, AUDIT) == before  # a simulation: nothing saved
    assert_result_is_inert(result)
    return done


@pytest.mark.parametrize("kind", list(ACCEPTED))
def test_an_accepted_workbook(kind: str, tmp_path: Path, capsys: Capsys, url: str) -> None:
    make, task = ACCEPTED[kind]
    path = make(tmp_path)
    result = path.with_name(f"{path.stem}.simulation.xlsx")
    run_accepted(capsys, url, ["import", task, str(path)], result)
    result.unlink()
    run_accepted(capsys, url, ["run", f"{task}.simulate", str(path)], result)


@pytest.mark.parametrize("kind", list(ACCEPTED_BUNDLES))
def test_an_accepted_bundle(kind: str, tmp_path: Path, capsys: Capsys, url: str) -> None:
    path = ACCEPTED_BUNDLES[kind](tmp_path)
    result = tmp_path / "roster.simulation.xlsx"
    run_accepted(capsys, url, ["import", "roster", str(path), "--out", str(result)], result)


def test_an_accepted_result_opens_in_libreoffice_without_formulas(
    tmp_path: Path, capsys: Capsys, url: str
) -> None:
    path = ACCEPTED["formulas and formula-like text"][0](tmp_path)
    result = path.with_name(f"{path.stem}.simulation.xlsx")
    run_accepted(capsys, url, ["import", "users", str(path)], result)
    formulas = convert(result, "fods", tmp_path / "lo").read_text("utf-8")
    log = formulas[formulas.index(f'table:name="{LOG_SHEET_NAME}"') :]
    assert "table:formula" not in log
    assert "@SUM(A1:A2)" in log  # the text, as typed


SAMPLE = [
    f"NUL byte in {bad_workbooks.SHEET_PART}",
    "cell at XFD1048576",
    "hidden Users sheet",
    "macros",
]


@pytest.mark.parametrize("kind", SAMPLE)
def test_a_sample_is_refused_on_both_databases(
    kind: str, tmp_path: Path, capsys: Capsys, database_url: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make, expected = REFUSED[kind]
    run_refused(capsys, database_url, make(folder), expected, WORKBOOK_COMMANDS[:2])
