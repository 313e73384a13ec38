"""The audit trail: batches (one per run) and their events (one per row result)."""

import getpass
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, insert, select, update

from backend.accounts.attach_rules import exposures
from backend.accounts.logon import logon_key
from backend.database.engine import (
    ANALYZE_ROWS,
    insert_rows,
    read_transaction,
    refresh_statistics,
    rows_in,
    write_transaction,
)
from backend.database.models import (
    Base,
    Batch,
    BatchEvent,
    PortalUser,
    StaffSchool,
    Student,
    StudentLink,
    utcnow,
)
from backend.errors import NotFoundError
from backend.imports.contract import (
    CHUNK,
    InputTable,
    Mode,
    Progress,
    Report,
    Results,
    RowLog,
    RowResult,
    ignored_columns,
    no_progress,
    tally,
)
from backend.imports.reviewed import Review, outcomes_digest, review_notes
from backend.staff.identity import Actor, StaffIdentity
from backend.staff.scope import Scope, restricted_schools

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select

KEY_CHARS: int = BatchEvent.key.type.length
UNDO = "undo"
"""The kind of a batch that takes back another (``backend.imports.undo``)."""
REASON_CHARS = 1000
"""The longest reason the audit trail and the log keep; a longer one is cut, ending in '…'."""
CHANGE_CHARS = 200
"""The longest old or new value an error row's change keeps in the audit trail and the log. A
row that was (or would be) done keeps its values whole: they fit their columns, and an undo
puts the old ones back exactly."""


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one '…' when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clipped(value: Any) -> Any:
    return clip(value, CHANGE_CHARS) if isinstance(value, str) else value


def bound_results(results: list[RowResult]) -> None:
    """Keys, reasons and changed values cut to the lengths the audit trail and the log keep,
    so a hostile cell costs a bounded amount to store and print."""
    for result in results:
        if result.key is not None and len(result.key) > KEY_CHARS:
            result.key = clip(result.key, KEY_CHARS)
        if len(result.reason) > REASON_CHARS:
            result.reason = clip(result.reason, REASON_CHARS)
        if result.changes and result.action == "error":
            result.changes = {
                name: (_clipped(old), _clipped(new)) for name, (old, new) in result.changes.items()
            }


def keep_removed_links(connection: Connection, results: list[RowResult]) -> None:
    """Give each removed link's row (key 'LOGON / STUDENT_ID', no changes) the link's
    relationship and flags as old values, read before the run removes it: what an undo puts
    back. Whatever run removed the link, its row records the same."""
    from backend.imports.links import LINK_FIELDS

    removed: dict[tuple[str, str], list[RowResult]] = {}
    for result in results:
        if result.action == "removed" and not result.changes and " / " in (result.key or ""):
            logon, _, student = (result.key or "").partition(" / ")
            removed.setdefault((logon_key(logon), student), []).append(result)
    if not removed:
        return
    query = (
        select(
            PortalUser.logon_key,
            Student.student_id,
            *(getattr(StudentLink, name) for name in LINK_FIELDS),
        )
        .join(PortalUser, PortalUser.id == StudentLink.user_id)
        .join(Student, Student.id == StudentLink.student_id)
    )
    logons = {key for key, _ in removed}
    for key, student, *values in rows_in(connection, query, PortalUser.logon_key, logons):
        for result in removed.get((key, student), ()):
            result.changes = {
                header: (value, None)
                for header, value in zip(LINK_FIELDS.values(), values, strict=True)
            }


def add_remarks(results: list[RowResult], tables: Sequence[InputTable | None]) -> None:
    """End each row's reason with what reading the row changed in it (``InputTable.remarks``)."""
    read = [t for t in tables if t is not None and t.remarks]
    if not read:
        return
    single = len([t for t in tables if t is not None]) == 1
    remarks: dict[tuple[str | None, int | None], list[str]] = {
        (None if single else t.sheet, n): r for t in read for n, r in t.remarks.items()
    }
    for result in results:
        found = remarks.get((None if single else result.sheet, result.row))
        if found:
            note = "; ".join(found)
            result.reason = f"{result.reason} ({note})" if result.reason else note


