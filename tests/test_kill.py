"""A SIGKILL in the middle of an apply leaves all of its batch or none of it (SQLite, WAL)."""

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Engine, text

from backend.database.engine import make_engine

ROWS = 12000
TESTS = Path(__file__).parent
KILLED = -signal.SIGKILL


def counts(engine: Engine) -> tuple[int, int, int, set[str]]:
    with engine.connect() as connection:
        return (
            connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one(),
            connection.execute(text("SELECT count(*) FROM batches")).scalar_one(),
            connection.execute(text("SELECT count(*) FROM batch_events")).scalar_one(),
            set(connection.execute(text("SELECT DISTINCT first_name FROM portal_users")).scalars()),
        )


class Runs:
    """Runs of the import, each in a process of its own, forked by kill_child.py's server."""

    def __init__(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, str(TESTS / "kill_child.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=TESTS.parent,
            env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
        )
        assert self.server.stdin is not None and self.server.stdout is not None
        self.requests: IO[str] = self.server.stdin
        self.replies: IO[str] = self.server.stdout
        assert self.reply() == "READY"

    def reply(self) -> str:
        line = self.replies.readline()
        assert line, f"the kill test's fork server stopped (exit {self.server.poll()})"
        return line.rstrip("\n")

    def send(self, line: str) -> None:
        self.requests.write(line + "\n")
        self.requests.flush()

    def run(self, url: str, suffix: str, kill_at: str | None = None, delay: float = 0.0) -> int:
        """One run; kill it once it prints a line starting with ``kill_at``. Its exit status."""
        self.send(f"{url} {ROWS} {suffix}")
        pid = int(self.reply().removeprefix("PID|"))
        killed = False
        line = self.reply()
        while line != "ENDED":
            if not killed and kill_at is not None and line.startswith(kill_at):
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)  # not reaped yet, so the ID is still the child's
                killed = True
            line = self.reply()
        self.send("REAP")
        return int(self.reply().removeprefix("EXIT|"))

    def close(self) -> None:
        self.requests.close()
        assert self.server.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    server = Runs()
    yield server
    server.close()


def copy_of(template: Path, path: Path) -> str:
    path.write_bytes(template.read_bytes())
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    "kill_at",
    [
        "Planning",
        "Adding accounts|5000",
        "Adding accounts|12000",
        "Recording the log|0",
        "Recording the log|10000",
        "Updating accounts|5000",
    ],
)
def test_kill_leaves_all_or_nothing(
    tmp_path: Path, sqlite_template: Path, runs: Runs, kill_at: str
) -> None:
    url = copy_of(sqlite_template, tmp_path / "kill.sqlite")
    engine = make_engine(url)
    if kill_at.startswith("Updating"):
        assert runs.run(url, "Old") == 0  # a full first batch, so the second one updates
        assert counts(engine) == (ROWS, 1, ROWS, {"FirstOld"})
        assert runs.run(url, "New", kill_at) == KILLED
        assert counts(engine) == (ROWS, 1, ROWS, {"FirstOld"})
    else:
        assert runs.run(url, "A", kill_at) == KILLED
        assert counts(engine) == (0, 0, 0, set())
    # The database is whole and usable: the same import now runs to the end.
    assert runs.run(url, "New") == 0
    users, batches, events, names = counts(engine)
    assert (users, events, names) == (ROWS, ROWS * batches, {"FirstNew"})
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    engine.dispose()


def test_kills_at_random_moments_never_leave_part_of_a_batch(
    tmp_path: Path, sqlite_template: Path, runs: Runs
) -> None:
    rng = random.Random(5)
    url = copy_of(sqlite_template, tmp_path / "random.sqlite")
    engine = make_engine(url)
    for attempt in range(4):
        assert runs.run(url, f"R{attempt}", "Checking rows", rng.uniform(0.0, 1.2)) in (0, KILLED)
        users, batches, events, names = counts(engine)
        assert users in (0, ROWS)
        assert events == batches * ROWS
        assert len(names) <= 1
    engine.dispose()
