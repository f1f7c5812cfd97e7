"""Issue 7: ``migrate-data`` copies the demo clinic (a realistic single-workstation file) into
a new database, SQLite → SQLite (runs everywhere) and SQLite → PostgreSQL, verifying row
counts and the audit chain; a non-empty target, the same database twice and a row the target
cannot store are refused with nothing copied. Also the command-line rules for database URLs:
no password on the command line, backups and the generator on a server refused readably, and
the settings file naming the database."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from pathway_app.cli import EXIT_BACKUP, EXIT_MIGRATE_DATA, main
from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.database import open_database
from pathway_app.storage.migrate_data import MigrateDataError, MigrateReport, migrate_data
from pathway_app.storage.orm import AuditEntry, Base, Patient
from tests.conftest import ACTOR


def without_password(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    bare = parsed._replace(password=None)
    return bare.render_as_string(hide_password=False), str(parsed.password)


def check_copy(report: MigrateReport) -> None:
    counts = {table.name: (table.source, table.target) for table in report.tables}
    assert set(counts) == {table.name for table in Base.metadata.sorted_tables}
    assert all(source == target for source, target in counts.values())
    for busy_table in ("patients", "episodes", "milestones", "fills", "audit_entries"):
        assert counts[busy_table][0] > 0, busy_table  # the demo really exercises them
    assert report.ok and report.source_chain.ok
    assert report.target_chain.checked == counts["audit_entries"][0]


def the_app_keeps_working(target: str, template, catalogue, clock) -> None:
    """New rows get new ids (sequences moved past the copied ones) and chain on."""
    db = open_database(target)
    try:
        ctx = ServiceContext(db, template, catalogue, clock, ACTOR)
        with db.reading() as session:
            before = session.scalar(select(func.max(Patient.id)))
        new_id = register_patient(
            ctx, PatientDraft("AFTER-COPY-1", "Öztürk", "Ayşe", date(1970, 5, 17))
        )
        assert new_id > before
        with db.reading() as session:
            assert verify_chain(session).ok
    finally:
        db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_demo_clinic_is_copied_and_verifies(
    backend: str,
    demo_copy: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    template,
    catalogue,
    clock,
) -> None:
    target = (
        str(request.getfixturevalue("pg_url"))
        if backend == "postgresql"
        else str(tmp_path / "shared.sqlite3")
    )
    report = migrate_data(str(demo_copy), target)
    check_copy(report)
    the_app_keeps_working(target, template, catalogue, clock)
    with pytest.raises(MigrateDataError, match=r"already holds data.*Nothing was copied"):
        migrate_data(str(demo_copy), target)


def test_the_same_database_twice_is_refused(demo_copy: Path) -> None:
    with pytest.raises(MigrateDataError, match="same database"):
        migrate_data(str(demo_copy), f"sqlite:///{demo_copy}")


def test_a_row_postgresql_cannot_store_is_refused_and_nothing_is_copied(
    demo_copy: Path, pg_url: str
) -> None:
    conn = sqlite3.connect(demo_copy)
    with conn:
        # SQLite keeps a NUL inside text; PostgreSQL's text cannot hold one.
        conn.execute("UPDATE patients SET given_name = ? WHERE id = 1", ("Nul\x00Byte",))
    conn.close()
    with pytest.raises(MigrateDataError, match=r"cannot be stored.*Nothing was copied"):
        migrate_data(str(demo_copy), pg_url)
    db = open_database(pg_url)
    try:
        with db.reading() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 0
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    finally:
        db.close()


# --- the command line ---------------------------------------------------------------------------


def test_migrate_data_command_copies_with_the_password_from_the_environment(
    demo_copy: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    url, password = without_password(pg_url)
    monkeypatch.setenv("PGPASSWORD", password)
    assert main(["migrate-data", "--from", str(demo_copy), "--to", url]) == 0
    out = capsys.readouterr().out
    assert "Audit trail intact in the target" in out and "DIFFERENT" not in out
    assert f":{password}@" not in out  # the URL shown carries no password


def test_migrate_data_command_refuses_a_non_empty_target(
    demo_copy: Path, tmp_path: Path, capsys
) -> None:
    target = tmp_path / "shared.sqlite3"
    assert main(["migrate-data", "--from", str(demo_copy), "--to", str(target)]) == 0
    assert main(["migrate-data", "--from", str(demo_copy), "--to", str(target)]) == (
        EXIT_MIGRATE_DATA
    )
    assert "already holds data" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "postgresql+psycopg://clinic:hunter2@dbhost/clinic", "verify"],
        ["verify", "--db", "postgresql+psycopg://clinic:hunter2@dbhost/clinic"],
        ["migrate-data", "--from", "a.sqlite3", "--to", "postgresql+psycopg://c:hunter2@h/c"],
    ],
)
def test_a_password_on_the_command_line_is_refused(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert ".pgpass" in err and "PGPASSWORD" in err and "hunter2" not in err


def test_backup_of_a_server_database_points_to_pg_dump(capsys) -> None:
    assert main(["--db", "postgresql+psycopg://clinic@dbhost/clinic", "backup"]) == EXIT_BACKUP
    assert "pg_dump" in capsys.readouterr().err


def test_the_generator_refuses_a_server_and_names_migrate_data(capsys) -> None:
    code = main(
        ["--db", "postgresql+psycopg://clinic@dbhost/clinic", "generate", "--episodes", "5"]
    )
    assert code == 2
    assert "migrate-data" in capsys.readouterr().err


def test_the_settings_file_names_the_database(tmp_path: Path, capsys) -> None:
    from pathway_app import paths

    chosen = tmp_path / "from-settings.sqlite3"
    paths.settings_file().write_text(f"[database]\nurl=sqlite:///{chosen}\n", encoding="utf-8")
    assert main(["verify"]) == 0
    assert chosen.exists()
    assert "Audit trail intact" in capsys.readouterr().out
