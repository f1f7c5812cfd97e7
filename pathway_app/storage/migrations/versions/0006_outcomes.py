"""Outcomes (issue 10): the outcome_entries table, the episode's outcome summary columns
(worklist), and the alternatives discussed at consent on preparation_records.

Existing rows are kept: the new columns start empty ("" / "[]"), which reads as "no outcome
recorded" and "no alternatives recorded".

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds columns in place (no table copy), so rows pointing at these tables are kept.
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome_summary", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("outcome_flag", sa.String(length=300), nullable=False, server_default="")
        )
    with op.batch_alter_table("preparation_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_alternatives", sa.Text(), nullable=False, server_default="[]")
        )
    op.create_table(
        "outcome_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pain_nrs", sa.Integer(), nullable=True),
        sa.Column("ashworth", sa.String(length=4), nullable=True),
        sa.Column("function_text", sa.String(length=200), nullable=False),
        sa.Column("function_score", sa.Integer(), nullable=True),
        sa.Column("oral_doses", sa.Text(), nullable=False),
        sa.Column("oral_mme", sa.Float(), nullable=False),
        sa.Column("mme_verified", sa.Boolean(), nullable=False),
        sa.Column("side_effects", sa.Text(), nullable=False),
        sa.Column("side_effect_other", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_outcome_entries_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_entries")),
    )
    with op.batch_alter_table("outcome_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outcome_entries_episode_id_assessed_on",
            ["episode_id", "assessed_on"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outcome_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_outcome_entries_episode_id_assessed_on")
    op.drop_table("outcome_entries")
    with op.batch_alter_table("preparation_records", schema=None) as batch_op:
        batch_op.drop_column("consent_alternatives")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("outcome_flag")
        batch_op.drop_column("outcome_summary")
