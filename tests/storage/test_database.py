"""Opening a clinic database on a real SQLite file: creation, migration, refusal of files that
are not ours (without touching them), and transactions."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage.database import (
    MIGRATIONS_DIR,
    OPEN_CHECK_VARIABLE,
    Database,
    DatabaseOpenError,
    _revision_graph,
    head_revisions,
    open_database,
)
from pathway_app.storage.orm import AuditEntry, Base, Milestone, Patient
from pathway_app.storage.repository import is_compared_schema_object

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def fingerprint(path: Path) -> tuple[str, int, int]:
    """Content hash, size and modification time: what "the file was not changed" means."""
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_size, info.st_mtime_ns


def alembic_revisions(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in conn.execute("SELECT version_num FROM alembic_version"))
    finally:
        conn.close()


def refused(path: Path) -> str:
    with pytest.raises(DatabaseOpenError) as info:
        open_database(str(path))
    message = str(info.value)
    assert "Traceback" not in message
    return message


@pytest.fixture
def closed_database(tmp_path: Path) -> Iterator[Path]:
    """A real migrated database with a few patients, closed (so the WAL is checkpointed)."""
    path = tmp_path / "existing.sqlite3"
    database = open_database(str(path))
    with database.writing() as session:
        for index in range(40):
            session.add(
                Patient(
                    mrn=f"MRN-{index:04d}",
                    family_name="Family " * 10,
                    given_name=f"Given {index}",
                    birth_date=date(1960, 1, 1),
                    created_at=NOW,
                )
            )
    database.close()
    assert not Path(f"{path}-wal").exists()
    yield path


# --- a new database --------------------------------------------------------------------------


def test_new_database_is_created_at_head(db: Database, db_path: Path) -> None:
    assert db.info.created is True
    assert db.info.display_name == str(db_path)
    assert alembic_revisions(db_path) == list(head_revisions())


def test_new_database_uses_wal(db: Database, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_new_database_file_is_owner_only(db: Database, db_path: Path) -> None:
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.writing() as session:
        session.add(
            Milestone(
                episode_id=424242,
                stage_key="preparation",
                stage_name="Preparation",
                stage_position=0,
                key="consent",
                name="Consent signed",
                position=0,
            )
        )
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Milestone)) == 0


def test_reopening_does_not_migrate_again(
    db: Database, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.close()

    def no_upgrade(*args: object, **kwargs: object) -> None:
        raise AssertionError("an up-to-date database was migrated again")

    monkeypatch.setattr(command, "upgrade", no_upgrade)
    again = open_database(str(db_path))
    try:
        assert again.info.created is False
        assert alembic_revisions(db_path) == list(head_revisions())
    finally:
        again.close()


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        # The search index (migration 0008) is no ORM model; see is_compared_schema_object.
        opts = {"compare_type": True, "include_name": is_compared_schema_object}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_empty_file_is_set_up_as_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    path.touch()
    database = open_database(str(path))
    try:
        assert alembic_revisions(path) == list(head_revisions())
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 0
    finally:
        database.close()


def test_existing_data_survives_reopening(closed_database: Path) -> None:
    database = open_database(str(closed_database))
    try:
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 40
    finally:
        database.close()


# --- refusals that leave the file alone ------------------------------------------------------


def test_database_from_a_newer_version_is_refused_unchanged(closed_database: Path) -> None:
    conn = sqlite3.connect(closed_database)
    with conn:
        # One row per head: while parallel branches are unmerged there can be several.
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_future')")
    conn.close()
    before = fingerprint(closed_database)
    message = refused(closed_database)
    assert "newer version" in message
    assert "9999_future" in message
    assert fingerprint(closed_database) == before
    assert alembic_revisions(closed_database) == ["9999_future"]


def test_text_file_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Patient list, do not delete\n", encoding="utf-8")
    before = fingerprint(path)
    message = refused(path)
    assert "not a Care Pathway Tracker database" in message
    assert str(path) in message
    assert fingerprint(path) == before


def test_random_bytes_are_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "noise.sqlite3"
    path.write_bytes(random.Random(7).randbytes(8192))
    before = fingerprint(path)
    assert "not a SQLite file" in refused(path)
    assert fingerprint(path) == before


def test_foreign_sqlite_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other-app.sqlite3"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    before = fingerprint(path)
    message = refused(path)
    assert "not a Care Pathway Tracker database" in message
    assert fingerprint(path) == before
    assert not Path(f"{path}-wal").exists()


def test_truncated_database_is_refused_unchanged(closed_database: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    shutil.copyfile(closed_database, damaged)
    size = damaged.stat().st_size
    assert size >= 4 * 4096  # enough pages that half of them are missing after the cut
    with damaged.open("r+b") as handle:
        handle.truncate(size // 2)
    before = fingerprint(damaged)
    message = refused(damaged)
    assert "damaged" in message or "integrity" in message
    assert fingerprint(damaged) == before


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert "folder" in refused(folder)
    assert list(folder.iterdir()) == []


def test_missing_parent_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "clinic.sqlite3"
    message = refused(path)
    assert "does not exist" in message
    assert not path.parent.exists()


def test_locked_database_is_refused(closed_database: Path) -> None:
    locker = sqlite3.connect(closed_database, isolation_level=None)
    try:
        locker.execute("PRAGMA journal_mode=DELETE")
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("UPDATE patients SET given_name = 'Locked' WHERE id = 1")
        message = refused(closed_database)
        assert "locked" in message
    finally:
        locker.execute("ROLLBACK")
        locker.close()


# --- transactions ----------------------------------------------------------------------------


def _patient(mrn: str) -> Patient:
    return Patient(
        mrn=mrn, family_name="Rossi", given_name="Ana", birth_date=date(1970, 1, 1), created_at=NOW
    )


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        patients = session.scalar(select(func.count()).select_from(Patient))
        audit = session.scalar(select(func.count()).select_from(AuditEntry))
    return patients or 0, audit or 0


def test_writing_commits_when_the_block_ends(db: Database) -> None:
    with db.writing() as session:
        session.add(_patient("A-1"))
    assert _counts(db) == (1, 0)


def test_writing_rolls_back_everything_when_an_exception_escapes(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.writing() as session:
        session.add(_patient("A-1"))
        session.flush()
        session.add(_patient("A-2"))
        session.flush()
        raise RuntimeError("boom")
    assert _counts(db) == (0, 0)


def test_nested_writing_joins_the_outer_transaction(ctx: ServiceContext) -> None:
    draft = PatientDraft("NEST-1", "Silva", "Rosa", date(1980, 3, 3))
    with pytest.raises(RuntimeError, match="after"), ctx.db.writing() as outer:
        patient_id = register_patient(ctx, draft)  # its own writing() joins this one
        assert outer.get(Patient, patient_id) is not None
        raise RuntimeError("failure after the inner service call")
    assert _counts(ctx.db) == (0, 0)
    # The database is usable afterwards and the same patient can be registered for real.
    register_patient(ctx, draft)
    assert _counts(ctx.db) == (1, 1)


def test_database_keeps_working_after_a_rolled_back_write(db: Database) -> None:
    with pytest.raises(IntegrityError), db.writing() as session:
        session.add(_patient("DUP"))
        session.add(_patient("DUP"))
    with db.writing() as session:
        session.add(_patient("DUP"))
    assert _counts(db) == (1, 0)


def test_no_sidecar_files_left_after_close(tmp_path: Path) -> None:
    path = tmp_path / "tidy.sqlite3"
    database = open_database(str(path))
    with database.writing() as session:
        session.add(_patient("T-1"))
    database.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tidy")) == [
        "tidy.sqlite3"
    ]
    assert os.path.getsize(path) > 0


# --- Start-up cost (issue 9) -------------------------------------------------------------------


def test_the_revision_graph_read_from_the_files_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    expected = {
        revision.revision: tuple(revision._normalized_down_revisions)
        for revision in script.walk_revisions()
    }
    assert _revision_graph() == expected
    assert head_revisions() == tuple(sorted(script.get_heads()))


def test_opening_a_current_database_does_not_import_alembic(closed_database: Path) -> None:
    # Importing Alembic costs about 0.3 s of every start-up; it is needed only to migrate.
    code = (
        "import sys\n"
        "from pathway_app.storage.database import open_database\n"
        f"open_database({str(closed_database)!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _damage_a_page_in_the_middle(path: Path) -> None:
    """Overwrite the body of the last page (a table or index page, never the schema page)."""
    size = path.stat().st_size
    page = 4096
    with path.open("r+b") as handle:
        handle.seek(size - page + 8)
        handle.write(bytes(random.Random(7).randrange(256) for _ in range(page - 8)))


def test_a_large_file_skips_the_whole_file_check_on_open_and_verify_finds_the_damage(
    closed_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathway_app.cli import EXIT_DATABASE, main

    _damage_a_page_in_the_middle(closed_database)
    # Below the limit (every test file is): refused on open.
    assert "integrity" in refused(closed_database) or "damaged" in refused(closed_database)
    # Above it: the open is quick, and `verify` (run by IT on a schedule) reports the damage.
    monkeypatch.setenv(OPEN_CHECK_VARIABLE, "0")
    open_database(str(closed_database)).close()
    assert main(["verify", "--db", str(closed_database)]) == EXIT_DATABASE
