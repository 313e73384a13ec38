"""The ``Workbook`` of a live Excel book, through classic xlwings.

Every read is one bulk read of a sheet's values, plus one read of the number format of each
column holding numbers (a few more where a column mixes formats: see ``number_formats``), so
an ID shown as ``00106`` is read as ``00106``, as from a file. The log is written with one bulk
write of its values and a fixed number of formatting calls on whole ranges, whatever the number
of rows.
Excel parses what is written into a cell as if typed, so text that Excel would turn into a
formula, a number, a date or a boolean is written with a quote prefix and kept as text.
"""

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from addin.excel.number_formats import show_padded_ids
from addin.workbooks.interface import NOT_INPUT, Selection, column_letter, summary_of
from addin.workbooks.result_sheet import (
    ACTION_COLOURS,
    LOG_SHEET_NAME,
    WARNING_HEADER,
    Cell,
    ResultSheet,
    continues_a_log,
)

# Text Excel would not keep as typed: formulas, numbers, dates, times, percentages, booleans.
_NOT_INERT = re.compile(
    r"^[=+\-@\t\r]|^[\s\d.,:/()%$€£¥eE+-]*\d[\s\d.,:/()%$€£¥eE+-]*$|"
    r"^(true|false)$",
    re.IGNORECASE,
)


def inert(value: Cell) -> Cell:
    """The value to assign so that Excel shows it exactly, as text when it is text."""
    if isinstance(value, str) and _NOT_INERT.search(value):
        return "'" + value
    return value


def action_rule(column: str, action: str) -> str:
    """A colour rule's formula that means the same in every row, whichever cell is active.

    Excel reads the relative references of a rule added through its object model relative to
    the active cell, not to the range the rule applies to, so a rule like ``=$C5="added"``
    colours the wrong rows unless C5's row happens to be active. ``ROW()`` is the row being
    coloured wherever the cursor is.
    """
    return f'=INDIRECT("{column}"&ROW())="{action}"'


def documents_folder() -> Path:
    return Path.home() / "Documents" / "Parent Portal"


BOX_CHARS = 1_000
"""The most of a message a message box shows; the start and the advice at its end are kept."""
STATUS_CHARS = 255
"""Excel's status bar takes at most 255 characters."""
_CONTROLS = dict.fromkeys([*range(32), 127], " ") | {ord("\n"): "\n"}


