"""What a ribbon button or a CLI command does with a workbook file, in one place for both."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from addin.log_sheet import log_from_report
from addin.workbook_file import read_table, result_path, write_result
from backend.errors import InputError
from backend.importing import Progress, Report, no_progress
from backend.users_import import ImportMode, import_users


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during one bulk run.

    A 100k-row run allocates millions of small containers and would trigger hundreds of full
    collections that find nothing to free: a fifth of the run's time. Memory is bounded by the
    run, and collection resumes when it ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_users_file(
    engine: Engine,
    file: Path,
    *,
    apply: bool = False,
    mode: ImportMode = "upsert",
    sheet: str | None = None,
    dest: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[Report, Path]:
    """Read, import and write the result workbook with its Import Log; returns where it went."""
    dest = dest or result_path(file, apply)
    if dest.resolve() == file.resolve():
        raise InputError("The result would overwrite the input workbook; choose another name")
    with collector_paused():
        progress("Reading the workbook", 0, 1)
        table, _ = read_table(file, sheet=sheet, preferred=("Users",))
        progress("Reading the workbook", 1, 1)
        report = import_users(engine, table, apply=apply, mode=mode, progress=progress)
        progress("Writing the log", 0, 1)
        write_result(file, dest, log_from_report(report, "LOGONID"))
        progress("Writing the log", 1, 1)
    return report, dest
