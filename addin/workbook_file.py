"""A workbook on disk: read one sheet into a backend ``Table``, write a result copy with its log.

Reading goes through python-calamine (about 8x faster than openpyxl) after the file has passed
``check_workbook_file``; writing never touches the input file.
"""

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from addin.file_checks import check_workbook_file
from addin.log_sheet import LOG_SHEET_NAME, LogSheet
from addin.template_marks import is_example_row
from addin.xlsx_result import write_result_workbook
from backend.errors import InputError
from backend.importing import Table, cell_text
from backend.settings import get_settings

# Sheets of ours that are never input: a log from an earlier run, a template's instructions.
NOT_INPUT = {LOG_SHEET_NAME.casefold(), "instructions"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _choose_sheet(
    workbook: CalamineWorkbook, path: Path, wanted: str | None, preferred: Sequence[str]
) -> str:
    names = workbook.sheet_names
    if wanted is not None:
        for name in names:
            if name.casefold() == wanted.casefold():
                return name
        raise InputError(
            f"{path.name} has no sheet named '{wanted}'; its sheets are: " + ", ".join(names)
        )
    for choice in preferred:
        for name in names:
            if name.casefold() == choice.casefold():
                return name
    for meta in workbook.sheets_metadata:
        if (
            meta.typ == SheetTypeEnum.WorkSheet
            and meta.visible == SheetVisibleEnum.Visible
            and meta.name.casefold() not in NOT_INPUT
        ):
            return meta.name
    raise InputError(f"{path.name} has no sheet to import (only: {', '.join(names)})")


@contextmanager
def open_workbook(path: Path) -> Iterator[CalamineWorkbook]:
    """The workbook, once it has passed the untrusted-file checks; read errors become InputError."""
    settings = get_settings()
    check_workbook_file(
        path,
        max_file_bytes=settings.max_file_mb << 20,
        max_unpacked_bytes=settings.max_unpacked_mb << 20,
    )
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        try:
            yield workbook
        finally:
            workbook.close()
    except CalamineError as exc:
        raise InputError(
            f"{path.name} could not be read as a workbook ({exc}); "
            "open it in Excel and save it again as .xlsx"
        ) from None


def _sheet_table(workbook: CalamineWorkbook, name: str, path: Path, sha256: str) -> Table:
    """The sheet's first non-blank row as headers, every later row with its sheet row number."""
    cells = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    header_index = next(
        (i for i, row in enumerate(cells) if any(cell_text(v) is not None for v in row)), None
    )
    if header_index is None:
        raise InputError(
            f"The sheet '{name}' in {path.name} is empty: put the column headers "
            "in its first row and one row per record below them"
        )
    rows = [
        (number + 1, cells[number])
        for number in range(header_index + 1, len(cells))
        if not is_example_row(cells[number])
    ]
    if not any(any(cell_text(v) is not None for v in row) for _, row in rows):
        raise InputError(f"The sheet '{name}' in {path.name} has headers but no rows below them")
    return Table(
        headers=list(cells[header_index]),
        rows=rows,
        header_row=header_index + 1,
        sheet=name,
        source_name=path.name,
        source_sha256=sha256,
    )


def read_table(
    path: Path, *, sheet: str | None = None, preferred: Sequence[str] = ()
) -> tuple[Table, str]:
    """One sheet of a workbook as a Table, and the sheet's name.

    ``preferred`` names the sheet a template uses (e.g. "Users"); without it, the first visible
    worksheet that is not a log is read.
    """
    with open_workbook(path) as workbook:
        name = _choose_sheet(workbook, path, sheet, preferred)
        table = _sheet_table(workbook, name, path, file_sha256(path))
    table.sheet = None  # one sheet: its rows need no sheet name
    return table, name


def read_sheets(path: Path, names: Sequence[str]) -> dict[str, Table]:
    """Those of the named sheets (any capitals) the workbook has, keyed by the name asked for."""
    found: dict[str, Table] = {}
    with open_workbook(path) as workbook:
        sha256 = file_sha256(path)
        present = {name.casefold(): name for name in workbook.sheet_names}
        for wanted in names:
            if wanted.casefold() in present:
                found[wanted] = _sheet_table(workbook, present[wanted.casefold()], path, sha256)
    return found


def write_result(source: Path, dest: Path, log: LogSheet) -> Path:
    """A copy of ``source`` with the log sheet, at ``dest``; the source is never written."""
    write_result_workbook(source, dest, log)
    return dest


def result_path(source: Path, applied: bool) -> Path:
    """Where the terminal writes a run's result: next to the input, named by the run's mode."""
    return source.with_name(f"{source.stem}.{'applied' if applied else 'simulation'}.xlsx")
