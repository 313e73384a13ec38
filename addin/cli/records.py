"""`portal init`, `portal batches`, `portal demo`: the database, its audit trail, a demo."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from addin.cli.output import (
    ACTION_STYLES,
    engine,
    finish,
    out,
    progress_bar,
    shown,
    state,
)
from backend.errors import InputError

if TYPE_CHECKING:
    from addin.remote import Remote
    from backend.database.models import Batch, BatchEvent


def init() -> None:
    """Create the database, or bring its tables up to date."""
    from backend.database.engine import migrate, normalise_url, open_database
    from backend.settings import get_settings

    url = normalise_url(state.database_url or get_settings().database_url)
    migrate(open_database(url))
    out.print(f"Database ready: {escape(url)}", highlight=False)


def batches(
    batch: Annotated[
        str | None,
        typer.Argument(
            metavar="BATCH|undo",
            help="Show this batch and its row events; or 'undo' and the batch N to take back "
            "(a simulation unless --apply).",
            show_default=False,
        ),
    ] = None,
    undo_id: Annotated[
        int | None,
        typer.Argument(metavar="N", help="With undo: the batch to undo.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many recent batches to list.")] = 20,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With a batch number: write that run's Import Log to this workbook (.xlsx), "
            "from the audit trail. With undo: write the undo's Import Log there.",
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="With undo: save the undo. Without it, only simulate.")
    ] = False,
) -> None:
    """List recent runs (imports, simulations), show one with what happened to each row, or
    undo one: `portal batches undo 12 --apply`."""
    if batch is not None and batch.casefold() == "undo":
        if undo_id is None:
            raise InputError("Name the batch to undo: portal batches undo N")
        undo(undo_id, apply, out_path)
        return
    if undo_id is not None or apply:
        raise InputError("Only undo takes a second batch number or --apply: portal batches undo N")
    batch_id = _batch_number(batch) if batch is not None else None
    show_batch(batch_id, limit, out_path)


def _batch_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"'{text}' is not a batch number: portal batches N, or portal batches undo N"
        ) from None


def undo(batch_id: int, apply: bool, out_path: Path | None) -> None:
    """`portal batches undo N`: the undo simulated, or saved with --apply, and told."""
    from addin import remote_records
    from addin.files.result_writer import check_destination
    from addin.remote import from_settings
    from addin.workbooks.file import write_run_log
    from addin.workbooks.result_sheet import log_from_report
    from backend.imports.undo import undo_batch

    if out_path is not None:
        check_destination(out_path)
    remote = from_settings()
    if remote is not None:
        report = remote_records.undo_batch(remote, batch_id, apply=apply)
    else:
        with progress_bar() as progress:
            report = undo_batch(engine(), batch_id, apply=apply, progress=progress)
    if out_path is not None:
        write_run_log(out_path, log_from_report(report, "Key"))
    finish(report, out_path, told=None)


def _run(kind: str, options: dict[str, Any] | None) -> str:
    """The run's kind as the list shows it; an undo names the batch it undid."""
    undone = (options or {}).get("undoes")
    return f"{kind} of batch {undone}" if kind == "undo" and undone is not None else kind


def show_batch(batch_id: int | None, limit: int, out_path: Path | None) -> None:
    """The list of recent batches, or one batch's rows, or its log written to ``out_path``."""
    from addin.remote import from_settings
    from backend.imports.contract import describe_changes

    remote = from_settings()
    if out_path is not None:
        if batch_id is None:
            raise InputError("--out needs a batch number: portal batches N --out log.xlsx")
        from addin.files.result_writer import check_destination
        from addin.workbooks.file import write_batch_log, write_batch_record
        from backend.imports.batches import event_result

        check_destination(out_path)  # before a batch's events are read
        if remote is None:
            written = write_batch_log(engine(), batch_id, out_path)
        else:
            batch, events, _ = _batch_of(batch_id, remote)
            written = write_batch_record(batch, [event_result(e) for e in events], out_path)
        out.print(f"Log of batch {batch_id}: {escape(str(written))}")
        return
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
        if remote is None:
            from backend.imports.batches import list_batches

            listed = list_batches(engine(), limit)
        else:
            from addin import remote_records

            listed = remote_records.list_batches(remote, limit)
        for batch in listed:
            table.add_row(
                str(batch.id),
                batch.finished_at.strftime("%Y-%m-%d %H:%M"),
                _run(batch.kind, batch.options),
                batch.mode.upper(),
                escape(batch.source_name or ""),
                escape(batch.actor),
                str(batch.added),
                str(batch.updated),
                str(batch.removed),
                str(batch.skipped),
                str(batch.errors),
            )
        out.print(table)
        return
    batch, events, undo = _batch_of(batch_id, remote)
    out.print(
        f"Batch {batch.id}: {_run(batch.kind, batch.options)}, {batch.mode.upper()}, "
        f"by {escape(batch.actor)}, {batch.finished_at:%Y-%m-%d %H:%M:%S} UTC",
        highlight=False,
    )
    if undo is not None:
        out.print(f"Undone by batch {undo} (portal batches {undo})", highlight=False)
    out.print(
        f"Source: {escape(batch.source_name or '-')} (SHA-256 {batch.source_sha256 or '-'})",
        highlight=False,
    )
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
            shown(event.key or ""),
            f"[{ACTION_STYLES.get(event.action, '')}]{escape(event.action)}[/]",
            shown(describe_changes(changes)),
            shown(event.reason or ""),
        )
    out.print(table)


def _batch_of(
    batch_id: int, remote: "Remote | None"
) -> tuple["Batch", list["BatchEvent"], int | None]:
    """A batch, its row events and the undo that took it back: here, or from the server."""
    from backend.imports.batches import get_batch, undone_by

    if remote is not None:
        from addin import remote_records

        return remote_records.get_batch(remote, batch_id)
    db = engine()
    batch, events = get_batch(db, batch_id)
    return batch, events, undone_by(db, batch_id)


def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database and workbooks.")
    ] = Path("portal-demo"),
) -> None:
    """Build a demo district, then simulate and apply a users import with some bad rows."""
    from addin.demo.run import run_demo

    run_demo(folder, out, progress_bar)
