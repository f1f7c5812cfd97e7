"""The app's first screen read straight from the SQLite file, before SQLAlchemy is imported
(issue 9: start-up within 2.5 times a bare window).

While the rest of the app is imported and the real database opened in the background, the
main window shows the refill worklist's first rows read here with the standard library's
sqlite3, then swaps to the service's rows. Everything here is a shortcut, never a gate: when
anything is unusual -- not an existing SQLite file, locked, damaged, not at this version's
schema -- `FirstScreen.open` answers None and the app takes its normal path, which explains
the problem in words.

The rows are exactly `services.refill_views.refill_worklist_pages`'s without a search: the same
statements on the same denormalised columns of ``implanted_pumps`` (migration 0007; see
`refill_queries`), written by hand, with SQLAlchemy's conversions of the values done here.

The file is never written and nothing is created beside it. A WAL database (the app's) read
through an ordinary read-only connection gets a ``-wal`` and a ``-shm`` file created beside it,
which a read-only connection cannot remove again; so when no other connection has the file
open (no ``-wal`` file beside it) it is read as immutable, without locks, and each read checks
afterwards that the file is still untouched and no other connection appeared, or reads again
through an ordinary read-only connection (which then follows the other connection's locks and
WAL; those files are the other connection's to remove).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pathway_app.domain.clock import local_today
from pathway_app.domain.users import username_key
from pathway_app.storage.refill_rows import (
    LEVEL_DUE_SOON,
    LEVEL_OF_NUMBER,
    LEVEL_OVERDUE,
    LEVEL_URGENT,
    SEGMENTS,
    RefillWindow,
    RefillWorklistRow,
    Segment,
    SortKey,
    worklist_rows,
)
from pathway_app.storage.revisions import head_revisions

if TYPE_CHECKING:
    from argon2 import PasswordHasher

SQLITE_HEADER = b"SQLite format 3\x00"
# A writer holding the file this long sends the app the normal way (which waits, and says so).
BUSY_TIMEOUT_S = 0.1
_T = TypeVar("_T")


class FirstScreenError(Exception):
    """The file can no longer be read here (it changed schema, went away or is locked): show
    nothing more from it and wait for the full app."""


def _utc_text(moment: datetime) -> str:
    """``moment`` as the app's UTC columns store it on SQLite (`orm.UTCDateTime` over
    SQLAlchemy's SQLite DATETIME storage format)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    value = moment.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _date_text(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def _aware(text: str | None) -> datetime | None:
    # As refill_queries._WorklistUTCDateTime reads the worklist's UTC columns on SQLite.
    return None if text is None else datetime.fromisoformat(text + "+00:00")


def _utc(text: str | None) -> datetime | None:
    # As orm.UTCDateTime reads one (SQLAlchemy's DATETIME, then UTC attached).
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


# --- The worklist's statements (the SQL refill_queries has SQLAlchemy write) --------------------
# Table and column names as SQLAlchemy renders them, so that tests/test_first_screen.py can
# compare the plans SQLite chooses for both, statement by statement.

_P = "implanted_pumps"
_ORDER = f"{_P}.refill_due_on, {_P}.refill_due_at, {_P}.patient_family_name, {_P}.id"
_ROW_COLUMNS = (
    f"{_P}.episode_id, patients.id, patients.family_name, patients.given_name, patients.mrn, "
    f"{_P}.drug_name, {_P}.dangerous_withdrawal, {_P}.concentration, {_P}.concentration_unit, "
    f"{_P}.daily_dose, {_P}.dose_unit, {_P}.model_name, {_P}.last_fill_at, {_P}.refill_due_at, "
    f"{_P}.refill_due_on, {_P}.empty_by_worst_at, {_P}.projection_unverified, "
    f"{_P}.patient_family_name, {_P}.id"
)
_PUMP_JOIN = (
    f"{_P} JOIN episodes ON {_P}.episode_id = episodes.id "
    "JOIN patients ON episodes.patient_id = patients.id"
)
_AFTER = "(:after_on, :after_at, :after_name, :after_id)"


