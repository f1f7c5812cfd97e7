"""Migration 0010 (the pocket-fill check), on SQLite and PostgreSQL: a 0009 clinic's fills
gain the post-refill volume and the pocket-fill alert, both empty for the fills already
recorded; the fills table is what the models describe; a downgrade removes the two columns
and keeps the fills."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from pathway_app.storage.orm import Base, Fill
from pathway_app.storage.repository import is_compared_schema_object
from tests.storage.test_migration_0007 import _migrate, _seed_0006

NEW_COLUMNS = {"post_refill_volume_ml", "pocket_fill_alert"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _seed_0009(engine: Engine) -> None:
    """The 0007 test's clinic at 0009, with an initial fill and a refill on pump 1."""
    _seed_0006(engine)
    _migrate(engine, "0009")
    with engine.begin() as conn:
        for n, kind, at, aspirated in (
            (1, "initial", "2026-02-01 10:00:00", None),
            (2, "refill", "2026-03-01 10:00:00", 6.0),
        ):
            conn.execute(
                text(
                    "INSERT INTO fills (id, pump_id, episode_id, kind, filled_at, recorded_at, "
                    "recorded_by, aspirated_ml, residual_left_ml, added_ml, drug_key, drug_name, "
                    "concentration, concentration_unit, lot, operator, second_checker, needle, "
                    "location_method, notes, over_max_confirmed, over_max_reason, flagged, "
                    "flag_reasons, explanation_note, volume_after_ml, effective_concentration, "
                    "daily_dose, effective_daily_dose, dose_unit, due_at, empty_by_nominal_at, "
                    "empty_by_worst_at, worst_case_flow_ml_per_day, limited_by, "
                    "reserve_ml_used, buffer_days_used, dangerous_withdrawal, "
                    "unverified_inputs, warnings, correction_reason, version) VALUES (:n, 1, 1, "
                    ":kind, :at, :at, 'T', :aspirated, 0, 20, 'baclofen', 'Baclofen', 500, "
                    "'mcg/mL', 'L', 'A', 'B', 'N', 'template', '', false, '', false, '[]', '', "
                    "20, 500, 250, 250, 'mcg/day', '2026-04-01 10:00:00', "
                    "'2026-04-10 10:00:00', '2026-04-05 10:00:00', 0.575, 'volume', 2, 4, "
                    "true, '', '[]', '', 1)"
                ),
                {"n": n, "kind": kind, "at": at, "aspirated": aspirated},
            )


def _columns(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("fills")}


def test_upgrade_adds_the_columns_and_old_fills_read_as_not_measured(engine: Engine) -> None:
    _seed_0009(engine)
    _migrate(engine, "0010")
    with engine.connect() as conn:
        assert _columns(conn) >= NEW_COLUMNS
        opts = {"compare_type": True, "include_name": is_compared_schema_object}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
        assert [d for d in diff if "fills" in repr(d)] == []
    with Session(engine) as session:
        fills = session.scalars(select(Fill).order_by(Fill.id)).all()
        assert [(f.id, f.post_refill_volume_ml, f.pocket_fill_alert) for f in fills] == [
            (1, None, None),
            (2, None, None),
        ]


def test_downgrade_removes_the_columns_and_keeps_the_fills(engine: Engine) -> None:
    _seed_0009(engine)
    _migrate(engine, "0010")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE fills SET post_refill_volume_ml = 17.5, pocket_fill_alert = 'x' "
                "WHERE id = 2"
            )
        )
    _migrate(engine, "0009", down=True)
    with engine.connect() as conn:
        assert not _columns(conn) & NEW_COLUMNS
        rows = conn.execute(text("SELECT id, kind, aspirated_ml FROM fills ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "initial", None), (2, "refill", 6.0)]
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0009"
