"""A stand-in for an Excel book behind xlwings, for the tests of ``ExcelWorkbook``.

It keeps cells in memory, behaves as Excel does where it matters (a leading quote keeps text as
typed; a sheet's used range; names; alerts), and counts every call that would cross to Excel.
``tests/test_excel_workbook.py`` checks that each class here has only attributes, and methods
with only parameter names, that the installed xlwings has: the double cannot drift from xlwings.
"""

import re
from collections.abc import Iterator
from typing import Any

from addin.workbooks.interface import column_letter


def _cell(address: str) -> tuple[int, int]:
    match = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", address)
    assert match, address
    column = 0
    for letter in match[1]:
        column = column * 26 + ord(letter) - 64
    return int(match[2]), column


def _bounds(cell1: Any, cell2: Any = None) -> tuple[int, int, int, int]:
    if isinstance(cell1, tuple):
        first = cell1
        last = cell2 if cell2 is not None else cell1
        return first[0], first[1], last[0], last[1]
    text = cell1 if cell2 is None else f"{cell1}:{cell2}"
    if re.fullmatch(r"\d+:\d+", text):
        top, bottom = (int(x) for x in text.split(":"))
        return top, 1, bottom, 16384
    parts = text.split(":")
    r1, c1 = _cell(parts[0])
    r2, c2 = _cell(parts[-1])
    return r1, c1, r2, c2


