"""Migration 0007 (issue 9, the refill worklist at scale), on SQLite and PostgreSQL: a 0006
clinic with open and closed episodes keeps its pumps, the new columns are filled from the
episodes and patients, the triggers keep them current afterwards, the schema is what the models
describe, and a downgrade removes exactly what 0007 added (the two old indexes come back)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from pathway_app.storage.database import MIGRATIONS_DIR
from pathway_app.storage.orm import Base
from pathway_app.storage.repository import is_compared_schema_object

NEW_COLUMNS = {"episode_open", "patient_family_name"}
NEW_INDEXES = {"ix_implanted_pumps_refill_worklist", "ix_implanted_pumps_refill_urgent"}
OLD_INDEXES = {
    "ix_implanted_pumps_removed_at_urgent_at",
    "ix_implanted_pumps_removed_at_refill_due_at",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _seed_0006(engine: Engine) -> None:
    """Two patients: Ada's episode open with a filled pump, Bo's closed with one."""
    _migrate(engine, "0006")
    with engine.begin() as conn:
        for n, name, status in ((1, "Older", "open"), (2, "Closed", "closed")):
            conn.execute(
                text(
                    "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, "
                    "created_at, version) VALUES (:n, :mrn, :name, 'Ada', '1950-01-02', "
                    "'2026-01-01 08:00:00', 1)"
                ),
                {"n": n, "mrn": f"OLD-{n}", "name": name},
            )
            conn.execute(
                text(
                    "INSERT INTO episodes (id, patient_id, template_key, template_version, "
                    "indication, drug, pump_model, planned_procedure_on, surgeon, setting, "
                    "status, opened_at, next_action, followup_action, open_complications, "
                    "complication_summary, urgent_summary, outcome_summary, outcome_flag, "
                    "version) VALUES (:n, :n, 'constant-flow-pump', 1, 'spasticity', "
                    "'baclofen', 'm', '2026-02-01', 'Dr Old', 'hospital-or', :status, "
                    "'2026-01-01 08:00:00', '', '', 0, '', '', '', '', 1)"
                ),
                {"n": n, "status": status},
            )
            conn.execute(
                text(
                    "INSERT INTO implanted_pumps (id, episode_id, model_key, model_name, serial, "
                    "reservoir_ml, nominal_flow_ml_per_day, tolerance_pct, reserve_ml, "
                    "unverified, implanted_at, recorded_at, recorded_by, refill_due_at, "
                    "refill_due_on, urgent_at, drug_key, drug_name, dangerous_withdrawal, "
                    "concentration_unit, dose_unit, projection_limited_by, "
                    "projection_unverified, projection_warnings, version) VALUES (:n, :n, 'm', "
                    "'Model', 'S', 20, 0.5, 15, 2, '', '2026-02-01 10:00:00', "
                    "'2026-02-01 10:00:00', 'T', '2026-12-01 10:00:00', '2026-12-01', "
                    "'2026-12-20 10:00:00', 'baclofen', 'Baclofen', true, 'mcg/mL', "
                    "'mcg/day', '', '', '[]', 1)"
                ),
                {"n": n},
            )


def _pumps(conn: Connection) -> list[tuple[int, bool, str]]:
    rows = conn.execute(
        text("SELECT id, episode_open, patient_family_name FROM implanted_pumps ORDER BY id")
    )
    return [(r[0], bool(r[1]), r[2]) for r in rows]


def test_upgrade_fills_the_copies_and_matches_the_models(engine: Engine) -> None:
    _seed_0006(engine)
    _migrate(engine, "0007")
    with engine.connect() as conn:
        assert _pumps(conn) == [(1, True, "Older"), (2, False, "Closed")]
        indexes = {i["name"] for i in inspect(conn).get_indexes("implanted_pumps")}
        assert indexes >= NEW_INDEXES and not OLD_INDEXES & indexes
        opts = {"compare_type": True, "include_name": is_compared_schema_object}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
        assert [d for d in diff if "implanted_pumps" in repr(d)] == []


def test_the_triggers_keep_the_copies_current(engine: Engine) -> None:
    _seed_0006(engine)
    _migrate(engine, "0007")
    with engine.begin() as conn:
        conn.execute(text("UPDATE episodes SET status = 'closed' WHERE id = 1"))
        conn.execute(text("UPDATE episodes SET status = 'open' WHERE id = 2"))
        conn.execute(text("UPDATE patients SET family_name = 'Renamed' WHERE id = 2"))
        # An unrelated change to the episode leaves the copy alone.
        conn.execute(text("UPDATE episodes SET surgeon = 'Dr New' WHERE id = 2"))
        # A second pump on the (now closed) first episode, written with the wrong copies.
        conn.execute(
            text(
                "INSERT INTO implanted_pumps (id, episode_id, model_key, model_name, serial, "
                "reservoir_ml, nominal_flow_ml_per_day, tolerance_pct, reserve_ml, unverified, "
                "implanted_at, recorded_at, recorded_by, drug_key, drug_name, "
                "dangerous_withdrawal, concentration_unit, dose_unit, projection_limited_by, "
                "projection_unverified, projection_warnings, version, episode_open, "
                "patient_family_name) VALUES (3, 1, 'm', 'Model', 'S3', 20, 0.5, 15, 2, '', "
                "'2026-03-01 10:00:00', '2026-03-01 10:00:00', 'T', '', '', false, '', '', "
                "'', '', '[]', 1, true, 'Wrong')"
            )
        )
    with engine.connect() as conn:
        assert _pumps(conn) == [(1, False, "Older"), (2, True, "Renamed"), (3, False, "Older")]


def test_downgrade_removes_only_what_0007_added(engine: Engine) -> None:
    _seed_0006(engine)
    _migrate(engine, "0007")
    _migrate(engine, "0006", down=True)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("implanted_pumps")}
        indexes = {i["name"] for i in inspect(conn).get_indexes("implanted_pumps")}
        assert not NEW_COLUMNS & columns
        assert indexes >= OLD_INDEXES and not NEW_INDEXES & indexes
        # The triggers are gone: one left behind would fail these updates, as the columns it
        # writes no longer exist.
        conn.execute(text("UPDATE episodes SET status = 'closed' WHERE id = 1"))
        conn.execute(text("UPDATE patients SET family_name = 'X' WHERE id = 1"))
        assert conn.execute(text("SELECT count(*) FROM implanted_pumps")).scalar() == 2
        conn.rollback()
    _migrate(engine, "0007")  # and it can be applied again
    with engine.connect() as conn:
        assert _pumps(conn) == [(1, True, "Older"), (2, False, "Closed")]
