"""direct uploads: when a prediction's presigned POST expires

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a photo sent through the API has no presigned POST; adding it rewrites nothing.
    op.add_column(
        "predictions",
        sa.Column("upload_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    # The sweep looks every minute for direct uploads whose URL expired and that it has not
    # settled yet (enqueued_at is set then): the index holds only those still waiting.
    op.create_index(
        "ix_predictions_awaiting_upload",
        "predictions",
        ["upload_expires_at"],
        postgresql_where=sa.text("upload_expires_at IS NOT NULL AND enqueued_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_awaiting_upload", table_name="predictions")
    op.drop_column("predictions", "upload_expires_at")