def visible_batches(viewer: Actor) -> "ColumnElement[bool] | None":
    """The batches a school-staff viewer may see: those run by staff who share a school with
    them (themselves included); None when the viewer sees every batch."""
    schools = restricted_schools(viewer)
    if schools is None:
        return None
    colleagues = select(StaffSchool.staff_id).where(StaffSchool.school_id.in_(sorted(schools)))
    return Batch.staff_id.in_(colleagues)


def batch_query(viewer: Actor) -> "Select[Batch]":
    query = select(Batch)
    condition = visible_batches(viewer)
    return query if condition is None else query.where(condition)


def list_batches(engine: Engine, limit: int = 20, *, viewer: Actor = None) -> list[Batch]:
    """The newest runs first; a school's staff see only the runs of their schools' staff."""
    with read_transaction(engine) as connection:
        rows = connection.execute(batch_query(viewer).order_by(Batch.id.desc()).limit(limit))
        return [Batch(**row._mapping) for row in rows]


def get_batch(
    engine: Engine, batch_id: int, *, viewer: Actor = None
) -> tuple[Batch, list[BatchEvent]]:
    """A batch and its log; one the viewer may not see answers as one that does not exist."""
    with read_transaction(engine) as connection:
        row = connection.execute(batch_query(viewer).where(Batch.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"There is no batch {batch_id}; `portal batches` lists them")
        events = connection.execute(
            select(BatchEvent).where(BatchEvent.batch_id == batch_id).order_by(BatchEvent.id)
        )
        batch = Batch(**row._mapping)
        found = [BatchEvent(**event._mapping) for event in events]
        return batch, _visible_events(connection, batch, found, viewer)


def event_result(event: Any) -> RowResult:
    """A stored event (a ``BatchEvent``, or a row of its columns) as the row result it was."""
    return RowResult(
        row=event.row_number,
        key=event.key,
        action=event.action,
        reason=event.reason or "",
        changes={k: (v[0], v[1]) for k, v in (event.changes or {}).items()},
    )


EVENTS_READ = 50_000
"""Events a batch's log reads from the audit trail at a time."""


def batch_rows(engine: Engine, batch_id: int, *, viewer: Actor = None) -> tuple[Batch, RowLog]:
    """A batch and the rows of its log, read ``EVENTS_READ`` events at a time into a ``RowLog``:
    a state's batch of millions of events is never held in memory. What the viewer may not see
    is left out as ``get_batch`` leaves it out."""
    with read_transaction(engine) as connection:
        row = connection.execute(batch_query(viewer).where(Batch.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"There is no batch {batch_id}; `portal batches` lists them")
        batch, log = Batch(**row._mapping), RowLog()
        columns = (BatchEvent.row_number, BatchEvent.key, BatchEvent.action)
        query = select(*columns, BatchEvent.changes, BatchEvent.reason)
        events = connection.execute(
            query.where(BatchEvent.batch_id == batch_id)
            .order_by(BatchEvent.id)
            .execution_options(yield_per=EVENTS_READ)
        )
        for part in events.partitions():
            log.extend(map(event_result, _visible_events(connection, batch, part, viewer)))
        return batch, log


STUDENT_FIRST = ("AutoCreate", "account from contact")
"""Kinds of batch whose rows' keys begin with a student ID ('STUDENT_ID / CONTACT'); the
others' begin with a logon ('LOGON / STUDENT_ID')."""


def _named(batch: Batch, key: str | None) -> tuple[str | None, str | None]:
    """The logon and the student ID an event's key names (None for what it does not name)."""
    first, sep, second = (key or "").partition(" / ")
    if batch.kind in STUDENT_FIRST:
        return None, first or None
    return first or None, (second or None) if sep else None


def _visible_events(
    connection: Connection, batch: Batch, events: Sequence[Any], viewer: Actor
) -> list[Any]:
    """A school's staff read their own batches whole, and a colleague's only in the rows about
    their students and about accounts they may change."""
    if restricted_schools(viewer) is None or (
        isinstance(viewer, StaffIdentity) and batch.staff_id == viewer.staff_id
    ):
        return list(events)
    named = [_named(batch, event.key) for event in events]
    scope = Scope.load(
        connection,
        viewer,
        student_ids={student for _, student in named if student},
        logon_keys={logon_key(logon) for logon, _ in named if logon},
    )
    return [
        event
        for event, (logon, student) in zip(events, named, strict=True)
        if (student is None or scope.sees_student(student))
        and (logon is None or scope.may_change(logon_key(logon)))
    ]


def applied_undos(connection: Connection) -> dict[int, int]:
    """Each batch an applied undo took back -> that undo."""
    query = select(Batch.id, Batch.options).where(Batch.kind == UNDO, Batch.mode == "apply")
    return {
        int(options["undoes"]): int(id_)
        for id_, options in connection.execute(query)
        if (options or {}).get("undoes") is not None
    }


def undone_by(engine: Engine, batch_id: int) -> int | None:
    """The applied undo that took batch ``batch_id`` back, if one did."""
    with read_transaction(engine) as connection:
        return applied_undos(connection).get(batch_id)


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
    actor: Actor,
) -> int:
    """Record a run's start. ``actor`` is who ran it: a staff identity (a district server's
    request), which the batch names and whose email is its actor; else a name, by default the
    computer's login name."""
    now = utcnow()
    staff = actor if isinstance(actor, StaffIdentity) else None
    return connection.execute(
        insert(Batch).returning(Batch.id),
        {
            "kind": kind,
            "mode": mode,
            "options": options,
            "actor": staff.email if staff else actor or current_actor(),
            "staff_id": staff.staff_id if staff else None,
            "source_name": table.source_name if table else None,
            "source_sha256": table.source_sha256 if table else None,
            "started_at": now,
            "finished_at": now,
        },
    ).scalar_one()


def record_events(
    connection: Connection,
    batch_id: int,
    results: Iterable[RowResult],
    progress: Progress = no_progress,
    total: int | None = None,
) -> None:
    """Store one event per row result: the audit record of the run, telling ``progress`` every
    5,000 rows of ``total``."""
    insert_rows(
        connection,
        cast(Table, BatchEvent.__table__),
        EVENT_COLUMNS,
        _events(batch_id, results, progress, total),
    )


def finish_batch(
    connection: Connection,
    batch_id: int,
    results: Results,
    progress: Progress = no_progress,
    simulation: bool = False,
    recorded: bool = False,
) -> datetime:
    """Store one event per row result (unless ``recorded`` already), then the counts. A
    simulation also stores its ``outcomes_digest``, for its apply to compare."""
    total = len(results)
    if not recorded:
        record_events(connection, batch_id, results, progress, total)
    progress("Recording the log", total, total)
    counts = tally(results).counts
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
            outcomes_digest=outcomes_digest(results) if simulation else None,
        )
    )
    return finished


