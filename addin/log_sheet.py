"""The log of a run as plain values, so each workbook writer (file or live Excel) lays out the same sheet."""

from dataclasses import dataclass, field

Cell = str | int | float | None

LOG_SHEET_NAME = "Import Log"

# Fill colours per row action (ARGB without alpha): added green, updated yellow, skipped grey, error red.
ACTION_COLOURS: dict[str, str] = {
    "added": "C6EFCE",
    "updated": "FFEB9C",
    "skipped": "E7E6E6",
    "error": "FFC7CE",
}


@dataclass
class LogSheet:
    """A title, a summary block of label/value pairs, then one table row per input row.

    ``actions[i]`` is the action of ``rows[i]`` (a key of ACTION_COLOURS) and picks its colour.
    """

    title: str
    summary: list[tuple[str, Cell]]
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
