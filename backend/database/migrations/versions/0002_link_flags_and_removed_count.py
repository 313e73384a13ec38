"""link flags and removed count

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("student_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("notices", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "created_batch_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "updated_batch_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_student_links_created_batch_id_batches"),
            "batches",
            ["created_batch_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_student_links_updated_batch_id_batches"),
            "batches",
            ["updated_batch_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("student_links", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_student_links_updated_batch_id_batches"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_student_links_created_batch_id_batches"), type_="foreignkey"
        )
        batch_op.drop_column("updated_batch_id")
        batch_op.drop_column("created_batch_id")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("notices")
        batch_op.drop_column("is_primary")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("removed")
