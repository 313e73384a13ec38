"""The ribbon's actions on a live book (through a checked xlwings double) and on a file agree."""

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import xlwings as xw
from helpers import read_log, run_cli, write_workbook
from sqlalchemy import Engine, create_engine, func, select, text
from xlwings_double import NOT_ON_A_DESK, PAIRS, TEST_ONLY, FakeBook, FakeSheet
from xlwings_engines import missing_in_engines

from addin.excel.entry import run_action
from addin.excel.functions import account_status, student_logons
from addin.excel.workbook import ExcelWorkbook, inert
from addin.workbooks.actions import ACTIONS, dispatch
from addin.workbooks.file import FileWorkbook
from addin.workbooks.result_sheet import ACTION_COLOURS
from addin.workbooks.school_year import SCHOOL_YEAR
from addin.xlam import RIBBON_ACTIONS
from backend.database.engine import make_engine
from backend.database.models import Batch
from backend.errors import HeaderError, InputError

USERS = [
    ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
    ["Example: jane.doe@example.org", "Jane", "Doe", "GUARDIAN"],
    ["ann@example.org", "Ann", "Lee", "GUARDIAN"],
    ["=1+2@school.org", "Formula", "Person", "GUARDIAN"],
    ["bad@@example.org", "Bad", "Row", "GUARDIAN"],
    ["00123", "Zoe", "Ng", "STUDENT"],
]
TEMPLATE = {"PortalTemplate": '="users"'}


def real(name: str) -> type:
    target: Any = xw
    for part in name.split("."):
        target = getattr(target, part)
    return target


def samples() -> dict[type, Any]:
    book = FakeBook("b.xlsx", {"Users": USERS}, TEMPLATE, selection=("Users", "A3"))
    sheet = book.sheets["Users"]
    cell = sheet.range("A1")
    return {
        type(book): book,
        FakeSheet: sheet,
        type(cell): cell,
        type(book.app): book.app,
        type(book.sheets): book.sheets,
        type(next(iter(book.names))): next(iter(book.names)),
        type(book.names): book.names,
        type(cell.font): cell.font,
        type(sheet.tables): sheet.tables,
        type(cell.conditional_formats): cell.conditional_formats,
        type(cell.columns): cell.columns,
    }


def test_the_double_only_has_what_xlwings_has() -> None:
    for double, instance in samples().items():
        target = real(PAIRS[double])
        names = {n for n in [*vars(double), *vars(instance)] if not n.startswith("_")}
        for name in names - TEST_ONLY:
            assert hasattr(target, name), f"xlwings {target.__name__} has no {name}"
            ours = getattr(double, name, None)
            if callable(ours) and not isinstance(ours, type):
                theirs = inspect.signature(getattr(target, name)).parameters
                for parameter in inspect.signature(ours).parameters:
                    assert parameter in theirs or "options" in theirs, (
                        f"{target.__name__}.{name} takes no '{parameter}'"
                    )


def test_the_double_only_has_what_the_desktop_engines_implement() -> None:
    """A member of xlwings' public classes that the Windows or macOS engine leaves out fails on
    a desk: the double has only members both engines implement, and raises for the others."""
    for double, instance in samples().items():
        public = PAIRS[double].split(".")[-1]
        names = {n for n in [*vars(double), *vars(instance)] if not n.startswith("_")}
        for name in names - TEST_ONLY - NOT_ON_A_DESK:
            assert missing_in_engines(public, name) == [], f"{public}.{name}"
    for name in NOT_ON_A_DESK:
        assert missing_in_engines("Sheet", name), f"the engines do implement Sheet.{name}"
        with pytest.raises(NotImplementedError):
            getattr(samples()[FakeSheet], name)


def file_and_book(tmp_path: Path, rows: list[list[Any]]) -> tuple[Path, FakeBook]:
    path = write_workbook(tmp_path / "users.xlsx", rows[0], rows[1:], names=TEMPLATE)
    return path, FakeBook("users.xlsx", {"Users": rows}, TEMPLATE)


