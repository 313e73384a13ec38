"""Numbers Excel shows zero-padded, read from a live book as the text Excel shows.

A value read through xlwings is the stored number (106.0 for an ID shown as ``00106``): the
number format that adds the zeros has to be read apart. Reading it cell by cell would cost one
call into Excel per row, so a column's number cells are asked for their format in one read:
Excel answers with the format they share, or with nothing (None) when they mix formats. A mixed
span is cut in two and each half asked again, so a column formatted in a few blocks costs a few
reads, whatever its length. The formats are understood exactly as in a file
(``addin.files.padded_ids``): any code that pads with zeros, ``00000``, ``"S"000000``,
``[<=99999]00000;General``.

The reads per column are capped (``FORMAT_READS_PER_COLUMN``). A column whose formats change
so often that spans are still mixed when the cap is reached is refused with a message saying
how to fix it (give the column one format): reading those cells as stored numbers could drop
the zeros of an ID without anyone noticing, and a refusal costs the user one click to fix.
"""

from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any

from addin.files.padded_ids import PaddingFormat, padding_format
from addin.workbooks.interface import column_letter
from backend.errors import InputError

FORMAT_READS_PER_COLUMN = 100
"""Enough to find about six boundaries between formats in a column of 100,000 numbers."""

FormatOf = Callable[[int, int, int], str | None]
"""``format_of(first_row, last_row, column)``, 0-based from A1: the format the cells share,
None when they mix formats (one call into Excel)."""


@cache
def _padding(code: str) -> PaddingFormat | None:
    return padding_format(code)


def _whole_number(value: Any) -> bool:
    return type(value) is float and value.is_integer()


def number_columns(cells: list[list[Any]]) -> list[int]:
    """Columns holding a whole number somewhere: only those can show an ID zero-padded."""
    return sorted({j for row in cells for j, v in enumerate(row) if _whole_number(v)})


def show_padded_ids(cells: list[list[Any]], format_of: FormatOf) -> None:
    """Replace, in place, each whole number whose cell format pads with zeros by its text."""
    for column in number_columns(cells):
        _show_column(cells, column, format_of)


def _show_column(cells: list[list[Any]], column: int, format_of: FormatOf) -> None:
    rows = [i for i, row in enumerate(cells) if column < len(row) and _whole_number(row[column])]
    spans = deque([(0, len(rows))])  # slices of ``rows``; each read covers rows[lo]..rows[hi-1]
    reads = 0
    unresolved: list[tuple[int, int]] = []
    while spans:
        lo, hi = spans.popleft()
        if reads == FORMAT_READS_PER_COLUMN:
            unresolved.append((rows[lo], rows[hi - 1]))
            continue
        code = format_of(rows[lo], rows[hi - 1], column)
        reads += 1
        if code is None:
            if hi - lo > 1:  # one cell always has one format
                middle = (lo + hi) // 2
                spans.extend(((lo, middle), (middle, hi)))
            continue
        found = _padding(code)
        if found is None:
            continue
        for i in rows[lo:hi]:
            text = found.text(cells[i][column])
            if text is not None:
                cells[i][column] = text
    if unresolved:
        first = min(top for top, _ in unresolved) + 1
        last = max(bottom for _, bottom in unresolved) + 1
        letter = column_letter(column)
        raise InputError(
            f"Column {letter} of this sheet changes number format too often between rows "
            f"{first} and {last} to be read as Excel shows it (IDs could lose their leading "
            f"zeros). Select column {letter}, give it one number format (Format Cells; "
            "Custom 00000 for IDs shown with leading zeros) and try again"
        )
