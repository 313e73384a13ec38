"""One workbook interface, two implementations: a live Excel book (xlwings) and an .xlsx file.

Every action (check, simulate, apply, look up, new from template) is written once against
``Workbook``, so what a ribbon button does in Excel is exactly what ``portal run`` does to a file.
"""

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from addin.workbooks.result_sheet import (
    ACTIVATION_SHEET_NAME,
    LETTERS_SHEET_NAME,
    LOG_SHEET_NAME,
    UNDO_SHEET_NAME,
    YEAR_END_SHEET_NAME,
    ResultSheet,
)
from addin.workbooks.template_marks import TEMPLATE_NAME, is_example_row, template_kind
from backend.errors import InputError
from backend.imports.cell_values import exact_whole_number
from backend.imports.contract import InputTable, cell_text

# Sheets of ours that are never input: a log from an earlier run, a template's instructions,
# a look-up, who got an activation email or a letter, what an undo or the year end did.
NOT_INPUT = {
    LOG_SHEET_NAME.casefold(),
    "instructions",
    "lookup",
    ACTIVATION_SHEET_NAME.casefold(),
    LETTERS_SHEET_NAME.casefold(),
    UNDO_SHEET_NAME.casefold(),
    YEAR_END_SHEET_NAME.casefold(),
}
FINGERPRINT_LABEL = "Rows fingerprint"


@dataclass(frozen=True)
class Selection:
    """The cells the user selected: their sheet, the first selected row (1-based), and their
    values row by row (only as far as the sheet's used cells reach)."""

    sheet: str | None = None
    row: int = 0
    values: list[list[Any]] = field(default_factory=list)

    def texts(self) -> list[str]:
        """The non-blank cells as text, row by row and left to right; a whole number as the
        number typed (123, not 123.0)."""
        found = []
        for row in self.values:
            for value in whole_numbers(row):
                text = cell_text(value)
                if text is not None:
                    found.append(text)
        return found


class Workbook(Protocol):
    """What an action needs of a workbook, wherever it lives."""

    name: str

    def sheet_names(self) -> list[str]:
        """Worksheets in tab order."""
        ...

    def input_sheet_names(self) -> list[str]:
        """Visible worksheets that may hold input (not logs, not instructions)."""
        ...

    def defined_name(self, name: str) -> str | None:
        """The formula a workbook-level defined name refers to, e.g. '="users"'."""
        ...

    def grid(self, sheet: str) -> list[list[Any]]:
        """The sheet's cells from A1 to its last used cell, one bulk read."""
        ...

    def sha256(self) -> str | None:
        """The file's SHA-256, for the audit trail, when there is a file; without one (a live
        book) None, and the audit trail gets a SHA-256 of the rows read instead."""
        ...

    def previous_summary(self) -> dict[str, Any]:
        """The summary block of the last log written for this workbook, if any."""
        ...

    def write_log(self, log: ResultSheet, sheet_name: str = LOG_SHEET_NAME) -> str:
        """Replace the log sheet; return where it went (a sheet or a file), for the message."""
        ...

    def selected_value(self) -> str | None:
        """The value the user points at (the selected cell in Excel), for a look-up."""
        ...

    def selection(self) -> Selection:
        """The cells the user points at (Excel's selection), for the buttons that act on them."""
        ...

    def open_new(self, kind: str, build: "Callable[[Path], Path]") -> str:
        """Make a new workbook with ``build(path)`` where this front end keeps them; open it."""
        ...

    def notify(self, text: str) -> None:
        """Tell the user the outcome in a short message."""
        ...

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question; False when nobody can answer."""
        ...


def find_sheet(workbook: Workbook, wanted: str | None, preferred: Sequence[str]) -> str:
    """The sheet named ``wanted``; else the first of ``preferred`` present; else the first input."""
    names = workbook.sheet_names()
    by_fold = {name.casefold(): name for name in names}
    if wanted is not None:
        if wanted.casefold() in by_fold:
            return by_fold[wanted.casefold()]
        raise InputError(
            f"{workbook.name} has no sheet named '{wanted}'; its sheets are: " + ", ".join(names)
        )
    for choice in preferred:
        if choice.casefold() in by_fold:
            return by_fold[choice.casefold()]
    inputs = workbook.input_sheet_names()
    if inputs:
        return inputs[0]
    raise InputError(f"{workbook.name} has no sheet to import (only: {', '.join(names)})")


def column_letter(index: int) -> str:
    """Spreadsheet letter of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def whole_numbers(cells: Sequence[Any]) -> list[Any]:
    """The cells with whole-number floats as int: a sheet stores the ID 123 as 123.0.

    Only numbers Excel kept exactly become int; a longer one stays a float, which an ID column
    refuses rather than store digits nobody typed.
    """
    return [_whole(v) if type(v) is float else v for v in cells]


