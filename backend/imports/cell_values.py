"""What a cell may hold before any column reads it: IDs as Excel keeps them, no invisible text.

Excel keeps a number to 15 significant digits, so a long ID typed into a number cell has already
lost digits; a date in an ID column is what Excel made of what was typed. Control, bidi and
zero-width characters cannot be seen on screen: they are refused where a value identifies
something (IDs, logons, codes) and removed from free text such as names.
"""

import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

EXCEL_DIGITS = 15
"""Significant digits Excel keeps in a number."""
EXCEL_CELL_CHARS = 32_767
"""The most characters an Excel cell holds; a longer value is refused before it is read."""

# Categories of characters nobody sees: controls (C0, C1), formats (bidi marks and overrides,
# zero-width spaces and joiners, the byte-order mark), lone surrogates, line and paragraph
# separators.
_INVISIBLE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x07": "BELL",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}


def exact_whole_number(value: float) -> int | None:
    """The integer a number cell holds when Excel keeps it exactly, else None.

    The float's shortest decimal form is what Excel wrote; 15 significant digits or fewer is a
    number Excel kept as typed (1.2345e19 is the ID 12345000000000000000).
    """
    if value != value or value in (float("inf"), float("-inf")) or not value.is_integer():
        return None
    written = Decimal(repr(value))
    if len(written.normalize().as_tuple().digits) > EXCEL_DIGITS:
        return None
    return int(written)


def _digits(value: int) -> int:
    return len(str(abs(value)).rstrip("0") or "0")


def id_cell_text(value: Any) -> str | None:
    """An ID cell as text: a number only when Excel kept it exactly, never a date or a time.

    Raises ValueError saying what Excel did and what to do.
    """
    if type(value) is str:  # the common case first
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        whole = exact_whole_number(value)
        if whole is None:
            return _inexact(value)
        value = whole
    if isinstance(value, int):
        if _digits(value) > EXCEL_DIGITS:
            raise ValueError(_too_many_digits(str(value)))
        return str(value)
    if isinstance(value, datetime | date | time | timedelta):
        shown = value.isoformat() if not isinstance(value, timedelta) else str(value)
        what = "a time" if isinstance(value, time | timedelta) else "a date"
        raise ValueError(
            f"Excel holds {what} here ({shown}), not an ID: format the column as Text "
            "and type the ID again"
        )
    return None if value is None else (str(value).strip() or None)


def _inexact(value: float) -> str:
    if not value.is_integer():  # a fraction, or not a number at all
        raise ValueError(
            f"the number {value!r} is not a whole number, so not an ID: format the column as "
            "Text and type the ID again"
        )
    raise ValueError(_too_many_digits(format(Decimal(repr(value)), "f").split(".")[0]))


def _too_many_digits(shown: str) -> str:
    return (
        f"the number {shown} has more digits than Excel keeps in a number ({EXCEL_DIGITS}); "
        "format the column as Text and type it again"
    )


def char_name(char: str) -> str:
    """'U+200B ZERO WIDTH SPACE', as a message names a character."""
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "a control character")
    return f"U+{ord(char):04X} {name}"


def invisible_characters(text: str) -> list[str]:
    """The characters of ``text`` nobody sees, in order; quick for the common printable text."""
    if text.isprintable():  # C speed; false only for the categories below, spaces and unassigned
        return []
    return [c for c in text if unicodedata.category(c) in _INVISIBLE]


def visible(text: str) -> str:
    """``text`` with each invisible character shown as U+FFFD, for a terminal: a value stored
    before it was checked can neither clear the screen nor hide part of itself."""
    if text.isprintable():
        return text
    return "".join("\ufffd" if unicodedata.category(c) in _INVISIBLE else c for c in text)


def refuse_invisible(text: str) -> None:
    """Raise ValueError naming the first invisible character of an ID, code or logon."""
    found = invisible_characters(text)
    if found:
        raise ValueError(
            f"holds an invisible character ({char_name(found[0])}); type the value again without it"
        )


def remove_invisible(text: str) -> tuple[str, str | None]:
    """Free text without its invisible characters (line breaks and tabs become spaces), and a
    note of what was removed, or None when nothing was."""
    found = invisible_characters(text)
    if not found:
        return text, None
    named = list(dict.fromkeys(found))
    gone = set(named)
    kept = "".join(" " if c.isspace() else c for c in text if c.isspace() or c not in gone)
    listed = ", ".join(char_name(c) for c in named[:3]) + (", ..." if len(named) > 3 else "")
    plural = "s" if len(found) > 1 else ""
    return kept.strip(), f"removed {len(found)} invisible character{plural} ({listed})"
