"""Backups with SQLite's online backup API, and restoring one.

A backup is a consistent copy of the live database, taken while the app runs (the backup API
copies a snapshot, including what is still in the ``-wal`` file). Each is a single file
``<database name>-YYYYMMDD-HHMMSS.sqlite3``, owner-only, checked with ``PRAGMA integrity_check``
before it counts; the newest `keep` are kept and older ones of the same database removed.

Restoring first keeps the current database aside (a backup of it named
``<database name>.replaced-YYYYMMDD-HHMMSS.sqlite3`` next to it), then copies the chosen backup
into the live file with the same API, in one transaction, so other windows see either the old
or the restored database, never a mixture. The caller then runs the migrations (a backup may
be from an older version of the app).
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pathway_app.storage.database import SQLITE_HEADER, DatabaseOpenError, _refuse_unknown_revisions

DEFAULT_KEEP = 14
BACKUP_FOLDER_NAME = "backups"
_STAMP = "%Y%m%d-%H%M%S"


# Issue 7: a shared PostgreSQL database is backed up on its server, not by copying a file.
NOT_A_FILE_MESSAGE = (
    "This is a shared PostgreSQL database: the app's backups copy a SQLite file. Back it up on "
    "the database server with pg_dump (for example: pg_dump -Fc -f clinic.dump DBNAME) and "
    "restore with pg_restore; see 'Shared clinic database' in the README."
)


class BackupError(Exception):
    """A backup or restore failed; the message says why. Nothing was replaced."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    taken_at: datetime  # from the file name, UTC
    size: int


def default_backup_folder(database: Path) -> Path:
    return database.parent / BACKUP_FOLDER_NAME


def _pattern(database: Path) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(database.stem)}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.sqlite3$")


def list_backups(database: Path, folder: Path) -> list[BackupInfo]:
    """This database's backups in `folder`, newest first."""
    if not folder.is_dir():
        return []
    pattern = _pattern(database)
    found = []
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_file():
            taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
            found.append((taken, int(match.group(2) or 0), entry))
    found.sort(reverse=True)
    return [BackupInfo(path, taken, path.stat().st_size) for taken, _, path in found]


def _create_owner_only(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _copy(source: Path, target: Path) -> None:
    """Consistent copy of `source` into the new file `target` (single file, not WAL)."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        _create_owner_only(target)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    except (sqlite3.Error, OSError) as exc:
        target.unlink(missing_ok=True)
        raise BackupError(f"The backup to {target} failed: {exc}. Nothing was replaced.") from exc
    finally:
        src.close()
    if check is None or check[0] != "ok":
        target.unlink(missing_ok=True)
        raise BackupError(f"The copy of {source} did not pass SQLite's integrity check.")


def _free_name(folder: Path, stem: str, when: datetime) -> Path:
    base = f"{stem}-{when.astimezone(UTC).strftime(_STAMP)}"
    candidate = folder / f"{base}.sqlite3"
    index = 1
    while candidate.exists():
        candidate = folder / f"{base}-{index}.sqlite3"
        index += 1
    return candidate


def backup_database(
    database: Path, folder: Path, *, keep: int = DEFAULT_KEEP, now: datetime | None = None
) -> Path:
    """Copy the live `database` into `folder` and keep only its newest `keep` backups.

    Raises:
        BackupError: the folder cannot be created or written, or the copy failed.
    """
    if keep < 1:
        raise BackupError("Keep at least one backup.")
    if not database.is_file():
        raise BackupError(f"{database} does not exist.")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"The backup folder {folder} cannot be created: {exc}.") from exc
    target = _free_name(folder, database.stem, now or datetime.now(UTC))
    _copy(database, target)
    for old in list_backups(database, folder)[keep:]:
        old.path.unlink(missing_ok=True)
    return target


def latest_backup_age(database: Path, folder: Path, now: datetime) -> timedelta | None:
    backups = list_backups(database, folder)
    if not backups:
        return None
    return now - backups[0].taken_at


def check_backup(path: Path) -> None:
    """Refuse a file that is not a sound Care Pathway Tracker database of a known version."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BackupError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if header != SQLITE_HEADER:
        raise BackupError(f"{path} is not a Care Pathway Tracker backup (not a SQLite file).")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is damaged (it fails SQLite's integrity check).")
            revisions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a Care Pathway Tracker backup ({exc}).") from exc
    try:
        _refuse_unknown_revisions(str(path), revisions)
    except DatabaseOpenError as exc:
        raise BackupError(str(exc)) from exc


def restore_backup(backup: Path, database: Path, *, now: datetime | None = None) -> Path:
    """Replace the contents of `database` by `backup`; return where the replaced one was kept.

    Raises:
        BackupError: the backup is not sound, or the copy failed (the database is unchanged).
    """
    check_backup(backup)
    if backup.resolve() == database.resolve():
        raise BackupError("That is the database itself, not a backup of it.")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    aside = database.with_name(f"{database.stem}.replaced-{stamp}.sqlite3")
    index = 1
    while aside.exists():
        aside = database.with_name(f"{database.stem}.replaced-{stamp}-{index}.sqlite3")
        index += 1
    if database.exists():
        _copy(database, aside)
    try:
        src = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if not database.exists():
                _create_owner_only(database)
            dst = sqlite3.connect(database, timeout=10)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(
            f"The restore failed: {exc}. The database was not replaced; a copy of it is at {aside}."
        ) from exc
    return aside
