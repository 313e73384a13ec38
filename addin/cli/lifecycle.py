"""`portal lifecycle ...`: upkeep of every account at once as the school year turns."""

from pathlib import Path
from typing import Annotated

import typer

from addin.cli.output import ApplyOption, engine, finish, progress_bar
from backend.errors import InputError

KEY_HEADER = "LOGONID / STUDENT_ID"
"""The log's key column: an account's logon, or an account and a student for a link."""

lifecycle_app = typer.Typer(
    help="Upkeep of every account at once as the school year turns (a simulation unless --apply).",
    no_args_is_help=True,
)

ReviewedOption = Annotated[
    int | None,
    typer.Option(
        "--reviewed",
        metavar="BATCH",
        help="With --apply: the simulation you reviewed (its batch number). Default: the "
        "latest year-end simulation, if no year-end was applied since.",
    ),
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        help="With --apply: apply even rows that would now be done differently from the "
        "reviewed simulation.",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Where to write the Import Log workbook (.xlsx). Default: year-end.simulation.xlsx "
        "or year-end.applied.xlsx here.",
    ),
]


@lifecycle_app.command("year-end")
def year_end_command(
    apply: ApplyOption = False,
    reviewed: ReviewedOption = None,
    yes: YesOption = False,
    out_path: OutOption = None,
) -> None:
    """At the end of a school year: detach the students who are no longer ACTIVE, disable the
    accounts left with no ACTIVE student (a student's own account when the student has left),
    and list the accounts never activated PORTAL_NOT_ACTIVATED_DAYS (60) days after they were
    made, without changing them. A simulation unless --apply; a second apply finds nothing to
    do."""
    from addin import remote_school_year
    from addin.files.result_writer import check_destination
    from addin.remote import from_settings
    from addin.workbooks.file import write_run_log
    from addin.workbooks.result_sheet import log_from_report
    from backend.accounts.year_end import year_end
    from backend.imports.contract import collector_paused
    from backend.imports.reviewed import Review

    dest = out_path or Path(f"year-end.{'applied' if apply else 'simulation'}.xlsx")
    if dest.suffix.lower() != ".xlsx":
        raise InputError(f"--out {dest.name}: the workbook's name must end in .xlsx")
    check_destination(dest)
    review = Review(reviewed, confirmed=yes)
    remote = from_settings()
    if remote is not None:
        report = remote_school_year.year_end(remote, apply=apply, review=review)
        write_run_log(dest, log_from_report(report, KEY_HEADER))
        finish(report, dest, told=None)
        return
    db = engine()
    with progress_bar() as progress, collector_paused():
        report = year_end(db, apply=apply, progress=progress, review=review)
        write_run_log(dest, log_from_report(report, KEY_HEADER))
    finish(report, dest, told=None)
