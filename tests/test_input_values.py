"""Readers hand the import values and column names; the import assumes no spreadsheet."""

from typing import Any

import pytest

from addin.workbooks.interface import table_from_grid
from backend.errors import HeaderError
from backend.imports.contract import InputTable, match_headers
from backend.imports.users import USER_COLUMNS


class Grid:
    """The least of a Workbook that ``table_from_grid`` reads."""

    name = "book.xlsx"

    def __init__(self, cells: list[list[Any]]) -> None:
        self.cells = cells

    def grid(self, sheet: str) -> list[list[Any]]:
        return self.cells

    def sha256(self) -> str | None:
        return None


def test_the_sheet_reader_gives_whole_numbers_as_int_and_letters() -> None:
    grid = Grid([["STUDENT_ID", "GRADE", "SCORE"], [123.0, 7.0, 12.5], ["00123", True, None]])
    table = table_from_grid(grid, "Students")  # type: ignore[arg-type]
    assert [cells for _, cells in table.rows] == [[123, 7, 12.5], ["00123", True, None]]
    assert type(table.rows[0][1][0]) is int
    assert table.labels == ["A", "B", "C"]


def header_problems(table: InputTable) -> str:
    with pytest.raises(HeaderError) as caught:
        match_headers(table, USER_COLUMNS)
    return str(caught.value)


def test_columns_are_numbered_unless_the_reader_names_them() -> None:
    headers = ["LOGONID", "FIRST_NAME", "FIRST_NAME", "LAST_NAEM", None]
    rows = [(2, ["a@example.org", "A", "B", "C", "stray"])]
    numbered = header_problems(InputTable(headers, rows))
    assert "FIRST_NAME appears twice (columns 2 and 3)" in numbered
    assert "unknown column 'LAST_NAEM' (column 4): did you mean LAST_NAME?" in numbered
    assert "column 5 has values but no header" in numbered
    lettered = header_problems(InputTable(headers, rows, labels=list("ABCDE")))
    assert "FIRST_NAME appears twice (columns B and C)" in lettered
    assert "unknown column 'LAST_NAEM' (cell D1)" in lettered
    assert "column E has values but no header" in lettered
