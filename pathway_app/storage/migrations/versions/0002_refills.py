"""Refills: implanted pumps with their current refill projection, fills (initial fill and
refills, with corrections as new rows) and the exposure log.

Only new tables: existing rows are untouched, so an upgrade keeps every patient and episode.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exposures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_exposures_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposures")),
    )
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exposures_episode_id"), ["episode_id"], unique=False)

    op.create_table(
        "implanted_pumps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("reservoir_ml", sa.Float(), nullable=False),
        sa.Column("nominal_flow_ml_per_day", sa.Float(), nullable=False),
        sa.Column("tolerance_pct", sa.Float(), nullable=False),
        sa.Column("reserve_ml", sa.Float(), nullable=False),
        sa.Column("exposure_factor", sa.Float(), nullable=True),
        sa.Column("catheter_volume_ml", sa.Float(), nullable=True),
        sa.Column("unverified", sa.String(length=200), nullable=False),
        sa.Column("implanted_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("last_fill_at", sa.DateTime(), nullable=True),
        sa.Column("refill_due_at", sa.DateTime(), nullable=True),
        sa.Column("refill_due_on", sa.Date(), nullable=True),
        sa.Column("empty_by_nominal_at", sa.DateTime(), nullable=True),
        sa.Column("empty_by_worst_at", sa.DateTime(), nullable=True),
        sa.Column("urgent_at", sa.DateTime(), nullable=True),
        sa.Column("drug_key", sa.String(length=64), nullable=False),
        sa.Column("drug_name", sa.String(length=200), nullable=False),
        sa.Column("dangerous_withdrawal", sa.Boolean(), nullable=False),
        sa.Column("concentration", sa.Float(), nullable=True),
        sa.Column("concentration_unit", sa.String(length=16), nullable=False),
        sa.Column("daily_dose", sa.Float(), nullable=True),
        sa.Column("dose_unit", sa.String(length=16), nullable=False),
        sa.Column("projection_limited_by", sa.String(length=16), nullable=False),
        sa.Column("projection_unverified", sa.String(length=200), nullable=False),
        sa.Column("projection_warnings", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_implanted_pumps_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_implanted_pumps")),
    )
    with op.batch_alter_table("implanted_pumps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_implanted_pumps_episode_id"), ["episode_id"], unique=False
        )
        batch_op.create_index(
            "ix_implanted_pumps_removed_at_refill_due_at",
            ["removed_at", "refill_due_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_implanted_pumps_removed_at_urgent_at", ["removed_at", "urgent_at"], unique=False
        )

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filled_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("aspirated_ml", sa.Float(), nullable=True),
        sa.Column("residual_left_ml", sa.Float(), nullable=False),
        sa.Column("added_ml", sa.Float(), nullable=False),
        sa.Column("drug_key", sa.String(length=64), nullable=False),
        sa.Column("drug_name", sa.String(length=200), nullable=False),
        sa.Column("concentration", sa.Float(), nullable=False),
        sa.Column("concentration_unit", sa.String(length=16), nullable=False),
        sa.Column("residual_concentration", sa.Float(), nullable=True),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("expiry_on", sa.Date(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("second_checker", sa.String(length=100), nullable=False),
        sa.Column("needle", sa.String(length=100), nullable=False),
        sa.Column("location_method", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("over_max_confirmed", sa.Boolean(), nullable=False),
        sa.Column("over_max_reason", sa.Text(), nullable=False),
        sa.Column("interval_days", sa.Float(), nullable=True),
        sa.Column("expected_residual_ml", sa.Float(), nullable=True),
        sa.Column("actual_flow_ml_per_day", sa.Float(), nullable=True),
        sa.Column("flow_error_pct", sa.Float(), nullable=True),
        sa.Column("discrepancy_ml", sa.Float(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag_reasons", sa.Text(), nullable=False),
        sa.Column("explanation", sa.String(length=32), nullable=True),
        sa.Column("explanation_note", sa.Text(), nullable=False),
        sa.Column("volume_after_ml", sa.Float(), nullable=False),
        sa.Column("effective_concentration", sa.Float(), nullable=False),
        sa.Column("daily_dose", sa.Float(), nullable=False),
        sa.Column("effective_daily_dose", sa.Float(), nullable=False),
        sa.Column("dose_unit", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("empty_by_nominal_at", sa.DateTime(), nullable=False),
        sa.Column("empty_by_worst_at", sa.DateTime(), nullable=False),
        sa.Column("worst_case_flow_ml_per_day", sa.Float(), nullable=False),
        sa.Column("limited_by", sa.String(length=16), nullable=False),
        sa.Column("reserve_ml_used", sa.Float(), nullable=False),
        sa.Column("buffer_days_used", sa.Float(), nullable=False),
        sa.Column("stability_days_used", sa.Integer(), nullable=True),
        sa.Column("dangerous_withdrawal", sa.Boolean(), nullable=False),
        sa.Column("unverified_inputs", sa.String(length=200), nullable=False),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=False),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"], ["fills.id"], name=op.f("fk_fills_corrects_id_fills")
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_fills_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["pump_id"], ["implanted_pumps.id"], name=op.f("fk_fills_pump_id_implanted_pumps")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"], ["fills.id"], name=op.f("fk_fills_superseded_by_id_fills")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fills_episode_id"), ["episode_id"], unique=False)
        batch_op.create_index("ix_fills_pump_id_filled_at", ["pump_id", "filled_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("ix_fills_pump_id_filled_at")
        batch_op.drop_index(batch_op.f("ix_fills_episode_id"))

    op.drop_table("fills")
    with op.batch_alter_table("implanted_pumps", schema=None) as batch_op:
        batch_op.drop_index("ix_implanted_pumps_removed_at_urgent_at")
        batch_op.drop_index("ix_implanted_pumps_removed_at_refill_due_at")
        batch_op.drop_index(batch_op.f("ix_implanted_pumps_episode_id"))

    op.drop_table("implanted_pumps")
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exposures_episode_id"))

    op.drop_table("exposures")
