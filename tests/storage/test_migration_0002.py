"""Migration 0002 (refills): an existing 0001 clinic database keeps its data on upgrade, and
the upgraded schema is exactly what the models describe."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from pathway_app.storage.database import MIGRATIONS_DIR, head_revisions, open_database
from pathway_app.storage.orm import Base
from pathway_app.storage.repository import is_compared_schema_object


def _upgrade_to(path: Path, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(cfg, revision)


def test_upgrade_from_0001_keeps_the_data_and_matches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _upgrade_to(path, "0001")
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

    db = open_database(str(path))  # upgrades to head on open
    try:
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
            assert tuple(sorted(current)) == head_revisions()
            # The search index of migration 0008 is no model: see is_compared_schema_object.
            opts = {"compare_type": True, "include_name": is_compared_schema_object}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
            assert diff == []
            rows = conn.exec_driver_sql(
                "SELECT p.mrn, e.surgeon, e.next_due_on FROM episodes e "
                "JOIN patients p ON p.id = e.patient_id"
            ).all()
            assert rows == [("OLD-1", "Dr Old", "2026-01-25")]
            for table in ("implanted_pumps", "fills", "exposures"):
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0
    finally:
        db.close()


def test_downgrade_to_0001_removes_only_the_refill_tables(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    _upgrade_to(path, "heads")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.downgrade(cfg, "0001")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"patients", "episodes", "milestones", "audit_entries"} <= tables
    assert not {"implanted_pumps", "fills", "exposures"} & tables