class Calls:
    """Every call that would cross to Excel, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def __call__(self, name: str) -> None:
        self.log.append(name)


class FakeFont:
    def __init__(self, owner: "FakeRange") -> None:
        self._owner = owner

    @property
    def bold(self) -> bool:
        return self._owner._sheet.bold.get(self._owner._bounds, False)

    @bold.setter
    def bold(self, value: bool) -> None:
        self._owner._sheet.calls("Font.bold")
        self._owner._sheet.bold[self._owner._bounds] = value


class FakeConditionalFormats:
    def __init__(self, owner: "FakeRange") -> None:
        self._owner = owner

    def add_custom(
        self,
        formula: str,
        *,
        fill_color: Any = None,
        font_color: Any = None,
        font_bold: bool | None = None,
        font_italic: bool | None = None,
        stop_if_true: bool = False,
    ) -> None:
        self._owner._sheet.calls("ConditionalFormats.add_custom")
        self._owner._sheet.rules.append((self._owner._bounds, formula, fill_color))


class FakeRangeColumns:
    def __init__(self, owner: "FakeRange") -> None:
        self._owner = owner

    def autofit(self) -> None:
        self._owner._sheet.calls("RangeColumns.autofit")


class FakeRange:
    def __init__(self, sheet: "FakeSheet", bounds: tuple[int, int, int, int]) -> None:
        self._sheet = sheet
        self._bounds = bounds

    @property
    def row(self) -> int:
        return self._bounds[0]

    @property
    def column(self) -> int:
        return self._bounds[1]

    @property
    def last_cell(self) -> "FakeRange":
        self._sheet.calls("Range.last_cell")
        return FakeRange(self._sheet, (self._bounds[2], self._bounds[3]) * 2)

    def options(self, convert: Any = None, **options: Any) -> "FakeRange":
        return self

    @property
    def value(self) -> list[list[Any]]:
        self._sheet.calls("Range.value get")
        r1, c1, r2, c2 = self._bounds
        return [
            [self._sheet.cells.get((r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)
        ]

    @value.setter
    def value(self, matrix: list[list[Any]]) -> None:
        self._sheet.calls("Range.value set")
        r1, c1 = self._bounds[:2]
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                self._sheet.write(r1 + i, c1 + j, value)

    @property
    def number_format(self) -> str | None:
        """As Excel answers: the format every cell of the range has, None when they differ."""
        self._sheet.calls("Range.number_format get")
        r1, c1, r2, c2 = self._bounds
        found = {self._sheet.format_of(r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)}
        return found.pop() if len(found) == 1 else None

    @number_format.setter
    def number_format(self, value: str) -> None:
        self._sheet.calls("Range.number_format")
        self._sheet.formats.pop(self._bounds, None)  # the latest format set comes last
        self._sheet.formats[self._bounds] = value

    @property
    def font(self) -> FakeFont:
        return FakeFont(self)

    @property
    def conditional_formats(self) -> FakeConditionalFormats:
        return FakeConditionalFormats(self)

    @property
    def columns(self) -> FakeRangeColumns:
        return FakeRangeColumns(self)

    @property
    def address(self) -> str:
        r1, c1, r2, c2 = self._bounds
        return f"${column_letter(c1 - 1)}${r1}:${column_letter(c2 - 1)}${r2}"


class FakeTables:
    def __init__(self, sheet: "FakeSheet") -> None:
        self._sheet = sheet

    def add(
        self,
        source: Any = None,
        name: str | None = None,
        source_type: str | None = None,
        link_source: bool | None = None,
        has_headers: bool = True,
        destination: Any = None,
        table_style_name: str = "TableStyleMedium2",
    ) -> None:
        self._sheet.calls("Tables.add")
        self._sheet.tables_added.append(source.address)


class FakeSheet:
    def __init__(self, book: "FakeBook", name: str, rows: list[list[Any]] | None = None) -> None:
        self.book = book
        self.name = name
        self.visible = True
        self.calls = book.calls
        self.cells: dict[tuple[int, int], Any] = {}
        self.formats: dict[tuple[int, int, int, int], str] = {}
        self.bold: dict[tuple[int, int, int, int], bool] = {}
        self.rules: list[tuple[tuple[int, int, int, int], str, Any]] = []
        self.tables_added: list[str] = []
        for r, row in enumerate(rows or [], start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    self.cells[(r, c)] = value

    def format_of(self, row: int, column: int) -> str:
        """A cell's number format: the last one set on a range holding it, else General."""
        for (r1, c1, r2, c2), code in reversed(self.formats.items()):
            if r1 <= row <= r2 and c1 <= column <= c2:
                return code
        return "General"

    def write(self, row: int, column: int, value: Any) -> None:
        """As Excel stores a value typed in: a leading quote keeps the rest as text."""
        if value is None or value == "":
            self.cells.pop((row, column), None)
        elif isinstance(value, str) and value.startswith("'"):
            self.cells[(row, column)] = value[1:]
        elif isinstance(value, str) and value.startswith("="):
            raise AssertionError(f"{value!r} would be a formula in Excel")
        else:
            self.cells[(row, column)] = value

    @property
    def used_range(self) -> FakeRange:
        self.calls("Sheet.used_range")
        rows = max((r for r, _ in self.cells), default=1)
        columns = max((c for _, c in self.cells), default=1)
        return FakeRange(self, (1, 1, rows, columns))

    def range(self, cell1: Any, cell2: Any = None) -> FakeRange:
        return FakeRange(self, _bounds(cell1, cell2))

    @property
    def tables(self) -> FakeTables:
        return FakeTables(self)

    @property
    def freeze_panes(self) -> Any:
        """As on a desk: xlwings' Windows and macOS engines leave it to ``base_classes``."""
        raise NotImplementedError("xlwings' desktop engines do not implement Sheet.freeze_panes")

    def delete(self) -> None:
        self.calls("Sheet.delete")
        self.book.sheet_list.remove(self)

    def activate(self) -> None:
        self.calls("Sheet.activate")

    def values(self) -> list[list[Any]]:
        """The sheet's cells as a grid from A1 (a test's view, not an xlwings call)."""
        rows = max((r for r, _ in self.cells), default=0)
        columns = max((c for _, c in self.cells), default=0)
        return [[self.cells.get((r, c)) for c in range(1, columns + 1)] for r in range(1, rows + 1)]


