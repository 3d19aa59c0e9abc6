"""owners: the API key (its digest) that created each prediction, and the listing's indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing. Rows from before have no owner: a
    # listing with keys on shows them to no key (GET by id still reads them).
    op.add_column("predictions", sa.Column("owner", sa.LargeBinary(), nullable=True))
    op.create_check_constraint("ck_predictions_owner", "predictions", "octet_length(owner) = 32")
    # GET /image_prediction, newest first: one key's (keys on), everyone's (keys off); each
    # by status, so that a page reads at most `limit` + 1 entries of each status's range.
    op.create_index(
        "ix_predictions_owner_listing",
        "predictions",
        ["owner", "status", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("owner IS NOT NULL"),
    )
    op.create_index(
        "ix_predictions_listing",
        "predictions",
        ["status", sa.text("created_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_listing", table_name="predictions")
    op.drop_index("ix_predictions_owner_listing", table_name="predictions")
    op.drop_constraint("ck_predictions_owner", "predictions")
    op.drop_column("predictions", "owner")
