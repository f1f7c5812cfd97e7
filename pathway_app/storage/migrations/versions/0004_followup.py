"""Hospital stay, recovery and follow-up: stays, discharge checks, monitoring notes, the
complication log, red-flag reports, follow-up items, episode closures, and the episode's
denormalised worklist columns for them.

Existing rows are kept: the new episode columns get their empty values and
``attention_due_on`` starts as the milestone due date, so the worklist reads the same as before
the upgrade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    # SQLite adds columns in place (no table copy), so rows pointing at episodes are untouched.
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followup_due_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("followup_action", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("attention_due_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("open_complications", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "complication_summary", sa.String(length=500), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("urgent_since", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("urgent_summary", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_episodes_status_attention_due_on", ["status", "attention_due_on"], unique=False
        )
    op.execute("UPDATE episodes SET attention_due_on = next_due_on")

    op.create_table(
        "hospital_stays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(), nullable=False),
        sa.Column("discharged_at", sa.DateTime(), nullable=True),
        sa.Column("discharged_by", sa.String(length=100), nullable=True),
        sa.Column("discharge_overridden", sa.Boolean(), nullable=False),
        sa.Column("discharge_override_reason", sa.Text(), nullable=False),
        sa.Column("discharge_open_items", sa.Text(), nullable=False),
        sa.Column("restrictions", sa.Text(), nullable=False),
        sa.Column("restrictions_end_on", sa.Date(), nullable=True),
        sa.Column("wound_care_given_by", sa.String(length=100), nullable=True),
        sa.Column("wound_care_given_at", sa.DateTime(), nullable=True),
        sa.Column("wound_care_notes", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("hospital_stays", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospital_stays")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_hospital_stays_episode_id")),
    )
    op.create_table(
        "discharge_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ticked_at", sa.DateTime(), nullable=False),
        sa.Column("ticked_by", sa.String(length=100), nullable=False),
        _fk("discharge_checks", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_checks")),
        sa.UniqueConstraint("episode_id", "key", name=op.f("uq_discharge_checks_episode_id")),
    )
    op.create_table(
        "monitoring_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        _fk("monitoring_notes", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_notes")),
    )
    with op.batch_alter_table("monitoring_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitoring_notes_episode_id"), ["episode_id"], unique=False
        )
    op.create_table(
        "complications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("category_name", sa.String(length=200), nullable=False),
        sa.Column("onset_on", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("severity_name", sa.String(length=100), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("action_taken", sa.Text(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("complications", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complications")),
    )
    with op.batch_alter_table("complications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complications_episode_id_resolved_on", ["episode_id", "resolved_on"], unique=False
        )
    op.create_table(
        "red_flag_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("flag_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("raised_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("red_flag_reports", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flag_reports")),
    )
    with op.batch_alter_table("red_flag_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_red_flag_reports_episode_id_resolved_at",
            ["episode_id", "resolved_at"],
            unique=False,
        )
    op.create_table(
        "followup_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("window_opens_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("series_id", sa.String(length=64), nullable=True),
        sa.Column("occurrence", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("missed_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("followup_items", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_items")),
    )
    with op.batch_alter_table("followup_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_followup_items_episode_id_status_due_on",
            ["episode_id", "status", "due_on"],
            unique=False,
        )
        batch_op.create_index("ix_followup_items_status_due_on", ["status", "due_on"], unique=False)
    op.create_table(
        "episode_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=False),
        _fk("episode_closures", "episode_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode_closures")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_episode_closures_episode_id")),
    )


def downgrade() -> None:
    op.drop_table("episode_closures")
    with op.batch_alter_table("followup_items", schema=None) as batch_op:
        batch_op.drop_index("ix_followup_items_status_due_on")
        batch_op.drop_index("ix_followup_items_episode_id_status_due_on")
    op.drop_table("followup_items")
    with op.batch_alter_table("red_flag_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_red_flag_reports_episode_id_resolved_at")
    op.drop_table("red_flag_reports")
    with op.batch_alter_table("complications", schema=None) as batch_op:
        batch_op.drop_index("ix_complications_episode_id_resolved_on")
    op.drop_table("complications")
    with op.batch_alter_table("monitoring_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_notes_episode_id"))
    op.drop_table("monitoring_notes")
    op.drop_table("discharge_checks")
    op.drop_table("hospital_stays")
    # Dropping columns makes SQLite copy the episodes table; rows are kept.
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index("ix_episodes_status_attention_due_on")
        for column in (
            "urgent_summary",
            "urgent_since",
            "complication_summary",
            "open_complications",
            "attention_due_on",
            "followup_action",
            "followup_due_on",
        ):
            batch_op.drop_column(column)
