"""webhooks: the URL a prediction is announced to, and when its notification was queued

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: existing rows have no webhook, and adding them rewrites nothing.
    op.add_column("predictions", sa.Column("webhook_url", sa.Text(), nullable=True))
    op.add_column(
        "predictions",
        sa.Column("webhook_enqueued_at", sa.DateTime(timezone=True), nullable=True),
    )
    # The sweep looks every minute for finished rows whose webhook was never announced; the
    # index holds only rows with a webhook still waiting, a handful at any time.
    op.create_index(
        "ix_predictions_webhook_unannounced",
        "predictions",
        ["updated_at"],
        postgresql_where=sa.text("webhook_url IS NOT NULL AND webhook_enqueued_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_webhook_unannounced", table_name="predictions")
    op.drop_column("predictions", "webhook_enqueued_at")
    op.drop_column("predictions", "webhook_url")
