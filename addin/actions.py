"""What a ribbon button or a CLI command does with a workbook file, in one place for both."""

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import xlsxwriter
from sqlalchemy import Engine

from addin.log_sheet import LOG_SHEET_NAME, log_from_report
from addin.workbook_file import read_sheets, read_table, result_path, write_result
from backend.errors import InputError
from backend.importing import Progress, Report, Table, collector_paused, no_progress
from backend.links_import import import_links
from backend.roster_import import import_roster
from backend.users_import import ImportMode, import_users

ROSTER_SHEETS = ("Schools", "Students", "Contacts")
T = TypeVar("T")


def _run_file(
    file: Path,
    *,
    apply: bool,
    dest: Path | None,
    key_header: str,
    progress: Progress,
    read: Callable[[], T],
    run: Callable[[T], Report],
) -> tuple[Report, Path]:
    """Read, run and write the result workbook with its Import Log; returns where it went."""
    dest = dest or result_path(file, apply)
    if dest.resolve() == file.resolve():
        raise InputError("The result would overwrite the input workbook; choose another name")
    with collector_paused():
        progress("Reading the workbook", 0, 1)
        data = read()
        progress("Reading the workbook", 1, 1)
        report = run(data)
        progress("Writing the log", 0, 1)
        log = log_from_report(report, key_header)
        if file.is_file() and file.suffix.lower() == ".xlsx":
            write_result(file, dest, log)
        else:  # a CSV bundle: the result is a workbook of its own
            with tempfile.TemporaryDirectory() as folder:
                blank = Path(folder) / "blank.xlsx"
                with xlsxwriter.Workbook(blank) as workbook:
                    workbook.add_worksheet(LOG_SHEET_NAME)
                write_result(blank, dest, log)
        progress("Writing the log", 1, 1)
    return report, dest


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
    """The users import of a workbook (sheet 'Users', else the first)."""
    return _run_file(
        file,
        apply=apply,
        dest=dest,
        key_header="LOGONID",
        progress=progress,
        read=lambda: read_table(file, sheet=sheet, preferred=("Users",))[0],
        run=lambda table: import_users(
            engine,
            table,
            apply=apply,
            mode=mode,
            progress=progress,
        ),
    )


def import_links_file(
    engine: Engine,
    file: Path,
    *,
    apply: bool = False,
    schools: Sequence[str] = (),
    sheet: str | None = None,
    dest: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[Report, Path]:
    """The student-link import of a workbook (sheet 'Links', else the first)."""
    return _run_file(
        file,
        apply=apply,
        dest=dest,
        key_header="LOGONID / STUDENT_ID",
        progress=progress,
        read=lambda: read_table(file, sheet=sheet, preferred=("Links", "Student Links"))[0],
        run=lambda table: import_links(
            engine,
            table,
            apply=apply,
            schools=schools,
            progress=progress,
        ),
    )


def read_roster(source: Path) -> dict[str, Table]:
    """A roster workbook's Schools, Students and Contacts sheets, or a OneRoster bundle's."""
    if source.is_dir() or source.suffix.lower() == ".zip":
        from addin.oneroster import read_oneroster

        bundle = read_oneroster(source)
        return {"Schools": bundle.schools, "Students": bundle.students, "Contacts": bundle.contacts}
    sheets = read_sheets(source, ROSTER_SHEETS)
    if "Students" not in sheets and "Contacts" not in sheets:
        raise InputError(
            f"{source.name} has neither a Students nor a Contacts sheet; a roster "
            "workbook has sheets named Students and Contacts (and Schools)"
        )
    return sheets


def import_roster_source(
    engine: Engine,
    source: Path,
    *,
    apply: bool = False,
    dest: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[Report, Path]:
    """The roster import of a workbook, a OneRoster folder or a OneRoster zip."""
    return _run_file(
        source,
        apply=apply,
        dest=dest,
        key_header="Key",
        progress=progress,
        read=lambda: read_roster(source),
        run=lambda sheets: import_roster(
            engine,
            schools=sheets.get("Schools"),
            students=sheets.get("Students"),
            contacts=sheets.get("Contacts"),
            apply=apply,
            progress=progress,
        ),
    )
