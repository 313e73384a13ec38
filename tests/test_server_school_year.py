"""Coverage, activation emails, letters and the year end through the district server: with
PORTAL_SERVER_URL set, `portal coverage`, `portal activation send`, `portal letters`, `portal
lifecycle year-end` and the ribbon's Coverage, Send Activation, Letters and Year End print,
write and save what they do in local mode; a clerk of school 101 sees, emails and writes to
only school 101, and is refused the year end. A real `portal serve` on each database."""

import re
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2
import pytest
from factories import USER_HEADERS, input_table
from helpers import CliResult, read_log, run_cli
from scope_district import TOM, Town, build
from served import Server, counts, empty, staff_token
from sqlalchemy import Engine, select
from test_excel_school_year import RIGHT, TYPO, USERS, attached, district, leavers, logons
from test_server_client import client_mode, local_mode, log_without_batch
from xlwings_double import FakeBook

from addin.excel import entry
from addin.excel.workbook import ExcelWorkbook
from backend.database.models import Batch, OutboxMessage
from backend.imports.users import import_users
from backend.staff.identity import SCHOOL_STAFF, rotate_token

Capsys = pytest.CaptureFixture[str]
WHERE = ("local", "server")


pytestmark = pytest.mark.usefixtures("store")


def town(db: Engine) -> Town:
    """Schools 101 and 201 (``scope_district``), from an empty database."""
    empty(db)
    return build(db)


