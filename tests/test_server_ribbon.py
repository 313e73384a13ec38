"""The ribbon through the district server: with PORTAL_SERVER_URL set (in the environment or
the add-in's settings file), each import button sends the rows it read to a real `portal serve`
and writes the same Import Log in the workbook as in local mode, from the same database state."""

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import xlwings as xw
from factories import LINK_HEADERS, SMALL_DISTRICT, USER_HEADERS
from served import (
    Server,
    counts,
    free_port,
    seed,
    staff_token,
)
from sqlalchemy import Engine, select
from test_server_client import client_mode, local_mode
from xlwings_double import FakeBook

from addin.excel import entry
from addin.excel.settings_file import load_addin_settings
from backend.database.models import Batch, PortalUser, StudentLink
from backend.settings import get_settings

pytestmark = pytest.mark.usefixtures("store")


def template(kind: str) -> dict[str, str]:
    return {"PortalTemplate": f'="{kind}"'}


def users_book() -> FakeBook:
    rows: list[list[Any]] = [
        ["ann@example.org", "Ann", "Lee", "GUARDIAN"],
        ["MIA@example.org", "Mia", "Lee", "guardian"],
        ["not-an-email", "Bo", "Lee", "GUARDIAN"],
        ["cy@example.org", "Cy", "Lee", "PARENT"],
    ]
    return FakeBook("users.xlsx", {"Users": [USER_HEADERS, *rows]}, template("users"))


def links_book() -> FakeBook:
    rows: list[list[Any]] = [
        ["mia@example.org", "00123", "Mother", "ADD"],
        ["old@example.org", 456, None, None],
        ["nobody@example.org", "00123", "Father", None],
        ["mia@example.org", "99999", "Mother", None],
    ]
    return FakeBook("links.xlsx", {"Links": [[*LINK_HEADERS, "ACTION"], *rows]}, template("links"))


def roster_book() -> FakeBook:
    sheets = {
        name: [list(headers), *[list(row) for row in rows]]
        for name, (headers, rows) in SMALL_DISTRICT.sheets().items()
    }
    sheets["Students"].append(["00777", "Zed", "Ng", 4, "301", None])
    return FakeBook("roster.xlsx", sheets, template("roster"))


def autocreate_book() -> FakeBook:
    options = [
        ["Option", "Value", "Description"],
        ["SIMULATION", "Y", None],
        ["SCHOOLS", "101", None],
    ]
    sheets = {"Students": [["STUDENT_ID"]], "Options": options}
    return FakeBook("autocreate.xlsx", sheets, template("autocreate"))


BOOKS: dict[str, Callable[[], FakeBook]] = {
    "users": users_book,
    "links": links_book,
    "roster": roster_book,
    "autocreate": autocreate_book,
}
RUN_LINES = ("Batch", "Finished (UTC)")
"""The summary lines that name the run itself: its number and time differ between two runs."""


def log_of(book: FakeBook, sheet: str = "Import Log") -> list[list[Any]]:
    return [row for row in book.sheets[sheet].values() if not row or row[0] not in RUN_LINES]


def press(book: FakeBook, action: str, open_engine: Callable[[], Any] = entry.backend) -> Any:
    """A ribbon button on the book: simulate, or apply after its simulation."""
    if action.endswith(".apply") and "Options" in [s.name for s in book.sheet_list]:
        book.sheets["Options"].cells[(2, 2)] = "N"  # staff flip SIMULATION to apply
    return entry.run_on_book(action, book, open_engine)


def database_rows(db: Engine) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    with db.connect() as connection:
        links = connection.execute(
            select(PortalUser.logon_id, PortalUser.first_name, StudentLink.relationship)
            .outerjoin(StudentLink, StudentLink.user_id == PortalUser.id)
            .order_by(PortalUser.logon_id, StudentLink.relationship)
        )
        rows = [tuple(row) for row in links]
    staff = ("staff", "staff_tokens")  # the server's staff member is no row of the run
    return {name: n for name, n in counts(db).items() if name not in staff}, rows


