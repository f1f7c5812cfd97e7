"""Migration 0006 (outcomes): a 0005 clinic database with a patient, an episode, a preparation
record with consent and a fill keeps its data on upgrade, the new table and columns are exactly
what the models describe, an upgraded episode can record outcomes, and a downgrade removes only
what 0006 added."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.outcomes import OutcomeDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.outcomes import outcomes_view, record_outcome
from pathway_app.services.views import worklist
from pathway_app.storage.database import MIGRATIONS_DIR, open_database
from pathway_app.storage.orm import Base

NEW_EPISODE_COLUMNS = {"outcome_summary", "outcome_flag"}


def _config(path: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return cfg


def _seed_0005(path: Path) -> None:
    command.upgrade(_config(path), "0005")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, created_at, "
            "version) VALUES (1, 'OLD-1', 'Older', 'Ada', '1950-01-02', '2026-01-01 08:00:00', 1)"
        )
        conn.execute(
            "INSERT INTO episodes (id, patient_id, template_key, template_version, indication, "
            "drug, pump_model, planned_procedure_on, surgeon, setting, status, opened_at, "
            "current_stage, next_action, next_due_on, version) VALUES (1, 1, "
            "'constant-flow-pump', 1, 'noncancer-pain', 'morphine', 'isomed-8472-20-05', "
            "'2026-02-01', 'Dr Old', 'hospital-or', 'open', '2026-01-01 08:00:00', "
            "'preparation', 'Consent signed', '2026-01-25', 1)"
        )
        conn.execute(
            "INSERT INTO preparation_records (id, episode_id, trial_drug, trial_dose, psych_by, "
            "psych_note, consent_on, confirmations, medications_reviewed, updated_at, updated_by, "
            "version) VALUES (1, 1, '', '', '', '', '2026-01-20', '[]', 0, "
            "'2026-01-20 09:00:00', 'Nurse', 3)"
        )


def test_upgrade_from_0005_keeps_the_data_and_matches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _seed_0005(path)
    command.upgrade(_config(path), "0006")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            mine = [d for d in diff if "outcome" in repr(d) or "consent_alternatives" in repr(d)]
            assert mine == []
            row = conn.exec_driver_sql(
                "SELECT e.surgeon, e.outcome_summary, e.outcome_flag, p.consent_on, "
                "p.consent_alternatives, p.version FROM episodes e "
                "JOIN preparation_records p ON p.episode_id = e.id"
            ).one()
            assert tuple(row) == ("Dr Old", "", "", "2026-01-20", "[]", 3)
            assert conn.exec_driver_sql("SELECT count(*) FROM outcome_entries").scalar() == 0
    finally:
        engine.dispose()


def test_an_upgraded_episode_records_outcomes(tmp_path: Path, template, catalogue) -> None:
    path = tmp_path / "old.sqlite3"
    _seed_0005(path)
    db = open_database(str(path))  # upgrades to head on open
    try:
        ctx = ServiceContext(
            db, template, catalogue, FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)), "T"
        )
        assert worklist(ctx)[0].outcome_summary == ""
        record_outcome(ctx, 1, OutcomeDraft(date(2026, 1, 10), "baseline", pain_nrs=8))
        record_outcome(ctx, 1, OutcomeDraft(date(2026, 2, 20), "follow-up", pain_nrs=4))
        assert worklist(ctx)[0].outcome_summary == "pain −50 %"
        assert outcomes_view(ctx, 1).consent_on == date(2026, 1, 20)
    finally:
        db.close()


def test_downgrade_to_0005_removes_only_what_0006_added(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    _seed_0005(path)
    command.upgrade(_config(path), "0006")
    command.downgrade(_config(path), "0005")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info('episodes')")}
        prep = {r[1] for r in conn.execute("PRAGMA table_info('preparation_records')")}
        consent = conn.execute("SELECT consent_on FROM preparation_records").fetchall()
    assert "outcome_entries" not in tables and "episodes" in tables
    assert not NEW_EPISODE_COLUMNS & columns
    assert "consent_alternatives" not in prep
    assert consent == [("2026-01-20",)]
