"""The ``portal`` command: every Excel action, run on .xlsx files from a terminal.

Exit codes: 0 all rows fine, 1 some rows in error, 2 the input or command could not be used.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy import Engine

from addin.actions import import_users_file
from backend.batches import get_batch, list_batches
from backend.db import migrate, normalise_url, open_database
from backend.errors import InputError, PortalError
from backend.importing import Progress as ProgressCallback
from backend.importing import Report, describe_changes
from backend.settings import get_settings
from backend.users_import import IMPORT_MODES, ImportMode

app = typer.Typer(
    help="Parent Portal Accounts: create and maintain parent-portal logons from Excel "
    "workbooks.\n\nEvery import is a simulation unless you add --apply.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(
    help="Import a workbook (simulation unless --apply).", no_args_is_help=True
)
app.add_typer(import_app, name="import")

out = Console()
err = Console(stderr=True)

ACTION_STYLES = {
    "added": "green",
    "updated": "yellow",
    "removed": "dark_orange",
    "skipped": "bright_black",
    "error": "red",
}


class State:
    database_url: str | None = None


state = State()


@app.callback()
def main_options(
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL or SQLite file path. Default: PORTAL_DATABASE_URL, "
            "else a SQLite file in your user data folder.",
        ),
    ] = None,
) -> None:
    state.database_url = database


def engine() -> Engine:
    return open_database(state.database_url)


@contextmanager
def progress_bar() -> Iterator[ProgressCallback]:
    """A progress bar on the terminal, fed by a backend progress callback."""
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def print_report(report: Report, log_path: Path | None) -> None:
    counts = report.counts
    if report.mode == "apply":
        out.print(f"[bold green]APPLIED[/] {report.kind} of {report.source_name}: changes saved.")
    else:
        out.print(
            f"[bold yellow]SIMULATION[/] {report.kind} of {report.source_name}: nothing was saved."
        )
    out.print(
        f"Batch {report.batch_id}: {len(report.results)} rows: "
        f"[green]{counts['added']} added[/], [yellow]{counts['updated']} updated[/], "
        + (f"{counts['removed']} removed, " if counts["removed"] else "")
        + f"{counts['skipped']} skipped, [red]{counts['error']} errors[/]."
    )
    errors = [r for r in report.results if r.action == "error"]
    for result in errors[:10]:
        out.print(f"  [red]row {result.row}[/] {result.key or ''}: {result.reason}", soft_wrap=True)
    if len(errors) > 10:
        out.print(f"  ... and {len(errors) - 10} more errors: see the log.")
    if log_path is not None:
        out.print(f"Log: {log_path}")
    if report.mode == "simulation" and (counts["added"] or counts["updated"]):
        out.print("Review the log, then run the same command with --apply to save these changes.")


@import_app.command("users")
def import_users_command(
    file: Annotated[Path, typer.Argument(help="The users workbook (.xlsx).")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Save the changes. Without it, only simulate.")
    ] = False,
    mode: Annotated[
        str,
        typer.Option(
            help="upsert: add new accounts and update existing ones; insert-only: only add; "
            "update-only: only update.",
        ),
    ] = "upsert",
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the result workbook. Default: next to the input, "
            "named NAME.simulation.xlsx or NAME.applied.xlsx.",
        ),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="The sheet to read. Default: 'Users', else the first.")
    ] = None,
) -> None:
    """Import portal users (LOGONID, FIRST_NAME, LAST_NAME, USER_TYPE, ...) from a workbook."""
    if mode not in IMPORT_MODES:
        raise InputError(f"--mode must be one of {', '.join(IMPORT_MODES)}, not '{mode}'")
    db = engine()
    with progress_bar() as progress:
        report, dest = import_users_file(
            db,
            file,
            apply=apply,
            mode=cast(ImportMode, mode),
            sheet=sheet,
            dest=out_path,
            progress=progress,
        )
    print_report(report, dest)
    if report.counts["error"]:
        raise typer.Exit(1)


@app.command()
def init() -> None:
    """Create the database, or bring its tables up to date."""
    url = normalise_url(state.database_url or get_settings().database_url)
    migrate(open_database(url))
    out.print(f"Database ready: {url}")


@app.command()
def batches(
    batch_id: Annotated[
        int | None, typer.Argument(help="Show this batch and its row events.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many recent batches to list.")] = 20,
) -> None:
    """List recent runs (imports, simulations), or show one with what happened to each row."""
    db = engine()
    if batch_id is None:
        table = RichTable(
            "Batch",
            "When (UTC)",
            "Run",
            "Mode",
            "Source",
            "By",
            "Added",
            "Updated",
            "Removed",
            "Skipped",
            "Errors",
        )
        for batch in list_batches(db, limit):
            table.add_row(
                str(batch.id),
                batch.finished_at.strftime("%Y-%m-%d %H:%M"),
                batch.kind,
                batch.mode.upper(),
                batch.source_name or "",
                batch.actor,
                str(batch.added),
                str(batch.updated),
                str(batch.removed),
                str(batch.skipped),
                str(batch.errors),
            )
        out.print(table)
        return
    batch, events = get_batch(db, batch_id)
    out.print(
        f"Batch {batch.id}: {batch.kind}, {batch.mode.upper()}, by {batch.actor}, "
        f"{batch.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    out.print(f"Source: {batch.source_name or '-'} (SHA-256 {batch.source_sha256 or '-'})")
    out.print(
        f"Added {batch.added}, updated {batch.updated}, removed {batch.removed}, "
        f"skipped {batch.skipped}, "
        f"errors {batch.errors}"
    )
    table = RichTable("Row", "Key", "Action", "Changes", "Reason")
    for event in events:
        changes = {k: tuple(v) for k, v in (event.changes or {}).items()}
        table.add_row(
            str(event.row_number or ""),
            event.key or "",
            f"[{ACTION_STYLES.get(event.action, '')}]{event.action}[/]",
            describe_changes(changes),
            event.reason or "",
        )
    out.print(table)


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database and workbooks.")
    ] = Path("portal-demo"),
) -> None:
    """Build a demo district, then simulate and apply a users import with some bad rows."""
    from addin.demo import run_demo

    run_demo(folder, out, progress_bar)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one plain line and exit code 2, never a traceback."""
    for console in (out, err):
        if not console.is_terminal:  # piped or redirected: wide lines, not truncated tables
            console.width = 200
    try:
        app(args=argv)  # typer itself reports a mistyped command or option, with exit code 2
    except PortalError as exc:
        err.print(f"[bold red]Error:[/] {exc}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
