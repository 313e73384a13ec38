"""Client mode on the terminal: with PORTAL_SERVER_URL, `portal import`, `autocreate`, the
single-account, card and batch commands run on the district server and print and write what
they do in local mode; the commands with no route refuse; `portal login` keeps the token in
the credential store."""

import io
import re
from pathlib import Path
from typing import Any

import pytest
from factories import LINK_HEADERS
from helpers import CliResult, read_log, run_cli
from served import (
    MemoryKeyring,
    Server,
    counts,
    free_port,
    seed,
    staff_token,
    typed_workbook,
)
from sqlalchemy import Engine, func, select

from addin.remote import KEYRING_SERVICE
from backend.database.models import Batch, PortalUser, Student, StudentLink
from backend.settings import get_settings
from backend.staff.identity import NOT_SIGNED_IN, add_staff

Capsys = pytest.CaptureFixture[str]


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


def same_text(result: CliResult) -> tuple[int, str, str]:
    """What a command printed, less what names the run itself (its batch number, its time)."""
    kept = [
        re.sub(r"\bbatch \d+", "batch N", line)
        for line in result.stdout.splitlines()
        if not line.startswith("Created ")
    ]
    return result.code, "\n".join(kept), result.stderr


def accounts_and_links(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        rows = connection.execute(
            select(
                PortalUser.logon_id, PortalUser.phone, Student.student_id, StudentLink.relationship
            )
            .outerjoin(StudentLink, StudentLink.user_id == PortalUser.id)
            .outerjoin(Student, Student.id == StudentLink.student_id)
            .order_by(PortalUser.logon_id, Student.student_id)
        )
        return [tuple(row) for row in rows]


ONE_AT_A_TIME = [
    ["user", "new", "pat@example.org", "--type", "guardian", "--last", "Lee", "--first", "Pat",
     "--student", "00123"],
    ["user", "new", "pat@example.org", "--type", "GUARDIAN", "--last", "Lee", "--first", "Pat"],
    ["user", "modify", "pat@example.org", "--phone", "5550100", "--attach", "456",
     "--relationship", "Father"],
    ["user", "modify", "pat@example.org", "--attach", "99999"],
    ["user", "show", "pat@example.org"],
    ["user", "show", "nobody@example.org"],
    ["student", "card", "00123"],
    ["student", "card", "99999"],
    ["student", "logons", "00123"],
    ["student", "logons", "99999"],
    ["contact", "create-account", "C2"],
    ["contact", "create-account", "C2", "--apply"],
    ["student", "card", "00123"],
    ["user", "rename", "pat@example.org", "pat.lee@example.org"],
    ["user", "rename", "pat@example.org", "pat.lee@example.org", "--apply"],
    ["user", "rename", "nobody@example.org", "x@example.org", "--apply"],
    ["user", "merge", "old@example.org", "into", "pat.lee@example.org", "--apply"],
]  # fmt: skip


def test_one_account_at_a_time_through_the_server(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    said: dict[str, list[tuple[int, str, str]]] = {}
    saved: dict[str, list[tuple[Any, ...]]] = {}
    for where in ("local", "server"):
        seed(db)
        if where == "local":
            local_mode(monkeypatch)
        else:
            client_mode(monkeypatch, server.base, staff_token(db))
        said[where] = [
            same_text(run_cli(capsys, "--db", server.database_url, *command))
            for command in ONE_AT_A_TIME
        ]
        saved[where] = accounts_and_links(db)
    assert said["server"] == said["local"]
    codes = [code for code, _, _ in said["server"]]
    assert codes == [0, 1, 0, 1, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 2, 0]
    assert "There is no student '99999'" in said["server"][9][2]
    assert ("pat.lee@example.org", "5550100", "456", "Father") in saved["server"]
    assert "Merged into pat.lee@example.org; disabled" in said["server"][-1][1]
    assert ("tom@example.org", None, "00123", "Father") in saved["server"]
    assert saved["server"] == saved["local"]
    with db.connect() as connection:
        kinds = connection.execute(select(Batch.staff_id).order_by(Batch.id.desc()).limit(3))
        assert None not in kinds.scalars().all()  # the server's staff member ran them


def test_batches_through_the_server(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    seed(db)
    before = accounts_and_links(db)
    client_mode(monkeypatch, server.base, staff_token(db))
    path = typed_workbook(tmp_path / "links.xlsx", {"Links": LINKS})
    applied = run_cli(capsys, "import", "links", str(path), "--apply", "--yes",
                      "--out", str(tmp_path / "applied.xlsx"))  # fmt: skip
    assert applied.code == 1  # some rows are errors
    with db.connect() as connection:
        batch = connection.execute(select(func.max(Batch.id))).scalar_one()
    assert accounts_and_links(db) != before
    asked = [["batches", "--limit", "5"], ["batches", str(batch)], ["batches", "999999"]]
    shown: dict[str, list[CliResult]] = {}
    for where in ("server", "local"):
        if where == "local":
            local_mode(monkeypatch)
        out = tmp_path / f"{where}-log.xlsx"
        shown[where] = [
            run_cli(capsys, "--db", server.database_url, *command)
            for command in [*asked, ["batches", str(batch), "--out", str(out)]]
        ]
    assert [(r.code, r.stdout, r.stderr) for r in shown["server"][:3]] == [
        (r.code, r.stdout, r.stderr) for r in shown["local"][:3]
    ]
    assert shown["server"][2].code == 2 and "999999" in shown["server"][2].stderr
    assert read_log(tmp_path / "server-log.xlsx") == read_log(tmp_path / "local-log.xlsx")
    assert read_log(tmp_path / "server-log.xlsx")[1] == read_log(tmp_path / "applied.xlsx")[1]
    client_mode(monkeypatch, server.base, staff_token(db))
    undone = run_cli(capsys, "batches", "undo", str(batch), "--apply")
    assert undone.code == 0, undone.stderr
    assert accounts_and_links(db) == before
    with db.connect() as connection:
        last = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert last.kind == "undo" and last.staff_id is not None


SERVER_ONLY = {
    "staff list": [],
    "outbox list": [],
    "templates email list": [],
}


def test_commands_without_a_route_refuse_in_client_mode(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    seed(db)
    monkeypatch.chdir(tmp_path)
    client_mode(monkeypatch, server.base, staff_token(db))
    before = counts(db)
    for command, arguments in SERVER_ONLY.items():
        result = run_cli(capsys, "--db", server.database_url, *command.split(), *arguments)
        assert result.code == 2, (command, result.stdout)
        assert result.stderr.strip() == (
            f"Error: `portal {command}` runs only on "
            "the district server's own computer, and this one works through the server "
            "(PORTAL_SERVER_URL is set): ask IT to run it there"
        )
    assert counts(db) == before
    assert list(tmp_path.iterdir()) == []


def test_portal_run_presses_the_ribbon_through_the_server(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """`portal run`, the ribbon's actions on a file: the same log in both modes."""
    path = typed_workbook(tmp_path / "links.xlsx", {"Links": LINKS})
    said: dict[str, list[tuple[int, str, str]]] = {}
    for where in ("local", "server"):
        seed(db)
        if where == "local":
            local_mode(monkeypatch)
        else:
            client_mode(monkeypatch, server.base, staff_token(db))
        said[where] = []
        for action in ("links.simulate", "links.apply"):
            out = str(tmp_path / f"{where}-{action}.xlsx")
            ran = run_cli(
                capsys, "--db", server.database_url, "run", action, str(path), "--out", out,
                "--yes",  # an apply of a file whose simulation log is elsewhere
            )  # fmt: skip
            said[where].append(same_text(ran))
    assert [code for code, _, _ in said["server"]] == [1, 1]  # some rows are errors
    assert [
        (code, text.replace("server-", "local-"), error) for code, text, error in said["server"]
    ] == said["local"]
    for action in ("links.simulate", "links.apply"):
        local, remote = (tmp_path / f"{where}-{action}.xlsx" for where in ("local", "server"))
        assert log_without_batch(remote) == log_without_batch(local)
    with db.connect() as connection:
        last = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert last.mode == "apply" and last.staff_id is not None


def test_doctor_checks_the_server_and_the_token_instead_of_a_database(
    server: Server,
    db: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
    store: MemoryKeyring,
) -> None:
    seed(db)
    identity, token = add_staff(db, "desk@district.example.org", role="district-admin")
    client_mode(monkeypatch, server.base, token)
    sound = run_cli(capsys, "--db", str(tmp_path / "no-database-here.sqlite"), "doctor")
    assert sound.code == 0, sound.stdout
    assert f"ok   District server: {server.base}, signed in as {identity.email}" in sound.stdout
    assert "Database" not in sound.stdout
    client_mode(monkeypatch, server.base, None)
    unsigned = run_cli(capsys, "doctor")
    assert unsigned.code == 1
    assert f"FAIL District server: {server.base}: no staff token" in unsigned.stdout
    assert "To fix: Run 'portal login'" in unsigned.stdout
    client_mode(monkeypatch, server.base, "ppa_" + "E" * 43)
    refused = run_cli(capsys, "doctor")
    assert refused.code == 1
    assert f"FAIL District server: {server.base}: " in refused.stdout
    assert not (tmp_path / "no-database-here.sqlite").exists()
