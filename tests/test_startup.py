"""`portal --help` and `portal batches` load none of the heavy libraries other commands need;
`--help` and `--version` not even the database's. A users import loads only what it uses, and
the installed program closes its database before it ends."""

import gc
import json
import sqlite3
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from helpers import USER_HEADERS, write_workbook

from backend.imports.contract import collector_paused

HEAVY = (
    "xlwings",
    "jinja2",
    "argon2",
    "alembic",
    "openpyxl",
    "xlsxwriter",
    "lxml",
    "psycopg",
    "httpx",
    "email_validator",
    "sqlalchemy.dialects.postgresql",
    "rich.progress",
)

PROBE = """
import json, sys
from addin.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["--help"], (*HEAVY, "sqlalchemy")),
        (["--version"], (*HEAVY, "sqlalchemy")),
        (["batches"], HEAVY),
    ],
)
def test_a_light_command_loads_no_heavy_library(
    args: list[str], heavy: tuple[str, ...], tmp_path: Path
) -> None:
    database = tmp_path / "portal.sqlite"
    subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "init"],
        env={"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""},
        capture_output=True,
        check=True,
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=heavy), *args],
        env={"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(probe.stderr.strip().splitlines()[-1])
    assert loaded == [], f"`portal {' '.join(args)}` loaded {loaded}"


NOT_FOR_USERS = tuple(m for m in HEAVY if m not in ("lxml", "argon2"))
"""What a users import on SQLite has no use for: lxml checks the file, argon2 comes with the
activation links an import revokes; email-validator only for an address the fast path cannot
vouch for, the progress bar only on a terminal."""

LAUNCHED = """
import json, sys
from addin.cli.launch import run
try:
    run()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps([code, sorted(m for m in {unused!r} if m in sys.modules)]), file=sys.stderr)
"""


def test_the_installed_program_imports_users_loading_only_what_it_uses(tmp_path: Path) -> None:
    database = tmp_path / "portal.sqlite"
    rows = [[f"parent.{n}@example.org", "Ann", "Lee", "GUARDIAN"] for n in range(30)]
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, rows)
    env = {"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""}
    portal = Path(sys.executable).with_name("portal")
    assert "addin.cli.launch" in portal.read_text()  # the program the package installs
    subprocess.run([str(portal), "init"], env=env, capture_output=True, check=True)
    command = ["import", "users", str(source), "--apply"]
    run = subprocess.run(
        [sys.executable, "-c", LAUNCHED.format(unused=NOT_FOR_USERS), *command],
        env=env,
        capture_output=True,
        text=True,
    )
    code, loaded = json.loads(run.stderr.strip().splitlines()[-1])
    assert code == 0 and "30 added" in run.stdout, run.stdout + run.stderr
    assert loaded == [], f"a users import loaded {loaded}"
    assert sorted(p.name for p in tmp_path.glob("portal.sqlite*")) == ["portal.sqlite"]
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT count(*) FROM portal_users").fetchone()
    assert stored == (30,)


def test_the_installed_program_says_a_refusal_and_its_exit_code(tmp_path: Path) -> None:
    database = tmp_path / "portal.sqlite"
    source = write_workbook(tmp_path / "users.xlsx", ["LOGONID", "FRIST_NAME"], [["a@b.org", "A"]])
    env = {"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""}
    portal = Path(sys.executable).with_name("portal")
    run = subprocess.run(
        [str(portal), "import", "users", str(source)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2 and "did you mean FIRST_NAME?" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.glob("portal.sqlite*")) == ["portal.sqlite"]


class Node:
    """A part of a reference cycle: only the cyclic collector frees it."""

    other: "Node | None" = None


def test_garbage_made_in_a_paused_run_is_still_collected_afterwards() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
    assert gc.isenabled()
    gc.collect()
    assert gone() is None
