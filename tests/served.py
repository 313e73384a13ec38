"""A real district server for tests: `portal serve` in a process of its own on a loopback port,
over a database of its own, and what tests ask of it and of that database."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import xlsxwriter
from conftest import new_pg_database
from factories import SMALL_DISTRICT, make_accounts
from keyring.backend import KeyringBackend
from sqlalchemy import Engine, func, select, text

from backend.database.engine import make_engine
from backend.database.models import Base
from backend.imports.roster import import_roster
from backend.staff.identity import add_staff

PORTAL = Path(sys.executable).parent / "portal"
RATE_PER_MINUTE = 40
MAX_REQUEST_MB = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_environment(folder: Path, **settings: str) -> dict[str, str]:
    """The test run's environment without the user's PORTAL_ settings, with the server's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env |= {
        "PORTAL_PASSWORD_HASH_COST": "cheapest",
        "PORTAL_ACTIVATION_SECRET_FILE": str(folder / "activation-secret"),
        "PORTAL_SERVER_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
        "PORTAL_SERVER_MAX_REQUEST_MB": str(MAX_REQUEST_MB),
        **settings,
    }
    return env


@dataclass
class Server:
    """One running `portal serve`: where it answers, its database, what it printed."""

    base: str
    database_url: str
    process: subprocess.Popen[bytes]
    output: Path

    def said(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)


@contextmanager
def running(database_url: str, folder: Path, *args: str, **settings: str) -> Iterator[Server]:
    """`portal serve` on a free loopback port until the block ends; fails with what it printed
    if it does not answer /health within 60 s."""
    port = free_port()
    output = folder / f"serve-{port}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(PORTAL), "--db", database_url, "serve", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=server_environment(folder, **settings),
        )
    server = Server(f"http://127.0.0.1:{port}", database_url, process, output)
    try:
        _wait_until_answering(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"portal serve stopped at start:\n{server.said()}")
        try:
            if httpx.get(server.base + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"portal serve did not answer within 60 s:\n{server.said()}")


@contextmanager
def database_of_its_own(kind: str, folder: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated database for one module's server: a SQLite copy, or a PostgreSQL database
    made for it (its URL carries a password, which trust authentication ignores and no output
    may show) and dropped afterwards."""
    if kind == "sqlite":
        path = folder / "served.sqlite"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    with new_pg_database("portal_served", password="not-to-be-shown") as url:
        yield url


def empty(engine: Engine) -> None:
    """Every table of the portal emptied, for a test that starts from nothing."""
    tables = Base.metadata.sorted_tables
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(table.delete())


def counts(engine: Engine) -> dict[str, int]:
    """The number of rows in every table: equal before and after means nothing was written."""
    with engine.connect() as connection:
        return {
            t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


def staff_token(engine: Engine, role: str = "district-admin", **options: Any) -> str:
    """A new staff member's token (a member of their own, so rate counts start at zero)."""
    email = f"staff-{uuid.uuid4().hex[:8]}@district.example.org"
    _, token = add_staff(engine, email, role=role, **options)
    return token


def server_engine(server: Server) -> Engine:
    return make_engine(server.database_url)


def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Server]:
    """A module's server on a database of its own (``request.param``: sqlite or postgresql).

    It keeps nothing between requests, so a module's tests share it and empty its database
    instead of starting another."""
    folder = tmp_path_factory.mktemp("served")
    with (
        database_of_its_own(request.param, folder, sqlite_template) as url,
        running(url, folder) as served,
    ):
        yield served


def emptied_database(server: Server) -> Iterator[Engine]:
    """The server's database, emptied for one test."""
    engine = server_engine(server)
    empty(engine)
    yield engine
    engine.dispose()


def typed_workbook(path: Path, sheets: dict[str, tuple[list[str], list[list[Any]]]]) -> Path:
    """A real .xlsx whose cells keep their types: text, numbers, true/false, dates with a date
    format (read back as dates), date-times."""
    with xlsxwriter.Workbook(path) as book:
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        for name, (headers, rows) in sheets.items():
            sheet = book.add_worksheet(name)
            sheet.write_row(0, 0, headers)
            for number, row in enumerate(rows, start=1):
                for column, value in enumerate(row):
                    if isinstance(value, str):
                        sheet.write_string(number, column, value)
                    elif isinstance(value, bool):
                        sheet.write_boolean(number, column, value)
                    elif isinstance(value, datetime):
                        sheet.write_datetime(number, column, value, moment)
                    elif isinstance(value, date):
                        sheet.write_datetime(number, column, value, day)
                    elif value is not None:
                        sheet.write_number(number, column, value)
    return path


def seed(engine: Engine) -> None:
    """The district the runs start from: the small roster and two guardian accounts."""
    empty(engine)
    import_roster(engine, **SMALL_DISTRICT.tables(), apply=True)
    make_accounts(engine, "mia@example.org", "old@example.org")


class MemoryKeyring(KeyringBackend):
    """A credential store that keeps its entries in this process, for the test's duration."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)
