"""activation_tokens: letter codes beside email links, and wrong tries counted per code

Revision ID: 0005_letter_codes
Revises: outbox_link_seed_and_claim_time
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_letter_codes"
down_revision: str | None = "outbox_link_seed_and_claim_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activation_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="link")
        )
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("activation_tokens", schema=None) as batch_op:
        batch_op.drop_column("failed_attempts")
        batch_op.drop_column("kind")
