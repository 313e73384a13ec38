"""`portal import ...` and `portal run`: the imports and the ribbon's actions on files."""

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from addin.cli.output import (
    ApplyOption,
    OutOption,
    engine,
    finish,
    out,
    progress_bar,
    shown,
)

# The fixed values of options, checked by the CLI; tests hold them equal to the backend's own.
ImportMode = Literal["upsert", "insert-only", "update-only"]
Kind = Literal["users", "links", "roster", "autocreate"]
RibbonAction = Literal[
    "users.check",
    "users.simulate",
    "users.apply",
    "links.check",
    "links.simulate",
    "links.apply",
    "roster.check",
    "roster.simulate",
    "roster.apply",
    "autocreate.check",
    "autocreate.simulate",
    "autocreate.apply",
    "lookup",
    "template.new",
]

ReviewedOption = Annotated[
    int | None,
    typer.Option(
        "--reviewed",
        metavar="BATCH",
        help="With --apply: the simulation you reviewed (its batch number). Default: the "
        "latest simulation of the same file.",
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


def _import(
    kind: str,
    path: Path,
    apply: bool,
    out_path: Path | None,
    reviewed: int | None,
    yes: bool,
    **options: Any,
) -> None:
    """One `portal import` run: the file imported with a progress bar, then told. With
    PORTAL_SERVER_URL set, the rows are run on the district server; the log is written here."""
    from backend.imports.contract import collector_paused

    with collector_paused():  # from the imports on: they make many objects, none garbage
        from addin.remote import from_settings, remote_kinds
        from addin.workbooks.import_file import import_file
        from addin.workbooks.kinds import KINDS
        from backend.imports.reviewed import Review

        remote = from_settings()
        with progress_bar() as progress:
            report, dest = import_file(
                engine() if remote is None else None,
                kind,
                path,
                apply=apply,
                dest=out_path,
                progress=progress,
                review=Review(reviewed, confirmed=yes),
                kinds=KINDS if remote is None else remote_kinds(remote),
                **options,
            )
    finish(report, dest)


import_app = typer.Typer(
    help="Import a workbook (simulation unless --apply).", no_args_is_help=True
)


@import_app.command("users")
def import_users_command(
    file: Annotated[Path, typer.Argument(help="The users workbook (.xlsx).")],
    apply: ApplyOption = False,
    reviewed: ReviewedOption = None,
    yes: YesOption = False,
    mode: Annotated[
        ImportMode,
        typer.Option(
            help="upsert: add new accounts and update existing ones; insert-only: only add; "
            "update-only: only update.",
            case_sensitive=False,
        ),
    ] = "upsert",
    out_path: OutOption = None,
    sheet: Annotated[
        str | None, typer.Option(help="The sheet to read. Default: 'Users', else the first.")
    ] = None,
) -> None:
    """Import portal users (LOGONID, FIRST_NAME, LAST_NAME, USER_TYPE, ...) from a workbook."""
    _import("users", file, apply, out_path, reviewed, yes, mode=mode, sheet=sheet)


@import_app.command("links")
def import_links_command(
    file: Annotated[Path, typer.Argument(help="The student-link workbook (.xlsx).")],
    apply: ApplyOption = False,
    reviewed: ReviewedOption = None,
    yes: YesOption = False,
    school: Annotated[
        list[str] | None,
        typer.Option(
            help="Only students of this school (code); repeat for several. Rows for other "
            "students are errors."
        ),
    ] = None,
    out_path: OutOption = None,
    sheet: Annotated[
        str | None, typer.Option(help="The sheet to read. Default: 'Links', else the first.")
    ] = None,
) -> None:
    """Attach students to accounts (LOGONID, STUDENT_ID, RELATIONSHIP, ..., ACTION ADD/REMOVE)."""
    _import("links", file, apply, out_path, reviewed, yes, schools=school or (), sheet=sheet)


@import_app.command("roster")
def import_roster_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A roster workbook (sheets Schools, Students, Contacts), or a OneRoster "
            "CSV bundle as a folder or .zip."
        ),
    ],
    apply: ApplyOption = False,
    reviewed: ReviewedOption = None,
    yes: YesOption = False,
    out_path: OutOption = None,
) -> None:
    """Import schools, students and their contacts from a workbook or a OneRoster bundle."""
    _import("roster", source, apply, out_path, reviewed, yes)


def run_command(
    action: Annotated[
        RibbonAction,
        typer.Argument(
            help="A ribbon action: users.check, users.simulate, users.apply, "
            "links.*, roster.*, autocreate.*, lookup, template.new.",
            case_sensitive=False,
        ),
    ],
    workbook_path: Annotated[Path, typer.Argument(help="The workbook (.xlsx) to act on.")],
    out_path: OutOption = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="Apply even if the sheet changed since its simulation, or rows would now be "
            "done differently from it.",
        ),
    ] = False,
    value: Annotated[
        str | None, typer.Option(help="For lookup: the STUDENT_ID or LOGONID to look up.")
    ] = None,
    kind: Annotated[
        Kind | None,
        typer.Option(
            help="For template.new: users, links, roster or autocreate.", case_sensitive=False
        ),
    ] = None,
) -> None:
    """Run any ribbon button's action on a workbook file, exactly as Excel would."""
    from addin.workbooks.actions import dispatch
    from addin.workbooks.file import FileWorkbook
    from backend.imports.contract import Report

    if action == "template.new" and not workbook_path.exists():
        from addin.workbooks.templates import build_template

        built = build_template(kind or "users", workbook_path)
        out.print(f"New {kind or 'users'} workbook: {shown(built)}", highlight=False)
        return
    from addin.remote import from_settings

    db = from_settings() or engine()  # PORTAL_SERVER_URL: the action runs on the server
    with (
        progress_bar() as progress,
        FileWorkbook(workbook_path, out=out_path, assume_yes=yes, value=value) as workbook,
    ):
        if action.endswith((".simulate", ".apply")):
            workbook.check_destination(applied=action.endswith(".apply"))
        result = dispatch(action, workbook, db, kind=kind, progress=progress)
    for message in workbook.messages:
        out.print(escape(message), soft_wrap=True, highlight=False)
    if isinstance(result, Report) and result.counts["error"]:
        raise typer.Exit(1)
