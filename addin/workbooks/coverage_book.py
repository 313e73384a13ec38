"""The coverage workbook: a Summary sheet, a sheet with a chart for each school, and the list of
students without a working account with what to do for each.

Written with xlsxwriter in the look of the templates and the Import Log (the same header fill,
the Import Log's row colours), through a temporary file in the destination's folder, so a failure
never leaves half a workbook.
"""

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from addin.files.result_writer import check_destination
from addin.workbooks.result_sheet import ACTION_COLOURS
from addin.workbooks.templates import HEADER_FILL
from backend.accounts.coverage import (
    CAN_GET,
    NO_CONTACT,
    NOT_ACTIVATED,
    STATES,
    WORKING,
    Coverage,
    GradeCount,
)

SUMMARY_SHEET = "Summary"
SUMMARY_TITLE = "Parent portal coverage"
DISTRICT = "District"
UNCOVERED_SHEET = "Without account"
STATE_HEADERS = {
    WORKING: "Working account",
    NOT_ACTIVATED: "Not activated",
    CAN_GET: "Could get one",
    NO_CONTACT: "None",
}
COUNT_HEADERS = ["School", "School name", "Grade", "Active students", *STATE_HEADERS.values()]
UNCOVERED_HEADERS = [
    "STUDENT_ID",
    "LAST_NAME",
    "FIRST_NAME",
    "School",
    "Grade",
    "State",
    "What to do",
    "Why",
]
MEANINGS = [
    (STATE_HEADERS[WORKING], "attached to an active guardian account that has been activated"),
    (STATE_HEADERS[NOT_ACTIVATED], "attached only to active guardian accounts never activated"),
    (
        STATE_HEADERS[CAN_GET],
        "no account yet, but a contact with an email, GUARDIAN Y and PORTAL_ACCESS Y could get "
        "one (AutoCreate would make or attach it)",
    ),
    (STATE_HEADERS[NO_CONTACT], "no account, and no contact on the card who could get one"),
]
# Chart colours per state, and the Import Log's row fill for each state of the list.
CHART_COLOURS = {
    WORKING: "#4E9A06",
    NOT_ACTIVATED: "#E0A800",
    CAN_GET: "#5B9BD5",
    NO_CONTACT: "#C00000",
}
ROW_FILLS = {
    NOT_ACTIVATED: ACTION_COLOURS["updated"],
    CAN_GET: ACTION_COLOURS["skipped"],
    NO_CONTACT: ACTION_COLOURS["error"],
}
MAX_CELL_CHARS = 32_767
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.title = book.add_format({"bold": True, "font_size": 16})
        self.header = book.add_format(
            {"bold": True, "bg_color": HEADER_FILL, "border": 1, "valign": "top", "text_wrap": True}
        )
        self.total = book.add_format({"bold": True, "top": 1})
        self.bold = book.add_format({"bold": True})
        self.text = book.add_format({"num_format": "@"})
        self.rows = {
            state: book.add_format({"bg_color": f"#{fill}", "num_format": "@"})
            for state, fill in ROW_FILLS.items()
        }


def write_coverage_workbook(report: Coverage, dest: Path, school: str | None = None) -> Path:
    """Write the workbook to ``dest``, replacing a file there only once it is complete."""
    check_destination(dest)
    handle, temporary = tempfile.mkstemp(suffix=".xlsx", dir=dest.parent, prefix=".coverage-")
    os.close(handle)
    try:
        with xlsxwriter.Workbook(temporary) as book:
            fmt = _Formats(book)
            _write_summary(book.add_worksheet(SUMMARY_SHEET), report, fmt, school)
            names = {SUMMARY_SHEET.casefold(), UNCOVERED_SHEET.casefold()}
            for code, name, grades in report.schools():
                _write_school(book, _sheet_name(code, names), code, name, grades, report, fmt)
            _write_uncovered(book.add_worksheet(UNCOVERED_SHEET), report, fmt)
        os.replace(temporary, dest)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return dest


def _counts_row(
    sheet: Worksheet, row: int, cells: list[str], counts: dict[str, int], fmt: Format | None
) -> None:
    for column, value in enumerate(cells):
        sheet.write_string(row, column, value, fmt)
    sheet.write_number(row, len(cells), sum(counts.values()), fmt)
    for offset, state in enumerate(STATES, start=len(cells) + 1):
        sheet.write_number(row, offset, counts[state], fmt)