class FakeSheets:
    def __init__(self, book: "FakeBook") -> None:
        self._book = book

    def __iter__(self) -> Iterator[FakeSheet]:
        self._book.calls("Sheets.__iter__")
        return iter(list(self._book.sheet_list))

    def __getitem__(self, key: int | str) -> FakeSheet:
        if isinstance(key, int):
            return self._book.sheet_list[key]
        for sheet in self._book.sheet_list:
            if sheet.name.casefold() == key.casefold():
                return sheet
        raise KeyError(key)

    @property
    def count(self) -> int:
        return len(self._book.sheet_list)

    @property
    def active(self) -> FakeSheet:
        """The sheet of the selection (the first sheet when nothing is selected)."""
        selected = self._book._selection
        return self[selected[0]] if selected else self._book.sheet_list[0]

    def add(self, name: str | None = None, before: Any = None, after: Any = None) -> FakeSheet:
        self._book.calls("Sheets.add")
        sheet = FakeSheet(self._book, name or f"Sheet{self.count + 1}")
        position = self._book.sheet_list.index(after) + 1 if after else 0
        self._book.sheet_list.insert(position, sheet)
        return sheet


class FakeName:
    def __init__(self, name: str, refers_to: str) -> None:
        self.name = name
        self.refers_to = refers_to


class FakeNames:
    def __init__(self, names: list[FakeName]) -> None:
        self._names = names

    def __iter__(self) -> Iterator[FakeName]:
        return iter(self._names)

    @property
    def count(self) -> int:
        return len(self._names)


class FakeApp:
    def __init__(self, answers: list[str] | None = None) -> None:
        self.status_bar: str | None = None
        self.alerts: list[tuple[str, str]] = []
        self._answers = list(answers or [])
        # What a run switches off and restores (both desktop engines implement these).
        self.screen_updating = True
        self.calculation = "automatic"

    def alert(
        self,
        prompt: str,
        title: str | None = None,
        buttons: str = "ok",
        mode: str | None = None,
        callback: str | None = None,
    ) -> str | None:
        self.alerts.append((prompt, buttons))
        if buttons == "ok":
            return "ok"
        return self._answers.pop(0) if self._answers else "no"


class FakeBook:
    def __init__(
        self,
        name: str,
        sheets: dict[str, list[list[Any]]],
        names: dict[str, str] | None = None,
        answers: list[str] | None = None,
        selection: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.calls = Calls()
        self.sheet_list = [FakeSheet(self, sheet, rows) for sheet, rows in sheets.items()]
        self.names = FakeNames([FakeName(k, v) for k, v in (names or {}).items()])
        self.app = FakeApp(answers)
        self._selection = selection

    @property
    def sheets(self) -> FakeSheets:
        return FakeSheets(self)

    @property
    def selection(self) -> FakeRange | None:
        """As xlwings: None when no cells are selected (a chart or a shape is)."""
        if self._selection is None:
            return None
        sheet, address = self._selection
        return self.sheets[sheet].range(address)

    # A book the self-test opened is closed again (both desktop engines implement it).
    def close(self) -> None:
        self.calls("Book.close")


# Each double and the xlwings class whose interface it stands for.
PAIRS = {
    FakeBook: "Book",
    FakeSheet: "Sheet",
    FakeRange: "Range",
    FakeApp: "App",
    FakeSheets: "main.Sheets",
    FakeName: "main.Name",
    FakeNames: "main.Names",
    FakeFont: "main.Font",
    FakeTables: "main.Tables",
    FakeConditionalFormats: "main.ConditionalFormats",
    FakeRangeColumns: "main.RangeColumns",
}
# Members the public classes have and the desktop engines do not: they raise, as on a desk.
NOT_ON_A_DESK = {"freeze_panes"}
# What the doubles keep for the tests' eyes only; ExcelWorkbook never touches these.
TEST_ONLY = {
    "calls",
    "cells",
    "formats",
    "format_of",
    "bold",
    "rules",
    "tables_added",
    "write",
    "values",
    "sheet_list",
    "alerts",
}
