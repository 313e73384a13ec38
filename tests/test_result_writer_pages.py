"""A log longer than a sheet: it goes on over "Import Log (2)", "Import Log (3)", ... in one
workbook, each with the table's header row and filter, the rows continuing in order; running
again replaces those sheets and removes the ones a longer, earlier log left."""

import csv
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from libreoffice import convert, ods_sheet
from openpyxl.workbook.defined_name import DefinedName

from addin.files import result_writer
from addin.files.result_writer import write_result_workbook
from addin.workbooks.result_sheet import ACTION_COLOURS, LOG_SHEET_NAME, ResultSheet

TESTS = Path(__file__).parent
COLUMNS = ["Row", "Key", "Action", "Changes", "Reason"]
SUMMARY: list[tuple[str, Any]] = [("Mode", "SIMULATION"), ("Rows", 50)]
LIMIT = 20  # rows in a sheet for these tests; Excel's is 1,048,576
STALE = f"{LOG_SHEET_NAME} (3)"


def make_log(rows: int) -> ResultSheet:
    actions = ["error" if n % 7 == 0 else "added" for n in range(rows)]
    return ResultSheet(
        title="Parent Portal Accounts: users log",
        summary=SUMMARY,
        columns=COLUMNS,
        rows=[[n + 2, f"user{n}@example.org", a, None, "New"] for n, a in enumerate(actions)],
        actions=actions,
    )


def input_workbook(path: Path, sheets: list[str]) -> None:
    """A workbook with these sheets, each one cell; "Notes" gets a print area of its own and
    ``STALE`` a name of its own."""
    wb = openpyxl.Workbook()
    wb.active.title = sheets[0]
    for name in sheets[1:]:
        wb.create_sheet(name)
    for ws in wb.worksheets:
        ws["A1"] = f"on {ws.title}"
    if "Notes" in sheets:
        wb["Notes"].print_area = "A1:B2"
    if STALE in sheets:
        wb[STALE].defined_names["OnlyHere"] = DefinedName("OnlyHere", attr_text="$A$1")
    wb.save(path)


def table(ws: Any) -> tuple[list[Any], list[list[Any]]]:
    """The header row and the table rows below it of a log sheet."""
    values = [list(row) for row in ws.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    return values[header], values[header + 1 :]


@pytest.fixture
def small_sheets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_writer, "MAX_SHEET_ROWS", LIMIT)


