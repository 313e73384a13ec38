"""Applies at once run one after the other, each planning against what the one before committed;
processes starting together on an empty database build its schema once."""

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import psycopg
import pytest
from conftest import PG_ADMIN_URL
from factories import guardians_table
from helpers import USER_HEADERS, run_cli, write_workbook
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from backend.database.engine import (
    SCHEMA_HEAD,
    is_current,
    make_engine,
    migrate,
    write_transaction,
)
from backend.errors import PortalError
from backend.imports.contract import InputTable, Report
from backend.imports.users import import_users
from backend.settings import get_settings

ROWS = 3000


def sheet(first_name: str) -> InputTable:
    return guardians_table(
        ROWS, first_name, last_name="Same", logon_prefix="p", source_name=f"{first_name}.xlsx"
    )


def test_concurrent_applies_are_serialised_and_replanned(engine: Engine) -> None:
    reports: dict[str, Report] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            start.wait()
            reports[name] = import_users(engine, sheet(name), apply=True)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("Ann", "Bea")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    first, second = sorted(reports.values(), key=lambda r: r.batch_id)
    assert first.counts == {"added": ROWS, "updated": 0, "removed": 0, "skipped": 0, "error": 0}
    # The second waited, then saw every account the first added: all updated, none added twice.
    assert second.counts == {"added": 0, "updated": ROWS, "removed": 0, "skipped": 0, "error": 0}
    with engine.connect() as connection:
        names = connection.execute(text("SELECT DISTINCT first_name FROM portal_users")).all()
        count = connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one()
    assert count == ROWS
    assert names == [(second.source_name.removesuffix(".xlsx"),)]  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists and holds nothing yet: no tables, no schema version."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'first-use.sqlite'}"
        return
    request.getfixturevalue("pg_url")  # skips, or fails in CI, when no server answers
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    name = f"portal_first_use_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_four_first_imports_at_once_on_an_empty_database_build_one_schema(
    empty_database_url: str, tmp_path: Path
) -> None:
    portal = Path(sys.executable).with_name("portal")
    staff = ["ann", "bea", "cal", "dee"]
    runs = []
    for name in staff:
        rows = [[f"{name}.parent{n}@example.org", name, "Lee", "GUARDIAN"] for n in range(20)]
        source = write_workbook(tmp_path / f"{name}.xlsx", USER_HEADERS, rows)
        command = [str(portal), "--db", empty_database_url, "import", "users", str(source)]
        runs.append(subprocess.Popen([*command, "--apply"], stdout=PIPE, stderr=PIPE, text=True))
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, results
    assert all("APPLIED" in out and "20 added" in out for out, _ in results), results
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            names = connection.execute(
                text("SELECT first_name, count(*) FROM portal_users GROUP BY first_name")
            ).all()
            batches = connection.execute(text("SELECT count(*) FROM batches")).scalar_one()
    finally:
        engine.dispose()
    assert versions == [(SCHEMA_HEAD,)]
    assert sorted(names) == [(name, 20) for name in staff]
    assert batches == 4


def test_a_first_use_that_waits_too_long_for_the_lock_says_so_in_one_line(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_LOCK_TIMEOUT_S", "1")
    get_settings.cache_clear()
    holder, waiter = make_engine(empty_database_url), make_engine(empty_database_url)
    try:
        with write_transaction(holder), pytest.raises(PortalError) as caught:
            migrate(waiter)
        assert str(caught.value) == (
            "The database is busy: another portal command kept it for longer than 1 s "
            "(PORTAL_LOCK_TIMEOUT_S) while this one waited; nothing was saved. Try again in a "
            "minute."
        )
        assert not is_current(waiter)
        migrate(waiter)  # once the lock is free
        assert is_current(waiter)
    finally:
        holder.dispose()
        waiter.dispose()


def test_an_apply_that_waits_too_long_for_the_lock_saves_nothing_and_says_so(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTAL_LOCK_TIMEOUT_S", "1")
    get_settings.cache_clear()
    rows = [["ann@example.org", "Ann", "Lee", "GUARDIAN"]]
    source = write_workbook(tmp_path / "users.xlsx", USER_HEADERS, rows)
    holder = make_engine(database_url)
    try:
        with write_transaction(holder):
            result = run_cli(
                capsys, "--db", database_url, "import", "users", str(source), "--apply"
            )
        with holder.connect() as connection:
            accounts = connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one()
            batches = connection.execute(text("SELECT count(*) FROM batches")).scalar_one()
    finally:
        holder.dispose()
    assert result.code == 2, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "The database is busy" in result.stderr and "nothing was saved" in result.stderr
    assert (accounts, batches) == (0, 0)
    assert not (tmp_path / "users.applied.xlsx").exists()
