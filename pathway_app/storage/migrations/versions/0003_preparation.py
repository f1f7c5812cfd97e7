"""Preparation and procedure (issue 5): preparation records, pre-operative tests, the medication
adjustment list, last intakes, readiness overrides, the procedure record and intra-operative
events.

Only new tables: existing rows are untouched, so an upgrade keeps every patient, episode, pump
and fill. Gate milestones already marked by hand keep their marks (see docs/readiness.md,
"Gates and milestones").

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preop_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=True),
        sa.Column("resulted_on", sa.Date(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_preop_tests_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preop_tests")),
        sa.UniqueConstraint("episode_id", "key", name=op.f("uq_preop_tests_episode_id")),
    )
    with op.batch_alter_table("preop_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preop_tests_episode_id"), ["episode_id"], unique=False)

    op.create_table(
        "preparation_intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("nothing_since", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_preparation_intakes_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preparation_intakes")),
        sa.UniqueConstraint("episode_id", "kind", name=op.f("uq_preparation_intakes_episode_id")),
    )
    with op.batch_alter_table("preparation_intakes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_preparation_intakes_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "preparation_medications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("drug_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("last_dose_at", sa.DateTime(), nullable=True),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("decision_by", sa.String(length=100), nullable=False),
        sa.Column("decision_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_preparation_medications_episode_id_episodes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preparation_medications")),
    )
    with op.batch_alter_table("preparation_medications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_preparation_medications_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "preparation_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("procedure_start", sa.DateTime(), nullable=True),
        sa.Column("trial_on", sa.Date(), nullable=True),
        sa.Column("trial_drug", sa.String(length=200), nullable=False),
        sa.Column("trial_dose", sa.String(length=200), nullable=False),
        sa.Column("trial_percent_relief", sa.Float(), nullable=True),
        sa.Column("trial_positive_response", sa.Boolean(), nullable=True),
        sa.Column("psych_done_on", sa.Date(), nullable=True),
        sa.Column("psych_by", sa.String(length=100), nullable=False),
        sa.Column("psych_cleared", sa.Boolean(), nullable=True),
        sa.Column("psych_note", sa.Text(), nullable=False),
        sa.Column("consent_on", sa.Date(), nullable=True),
        sa.Column("confirmations", sa.Text(), nullable=False),
        sa.Column("medications_reviewed", sa.Boolean(), nullable=False),
        sa.Column("inr_normal", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_preparation_records_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preparation_records")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_preparation_records_episode_id")),
    )
    op.create_table(
        "procedure_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_procedure_events_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_events")),
    )
    with op.batch_alter_table("procedure_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_procedure_events_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "readiness_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("authorised_by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_readiness_overrides_episode_id_episodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_overrides")),
    )
    with op.batch_alter_table("readiness_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_readiness_overrides_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "procedure_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("anaesthesia", sa.String(length=64), nullable=False),
        sa.Column("setting", sa.String(length=64), nullable=False),
        sa.Column("personnel", sa.Text(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("antibiotic", sa.String(length=100), nullable=False),
        sa.Column("antibiotic_at", sa.DateTime(), nullable=True),
        sa.Column("csf_flow_confirmed", sa.Boolean(), nullable=False),
        sa.Column("catheter_tip_level", sa.String(length=64), nullable=False),
        sa.Column("pocket_depth_cm", sa.Float(), nullable=True),
        sa.Column("pump_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_procedure_records_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["pump_id"],
            ["implanted_pumps.id"],
            name=op.f("fk_procedure_records_pump_id_implanted_pumps"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_records")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_procedure_records_episode_id")),
    )


def downgrade() -> None:
    op.drop_table("procedure_records")
    with op.batch_alter_table("readiness_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_overrides_episode_id"))

    op.drop_table("readiness_overrides")
    with op.batch_alter_table("procedure_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procedure_events_episode_id"))

    op.drop_table("procedure_events")
    op.drop_table("preparation_records")
    with op.batch_alter_table("preparation_medications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preparation_medications_episode_id"))

    op.drop_table("preparation_medications")
    with op.batch_alter_table("preparation_intakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preparation_intakes_episode_id"))

    op.drop_table("preparation_intakes")
    with op.batch_alter_table("preop_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preop_tests_episode_id"))

    op.drop_table("preop_tests")