def mode(where: str, server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode, or client mode with a district admin's token."""
    if where == "local":
        local_mode(monkeypatch)
    else:
        client_mode(monkeypatch, server.base, staff_token(db))


def unnumbered(text: str) -> str:
    """Output less the numbers of the runs themselves."""
    return re.sub(r"\b([Bb]atch) \d+", r"\1 N", text)


def said(result: CliResult, tmp_path: Path) -> tuple[int, str, str]:
    return result.code, unnumbered(result.stdout).replace(str(tmp_path), "HERE"), result.stderr


def sheets(path: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values, less row 2 (when the workbook was made)."""
    book = openpyxl.load_workbook(path)
    return {
        name: [row for i, row in enumerate(book[name].values) if i != 1] for name in book.sheetnames
    }


def same_three_runs(shown: dict[str, list[tuple[int, str, str]]], tmp_path: Path) -> None:
    """The server's three runs said what the local ones said (less the files' names), each
    succeeded, and each log ``WHERE-STEP.xlsx`` holds the same rows."""
    assert [
        (code, text.replace("server-", "local-"), error) for code, text, error in shown["server"]
    ] == shown["local"]
    assert [code for code, _, _ in shown["server"]] == [0, 0, 0]
    for step in range(3):
        local, remote = (tmp_path / f"{where}-{step}.xlsx" for where in WHERE)
        assert log_without_batch(remote) == log_without_batch(local)


def outbox(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.to_address, OutboxMessage.subject, OutboxMessage.status)
        )
        return sorted(tuple(row) for row in rows)


def last_batch(db: Engine) -> Any:
    with db.connect() as connection:
        return connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()


# --- The terminal --------------------------------------------------------------------------


def test_portal_coverage_through_the_server_prints_and_writes_what_local_mode_does(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    town(db)
    shown: dict[str, list[tuple[int, str, str]]] = {}
    for where in WHERE:
        mode(where, server, db, monkeypatch)
        shown[where] = [
            said(run_cli(capsys, "--db", server.database_url, "coverage", *more), tmp_path)
            for more in (
                [],
                ["--out", str(tmp_path / f"{where}.xlsx")],
                ["--school", "101", "--out", str(tmp_path / f"{where}-101.xlsx")],
                ["--school", "999"],
            )
        ]
    assert [
        (code, text.replace("server", "local"), error) for code, text, error in shown["server"]
    ] == shown["local"]
    assert [code for code, _, _ in shown["server"]] == [0, 0, 0, 2]
    assert "There is no school with code '999'" in shown["server"][3][2]
    assert "│ 201" in shown["server"][0][1]
    for name in ("", "-101"):
        ours = sheets(tmp_path / f"server{name}.xlsx")
        assert ours == sheets(tmp_path / f"local{name}.xlsx")
    assert list(ours) == ["Summary", "School 101", "Without account"]


def test_a_school_clerk_sees_the_coverage_of_their_schools_only(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    clerk = town(db).clerk
    client_mode(monkeypatch, server.base, rotate_token(db, clerk.email))
    theirs = run_cli(capsys, "coverage", "--out", str(tmp_path / "clerk.xlsx"))
    assert theirs.code == 0, theirs.stderr
    assert "│ 101" in theirs.stdout and "201" not in theirs.stdout
    assert list(sheets(tmp_path / "clerk.xlsx")) == ["Summary", "School 101", "Without account"]
    refused = run_cli(capsys, "coverage", "--school", "201")
    assert refused.code == 2
    assert refused.stderr.strip() == (
        "Error: There is no school with code '201'; see the Schools sheet of the roster"
    )


def test_portal_activation_send_through_the_server_queues_what_local_mode_does(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    shown: dict[str, list[tuple[int, str, str]]] = {}
    queued: dict[str, list[tuple[Any, ...]]] = {}
    for where in WHERE:
        town(db)
        mode(where, server, db, monkeypatch)
        shown[where] = []
        for more in (["--school", "101"], ["--school", "101", "--apply"], ["--logon", TOM]):
            out = tmp_path / f"{where}-{len(shown[where])}.xlsx"
            ran = run_cli(capsys, "--db", server.database_url, "activation", "send", *more,
                          "--out", str(out))  # fmt: skip
            shown[where].append(said(ran, tmp_path))
        queued[where] = outbox(db)
    same_three_runs(shown, tmp_path)
    assert queued["server"] == queued["local"]
    assert {to for to, _, _ in queued["server"]} == {"mia@example.org", "ann@example.org"}
    assert last_batch(db).staff_id is not None  # the server's


def test_a_school_clerk_sends_activation_emails_for_their_school_only(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    clerk = town(db).clerk
    client_mode(monkeypatch, server.base, rotate_token(db, clerk.email))
    sent = run_cli(capsys, "activation", "send", "--not-activated", "--apply",
                   "--out", str(tmp_path / "sent.xlsx"))  # fmt: skip
    assert sent.code in (0, 1), sent.stderr
    queued = {to for to, _, _ in outbox(db)}
    assert queued >= {"mia@example.org", "ann@example.org"} and TOM not in queued
    assert TOM not in sent.stdout  # an account of school 201's students only
    before = counts(db)
    theirs = run_cli(capsys, "activation", "send", "--school", "201", "--apply",
                     "--out", str(tmp_path / "theirs.xlsx"))  # fmt: skip
    assert theirs.code == 2 and len(theirs.stderr.strip().splitlines()) == 1
    assert "201" in theirs.stderr
    assert counts(db) == before and not (tmp_path / "theirs.xlsx").exists()


def test_portal_year_end_through_the_server_saves_what_local_mode_does(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    shown: dict[str, list[tuple[int, str, str]]] = {}
    saved: dict[str, Any] = {}
    for where in WHERE:
        empty(db)
        leavers(db)
        mode(where, server, db, monkeypatch)
        shown[where] = []
        for more in ([], ["--apply"], ["--apply"]):
            out = tmp_path / f"{where}-{len(shown[where])}.xlsx"
            ran = run_cli(capsys, "--db", server.database_url, "lifecycle", "year-end", *more,
                          "--out", str(out))  # fmt: skip
            shown[where].append(said(ran, tmp_path))
        saved[where] = (attached(db), logons(db))
    same_three_runs(shown, tmp_path)
    assert saved["server"] == saved["local"]
    assert saved["server"][0] == [("mia@example.org", "001")]
    assert saved["server"][1]["cara@example.org"] == "DISABLED"
    assert last_batch(db).staff_id is not None


def test_the_year_end_is_refused_to_a_school_clerk_in_one_line(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    empty(db)
    leavers(db)
    token = staff_token(db, role=SCHOOL_STAFF, school_codes=["101"])
    client_mode(monkeypatch, server.base, token)
    before = counts(db)
    refused = run_cli(capsys, "lifecycle", "year-end", "--apply",
                      "--out", str(tmp_path / "year-end.xlsx"))  # fmt: skip
    assert refused.code == 2
    assert refused.stderr.strip() == (
        "Error: The year end covers every school: only a district admin runs it; ask the "
        "district's portal administrator"
    )
    assert counts(db) == before and not (tmp_path / "year-end.xlsx").exists()


def letters_of(path: Path) -> tuple[list[list[Any]], list[Any]]:
    """The mail-merge sheet less its codes (each run makes new ones), and the codes."""
    rows = [list(row) for row in openpyxl.load_workbook(path)["Letters"].values]
    code = rows[0].index("ACTIVATION_CODE")
    return [row[:code] + row[code + 1 :] for row in rows], [row[code] for row in rows[1:]]


def pages(path: Path) -> int:
    return len(pypdfium2.PdfDocument(path))


def saved_rows(db: Engine) -> dict[str, int]:
    """Every table's row count but the staff's (the server's staff member is no row of a run)."""
    return {name: n for name, n in counts(db).items() if not name.startswith("staff")}


def test_portal_letters_through_the_server_writes_the_files_local_mode_writes(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    shown: dict[str, list[tuple[int, str, str]]] = {}
    saved: dict[str, dict[str, int]] = {}
    for where in WHERE:
        town(db)
        mode(where, server, db, monkeypatch)
        book, pdf = tmp_path / f"{where}.xlsx", tmp_path / f"{where}.pdf"
        shown[where] = [
            said(run_cli(capsys, "--db", server.database_url, "letters", *more), tmp_path)
            for more in (
                ["--school", "101", "--out", str(tmp_path / f"{where}-simulation.xlsx")],
                ["--school", "101", "--apply", "--out", str(book), "--pdf", str(pdf)],
            )
        ]
        saved[where] = saved_rows(db)
    assert [
        (code, text.replace("server", "local"), error) for code, text, error in shown["server"]
    ] == shown["local"]
    assert [code for code, _, _ in shown["server"]] == [0, 0]
    assert "2 letters to print" in shown["server"][1][1]
    for name in ("-simulation.xlsx", ".xlsx"):
        local, remote = (tmp_path / f"{where}{name}" for where in WHERE)
        assert log_without_batch(remote) == log_without_batch(local)
    ours, codes = letters_of(tmp_path / "server.xlsx")
    assert ours == letters_of(tmp_path / "local.xlsx")[0]
    assert [row[0] for row in ours[1:]] == ["ann@example.org", "mia@example.org"]
    assert len(set(codes)) == 2 and all(codes)
    assert pages(tmp_path / "server.pdf") == pages(tmp_path / "local.pdf") == 2
    assert saved["server"] == saved["local"]
    assert last_batch(db).staff_id is not None


def test_a_school_clerk_writes_letters_for_their_school_only(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    clerk = town(db).clerk
    client_mode(monkeypatch, server.base, rotate_token(db, clerk.email))
    book, pdf = tmp_path / "letters.xlsx", tmp_path / "letters.pdf"
    made = run_cli(capsys, "letters", "--not-activated", "--apply", "--out", str(book),
                   "--pdf", str(pdf))  # fmt: skip
    assert made.code == 0, made.stderr
    logons = [row[0] for row in letters_of(book)[0][1:]]
    assert {"mia@example.org", "ann@example.org"} <= set(logons) and TOM not in logons
    before = saved_rows(db)
    theirs = run_cli(capsys, "letters", "--school", "201", "--apply", "--out",
                     str(tmp_path / "theirs.xlsx"), "--pdf", str(tmp_path / "t.pdf"))  # fmt: skip
    assert theirs.code == 2 and len(theirs.stderr.strip().splitlines()) == 1
    assert saved_rows(db) == before and not (tmp_path / "theirs.xlsx").exists()


def test_a_letter_the_font_cannot_print_warns_through_the_server_too(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    users = input_table(USER_HEADERS, [["fay.wong", "芳", "王", "STUDENT"]])
    assert import_users(db, users, apply=True).counts["added"] == 1
    client_mode(monkeypatch, server.base, staff_token(db))
    book = tmp_path / "letters.xlsx"
    made = run_cli(capsys, "letters", "--logon", "fay.wong", "--apply", "--out", str(book),
                   "--pdf", str(tmp_path / "letters.pdf"))  # fmt: skip
    assert made.code == 0, made.stderr
    [row] = read_log(book)[1]
    assert row.key == "fay.wong" and row.action == "added"
    assert row.warning is not None and row.warning.startswith(
        "The letter's font cannot print 芳 王"
    )
    assert pages(tmp_path / "letters.pdf") == 1


# --- The ribbon ----------------------------------------------------------------------------


def ribbon(where: str, server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine | Any:
    """What the buttons run on: this database, or (as ``entry.backend`` finds it) the server."""
    mode(where, server, db, monkeypatch)
    return db if where == "local" else entry.backend()


def book_with(selection: tuple[str, str], answers: list[str], sheet: list[list[Any]]) -> FakeBook:
    return FakeBook(
        "users.xlsx",
        {"Users": sheet},
        {"PortalTemplate": '="users"'},
        answers=answers,
        selection=selection,
    )


def messages(book: FakeBook, tmp_path: Path) -> list[str]:
    return [unnumbered(prompt).replace(str(tmp_path), "HERE") for prompt, _ in book.app.alerts]


def sheet_values(book: FakeBook, name: str) -> list[list[Any]]:
    return [
        row
        for row in book.sheets[name].values()
        if not row or row[0] not in ("Batch", "Finished (UTC)")
    ]


def test_the_coverage_button_through_the_server_opens_the_same_workbook(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    district(db, [[TYPO, "001", "Father"]])
    books: dict[str, str] = {}
    told: dict[str, list[str]] = {}
    for where in WHERE:
        backend = ribbon(where, server, db, monkeypatch)
        folder = tmp_path / where
        monkeypatch.setattr("addin.excel.workbook.documents_folder", lambda f=folder: f)
        book = book_with(("Users", "A1"), [], USERS)
        books[where] = entry.run_action("coverage", ExcelWorkbook(book, open_book=str), backend)
        told[where] = [prompt.replace(books[where], "WHERE") for prompt, _ in book.app.alerts]
    assert told["server"] == told["local"]
    assert "0 of 2 active students have a working guardian account" in told["server"][0]
    assert Path(books["server"]).parent == tmp_path / "server"
    assert sheets(books["server"]) == sheets(books["local"])


def test_send_activation_and_year_end_buttons_through_the_server_do_what_local_mode_does(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected = [["LOGONID"], [TYPO], [RIGHT], ["nobody@example.org"]]
    told: dict[str, list[str]] = {}
    logs: dict[str, list[list[list[Any]]]] = {}
    saved: dict[str, Any] = {}
    for where in WHERE:
        empty(db)
        district(db, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
        backend = ribbon(where, server, db, monkeypatch)
        emails = book_with(("Users", "A1:A4"), ["yes"], selected)
        assert entry.run_action("activation.send", ExcelWorkbook(emails), backend).mode == "apply"
        empty(db)
        leavers(db)
        backend = ribbon(where, server, db, monkeypatch)  # emptied: a new staff member
        year = book_with(("Users", "A1"), ["yes"], USERS)
        assert entry.run_action("lifecycle.year-end", ExcelWorkbook(year), backend) is not None
        told[where] = messages(emails, tmp_path) + messages(year, tmp_path)
        logs[where] = [sheet_values(emails, "Activation"), sheet_values(year, "Year End")]
        saved[where] = (attached(db), logons(db))
    assert told["server"] == told["local"]
    assert told["server"][1].startswith("2 activation emails queued (batch N)")
    assert told["server"][-1].startswith("Year end saved (batch N)")
    assert logs["server"] == logs["local"]
    assert saved["server"] == saved["local"]
    assert saved["server"][1]["cara@example.org"] == "DISABLED"


def test_the_year_end_button_of_a_school_clerk_is_one_message_and_saves_nothing(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    leavers(db)
    client_mode(monkeypatch, server.base, staff_token(db, role=SCHOOL_STAFF, school_codes=["101"]))
    before = counts(db)
    book = book_with(("Users", "A1"), ["yes"], USERS)
    assert entry.run_on_book("lifecycle.year-end", book) is None
    assert [prompt for prompt, _ in book.app.alerts] == [
        "The year end covers every school: only a district admin runs it; ask the district's "
        "portal administrator"
    ]
    assert [s.name for s in book.sheet_list] == ["Users"]
    assert counts(db) == before


def test_the_letters_button_through_the_server_writes_what_local_mode_writes(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected = [["LOGONID"], [TYPO], [RIGHT], ["nobody@example.org"]]
    told: dict[str, list[str]] = {}
    logs: dict[str, list[list[Any]]] = {}
    books: dict[str, str] = {}
    for where in WHERE:
        empty(db)
        district(db, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
        backend = ribbon(where, server, db, monkeypatch)
        folder = tmp_path / where
        monkeypatch.setattr("addin.excel.workbook.documents_folder", lambda f=folder: f)
        opened: list[str] = []
        book = book_with(("Users", "A1:A4"), ["yes"], selected)
        report = entry.run_action("letters", ExcelWorkbook(book, open_book=opened.append), backend)
        assert report is not None and report.mode == "apply", book.app.alerts
        [books[where]] = opened
        stem = books[where].removesuffix(".xlsx")
        told[where] = [unnumbered(prompt.replace(stem, "WHERE")) for prompt, _ in book.app.alerts]
        logs[where] = sheet_values(book, "Letters Log")
    assert told["server"] == told["local"]
    assert told["server"][-1].startswith("2 letters made (batch N). Print them from WHERE.pdf")
    assert logs["server"] == logs["local"]
    assert letters_of(Path(books["server"]))[0] == letters_of(Path(books["local"]))[0]
    assert pages(Path(books["server"]).with_suffix(".pdf")) == 2
