"""A workbook on disk: the ``Workbook`` the terminal uses, and the file-level helpers.

Reading goes through python-calamine (about 8x faster than openpyxl) once the file has passed
``check_workbook_file``. The input is never written: the log goes into a copy next to it,
``NAME.simulation.xlsx`` or ``NAME.applied.xlsx``.
"""

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum
from sqlalchemy import Engine

from addin.files import opc
from addin.files.checks import check_workbook_file
from addin.files.padded_ids import zero_padded_cells
from addin.files.result_writer import (
    check_destination,
    write_result_workbook,
)
from addin.files.sheet_bounds import SheetBounds
from addin.workbooks.interface import (
    NOT_INPUT,
    Selection,
    find_sheet,
    summary_of,
    table_from_grid,
)
from addin.workbooks.result_sheet import (
    LOG_SHEET_NAME,
    ResultSheet,
    continues_a_log,
    log_from_report,
)
from backend.errors import InputError, ResultNotWritten
from backend.imports.contract import InputTable, Report, Results
from backend.settings import get_settings

if TYPE_CHECKING:
    from backend.database.models import Batch


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def result_path(source: Path, applied: bool) -> Path:
    """Where the terminal writes a run's result: next to the input, named by the run's mode."""
    return source.with_name(f"{source.stem}.{'applied' if applied else 'simulation'}.xlsx")


