"""index of unfinished predictions, for the sweeper's stuck-row query

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The sweeper looks every minute for PENDING/PROCESSING rows unchanged for hours; without
    # this, each look reads the whole table. Finished rows, nearly all of them, stay out of it.
    op.create_index(
        "ix_predictions_unfinished",
        "predictions",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_unfinished", table_name="predictions")