@pytest.mark.parametrize(
    ("names", "rows", "read"),
    [
        (TEMPLATE, USERS[1:3], [3]),  # the template's example row
        ({}, USERS[1:3], [2, 3]),  # not a template: an ordinary row
        (TEMPLATE, [USERS[2], USERS[1]], [3, 2]),  # not where the example is: an error, first
    ],
    ids=["template example row", "no template", "below the example row"],
)
def test_only_a_templates_example_row_is_skipped(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: dict[str, str],
    rows: list[list[Any]],
    read: list[int],
) -> None:
    path = write_workbook(tmp_path / "users.xlsx", USERS[0], rows, names=names)
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    run_cli(capsys, "--db", url, "import", "users", str(path))
    _, log = read_log(tmp_path / "users.simulation.xlsx")
    assert [r.row for r in log] == read
    example = [r for r in log if str(r.key).startswith("Example:")]
    assert all(r.action == "error" and "not a valid email" in r.reason for r in example)


def log_rows(values: list[list[Any]]) -> list[list[Any]]:
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    return [row[:5] for row in values[header + 1 :] if any(v is not None for v in row)]


RULE = re.compile(r'=INDIRECT\("([A-Z]+)"&ROW\(\)\)="(\w+)"')
RELATIVE_REFERENCE = re.compile(r"(?<![$A-Z])[A-Z]{1,3}\$?\d+|\$[A-Z]{1,3}(?!\$)\d+")


def row_fills(sheet: FakeSheet) -> dict[int, str]:
    """The fill each row of the sheet gets from its colour rules, evaluated as Excel would
    whichever cell is active: a rule may not depend on the active cell (no relative
    reference outside its strings), and it is checked on every row of the range it covers."""
    fills: dict[int, str] = {}
    for (top, _left, bottom, _right), formula, colour in sheet.rules:
        outside_strings = re.sub(r'"[^"]*"', '""', formula)
        assert not RELATIVE_REFERENCE.search(outside_strings), formula
        match = RULE.fullmatch(formula)
        assert match, f"a rule of an unknown form: {formula}"
        column = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(match[1])))
        for row in range(top, bottom + 1):
            if sheet.cells.get((row, column)) == match[2]:
                assert row not in fills, f"two rules colour row {row}"
                fills[row] = colour.lstrip("#")
    return fills


def excel_actions(sheet: FakeSheet) -> dict[int, str]:
    """The sheet row number of each log row, and its action."""
    values = sheet.values()
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    return {i + 1: row[2] for i, row in enumerate(values) if i > header and any(row)}


def test_excel_and_file_give_the_same_log(tmp_path: Path, database_url: str) -> None:
    path, book = file_and_book(tmp_path, USERS)
    engine = make_engine(database_url)
    with FileWorkbook(path, out=tmp_path / "file-log.xlsx") as workbook:
        file_report = dispatch("users.simulate", workbook, engine)
    excel_report = dispatch("users.simulate", ExcelWorkbook(book), engine)
    assert [(r.row, r.key, r.action, r.reason) for r in file_report.results] == [
        (r.row, r.key, r.action, r.reason) for r in excel_report.results
    ]
    _, from_file = read_log(tmp_path / "file-log.xlsx")
    from_excel = log_rows(book.sheets["Import Log"].values())
    assert [[r.row, r.key, r.action, r.changes, r.reason] for r in from_file] == from_excel
    assert [row[1] for row in from_excel] == [
        "bad@@example.org",  # the row in error comes first
        "ann@example.org",
        "=1+2@school.org",
        "00123",
    ]  # no example row
    log = book.sheets["Import Log"]
    assert log.formats  # the table is formatted as text, so typed text stays text
    assert len(log.rules) == 5 and log.tables_added
    assert row_fills(log) == {row: ACTION_COLOURS[a] for row, a in excel_actions(log).items()}
    assert book.app.alerts[-1][0].startswith("Simulation (nothing saved): 3 added")
    engine.dispose()


def test_the_cli_gives_the_same_log_as_excel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, book = file_and_book(tmp_path, USERS)
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert run_cli(capsys, "--db", url, "import", "users", str(path)).code == 1
    _, from_cli = read_log(tmp_path / "users.simulation.xlsx")
    engine = make_engine(url)
    dispatch("users.simulate", ExcelWorkbook(book), engine)
    engine.dispose()
    assert [[r.row, r.key, r.action, r.changes, r.reason] for r in from_cli] == log_rows(
        book.sheets["Import Log"].values()
    )


