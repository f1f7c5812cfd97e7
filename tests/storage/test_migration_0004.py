"""Migration 0004 (stay, recovery and follow-up): a 0002 clinic database with patients,
episodes, milestones, a pump and a fill keeps its data on upgrade, the existing episodes read
the same on the worklist, the new tables and columns are exactly what the models describe, and
a downgrade removes only what 0004 added."""

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
from pathway_app.domain.progress import DueStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.views import worklist
from pathway_app.storage.database import MIGRATIONS_DIR, open_database
from pathway_app.storage.orm import Base

NEW_TABLES = {
    "hospital_stays",
    "discharge_checks",
    "monitoring_notes",
    "complications",
    "red_flag_reports",
    "followup_items",
    "episode_closures",
}
NEW_EPISODE_COLUMNS = {
    "followup_due_on",
    "followup_action",
    "attention_due_on",
    "open_complications",
    "complication_summary",
    "urgent_since",
    "urgent_summary",
}


def _config(path: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return cfg


def _seed_0002(path: Path) -> None:
    command.upgrade(_config(path), "0002")
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
            "INSERT INTO milestones (id, episode_id, stage_key, stage_name, stage_position, key, "
            "name, detail, gate, position, due_on, state, version) VALUES (1, 1, 'preparation', "
            "'Preparation', 0, 'consent', 'Consent signed', '', 1, 0, '2026-01-25', 'planned', 1)"
        )
        conn.execute(
            "INSERT INTO exposures (id, episode_id, kind, started_on, ended_on, note, "
            "recorded_at, recorded_by, version) VALUES (1, 1, 'fever', '2026-01-10', NULL, "
            "'flu', '2026-01-10 09:00:00', 'Nurse', 1)"
        )


def _mine(diff: list) -> list:
    """The differences touching what 0004 owns (other branches are checked by their tests)."""
    found = []
    for entry in diff:
        text = repr(entry)
        if "ix_episodes_worklist" in text:
            continue  # migration 0008's index (it covers 0004's columns too)
        if (
            any(table in text for table in NEW_TABLES)
            or any(column in text for column in NEW_EPISODE_COLUMNS)
            or "ix_episodes_status_attention_due_on" in text
        ):
            found.append(entry)
    return found


def test_upgrade_from_0002_keeps_the_data_and_matches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _seed_0002(path)
    command.upgrade(_config(path), "0004")

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            assert _mine(diff) == []
            row = conn.exec_driver_sql(
                "SELECT p.mrn, e.surgeon, e.next_action, e.next_due_on, e.attention_due_on, "
                "e.followup_due_on, e.followup_action, e.open_complications, "
                "e.complication_summary, e.urgent_since, e.urgent_summary "
                "FROM episodes e JOIN patients p ON p.id = e.patient_id"
            ).one()
            assert tuple(row) == (
                "OLD-1",
                "Dr Old",
                "Consent signed",
                "2026-01-25",
                "2026-01-25",
                None,
                "",
                0,
                "",
                None,
                "",
            )
            assert conn.exec_driver_sql("SELECT count(*) FROM milestones").scalar() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM exposures").scalar() == 1
            for table in NEW_TABLES:
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0
            indexes = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list('episodes')").all()}
            assert "ix_episodes_status_attention_due_on" in indexes
    finally:
        engine.dispose()


def test_an_upgraded_episode_reads_the_same_on_the_worklist(
    tmp_path: Path, template, catalogue
) -> None:
    path = tmp_path / "old.sqlite3"
    _seed_0002(path)
    db = open_database(str(path))  # upgrades every head on open
    try:
        ctx = ServiceContext(
            db, template, catalogue, FixedClock(datetime(2026, 1, 27, 9, 0, tzinfo=UTC)), "T"
        )
        rows = worklist(ctx)
        assert [(r.mrn, r.next_action, r.next_due_on, r.status) for r in rows] == [
            ("OLD-1", "Consent signed", date(2026, 1, 25), DueStatus.OVERDUE)
        ]
        assert worklist(ctx, status=DueStatus.OVERDUE)[0].mrn == "OLD-1"
    finally:
        db.close()


def test_downgrade_to_0002_removes_only_what_0004_added(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    _seed_0002(path)
    command.upgrade(_config(path), "0004")
    command.downgrade(_config(path), "0002")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info('episodes')")}
        kept = conn.execute("SELECT mrn FROM patients").fetchall()
        milestones = conn.execute("SELECT count(*) FROM milestones").fetchone()
    assert {"patients", "episodes", "milestones", "implanted_pumps", "exposures"} <= tables
    assert not NEW_TABLES & tables
    assert not NEW_EPISODE_COLUMNS & columns
    assert kept == [("OLD-1",)] and milestones == (1,)