def _write_summary(sheet: Worksheet, report: Coverage, fmt: _Formats, school: str | None) -> None:
    sheet.write_string(0, 0, SUMMARY_TITLE, fmt.title)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sheet.write_string(
        1, 0, f"Active students of {f'school {school}' if school else 'the district'}, {when}"
    )
    sheet.write_row(3, 0, COUNT_HEADERS, fmt.header)
    row = 4
    for code, name, grades in report.schools():
        for grade in grades:
            _counts_row(sheet, row, [code, name, grade.grade], grade.counts, None)
            row += 1
        _counts_row(sheet, row, [code, name, "All grades"], report.total(grades), fmt.total)
        row += 1
    if school is None:
        district = [DISTRICT, "All schools", "All grades"]
        _counts_row(sheet, row, district, report.total(), fmt.total)
        row += 1
    sheet.autofilter(3, 0, row - 1, len(COUNT_HEADERS) - 1)
    sheet.freeze_panes(4, 0)
    row += 1
    sheet.write_string(row, 0, "What each number means", fmt.bold)
    for offset, (label, meaning) in enumerate(MEANINGS, start=1):
        sheet.write_string(row + offset, 0, label, fmt.bold)
        sheet.write_string(row + offset, 1, meaning)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, len(COUNT_HEADERS) - 1, 14)


def _sheet_name(code: str, taken: set[str]) -> str:
    """A sheet name for a school: ``School CODE``, within Excel's rules and not yet taken."""
    base = _BAD_SHEET_CHARS.sub("_", f"School {code}").strip("'")[:31]
    name, number = base, 2
    while name.casefold() in taken:
        suffix = f" ({number})"
        name, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(name.casefold())
    return name


def _write_school(
    book: xlsxwriter.Workbook,
    sheet_name: str,
    code: str,
    name: str,
    grades: list[GradeCount],
    report: Coverage,
    fmt: _Formats,
) -> None:
    """The school's counts by grade and a stacked column chart of them."""
    sheet = book.add_worksheet(sheet_name)
    sheet.write_string(0, 0, f"{name} ({code})", fmt.title)
    sheet.write_row(2, 0, ["Grade", "Active students", *STATE_HEADERS.values()], fmt.header)
    for row, grade in enumerate(grades, start=3):
        _counts_row(sheet, row, [grade.grade], grade.counts, None)
    last = 2 + len(grades)
    _counts_row(sheet, last + 1, ["All grades"], report.total(grades), fmt.total)
    sheet.set_column(0, 5, 15)
    chart = book.add_chart({"type": "column", "subtype": "stacked"})
    for column, state in enumerate(STATES, start=2):
        chart.add_series(
            {
                "name": [sheet_name, 2, column],
                "categories": [sheet_name, 3, 0, last, 0],
                "values": [sheet_name, 3, column, last, column],
                "fill": {"color": CHART_COLOURS[state]},
            }
        )
    chart.set_title({"name": f"{name}: guardian accounts by grade"})
    chart.set_x_axis({"name": "Grade"})
    chart.set_y_axis({"name": "Active students"})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 720, "height": 400})
    sheet.insert_chart(last + 3, 0, chart)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 1)


def _write_uncovered(sheet: Worksheet, report: Coverage, fmt: _Formats) -> None:
    """One row per student without a working account: who, where, and what to do."""
    sheet.write_row(0, 0, UNCOVERED_HEADERS, fmt.header)
    for row, item in enumerate(report.uncovered, start=1):
        student = item.student
        cells = [
            student.student_id,
            student.last_name,
            student.first_name,
            student.school_code,
            student.grade,
            STATE_HEADERS[item.state],
            item.action,
            item.why[:MAX_CELL_CHARS],
        ]
        for column, value in enumerate(cells):
            sheet.write_string(row, column, value, fmt.rows[item.state])
    sheet.autofilter(0, 0, max(len(report.uncovered), 1), len(UNCOVERED_HEADERS) - 1)
    sheet.freeze_panes(1, 0)
    for column, width in enumerate([14, 18, 18, 10, 8, 16, 48, 80]):
        sheet.set_column(column, column, width)
