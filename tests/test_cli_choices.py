"""Options with fixed values are choices the CLI checks: one line naming them, exit 2, no run."""

from pathlib import Path
from typing import Any, get_args

import pytest
from helpers import USER_HEADERS, run_cli, write_workbook
from sqlalchemy import create_engine, text

from addin.cli.accounts import AccountStatus, UserType
from addin.cli.imports import ImportMode, Kind, RibbonAction
from addin.cli.outbox import MessageStatus
from addin.workbooks.actions import ACTIONS
from addin.workbooks.templates import TEMPLATES
from backend.imports.users import IMPORT_MODES, STATUSES, USER_TYPES
from backend.mail.outbox import STATUSES as MESSAGE_STATUSES

Capsys = pytest.CaptureFixture[str]


@pytest.mark.parametrize(
    ("choices", "values"),
    [
        (ImportMode, IMPORT_MODES),
        (Kind, tuple(TEMPLATES)),
        (RibbonAction, ACTIONS),
        (UserType, USER_TYPES),
        (AccountStatus, STATUSES),
        (MessageStatus, MESSAGE_STATUSES),
    ],
)
def test_the_cli_offers_exactly_the_values_the_program_takes(
    choices: Any, values: tuple[str, ...]
) -> None:
    assert get_args(choices) == tuple(values)


def batch_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM batches")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (
            ["run", "template.new", "{dir}/new.xlsx", "--kind", "evil"],
            "'evil' is not one of 'users', 'links', 'roster', 'autocreate'",
        ),
        (["run", "users.destroy", "{book}"], "'users.destroy' is not one of 'users.check'"),
        (
            ["import", "users", "{book}", "--mode", "merge", "--apply"],
            "'merge' is not one of 'upsert', 'insert-only', 'update-only'",
        ),
        (
            ["user", "new", "a@example.org", "--type", "parent", "--last", "L", "--first", "F"],
            "'parent' is not one of 'guardian', 'student'",
        ),
        (
            ["user", "modify", "a@example.org", "--status", "gone"],
            "'gone' is not one of 'active', 'disabled'",
        ),
        (
            ["outbox", "list", "--status", "lost"],
            "'lost' is not one of 'queued', 'sending', 'sent', 'failed', 'skipped'",
        ),
    ],
)
def test_a_value_outside_the_choices_is_one_line_and_exit_2(
    args: list[str], allowed: str, tmp_path: Path, capsys: Capsys
) -> None:
    book = write_workbook(
        tmp_path / "users.xlsx", USER_HEADERS, [["a@example.org", "A", "B", "GUARDIAN"]]
    )
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    run_cli(capsys, "--db", url, "init")
    filled = [a.format(dir=tmp_path, book=book) for a in args]
    result = run_cli(capsys, "--db", url, *filled)
    assert result.code == 2, result
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert allowed in line and "Traceback" not in line and "Value error" not in line
    assert line.endswith("--help'.")
    assert not (tmp_path / "new.xlsx").exists()
    assert batch_count(url) == 0


def test_choices_take_any_capitals_and_keep_the_programs_spelling(
    tmp_path: Path, capsys: Capsys
) -> None:
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    made = run_cli(
        capsys, "--db", url, "user", "new", "a@example.org", "--type", "guardian", "--last", "L",
        "--first", "F",
    )  # fmt: skip
    assert made.code == 0 and "New guardian account" in made.stdout
    changed = run_cli(
        capsys, "--db", url, "user", "modify", "a@example.org", "--status", "disabled"
    )
    assert changed.code == 0 and "ACTIVE -> DISABLED" in changed.stdout
    book = write_workbook(
        tmp_path / "users.xlsx", USER_HEADERS, [["b@example.org", "B", "C", "GUARDIAN"]]
    )
    ran = run_cli(capsys, "--db", url, "import", "users", str(book), "--mode", "Insert-Only")
    assert ran.code == 0 and "1 added" in ran.stdout


def test_an_unusable_result_path_is_refused_before_any_batch(
    tmp_path: Path, capsys: Capsys
) -> None:
    book = write_workbook(
        tmp_path / "users.xlsx", USER_HEADERS, [["a@example.org", "A", "B", "GUARDIAN"]]
    )
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    run_cli(capsys, "--db", url, "init")
    for args in (
        ["import", "users", str(book), "--out", str(book)],
        ["import", "users", str(book), "--out", str(tmp_path / "no" / "such" / "log.xlsx")],
        ["run", "users.simulate", str(book), "--out", str(book)],
        ["autocreate", "--out", str(tmp_path / "missing" / "log.xlsx")],
    ):
        result = run_cli(capsys, "--db", url, *args)
        assert result.code == 2, (args, result)
        assert len(result.stderr.strip().splitlines()) == 1
    assert batch_count(url) == 0