@pytest.mark.usefixtures("small_sheets")
def test_a_log_longer_than_a_sheet_goes_on_over_further_sheets(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    input_workbook(source, ["Users"])
    log = make_log(50)

    write_result_workbook(source, dest, log)

    wb = openpyxl.load_workbook(dest)
    names = [LOG_SHEET_NAME, f"{LOG_SHEET_NAME} (2)", f"{LOG_SHEET_NAME} (3)"]
    assert wb.sheetnames == ["Users", *names]
    assert wb.active.title == LOG_SHEET_NAME
    assert [ws.title for ws in wb.worksheets if ws.sheet_view.tabSelected] == [LOG_SHEET_NAME]
    first = wb[LOG_SHEET_NAME]
    summary = {first.cell(n, 1).value: first.cell(n, 2).value for n in range(2, 5)}
    assert summary["Continued on"] == "sheets Import Log (2) to Import Log (3)"
    # Title, 2 summary lines, "Continued on", a blank row, the header: 20 - 6 = 14 rows here.
    written: list[list[Any]] = []
    for name, header_row, count in ((names[0], 6, 14), (names[1], 1, 19), (names[2], 1, 17)):
        ws = wb[name]
        assert ws.max_row == header_row + count <= LIMIT
        assert [c.value for c in ws[header_row]] == COLUMNS
        assert all(c.font.b for c in ws[header_row])
        assert ws.freeze_panes == f"A{header_row + 1}"
        assert ws.auto_filter.ref == f"A{header_row}:E{header_row + count}"
        rows = [[c.value for c in row] for row in ws.iter_rows(min_row=header_row + 1)]
        colours = [row[0].fill.fgColor.rgb[-6:] for row in ws.iter_rows(min_row=header_row + 1)]
        assert colours == [ACTION_COLOURS[row[2]] for row in rows]
        written += rows
    assert written == list(log.rows)  # every row once, in order, over the three sheets
    with zipfile.ZipFile(dest) as package:
        workbook = package.read("xl/workbook.xml").decode()
    for index, (name, ref) in enumerate(
        zip(names, ["$A$6:$E$20", "$A$1:$E$20", "$A$1:$E$18"], strict=True), start=1
    ):
        assert (
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
            f"'{name}'!{ref}</definedName>"
        ) in workbook

    ods = convert(dest, "ods", tmp_path / "ods")
    seen: list[list[str]] = []
    for name in names:
        cells = ods_sheet(ods, name)
        header = next(i for i, row in enumerate(cells) if row and row[0].text == "Row")
        assert [c.text for c in cells[header]] == COLUMNS
        seen += [[c.text for c in row] for row in cells[header + 1 :]]
    assert seen == [[str(row[0]), row[1], row[2], "", row[4]] for row in log.rows]
    with zipfile.ZipFile(ods) as package:
        content = package.read("content.xml").decode()
    assert "&apos;Import Log (3)&apos;.A1:&apos;Import Log (3)&apos;.E18" in content


@pytest.mark.usefixtures("small_sheets")
@pytest.mark.parametrize(
    ("rows", "sheets", "continued"),
    [
        (15, 1, None),
        (16, 2, "sheet Import Log (2)"),
        (33, 2, "sheet Import Log (2)"),
        (34, 3, "sheets Import Log (2) to Import Log (3)"),
    ],
)
def test_a_log_goes_on_only_when_it_must(
    tmp_path: Path, rows: int, sheets: int, continued: str | None
) -> None:
    """Title, 2 summary lines, a blank row and the header leave 15 table rows of 20; going on
    takes one more summary line, so 16 rows need a second sheet, and 33 just fill two."""
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    input_workbook(source, ["Users"])

    write_result_workbook(source, dest, make_log(rows))

    wb = openpyxl.load_workbook(dest, read_only=True)
    assert len(wb.sheetnames) == 1 + sheets
    head = wb[LOG_SHEET_NAME].iter_rows(min_row=2, max_row=4, values_only=True)
    assert {row[0]: row[1] for row in head}.get("Continued on") == continued
    written = [row for name in wb.sheetnames[1:] for row in table(wb[name])[1]]
    wb.close()
    assert written == list(make_log(rows).rows)


@pytest.mark.usefixtures("small_sheets")
def test_running_again_replaces_the_sheets_and_removes_those_it_no_longer_needs(
    tmp_path: Path,
) -> None:
    source, first, second, third = (tmp_path / f"{n}.xlsx" for n in ("in", "1", "2", "3"))
    input_workbook(source, ["Users"])
    write_result_workbook(source, first, make_log(50))  # three sheets

    write_result_workbook(first, second, make_log(30))  # two
    write_result_workbook(second, third, make_log(5))  # one

    wb = openpyxl.load_workbook(second)
    assert wb.sheetnames == ["Users", LOG_SHEET_NAME, f"{LOG_SHEET_NAME} (2)"]
    rows = table(wb[LOG_SHEET_NAME])[1] + table(wb[f"{LOG_SHEET_NAME} (2)"])[1]
    assert rows == list(make_log(30).rows)
    wb = openpyxl.load_workbook(third)
    assert wb.sheetnames == ["Users", LOG_SHEET_NAME]
    assert table(wb[LOG_SHEET_NAME])[1] == list(make_log(5).rows)
    assert "Continued on" not in [c.value for c in wb[LOG_SHEET_NAME]["A"]]
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(third) as c:
        sheets_before = {n for n in a.namelist() if n.startswith("xl/worksheets/")}
        sheets_after = {n for n in c.namelist() if n.startswith("xl/worksheets/")}
        assert len(sheets_after) == len(sheets_before) - 2
        types = c.read("[Content_Types].xml").decode()
        assert sorted(re.findall(r"/(xl/worksheets/[^\"]+)", types)) == sorted(sheets_after)
        rels = c.read("xl/_rels/workbook.xml.rels").decode()
        assert rels.count('/relationships/worksheet"') == 2
        assert c.read("xl/workbook.xml").decode().count("_xlnm._FilterDatabase") == 1
    ods = convert(third, "ods", tmp_path / "ods")
    assert ods_sheet(ods, LOG_SHEET_NAME)[0][0].text == "Parent Portal Accounts: users log"


@pytest.mark.usefixtures("small_sheets")
def test_removing_sheets_keeps_the_names_of_the_sheets_after_them(tmp_path: Path) -> None:
    """A user's sheet after the log keeps its print area when the sheets before it go."""
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    stale = [f"{LOG_SHEET_NAME} (2)", f"{LOG_SHEET_NAME} (3)"]
    input_workbook(source, ["Users", LOG_SHEET_NAME, *stale, "Notes", "Import Log (1)"])

    write_result_workbook(source, dest, make_log(5))

    wb = openpyxl.load_workbook(dest)
    assert wb.sheetnames == ["Users", LOG_SHEET_NAME, "Notes", "Import Log (1)"]
    assert wb["Notes"].print_area == "'Notes'!$A$1:$B$2"
    assert wb["Notes"]["A1"].value == "on Notes"
    assert wb["Import Log (1)"]["A1"].value == "on Import Log (1)"  # not a name the log uses
    assert wb.active.title == LOG_SHEET_NAME
    with zipfile.ZipFile(dest) as package:
        workbook = package.read("xl/workbook.xml").decode()
    assert "OnlyHere" not in workbook


class Generated:
    """Rows made afresh on each pass, as a report spooled to disk gives them back: a length,
    iteration, and no indexing."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        from backend.imports.contract import RowResult

        for n in range(self.count):
            failed = n % 100_000 == 99_999
            yield RowResult(
                row=n + 2,
                key=f"u{n}@example.org",
                action="error" if failed else "added",
                reason="EMAIL: not a valid email address" if failed else "New account",
            )


def write_big(dest: str, count: int) -> None:
    """In a child process: write a log of ``count`` rows and print the growth of its peak
    resident memory while writing, in bytes."""
    import resource

    from addin.workbooks.file import write_log_workbook
    from addin.workbooks.result_sheet import log_from_report
    from backend.imports.contract import Report

    now = datetime(2026, 1, 1)
    report = Report("users", "simulation", 1, now, now, "big.xlsx", results=Generated(count))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    write_log_workbook(Path(dest), log_from_report(report, "LOGONID"))
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)


def test_a_log_past_excels_row_limit_is_written_in_bounded_memory(tmp_path: Path) -> None:
    """1,100,000 rows at Excel's true limit: two sheets, the errors first, memory flat, read
    back by openpyxl and by LibreOffice."""
    count, dest = 1_100_000, tmp_path / "big.xlsx"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(TESTS)!r}); "
            f"from test_result_writer_pages import write_big; write_big({str(dest)!r}, {count})",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    grown = int(child.stdout.split()[-1])
    # The rows as lists would take at least this much: one 6-slot list object per row.
    as_lists = count * sys.getsizeof([None] * 6)
    assert grown < as_lists / 4, (grown, as_lists)

    # openpyxl (read-only) reads the top of the first sheet and all of the second; LibreOffice
    # reads the first sheet's million rows (as CSV, faster than openpyxl).
    wb = openpyxl.load_workbook(dest, read_only=True)
    assert wb.sheetnames == [LOG_SHEET_NAME, f"{LOG_SHEET_NAME} (2)"]
    head = list(wb[LOG_SHEET_NAME].iter_rows(max_row=30, values_only=True))
    second = [row[:3] for row in wb[f"{LOG_SHEET_NAME} (2)"].iter_rows(values_only=True)]
    wb.close()
    summary = {row[0]: row[1] for row in head[1:] if row and row[0]}
    assert summary["Rows"] == count and summary["Errors"] == 11
    assert summary["Continued on"] == "sheet Import Log (2)"
    header_row = next(i for i, row in enumerate(head, start=1) if row[0] == "Row")
    errors = [n * 100_000 + 99_999 + 2 for n in range(11)]
    top = head[header_row : header_row + 12]
    assert [row[0] for row in top] == [*errors, 2]  # errors first, then the run in order
    assert [row[2] for row in top] == ["error"] * 11 + ["added"]
    assert second[0] == ("Row", "LOGONID", "Action")

    with convert(dest, "csv", tmp_path / "csv").open(newline="", encoding="utf-8") as text:
        lines = list(csv.reader(text))
    assert len(lines) == 1_048_576  # every row of the sheet
    assert lines[header_row - 1][:3] == ["Row", "LOGONID", "Action"]
    assert lines[header_row][:3] == [str(errors[0]), "u99999@example.org", "error"]
    table_rows = len(lines) - header_row
    others = (n + 2 for n in range(count) if n + 2 not in errors)
    # The first sheet ends with the run's row before the one the second starts with.
    ends, goes_on = islice(others, table_rows - 12, table_rows - 10)
    assert lines[-1][:3] == [str(ends), f"u{ends - 2}@example.org", "added"]
    assert second[1] == (goes_on, f"u{goes_on - 2}@example.org", "added")
    assert table_rows + len(second) - 1 == count
    assert second[-1][0] == count  # the run's last row, number count + 1, is an error: first
