"""The self-test IT runs from the ribbon, on the xlwings double: every filled template opened,
run and closed, the district's database untouched, a Self-Test sheet of pass and fail."""

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from xlwings_double import FakeBook

from addin.excel import functions
from addin.excel.entry import SELF_TEST_ACTION, run_on_book
from addin.excel.self_test import KIND_ORDER, SHEET_NAME, filled_template, run_self_test
from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.file import FileWorkbook
from addin.xlam.ribbon import BUTTONS
from addin.xlam.ribbon import SELF_TEST_ACTION as RIBBON_SELF_TEST


class Opener:
    """Stands in for ``xw.Book(path)``: the file's sheets and names as a double of a book."""

    def __init__(self) -> None:
        self.books: list[FakeBook] = []

    def __call__(self, path: str) -> FakeBook:
        workbook = openpyxl.load_workbook(path)
        sheets = {
            ws.title: [[cell.value for cell in row] for row in ws.iter_rows()]
            for ws in workbook.worksheets
        }
        names = {name: f"={item.attr_text}" for name, item in workbook.defined_names.items()}
        book = FakeBook(Path(path).name, sheets, names)
        self.books.append(book)
        return book


def rows_of(book: FakeBook) -> list[list[Any]]:
    values = book.sheets[SHEET_NAME].values()
    header = next(i for i, row in enumerate(values) if row and row[0] == "Step")
    return [row[:3] for row in values[header + 1 :] if any(row)]


def test_every_step_passes_and_each_copy_is_closed(tmp_path: Path) -> None:
    district = tmp_path / "default.sqlite"  # the configured database (conftest)
    caller = FakeBook("Book1.xlsx", {"Sheet1": []})
    opened = Opener()
    steps = run_self_test(ExcelWorkbook(caller), open_book=opened)
    assert [s for s in steps if not s.passed] == []
    names = [s.name for s in steps]
    for kind in ("Users import", "Student-link import", "Roster import", "AutoCreate"):
        assert [n.split(": ")[1] for n in names if n.startswith(kind)] == [
            "Check Headers",
            "Simulate",
            "Import",
        ], names
    assert any(n.startswith("Look Up") for n in names)
    assert any("PORTAL_ACCOUNT_STATUS" in n for n in names)
    assert any("PORTAL_STUDENT_LOGONS" in n for n in names)
    details = {s.name: s.details for s in steps}
    assert details["Coverage"].startswith(
        "Parent portal coverage of the district: 0 of 1 active students have a working"
    )
    assert details["Send Activation to jane.doe@example.org (answered No)"] == (
        "Nothing was queued: no activation email goes out. The simulation is in sheet 'Activation'."
    )
    assert details["Letters for jane.doe@example.org (answered No)"] == (
        "No letter was made: no code, no file. The simulation is in sheet 'Letters Log'."
    )
    assert details["Rename Logon jane.doe@example.org (answered No)"].startswith(
        "Nothing was changed (simulation, batch "
    )
    # The users copy again, for Look Up and for the School Year buttons.
    assert len(opened.books) == len(KIND_ORDER) + 2
    assert all(book.calls.log[-1] == "Book.close" for book in opened.books)
    assert {row[1] for row in rows_of(caller)} == {"pass"}
    assert caller.app.alerts[-1][0].startswith(f"Self-test: all {len(steps)} steps passed")
    assert not district.exists()  # nothing went near the configured database
    assert vars(functions)["backend"].__module__ == "addin.excel.entry"  # swapped back


def test_a_failure_is_named_with_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caller = FakeBook("Book1.xlsx", {"Sheet1": []})
    opened = Opener()

    def refuses(path: str) -> FakeBook:
        if "links" in path:
            raise OSError("Excel could not open the file")
        return opened(path)

    steps = run_self_test(ExcelWorkbook(caller), open_book=refuses)
    failed = [s for s in steps if not s.passed]
    assert [s.name for s in failed] == ["Student-link import: open self-test-links.xlsx in Excel"]
    assert failed[0].details == "OSError: Excel could not open the file"
    rows = rows_of(caller)
    assert ["Student-link import: open self-test-links.xlsx in Excel", "FAIL"] in [
        r[:2] for r in rows
    ]
    assert "1 of" in caller.app.alerts[-1][0] and "FAILED" in caller.app.alerts[-1][0]


def test_the_filled_copies_are_real_templates(tmp_path: Path) -> None:
    for kind in KIND_ORDER:
        with FileWorkbook(filled_template(kind, tmp_path)) as workbook:
            assert workbook.defined_name("PortalTemplate") is not None


def test_the_ribbon_button_runs_it_with_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SELF_TEST_ACTION == RIBBON_SELF_TEST
    assert any(b.action == SELF_TEST_ACTION for b in BUTTONS)
    opened = Opener()
    monkeypatch.setattr("xlwings.Book", opened)
    caller = FakeBook("Book1.xlsx", {"Sheet1": []})
    steps = run_on_book(SELF_TEST_ACTION, caller, lambda: pytest.fail("no district database"))
    assert steps and all(s.passed for s in steps)
    assert vars(caller.app)["status_bar"] is False
    assert caller.app.screen_updating is True and caller.app.calculation == "automatic"
    assert SHEET_NAME in [s.name for s in caller.sheets]
