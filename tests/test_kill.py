"""A SIGKILL in the middle of an apply leaves all of its batch or none of it (SQLite, WAL)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.database.engine import make_engine

ROWS = 12000


def counts(engine: Engine) -> tuple[int, int, int, set[str]]:
    with engine.connect() as connection:
        return (
            connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one(),
            connection.execute(text("SELECT count(*) FROM batches")).scalar_one(),
            connection.execute(text("SELECT count(*) FROM batch_events")).scalar_one(),
            set(connection.execute(text("SELECT DISTINCT first_name FROM portal_users")).scalars()),
        )


def run_and_kill(url: str, suffix: str, kill_at: str | None, delay: float = 0.0) -> bool:
    """Start the child; kill it once it prints a line starting with ``kill_at``. True if killed."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kill_child.py")), url, str(ROWS), suffix],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert child.stdout is not None
    for line in child.stdout:
        if kill_at is not None and line.startswith(kill_at):
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            child.wait()
            return True
        if line.startswith("DONE"):
            break
    assert child.wait() == 0
    return False


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
def test_kill_leaves_all_or_nothing(tmp_path: Path, sqlite_template: Path, kill_at: str) -> None:
    path = tmp_path / "kill.sqlite"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    if kill_at.startswith("Updating"):
        run_and_kill(url, "Old", None)  # a full first batch, so the second one updates
        assert counts(engine) == (ROWS, 1, ROWS, {"FirstOld"})
        assert run_and_kill(url, "New", kill_at)
        assert counts(engine) == (ROWS, 1, ROWS, {"FirstOld"})
    else:
        assert run_and_kill(url, "A", kill_at)
        assert counts(engine) == (0, 0, 0, set())
    # The database is whole and usable: the same import now runs to the end.
    run_and_kill(url, "New", None)
    users, batches, events, names = counts(engine)
    assert (users, events, names) == (ROWS, ROWS * batches, {"FirstNew"})
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    engine.dispose()


def test_kills_at_random_moments_never_leave_part_of_a_batch(
    tmp_path: Path, sqlite_template: Path
) -> None:
    rng = random.Random(5)
    path = tmp_path / "random.sqlite"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    for attempt in range(4):
        run_and_kill(url, f"R{attempt}", "Checking rows", delay=rng.uniform(0.0, 1.2))
        users, batches, events, names = counts(engine)
        assert users in (0, ROWS)
        assert events == batches * ROWS
        assert len(names) <= 1
    engine.dispose()
