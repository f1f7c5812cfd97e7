"""Opening a clinic database: checks that never touch a file they refuse, engine set-up,
migrations to the current schema, and sessions (one per user action).

Two back ends (issue 7): a SQLite file (one workstation) and a shared PostgreSQL database
(``postgresql+psycopg://user@host/dbname``). The app's transactions read then write (the audit
chain reads its last hash, then appends), so writes are serialised on both: SQLite by
``BEGIN IMMEDIATE``, PostgreSQL by a transaction-scoped advisory lock taken at the start of every
write transaction. Migrations on PostgreSQL run under a session advisory lock, so two
workstations starting after an upgrade never both migrate.
"""

from __future__ import annotations

import copy
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from pathway_app.domain.errors import ConcurrentEdit, ConnectionLost, StorageError
from pathway_app.storage import change_feed
from pathway_app.storage.revisions import MIGRATIONS_DIR, head_revision, head_revisions
from pathway_app.storage.revisions import revision_graph as _revision_graph

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000
# SQLite's quick_check reads the whole file: 0.1 s for a 100 MB clinic, 17 s for a 13 GB one.
# Files up to this size are checked on every open; larger ones by `pathway-app verify` (issue 9).
OPEN_CHECK_MAX_MB = 256
OPEN_CHECK_VARIABLE = "PATHWAY_OPEN_CHECK_MAX_MB"
# PostgreSQL advisory lock keys (scoped to one database by the server). Any constant works as
# long as every version of the app uses the same one; these spell "PWAYWRIT" and "PWAYMIGR".
WRITE_LOCK_KEY = 0x5057_4159_5752_4954
MIGRATION_LOCK_KEY = 0x5057_4159_4D49_4752
# A migration on a large clinic can take a while; the other workstations wait this long for it.
MIGRATION_LOCK_TIMEOUT_MS = 10 * 60 * 1000
CONNECT_TIMEOUT_S = 10
TCP_LIVENESS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
}
MINIMUM_POSTGRESQL = 13
BUSY_MESSAGE = (
    "The database is busy: another window or program is writing to it. Nothing "
    "was saved; try again in a moment."
)
CONNECTION_LOST_MESSAGE = (
    "The connection to the clinic database was lost. Nothing was saved; check the network "
    "connection (or ask IT whether the database server is running) and try again."
)
# SQLSTATE codes (PostgreSQL appendix A) that mean "another transaction is in the way".
_BUSY_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
# ... and those that mean the server went away (class 08 is "connection exception").
_GONE_SQLSTATES = {"57P01", "57P02", "57P03"}


class DatabaseOpenError(Exception):
    """The database cannot be opened; the message says why in words a clinic's IT person reads."""


@dataclass(frozen=True)
class DatabaseInfo:
    url: str
    display_name: str
    created: bool


def database_url(path_or_url: str) -> str:
    """Turn ``--db`` into a SQLAlchemy URL: a plain path means a SQLite file."""
    if "://" in path_or_url:
        return path_or_url
    return f"sqlite:///{Path(path_or_url).expanduser().resolve()}"


