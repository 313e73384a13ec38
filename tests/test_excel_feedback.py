"""Feedback in Excel while a button runs: throttled progress in the status bar, screen updating
and calculation off, and all three put back however the run ends."""

import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from xlwings_double import FakeApp, FakeBook
from xlwings_engines import missing_in_engines

from addin.excel.entry import StatusBar, run_on_book

USERS = [["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"]]
TEMPLATE = {"PortalTemplate": '="users"'}


class RecordingApp(FakeApp):
    """The double's App, keeping every value the run gives its settings."""

    def __init__(self) -> None:
        self.history: list[tuple[str, Any]] = []
        super().__init__()
        self.history.clear()  # Excel's own settings before the run

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("status_bar", "screen_updating", "calculation") and hasattr(self, "history"):
            self.history.append((name, value))
        super().__setattr__(name, value)

    def values(self, name: str) -> list[Any]:
        return [value for key, value in self.history if key == name]


def users_book(rows: int) -> FakeBook:
    sheet = USERS + [[f"p{n}@example.org", "A", "B", "GUARDIAN"] for n in range(rows)]
    book = FakeBook("users.xlsx", {"Users": sheet}, TEMPLATE)
    book.app = RecordingApp()
    return book


def assert_put_back(app: RecordingApp) -> None:
    assert app.values("screen_updating") == [False, True]
    assert app.values("calculation") == ["manual", "automatic"]
    assert vars(app)["status_bar"] is False  # Excel's own again


def test_the_settings_are_members_both_desktop_engines_implement() -> None:
    for member in ("status_bar", "screen_updating", "calculation"):
        assert missing_in_engines("App", member) == [], member


def test_progress_is_throttled_to_a_few_updates_a_second() -> None:
    app = FakeApp()
    shown: list[str] = []

    class Bar:
        def __setattr__(self, name: str, value: str) -> None:
            shown.append(value)

    ticks = itertools.count()
    bar = StatusBar(Bar(), clock=lambda: next(ticks) / 100_000)  # 100k calls in one second
    for done in range(100_000):
        bar("Checking rows", done, 100_000)
    bar("Checking rows", 100_000, 100_000)
    assert 2 <= len(shown) <= 6, len(shown)
    assert shown[0] == "Parent Portal: Checking rows: 0 of 100,000 (0%)"
    assert shown[-1] == "Parent Portal: Checking rows: 100,000 of 100,000 (100%)"
    bar("Adding accounts", 0, 10)  # a new stage shows at once
    assert shown[-1].startswith("Parent Portal: Adding accounts: 0 of 10")
    assert app.status_bar is None


def test_a_long_run_shows_progress_and_puts_everything_back(engine: Engine) -> None:
    book = users_book(12_000)
    report = run_on_book("users.simulate", book, lambda: engine)
    assert report.counts["added"] == 12_000
    app = book.app
    assert isinstance(app, RecordingApp)
    progress = [v for v in app.values("status_bar") if str(v).startswith("Parent Portal: ")]
    assert progress and len(progress) < 20
    assert any("Checking rows" in v for v in progress)
    assert app.alerts[-1][0].startswith("Simulation (nothing saved): 12000 added")
    assert_put_back(app)


def test_an_error_puts_everything_back_too(tmp_path: Path) -> None:
    lost = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.sqlite'}")
    book = users_book(3)
    assert run_on_book("users.simulate", book, lambda: lost) is None
    app = book.app
    assert isinstance(app, RecordingApp)
    assert app.alerts[-1][0].startswith("Parent Portal could not finish this step")
    assert_put_back(app)


def test_a_database_that_cannot_be_opened_is_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> Engine:
        raise ConnectionError("the server did not answer")

    book = users_book(3)
    assert run_on_book("users.check", book, unreachable) is None
    app = book.app
    assert isinstance(app, RecordingApp)
    assert "ConnectionError: the server did not answer" in app.alerts[-1][0]
    assert_put_back(app)


