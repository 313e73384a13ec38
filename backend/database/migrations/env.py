"""Alembic runs inside the caller's connection and transaction (backend.database.engine.migrate)."""

from alembic import context

from backend.database.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
