"""Issue 7: the change feed — NOTIFY on commit (PostgreSQL), data_version (SQLite), and the
reports of a lost connection."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from pathway_app.domain.errors import ConnectionLost, StorageError
from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage import change_feed
from pathway_app.storage.database import Database, open_database
from pathway_app.storage.orm import Patient


def _patient(mrn: str) -> Patient:
    return Patient(
        mrn=mrn,
        family_name="Berg",
        given_name="Ola",
        birth_date=date(1970, 1, 1),
        created_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
    )


def _wait_for(listener: change_feed.ChangeListener, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listener.drain():
            return True
        time.sleep(0.02)
    return False


def _admin_engine():  # type: ignore[no-untyped-def]
    from tests.pg_support import server_url

    return create_engine(server_url(), isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_pair(pg_url: str) -> Iterator[tuple[Database, Database]]:
    first = open_database(pg_url)
    second = open_database(pg_url)
    yield first, second
    first.close()
    second.close()


def test_a_committed_write_reaches_a_listener_on_another_database_object(pg_pair):
    writer, watcher = pg_pair
    listener = change_feed.open_listener(watcher.engine)
    try:
        assert listener.fileno() is not None
        assert listener.drain() is False
        with writer.writing() as session:
            session.add(_patient("PG-1"))
        assert _wait_for(listener)
        assert listener.drain() is False  # drained: one change, one wake-up
    finally:
        listener.close()


def test_reads_and_rolled_back_writes_send_nothing(pg_pair):
    writer, watcher = pg_pair
    listener = change_feed.open_listener(watcher.engine)
    try:
        with writer.reading() as session:
            session.execute(select(func.count()).select_from(Patient))
        with writer.writing() as session:  # a write transaction that only read
            session.execute(select(func.count()).select_from(Patient))
        with pytest.raises(RuntimeError), writer.writing() as session:
            session.add(_patient("PG-2"))
            session.flush()
            raise RuntimeError("the action fails after its INSERT")
        assert _wait_for(listener, timeout=0.5) is False
    finally:
        listener.close()


def test_a_window_does_not_wake_itself_for_its_own_writes(pg_pair):
    writer, _watcher = pg_pair
    own = change_feed.open_listener(writer.engine)
    try:
        with writer.writing() as session:
            session.execute(text("UPDATE patients SET mrn = mrn"))  # a write, no rows
        assert _wait_for(own, timeout=0.5) is False
    finally:
        own.close()


def test_a_terminated_listener_says_it_was_lost(pg_pair):
    writer, watcher = pg_pair
    listener = change_feed.open_listener(watcher.engine)
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": writer.engine.url.database},
            )
        with pytest.raises(change_feed.ListenerLost):
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                listener.drain()
                time.sleep(0.02)
        # pool_pre_ping replaces the killed pooled connections: the app just goes on.
        assert change_feed.ping(writer.engine)
    finally:
        listener.close()
        admin.dispose()


def test_a_server_that_refuses_connections_is_reported_and_nothing_is_saved(pg_pair, ctx_factory):
    writer, _ = pg_pair
    lost: list[int] = []
    remove = change_feed.on_connection_lost(writer.engine, lambda: lost.append(1))
    name = writer.engine.url.database
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        # A refused new connection is a lost connection (the banner retries), not a bare error.
        with pytest.raises(ConnectionLost, match="Nothing was saved"):
            register_patient(
                ctx_factory(writer), PatientDraft("PG-3", "Berg", "Ola", date(1970, 1, 1))
            )
        assert lost, "the lost connection was reported"
        assert change_feed.ping(writer.engine) is False
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert change_feed.ping(writer.engine) is True
        with writer.reading() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 0
    finally:
        remove()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_a_connection_dropped_mid_action_leaves_nothing_half_applied(pg_pair):
    writer, _ = pg_pair
    admin = _admin_engine()
    try:
        with pytest.raises(StorageError, match="Nothing was saved"), writer.writing() as session:
            session.add(_patient("PG-4"))
            session.flush()  # the first half is written inside the transaction ...
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            session.add(_patient("PG-5"))
            session.flush()  # ... and the connection is gone before the second
        with writer.reading() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 0
    finally:
        admin.dispose()


# --- SQLite ------------------------------------------------------------------------------------


def test_sqlite_data_version_sees_a_commit_from_another_database_object(db_path: Path):
    first = open_database(str(db_path))
    second = open_database(str(db_path))
    listener = change_feed.open_listener(second.engine)
    try:
        assert listener.fileno() is None  # polled, not a socket
        assert listener.drain() is False
        with first.reading() as session:
            session.execute(select(func.count()).select_from(Patient))
        assert listener.drain() is False
        with first.writing() as session:
            session.add(_patient("SQ-1"))
        assert listener.drain() is True
        assert listener.drain() is False
    finally:
        listener.close()
        first.close()
        second.close()


def test_a_listener_that_cannot_be_set_up_says_so_readably(tmp_path: Path):
    engine = create_engine("sqlite://")
    with pytest.raises(change_feed.NotificationsUnavailable, match="in-memory"):
        change_feed.open_listener(engine)
    with pytest.raises(change_feed.NotificationsUnavailable, match="periodically"):
        change_feed.SqliteListener(str(tmp_path / "missing" / "none.sqlite3"))


@pytest.fixture
def ctx_factory(template, catalogue, clock):  # type: ignore[no-untyped-def]
    def make(database: Database) -> ServiceContext:
        return ServiceContext(database, template, catalogue, clock, "Nurse Tester")

    return make


def test_a_notification_that_fails_fails_the_commit_and_nothing_is_saved(pg_pair, monkeypatch):
    """The NOTIFY runs inside the transaction; if it fails, the write must not be reported as
    saved (PostgreSQL would silently turn the COMMIT of an aborted transaction into a ROLLBACK)."""
    writer, _ = pg_pair
    feed = change_feed._feeds[writer.engine]
    monkeypatch.setattr(feed, "token", "x" * 9000)  # over PostgreSQL's 8000-byte payload limit
    with pytest.raises(DBAPIError, match="payload string too long"), writer.writing() as session:
        session.add(_patient("PG-6"))
    monkeypatch.undo()
    with writer.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
    with writer.writing() as session:  # the connection is usable again
        session.add(_patient("PG-7"))
    with writer.reading() as session:
        assert session.scalars(select(Patient.mrn)).all() == ["PG-7"]


def test_the_listener_probes_a_silent_network(pg_pair):
    """A dropped network sends nothing: keepalive probes make the socket fail within ~25 s."""
    _, watcher = pg_pair
    listener = change_feed.open_listener(watcher.engine)
    try:
        fd = listener.fileno()
        assert fd is not None
        sock = socket.socket(fileno=os.dup(fd))
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            if hasattr(socket, "TCP_KEEPIDLE"):
                idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
                assert idle == change_feed.KEEPALIVE_IDLE_S
        finally:
            sock.close()
        assert listener.drain() is False  # the listener itself is untouched
    finally:
        listener.close()
