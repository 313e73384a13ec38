"""Client mode: `portal import` and `portal autocreate` with PORTAL_SERVER_URL run on the
district server and write the same Import Log as in local mode; `portal login` keeps the token
in the credential store."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from factories import LINK_HEADERS
from helpers import CliResult, read_log, run_cli
from keyring.backend import KeyringBackend
from served import (
    Server,
    emptied_database,
    free_port,
    module_server,
    seed,
    staff_token,
    typed_workbook,
)
from sqlalchemy import Engine, select

from addin.remote import KEYRING_SERVICE
from backend.database.models import Batch
from backend.settings import get_settings
from backend.staff.identity import NOT_SIGNED_IN, add_staff

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Server]:
    yield from module_server(request, tmp_path_factory, sqlite_template)


@pytest.fixture
def db(server: Server) -> Iterator[Engine]:
    yield from emptied_database(server)


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


@pytest.fixture
def store() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(before)


def client_mode(monkeypatch: pytest.MonkeyPatch, url: str, token: str | None) -> None:
    monkeypatch.setenv("PORTAL_SERVER_URL", url)
    if token is None:
        monkeypatch.delenv("PORTAL_SERVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("PORTAL_SERVER_TOKEN", token)
    get_settings.cache_clear()


def local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_SERVER_URL", raising=False)
    monkeypatch.delenv("PORTAL_SERVER_TOKEN", raising=False)
    get_settings.cache_clear()


def log_without_batch(path: Path) -> tuple[dict[str, Any], list[Any]]:
    summary, rows = read_log(path)
    del summary["Batch"], summary["Finished (UTC)"]
    return summary, rows


def without_batch_number(result: CliResult) -> str:
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("Batch "))


LINKS = (
    [*LINK_HEADERS, "ACTION"],
    [
        ["mia@example.org", "00123", "Mother", "ADD"],
        ["old@example.org", 456, None, None],
        ["nobody@example.org", "00123", "Father", None],
        ["mia@example.org", "99999", "Mother", None],
    ],
)


@pytest.mark.parametrize("apply", [[], ["--apply"]], ids=["simulation", "apply"])
def test_portal_import_writes_the_same_log_through_the_server(
    server: Server,
    db: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
    apply: list[str],
) -> None:
    path = typed_workbook(tmp_path / "links.xlsx", {"Links": LINKS})
    results: dict[str, CliResult] = {}
    for where in ("local", "server"):
        seed(db)
        if where == "local":
            local_mode(monkeypatch)
        else:
            client_mode(monkeypatch, server.base, staff_token(db))
        out = tmp_path / f"{where}.xlsx"
        results[where] = run_cli(
            capsys, "--db", server.database_url, "import", "links", str(path), *apply,
            "--out", str(out),
        )  # fmt: skip
    local, remote = results["local"], results["server"]
    assert remote.code == local.code == 1  # some rows are errors
    assert without_batch_number(remote).replace("server.xlsx", "local.xlsx") == (
        without_batch_number(local)
    )
    assert log_without_batch(tmp_path / "server.xlsx") == log_without_batch(tmp_path / "local.xlsx")
    with db.connect() as connection:
        last = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert last.kind == "student-link import" and last.staff_id is not None  # the server's


def test_portal_autocreate_through_the_server(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    seed(db)
    client_mode(monkeypatch, server.base, staff_token(db))
    out = tmp_path / "autocreate.xlsx"
    result = run_cli(capsys, "autocreate", "--school", "101", "--out", str(out))
    assert result.code == 0, result.stderr
    summary, rows = read_log(out)
    assert summary["Run"].startswith("AutoCreate (schools: ['101']")
    assert {row.key for row in rows} >= {"00123 / C2"}


def test_login_keeps_the_token_in_the_credential_store(
    server: Server,
    db: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
    store: MemoryKeyring,
) -> None:
    seed(db)
    identity, token = add_staff(db, "clerk@district.example.org", role="district-admin")
    client_mode(monkeypatch, server.base, None)

    def login(typed: str) -> CliResult:
        monkeypatch.setattr("sys.stdin", io.StringIO(typed + "\n"))
        return run_cli(capsys, "login", "--token-stdin")

    path = typed_workbook(tmp_path / "links.xlsx", {"Links": LINKS})
    unsigned = run_cli(capsys, "import", "links", str(path), "--out", str(tmp_path / "a.xlsx"))
    assert unsigned.code == 2 and "run `portal login`" in unsigned.stderr
    wrong = login("ppa_" + "C" * 43)
    assert wrong.code == 2 and NOT_SIGNED_IN in " ".join(wrong.stderr.split())
    assert store.entries == {}
    right = login(token)
    assert right.code == 0, right.stderr
    assert f"Signed in to {server.base} as {identity.email}" in right.stdout
    assert store.entries == {(KEYRING_SERVICE, server.base): token}
    imported = run_cli(capsys, "import", "links", str(path), "--out", str(tmp_path / "b.xlsx"))
    assert imported.code == 1 and "SIMULATION" in imported.stdout
    with db.connect() as connection:
        newest = connection.execute(select(Batch.actor).order_by(Batch.id.desc())).scalars()
        assert newest.first() == identity.email


def test_client_mode_refusals_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    path = typed_workbook(tmp_path / "links.xlsx", {"Links": LINKS})
    cases = [
        ("http://portal.district.example.org", "must begin with https://"),
        (f"http://127.0.0.1:{free_port()}", "did not answer"),
    ]
    for url, words in cases:
        client_mode(monkeypatch, url, "ppa_" + "D" * 43)
        result = run_cli(capsys, "import", "links", str(path))
        assert result.code == 2 and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "links.simulation.xlsx").exists()