def _level_condition(level: int) -> str:
    """`refill_queries._level_condition` in SQL."""
    if level == LEVEL_URGENT:
        return f"{_P}.urgent_at <= :now AND {_P}.refill_due_on IS NOT NULL"
    not_urgent = f"({_P}.urgent_at > :now OR {_P}.urgent_at IS NULL)"
    if level == LEVEL_OVERDUE:
        return f"{_P}.refill_due_on < :today AND {not_urgent}"
    if level == LEVEL_DUE_SOON:
        return f"{_P}.refill_due_on >= :today AND {_P}.refill_due_on <= :soon AND {not_urgent}"
    return f"{_P}.refill_due_on > :soon AND {not_urgent}"


def segment_condition(segment: Segment) -> str:
    """`refill_queries._segment_condition` in SQL: the equalities lead both worklist indexes."""
    return (
        f"{_P}.episode_open = 1 AND {_P}.removed_at IS NULL "
        f"AND {_P}.dangerous_withdrawal = {1 if segment.dangerous else 0} "
        f"AND {_level_condition(segment.level)}"
    )


@cache
def count_statement(segments: tuple[Segment, ...]) -> str:
    """One statement counting each segment: index-only range counts, no row read."""
    counts = ", ".join(
        f"(SELECT count(*) FROM {_P} WHERE {segment_condition(s)})" for s in segments
    )
    return f"SELECT {counts}"


@cache
def rows_statement(segment: Segment, *, page: bool, keyset: bool) -> str:
    """`refill_queries._rows_statement`: a segment's rows in order, all or a page, from the
    start or after a key."""
    condition = segment_condition(segment)
    if keyset:
        condition += f" AND ({_ORDER}) > {_AFTER}"
    if not page:
        return f"SELECT {_ROW_COLUMNS} FROM {_PUMP_JOIN} WHERE {condition} ORDER BY {_ORDER}"
    # The page's pump ids come from the index alone, then only those rows are read.
    chosen = (
        f"SELECT {_P}.id AS id FROM {_P} WHERE {condition} ORDER BY {_ORDER} "
        "LIMIT :limit OFFSET :offset"
    )
    return (
        f"SELECT {_ROW_COLUMNS} FROM {_PUMP_JOIN} JOIN ({chosen}) AS page "
        f"ON page.id = {_P}.id ORDER BY {_ORDER}"
    )


PLACE_STATEMENT = (
    f"SELECT {_ORDER}, {_P}.urgent_at, {_P}.dangerous_withdrawal, {_P}.episode_id FROM {_P} "
    f"WHERE {_P}.removed_at IS NULL AND {_P}.refill_due_on IS NOT NULL "
    f"AND {_P}.episode_open = 1 AND {_P}.removed_at IS NULL AND {_P}.episode_id = :episode_id"
)


@cache
def before_statement(segment: Segment) -> str:
    """`refill_queries.rows_before`: the rows of a segment before a key, an index range count."""
    return f"SELECT count(*) FROM {_P} WHERE {segment_condition(segment)} AND ({_ORDER}) < {_AFTER}"


_SEGMENT_RANK = {segment: rank for rank, segment in enumerate(SEGMENTS)}


def _sort_key(row: tuple[Any, ...]) -> SortKey:
    """`refill_queries.sort_key` of a converted row."""
    return (row[14], row[13], row[17], row[18])


def _key_params(key: tuple[Any, ...]) -> dict[str, Any]:
    # SQLAlchemy binds the key's date and time back in the columns' storage formats.
    due_on, due_at, name, pump_id = key
    return {
        "after_on": _date_text(due_on),
        "after_at": None if due_at is None else _utc_text(due_at),
        "after_name": name,
        "after_id": pump_id,
    }


