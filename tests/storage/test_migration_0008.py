"""Migration 0008 (issue 9: patient search and the pathway worklist index): a 0007 clinic with
patients gets them all indexed for search, later writes keep the index current (triggers on
SQLite), the new index matches the models, and a downgrade removes exactly what 0008 added. The
same on PostgreSQL, where the search is a pg_trgm GIN index the planner uses for ILIKE."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection

from pathway_app.storage import repository as repo
from pathway_app.storage.database import MIGRATIONS_DIR
from pathway_app.storage.orm import Base, Patient

PATIENTS = [
    (1, "OLD-1", "Öztürk", "Émile"),
    (2, "OLD-2", "García", "Yara"),
    (3, "MRN-300", "Older", "Ada"),
]
SEARCH_TRIGGERS = {"patient_search_insert", "patient_search_update", "patient_search_delete"}


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _insert_patients(conn: Connection) -> None:
    for patient_id, mrn, family, given in PATIENTS:
        conn.execute(
            text(
                "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, "
                "created_at, version) VALUES (:id, :mrn, :family, :given, '1950-01-02', "
                "'2026-01-01 08:00:00', 1)"
            ),
            {"id": patient_id, "mrn": mrn, "family": family, "given": given},
        )


def _found(conn: Connection, search: str) -> set[int]:
    return set(conn.scalars(select(Patient.id).where(repo._patient_matches(search))))


def _mine(conn: Connection) -> list[object]:
    diff = compare_metadata(
        MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": repo.is_compared_schema_object}
        ),
        Base.metadata,
    )
    return [d for d in diff if "ix_episodes_worklist" in repr(d) or "search" in repr(d)]


def test_sqlite_upgrade_indexes_existing_patients_and_keeps_them_current(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    url = f"sqlite:///{path}"
    command.upgrade(_config(url), "0007")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _insert_patients(conn)
        command.upgrade(_config(url), "0008")
        with engine.begin() as conn:
            assert _mine(conn) == []
            assert conn.exec_driver_sql("SELECT count(*) FROM patient_search").scalar() == 3
            assert _found(conn, "öztürk") == {1}  # Unicode case folding by the trigram index
            assert _found(conn, "yara garc") == {2}  # "Given Family"
            assert _found(conn, "older, ad") == {3}  # "Family, Given"
            assert _found(conn, "mrn-3") == {3}
            # Later writes keep the index current.
            conn.exec_driver_sql("UPDATE patients SET family_name = 'Newer' WHERE id = 3")
            conn.exec_driver_sql("DELETE FROM patients WHERE id = 2")
            conn.execute(
                text(
                    "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, "
                    "created_at, version) VALUES (4, 'N-4', 'Zoë', 'Åsa', '1960-01-01', "
                    "'2026-01-01 08:00:00', 1)"
                )
            )
            assert _found(conn, "older") == set()
            assert _found(conn, "newer, ada") == {3}
            assert _found(conn, "garcía") == set()
            assert _found(conn, "ÅSA ZOË") == {4}
        command.downgrade(_config(url), "0007")
    finally:
        engine.dispose()
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert not {n for n in names if n.startswith("patient_search")}
        assert not names & SEARCH_TRIGGERS
        assert "ix_episodes_worklist" not in names
        assert conn.execute("SELECT count(*) FROM patients").fetchone()[0] == 3


def test_postgresql_upgrade_adds_a_trigram_index_the_search_uses(pg_url: str) -> None:
    command.upgrade(_config(pg_url), "0007")
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            _insert_patients(conn)
        command.upgrade(_config(pg_url), "0008")
        with engine.begin() as conn:
            assert _mine(conn) == []
            indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
            assert "ix_episodes_worklist" in indexes
            has_trgm = conn.scalar(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
            )
            if has_trgm:
                assert repo.SEARCH_INDEX in indexes
                # The query's expression is the indexed one: the planner can use the index.
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                query = select(Patient.id).where(repo._patient_matches("garc"))
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(conn.scalars(text(f"EXPLAIN {sql}")))
                assert repo.SEARCH_INDEX in plan, plan
            assert _found(conn, "öztürk") == {1}
            assert _found(conn, "yara garc") == {2}
            assert _found(conn, "older, ad") == {3}
        command.downgrade(_config(pg_url), "0007")
        with engine.connect() as conn:
            indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
            assert repo.SEARCH_INDEX not in indexes
            assert "ix_episodes_worklist" not in indexes
    finally:
        engine.dispose()
