"""Migration 0003 (preparation and procedure): a 0002 clinic database with an episode, a pump
and a fill keeps all of it on upgrade; the new tables match the models; downgrade removes only
them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from pathway_app.storage.database import MIGRATIONS_DIR, open_database
from pathway_app.storage.orm import Base

NEW_TABLES = {
    "preparation_records",
    "preop_tests",
    "preparation_medications",
    "preparation_intakes",
    "readiness_overrides",
    "procedure_records",
    "procedure_events",
}


def _config(path: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return cfg


def _clinic_at_0002(path: Path) -> None:
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
            "name, detail, gate, position, due_on, state, done_at, done_by, version) VALUES "
            "(1, 1, 'preparation', 'Preparation', 0, 'consent', 'Consent signed', '', 1, 5, "
            "'2026-01-25', 'done', '2026-01-20 09:00:00', 'Nurse Old', 1)"
        )


def test_upgrade_from_0002_keeps_the_data_and_adds_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _clinic_at_0002(path)
    db = open_database(str(path))  # upgrades every head on open
    try:
        with db.engine.connect() as conn:
            revisions = MigrationContext.configure(conn).get_current_heads()
            assert "0003" in revisions or any(r > "0003" for r in revisions)
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            ours = [d for d in diff if _table_of(d) in NEW_TABLES]
            assert ours == []
            rows = conn.exec_driver_sql(
                "SELECT p.mrn, e.surgeon, m.state, m.done_by FROM episodes e "
                "JOIN patients p ON p.id = e.patient_id JOIN milestones m ON m.episode_id = e.id"
            ).all()
            assert rows == [("OLD-1", "Dr Old", "done", "Nurse Old")]
            for table in NEW_TABLES:
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0
    finally:
        db.close()


def _table_of(item: object) -> str | None:
    if isinstance(item, tuple):
        for part in item:
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if table is not None:
                return str(table.name)
            if isinstance(name, str) and name in NEW_TABLES:
                return name
            if isinstance(part, str) and part in NEW_TABLES:
                return part
    return None


def test_downgrade_to_0002_removes_only_the_preparation_tables(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    _clinic_at_0002(path)
    command.upgrade(_config(path), "0003")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables >= NEW_TABLES
    command.downgrade(_config(path), "0002")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("SELECT count(*) FROM milestones").fetchone() == (1,)
    assert not NEW_TABLES & tables
    assert {"patients", "episodes", "milestones", "implanted_pumps", "fills"} <= tables
