"""Sheets built to hurt the reader: refused with one line, in bounded memory, nothing saved."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bad_workbooks
import pytest
from helpers import run_cli
from sqlalchemy import create_engine, text

Capsys = pytest.CaptureFixture[str]
TESTS = Path(__file__).parent

REFUSED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cell at XFD1048576": (bad_workbooks.far_cell, "reaches as far as XFD1048576"),
    "row 99,999,999": (
        lambda folder: bad_workbooks.far_cell(folder, "A99999999"),
        "has a cell in row 99,999,999",
    ),
    "column past XFD": (
        lambda folder: bad_workbooks.far_cell(folder, "XFE2"),
        "has a cell in column 16,385",
    ),
    "cell at A1048576": (
        lambda folder: bad_workbooks.far_cell(folder, "A1048576"),
        "reaches as far as D1048576",
    ),
    "dimension past the limits": (
        bad_workbooks.claimed_dimension,
        "claims to reach row 99,999,999",
    ),
    "NUL byte in the sheet": (bad_workbooks.nul_byte, "is not well-formed XML"),
    "NUL byte in the workbook part": (
        lambda folder: bad_workbooks.nul_byte(folder, bad_workbooks.WORKBOOK_PART),
        "xl/workbook.xml is not well-formed XML",
    ),
    "broken tag": (bad_workbooks.broken_tag, "is not well-formed XML"),
    "hidden Users sheet": (bad_workbooks.hidden_users_sheet, "the sheet 'Users' is hidden"),
    "very hidden Users sheet": (
        lambda folder: bad_workbooks.hidden_users_sheet(folder, "veryHidden"),
        "the sheet 'Users' is hidden",
    ),
    "shared-string amplification": (
        bad_workbooks.shared_string_bomb,
        "million characters of text",
    ),
}


def table_counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = (
            connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one(),
            connection.execute(text("SELECT count(*) FROM batches")).scalar_one(),
        )
    engine.dispose()
    return counts


@pytest.mark.parametrize("kind", list(REFUSED))
def test_hostile_sheets_get_one_line_exit_2_and_nothing_saved(
    kind: str, tmp_path: Path, capsys: Capsys, database_url: str
) -> None:
    make, expected = REFUSED[kind]
    folder = tmp_path / "in"
    folder.mkdir()
    path = make(folder)
    before = sorted(p.name for p in folder.iterdir())
    commands = [
        ["import", "users", str(path)],
        ["import", "users", str(path), "--apply"],
        ["import", "links", str(path), "--apply", "--sheet", "Users"],
        ["run", "users.apply", str(path), "--yes"],
    ]
    for command in commands:
        result = run_cli(capsys, "--db", database_url, *command)
        assert result.code == 2, (command, result)
        assert expected in result.stderr, (command, result)
        assert "Traceback" not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before
    assert table_counts(database_url) == (0, 0)


PEAK_SCRIPT = """
import resource, subprocess, sys
portal = [sys.executable, "-c", "from addin.cli.app import main; main()"]
done = subprocess.run([*portal, *sys.argv[1:]], capture_output=True, text=True)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(done.returncode, round(peak_mb), done.stderr.strip().replace(chr(10), " | "))
"""


@pytest.mark.parametrize(
    "make",
    [
        bad_workbooks.far_cell,
        lambda folder: bad_workbooks.far_cell(folder, "A99999999"),
        bad_workbooks.shared_string_bomb,
    ],
    ids=["XFD1048576", "row 99999999", "shared-string amplification"],
)
def test_small_hostile_files_are_refused_in_bounded_memory(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    path = make(tmp_path)
    assert path.stat().st_size < 30_000
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_SCRIPT,
            "--db",
            f"sqlite:///{tmp_path / 'p.sqlite'}",
            "import",
            "users",
            str(path),
            "--apply",
        ],
        capture_output=True,
        text=True,
        cwd=TESTS.parent,
        timeout=120,
        check=True,
    )
    code, peak_mb, message = done.stdout.split(" ", 2)
    assert code == "2", done.stdout
    assert message.startswith("Error:") and "|" not in message, message
    assert int(peak_mb) < 200, done.stdout


def test_a_stray_cell_within_reach_is_read(tmp_path: Path, capsys: Capsys) -> None:
    """A note typed far below the table but within a sane grid is not a reason to refuse."""
    path = bad_workbooks.far_cell(tmp_path, "A20000")
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    result = run_cli(capsys, "--db", url, "import", "users", str(path), "--apply")
    assert result.code == 1, result  # the stray row is an error of its own
    assert table_counts(url)[0] == 3