def boxed(text: str, limit: int = BOX_CHARS) -> str:
    """A message as a message box can show it, whatever a file put in it: control characters
    (a NUL ends the text in Windows' MessageBox) become spaces, and a message longer than
    ``limit`` loses its middle, where a long value from the file sits, not its advice."""
    text = text.translate(_CONTROLS)
    if len(text) <= limit:
        return text
    tail = min(300, limit // 3)
    return f"{text[: limit - tail - 1]}\u2026{text[-tail:]}"


class ExcelWorkbook:
    """A book open in Excel, usually ``xw.Book.caller()`` of a ribbon button."""

    def __init__(self, book: Any, *, open_book: Callable[[str], Any] | None = None) -> None:
        self.book = book
        self.name = book.name
        self._open_book = open_book

    def sheet_names(self) -> list[str]:
        return [sheet.name for sheet in self.book.sheets]

    def input_sheet_names(self) -> list[str]:
        return [
            s.name
            for s in self.book.sheets
            if s.visible and s.name.casefold() not in NOT_INPUT and not continues_a_log(s.name)
        ]

    def defined_name(self, name: str) -> str | None:
        for defined in self.book.names:
            if defined.name.casefold() == name.casefold():
                return str(defined.refers_to)
        return None

    def grid(self, sheet: str) -> list[list[Any]]:
        """The cells' values, with numbers Excel shows zero-padded as the text it shows."""
        target = self.book.sheets[sheet]
        cells = self._values(target)

        def format_of(first: int, last: int, column: int) -> str | None:
            code = target.range((first + 1, column + 1), (last + 1, column + 1)).number_format
            return code if isinstance(code, str) else None  # mixed formats: None

        show_padded_ids(cells, format_of)
        return cells

    @staticmethod
    def _values(target: Any) -> list[list[Any]]:
        last = target.used_range.last_cell
        values = target.range((1, 1), (last.row, last.column)).options(ndim=2).value
        return [list(row) for row in values]

    def sha256(self) -> str | None:
        """None: an open book has no file of its own; ``table_from_grid`` then records a
        SHA-256 of the rows it read."""
        return None

    def previous_summary(self) -> dict[str, Any]:
        if LOG_SHEET_NAME not in self.sheet_names():
            return {}
        return summary_of(self._values(self.book.sheets[LOG_SHEET_NAME]))

    def write_log(self, log: ResultSheet, sheet_name: str = LOG_SHEET_NAME) -> str:
        sheets = self.book.sheets
        for name in self.sheet_names():  # the log, and the sheets a longer one went on over
            if name == sheet_name or continues_a_log(name, [sheet_name]):
                sheets[name].delete()
        sheet = sheets.add(sheet_name, after=sheets[sheets.count - 1])
        width = max(len(log.columns), 2)
        header_row = len(log.summary) + 3
        last_row = header_row + len(log.rows)
        matrix: list[list[Cell]] = [[log.title] + [None] * (width - 1)]
        matrix += [[label, value, *[None] * (width - 2)] for label, value in log.summary]
        matrix.append([None] * width)
        matrix.append(list(log.columns) + [None] * (width - len(log.columns)))
        matrix += [list(row) + [None] * (width - len(row)) for row in log.rows]
        last_column = column_letter(width - 1)
        table = sheet.range(f"A{header_row}:{last_column}{last_row}")
        table.number_format = "@"  # typed-in text stays text
        sheet.range("A1").value = [[inert(value) for value in row] for row in matrix]
        sheet.range("A1").font.bold = True
        sheet.range(f"A2:A{len(log.summary) + 1}").font.bold = True
        if log.rows:
            sheet.tables.add(source=table, name=None, table_style_name="TableStyleLight1")
            action_column = (
                column_letter(log.columns.index("Action")) if "Action" in log.columns else None
            )
            if action_column:
                body = sheet.range(f"A{header_row + 1}:{last_column}{last_row}")
                if WARNING_HEADER in log.columns:  # the first rule added wins over the others
                    warned = column_letter(log.columns.index(WARNING_HEADER))
                    body.conditional_formats.add_custom(
                        f'=INDIRECT("{warned}"&ROW())<>""',
                        fill_color=f"#{ACTION_COLOURS['warning']}",
                    )
                for action, colour in ACTION_COLOURS.items():
                    if action == "warning":
                        continue
                    body.conditional_formats.add_custom(
                        action_rule(action_column, action), fill_color=f"#{colour}"
                    )
        else:
            sheet.range(f"A{header_row}:{last_column}{header_row}").font.bold = True
        # No pane is frozen: xlwings' desktop engines do not implement it, and an Excel Table
        # shows its headers in place of the column letters as the rows scroll by.
        sheet.range(f"A1:{last_column}{last_row}").columns.autofit()
        sheet.activate()
        return f"sheet '{sheet_name}'"

    def selected_value(self) -> str | None:
        chosen = self.book.selection
        if chosen is None:  # a chart or a shape is selected, not cells
            return None
        values = chosen.options(ndim=2).value
        for row in values:
            for value in row:
                if value not in (None, ""):
                    return (
                        str(int(value))
                        if isinstance(value, float) and value.is_integer()
                        else str(value)
                    )
        return None

    def selection(self) -> Selection:
        """The selected cells of the active sheet, cut to its used range: a whole column
        selected is read only as far as the sheet has cells, in one bulk read."""
        chosen = self.book.selection
        if chosen is None:  # a chart or a shape is selected, not cells
            return Selection()
        sheet = self.book.sheets.active
        last, used = chosen.last_cell, sheet.used_range.last_cell
        bottom, right = min(last.row, used.row), min(last.column, used.column)
        if bottom < chosen.row or right < chosen.column:
            return Selection(sheet.name, chosen.row)
        top, left = chosen.row, chosen.column
        values = sheet.range((top, left), (bottom, right)).options(ndim=2).value
        cells = [list(row) for row in values]

        def format_of(first: int, last: int, column: int) -> str | None:
            part = sheet.range((top + first, left + column), (top + last, left + column))
            code = part.number_format
            return code if isinstance(code, str) else None  # mixed formats: None

        show_padded_ids(cells, format_of)  # a username typed 00123 is selected as 00123
        return Selection(sheet.name, top, cells)

    def open_new(self, kind: str, build: Callable[[Path], Path]) -> str:
        folder = documents_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = build(folder / f"{kind}-{datetime.now():%Y-%m-%d-%H%M%S}.xlsx")
        opener = self._open_book
        if opener is None:
            import xlwings as xw

            opener = xw.Book
        opener(str(path))
        return str(path)

    def notify(self, text: str) -> None:
        self.book.app.status_bar = boxed(" ".join(text.split()), STATUS_CHARS)
        self.book.app.alert(boxed(text), title="Parent Portal")

    def confirm(self, question: str) -> bool:
        answer = self.book.app.alert(boxed(question), title="Parent Portal", buttons="yes_no")
        return bool(answer == "yes")
