"""Fixtures: a fresh database per test, on SQLite and on the PostgreSQL server.

PostgreSQL tests skip with a reason when no server answers, and tests of the public OneRoster
sample bundles skip when the bundles are not there, except in CI (CI=true), where either is a
failure.
"""

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import psycopg
import pytest
from helpers import ONEROSTER_SAMPLES, SAMPLES_ENV, emptied
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from backend.database.engine import make_engine, migrate
from backend.settings import get_settings

if TYPE_CHECKING:
    from served import MemoryKeyring, Server

PG_ADMIN_URL = os.environ.get("PORTAL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Variables that set up the test run itself, not the program under test.
TEST_RUN_VARIABLES = {"PORTAL_TEST_PG_URL", SAMPLES_ENV}


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads or writes the user's own database or settings; passwords hash cheaply."""
    for name in list(os.environ):
        if name.startswith("PORTAL_") and name not in TEST_RUN_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'default.sqlite'}")
    monkeypatch.setenv("PORTAL_ACTIVATION_SECRET_FILE", str(tmp_path / "activation-secret"))
    # Production-cost password hashing is deliberately slow; tests only need it to be argon2id.
    monkeypatch.setenv("PORTAL_PASSWORD_HASH_COST", "cheapest")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _every_result_reopens() -> Iterator[None]:
    """Every result workbook written in this process is re-opened with openpyxl as soon as it
    is in place, its log (the sheet it opens on) read to the end; the run fails at its end if
    one could not be."""
    import openpyxl

    from addin.files import result_writer

    original = result_writer._write_atomically
    unreadable: list[str] = []

    def write_and_reopen(dest: Path, write: Callable[[BinaryIO], None]) -> None:
        original(dest, write)
        try:
            book = openpyxl.load_workbook(dest, read_only=True)
            for _ in book.active.iter_rows(values_only=True):  # the log: Excel opens on it
                pass
            book.close()
        except Exception as exc:  # any failure to read it back is the finding
            unreadable.append(f"{dest}: {type(exc).__name__}: {exc}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(result_writer, "_write_atomically", write_and_reopen)
        yield
    assert not unreadable, "results openpyxl cannot open:\n" + "\n".join(unreadable)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies: migrating once is the slow part."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = make_engine(str(path))
    migrate(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def oneroster_samples() -> Path:
    """The folder of the public OneRoster sample bundles (.zip), which a plain clone lacks."""
    if ONEROSTER_SAMPLES is None or not any(ONEROSTER_SAMPLES.glob("*.zip")):
        where = f"in {ONEROSTER_SAMPLES}" if ONEROSTER_SAMPLES else "named"
        message = (
            f"the public OneRoster sample bundles are not {where}; "
            f"set {SAMPLES_ENV} to the folder that holds them"
        )
        if IN_CI:
            pytest.fail(f"{message} (CI must run these tests)")
        pytest.skip(message)
    return ONEROSTER_SAMPLES


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server for this test session, migrated once."""
    with new_pg_database("portal_test") as rendered:
        engine = make_engine(rendered)
        migrate(engine)
        engine.dispose()
        yield rendered


@contextmanager
def new_pg_database(prefix: str, password: str | None = None) -> Iterator[str]:
    """An empty database made on the PostgreSQL server (its URL), dropped afterwards; skipped
    without a server, failed under CI. A ``password`` is put in the URL (trust ignores it)."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and did not answer: {exc}")
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN_URL}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(
        drivername="postgresql+psycopg", database=name, password=password
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A URL of an empty, migrated database; the test runs once on each kind."""
    if request.param == "sqlite":
        path = tmp_path / "portal.sqlite"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    return emptied(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator["Server"]:
    """A real `portal serve` for a test module, on a database of its own (tests/served.py)."""
    from served import module_server

    yield from module_server(request, tmp_path_factory, sqlite_template)


@pytest.fixture
def db(server: "Server") -> Iterator[Engine]:
    """The module's server's database, emptied for one test."""
    from served import emptied_database

    yield from emptied_database(server)
    get_settings.cache_clear()


@pytest.fixture
def store() -> Iterator["MemoryKeyring"]:
    """No token from this computer's own credential store: only what a test gives."""
    import keyring
    from served import MemoryKeyring

    before = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(before)
