"""slot claims: the wait claims become one pool among others (drawings of annotated photos)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_wait_claims_client", table_name="wait_claims")
    op.rename_table("wait_claims", "slot_claims")
    # Claims held while this runs are waits: a wait's claim lapses within seconds anyway.
    op.add_column(
        "slot_claims",
        sa.Column("pool", sa.String(16), nullable=False, server_default="wait"),
    )
    op.alter_column("slot_claims", "pool", server_default=None)
    op.create_index("ix_slot_claims_pool_client", "slot_claims", ["pool", "client"])


def downgrade() -> None:
    op.drop_index("ix_slot_claims_pool_client", table_name="slot_claims")
    op.execute("DELETE FROM slot_claims WHERE pool <> 'wait'")
    op.drop_column("slot_claims", "pool")
    op.rename_table("slot_claims", "wait_claims")
    op.create_index("ix_wait_claims_client", "wait_claims", ["client"])