def _whole(value: float) -> Any:
    whole = exact_whole_number(value)
    return value if whole is None else whole


def table_from_grid(workbook: Workbook, sheet: str, *, single: bool = False) -> InputTable:
    """The sheet's first non-blank row as headers, each later row with its sheet row number.

    A template's example row is left out; a sheet with no header or no row is refused. Whole
    numbers come as int, and columns are named by their letters. The audit trail gets the
    file's SHA-256, or where there is no file, a SHA-256 of the sheet's header and rows as read.
    """
    cells = workbook.grid(sheet)
    header_index = next(
        (i for i, row in enumerate(cells) if any(cell_text(v) is not None for v in row)), None
    )
    if header_index is None:
        raise InputError(
            f"The sheet '{sheet}' in {workbook.name} is empty: put the column headers "
            "in its first row and one row per record below them"
        )
    example = header_index + 1 if _has_example_row(workbook, cells, header_index) else None
    rows = [
        (number + 1, whole_numbers(cells[number]))
        for number in range(header_index + 1, len(cells))
        if number != example
    ]
    if not any(any(cell_text(v) is not None for v in row) for _, row in rows):
        raise InputError(
            f"The sheet '{sheet}' in {workbook.name} has headers but no rows below them"
        )
    width = max(len(row) for row in cells)
    table = InputTable(
        headers=whole_numbers(cells[header_index]),
        rows=rows,
        header_row=header_index + 1,
        sheet=None if single else sheet,
        source_name=workbook.name,
        source_sha256=workbook.sha256(),
        labels=[column_letter(i) for i in range(width)],
    )
    if table.source_sha256 is None:
        digest = hashlib.sha256()
        for chunk in _row_bytes(sheet, table):
            digest.update(chunk)
        table.source_sha256 = digest.hexdigest()
    return table


def _has_example_row(workbook: Workbook, cells: list[list[Any]], header_index: int) -> bool:
    """Whether the row below the headers is a template's example: only a workbook made from
    our templates has one, there; anywhere else ``Example:`` is text like any other."""
    below = header_index + 1
    return (
        below < len(cells)
        and is_example_row(cells[below])
        and template_kind(workbook.defined_name(TEMPLATE_NAME)) is not None
    )


def _row_bytes(sheet: str | None, table: InputTable) -> Iterator[bytes]:
    """A table's sheet name, headers and numbered rows as imported, as bytes to digest."""
    yield f"{sheet}\x1e{table.headers!r}\x1e".encode()
    for number, cells in table.rows:
        yield f"{number}\x1f".encode()
        yield "\x1f".join(cell_text(c) or "" for c in cells).encode()
        yield b"\x1e"


def fingerprint(tables: Sequence[InputTable]) -> str:
    """A short digest of the rows as imported, to tell whether a sheet changed since simulating."""
    digest = hashlib.sha256()
    for table in tables:
        for chunk in _row_bytes(table.sheet, table):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def summary_of(grid: list[list[Any]]) -> dict[str, Any]:
    """The label/value pairs under a log sheet's title, up to the first blank row."""
    summary: dict[str, Any] = {}
    for row in grid[1:]:
        label = cell_text(row[0]) if row else None
        if label is None:
            break
        summary[label] = row[1] if len(row) > 1 else None
    return summary
