"""Issue 7: telling other workstations that the data changed, and noticing a lost connection.

- PostgreSQL: every committed transaction that wrote something sends ``NOTIFY`` on
  `CHANNEL` inside that same transaction, so the notification is delivered exactly when the
  change becomes visible (PostgreSQL holds notifications until commit and drops them on
  rollback). A `ChangeListener` keeps one dedicated autocommit connection doing ``LISTEN``; the
  UI watches its socket and calls `drain()`.
- SQLite: a dedicated connection polls ``PRAGMA data_version``, which changes whenever another
  connection (another window, process or workstation on a shared disk) commits.
- Any dropped connection seen by the engine (a statement, a commit, a failed reconnect) is
  reported to the callbacks registered with `on_connection_lost`, so the UI can show its banner
  whichever screen ran into it.

No Qt here: the UI layer turns sockets and polls into signals (`ui/live_refresh.py`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from pathway_app.domain.errors import StorageError

CHANNEL = "pathway_changes"
# Statements that change data or schema. Reads (SELECT, including the advisory lock every write
# transaction takes first) are not changes, so a transaction that only read sends nothing.
_WRITE_STATEMENT = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|WITH|CREATE|ALTER|DROP|TRUNCATE|COPY)\b", re.IGNORECASE
)
_WROTE_KEY = "pathway_change_feed_wrote"


class NotificationsUnavailable(StorageError):
    """Changes from other workstations cannot be listened for; the UI refreshes periodically."""


class ListenerLost(StorageError):
    """The listening connection dropped (server restart, network); nothing was saved or lost."""


@dataclass
class _Feed:
    """What `install` keeps per engine."""

    # Sent as the payload so a window can tell its own writes (already on its screen) apart.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost_callbacks: list[Callable[[], None]] = field(default_factory=list)


_feeds: weakref.WeakKeyDictionary[Engine, _Feed] = weakref.WeakKeyDictionary()


def install(engine: Engine) -> None:
    """Set up change notifications and loss reports on a newly created engine (idempotent)."""
    if engine in _feeds:
        return
    feed = _feeds[engine] = _Feed()
    event.listen(engine, "handle_error", lambda ctx: _on_error(feed, ctx))
    if engine.dialect.name != "postgresql":
        return  # SQLite needs nothing on the writer's side: data_version is kept by SQLite.

    @event.listens_for(engine, "before_cursor_execute")
    def _remember_write(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if not conn.info.get(_WROTE_KEY) and _WRITE_STATEMENT.match(statement):
            conn.info[_WROTE_KEY] = True

    @event.listens_for(engine, "commit")
    def _notify(conn: Any) -> None:
        # The "commit" event runs just before the DBAPI commit, inside the transaction. The raw
        # cursor is used because the Connection is itself in the middle of committing.
        if not conn.info.pop(_WROTE_KEY, False):
            return
        dbapi_conn = conn.connection.dbapi_connection
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, feed.token))
        except Exception as exc:
            # Never let the commit go ahead on a transaction the failed NOTIFY has aborted
            # (PostgreSQL would answer COMMIT with a silent ROLLBACK); raise it the way
            # SQLAlchemy raises a failed statement, so the usual "nothing was saved" applies.
            dbapi = engine.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                if dbapi_conn.closed or dbapi_conn.broken:
                    _report_lost(feed)
                raise DBAPIError.instance(
                    "SELECT pg_notify(...)",
                    None,
                    exc,
                    dbapi.Error,
                    connection_invalidated=bool(dbapi_conn.closed or dbapi_conn.broken),
                ) from exc
            raise

    @event.listens_for(engine, "rollback")
    def _forget_write(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated connection's info is cleared with it
            conn.info.pop(_WROTE_KEY, None)


def _on_error(feed: _Feed, ctx: ExceptionContext) -> None:
    if ctx.is_pre_ping:
        return  # a stale pooled connection about to be replaced; nothing failed for the user
    dbapi = ctx.engine.dialect.loaded_dbapi if ctx.engine is not None else None
    cannot_connect = (
        ctx.connection is None
        and dbapi is not None
        and isinstance(ctx.original_exception, dbapi.OperationalError)
    )
    if ctx.is_disconnect or cannot_connect:
        _report_lost(feed)


def _report_lost(feed: _Feed) -> None:
    for callback in list(feed.lost_callbacks):
        callback()


def on_connection_lost(engine: Engine, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback()` (synchronously, inside the failing database call) whenever the engine
    finds its connection dropped or cannot reconnect. Returns a function that unregisters it."""
    feed = _feeds.get(engine)
    if feed is None:
        install(engine)
        feed = _feeds[engine]
    feed.lost_callbacks.append(callback)

    def remove() -> None:
        if callback in feed.lost_callbacks:
            feed.lost_callbacks.remove(callback)

    return remove