def saved_but_not_written(
    log: ResultSheet, dest: Path, exc: InputError | OSError
) -> ResultNotWritten:
    """The message for a result that failed after its changes were committed."""
    batch = dict(log.summary).get("Batch")
    reason = (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else str(exc)
    return ResultNotWritten(
        f"The changes were saved as batch {batch}, but the log could not be written to {dest} "
        f"({reason}); do not run the import again: get its log with "
        f"`portal batches {batch} --out log.xlsx`."
    )


def write_log_workbook(dest: Path, log: ResultSheet) -> Path:
    """A workbook of its own holding only the log, for runs whose input was not a workbook."""
    import xlsxwriter  # loaded only here: an import of a workbook writes into its copy

    with tempfile.TemporaryDirectory() as folder:
        blank = Path(folder) / "blank.xlsx"
        with xlsxwriter.Workbook(blank) as workbook:
            workbook.add_worksheet(LOG_SHEET_NAME)
        write_result_workbook(blank, dest, log)
    return dest


def write_run_log(dest: Path, log: ResultSheet) -> Path:
    """``write_log_workbook`` for a run just made: after an apply, a failure names the batch the
    changes were saved as."""
    try:
        return write_log_workbook(dest, log)
    except (InputError, OSError) as exc:
        if not log.applied:
            raise
        raise saved_but_not_written(log, dest, exc) from exc


class FileWorkbook:
    """An .xlsx file: read once it passed the safety checks; results go to a copy."""

    def __init__(
        self,
        path: Path,
        *,
        out: Path | None = None,
        assume_yes: bool = False,
        value: str | None = None,
    ) -> None:
        settings = get_settings()
        self._measured = check_workbook_file(
            path,
            max_file_bytes=settings.max_file_mb << 20,
            max_unpacked_bytes=settings.max_unpacked_mb << 20,
        )
        self.path = path
        self.name = path.name
        self.out = out
        self.assume_yes = assume_yes
        self.value = value
        self.messages: list[str] = []
        self.written: Path | None = None
        self._sha256: str | None = None
        self._max_text_chars = settings.max_text_mb * 1_000_000
        try:
            self._book = CalamineWorkbook.from_path(str(path))
        except CalamineError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> InputError:
        return InputError(
            f"{self.name} could not be read as a workbook ({exc}); "
            "open it in Excel and save it again as .xlsx"
        )

    def __enter__(self) -> "FileWorkbook":
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._book.close()

    def sheet_names(self) -> list[str]:
        return list(self._book.sheet_names)

    def input_sheet_names(self) -> list[str]:
        return [
            meta.name
            for meta in self._book.sheets_metadata
            if meta.typ == SheetTypeEnum.WorkSheet
            and meta.visible == SheetVisibleEnum.Visible
            and meta.name.casefold() not in NOT_INPUT
            and not continues_a_log(meta.name)
        ]

    def defined_name(self, name: str) -> str | None:
        """The workbook-wide defined name ``name`` (any capitals), as its formula text."""
        with opc.Package.open(self.path) as package:
            workbook = package.xml(package.workbook_part())
        if workbook is None:
            return None
        folded = name.casefold()
        return next(
            (
                entry.text
                for entry in opc.defined_names(workbook)
                if entry.name.casefold() == folded and entry.local_sheet_id is None
            ),
            None,
        )

    def grid(self, sheet: str) -> list[list[Any]]:
        """The cells as calamine reads them, but numbers shown with leading zeros (an ID typed
        as 00123 into a cell formatted 00000) come as the text Excel shows.

        Only a visible sheet is read (staff checked what they see), and only once its XML shows
        that reading it stays within bounds (``SheetBounds``).
        """
        self._check_readable(sheet)
        try:
            cells = self._book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except CalamineError as exc:
            raise self._unreadable(exc) from None
        columns = {
            j for row in cells for j, v in enumerate(row) if type(v) is float and v.is_integer()
        }
        if columns:
            for (i, j), text in zero_padded_cells(self.path, sheet, columns).items():
                cells[i][j] = text
        return cells

    def _check_readable(self, sheet: str) -> None:
        hidden = next(
            (
                meta
                for meta in self._book.sheets_metadata
                if meta.name == sheet and meta.visible != SheetVisibleEnum.Visible
            ),
            None,
        )
        if hidden is not None and sheet != LOG_SHEET_NAME:
            raise InputError(
                f"{self.name}: the sheet '{sheet}' is hidden, so nobody checked what it holds; "
                "unhide it (right-click a sheet tab > Unhide) or delete it, then try again."
            )
        with opc.Package.open(self.path) as package:
            SheetBounds(package, self.name, self._max_text_chars, self._measured).check(sheet)

    def sha256(self) -> str | None:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def previous_summary(self) -> dict[str, Any]:
        """The log in this file, else the one in the simulation result beside it."""
        if LOG_SHEET_NAME in self.sheet_names():
            return summary_of(self.grid(LOG_SHEET_NAME))
        simulated = result_path(self.path, applied=False)
        if simulated.exists():
            with FileWorkbook(simulated) as previous:
                if LOG_SHEET_NAME in previous.sheet_names():
                    return summary_of(previous.grid(LOG_SHEET_NAME))
        return {}

    def destination(self, applied: bool, sheet_name: str = LOG_SHEET_NAME) -> Path:
        """Where a run's result goes: ``--out``, else next to the input, named by the run."""
        if sheet_name == LOG_SHEET_NAME:
            dest = self.out or result_path(self.path, applied)
        else:
            dest = self.out or self.path.with_name(f"{self.path.stem}.{sheet_name.lower()}.xlsx")
        if dest.resolve() == self.path.resolve():
            raise InputError("The result would overwrite the input workbook; choose another name")
        return dest

    def check_destination(self, applied: bool) -> None:
        """Refuse, before anything is saved, a result that could not be written."""
        check_destination(self.destination(applied))

    def write_log(self, log: ResultSheet, sheet_name: str = LOG_SHEET_NAME) -> str:
        dest = self.destination(log.applied, sheet_name)
        try:
            write_result_workbook(self.path, dest, log, sheet_name)
        except (InputError, OSError) as exc:
            if not log.applied:
                raise
            raise saved_but_not_written(log, dest, exc) from exc
        self.written = dest
        return str(dest)

    def selected_value(self) -> str | None:
        return self.value

    def selection(self) -> Selection:
        """A file has no selection: the ``--value`` given, as one selected cell."""
        return Selection(None, 0, [[self.value]] if self.value else [])

    def open_new(self, kind: str, build: Callable[[Path], Path]) -> str:
        dest = self.out or self.path.with_name(f"new-{kind}.xlsx")
        if dest.resolve() == self.path.resolve():
            raise InputError("The new workbook would overwrite this one; choose another name")
        self.written = build(dest)
        return str(dest)

    def notify(self, text: str) -> None:
        self.messages.append(text)

    def confirm(self, question: str) -> bool:
        return self.assume_yes


def read_table(
    path: Path, *, sheet: str | None = None, preferred: Sequence[str] = ()
) -> tuple[InputTable, str]:
    """One sheet of a workbook file as a InputTable, and the sheet's name.

    ``preferred`` names the sheet a template uses (e.g. "Users"); without it, the first visible
    worksheet that is not a log is read.
    """
    with FileWorkbook(path) as workbook:
        name = find_sheet(workbook, sheet, preferred)
        return table_from_grid(workbook, name, single=True), name


def read_sheets(path: Path, names: Sequence[str]) -> dict[str, InputTable]:
    """Those of the named sheets (any capitals) a workbook file has, keyed by the name asked."""
    with FileWorkbook(path) as workbook:
        present = {name.casefold(): name for name in workbook.sheet_names()}
        return {
            wanted: table_from_grid(workbook, present[wanted.casefold()])
            for wanted in names
            if wanted.casefold() in present
        }


def write_batch_log(engine: Engine, batch_id: int, dest: Path) -> Path:
    """Any batch's Import Log, rebuilt from the audit trail into a workbook of its own, its
    events read a part at a time (``batch_rows``)."""
    from backend.imports.batches import batch_rows

    batch, rows = batch_rows(engine, batch_id)
    return write_batch_record(batch, rows, dest)


def write_batch_record(batch: "Batch", results: Results, dest: Path) -> Path:
    """A batch's Import Log from its record and row results, wherever they were read (the
    caller checked ``dest`` before reading them)."""
    report = Report(
        kind=batch.kind,
        mode="apply" if batch.mode == "apply" else "simulation",
        batch_id=batch.id,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        source_name=batch.source_name,
        options=dict(batch.options or {}),
        results=results,
    )
    return write_log_workbook(dest, log_from_report(report, "Key"))
