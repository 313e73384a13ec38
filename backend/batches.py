"""The audit trail: batches (one per run) and their events (one per row result)."""

from sqlalchemy import Engine, select

from backend.db import read_transaction
from backend.errors import NotFoundError
from backend.models import Batch, BatchEvent


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
