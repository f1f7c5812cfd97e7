"""The audit trail's hash chain: every write appends a linked entry, tampering outside the app
is found at the first broken entry, the app cannot update or delete entries, and an upgraded
database gets a valid chain for the entries it already had."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import DBAPIError

from pathway_app.domain.errors import StorageError
from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage import repository as repo
from pathway_app.storage.audit import GENESIS_HASH, HASHED_COLUMNS, verify_chain
from pathway_app.storage.database import MIGRATIONS_DIR, Database, open_database
from pathway_app.storage.orm import AuditEntry


def register(ctx: ServiceContext, n: int) -> None:
    for i in range(n):
        register_patient(ctx, PatientDraft(f"C-{i}", "Chain", f"Ann {i}", date(1970, 1, 1)))


def report(db: Database):
    with db.reading() as session:
        return verify_chain(session)


def tamper(path: Path, sql: str) -> None:
    """What someone with the file and the sqlite3 tool could do: drop the guard, edit."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
        conn.execute(sql)
    conn.close()


def test_every_column_but_the_hash_is_hashed(db: Database) -> None:
    columns = {c["name"] for c in inspect(db.engine).get_columns("audit_entries")}
    assert set(HASHED_COLUMNS) == columns - {"hash"}


def test_writes_build_a_chain_that_verifies(ctx: ServiceContext) -> None:
    register(ctx, 4)
    with ctx.db.reading() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [e.id for e in entries] == [1, 2, 3, 4]
        assert entries[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in pairwise(entries))
        assert len({e.hash for e in entries}) == 4
    result = report(ctx.db)
    assert result.ok and result.checked == 4


def test_an_edited_entry_is_found(ctx: ServiceContext, db_path: Path) -> None:
    register(ctx, 5)
    tamper(db_path, "UPDATE audit_entries SET actor = 'Someone else' WHERE id = 3")
    result = report(ctx.db)
    assert not result.ok
    assert result.first_broken_id == 3
    assert "changed" in result.problem


def test_a_removed_entry_is_found_at_the_next_one(ctx: ServiceContext, db_path: Path) -> None:
    register(ctx, 5)
    tamper(db_path, "DELETE FROM audit_entries WHERE id = 2")
    result = report(ctx.db)
    assert (result.ok, result.first_broken_id) == (False, 3)


def test_removing_the_first_entry_is_found(ctx: ServiceContext, db_path: Path) -> None:
    register(ctx, 2)
    tamper(db_path, "DELETE FROM audit_entries WHERE id = 1")
    assert report(ctx.db).first_broken_id == 2


def test_the_app_cannot_update_or_delete_entries(ctx: ServiceContext) -> None:
    register(ctx, 1)
    refused = pytest.raises((StorageError, DBAPIError), match="append-only")
    with refused, ctx.db.writing() as session:
        session.execute(update(AuditEntry).values(actor="x"))
    refused = pytest.raises((StorageError, DBAPIError), match="append-only")
    with refused, ctx.db.writing() as session:
        session.execute(AuditEntry.__table__.delete())
    assert report(ctx.db).ok


def test_two_windows_on_one_file_keep_one_chain(
    db_path: Path, ctx: ServiceContext, template, catalogue, clock
) -> None:
    other_db = open_database(str(db_path))
    other = ServiceContext(other_db, template, catalogue, clock, "Other Nurse")
    for i in range(3):
        register_patient(ctx, PatientDraft(f"A-{i}", "One", "Window", date(1970, 1, 1)))
        register_patient(other, PatientDraft(f"B-{i}", "Two", "Window", date(1970, 1, 1)))
    other_db.close()
    result = report(ctx.db)
    assert result.ok and result.checked == 6


def test_an_upgraded_database_gets_a_valid_chain(tmp_path: Path) -> None:
    """A database at 0002 (before users) with audit entries is upgraded in place."""
    path = tmp_path / "old.sqlite3"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(cfg, "0002")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, created_at, "
            "version) VALUES (1, 'OLD-1', 'Öld', 'Ånna', '1950-02-03', "
            "'2026-01-02 03:04:05.000000', 1)"
        )
        for i in range(1, 4):
            conn.execute(
                "INSERT INTO audit_entries (id, at, actor, action, entity, entity_id, patient_id,"
                " episode_id, detail) VALUES (?, ?, 'Old Nurse', 'patient.registered', "
                "'patient', 1, 1, NULL, ?)",
                (i * 10, f"2026-01-0{i} 03:04:05.123456", '{"old": {}, "new": {"n": "Ö"}}'),
            )
    conn.close()
    db = open_database(str(path))
    try:
        result = report(db)
        assert result.ok and result.checked == 3
        # New entries continue the migrated chain.
        with db.writing() as session:
            repo.add_audit(
                session,
                at=datetime(2026, 2, 1, tzinfo=UTC),
                actor="New",
                action="x",
                entity="patient",
                entity_id=1,
            )
        assert report(db).ok
        with db.reading() as session:
            assert session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc())) == 31
    finally:
        db.close()
