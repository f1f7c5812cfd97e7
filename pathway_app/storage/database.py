"""Opening a clinic database: checks that never touch a file they refuse, engine set-up,
migrations to the current schema, and sessions (one per user action).
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
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from pathway_app.domain.errors import ConcurrentEdit, StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


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
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> tuple[str, ...]:
    """The newest schema revision(s) this version knows, sorted.

    Released versions have exactly one; several exist only while parallel branches of work
    are being merged, and opening a database then applies all of them.
    """
    return tuple(sorted(ScriptDirectory.from_config(_alembic_config()).get_heads()))


def head_revision() -> str:
    return "+".join(head_revisions())


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


def _refuse_unknown_revisions(name: str, revisions: list[str]) -> None:
    script = ScriptDirectory.from_config(_alembic_config())
    for revision in revisions:
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
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
    except OperationalError as exc:
        text = str(exc.orig)
        if "locked" in text or "busy" in text:
            raise StorageError(
                "The database is busy: another window or program is writing to it. Nothing "
                "was saved; try again in a moment."
            ) from exc
        if "readonly" in text or "read-only" in text:
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
        DatabaseOpenError: the file is not a database, damaged, locked, or from a newer version.
    """
    url = database_url(path_or_url)
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
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    display = str(path) if path is not None else make_url(url).render_as_string(hide_password=True)
    try:
        _migrate(engine, display)
    except DatabaseOpenError:
        engine.dispose()
        raise
    except OperationalError as exc:
        engine.dispose()
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            raise DatabaseOpenError(
                f"{display} is locked by another program. Close it, or wait, and try again."
            ) from exc
        raise DatabaseOpenError(f"{display} cannot be opened: {exc.orig}.") from exc
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseOpenError(f"{display} cannot be opened: {exc.orig}.") from exc
    return Database(engine, DatabaseInfo(url=url, display_name=display, created=created))


def _migrate(engine: Engine, display: str) -> None:
    """Bring the schema to head in one transaction; refuse a schema newer than this version."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    _refuse_unknown_revisions(display, list(current))
    if tuple(sorted(current)) == head_revisions():
        return
    write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    with write_engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "heads")