EVENT_COLUMNS = ("batch_id", "row_number", "key", "action", "changes", "reason")


def _events(
    batch_id: int, results: Iterable[RowResult], progress: Progress, total: int | None
) -> Iterator[tuple[Any, ...]]:
    """Each row result as its event's ``EVENT_COLUMNS``."""
    for done, r in enumerate(results):
        if total is not None and done % CHUNK == 0:
            progress("Recording the log", done, total)
        yield (
            batch_id,
            r.row,
            r.key,
            r.action,
            {k: [o, n] for k, (o, n) in r.changes.items()} if r.changes else None,
            # The audit trail keeps a row's warning with its reason.
            f"{r.reason} (warning: {r.warning})" if r.warning else r.reason,
        )


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
    actor: Actor = None,
    progress: Progress = no_progress,
    review: Review | None = None,
    tables: Sequence[InputTable | None] | None = None,
) -> tuple[Report, P]:
    """``run_parts`` for a run planned whole, in one part; its plan is returned too."""
    planned: list[P] = []

    def one_part(connection: Connection) -> Iterator[P]:
        planned[:] = [plan(connection)]
        yield planned[0]

    report = run_parts(
        engine,
        kind=kind,
        options=options,
        table=table,
        apply=apply,
        parts=one_part,
        write=write,
        actor=actor,
        progress=progress,
        review=review,
        tables=tables,
    )
    return report, planned[0]