@pytest.mark.parametrize("kind", list(BOOKS))
def test_the_ribbon_writes_the_same_log_through_the_server(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    logs: dict[str, list[list[list[Any]]]] = {}
    saved: dict[str, Any] = {}
    for where in ("local", "server"):
        seed(db)
        book = BOOKS[kind]()
        if where == "local":
            local_mode(monkeypatch)
            run = partial(press, book, open_engine=lambda: db)
        else:
            client_mode(monkeypatch, server.base, staff_token(db))
            run = partial(press, book)
        simulated = run(f"{kind}.simulate")
        assert simulated is not None, book.app.alerts
        logs[where] = [log_of(book)]
        applied = run(f"{kind}.apply")
        assert applied is not None and applied.mode == "apply", book.app.alerts
        logs[where].append(log_of(book))
        saved[where] = database_rows(db)
        assert book.app.alerts[-1][0].startswith("Imported: ")
    assert logs["server"] == logs["local"]
    assert saved["server"] == saved["local"]
    with db.connect() as connection:
        newest = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert newest.mode == "apply" and newest.staff_id is not None  # run by the server's staff


def test_look_up_and_undo_through_the_server(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    cards = {}
    for where, opened in (("local", lambda: db), ("server", entry.backend)):
        if where == "local":
            local_mode(monkeypatch)
        else:
            client_mode(monkeypatch, server.base, staff_token(db))
        book = FakeBook("ask.xlsx", {"Sheet1": [["00123"]]}, selection=("Sheet1", "A1"))
        assert entry.run_on_book("lookup", book, opened) is not None, book.app.alerts
        cards[where] = book.sheets["Lookup"].values()
    assert cards["server"] == cards["local"]
    assert cards["server"][0][0] == "Contact card of 00123 Ava Lee"
    book = links_book()
    press(book, "links.simulate")
    press(book, "links.apply")
    added = database_rows(db)
    book.sheets["Import Log"].activate()
    book._selection = ("Import Log", "A4")  # the log's Batch line
    book.app._answers = ["yes"]
    undone = entry.run_on_book("batches.undo", book, entry.backend)
    assert undone is not None and undone.mode == "apply", book.app.alerts
    assert book.app.alerts[-1][0].startswith("Batch ")
    assert database_rows(db)[1] != added[1]
    with db.connect() as connection:
        assert connection.execute(select(Batch.kind).order_by(Batch.id.desc())).first() == ("undo",)


def test_without_a_token_or_a_server_the_ribbon_says_what_to_do(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    client_mode(monkeypatch, server.base, None)
    before = counts(db)
    book = users_book()
    assert press(book, "users.simulate") is None
    [(message, _)] = book.app.alerts
    assert message == (
        f"No staff token for the district server {server.base}: run `portal login` and paste "
        "the token the district's portal administrator gave you"
    )
    assert [s.name for s in book.sheet_list] == ["Users"]
    assert counts(db) == before
    client_mode(monkeypatch, f"http://127.0.0.1:{free_port()}", staff_token(db))
    assert press(book, "users.simulate") is None
    assert "did not answer" in book.app.alerts[-1][0]
    assert [s.name for s in book.sheet_list] == ["Users"]
    opened: list[str] = []
    monkeypatch.setattr(xw, "Book", opened.append)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert entry.run_on_book("template.new", book) is not None  # needs no token
    assert book.app.alerts[-1][0].startswith("New users workbook: ")
    assert [Path(path).parent for path in opened] == [tmp_path / "Documents" / "Parent Portal"]


def test_the_settings_file_names_the_server(
    server: Server, db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IT's settings file, as the add-in's Python reads it in Excel, carries PORTAL_SERVER_URL."""
    seed(db)
    conf = tmp_path / ".parentportal" / "parentportal.conf"
    conf.parent.mkdir()
    conf.write_bytes(f'"PORTAL_SERVER_URL","{server.base}"\r\n'.encode("cp1252"))
    client_mode(monkeypatch, server.base, staff_token(db))
    monkeypatch.delenv("PORTAL_SERVER_URL")  # restored (unset) after the test: the file sets it
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.setattr(
        entry, "load_addin_settings", partial(load_addin_settings, platform="win32", home=tmp_path)
    )
    get_settings.cache_clear()
    book = users_book()
    report = press(book, "users.simulate")
    assert report is not None, book.app.alerts
    with db.connect() as connection:
        newest = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert newest.id == report.batch_id and newest.staff_id is not None


def test_worksheet_functions_ask_the_server(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from addin.excel import functions

    seed(db)
    logons, students = ["mia@example.org", "nobody@example.org", ""], [["00123"], ["99999"]]

    def answers() -> tuple[Any, Any]:
        return functions.account_status([logons]), functions.student_logons(students)

    with monkeypatch.context() as local:
        local.setattr(functions, "backend", lambda: db)
        here = answers()
    client_mode(monkeypatch, server.base, staff_token(db))
    assert answers() == here
    assert here[0] == [["ACTIVE GUARDIAN account, 0 students", "no account", "no logon given"]]


def test_rename_and_merge_buttons_through_the_server(
    server: Server, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    client_mode(monkeypatch, server.base, staff_token(db))
    sheet = [["mia@example.org", "mia.lee@example.org"], ["old@example.org", "mia.lee@example.org"]]
    book = FakeBook("fix.xlsx", {"Fix": sheet}, selection=("Fix", "A1:B1"), answers=["yes"])
    renamed = entry.run_on_book("user.rename", book)
    assert renamed is not None and renamed.mode == "apply", book.app.alerts
    assert book.app.alerts[-1][0].startswith(
        "Renamed: the logon mia@example.org is now mia.lee@example.org"
    )
    book._selection = ("Fix", "A2:B2")
    book.app._answers = ["yes"]
    merged = entry.run_on_book("user.merge", book)
    assert merged is not None and merged.mode == "apply", book.app.alerts
    with db.connect() as connection:
        accounts = dict(connection.execute(select(PortalUser.logon_id, PortalUser.status)).all())
        runs = connection.execute(select(Batch.kind, Batch.staff_id).order_by(Batch.id)).all()
    assert accounts == {"mia.lee@example.org": "ACTIVE", "old@example.org": "DISABLED"}
    assert [kind for kind, staff in runs if staff is not None] == [
        "rename user",
        "rename user",
        "merge users",
        "merge users",
    ]
