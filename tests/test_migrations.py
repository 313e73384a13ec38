"""Migrations: the head the code expects is Alembic's, and it builds exactly the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from backend.database.engine import SCHEMA_HEAD, _alembic_config, is_current
from backend.database.models import Base


def test_schema_head_is_alembics_head(engine: Engine) -> None:
    with engine.connect() as connection:
        assert ScriptDirectory.from_config(_alembic_config(connection)).get_heads() == [SCHEMA_HEAD]
    assert is_current(engine)


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
