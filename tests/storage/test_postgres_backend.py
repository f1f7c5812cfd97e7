"""Issue 7: what only a PostgreSQL server shows: writers from two workstations serialised (the
audit chain never forks), migrations under an advisory lock with two processes starting at
once, the append-only audit table, a lost connection, a busy database, and readable refusals
at open (unreachable server, wrong or missing password, missing database, C locale, a
database holding another program's tables). The password is never shown."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from pathway_app.domain.errors import ConnectionLost, StorageError
from pathway_app.storage import repository as repo
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.database import (
    WRITE_LOCK_KEY,
    Database,
    DatabaseOpenError,
    _alembic_config,
    head_revisions,
    open_database,
)
from pathway_app.storage.orm import AuditEntry, Patient
from tests.pg_support import server_url

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def without_password(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    bare = parsed._replace(password=None)  # URL.set(password=None) keeps the old one
    return bare.render_as_string(hide_password=False), str(parsed.password)


@pytest.fixture
def pg_db(pg_clean_url: str) -> Iterator[Database]:
    database = open_database(pg_clean_url)
    yield database
    database.close()


def add_entry(db: Database, number: int) -> None:
    with db.writing() as session:
        repo.add_audit(
            session,
            at=NOW,
            actor=f"Workstation {number % 2}",
            action="test.entry",
            entity="test",
            entity_id=number,
            new={"n": number},
        )


# --- writes from two workstations -------------------------------------------------------------


def test_two_workstations_appending_at_once_keep_one_chain(pg_clean_url: str) -> None:
    first, second = open_database(pg_clean_url), open_database(pg_clean_url)
    errors: list[BaseException] = []
    per_thread = 25

    def work(db: Database, offset: int) -> None:
        try:
            for n in range(per_thread):
                add_entry(db, offset + n)
        except BaseException as exc:  # reported below, with the thread's exception
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(first, 0)),
        threading.Thread(target=work, args=(second, 1000)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with first.reading() as session:
            report = verify_chain(session)
            ids = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        assert report.ok and report.checked == 2 * per_thread
        assert ids == list(range(1, 2 * per_thread + 1))
    finally:
        first.close()
        second.close()


def test_a_writer_waits_for_the_other_then_says_busy(pg_clean_url: str) -> None:
    holder = create_engine(pg_clean_url, poolclass=NullPool)
    db = open_database(pg_clean_url, busy_timeout_ms=300)
    try:
        with holder.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(WRITE_LOCK_KEY)))  # another workstation
            with pytest.raises(StorageError, match=r"busy.*Nothing\s+was saved"):
                add_entry(db, 1)
            conn.execute(select(func.pg_advisory_unlock(WRITE_LOCK_KEY)))
        add_entry(db, 2)  # free again
        with db.reading() as session:
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    finally:
        db.close()
        holder.dispose()


def test_a_lost_connection_is_reported_and_the_next_action_reconnects(pg_db: Database) -> None:
    killer = create_engine(server_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        lost = pytest.raises(ConnectionLost, match="connection to the clinic database was lost")
        with lost, pg_db.writing() as session:
            session.add(
                Patient(
                    mrn="LOST-1",
                    family_name="Lost",
                    given_name="Never",
                    birth_date=date(1970, 1, 1),
                    created_at=NOW,
                )
            )
            pid = session.scalar(select(func.pg_backend_pid()))
            with killer.connect() as conn:
                conn.execute(select(func.pg_terminate_backend(pid)))
            session.flush()
        assert isinstance(ConnectionLost("x"), StorageError)
        with pg_db.reading() as session:  # pre-ping replaces the dead connection
            assert session.scalar(select(func.count()).select_from(Patient)) == 0
    finally:
        killer.dispose()


# --- the audit table is append-only ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'Someone else'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries CASCADE",
    ],
)
def test_the_audit_trail_refuses_changes(pg_db: Database, statement: str) -> None:
    add_entry(pg_db, 1)
    with pytest.raises(DBAPIError, match="append-only"), pg_db.engine.begin() as conn:
        conn.execute(text(statement))
    with pg_db.reading() as session:
        assert verify_chain(session).checked == 1


# --- migrations under the advisory lock --------------------------------------------------------

OPENER = """
import logging, sys
upgrades = []
class Count(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Running upgrade"):
            upgrades.append(record.getMessage())
log = logging.getLogger("alembic.runtime.migration")
log.setLevel(logging.INFO)
log.addHandler(Count())
from pathway_app.storage.database import open_database
print("ready", flush=True)
sys.stdin.readline()  # both start together
open_database(sys.argv[1]).close()
print(len(upgrades), flush=True)
"""


def test_two_workstations_starting_at_once_migrate_once(pg_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, pg_url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = [process.communicate(timeout=120) for process in processes]
    for process, (_out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err
    upgrades = sorted(int(out.strip()) for out, _err in results)
    revisions = len(list(ScriptDirectory.from_config(_alembic_config()).walk_revisions()))
    assert upgrades == [0, revisions]  # one process ran every migration, the other none
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert tuple(sorted(found)) == head_revisions()
    finally:
        engine.dispose()


# --- readable refusals at open -----------------------------------------------------------------


def refused(url: str) -> str:
    with pytest.raises(DatabaseOpenError) as info:
        open_database(url)
    message = str(info.value)
    assert "Traceback" not in message
    return message


@pytest.fixture
def no_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


def test_an_unreachable_server_is_refused_readably() -> None:
    message = refused("postgresql+psycopg://clinic:s3cret-value@127.0.0.1:1/clinic")
    assert "cannot be reached" in message and "127.0.0.1:1" in message
    assert "s3cret-value" not in message


def test_a_wrong_password_is_refused_without_showing_it(
    pg_clean_url: str, no_password_sources: None
) -> None:
    wrong = make_url(pg_clean_url).set(password="wrong-s3cret").render_as_string(False)
    message = refused(wrong)
    assert "password is missing or wrong" in message and ".pgpass" in message
    assert "wrong-s3cret" not in message


def test_a_missing_password_points_to_the_password_file(
    pg_clean_url: str, no_password_sources: None
) -> None:
    url, _password = without_password(pg_clean_url)
    assert "PGPASSWORD" in refused(url)


def test_the_password_comes_from_pgpassword_or_the_password_file(
    pg_clean_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_password_sources: None
) -> None:
    url, password = without_password(pg_clean_url)
    monkeypatch.setenv("PGPASSWORD", password)
    open_database(url).close()
    monkeypatch.delenv("PGPASSWORD")
    parsed = make_url(url)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{parsed.host}:{parsed.port or 5432}:*:{parsed.username}:{password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    open_database(url).close()


def test_a_missing_database_is_named(pg_clean_url: str) -> None:
    missing = make_url(pg_clean_url).set(database="no_such_clinic").render_as_string(False)
    message = refused(missing)
    assert "no_such_clinic does not exist" in message and "README" in message


def test_a_database_in_the_c_locale_is_refused() -> None:
    base = make_url(server_url())
    name = f"pwc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
        message = refused(base.set(database=name).render_as_string(hide_password=False))
        assert "Öztürk" in message and "UTF-8 locale" in message
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_a_database_of_another_program_is_refused_unchanged(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE invoices (id integer primary key)"))
        assert "another program" in refused(pg_url)
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            assert list(tables) == ["invoices"]
    finally:
        engine.dispose()