def test_a_workbook_mistake_is_a_message_and_puts_everything_back(engine: Engine) -> None:
    book = users_book(0)  # headers, no rows
    assert run_on_book("users.simulate", book, lambda: engine) is None
    app = book.app
    assert isinstance(app, RecordingApp)
    assert "has headers but no rows" in app.alerts[-1][0]
    assert_put_back(app)


# Excel's control IDs (imageMso) the ribbon may use, as Microsoft lists them in
# github.com/OfficeDev/office-fluent-ui-command-identifiers (commit b230a0d), files
# "Microsoft 365/Current Channel/excelcontrols.xlsx" and "Office 2013|2016|2019/excelcontrols.xlsx":
# each ID below is in all four, with its tab and group there.
EXCEL_CONTROL_IDS = {
    "DataValidation": ("TabData", "GroupDataTools"),
    "ScenarioManager": ("TabData", "GroupForecast"),
    "ReviewAcceptOrRejectChangeDialog": ("TabReview", "GroupChangesExcel"),
    "FindDialogExcel": ("TabHome", "GroupEditingExcel"),
    "FileNew": ("None (Not in the Ribbon)", None),
    "ErrorChecking": ("TabFormulas", "GroupFormulaAuditing"),
    "ChartTypeColumnInsertGallery": ("TabInsert", "GroupInsertChartsExcel"),
    "FileSendAsAttachment": ("Quick Access Toolbar", None),
    "SheetRename": ("TabHome", "GroupCells"),
    "MergeCells": ("TabHome", "GroupAlignmentExcel"),
    "FilePrintQuick": ("Quick Access Toolbar", None),
    "Undo": ("Quick Access Toolbar", None),
    "FunctionsDateTimeInsertGallery": ("TabFormulas", "GroupFunctionLibrary"),
}
# In the same repository's wordcontrols.xlsx and in none of the Excel lists.
WORD_ONLY = {"ReviewAcceptChange", "FindDialog"}


def test_every_icon_is_one_of_excels_own() -> None:
    from addin.xlam.ribbon import BUTTONS

    for button in BUTTONS:
        assert button.image_mso in EXCEL_CONTROL_IDS, f"{button.id}: {button.image_mso}"
        assert button.image_mso not in WORD_ONLY


def test_every_tip_names_the_sheets_the_button_reads() -> None:
    from addin.xlam.ribbon import BUTTONS

    sheets = {
        "users": ["sheet named Users", "first visible sheet"],
        "links": ["sheet named Links or Student Links", "first visible sheet"],
        "roster": ["Schools, Students and Contacts"],
        "autocreate": ["sheet named Students", "Options sheet"],
        "lookup": ["selected cell"],
    }
    for button in BUTTONS:
        assert "active sheet" not in button.supertip, button.id
        for words in sheets.get(button.action.split(".")[0], []):
            assert words in button.supertip, f"{button.id}: {button.supertip}"


def test_a_message_box_shows_a_hostile_value_without_control_characters(engine: Engine) -> None:
    """Misspelt headers holding a NUL and control characters, named in a message thousands of
    characters long, still give a readable message box: Windows' MessageBox would stop at the
    first NUL, and the advice at the end stays."""
    headers = ["LOGON\x00ID", "FIRST_NAME", "LAST_NAME", *["USER_TYP\rE"] * 100]
    rows = [headers, ["a@example.org", "A", "B"]]
    book = FakeBook("users.xlsx", {"Users": rows}, TEMPLATE)
    book.app = RecordingApp()
    assert run_on_book("users.simulate", book, lambda: engine) is None
    message = book.app.alerts[-1][0]
    assert "\x00" not in message and "\r" not in message
    assert "LOGON ID" in message and "\u2026" in message
    assert len(message) <= 1_000
    status = book.app.values("status_bar")
    assert all(len(value) <= 255 for value in status if isinstance(value, str))
    assert any("LOGON ID" in value for value in status if isinstance(value, str))
    assert_put_back(book.app)
