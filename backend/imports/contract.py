"""The import contract shared by every import: headers, cells, row results, batches.

An import takes an ``InputTable`` (header cells plus rows that keep their row numbers), checks the
headers against its ``Column`` list before looking at any row, turns each row into values or a
plain-language error, and hands back a ``Report`` with one ``RowResult`` per input row.
"""

import difflib
import gc
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal, NoReturn, Protocol

from backend.errors import HeaderError
from backend.imports.cell_values import (
    EXCEL_CELL_CHARS,
    id_cell_text,
    refuse_invisible,
    remove_invisible,
)

Action = Literal["added", "updated", "removed", "skipped", "error"]
ACTIONS: tuple[Action, ...] = ("added", "updated", "removed", "skipped", "error")
Mode = Literal["simulation", "apply"]
Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a long run advances."""

CHUNK = 5000


def no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class Column:
    """One column an import understands: its header, the field it fills, and its cell parser.

    ``parse`` receives the trimmed, non-blank cell text and raises ValueError with a message
    that makes sense after "COLUMN: ". ``holds`` says how a cell becomes that text: "id" (IDs,
    codes, logons: a number only as Excel kept it, never a date, no invisible character),
    "text" (names and other free text: invisible characters are removed, with a note) or
    "value" (anything else: no invisible character). ``stores`` names the model columns the
    value is saved in: the shortest of their lengths is the value's limit.
    """

    name: str
    field: str
    parse: Callable[[str], Any]
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""
    holds: Literal["id", "text", "value"] = "value"
    stores: tuple[Any, ...] = ()

    @property
    def max_length(self) -> int | None:
        """The most characters every model column it fills takes; None when none says."""
        lengths = [getattr(c.type, "length", None) for c in self.stores]
        return min((n for n in lengths if n), default=None)

    @property
    def choices(self) -> tuple[str, ...]:
        """The values a column takes, when it takes few (templates offer them as a dropdown)."""
        return tuple(getattr(self.parse, "choices", ()))


def field_headers(
    columns: Iterable[Column], *, only: Iterable[str] = (), leave_out: Iterable[str] = ()
) -> dict[str, str]:
    """The header each field is shown under in results, in column order.

    ``only`` keeps just those fields (each must be a column's); ``leave_out`` drops keys and the
    like, fields an import never changes on a stored record.
    """
    kept, dropped = set(only), set(leave_out)
    headers = {
        c.field: c.name for c in columns if (not kept or c.field in kept) and c.field not in dropped
    }
    missing = kept - set(headers)
    if missing:
        raise ValueError(f"no column fills {', '.join(sorted(missing))}")
    return headers


class TableRows(Protocol):
    """A table's rows: a list, or rows read again from their file on each pass (a state's
    bundle, never whole in memory). Either can be counted and read more than once."""

    def __iter__(self) -> Iterator[tuple[int, Sequence[Any]]]: ...

    def __len__(self) -> int: ...


@dataclass
class InputTable:
    """What a front end read: header cells, and rows that pair each row number with its values.

    Values are text, whole numbers, other numbers, booleans or dates, as the source holds them;
    the reader turns its own representations (a spreadsheet's float IDs) into these first.
    """

    headers: list[Any]
    rows: TableRows
    header_row: int = 1
    sheet: str | None = None  # named in messages when an import reads several tables
    source_name: str | None = None
    source_sha256: str | None = None
    # Problems the reader found in a row (e.g. a reference a CSV bundle cannot resolve),
    # keyed by row number; the import reports them as that row's errors.
    notes: dict[int, list[str]] = field(default_factory=dict)
    # How the reader names each column in messages (a sheet reader gives letters: A, B, ...);
    # without them columns are numbered from 1.
    labels: Sequence[str] | None = None
    # What reading a row changed in it without refusing it (invisible characters removed from
    # a name), keyed by row number; the row's result in the log ends with them.
    remarks: dict[int, list[str]] = field(default_factory=dict)
    # Headers no import knows, left out of the import (filled in by ``match_headers``).
    ignored: list[str] = field(default_factory=list)

    def label(self, index: int) -> str:
        """The reader's name for the 0-based column ``index``, as in "column B"."""
        if self.labels is not None and index < len(self.labels):
            return self.labels[index]
        return str(index + 1)

    def header_place(self, index: int) -> str:
        """Where a header is: "cell B1" when the reader names its columns, else "column 2"."""
        if self.labels is not None and index < len(self.labels):
            return f"cell {self.labels[index]}{self.header_row}"
        return f"column {index + 1}"


@dataclass(slots=True)
class RowResult:
    row: int | None
    key: str | None
    action: Action
    reason: str
    changes: dict[str, tuple[Any, Any]] | None = None
    sheet: str | None = None  # for imports that read several sheets or files
    # Set on a row that was (or would be) done but needs a person's eyes, saying why.
    warning: str | None = None


SPILL_ROWS = 250_000
"""Rows a ``RowLog`` keeps in memory; beyond them, rows wait in a temporary file."""


@dataclass
class RowTally:
    """What a run's rows add up to: each action's count, under "warning" the rows that carry a
    warning, and whether any row names its sheet (an import of several tables)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*ACTIONS, "warning"), 0))
    sheets: bool = False

    def add(self, rows: Iterable[RowResult]) -> None:
        counts = self.counts
        for row in rows:
            counts[row.action] += 1
            if row.warning:
                counts["warning"] += 1
            if row.sheet:
                self.sheets = True


def tally(results: Iterable[RowResult]) -> RowTally:
    """The rows' tally: a ``RowLog``'s, kept as its rows came, else counted in one pass."""
    if isinstance(results, RowLog):
        return results.tally
    found = RowTally()
    found.add(results)
    return found


class RowLog:
    """A run's row results in run order, with their ``RowTally`` kept as they are added.

    Up to ``spill`` rows are kept in memory (a list, indexable as tests and small runs use it);
    beyond them the oldest are pickled to a temporary file, so a state's run of millions of rows
    keeps at most ``spill`` of them in memory. Iterating reads the file again each time.
    """

    def __init__(self, rows: Iterable[RowResult] = (), *, spill: int | None = None) -> None:
        self._rows: list[RowResult] = []
        self._file: Any = None  # the temporary file of spilled chunks, once there is one
        self._spilled = 0
        self._spill = spill or SPILL_ROWS
        self.tally = RowTally()
        self.extend(rows)

    @property
    def counts(self) -> dict[str, int]:
        return self.tally.counts

    @property
    def warnings(self) -> int:
        return self.tally.counts["warning"]

    def append(self, row: RowResult) -> None:
        self.extend((row,))

    def extend(self, rows: Iterable[RowResult]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        self.tally.add(rows)
        start = 0
        while start < len(rows):
            room = self._spill - len(self._rows)
            self._rows += rows[start : start + room]
            start += room
            if len(self._rows) >= self._spill:
                self._spill_rows()

    def _spill_rows(self) -> None:
        if self._file is None:
            # Kept open as long as the log lives; closing it removes it.
            self._file = tempfile.TemporaryFile(prefix="portal-rows-")  # noqa: SIM115
        self._file.seek(0, 2)
        chunk = [
            (r.row, r.key, r.action, r.reason, r.changes, r.sheet, r.warning) for r in self._rows
        ]
        pickle.dump(chunk, self._file, pickle.HIGHEST_PROTOCOL)
        self._spilled += len(chunk)
        self._rows.clear()

    def __len__(self) -> int:
        return self._spilled + len(self._rows)

    def __iter__(self) -> Iterator[RowResult]:
        place, spilled = 0, self._spilled
        for _ in range(0, spilled, self._spill):
            self._file.seek(place)  # each pass keeps its own place in the file
            chunk = pickle.load(self._file)
            place = self._file.tell()
            for values in chunk:
                yield RowResult(*values)
        yield from list(self._rows)

    def __getitem__(self, index: int) -> RowResult:
        """A row by its place, while every row is still in memory (a small run)."""
        if self._file is not None:
            raise TypeError("a spilled RowLog is read by iterating it")
        return self._rows[index]

    def close(self) -> None:
        """Remove the temporary file now rather than when the log is collected."""
        if self._file is not None:
            self._file.close()


Results = list[RowResult] | RowLog
"""A report's rows: a list, or a ``RowLog`` when a run keeps its rows as they come."""


@dataclass
class Report:
    kind: str
    mode: Mode
    batch_id: int
    started_at: datetime
    finished_at: datetime
    source_name: str | None
    results: Results = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    extra: list[tuple[str, Any]] = field(default_factory=list)  # more summary lines
    preview: list[tuple[str, str, str]] = field(default_factory=list)  # (to, subject, body)

    @property
    def counts(self) -> dict[str, int]:
        return {a: n for a, n in self.tallies.items() if a != "warning"}

    @property
    def tallies(self) -> dict[str, int]:
        """The counts of each action and, under "warning", of the rows that carry a warning."""
        return dict(tally(self.results).counts)


Tally = Action | Literal["warning"]
"""What a summary counts: each action, and the rows that carry a warning (of any action)."""

# How each tally is counted in words; "removed" and "warning" are only mentioned when some are.
COUNT_WORDS: dict[Tally, str] = {
    "added": "added",
    "updated": "updated",
    "removed": "removed",
    "skipped": "skipped",
    "error": "errors",
    "warning": "warnings",
}
_SOMETIMES: tuple[Tally, ...] = ("removed", "warning")


def count_phrases(counts: dict[str, int]) -> list[tuple[Tally, int, str]]:
    """(tally, count, word) for each count a summary shows, in the order every front end uses."""
    return [
        (a, counts.get(a, 0), word)
        for a, word in COUNT_WORDS.items()
        if counts.get(a, 0) or a not in _SOMETIMES
    ]


def counts_text(counts: dict[str, int], style: Callable[[Tally, str], str] | None = None) -> str:
    """'3 added, 1 updated, 2 skipped, 0 errors, 1 warnings'; ``style`` may dress each phrase."""
    dress = style or (lambda _action, text: text)
    return ", ".join(dress(a, f"{n} {word}") for a, n, word in count_phrases(counts))


def warnings_first(results: Iterable[RowResult]) -> list[RowResult]:
    """The rows as a log lists them: those with a warning first, each group in its own order."""
    ordered = list(results)
    return [r for r in ordered if r.warning] + [r for r in ordered if not r.warning]


def _squash(header: str) -> str:
    """Headers compare without case, spaces, dashes, dots or underscores: 'Logon Id' is LOGONID."""
    return re.sub(r"[\s_\-.*]+", "", header).upper()


def column_of(header: Any, columns: Sequence[Column]) -> Column | None:
    """The column a header cell names (by its name or another name, any capitals or spacing)."""
    text = cell_text(header)
    if text is None:
        return None
    return _names(tuple(columns)).get(_squash(text))


def _names(columns: tuple[Column, ...]) -> dict[str, Column]:
    return {_squash(name): column for column in columns for name in (column.name, *column.aliases)}


def match_headers(table: InputTable, columns: Sequence[Column]) -> list[tuple[int, Column]]:
    """Pair the table's columns with Columns, or raise one HeaderError naming every fault.

    A header no import knows is a column staff keep for themselves (NOTES): it is left out and
    listed in ``table.ignored``. One that looks like a misspelling of a known column
    (FRIST_NAME) is an error naming the column it probably means: its values would be lost.
    """
    by_name = _names(tuple(columns))
    found: dict[str, int] = {}
    pairs: list[tuple[int, Column]] = []
    problems: list[str] = []
    table.ignored = []
    for index, raw in enumerate(table.headers):
        header = cell_text(raw)
        if header is None:
            if any(index < len(cells) and cell_text(cells[index]) for _, cells in table.rows):
                problems.append(f"column {table.label(index)} has values but no header")
            continue
        matched = by_name.get(_squash(header))
        if matched is None:
            meant = _probably_meant(header, by_name)
            if meant is None:
                table.ignored.append(header)
            else:
                problems.append(
                    f"unknown column '{header}' ({table.header_place(index)}): "
                    f"did you mean {meant.name}?"
                )
        elif matched.name in found:
            first, second = table.label(found[matched.name]), table.label(index)
            problems.append(f"{matched.name} appears twice (columns {first} and {second})")
        else:
            found[matched.name] = index
            pairs.append((index, matched))
    missing = [c.name for c in columns if c.required and c.name not in found]
    if missing:
        plural = "s " if len(missing) > 1 else " "
        problems.insert(0, f"missing required column{plural}" + ", ".join(missing))
    if problems:
        _refuse_headers(table, columns, problems)
    return pairs


MISSPELLING_CUTOFF = 0.85
"""How alike (difflib's ratio) a header and a known name must be to count as a misspelling:
FRIST_NAME and E-mail Adress are, NOTES is not. Letters swapped (EMIAL) always are."""


def _probably_meant(header: str, by_name: dict[str, Column]) -> Column | None:
    """The column a header is probably a misspelling of, or None for a column of one's own.

    A known name with something added (PHONE 2, EMAIL_OLD) is a column of one's own, not a
    misspelling.
    """
    squashed = _squash(header)
    swapped = [name for name in by_name if sorted(name) == sorted(squashed)]  # EMIAL
    close = swapped or difflib.get_close_matches(squashed, by_name, cutoff=MISSPELLING_CUTOFF)
    if not close or close[0] in squashed:
        return None
    return by_name[close[0]]


def ignored_columns(tables: Iterable[InputTable | None]) -> list[tuple[str, Any]]:
    """The summary line naming the columns left out of a run, when there are any."""
    named = [
        f"{header} ({table.sheet})" if table.sheet else header
        for table in tables
        if table is not None
        for header in table.ignored
    ]
    return [("Columns ignored", ", ".join(named))] if named else []


def _refuse_headers(table: InputTable, columns: Sequence[Column], problems: list[str]) -> NoReturn:
    where = f"row {table.header_row}" + (f" of sheet {table.sheet}" if table.sheet else "")
    known = ", ".join(c.name for c in columns)
    said = "; ".join(problems)
    said += " " if said.endswith(("?", ".")) else ". "
    raise HeaderError(
        f"The header row ({where}) has problems: {said}Known columns: {known}. Nothing was "
        "imported."
    )


def cell_text(value: Any) -> str | None:
    """A value as trimmed text, None when blank: every parser works on text (IDs are text)."""
    if type(value) is str:  # the common case first: most values are text
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip() or None


def parse_rows(
    table: InputTable, pairs: list[tuple[int, Column]]
) -> Iterable[tuple[int, dict[str, Any], list[str]]]:
    """Yield (row number, parsed values of non-blank cells, problems) for each non-empty row.

    A value longer than the model columns it is saved in is a problem like any other, so the
    simulation refuses what the database would; what reading changed goes to ``table.remarks``.
    """
    notes, remarks = table.notes, table.remarks
    remarks.clear()
    readers = [(index, column, column.max_length) for index, column in pairs]
    for number, cells in table.rows:
        values: dict[str, Any] = {}
        problems: list[str] = list(notes.get(number, ()))
        blank = not problems
        width = len(cells)
        for index, column, limit in readers:
            raw = cells[index] if index < width else None
            if raw is None:
                continue
            try:
                text = raw.strip() if type(raw) is str else None
                # Most cells are printable text, which every kind of column reads as trimmed.
                if not (text and len(text) <= EXCEL_CELL_CHARS and text.isprintable()):
                    text = _read_cell(column, raw, remarks, number)
                    if text is None:
                        continue
                blank = False
                value = column.parse(text)
                if limit is not None and type(value) is str and len(value) > limit:
                    raise ValueError(f"is {len(value)} characters long; at most {limit} fit")
                values[column.field] = value
            except ValueError as exc:
                blank = False
                problems.append(f"{column.name}: {exc}")
        if not blank:
            yield number, values, problems


def add_blank(problems: list[str], column: str, what: str, *, first: bool = True) -> None:
    """Say that the row's COLUMN is blank, unless its cell was refused as read: then it is not
    blank, only unusable, and the problem already says why."""
    if any(p.startswith(f"{column}:") for p in problems):
        return
    problems.insert(0 if first else len(problems), f"{column}: is blank{what}")


def _read_cell(column: Column, raw: Any, remarks: dict[int, list[str]], row: int) -> str | None:
    """A cell as its column's parser takes it: trimmed text, or None when blank."""
    text = id_cell_text(raw) if column.holds == "id" else cell_text(raw)
    if text is None:
        return None
    if len(text) > EXCEL_CELL_CHARS:
        raise ValueError(
            f"holds {len(text):,} characters, more than an Excel cell can ({EXCEL_CELL_CHARS:,})"
        )
    if column.holds != "text":
        refuse_invisible(text)
        return text
    text, remark = remove_invisible(text)
    if remark is not None:
        remarks.setdefault(row, []).append(f"{column.name}: {remark}")
    return text or None


def enum_parser(name: str, allowed: Sequence[str]) -> Callable[[str], str]:
    choices = " or ".join(allowed)

    def parse(text: str) -> str:
        value = text.upper()
        if value not in allowed:
            raise ValueError(f"'{text}' must be {choices}")
        return value

    parse.__name__ = f"parse_{name.lower()}"
    parse.choices = tuple(allowed)  # type: ignore[attr-defined]
    return parse


def describe_changes(changes: dict[str, tuple[Any, Any]] | None) -> str:
    """'FIRST_NAME: Jon -> John; STATUS: ACTIVE -> DISABLED' as a log shows it."""
    if not changes:
        return ""
    return "; ".join(
        f"{name}: {'(blank)' if old is None else old} -> {'(blank)' if new is None else new}"
        for name, (old, new) in changes.items()
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during one bulk run.

    A 100k-row run allocates millions of small containers and would trigger hundreds of full
    collections that find nothing to free: a fifth of the run's time. Memory is bounded by the
    run, and collection resumes when it ends, with what the run made and still holds counted
    in the oldest generation, as if it had lived through the collections it skipped: else the
    first object made afterwards sets off a walk over all of it (a tenth of a second after a
    20,000-row import), which the next full collection makes anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # every tracked object to the permanent generation, counts reset...
            gc.unfreeze()  # ...and back, into the oldest generation
            gc.enable()
