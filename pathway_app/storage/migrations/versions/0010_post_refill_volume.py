"""The pocket-fill check (domain.md §9 item 8): a fill keeps the reservoir volume measured
after the refill and the pocket-fill alert that measurement raised.

Both columns are nullable: fills recorded before this revision had no measurement, and read as
"not measured, no alert". Downgrade drops the two columns (and with them any measurement
recorded since).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column is added in place on SQLite too (no table copy), so the rows pointing
    # at fills (corrections, the audit trail's ids) are untouched.
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("post_refill_volume_ml", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pocket_fill_alert", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_column("pocket_fill_alert")
        batch_op.drop_column("post_refill_volume_ml")