def _converted(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows of the row columns with SQLAlchemy's conversions: the three UTC times aware, the
    due day a date, the dangerous-withdrawal flag a bool."""
    return [
        (
            *row[:6],
            None if row[6] is None else bool(row[6]),
            *row[7:12],
            _aware(row[12]),
            _aware(row[13]),
            _day(row[14]),
            _aware(row[15]),
            *row[16:],
        )
        for row in rows
    ]


class _Reader:
    """The connection and its guard (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wal = Path(f"{path}-wal")
        self._journal = Path(f"{path}-journal")
        self._fingerprint: tuple[int, ...] | None = None
        self.conn: sqlite3.Connection | None = None

    def _stat(self) -> tuple[int, ...] | None:
        """The file as it is now, or None when another connection has it open or a writer is
        at work (a ``-wal`` or ``-journal`` file beside it)."""
        if self._wal.exists() or self._journal.exists():
            return None
        stat = os.stat(self.path)
        return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def connect(self, wal_mode: bool) -> None:
        uri = self.path.as_uri()
        fingerprint = self._stat() if wal_mode else None
        if fingerprint is not None:
            uri += "?mode=ro&immutable=1"
        else:
            uri += "?mode=ro"
        self.close()
        self.conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._fingerprint = fingerprint

    def untouched(self) -> bool:
        """False when reading as immutable is no longer safe (the file changed, or another
        connection has it open)."""
        return self._fingerprint is None or self._stat() == self._fingerprint

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` in one read transaction (one snapshot), on a file still at this version's
        schema."""
        conn = self.conn
        if conn is None:
            raise FirstScreenError("The first screen is closed.")
        conn.execute("BEGIN")
        try:
            revisions = tuple(sorted(r[0] for r in conn.execute(_REVISIONS)))
            if revisions != head_revisions():
                raise FirstScreenError("The database's schema changed.")
            return work(conn)
        finally:
            conn.execute("ROLLBACK")

    def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` read safely: through the locks once the file is no longer untouched."""
        try:
            if not self.untouched():
                self.connect(wal_mode=False)
            try:
                result = self.transaction(work)
            except (sqlite3.Error, FirstScreenError):
                # Read without locks while someone changed the file: only a read through the
                # locks can tell.
                if self.untouched():
                    raise
                self.connect(wal_mode=False)
                return self.transaction(work)
            if not self.untouched():
                # Someone wrote or connected while it was read: read it again properly.
                self.connect(wal_mode=False)
                result = self.transaction(work)
            return result
        except (sqlite3.Error, OSError) as exc:
            raise FirstScreenError(str(exc)) from exc


_REVISIONS = "SELECT version_num FROM alembic_version"


@cache
def _hasher() -> PasswordHasher:
    # Imported here: a first screen without a sign-in never needs argon2.
    from argon2 import PasswordHasher

    return PasswordHasher()  # the parameters of services.users' hasher


@cache
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so both answers take as long.
    return _hasher().hash("not a password of anyone")


def _verified(stored: str | None, password: str) -> bool:
    """argon2's verdict on ``password`` against ``stored`` (the dummy hash for no account);
    as services.users._password_matches."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(_dummy_hash() if stored is None else stored, password))
    except (VerificationError, InvalidHashError):
        return False


class PasswordCheck:
    """A password check running on a thread: call it for the answer (it waits).

    Attributes:
        password_hash: the stored hash the password is checked against (None for an unknown
            user), so the sign-in can be recorded without hashing again
            (`services.users.record_verified_sign_in`).
    """

    def __init__(self, password_hash: str | None, check: Callable[[], bool]) -> None:
        self.password_hash = password_hash
        self._answer: list[bool] = []
        self._thread = threading.Thread(
            target=lambda: self._answer.append(check()), name="first-screen-password", daemon=True
        )
        self._thread.start()

    def __call__(self) -> bool:
        self._thread.join()
        return bool(self._answer and self._answer[0])


class FirstScreen:
    """A clinic's SQLite file opened read-only for the first screen (see the module).

    Made by `FirstScreen.open`; use from one thread (the GUI's); close it (or use it as a
    context manager) when the full app takes over. The methods raise `FirstScreenError` when
    the file can no longer be read here.

    Attributes:
        display_name: the name `Database.info.display_name` shows for the same file.
    """

    def __init__(self, reader: _Reader, display_name: str) -> None:
        self._reader = reader
        self.display_name = display_name

    @classmethod
    def open(cls, path: str | Path) -> FirstScreen | None:
        """The file at ``path`` if it is an existing clinic database at this version's schema
        that can be read now; otherwise None (the app's normal opening says what is wrong)."""
        text = str(path)
        if "://" in text:
            return None  # a URL (PostgreSQL): the normal path
        try:
            resolved = Path(text).expanduser().resolve()
            # SQLAlchemy's URL would read these characters differently (query, escapes): the
            # full app might open another file than this one.
            if "?" in str(resolved) or "%" in str(resolved) or not resolved.is_file():
                return None
            with resolved.open("rb") as handle:
                header = handle.read(100)
        except (OSError, RuntimeError):
            return None
        if len(header) < 100 or not header.startswith(SQLITE_HEADER):
            return None
        reader = _Reader(resolved)
        try:
            # Bytes 18 and 19 of the header are 2 for a database in WAL mode.
            reader.connect(wal_mode=header[18] == 2 and header[19] == 2)
            reader.run(lambda _conn: None)  # the schema check
        except (sqlite3.Error, OSError, FirstScreenError):
            reader.close()
            return None
        return cls(reader, str(resolved))

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> FirstScreen:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def has_users(self) -> bool:
        """True when the database has user accounts (someone must sign in)."""
        return self._reader.run(
            lambda conn: conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0] == 1
        )

    def password_matches(self, username: str, password: str) -> bool:
        """True when ``username`` names an active account whose password is ``password``, by
        the rules of `services.users.authenticate`, which still runs (and records the sign-in)
        when the full app takes over. Writes nothing."""
        return self.password_check(username, password)()

    def password_check(self, username: str, password: str) -> PasswordCheck:
        """`password_matches`, with the slow part on a thread: the account is looked up now,
        argon2 verifies meanwhile (it releases the interpreter); calling the answer waits."""
        found = self._reader.run(
            lambda conn: conn.execute(
                "SELECT password_hash, active FROM users WHERE username_key = ? LIMIT 1",
                (username_key(username),),
            ).fetchone()
        )
        stored: str | None = None if found is None else str(found[0])
        active = found is not None and bool(found[1])
        return PasswordCheck(stored, lambda: _verified(stored, password) and active)

    def refill_pages(
        self, now: datetime, due_within_days: int, *, first_page: int = 0
    ) -> FirstScreenRefillPages:
        """The refill worklist without a search, as
        ``refill_worklist_pages(ctx, due_within_days=..., first_page=...)`` reads it with the
        app clock at ``now``."""
        window = RefillWindow(now, local_today(now), max(0, due_within_days))
        return FirstScreenRefillPages(self._reader, window, max(0, first_page))


# (global offset just after the last row read, its segment index, its sort key).
_Cursor = tuple[int, int, SortKey]
_Page = tuple[list[RefillWorklistRow], _Cursor | None]


class FirstScreenRefillPages:
    """`services.refill_views.RefillWorklistPages` without a search, read through sqlite3:
    `count()`, `fetch(offset, limit)` and `position(episode_id)` answer the same rows in the
    same order (see that class for how)."""

    def __init__(self, reader: _Reader, window: RefillWindow, first_page: int) -> None:
        self._reader = reader
        self._window = window
        self._segments = SEGMENTS
        self._first_page = first_page
        self._params = {
            "now": _utc_text(window.now),
            "today": _date_text(window.today),
            "soon": _date_text(window.soon),
        }
        self._counts: list[int] | None = None
        self._first_rows: list[RefillWorklistRow] = []
        self._cursor: _Cursor | None = None

    def count(self) -> int:
        """The rows of the whole worklist (counted now; `fetch` pages within this count)."""

        def work(conn: sqlite3.Connection) -> tuple[list[int], _Page]:
            row = conn.execute(count_statement(self._segments), self._params).fetchone()
            counts = [int(n) for n in row]
            return counts, self._read(conn, counts, 0, self._first_page, None)

        self._counts, (self._first_rows, self._cursor) = self._reader.run(work)
        return sum(self._counts)

    def _ensure_counted(self) -> list[int]:
        if self._counts is None:
            self.count()
        assert self._counts is not None
        return self._counts

    def fetch(self, offset: int, limit: int) -> list[RefillWorklistRow]:
        """Rows ``offset .. offset + limit - 1`` in the worklist's order."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        counts = self._ensure_counted()
        if offset + limit <= len(self._first_rows):
            return self._first_rows[offset : offset + limit]
        cursor = self._cursor
        rows, self._cursor = self._reader.run(
            lambda conn: self._read(conn, counts, offset, limit, cursor)
        )
        return rows

    def _read(
        self,
        conn: sqlite3.Connection,
        counts: list[int],
        offset: int,
        limit: int,
        cursor: _Cursor | None,
    ) -> _Page:
        """The rows and the cursor after them. Changes nothing here: `_Reader.run` may read
        twice."""
        rows: list[RefillWorklistRow] = []
        start = 0  # global offset of the current segment's first row
        for index, (segment, size) in enumerate(zip(self._segments, counts, strict=True)):
            wanted = limit - len(rows)
            if wanted <= 0:
                break
            if offset + len(rows) >= start + size:
                start += size
                continue
            skip = offset + len(rows) - start
            params: dict[str, Any] = dict(self._params)
            keyset = cursor is not None and cursor[0] == offset + len(rows) and cursor[1] == index
            if keyset:
                assert cursor is not None
                skip = 0
                params.update(_key_params(cursor[2]))
            params.update(limit=min(wanted, size - (offset + len(rows) - start)), offset=skip)
            statement = rows_statement(segment, page=True, keyset=keyset)
            found = _converted(conn.execute(statement, params))
            rows.extend(worklist_rows(found, [LEVEL_OF_NUMBER[segment.level]] * len(found)))
            if found:
                cursor = (offset + len(rows), index, _sort_key(found[-1]))
            start += size
        return rows, cursor

    def position(self, episode_id: int) -> int | None:
        """The row number of ``episode_id`` in the worklist, or None when it is not on it."""
        counts = self._ensure_counted()
        window = self._window

        def work(conn: sqlite3.Connection) -> tuple[Segment, int] | None:
            places: list[tuple[Segment, tuple[Any, ...]]] = []
            found = conn.execute(PLACE_STATEMENT, {"episode_id": episode_id})
            for due_on_text, due_at_text, name, pump_id, urgent_text, dangerous, _ep in found:
                due_on = _day(due_on_text)
                assert due_on is not None  # the statement asks for it
                segment = Segment(window.level_of(_utc(urgent_text), due_on), bool(dangerous))
                places.append((segment, (due_on, _utc(due_at_text), name, pump_id)))
            if not places:
                return None
            places.sort(key=lambda place: (_SEGMENT_RANK[place[0]], place[1]))
            segment, key = places[0]
            if segment not in self._segments:
                return None
            params = {**self._params, **_key_params(key)}
            return segment, int(conn.execute(before_statement(segment), params).fetchone()[0])

        place = self._reader.run(work)
        if place is None:
            return None
        segment, before = place
        return sum(counts[: self._segments.index(segment)]) + before
