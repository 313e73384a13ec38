"""What every command shares: the consoles, progress bars, the database and how a run is told."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from weakref import WeakSet

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from backend.imports.contract import Progress as ProgressCallback
    from backend.imports.contract import Report, RowResult

out = Console()
err = Console(stderr=True)

ACTION_STYLES = {
    "added": "green",
    "updated": "yellow",
    "removed": "dark_orange",
    "skipped": "bright_black",
    "error": "red",
    "warning": "magenta",
}


def unanswered(exc: BaseException) -> str | None:
    """Why the database did not answer (its driver's first line), or None when ``exc`` is not
    a database that could not be reached or used: a machine's trouble, not a bug, so it is
    told in one line like a user's mistake."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__


SHOWN_CHARS = 300
"""The most of one value (a logon, a reason) the terminal shows; the log has all of it."""


def shown(value: object) -> str:
    """A value from a file or the database as the terminal shows it: never read as markup
    (``[bold]`` in a name stays as typed), no invisible character (a stored ESC cannot clear the
    screen), and cut to ``SHOWN_CHARS`` so that printing it takes time in proportion to what is
    shown."""
    from backend.imports.cell_values import visible

    text = "" if value is None else str(value)
    if len(text) > SHOWN_CHARS:
        text = f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"
    return escape(visible(text))


class State:
    database_url: str | None = None
    engines: WeakSet[Engine]
    """The databases the command opened, until nothing else holds them."""

    def __init__(self) -> None:
        self.engines = WeakSet()


state = State()


def engine() -> Engine:
    """The command's database: ``--db``, else the configured one; created or upgraded first.

    With PORTAL_SERVER_URL set, this computer works through the district server: a command
    that reaches for a database here has no route on the server, and is refused rather than
    run on some other database."""
    from backend.database.engine import open_database

    refuse_in_client_mode()
    opened = open_database(state.database_url)
    state.engines.add(opened)
    return opened


def close_databases() -> None:
    """Close the connections of every database the command opened and something still holds
    (``launch``: the exit does not look for them)."""
    for opened in list(state.engines):
        opened.dispose()
    state.engines.clear()


def refuse_in_client_mode() -> None:
    """One plain line when the running command cannot go through the district server."""
    from backend.errors import InputError
    from backend.settings import get_settings

    if not get_settings().server_url:
        return
    command = "This command"
    try:  # the command's name as typed; typer keeps its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:
        pass
    else:
        context = get_current_context(silent=True)
        command = f"`{context.command_path}`" if context is not None else command
    raise InputError(
        f"{command} runs only on the district server's own computer, and this one works "
        "through the server (PORTAL_SERVER_URL is set): ask IT to run it there"
    )


@contextmanager
def progress_bar() -> Iterator[ProgressCallback]:
    """A progress bar on the terminal, fed by a backend progress callback; none (and rich's
    progress module not even loaded) when the output goes elsewhere."""
    if not err.is_terminal:
        yield lambda _stage, _done, _total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def styled_counts(counts: dict[str, int]) -> str:
    """The counts of a run in words, each in its action's colour."""
    from backend.imports.contract import counts_text

    return counts_text(counts, lambda action, text: f"[{ACTION_STYLES[action]}]{text}[/]")


def _first_ten(results: list[RowResult], noun: str, line: Callable[[RowResult], str]) -> None:
    """The first ten of some rows, one line each; the log has the rest."""
    for result in results[:10]:
        out.print(f"  {line(result)}", soft_wrap=True, highlight=False)
    if len(results) > 10:
        out.print(f"  ... and {len(results) - 10} more {noun}: see the log.")


def print_report(report: Report, log_path: Path | None) -> None:
    source = f" of {shown(report.source_name)}" if report.source_name else ""
    if report.mode == "apply":
        out.print(f"[bold green]APPLIED[/] {report.kind}{source}: changes saved.", highlight=False)
    else:
        out.print(
            f"[bold yellow]SIMULATION[/] {report.kind}{source}: nothing was saved.",
            highlight=False,
        )
    out.print(
        f"Batch {report.batch_id}: {len(report.results)} rows: {styled_counts(report.tallies)}."
    )
    _first_ten(
        [r for r in report.results if r.warning],
        "warnings",
        lambda r: (
            f"[magenta]warning[/] {'row ' + str(r.row) if r.row is not None else r.action}"
            f" {shown(r.key or '')}: {shown(r.warning)}"
        ),
    )
    _first_ten(
        [r for r in report.results if r.action == "error"],
        "errors",
        lambda r: f"[red]row {r.row}[/] {shown(r.key or '')}: {shown(r.reason)}",
    )
    if log_path is not None:
        out.print(f"Log: {escape(str(log_path))}", highlight=False)
    if report.mode == "simulation" and any(
        report.counts[a] for a in ("added", "updated", "removed")
    ):
        out.print("Review the log, then run the same command with --apply to save these changes.")


ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Save the changes. Without it, only simulate.")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Where to write the result workbook. Default: next to the input, "
        "named NAME.simulation.xlsx or NAME.applied.xlsx.",
    ),
]


TOLD = ("Warning", "Simulation", "Columns ignored", "Schools added by code")
"""Summary lines of the log also said on the terminal: they may change what staff do next."""


def finish(report: Report, log_path: Path | None, told: Collection[str] | None = TOLD) -> None:
    """Print the run's outcome and the summary lines in ``told`` (None: every one); exit 1
    when any row is in error."""
    print_report(report, log_path)
    for label, value in report.extra:
        if told is None or label in told:
            style = "[bold yellow]" if label == "Warning" else "[bold]"
            out.print(f"{style}{label}[/]: {shown(value)}", soft_wrap=True, highlight=False)
    if report.counts["error"]:
        raise typer.Exit(1)


def print_results(report: Report) -> None:
    """A single-account run: one line per thing it did, then exit 1 if any was refused."""
    from backend.imports.contract import describe_changes, warnings_first

    title = (
        "[bold green]Saved[/]"
        if report.mode == "apply"
        else ("[bold yellow]SIMULATION[/] (nothing saved; add --apply to save)")
    )
    out.print(f"{title}: {report.kind}, batch {report.batch_id}")
    for result in warnings_first(report.results):
        style = ACTION_STYLES.get(result.action, "")
        changes = f" ({describe_changes(result.changes)})" if result.changes else ""
        warning = f" [magenta]Warning: {shown(result.warning)}[/]" if result.warning else ""
        out.print(
            f"  [{style}]{result.action:<8}[/] {shown(result.key or '')}: "
            f"{shown(result.reason)}{shown(changes)}{warning}",
            soft_wrap=True,
            highlight=False,
        )
    if report.counts["error"] or (
        report.kind == "new user" and report.results[0].action == "skipped"
    ):
        raise typer.Exit(1)
