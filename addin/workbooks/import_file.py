"""Imports of files named on the terminal: workbooks through ``FileWorkbook``, and OneRoster
bundles, which are folders or zips of CSV files rather than workbooks."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from addin.files.result_writer import check_destination
from addin.workbooks.actions import run_import
from addin.workbooks.file import (
    FileWorkbook,
    result_path,
    write_run_log,
)
from addin.workbooks.kinds import KINDS, ImportKind
from addin.workbooks.result_sheet import log_from_report
from backend.imports.contract import Progress, Report, collector_paused, no_progress
from backend.imports.reviewed import Review


def is_bundle(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() == ".zip"


def import_file(
    engine: Engine | None,
    kind: str,
    path: Path,
    *,
    apply: bool = False,
    dest: Path | None = None,
    progress: Progress = no_progress,
    review: Review | None = None,
    kinds: Mapping[str, ImportKind] = KINDS,
    **options: Any,
) -> tuple[Report, Path]:
    """Run the ``kind`` import of a file and write its result workbook; return both.

    The terminal's ``--apply`` is itself the user's go-ahead: it follows the simulation named
    in ``review``, by default the latest simulation of the same file (found by its SHA-256),
    and is refused if its rows would now be done differently, unless ``review`` confirms.
    ``kinds`` run each import (``addin.remote``'s run them on a district server, with no
    ``engine``).
    """
    review = review or Review()
    with collector_paused():
        if kind == "roster" and is_bundle(path):
            return _import_bundle(engine, kinds["roster"], path, apply, dest, progress, review)
        with FileWorkbook(path, out=dest) as workbook:
            workbook.check_destination(apply)
            report = run_import(
                workbook,
                engine,
                apply=apply,
                kind=kinds[kind],
                progress=progress,
                review=review,
                **options,
            )
        assert workbook.written is not None
        return report, workbook.written


def _import_bundle(
    engine: Engine | None,
    roster: ImportKind,
    path: Path,
    apply: bool,
    dest: Path | None,
    progress: Progress,
    review: Review,
) -> tuple[Report, Path]:
    """A OneRoster bundle: its result is a workbook of its own, holding only the log."""
    from addin.files.oneroster import read_oneroster

    dest = dest or result_path(path.with_suffix(".xlsx"), apply)
    check_destination(dest)
    progress("Reading the bundle", 0, 1)
    bundle = read_oneroster(path)
    progress("Reading the bundle", 1, 1)
    tables = {"Schools": bundle.schools, "Students": bundle.students, "Contacts": bundle.contacts}
    report = roster.run(engine, tables, apply=apply, progress=progress, review=review)
    write_run_log(dest, log_from_report(report, KINDS["roster"].key_header))
    return report, dest
