"""idempotency keys of POST /image_prediction

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        # SHA-256 of the key within its scope (the caller's API key): the key itself is not kept
        sa.Column("key_digest", sa.LargeBinary(), primary_key=True),
        sa.Column("image_sha256", sa.LargeBinary(), nullable=False),
        sa.Column(
            "prediction_id",
            sa.Uuid(),
            # deleting a prediction frees its key
            sa.ForeignKey("predictions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("octet_length(key_digest) = 32", name="ck_idempotency_keys_key_digest"),
        sa.CheckConstraint(
            "octet_length(image_sha256) = 32", name="ck_idempotency_keys_image_sha256"
        ),
    )
    # The sweep deletes keys older than a day, oldest first.
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    # Deleting a prediction looks its keys up to cascade; without it, a scan per deletion.
    op.create_index("ix_idempotency_keys_prediction_id", "idempotency_keys", ["prediction_id"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