def ping(engine: Engine) -> bool:
    """Whether the database answers now. A first failure may only have flushed connections the
    server dropped (the pool then discards them), so one immediate second try is made."""
    for _attempt in range(2):
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except (SQLAlchemyError, OSError):
            continue
    return False


class ChangeListener(Protocol):
    """Tells whether someone committed a change since the last call."""

    def fileno(self) -> int | None:
        """A socket that becomes readable when a change may have arrived, or None when the
        listener must be polled with `drain()` on a timer."""

    def drain(self) -> bool:
        """Without blocking: True when changes arrived since the last call.

        Raises:
            ListenerLost: the connection dropped; open a new listener once the database is back.
        """

    def close(self) -> None: ...


class PostgresListener:
    """A dedicated autocommit connection doing ``LISTEN`` on `CHANNEL`."""

    def __init__(self, engine: Engine) -> None:
        feed = _feeds.get(engine)
        self._own_token = feed.token if feed is not None else None
        self._conn: Any = None
        try:
            # Made by the engine, so it has the same connect arguments (timeout, application
            # name), then taken out of the pool: this connection is never used for queries.
            fairy = engine.raw_connection()
            conn: Any = fairy.driver_connection
            fairy.detach()
            self._conn = conn
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            _detect_silent_drops(int(conn.fileno()))
        except (SQLAlchemyError, OSError) as exc:
            raise NotificationsUnavailable(
                "Changes made on other workstations cannot be listened for "
                f"({_reason(exc)}); the worklists refresh periodically instead."
            ) from exc
        except Exception as exc:  # the driver's own errors (psycopg.Error)
            self._close_quietly()
            raise NotificationsUnavailable(
                "Changes made on other workstations cannot be listened for "
                f"({_reason(exc)}); the worklists refresh periodically instead."
            ) from exc

    def fileno(self) -> int | None:
        return None if self._conn is None else int(self._conn.fileno())

    def drain(self) -> bool:
        if self._conn is None:
            raise ListenerLost("The listener is closed.")
        try:
            notes = list(self._conn.notifies(timeout=0))
            if not notes:
                # The socket woke us for something else: when the server ends the session it
                # first sends its FATAL message, and only the next read sees the closed socket.
                notes = list(self._conn.notifies(timeout=0))
        except Exception as exc:
            self._close_quietly()
            raise ListenerLost(
                "The connection to the clinic database was lost; changes from other "
                "workstations are not shown until it is back."
            ) from exc
        # Our own writes are already on this window's screen; someone else's are not.
        return any(note.payload != self._own_token for note in notes)

    def close(self) -> None:
        self._close_quietly()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is None:
            return
        self._conn = None
        with contextlib.suppress(Exception):  # already broken: closing it is best effort
            conn.close()


# A listener only ever reads, so a network that drops without a word (a cable pulled, a VPN gone)
# would leave it waiting for hours under the operating system's default keepalive. Probing after
# 10 s of silence, every 5 s, 3 times, turns that into a lost connection within about 25 s.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3


def _detect_silent_drops(fd: int) -> None:
    """Turn on TCP keepalive probes on the listener's socket (best effort: a Unix-domain
    socket has none, and platforms without the options keep their defaults)."""
    with contextlib.suppress(OSError, ValueError):
        # A duplicate of the descriptor shares the socket, and its options, with libpq.
        sock = socket.socket(fileno=os.dup(fd))
        try:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in (
                ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
                ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                ("TCP_KEEPCNT", KEEPALIVE_COUNT),
            ):
                option = getattr(socket, name, None)
                if option is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)
        finally:
            sock.close()  # closes the duplicate only


class SqliteListener:
    """A dedicated read-only connection comparing ``PRAGMA data_version`` between polls."""

    def __init__(self, path: str) -> None:
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=1.0, check_same_thread=False
            )
            self._version = self._read()
        except sqlite3.Error as exc:
            raise NotificationsUnavailable(
                f"Changes cannot be watched ({exc}); the worklists refresh periodically instead."
            ) from exc

    def _read(self) -> int:
        assert self._conn is not None
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def fileno(self) -> int | None:
        return None

    def drain(self) -> bool:
        if self._conn is None:
            return False
        try:
            version = self._read()
        except sqlite3.Error:
            return False  # busy for a moment (a checkpoint); the next poll sees the change
        changed = version != self._version
        self._version = version
        return changed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def open_listener(engine: Engine) -> ChangeListener:
    """A listener for the engine's database.

    Raises:
        NotificationsUnavailable: it cannot be set up; refresh periodically instead.
    """
    if engine.dialect.name == "postgresql":
        return PostgresListener(engine)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            raise NotificationsUnavailable(
                "An in-memory database has no other connections to listen for."
            )
        return SqliteListener(database)
    raise NotificationsUnavailable(
        f"Changes cannot be listened for on {engine.dialect.name}; the worklists refresh "
        "periodically instead."
    )


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[-1].strip() if lines else type(original).__name__