def test_calls_to_excel_do_not_grow_with_rows(tmp_path: Path, engine: Engine) -> None:
    def calls(rows: int) -> list[str]:
        sheet = [USERS[0]] + [[f"p{n}@example.org", "A", "B", "GUARDIAN"] for n in range(rows)]
        book = FakeBook("users.xlsx", {"Users": sheet}, TEMPLATE)
        dispatch("users.simulate", ExcelWorkbook(book), engine)
        return book.calls.log

    assert calls(10) == calls(10_000)


def test_apply_refuses_a_sheet_changed_since_its_simulation(tmp_path: Path, engine: Engine) -> None:
    book = FakeBook("users.xlsx", {"Users": USERS}, TEMPLATE, answers=["no", "yes"])
    workbook = ExcelWorkbook(book)
    dispatch("users.simulate", workbook, engine)
    book.sheets["Users"].cells[(3, 2)] = "Annie"  # edited after the simulation
    assert run_action("users.apply", workbook, engine) is None  # the user said no
    assert "has changed since its last simulation" in book.app.alerts[-1][0]
    assert accounts(engine) == 0
    report = run_action("users.apply", workbook, engine)  # the user said yes
    assert report.counts["added"] == 3 and accounts(engine) == 3
    again = dispatch("users.simulate", workbook, engine)
    assert {r.action for r in again.results} == {"skipped", "error"}
    unchanged = run_action("users.apply", workbook, engine)  # simulated as is: no question
    assert unchanged.counts["added"] == 0 and book.app._answers == []