def _alembic_config(connection: Any = None) -> Config:
    # Alembic is imported only when a migration is due: importing it costs about 0.3 s of
    # every start-up (issue 9).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _inspect_existing_sqlite(path: Path, busy_timeout_ms: int) -> None:
    """Refuse files that are not ours, damaged, or too new, reading them without writing."""
    if path.is_dir():
        raise DatabaseOpenError(f"{path} is a folder, not a database file.")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseOpenError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if header == b"":
        return  # an empty file is an empty database; it is set up like a new one
    if header != SQLITE_HEADER:
        raise DatabaseOpenError(
            f"{path} is not a Care Pathway Tracker database (it is not a SQLite file). "
            "Check the path given with --db; the file was not changed."
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise DatabaseOpenError(f"{path} cannot be opened: {exc}.") from exc
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            return
        if "alembic_version" not in tables:
            raise DatabaseOpenError(
                f"{path} is a SQLite database but not a Care Pathway Tracker database. "
                "The file was not changed."
            )
        revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        check = ("ok",)
        if path.stat().st_size <= open_check_max_bytes():
            check = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseOpenError(
                f"{path} is locked by another program. Close the other program, or wait, "
                "and try again."
            ) from exc
        raise DatabaseOpenError(f"{path} is damaged and cannot be read ({exc}).") from exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseOpenError(f"{path} is damaged and cannot be read ({exc}).") from exc
    finally:
        conn.close()
    if check is None or check[0] != "ok":
        raise DatabaseOpenError(
            f"{path} failed SQLite's integrity check ({check[0] if check else 'no answer'}). "
            "Restore it from a backup; the file was not changed."
        )
    _refuse_unknown_revisions(str(path), revisions)


def open_check_max_bytes() -> int:
    """Files up to this size get SQLite's full quick_check on every open (see
    OPEN_CHECK_MAX_MB); a clinic may change it with PATHWAY_OPEN_CHECK_MAX_MB."""
    raw = os.environ.get(OPEN_CHECK_VARIABLE, "").strip()
    try:
        megabytes = float(raw) if raw else OPEN_CHECK_MAX_MB
    except ValueError:
        megabytes = OPEN_CHECK_MAX_MB
    return int(max(0.0, megabytes) * 1024 * 1024)


def integrity_problem(path: Path) -> str | None:
    """SQLite's quick_check over the whole file (read-only); None when it passes."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return None if rows == ["ok"] else "; ".join(rows[:3])


def _current_revisions(conn: Connection) -> list[str]:
    """The schema revisions stamped in the database (none for a new one), read without
    importing Alembic."""
    if not inspect(conn).has_table("alembic_version"):
        return []
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _upgrade(conn: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(conn), "heads")


def _refuse_unknown_revisions(name: str, revisions: list[str]) -> None:
    known = _revision_graph()
    for revision in revisions:
        if revision not in known:
            raise DatabaseOpenError(
                f"{name} was written by a newer version of Care Pathway Tracker "
                f"(schema {revision}); this version knows schemas up to {head_revision()}. "
                "Install the newer version to open it. The file was not changed."
            )


def _read_only_filesystem(folder: Path) -> bool:
    statvfs = getattr(os, "statvfs", None)  # not on Windows
    if statvfs is None:
        return False
    try:
        return bool(statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _refuse_read_only(path: Path) -> None:
    """A database the app cannot write to is refused at once, with the file untouched, rather
    than failing at the first save (SQLite also needs to create files beside it)."""
    folder = path.parent
    if _read_only_filesystem(folder):
        raise DatabaseOpenError(
            f"{path} is on a read-only disk. Copy it to a disk the app can write to, or ask "
            "IT to make the disk writable. The file was not changed."
        )
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(folder, os.W_OK):
        raise DatabaseOpenError(
            f"{path} cannot be written: check the permissions of the file and of the folder "
            f"{folder} (the app needs to write both). The file was not changed."
        )


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so SQLAlchemy's BEGIN is the only one
        # (the pysqlite driver otherwise defers BEGIN and breaks transactional DDL).
        dbapi_conn.isolation_level = None
        # SQLite's own lower() folds only A-Z; searches must find "Öztürk" from "öztürk".
        dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writes take the lock up front so two windows never deadlock upgrading a read lock.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _connection_lost(exc: DBAPIError) -> bool:
    state = _sqlstate(exc)
    if exc.connection_invalidated or state.startswith("08") or state in _GONE_SQLSTATES:
        return True
    # A new connection the server refused or never answered (it is down, or the network is):
    # psycopg raises OperationalError without a SQLSTATE.
    driver = type(exc.orig).__module__.split(".")[0]
    return isinstance(exc, OperationalError) and driver == "psycopg" and not state


@contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn the database's refusals into messages a nurse can act on; the transaction has
    already been rolled back when they reach the screen."""
    try:
        yield
    except StaleDataError as exc:
        raise ConcurrentEdit(
            "Someone else changed this record while you were working on it. Nothing was "
            "overwritten; refresh to see their change and try again."
        ) from exc
    except DBAPIError as exc:
        if _connection_lost(exc):
            raise ConnectionLost(CONNECTION_LOST_MESSAGE) from exc
        if "NUL (0x00)" in str(exc.orig):
            # SQLite stores it; PostgreSQL's text cannot hold it (the domain refuses control
            # characters in most fields; this covers any it does not check).
            raise StorageError(
                "The text contains a NUL character, which the clinic database cannot store. "
                "Remove it and try again; nothing was saved."
            ) from exc
        if not isinstance(exc, OperationalError):
            raise  # integrity and programming errors are bugs or checked by the caller
        text = str(exc.orig)
        state = _sqlstate(exc)
        if state in _BUSY_SQLSTATES or "locked" in text or "busy" in text:
            raise StorageError(BUSY_MESSAGE) from exc
        if state == "25006" or "readonly" in text or "read-only" in text:
            raise StorageError(
                "The database is read-only (check the disk and the file's permissions). "
                "Nothing was saved."
            ) from exc
        raise StorageError(f"The database could not be used: {text}. Nothing was saved.") from exc


class Database:
    """An open, migrated database and the session factories of the app.

    Attributes:
        engine: the SQLAlchemy engine.
        info: what was opened, for the status bar and messages.
    """

    def __init__(self, engine: Engine, info: DatabaseInfo) -> None:
        self.engine = engine
        self.info = info
        is_sqlite = engine.dialect.name == "sqlite"
        self._serialise_writes = engine.dialect.name == "postgresql"
        write_engine = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite else engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine, expire_on_commit=False)
        self._active: ContextVar[Session | None] = ContextVar("active_write", default=None)
        self._write_check: Callable[[str], None] | None = None

    def guarded(self, check: Callable[[str], None]) -> Database:
        """This database, seen through `check(permission)`, which runs before every outer
        write transaction and raises to refuse it (the signed-in user's role). The view shares
        the engine and the transaction of the original."""
        view = copy.copy(self)
        view._write_check = check
        return view

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries; rolled back at the end."""
        with _readable_errors(), self._read() as session:
            yield session
            session.rollback()

    @contextmanager
    def writing(self, permission: str = "clinical") -> Iterator[Session]:
        """A session for one user action: everything commits together or nothing does.

        Nested calls join the outer transaction, so a batch of actions (seeding the demo
        database, an import) is still all-or-nothing. `permission` is what the write is for
        (see `domain.users.Permission`); a guarded view checks it before the transaction.
        """
        outer = self._active.get()
        if outer is not None:
            yield outer
            return
        if self._write_check is not None:
            self._write_check(permission)
        with _readable_errors(), self._write.begin() as session:
            if self._serialise_writes:
                # One writer at a time across every workstation, as BEGIN IMMEDIATE does on
                # SQLite: held until commit or rollback; waits at most lock_timeout ("busy").
                session.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
            token = self._active.set(session)
            try:
                yield session
            finally:
                self._active.reset(token)

    def close(self) -> None:
        self.engine.dispose()


def open_database(path_or_url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    """Open (creating or upgrading as needed) a clinic database.

    A database another program is writing to is waited for up to `busy_timeout_ms`, then the
    action is refused with a message.

    Raises:
        DatabaseOpenError: the file is not a database, damaged, locked, or from a newer version;
            the server cannot be reached, refuses the user, or lacks what the app needs.
    """
    url = database_url(path_or_url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseOpenError(
            "The database must be a file path or a URL such as "
            "postgresql+psycopg://user@host/dbname."
        ) from exc
    path = _sqlite_path(url)
    created = False
    if path is not None:
        if path.exists():
            _inspect_existing_sqlite(path, busy_timeout_ms)
            _refuse_read_only(path)
        else:
            if not path.parent.is_dir():
                raise DatabaseOpenError(f"The folder {path.parent} does not exist.")
            _refuse_read_only(path)
            try:
                # Created owner-only: the file holds patient data.
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise DatabaseOpenError(
                    f"{path} cannot be created: {exc.strerror or exc}."
                ) from exc
            created = True
    display = str(path) if path is not None else parsed.render_as_string(hide_password=True)
    engine = _create_engine(parsed, display, busy_timeout_ms)
    change_feed.install(engine)  # issue 7: NOTIFY on commit, connection-loss reports
    try:
        if engine.dialect.name == "postgresql":
            _check_postgresql(engine, display)
        _migrate(engine, display)
    except DatabaseOpenError:
        engine.dispose()
        raise
    except OperationalError as exc:
        engine.dispose()
        if engine.dialect.name == "postgresql":
            raise DatabaseOpenError(_postgresql_open_problem(parsed, display, exc)) from None
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            raise DatabaseOpenError(
                f"{display} is locked by another program. Close it, or wait, and try again."
            ) from exc
        raise DatabaseOpenError(f"{display} cannot be opened: {exc.orig}.") from exc
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseOpenError(
            f"{display} cannot be opened: {_without_password(str(exc.orig), parsed)}."
        ) from None
    return Database(engine, DatabaseInfo(url=url, display_name=display, created=created))


def _create_engine(parsed: URL, display: str, busy_timeout_ms: int) -> Engine:
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise DatabaseOpenError(
            f"{display}: use the psycopg driver, as in postgresql+psycopg://user@host/dbname."
        )
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseOpenError(
            f"{display}: the app works with a SQLite file or a PostgreSQL database "
            "(postgresql+psycopg://user@host/dbname), not {backend}."
        )
    try:
        if backend == "sqlite":
            engine = create_engine(parsed)
            _configure_sqlite(engine, busy_timeout_ms)
            return engine
        # The password, when not in the URL, comes from PGPASSWORD or the password file
        # (~/.pgpass, PGPASSFILE): libpq reads them itself.
        connect_args: dict[str, Any] = {
            "application_name": "Care Pathway Tracker",
            # A writer waits this long for another workstation's write, then gets "busy".
            "options": f"-c lock_timeout={int(busy_timeout_ms)}",
        }
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        # A network that drops silently is noticed in seconds, not after the kernel's
        # minutes-long TCP time-outs (libpq's keepalive and user-timeout settings).
        for name, value in TCP_LIVENESS.items():
            if name not in parsed.query:
                connect_args[name] = value
        # pre_ping: a connection the server or network dropped while the app sat idle is
        # replaced before use instead of failing the nurse's next action.
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseOpenError(
            f"{display}: this installation lacks the PostgreSQL driver (psycopg); "
            "reinstall the app."
        ) from exc


def _without_password(message: str, parsed: URL) -> str:
    if parsed.password:
        message = message.replace(str(parsed.password), "***")
    return message.strip()


def _postgresql_open_problem(parsed: URL, display: str, exc: OperationalError) -> str:
    """What went wrong reaching the server, in words, never showing the password."""
    text = _without_password(str(exc.orig), parsed)
    user = parsed.username or "(your login name)"
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f"The database server {server} refused the user {user}: the password is missing "
            "or wrong. Put it in the PostgreSQL password file (~/.pgpass on Linux and macOS, "
            "%APPDATA%\\postgresql\\pgpass.conf on Windows) or in PGPASSWORD; never in --db."
        )
    if "does not exist" in text and "database" in text:
        return (
            f"The database {parsed.database} does not exist on the server {server}. Create it "
            "first (see 'Shared clinic database' in the README)."
        )
    if "role" in text and "does not exist" in text:
        return f"The database server {server} has no user {user}. Ask IT to create it."
    if "no pg_hba.conf entry" in text or "permission denied" in text:
        return f"The database server {server} does not let {user} in here: {text}"
    if "timeout" in text or "Connection refused" in text or "could not translate" in text:
        return (
            f"The database server {server} cannot be reached ({text.splitlines()[-1].strip()}). "
            "Check the network and that the server is running, then try again."
        )
    return f"{display} cannot be opened: {text}"


def _check_postgresql(engine: Engine, display: str) -> None:
    """Refuse a server or database the app cannot work with correctly, before migrating."""
    with engine.connect() as conn:
        version = conn.dialect.server_version_info or (0,)
        if int(version[0]) < MINIMUM_POSTGRESQL:
            raise DatabaseOpenError(
                f"{display} is on PostgreSQL {'.'.join(map(str, version))}; the app needs "
                f"PostgreSQL {MINIMUM_POSTGRESQL} or newer."
            )
        encoding, folded = conn.execute(
            text(
                "SELECT pg_encoding_to_char(encoding), lower('ÖZTÜRK') FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).one()
        # Searches fold case with lower(): under the C locale it folds only A-Z, and
        # "öztürk" would not find "Öztürk".
        if encoding != "UTF8" or folded != "öztürk":
            raise DatabaseOpenError(
                f"{display} was created with encoding {encoding} and a locale that does not "
                "fold accented letters, so searches would miss names such as Öztürk. Create "
                "the database with ENCODING 'UTF8' and a UTF-8 locale (see 'Shared clinic "
                "database' in the README)."
            )
        tables = set(inspect(conn).get_table_names())
        if tables and "alembic_version" not in tables:
            raise DatabaseOpenError(
                f"{display} already holds tables of another program; the app needs a database "
                "of its own. Nothing was changed."
            )


def _migrate(engine: Engine, display: str) -> None:
    """Bring the schema to head in one transaction; refuse a schema newer than this version."""
    with engine.connect() as conn:
        current = _current_revisions(conn)
    _refuse_unknown_revisions(display, current)
    if tuple(sorted(current)) == head_revisions():
        return
    if engine.dialect.name == "postgresql":
        _migrate_postgresql(engine, display)
        return
    write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    with write_engine.begin() as conn:
        _upgrade(conn)


def _migrate_postgresql(engine: Engine, display: str) -> None:
    """Migrate under a session advisory lock on a dedicated connection: the first workstation
    migrates; the others wait, re-read the schema version and find nothing left to do."""
    with engine.connect() as conn:
        conn.execute(text(f"SET lock_timeout = {MIGRATION_LOCK_TIMEOUT_MS}"))
        conn.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        conn.commit()
        try:
            _upgrade_if_behind(conn, display)
        finally:
            if not conn.invalidated:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                conn.execute(text("RESET lock_timeout"))  # the connection goes back to the pool
                conn.commit()


def _upgrade_if_behind(conn: Connection, display: str) -> None:
    current = _current_revisions(conn)
    _refuse_unknown_revisions(display, current)
    if tuple(sorted(current)) == head_revisions():
        conn.rollback()
        return
    conn.rollback()
    with conn.begin():  # PostgreSQL's DDL is transactional: all revisions or none
        _upgrade(conn)
