"""The audit trail over HTTP: recent batches, one batch with its events, and undo."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from backend.database.models import Batch, BatchEvent
from backend.imports.batches import get_batch, list_batches, undone_by
from backend.imports.undo import undo_batch
from server.models import ReportOut, Undo
from server.routes_imports import REFUSALS
from server.staff import Database, Staff
from server.wire import encode_report

router = APIRouter(prefix="/api", tags=["batches"], responses=REFUSALS)
BatchNumber = Annotated[int, Path(ge=1, le=2**63 - 1, description="The batch's number")]

BATCH_FIELDS = (
    "id",
    "kind",
    "mode",
    "options",
    "actor",
    "staff_id",
    "source_name",
    "source_sha256",
    "started_at",
    "finished_at",
    "added",
    "updated",
    "removed",
    "skipped",
    "errors",
)
EVENT_FIELDS = ("row_number", "key", "action", "changes", "reason")


def _record(row: Batch | BatchEvent, names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = jsonable_encoder({name: getattr(row, name) for name in names})
    return found


@router.get("/batches")
def batches(
    staff: Staff, engine: Database, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> JSONResponse:
    """The newest runs first, as `portal batches` lists them."""
    return JSONResponse(
        [_record(b, BATCH_FIELDS) for b in list_batches(engine, limit, viewer=staff)]
    )


@router.get("/batches/{batch_id}")
def batch(batch_id: BatchNumber, staff: Staff, engine: Database) -> JSONResponse:
    """One run with what happened to each row, and the undo that took it back, if any."""
    found, events = get_batch(engine, batch_id, viewer=staff)
    return JSONResponse(
        _record(found, BATCH_FIELDS)
        | {
            "undone_by": undone_by(engine, batch_id),
            "events": [_record(e, EVENT_FIELDS) for e in events],
        }
    )


@router.post("/batches/{batch_id}/undo", response_model=ReportOut)
def undo(batch_id: BatchNumber, body: Undo, staff: Staff, engine: Database) -> JSONResponse:
    """Take a batch back: a simulation unless ``apply``."""
    return JSONResponse(encode_report(undo_batch(engine, batch_id, apply=body.apply, actor=staff)))