def accounts(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one()


def test_header_problems_name_each_header_and_write_nothing(engine: Engine) -> None:
    rows = [["LOGONID", "FRIST_NAME", "LAST_NAME", "LOGONID"], ["a@example.org", "A", "B", "x"]]
    book = FakeBook("users.xlsx", {"Users": rows}, TEMPLATE)
    with pytest.raises(HeaderError) as caught:
        dispatch("users.check", ExcelWorkbook(book), engine)
    message = str(caught.value)
    assert "missing required columns FIRST_NAME, USER_TYPE" in message
    assert "unknown column 'FRIST_NAME'" in message and "LOGONID appears twice" in message
    assert run_action("users.apply", ExcelWorkbook(book), engine) is None
    assert "Import Log" not in [s.name for s in book.sheets]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM batches")).scalar_one() == 0


def test_every_ribbon_action_runs(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from addin.workbooks.kinds import KINDS

    monkeypatch.setattr("addin.excel.workbook.documents_folder", lambda: tmp_path / "docs")
    assert set(RIBBON_ACTIONS) <= set(ACTIONS) | set(SCHOOL_YEAR)
    sheets = {
        "users": {"Users": USERS},
        "links": {"Links": [["LOGONID", "STUDENT_ID"], ["ann@example.org", "001"]]},
        "autocreate": {
            "Students": [["STUDENT_ID"]],
            "Options": [
                ["Option", "Value", "Description"],
                ["SIMULATION", "N", None],
                ["SCHOOLS", "101", None],
            ],
        },
        "roster": {
            "Students": [
                ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "SCHOOL"],
                ["001", "Ava", "Lee", None],
            ]
        },
    }
    # Two logons side by side: the rename's OLD and NEW, then the merge's DUPLICATE and KEEP.
    pairs = {
        "user.rename": ["00123", "zoe.ng"],
        "user.merge": ["=1+2@school.org", "ann@example.org"],
    }
    for action in RIBBON_ACTIONS:
        kind = action.split(".")[0]
        if action == "batches.undo":  # the number of the last batch saved, in a cell
            with engine.connect() as connection:
                last = select(func.max(Batch.id)).where(Batch.mode == "apply")
                pairs[action] = [connection.execute(last).scalar_one()]
        book = FakeBook(
            f"{kind}.xlsx",
            {**sheets.get(kind, sheets["users"]), "Fix": [pairs.get(action, [])]},
            {"PortalTemplate": f'="{kind if kind in KINDS else "users"}"'},
            answers=["yes"],
            selection=("Fix", "A1:B1") if action in pairs else ("Users", "A3"),
        )
        opened: list[str] = []
        workbook = ExcelWorkbook(book, open_book=opened.append)
        result = run_action(action, workbook, engine)
        assert book.app.alerts, action
        if action == "lookup":
            assert "Account ann@example.org: see sheet 'Lookup'" in book.app.alerts[-1][0]
            assert book.sheets["Lookup"].values()[0][0] == "Account ann@example.org"
        elif action in ("template.new", "coverage"):
            assert opened and Path(opened[0]).exists()
        elif action.endswith(".check"):
            assert "Headers are fine" in result
        else:
            assert result is not None and result.batch_id


def test_inert_keeps_text_as_text() -> None:
    for text_value in (
        "=1+2@school.org",
        "+1 555",
        "-5",
        "@home",
        "00123",
        "1/2",
        "TRUE",
        "12:30",
        "3.5%",
    ):
        assert inert(text_value) == "'" + text_value
    for plain in ("ann@example.org", "Jane", "Room 5B"):
        assert inert(plain) == plain
    assert inert(5) == 5


def test_worksheet_functions(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from addin.excel import entry as excel_entry

    monkeypatch.setattr(excel_entry, "engine", lambda: engine)
    monkeypatch.setattr("addin.excel.functions.backend", lambda: engine)
    book = FakeBook("users.xlsx", {"Users": USERS}, TEMPLATE, answers=["yes"])
    run_action("users.apply", ExcelWorkbook(book), engine)
    assert account_status("ANN@example.org") == "ACTIVE GUARDIAN account, 0 students"
    assert account_status("nobody@example.org") == "no account"
    assert student_logons("404") == [["no such student"]]


def test_lookup_in_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_workbook(tmp_path / "users.xlsx", USERS[0], USERS[2:3])
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert run_cli(capsys, "--db", url, "import", "users", str(path), "--apply").code == 0
    found = run_cli(capsys, "--db", url, "run", "lookup", str(path), "--value", "ann@example.org")
    assert found.code == 0 and "Account ann@example.org" in found.stdout
    assert (tmp_path / "users.lookup.xlsx").exists()
    refused = run_cli(capsys, "--db", url, "run", "users.apply", str(path))
    assert refused.code == 2 and "changed since its last simulation" in refused.stderr
    simulated = run_cli(capsys, "--db", url, "run", "users.simulate", str(path))
    assert simulated.code == 0 and (tmp_path / "users.simulation.xlsx").exists()
    applied = run_cli(capsys, "--db", url, "run", "users.apply", str(path))
    assert applied.code == 0 and "Imported: 0 added" in applied.stdout
    engine = create_engine(url)
    with engine.connect() as connection:
        kinds = connection.execute(text("SELECT mode FROM batches ORDER BY id")).scalars().all()
    engine.dispose()
    assert kinds == ["apply", "simulation", "apply"]
    wrong = run_cli(capsys, "--db", url, "run", "links.simulate", str(path))
    assert wrong.code == 2 and "holds a users import" in wrong.stderr
    with pytest.raises(InputError):
        dispatch("nonsense", FileWorkbook(path), make_engine(url))


def test_excel_keeps_one_engine_per_session_and_the_cli_one_per_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from addin.cli.output import engine as command_engine
    from addin.cli.output import state
    from addin.excel.entry import engine as excel_engine
    from backend.database.engine import open_database
    from backend.settings import get_settings

    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'session.sqlite'}")
    monkeypatch.setattr(state, "database_url", None)  # no --db given
    get_settings.cache_clear()
    first = excel_engine()
    assert excel_engine() is first
    assert open_database(str(tmp_path / "session.sqlite"), per_session=True) is first
    command = command_engine()
    assert command is not first and command.url == first.url
    command.dispose()
    first.dispose()


def test_an_unexpected_error_is_a_message_and_a_log_entry_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.settings import get_settings

    monkeypatch.setenv("PORTAL_LOG_FOLDER", str(tmp_path / "logs"))
    get_settings.cache_clear()
    lost = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.sqlite'}")
    book = FakeBook("users.xlsx", {"Users": USERS}, TEMPLATE)
    assert run_action("users.simulate", ExcelWorkbook(book), lost) is None
    message = book.app.alerts[-1][0]
    assert message.startswith("Parent Portal could not finish this step (OperationalError")
    assert "Run Simulate again before you import" in message
    log = tmp_path / "logs" / "excel-errors.log"
    assert str(log) in message
    written = log.read_text(encoding="utf-8")
    assert "users.simulate on users.xlsx failed" in written and "Traceback" in written
