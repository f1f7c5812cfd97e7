"""Backups with the SQLite backup API (consistent while the app writes, owner-only, the newest
N kept) and restoring one (validated first, the replaced database kept aside)."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.backup import (
    BackupError,
    backup_database,
    list_backups,
    restore_backup,
)
from pathway_app.storage.database import open_database
from pathway_app.storage.orm import Patient

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def patients_in(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM patients").fetchone()[0]
    finally:
        conn.close()


def add(ctx: ServiceContext, mrn: str) -> None:
    register_patient(ctx, PatientDraft(mrn, "Backup", "Bo", date(1970, 1, 1)))


def test_a_backup_is_a_consistent_owner_only_single_file(ctx, db_path: Path, tmp_path) -> None:
    add(ctx, "B-1")  # still in the -wal file: the app is running
    target = backup_database(db_path, tmp_path / "backups", now=T0)
    assert target.name == "clinic-20261126-100000.sqlite3"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert patients_in(target) == 1
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert not Path(f"{target}-wal").exists()


def test_only_the_newest_n_are_kept(ctx, db_path: Path, tmp_path) -> None:
    folder = tmp_path / "backups"
    other = folder / "someone-else-20200101-000000.sqlite3"
    folder.mkdir()
    other.write_bytes(b"not ours")
    for day in range(5):
        backup_database(db_path, folder, keep=3, now=T0 + timedelta(days=day))
    kept = list_backups(db_path, folder)
    assert [b.taken_at.day for b in kept] == [30, 29, 28]
    assert other.exists()  # other databases' files are never pruned


def test_two_backups_in_the_same_second_both_exist(ctx, db_path: Path, tmp_path) -> None:
    first = backup_database(db_path, tmp_path, now=T0)
    second = backup_database(db_path, tmp_path, now=T0)
    assert first != second and first.exists() and second.exists()


def test_restore_replaces_the_data_and_keeps_the_old_file_aside(ctx, db_path: Path, tmp_path):
    add(ctx, "B-1")
    backup = backup_database(db_path, tmp_path / "backups", now=T0)
    add(ctx, "B-2")
    aside = restore_backup(backup, db_path, now=T0)
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert patients_in(aside) == 2
    # The running app sees the restored data at its next read, and goes on writing.
    with ctx.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 1
    add(ctx, "B-3")
    with ctx.db.reading() as session:
        assert verify_chain(session).ok


def test_a_backup_that_is_not_a_database_is_refused(ctx, db_path: Path, tmp_path) -> None:
    add(ctx, "B-1")
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_text("ward list", encoding="utf-8")
    with pytest.raises(BackupError, match="not a Care Pathway Tracker backup"):
        restore_backup(bogus, db_path)
    with ctx.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 1


def test_a_backup_from_a_newer_version_is_refused(ctx, db_path: Path, tmp_path) -> None:
    backup = backup_database(db_path, tmp_path, now=T0)
    conn = sqlite3.connect(backup)
    with conn:
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_future')")
    conn.close()
    with pytest.raises(BackupError, match="newer version"):
        restore_backup(backup, db_path)


def test_backup_of_a_missing_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        backup_database(tmp_path / "none.sqlite3", tmp_path)


def test_restored_old_schema_is_migrated_on_open(ctx, db_path: Path, tmp_path) -> None:
    add(ctx, "B-1")
    backup = backup_database(db_path, tmp_path, now=T0)
    restore_backup(backup, db_path)
    db = open_database(str(db_path))
    db.close()
