"""The log of a run as plain values, so each workbook writer (file, live Excel) lays it out."""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from typing import Generic, Protocol, TypeVar

from backend.imports.contract import (
    Report,
    RowResult,
    count_phrases,
    describe_changes,
    tally,
)

Cell = str | int | float | None
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Rows(Protocol[T_co]):
    """Rows read in order as often as a writer needs, their number known beforehand: a list, or
    a view that reads its source afresh on each pass and keeps nothing."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[T_co]: ...


LOG_SHEET_NAME = "Import Log"
ACTIVATION_SHEET_NAME = "Activation"
"""Where Send Activation writes who gets an email and why the others do not."""
UNDO_SHEET_NAME = "Undo"
"""Where Undo Batch writes what the undo takes back, row by row, and what it leaves."""
YEAR_END_SHEET_NAME = "Year End"
"""Where Year End writes the links it removes, the accounts it disables and those it lists."""
LETTERS_SHEET_NAME = "Letters Log"
"""Where Letters writes who gets a letter and why the others do not (the mail-merge workbook's
own sheet is named Letters)."""

_LOG_SHEETS = (
    LOG_SHEET_NAME,
    ACTIVATION_SHEET_NAME,
    UNDO_SHEET_NAME,
    YEAR_END_SHEET_NAME,
    LETTERS_SHEET_NAME,
)
_GOES_ON = re.compile(r"(.+) \(([2-9]|[1-9]\d+)\)")


def continued_sheet_name(sheet_name: str, number: int) -> str:
    """The sheet a log too long for one sheet goes on over: "Import Log (2)", ..."""
    return f"{sheet_name} ({number})"


def continues_a_log(name: str, logs: Iterable[str] = _LOG_SHEETS) -> bool:
    """Whether the sheet ``name`` is where one of the ``logs`` (by default any of ours) goes
    on: never an input sheet, and replaced when that log is written again."""
    found = _GOES_ON.fullmatch(name)
    return found is not None and found.group(1).casefold() in {s.casefold() for s in logs}


# Fill per row action (RGB): added green, updated yellow, removed orange, skipped grey, error red;
# a row of any action that carries a warning is lilac, to stand out from all of them.
ACTION_COLOURS: dict[str, str] = {
    "added": "C6EFCE",
    "updated": "FFEB9C",
    "removed": "F8CBAD",
    "skipped": "E7E6E6",
    "error": "FFC7CE",
    "warning": "D9C3E9",
}
WARNING_HEADER = "Warning"


@dataclass
class ResultSheet:
    """A title, a summary block of label/value pairs, then one table row per input row.

    The i-th action is the action of the i-th row (a key of ACTION_COLOURS), or "warning" when
    the row carries one, and picks its colour. A row has at most one cell per column.
    """

    title: str
    summary: list[tuple[str, Cell]]
    columns: list[str]
    rows: Rows[list[Cell]] = field(default_factory=list)
    actions: Rows[str] = field(default_factory=list)
    applied: bool = False  # the run saved its changes (a file result is named for it)

    def marked_rows(self) -> Iterator[tuple[list[Cell], str]]:
        """Each table row with its action ("" for none), in one pass over the source."""
        if isinstance(self.rows, ReportRows):
            return self.rows.marked()
        return zip(self.rows, chain(self.actions, repeat("")), strict=False)

    def first_rows(self, count: int) -> list[list[Cell]]:
        """Up to ``count`` rows to size the columns by, read without a pass over all of them."""
        if isinstance(self.rows, ReportRows):
            return self.rows.head(count)
        return list(islice(self.rows, count))


def needs_attention(result: RowResult) -> bool:
    """A row a person should look at: one that failed, or one done with a warning."""
    return result.action == "error" or bool(result.warning)


def attention_first(results: Iterable[RowResult]) -> Iterator[RowResult]:
    """The rows as a log lists them: those that need attention, then the others, each group in
    run order. Two passes over ``results``, so nothing is kept in between."""
    yield from (r for r in results if needs_attention(r))
    yield from (r for r in results if not needs_attention(r))


class ReportRows(Generic[T]):
    """A report's rows as a log lists them (``attention_first``), each made by ``make``.

    Every pass reads the report's results afresh, so a run of millions of rows spooled to disk
    is written without ever being held in memory.
    """

    def __init__(
        self,
        results: Rows[RowResult],
        make: Callable[[RowResult], T],
        action: Callable[[RowResult], str],
    ) -> None:
        self.results, self.make, self.action = results, make, action

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[T]:
        return map(self.make, attention_first(self.results))

    def marked(self) -> Iterator[tuple[T, str]]:
        make, action = self.make, self.action
        return ((make(r), action(r)) for r in attention_first(self.results))

    def head(self, count: int) -> list[T]:
        """The first ``count`` rows of the run, in run order: those ``__iter__`` lists first
        may be anywhere in it."""
        return [self.make(r) for r in islice(self.results, count)]

    def actions(self) -> "ReportRows[str]":
        """The rows' actions, a view of the same results."""
        return ReportRows(self.results, self.action, self.action)


def log_from_report(report: Report, key_header: str, fingerprint: str | None = None) -> ResultSheet:
    """A backend report as the log a user reads: summary first, then one row per input row,
    those that need attention first (``attention_first``)."""
    found = tally(report.results)
    counts, has_sheets = found.counts, found.sheets
    if report.mode == "apply":
        mode = "APPLIED: the changes below were saved"
    else:
        mode = "SIMULATION: nothing was saved; run it again with apply to save these changes"
    options = ", ".join(f"{k}: {v}" for k, v in report.options.items())
    summary: list[tuple[str, Cell]] = [
        ("Mode", mode),
        ("Run", f"{report.kind} ({options})" if options else report.kind),
        ("Batch", report.batch_id),
        ("Finished (UTC)", report.finished_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Source", report.source_name),
        ("Rows", len(report.results)),
        *((word.capitalize(), n) for _, n, word in count_phrases(counts)),
        *report.extra,
        *([("Rows fingerprint", fingerprint)] if fingerprint else []),
        *(
            (f"Email {n}", f"To: {to}\nSubject: {subject}\n\n{body}")
            for n, (to, subject, body) in enumerate(report.preview, start=1)
        ),
    ]
    columns = ["Row", key_header, "Action", "Changes (old -> new)", "Reason"]
    warned = bool(counts["warning"])  # the rows that need a person's eyes say why
    if warned:
        columns.append(WARNING_HEADER)
    if has_sheets:  # an import of several sheets or files
        columns.insert(0, "Sheet")
    rows = ReportRows(report.results, _cells(warned, has_sheets), _colour)
    return ResultSheet(
        title=f"Parent Portal Accounts: {report.kind} log",
        summary=summary,
        columns=columns,
        rows=rows,
        actions=rows.actions(),
        applied=report.mode == "apply",
    )


def _colour(result: RowResult) -> str:
    return "warning" if result.warning else result.action


def _cells(warned: bool, has_sheets: bool) -> Callable[[RowResult], list[Cell]]:
    """How a result becomes a table row, for the columns the log has."""

    def cells(r: RowResult) -> list[Cell]:
        row: list[Cell] = [r.row, r.key, r.action, describe_changes(r.changes), r.reason]
        if warned:
            row.append(r.warning)
        return [r.sheet, *row] if has_sheets else row

    return cells
