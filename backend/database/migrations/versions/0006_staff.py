"""staff, the schools they work for, their API tokens; the staff member who ran a batch

Revision ID: 0006_staff
Revises: 0005_letter_codes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_staff"
down_revision: str | None = "0005_letter_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("identity_issuer", sa.String(length=500), nullable=True),
        sa.Column("identity_subject", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("email_key", name=op.f("uq_staff_email_key")),
        sa.UniqueConstraint(
            "identity_issuer", "identity_subject", name=op.f("uq_staff_identity_issuer")
        ),
    )
    op.create_table(
        "staff_schools",
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("school_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_schools_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_staff_schools_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("staff_id", "school_id", name=op.f("pk_staff_schools")),
    )
    op.create_table(
        "staff_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_tokens_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_tokens_token_hash")),
    )
    op.create_index(op.f("ix_staff_tokens_staff_id"), "staff_tokens", ["staff_id"], unique=False)
    _add_batches_staff_id()


def _add_batches_staff_id() -> None:
    """On SQLite the column and its reference are added in place: rebuilding ``batches`` (batch
    mode) would drop the old table, and with foreign keys on, that deletes its rows' events."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE batches ADD COLUMN staff_id INTEGER "
            "CONSTRAINT fk_batches_staff_id_staff REFERENCES staff (id)"
        )
        return
    op.add_column("batches", sa.Column("staff_id", ID, nullable=True))
    op.create_foreign_key(
        op.f("fk_batches_staff_id_staff"), "batches", "staff", ["staff_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_column("batches", "staff_id")  # its reference to staff goes with it
    op.drop_index(op.f("ix_staff_tokens_staff_id"), table_name="staff_tokens")
    op.drop_table("staff_tokens")
    op.drop_table("staff_schools")
    op.drop_table("staff")
