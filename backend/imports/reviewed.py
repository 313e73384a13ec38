"""Apply exactly what was reviewed: an apply's plan compared with the simulation staff read.

An apply re-plans inside the write lock; if any row's action or changes differ from the
reviewed simulation (the database or the file changed in between), it is refused with the list
of those rows, unless staff confirm. The apply's log says which simulation it followed, or that
there was none, and warns when the same file was applied before.
"""

import hashlib
import heapq
import json
import pickle
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Connection, select

from backend.database.models import Batch, BatchEvent
from backend.errors import InputError
from backend.imports.contract import CHUNK, InputTable, RowResult, describe_changes

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


DIFFERENCES_BUCKET = 250_000
"""Rows compared with their simulation at a time: a state's apply of millions of rows is
compared a bucket at a time, never whole in memory."""
LISTED = 1_000
"""Differing rows a refusal names (the first, in run order); the rest are counted."""


@dataclass
class Differences:
    """The rows an apply would do differently from its simulation: how many, and the first
    ``LISTED`` of them in words, in run order."""

    count: int = 0
    listed: list[str] = field(default_factory=list)


def differences(connection: Connection, batch_id: int, results: Iterable[RowResult]) -> Differences:
    """Each row whose action or changes differ from the simulation's, in words.

    Rows are matched by (row number, key). Both sides go to buckets by that pair, in temporary
    files when there are more than ``DIFFERENCES_BUCKET`` rows, and each bucket is compared on
    its own; the words come out in run order all the same.
    """
    count = len(results) if isinstance(results, Sized) else 0
    with _Buckets(count // DIFFERENCES_BUCKET + 1) as planned, _Buckets(planned.size) as simulated:
        for place, result in enumerate(results):
            planned.add((result.row, result.key), place, _planned(result))
        events = connection.execute(
            select(BatchEvent.row_number, BatchEvent.key, BatchEvent.action, BatchEvent.changes)
            .where(BatchEvent.batch_id == batch_id)
            .order_by(BatchEvent.id)
            .execution_options(yield_per=DIFFERENCES_BUCKET)
        )
        for order, (row, key, action, changes) in enumerate(events):
            simulated.add((row, key), order, _outcome(action, changes))
        found, kept = 0, list[tuple[int, str]]()
        for bucket in range(planned.size):
            said = _compare(planned.read(bucket), list(simulated.read(bucket)))
            found += len(said)
            kept = heapq.nsmallest(LISTED, kept + said)
    return Differences(found, [words for _, words in kept])


Where = tuple[int | None, str | None]
"""A row's number and key, by which an apply's row is matched with its simulation's."""
Placed = tuple[Where, int, Outcome]
"""A row, its place in its run and its outcome."""
NOT_IN_RUN = 2**62
"""Where a simulated row the run lacks is placed: after every row of the run."""


def _compare(planned: Iterable[Placed], simulated: list[Placed]) -> list[tuple[int, str]]:
    """One bucket's differing rows, each with its place: a row of the run where it is in the
    run, a row the run lacks after every row of the run, in the simulation's order."""
    by_row: dict[Where, list[Outcome]] = defaultdict(list)
    for where, _, outcome in simulated:
        by_row[where].append(outcome)
    found: list[tuple[int, str]] = []
    for where, place, now in planned:
        before = by_row.get(where)
        if before and now in before:
            before.remove(now)
            continue
        was = _said(*before.pop(0)) if before else "not in the simulation"
        found.append((place, f"{_where(*where)}: simulated {was}, now {_said(*now)}"))
    missing = {where: iter(left) for where, left in by_row.items() if left}
    for where, order, _ in simulated:
        lacked = next(missing[where], None) if where in missing else None
        if lacked is not None:
            said = f"{_where(*where)}: simulated {_said(*lacked)}, now not in the run"
            found.append((NOT_IN_RUN + order, said))
    return found


class _Buckets:
    """Rows spread over ``size`` buckets by their ``Where``: lists when there is one bucket,
    else pickled chunks in a temporary file per bucket."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held: list[list[Placed]] = [[] for _ in range(size)]
        self.files: list[IO[bytes]] = []

    def __enter__(self) -> "_Buckets":
        if self.size > 1:
            self.files = [tempfile.TemporaryFile(prefix="portal-review-") for _ in self.held]  # noqa: SIM115
        return self

    def __exit__(self, *_exc: object) -> None:
        for file in self.files:
            file.close()

    def add(self, where: Where, place: int, outcome: Outcome) -> None:
        index = hash(where) % self.size
        bucket = self.held[index]
        bucket.append((where, place, outcome))
        if self.files and len(bucket) >= CHUNK:
            pickle.dump(bucket, self.files[index], pickle.HIGHEST_PROTOCOL)
            bucket.clear()

    def read(self, index: int) -> Iterator[Placed]:
        """The bucket's rows in the order they came."""
        if self.files:
            file = self.files[index]
            end = file.seek(0, 2)
            file.seek(0)
            while file.tell() < end:
                yield from pickle.load(file)
        yield from self.held[index]


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
    found = Differences() if same else differences(connection, simulation.id, results)
    if found.count and not review.confirmed:
        shown = found.listed[:SHOWN]
        listed = shown + ([f"and {found.count - len(shown)} more"] if found.count > SHOWN else [])
        raise ChangedSinceReview(
            f"Nothing was saved: {found.count} row(s) would now be done differently from the "
            f"simulation you reviewed (batch {simulation.id}): " + "; ".join(listed) + ". "
            "Simulate again and review the log, or confirm to apply anyway",
            found.listed,
        )
    said = f"batch {simulation.id}: " + (
        f"{found.count} row(s) differ from it, applied as confirmed"
        if found.count
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
