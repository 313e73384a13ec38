"""What a ribbon button or a CLI command does with a workbook file, in one place for both."""

from pathlib import Path

from sqlalchemy import Engine

from addin.log_sheet import log_from_report
from addin.workbook_file import read_table, result_path, write_result
from backend.errors import InputError
from backend.importing import Progress, Report, no_progress
from backend.users_import import ImportMode, import_users


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
    progress("Reading the workbook", 0, 1)
    table, _ = read_table(file, sheet=sheet, preferred=("Users",))
    progress("Reading the workbook", 1, 1)
    report = import_users(engine, table, apply=apply, mode=mode, progress=progress)
    progress("Writing the log", 0, 1)
    write_result(file, dest, log_from_report(report, "LOGONID"))
    progress("Writing the log", 1, 1)
    return report, dest