def run_parts(
    engine: Engine,
    *,
    kind: str,
    options: dict[str, Any],
    table: InputTable | None,
    apply: bool,
    parts: Callable[[Connection], Iterable[P]],
    write: Callable[[Connection, P, int], None],
    actor: Actor = None,
    progress: Progress = no_progress,
    review: Review | None = None,
    tables: Sequence[InputTable | None] | None = None,
    writes: Sequence[type[Base]] = (),
) -> Report:
    """Plan, and with ``apply`` write, one batch; either way record it with one event per row.

    ``parts`` plans the run a part at a time (a state's run in bounded memory); each part's rows
    go to a ``RowLog``. Simulation and apply run the same plan. Apply plans inside its write
    transaction, so a run that waited for another sees what that one committed, and writes
    each part, its events included, before planning the next, all in that one transaction.
    Every run warns of students that accounts already see against the rules; a removed link's
    row keeps its fields (``keep_removed_links``). An apply given a ``review`` is compared with
    the simulation staff reviewed, and refused whole if it differs. ``tables`` are every table
    read (default ``table``): their remarks end rows' reasons, unknown columns are named.
    An apply of at least ``ANALYZE_ROWS`` rows refreshes the statistics of the tables it
    ``writes``, so that the runs after it are planned on their new sizes.
    """
    mode: Mode = "apply" if apply else "simulation"
    run = _Run(kind, mode, options, table, actor, (table,) if tables is None else tables)
    started, extra = utcnow(), ignored_columns(run.read)
    if apply:
        with write_transaction(engine) as connection:
            batch_id = run.plan(connection, parts, write, progress)
            if review is not None:
                extra += review_notes(connection, kind, table, review, run.log, batch_id)
            finished = finish_batch(connection, batch_id, run.log, progress, recorded=True)
        if len(run.log) >= ANALYZE_ROWS:
            written: list[type[Base]] = [*writes, BatchEvent]
            refresh_statistics(engine, [m.__tablename__ for m in written])
    else:
        with read_transaction(engine) as connection:
            run.plan(connection, parts, None, progress)
        with engine.begin() as connection:
            batch_id = run.start(connection)
            finished = finish_batch(connection, batch_id, run.log, progress, simulation=True)
    source = table.source_name if table else None
    return Report(kind, mode, batch_id, started, finished, source, run.log, options, extra)


@dataclass
class _Run:
    """One run's batch and the rows its parts planned."""

    kind: str
    mode: Mode
    options: dict[str, Any]
    table: InputTable | None
    actor: Actor
    read: Sequence[InputTable | None]
    log: RowLog = field(default_factory=RowLog)

    def start(self, connection: Connection) -> int:
        return start_batch(
            connection,
            kind=self.kind,
            mode=self.mode,
            options=self.options,
            table=self.table,
            actor=self.actor,
        )

    def checked(self, connection: Connection, results: list[RowResult]) -> list[RowResult]:
        keep_removed_links(connection, results)
        add_remarks(results, self.read)
        bound_results(results)
        return results

    def plan(
        self,
        connection: Connection,
        parts: Callable[[Connection], Iterable[P]],
        write: Callable[[Connection, P, int], None] | None,
        progress: Progress,
    ) -> int:
        """Plan every part; with ``write`` (an apply), write each one and its events as it
        comes, in a batch recorded once the first part is planned, so that no plan sees its own
        run among the batches. Returns that batch (0 in a simulation: none yet)."""
        progress("Planning", 0, 1)
        # What accounts see against the rules before the run changes anything: its rows go last.
        last = self.checked(connection, exposures(connection, self.actor))
        batch_id = 0
        for part in parts(connection):
            results = self.checked(connection, part.results)
            if write is not None:
                batch_id = batch_id or self.start(connection)
                write(connection, part, batch_id)
                record_events(connection, batch_id, results, progress, len(results))
            self.log.extend(results)
            del part, results  # the next part is planned without this one in memory
        if write is not None:
            batch_id = batch_id or self.start(connection)
            record_events(connection, batch_id, last)
        self.log.extend(last)
        return batch_id
