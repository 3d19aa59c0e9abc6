"""wait claims: the requests held by Prefer: wait, counted per client and in all

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wait_claims",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_wait_claims_client", "wait_claims", ["client"])


def downgrade() -> None:
    op.drop_index("ix_wait_claims_client", table_name="wait_claims")
    op.drop_table("wait_claims")
