"""What staff are told matches what was saved: destinations checked first, user text shown as
typed, any batch's log written again from the audit trail, no temporary files left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import USER_HEADERS, read_log, run_cli, write_workbook
from sqlalchemy import create_engine, text, update

from backend.database.models import PortalUser

Capsys = pytest.CaptureFixture[str]
TESTS = Path(__file__).parent

MARKUP_ROWS = [
    ["[bold]ann@example.org", "[/]", "[red]Lee", "GUARDIAN"],
    ["bob@example.org", "Bob [/bold]", "Stone[/]", "GUARDIAN"],
    ["[/]bad@@example.org", "[link=x]Bad", "Row", "GUARDIAN"],
]


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        n = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_an_unwritable_destination_is_refused_before_anything_is_saved(
    tmp_path: Path, capsys: Capsys, database_url: str
) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, MARKUP_ROWS[:2])
    missing = tmp_path / "missing-folder" / "r.xlsx"
    for command in (
        ["import", "users", str(source), "--apply", "--out", str(missing)],
        ["run", "users.apply", str(source), "--yes", "--out", str(missing)],
        ["import", "users", str(source), "--apply", "--out", str(tmp_path)],
    ):
        result = run_cli(capsys, "--db", database_url, *command)
        assert result.code == 2, result
        assert "Nothing was saved" in result.stderr or "is a folder" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert count(database_url, "portal_users") == 0
    assert count(database_url, "batches") == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_folder_is_refused_first(tmp_path: Path, capsys: Capsys) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, MARKUP_ROWS[:2])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    result = run_cli(
        capsys,
        "--db",
        url,
        "import",
        "users",
        str(source),
        "--apply",
        "--out",
        str(locked / "r.xlsx"),
    )
    locked.chmod(0o700)
    assert result.code == 2 and "Nothing was saved" in result.stderr
    assert count(url, "batches") == 0


def test_a_result_that_fails_after_the_commit_names_the_batch_and_can_be_written_again(
    tmp_path: Path, capsys: Capsys, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, MARKUP_ROWS[:2])
    from addin.files import result_writer

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_writer, "_write_package", fail)
    result = run_cli(capsys, "--db", database_url, "import", "users", str(source), "--apply")
    assert result.code == 3, result
    assert "The changes were saved as batch 1" in result.stderr
    assert "portal batches 1 --out log.xlsx" in result.stderr
    assert count(database_url, "portal_users") == 1  # the first logon is not an address
    assert not list(tmp_path.glob(".~*"))
    monkeypatch.undo()

    log = tmp_path / "log.xlsx"
    again = run_cli(capsys, "--db", database_url, "batches", "1", "--out", str(log))
    assert again.code == 0, again
    summary, rows = read_log(log)
    assert summary["Batch"] == "1" or summary["Batch"] == 1
    assert [(r.row, r.key, r.action) for r in rows] == [
        (2, "[bold]ann@example.org", "error"),
        (3, "bob@example.org", "added"),
    ]


def test_text_that_looks_like_markup_is_printed_as_typed(
    tmp_path: Path, capsys: Capsys, database_url: str
) -> None:
    source = write_workbook(tmp_path / "[bold]users[red].xlsx", USER_HEADERS, MARKUP_ROWS)
    result = run_cli(capsys, "--db", database_url, "import", "users", str(source), "--apply")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    assert "[/]bad@@example.org" in result.stdout
    assert "[bold]users[red].xlsx" in result.stdout
    shown = run_cli(capsys, "--db", database_url, "batches", "1")
    assert shown.code == 0, shown
    assert "[bold]ann@example.org" in shown.stdout
    listed = run_cli(capsys, "--db", database_url, "batches")
    assert "[bold]users[red].xlsx" in listed.stdout


def test_printing_a_huge_value_takes_time_in_proportion(tmp_path: Path, capsys: Capsys) -> None:
    logon = "a" * 40_000 + "@@example.org"
    source = write_workbook(tmp_path / "long.xlsx", USER_HEADERS, [[logon, "A", "B", "GUARDIAN"]])
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    started = time.perf_counter()
    result = run_cli(capsys, "--db", url, "import", "users", str(source))
    assert time.perf_counter() - started < 10
    assert result.code == 1
    assert "at most 320 fit" in result.stdout and len(result.stdout) < 2_000


def killed_while_writing(command: list[str], folder: Path) -> bool:
    """Run ``command`` and kill it once a temporary result file appears; whether one was left."""
    run = subprocess.Popen(
        command, cwd=TESTS.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(folder.glob(".~*.tmp")) and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    if run.poll() is not None:
        return False  # it finished before a file could be caught
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    return bool(list(folder.glob(".~*.tmp")))


def test_a_killed_run_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Kill a run while it writes its result; the next run removes what the first left."""
    rows = [[f"user{i}@example.org", "First", "Last", "GUARDIAN"] for i in range(40_000)]
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, rows)
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    command = [
        sys.executable,
        "-c",
        "from addin.cli.app import main; main()",
        "--db",
        url,
        "import",
        "users",
        str(source),
        "--apply",
    ]
    # The result file is open for a moment only: try again until a kill lands in it.
    assert any(killed_while_writing(command, tmp_path) for _ in range(5))
    again = subprocess.run(command, cwd=TESTS.parent, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if n.startswith(".~")] == []
    assert "users.applied.xlsx" in names


def test_a_name_cannot_add_a_header_to_an_email() -> None:
    from backend.mail.templates import Template, context, render

    guardian = {"first_name": "Ann\r\nBcc: evil@example.org\x00", "last_name": "Lee\u2028X"}
    subject, body = render(
        Template("welcome", "Welcome, {{ guardian_name }}", "Dear {{ guardian_name }}"),
        context(guardian, "ann@example.org", []),
    )
    assert subject == "Welcome, Ann Bcc: evil@example.org Lee X"
    assert "Bcc: evil@example.org" in body  # the body is plain text: the name as typed


def test_an_account_with_markup_in_its_name_is_shown_as_typed(
    capsys: Capsys, database_url: str
) -> None:
    db = ["--db", database_url]
    made = run_cli(
        capsys,
        *db,
        *("user", "new", "ann@example.org", "--type", "GUARDIAN"),
        *("--first", "[red]Ann[/]", "--last", "Lee [/bold]"),
    )
    assert made.code == 0, made
    shown = run_cli(capsys, *db, "user", "show", "ann@example.org")
    assert shown.code == 0, shown
    assert "Name: [red]Ann[/] Lee [/bold]" in shown.stdout
    assert "Traceback" not in shown.stdout + shown.stderr


def test_a_name_stored_with_control_characters_cannot_reach_the_terminal(
    capsys: Capsys, database_url: str
) -> None:
    """Names are cleaned as they are read; one stored before that (or by another program) is
    still shown without its escape sequences."""
    db = ["--db", database_url]
    assert (
        run_cli(
            capsys,
            *db,
            "user",
            "new",
            "ann@example.org",
            "--type",
            "GUARDIAN",
            "--first",
            "Ann",
            "--last",
            "Lee",
        ).code
        == 0
    )
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(update(PortalUser).values(first_name="A\x1b[2J\x1b]0;owned\x07nn"))
    engine.dispose()
    shown = run_cli(capsys, *db, "user", "show", "ann@example.org")
    assert shown.code == 0, shown
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "Name: A\ufffd[2J\ufffd]0;owned\ufffdnn Lee" in shown.stdout
