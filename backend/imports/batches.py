"""The audit trail: batches (one per run) and their events (one per row result)."""

import getpass
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, insert, select, update

from backend.accounts.attach_rules import exposures
from backend.database.engine import bulk_insert, read_transaction, write_transaction
from backend.database.models import Batch, BatchEvent, utcnow
from backend.errors import NotFoundError
from backend.imports.contract import (
    CHUNK,
    InputTable,
    Mode,
    Progress,
    Report,
    RowResult,
    count_actions,
    no_progress,
)


def list_batches(engine: Engine, limit: int = 20) -> list[Batch]:
    """The newest runs first."""
    with read_transaction(engine) as connection:
        rows = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(limit))
        return [Batch(**row._mapping) for row in rows]


def get_batch(engine: Engine, batch_id: int) -> tuple[Batch, list[BatchEvent]]:
    with read_transaction(engine) as connection:
        row = connection.execute(select(Batch).where(Batch.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"There is no batch {batch_id}; `portal batches` lists them")
        events = connection.execute(
            select(BatchEvent).where(BatchEvent.batch_id == batch_id).order_by(BatchEvent.id)
        )
        return Batch(**row._mapping), [BatchEvent(**event._mapping) for event in events]


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some service contexts
        return "unknown"


def start_batch(
    connection: Connection,
    *,
    kind: str,
    mode: Mode,
    options: dict[str, Any],
    table: InputTable | None,
    actor: str | None,
) -> int:
    now = utcnow()
    return connection.execute(
        insert(Batch).returning(Batch.id),
        {
            "kind": kind,
            "mode": mode,
            "options": options,
            "actor": actor or current_actor(),
            "source_name": table.source_name if table else None,
            "source_sha256": table.source_sha256 if table else None,
            "started_at": now,
            "finished_at": now,
        },
    ).scalar_one()


def finish_batch(
    connection: Connection,
    batch_id: int,
    results: list[RowResult],
    progress: Progress = no_progress,
) -> datetime:
    """Store one event per row result, then the counts: the audit record of the run."""
    total = len(results)
    for start in range(0, total, CHUNK):
        progress("Recording the log", start, total)
        bulk_insert(
            connection,
            cast(Table, BatchEvent.__table__),
            [
                {
                    "batch_id": batch_id,
                    "row_number": r.row,
                    "key": r.key,
                    "action": r.action,
                    "changes": {k: [o, n] for k, (o, n) in r.changes.items()}
                    if r.changes
                    else None,
                    # The audit trail keeps a row's warning with its reason.
                    "reason": f"{r.reason} (warning: {r.warning})" if r.warning else r.reason,
                }
                for r in results[start : start + CHUNK]
            ],
        )
    progress("Recording the log", total, total)
    counts = count_actions(results)
    finished = utcnow()
    connection.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            finished_at=finished,
            added=counts["added"],
            updated=counts["updated"],
            removed=counts["removed"],
            skipped=counts["skipped"],
            errors=counts["error"],
        )
    )
    return finished


class Planned(Protocol):
    results: list[RowResult]


P = TypeVar("P", bound=Planned)


def run_batch(
    engine: Engine,
    *,
    kind: str,
    options: dict[str, Any],
    table: InputTable | None,
    apply: bool,
    plan: Callable[[Connection], P],
    write: Callable[[Connection, P, int], None],
    actor: str | None = None,
    progress: Progress = no_progress,
) -> tuple[Report, P]:
    """Plan, and with ``apply`` write, one batch; either way record it with one event per row.

    Simulation and apply run the same ``plan``. Apply plans again inside its write transaction,
    so a run that waited for another sees what that one committed, and writes everything,
    events included, in that one transaction. Every run also warns, by account, of students
    that accounts already see and the rules forbid (``attach_rules.exposures``).
    """
    mode: Mode = "apply" if apply else "simulation"
    started = utcnow()
    if apply:
        with write_transaction(engine) as connection:
            progress("Planning", 0, 1)
            planned = plan(connection)
            planned.results.extend(exposures(connection))
            batch_id = start_batch(
                connection, kind=kind, mode=mode, options=options, table=table, actor=actor
            )
            write(connection, planned, batch_id)
            finished = finish_batch(connection, batch_id, planned.results, progress)
    else:
        with read_transaction(engine) as connection:
            progress("Planning", 0, 1)
            planned = plan(connection)
            planned.results.extend(exposures(connection))
        with engine.begin() as connection:
            batch_id = start_batch(
                connection, kind=kind, mode=mode, options=options, table=table, actor=actor
            )
            finished = finish_batch(connection, batch_id, planned.results, progress)
    report = Report(
        kind,
        mode,
        batch_id,
        started,
        finished,
        table.source_name if table else None,
        planned.results,
        options,
    )
    return report, planned
