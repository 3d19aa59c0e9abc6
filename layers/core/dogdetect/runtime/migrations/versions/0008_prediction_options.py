"""prediction options: the confidence and classes a request asked for

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing, and a row made before has no options
    # (the worker applies the service's floor to every class, as it did).
    op.add_column("predictions", sa.Column("min_confidence", sa.Float(), nullable=True))
    op.add_column("predictions", sa.Column("classes", postgresql.ARRAY(sa.Text()), nullable=True))
    # NOT VALID, then VALIDATE: the check of the rows there already (all NULL) does not hold
    # the table's exclusive lock while it scans them.
    op.execute(
        "ALTER TABLE predictions ADD CONSTRAINT ck_predictions_options CHECK (min_confidence"
        " BETWEEN 0 AND 1 AND (classes IS NULL OR min_confidence IS NOT NULL)) NOT VALID"
    )
    op.execute("ALTER TABLE predictions VALIDATE CONSTRAINT ck_predictions_options")


def downgrade() -> None:
    op.drop_constraint("ck_predictions_options", "predictions", type_="check")
    op.drop_column("predictions", "classes")
    op.drop_column("predictions", "min_confidence")
