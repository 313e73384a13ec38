"""Apply exactly what was reviewed: an apply's plan compared with the simulation staff read.

An apply re-plans inside the write lock; if any row's action or changes differ from the
reviewed simulation (the database or the file changed in between), it is refused with the list
of those rows, unless staff confirm. The apply's log says which simulation it followed, or that
there was none, and warns when the same file was applied before.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from backend.database.models import Batch, BatchEvent
from backend.errors import InputError
from backend.imports.contract import InputTable, RowResult, describe_changes

SHOWN = 20  # differing rows listed in a refusal; the rest are counted


@dataclass(frozen=True)
class Review:
    """What the person applying reviewed.

    ``batch_id`` is the simulation they read; None means the latest simulation of the same file
    since it was last applied, if there is one. ``confirmed`` applies even where the plan now
    differs from that simulation.
    """

    batch_id: int | None = None
    confirmed: bool = False


class ChangedSinceReview(InputError):
    """The apply's plan differs from the reviewed simulation; nothing was saved."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


Outcome = tuple[str, str]
"""A row's action and its changes, as JSON text: what a review compares."""


def _outcome(action: str, changes: dict[str, Any] | None) -> Outcome:
    return action, json.dumps(changes, sort_keys=True, default=str) if changes else "{}"


def _planned(result: RowResult) -> Outcome:
    """A planned row as its event will be stored (JSON turns tuples into lists)."""
    if not result.changes:
        return result.action, "{}"
    return _outcome(result.action, {k: [o, n] for k, (o, n) in result.changes.items()})


def outcomes_digest(results: Iterable[RowResult]) -> str:
    """Every row's place and outcome in one hash, whatever the rows' order: two runs with equal
    digests planned the same rows, so an apply need not read its simulation's events.

    It is the sum, modulo 2**256, of each row's SHA-256: made in one pass over rows that need
    not be in memory at once, and equal for the same rows in any order.
    """
    total = 0
    for r in results:
        line = repr((r.row, r.key, *_planned(r))).encode()
        total += int.from_bytes(hashlib.sha256(line).digest())
    return f"{total % 2**256:064x}"


def simulation_of(
    connection: Connection, kind: str, table: InputTable | None, review: Review, before: int
) -> Batch | None:
    """The simulation an apply (batch ``before``) follows: the one named, else the file's latest
    since its last apply; None when there is none. A named batch must be a simulation of the
    same import."""
    if review.batch_id is not None:
        row = connection.execute(select(Batch).where(Batch.id == review.batch_id)).first()
        batch = Batch(**row._mapping) if row else None
        if batch is None or batch.mode != "simulation" or batch.kind != kind:
            raise InputError(
                f"Batch {review.batch_id} is not a simulation of the {kind}; "
                "`portal batches` lists the runs, or simulate the file again"
            )
        return batch
    sha = table.source_sha256 if table else None
    if sha is None:
        return None
    same_file = select(Batch).where(
        Batch.kind == kind, Batch.source_sha256 == sha, Batch.id < before
    )
    last = connection.execute(same_file.order_by(Batch.id.desc()).limit(1)).first()
    return Batch(**last._mapping) if last and last.mode == "simulation" else None


def differences(connection: Connection, batch_id: int, results: Iterable[RowResult]) -> list[str]:
    """Each row whose action or changes differ from the simulation's, in words."""
    events = connection.execute(
        select(BatchEvent.row_number, BatchEvent.key, BatchEvent.action, BatchEvent.changes)
        .where(BatchEvent.batch_id == batch_id)
        .order_by(BatchEvent.id)
    )
    simulated: dict[tuple[int | None, str | None], list[Outcome]] = defaultdict(list)
    for row, key, action, changes in events:
        simulated[(row, key)].append(_outcome(action, changes))
    found: list[str] = []
    for result in results:
        before = simulated.get((result.row, result.key))
        now = _planned(result)
        if before and now in before:
            before.remove(now)
            continue
        was = _said(*before.pop(0)) if before else "not in the simulation"
        found.append(f"{_where(result.row, result.key)}: simulated {was}, now {_said(*now)}")
    found += [
        f"{_where(row, key)}: simulated {_said(*outcome)}, now not in the run"
        for (row, key), left in simulated.items()
        for outcome in left
    ]
    return found


def _where(row: int | None, key: str | None) -> str:
    return " ".join(p for p in (f"row {row}" if row is not None else "", key or "") if p)


def _said(action: str, changes: str) -> str:
    text = describe_changes({k: tuple(v) for k, v in json.loads(changes).items()})
    return f"{action} ({text})" if text else action


def review_notes(
    connection: Connection,
    kind: str,
    table: InputTable | None,
    review: Review,
    results: Iterable[RowResult],
    batch_id: int,
) -> list[tuple[str, Any]]:
    """The apply's (batch ``batch_id``) summary lines about its simulation; refuse a plan that
    differs from it."""
    simulation = simulation_of(connection, kind, table, review, batch_id)
    notes = applied_before(connection, kind, table, batch_id)
    if simulation is None:
        return [("Simulation", "none: this apply was not simulated first"), *notes]
    same = simulation.outcomes_digest == outcomes_digest(results)
    found = [] if same else differences(connection, simulation.id, results)
    if found and not review.confirmed:
        listed = found[:SHOWN] + ([f"and {len(found) - SHOWN} more"] if len(found) > SHOWN else [])
        raise ChangedSinceReview(
            f"Nothing was saved: {len(found)} row(s) would now be done differently from the "
            f"simulation you reviewed (batch {simulation.id}): " + "; ".join(listed) + ". "
            "Simulate again and review the log, or confirm to apply anyway",
            found,
        )
    said = f"batch {simulation.id}: " + (
        f"{len(found)} row(s) differ from it, applied as confirmed"
        if found
        else "every row as simulated"
    )
    return [("Simulation", said), *notes]


def applied_before(
    connection: Connection, kind: str, table: InputTable | None, before: int
) -> list[tuple[str, Any]]:
    """A warning line when this very file (by its SHA-256) was applied before batch ``before``."""
    sha = table.source_sha256 if table else None
    if sha is None:
        return []
    last = connection.execute(
        select(Batch.id, Batch.finished_at)
        .where(
            Batch.kind == kind,
            Batch.mode == "apply",
            Batch.source_sha256 == sha,
            Batch.id < before,
        )
        .order_by(Batch.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return []
    when = last.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    return [
        (
            "Warning",
            f"this same file was applied before, on {when} (batch {last.id}); "
            "check that it is not an old file undoing newer changes",
        )
    ]
