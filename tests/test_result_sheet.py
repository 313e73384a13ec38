"""The log made from a report: rows that need attention first, and rows read afresh from their
source on each pass, as a report whose rows are kept on disk gives them."""

import pickle
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
from helpers import read_log
from xlwings_double import FakeBook

from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.file import FileWorkbook, write_log_workbook
from addin.workbooks.result_sheet import LOG_SHEET_NAME, log_from_report
from backend.imports.contract import Report, RowResult


class OnDisk:
    """Results pickled to a file and read back from it on every pass; no indexing."""

    def __init__(self, path: Path, results: list[RowResult]) -> None:
        self.path, self.count, self.passes = path, len(results), 0
        with path.open("wb") as out:
            for result in results:
                pickle.dump(result, out)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[RowResult]:
        self.passes += 1
        with self.path.open("rb") as source:
            for _ in range(self.count):
                yield pickle.load(source)


def report_of(results: OnDisk) -> Report:
    now = datetime(2026, 9, 1, 8, 30)
    return Report("users", "apply", 7, now, now, "users.xlsx", results=results)


RUN = [
    RowResult(2, "ann@example.org", "added", "New account"),
    RowResult(3, "bad@@example.org", "error", "EMAIL: not a valid email address"),
    RowResult(4, "bob@example.org", "updated", "Changed", {"FIRST_NAME": ("Bob", "Rob")}),
    RowResult(5, "cy@example.org", "skipped", "No change", warning="Student 004 is INACTIVE"),
    RowResult(6, "dee@example.org", "added", "New account"),
    RowResult(7, "", "error", "LOGONID: is blank"),
    RowResult(8, "eve@example.org", "added", "New account", warning="shared by two households"),
]


def test_rows_that_need_attention_come_first_each_group_in_run_order(tmp_path: Path) -> None:
    results = OnDisk(tmp_path / "rows.pickle", RUN)

    write_log_workbook(tmp_path / "log.xlsx", log_from_report(report_of(results), "LOGONID"))

    summary, rows = read_log(tmp_path / "log.xlsx")
    assert [(r.row, r.action, r.warning) for r in rows] == [
        (3, "error", None),
        (5, "skipped", "Student 004 is INACTIVE"),
        (7, "error", None),
        (8, "added", "shared by two households"),
        (2, "added", None),
        (4, "updated", None),
        (6, "added", None),
    ]
    assert rows[5].changes == "FIRST_NAME: Bob -> Rob"
    counts = [summary[label] for label in ("Rows", "Added", "Errors", "Warnings")]
    assert counts == [7, 3, 2, 2]
    # Counted in one pass, written in two (those that need attention, then the others), and
    # the first rows read once more for the columns' widths: never held as a list.
    assert results.passes == 4


def test_a_log_without_warnings_or_errors_keeps_the_run_order(tmp_path: Path) -> None:
    plain = [r for r in RUN if r.action != "error" and not r.warning]
    sheets = [
        RowResult(r.row, r.key, r.action, r.reason, r.changes, sheet=s)
        for r, s in zip(plain, ["Users", "Users", "Links"], strict=True)
    ]
    results = OnDisk(tmp_path / "rows.pickle", sheets)

    write_log_workbook(tmp_path / "log.xlsx", log_from_report(report_of(results), "LOGONID"))

    summary, rows = read_log(tmp_path / "log.xlsx")
    assert [(r.sheet, r.row) for r in rows] == [("Users", 2), ("Users", 4), ("Links", 6)]
    assert "Warnings" not in summary and all(r.warning is None for r in rows)


def test_sheets_a_log_went_on_over_are_never_read_as_input(tmp_path: Path) -> None:
    path = tmp_path / "result.xlsx"
    book = openpyxl.Workbook()
    book.active.title = LOG_SHEET_NAME
    for name in (f"{LOG_SHEET_NAME} (2)", "Undo (3)", "Users (2)", "Import Log (1)"):
        book.create_sheet(name)
    book.save(path)

    with FileWorkbook(path) as workbook:
        assert workbook.input_sheet_names() == ["Users (2)", "Import Log (1)"]
    live = ExcelWorkbook(FakeBook("result.xlsx", {name: [[1]] for name in book.sheetnames}))
    assert live.input_sheet_names() == ["Users (2)", "Import Log (1)"]


def test_live_excel_replaces_the_sheets_a_longer_log_went_on_over(tmp_path: Path) -> None:
    """A result workbook opened in Excel: writing the log again there leaves one sheet of it."""
    sheets = ["Users", LOG_SHEET_NAME, f"{LOG_SHEET_NAME} (2)", "Undo (2)", "Notes"]
    book = FakeBook("users.xlsx", {name: [["old"]] for name in sheets})
    results = OnDisk(tmp_path / "rows.pickle", RUN)

    ExcelWorkbook(book).write_log(log_from_report(report_of(results), "LOGONID"))

    assert [s.name for s in book.sheet_list] == ["Users", "Undo (2)", "Notes", LOG_SHEET_NAME]
    values = book.sheets[LOG_SHEET_NAME].values()
    header = next(i for i, row in enumerate(values) if row[0] == "Row")
    assert [row[0] for row in values[header + 1 :]] == [3, 5, 7, 8, 2, 4, 6]
