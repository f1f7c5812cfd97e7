"""Issue 9: the first screen read from the SQLite file with the standard library, before
SQLAlchemy is imported. It must answer exactly what the services answer (rows, order, values
and their types, count, positions), leave the file and its folder untouched, and step aside
(None) for anything unusual, so the app's normal opening explains it."""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.domain.users import UserDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import RefillLevel, refill_worklist_pages
from pathway_app.services.synthetic import generate_clinic
from pathway_app.services.users import create_first_administrator, create_user, update_user
from pathway_app.storage import refill_queries as rq
from pathway_app.storage.database import Database, open_database
from pathway_app.storage.first_screen import (
    PLACE_STATEMENT,
    FirstScreen,
    FirstScreenError,
    before_statement,
    count_statement,
    rows_statement,
)
from pathway_app.storage.orm import Episode, Patient
from pathway_app.storage.revisions import _identifiers, head_revisions, revision_graph
from tests.conftest import ACTOR, FIXED_NOW
from tests.factories import episode_row, pump_row, schedule_refill

pytestmark = pytest.mark.sqlite_only

NOWS = (
    FIXED_NOW,
    FIXED_NOW - timedelta(days=41, hours=3, microseconds=17),
    # Another zone, a local evening: the same moment seen elsewhere gives the same answers.
    (FIXED_NOW + timedelta(days=23, hours=11)).astimezone(timezone(timedelta(hours=-5))),
)
WINDOWS = (0, 14, 60)
PAGE_SIZES = (1, 7, 100)
FAMILIES = ("Adler", "Brandt", "Costa", "Dahl", "Öztürk", "Eriksen")


# --- clinics -------------------------------------------------------------------------------


def _copy(source: Path, target: Path) -> Path:
    """A copy by SQLite's backup: a closed, checkpointed file with nothing beside it."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def _seed_edges(db: Database, pumps: int = 260, seed: int = 5) -> None:
    """Every kind of worklist row: all levels, both flags, many tied due times, urgent times
    missing, closed episodes, removed pumps, pumps never filled, times with microseconds, a
    dose without a concentration, non-ASCII names."""
    rng = random.Random(seed)
    due_times = [
        FIXED_NOW + timedelta(days=d, hours=h, microseconds=m)
        for d in range(-60, 90, 6)
        for h, m in ((0, 0), (5, 250_000))
    ]
    with db.writing() as session:
        for n in range(1, pumps + 1):
            episode = episode_row(
                session,
                FIXED_NOW,
                f"MRN{n:05d}",
                rng.choice(FAMILIES),
                f"Given{n}",
                closed=n % 17 == 0,
            )
            pump = pump_row(
                episode,
                FIXED_NOW,
                f"S{n}",
                model_name=rng.choice(("Model A", "Modèle B")),
                removed_at=FIXED_NOW - timedelta(days=1) if n % 19 == 0 else None,
                drug_name=rng.choice(("Baclofen", "Morphine")),
                dangerous_withdrawal=rng.random() < 0.5,
                concentration=None if n % 11 == 0 else rng.choice((2.0, 0.5, 1.25)),
                concentration_unit="mg/mL",
                daily_dose=rng.choice((None, 0.2, 3.0)),
                dose_unit="mg/day",
                projection_unverified=rng.choice(("", "reserve_ml", "reserve_ml,flow")),
            )
            if n % 23 != 0:
                due_at = rng.choice(due_times)
                schedule_refill(
                    pump,
                    due_at,
                    None
                    if n % 13 == 0
                    else due_at + timedelta(days=rng.choice((-50, -30, -3, 2, 10))),
                    last_fill_before=timedelta(days=60, microseconds=3),
                )
            session.add(pump)


@pytest.fixture(scope="module")
def clinics(
    tmp_path_factory: pytest.TempPathFactory, configuration: tuple[PathwayTemplate, Catalogue]
) -> dict[str, Path]:
    """Two closed clinic files: a small synthetic clinic (years of real refills) and one
    written directly with every edge of the worklist."""
    template, catalogue = configuration
    folder = tmp_path_factory.mktemp("first-screen")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        synthetic = folder / "synthetic.sqlite3"
        generate_clinic(
            synthetic,
            episodes=150,
            template=template,
            catalogue=catalogue,
            now=FIXED_NOW,
            seed=11,
            prototypes=12,
            history_days=900,
        )
        edges = folder / "edges.sqlite3"
        database = open_database(str(edges))
        try:
            _seed_edges(database)
        finally:
            database.close()
    time.tzset()
    return {"synthetic": synthetic, "edges": edges}


@pytest.fixture(params=["synthetic", "edges"])
def clinic(request: pytest.FixtureRequest, clinics: dict[str, Path], tmp_path: Path) -> Path:
    """This test's copy of one clinic, closed (nothing beside it)."""
    return _copy(clinics[request.param], tmp_path / f"{request.param}.sqlite3")


def _context(
    db: Database, configuration: tuple[PathwayTemplate, Catalogue], now: datetime
) -> ServiceContext:
    template, catalogue = configuration
    return ServiceContext(db, template, catalogue, FixedClock(now), ACTOR)


def _read_all(pages: Any, size: int) -> tuple[int, list[Any]]:
    """The count, then every row, a page after the other, as the worklist screen reads."""
    total = pages.count()
    rows: list[Any] = []
    while len(rows) < total:
        page = pages.fetch(len(rows), size)
        assert page, "a page within the count is never empty"
        rows += page
    assert pages.fetch(total, size) == []
    return total, rows


def _expected(
    path: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> dict[tuple[int, int, int], tuple[int, str, list[Any]]]:
    """What the services answer, for every clock, window and page size."""
    expected = {}
    database = open_database(str(path))
    try:
        for n, now in enumerate(NOWS):
            ctx = _context(database, configuration, now)
            for days in WINDOWS:
                for size in PAGE_SIZES:
                    total, rows = _read_all(refill_worklist_pages(ctx, due_within_days=days), size)
                    expected[n, days, size] = (total, repr(rows), rows)
    finally:
        database.close()
    return expected


def _fingerprint(path: Path) -> tuple[Any, ...]:
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(p.name for p in path.parent.iterdir()),
    )


# --- the rows are the services' ------------------------------------------------------------


def test_every_page_count_and_position_is_the_services(
    clinic: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> None:
    expected = _expected(clinic, configuration)
    levels_seen: set[RefillLevel] = set()
    untouched = _fingerprint(clinic)
    first = FirstScreen.open(clinic)
    assert first is not None
    with first:
        for n, now in enumerate(NOWS):
            for days in WINDOWS:
                for size in PAGE_SIZES:
                    total, shown, rows = expected[n, days, size]
                    got_total, got = _read_all(first.refill_pages(now, days), size)
                    assert got_total == total
                    assert got == rows
                    # repr: the same types too (aware UTC times, dates, floats, tuples).
                    assert repr(got) == shown
                    levels_seen |= {row.level for row in got}
    assert levels_seen == set(RefillLevel)
    assert all(
        row.due_at is None or row.due_at.utcoffset() == timedelta(0)
        for row in expected[0, 14, 100][2]
    )
    assert _fingerprint(clinic) == untouched


def test_pages_from_any_offset_positions_and_the_first_page_are_the_services(
    clinic: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> None:
    database = open_database(str(clinic))
    rng = random.Random(9)
    try:
        # Opened while the services have the file open: read through their locks and WAL.
        first = FirstScreen.open(clinic)
        assert first is not None
        with first:
            for now in NOWS:
                ctx = _context(database, configuration, now)
                for days in WINDOWS:
                    theirs = refill_worklist_pages(ctx, due_within_days=days, first_page=40)
                    ours = first.refill_pages(now, days, first_page=40)
                    total = theirs.count()
                    assert ours.count() == total
                    assert ours.fetch(0, 40) == theirs.fetch(0, 40)
                    for _ in range(12):
                        offset, limit = rng.randrange(total + 3), rng.randrange(0, 90)
                        assert repr(ours.fetch(offset, limit)) == repr(theirs.fetch(offset, limit))
                    ids = [row.episode_id for row in theirs.fetch(0, total)]
                    closed = [e for e in range(1, max(ids) + 5) if e not in ids]
                    for episode_id in [*ids[:: 3 if days == 14 else 17], *closed, 10**9]:
                        assert ours.position(episode_id) == theirs.position(episode_id)
    finally:
        database.close()


def test_position_and_fetch_count_first_when_nobody_did(clinic: Path) -> None:
    """position() and fetch() count first when nobody did, as the service does."""
    first = FirstScreen.open(clinic)
    assert first is not None
    with first:
        rows = first.refill_pages(FIXED_NOW, 14).fetch(0, 30)
        pages = first.refill_pages(FIXED_NOW, 14)
        assert [pages.position(row.episode_id) for row in rows] == list(range(len(rows)))
        with pytest.raises(ValueError, match="negative"):
            pages.fetch(-1, 3)


def test_a_write_after_opening_is_followed(
    clinic: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> None:
    """Opened with nobody else on the file (read without locks), then another program writes:
    the next reads see the write, as the services do."""
    first = FirstScreen.open(clinic)
    assert first is not None
    with first:
        pages = first.refill_pages(FIXED_NOW, 14)
        before = _read_all(pages, 50)[1]
        database = open_database(str(clinic))
        try:
            with database.writing() as session:
                episode = session.get(Episode, before[0].episode_id)
                patient = session.get(Patient, before[5].patient_id)
                assert episode is not None and patient is not None
                episode.status = "closed"
                patient.family_name = "Aaberg"
            ctx = _context(database, configuration, FIXED_NOW)
            total, rows = _read_all(refill_worklist_pages(ctx, due_within_days=14), 50)
            assert total == len(before) - 1
            again = first.refill_pages(FIXED_NOW, 14)
            assert _read_all(again, 50) == (total, rows)
            assert again.position(before[0].episode_id) is None
        finally:
            database.close()


# --- the plans walk the worklist indexes ------------------------------------------------------


def _plan(conn: sqlite3.Connection, sql: str, params: Any) -> list[str]:
    return [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def _sqlalchemy_plan(db: Database, statement: Any, params: dict[str, Any]) -> list[str]:
    with db.reading() as session:
        conn = session.connection()
        compiled = statement.compile(dialect=conn.dialect)
        values = compiled.construct_params(params)
        args = []
        for name in compiled.positiontup:
            process = compiled.binds[name].type.bind_processor(conn.dialect)
            args.append(process(values[name]) if process else values[name])
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(args)).all()
    return [str(row[-1]) for row in rows]


def test_the_statements_use_the_indexes_the_services_use(clinics: dict[str, Path]) -> None:
    window = rq.RefillWindow(FIXED_NOW, FIXED_NOW.date(), 14)
    key = (FIXED_NOW.date(), FIXED_NOW, "Dahl", 7)
    ours_params = {
        "now": "2026-11-26 10:00:00.000000",
        "today": "2026-11-26",
        "soon": "2026-12-10",
        "limit": 100,
        "offset": 3,
        "after_on": "2026-11-26",
        "after_at": "2026-11-26 10:00:00.000000",
        "after_name": "Dahl",
        "after_id": 7,
        "episode_id": 5,
    }
    theirs_params = {
        **window.params(),
        "limit": 100,
        "offset": 3,
        **dict(zip(("after_on", "after_at", "after_name", "after_id"), key, strict=True)),
    }
    database = open_database(str(clinics["edges"]))
    conn = sqlite3.connect(f"{clinics['edges'].as_uri()}?mode=ro", uri=True)
    try:
        counts = _plan(conn, count_statement(rq.SEGMENTS), ours_params)
        assert counts == _sqlalchemy_plan(database, rq._count_statement(rq.SEGMENTS), theirs_params)
        assert any("COVERING INDEX ix_implanted_pumps_refill_urgent" in d for d in counts)
        assert any("COVERING INDEX ix_implanted_pumps_refill_worklist" in d for d in counts)
        plans = [counts]
        for segment in rq.SEGMENTS:
            for keyset in (False, True):
                ours = _plan(conn, rows_statement(segment, page=True, keyset=keyset), ours_params)
                theirs = _sqlalchemy_plan(
                    database, rq._rows_statement(segment, page=True, keyset=keyset), theirs_params
                )
                assert ours == theirs
                plans.append(ours)
                if segment.level != rq.LEVEL_URGENT:
                    chosen = "\n".join(ours).split("SCAN page")[0]
                    assert "COVERING INDEX ix_implanted_pumps_refill_worklist" in chosen
                    assert "TEMP B-TREE" not in chosen
            plans.append(_plan(conn, before_statement(segment), ours_params))
        plans.append(place := _plan(conn, PLACE_STATEMENT, ours_params))
        assert any("ix_implanted_pumps_episode_id" in d for d in place)
        for plan in plans:
            assert not any(d.startswith("SCAN implanted_pumps") for d in plan), plan
            assert not any(d.startswith(("SCAN patients", "SCAN episodes")) for d in plan), plan
    finally:
        conn.close()
        database.close()


# --- nothing is written --------------------------------------------------------------------


def _first_screen_reads(path: Path) -> tuple[int, int]:
    first = FirstScreen.open(path)
    assert first is not None
    with first:
        pages = first.refill_pages(FIXED_NOW, 14, first_page=100)
        total = pages.count()
        rows = pages.fetch(0, 100)
        assert pages.position(rows[-1].episode_id) == len(rows) - 1
        first.has_users()
        first.password_matches("nobody", "nothing")
    return total, len(rows)


def test_reading_changes_nothing_and_leaves_nothing_beside_the_file(clinic: Path) -> None:
    before = _fingerprint(clinic)
    assert _first_screen_reads(clinic)[0] > 100
    assert _fingerprint(clinic) == before
    assert not Path(f"{clinic}-wal").exists() and not Path(f"{clinic}-shm").exists()


def test_a_rollback_journal_database_is_read_untouched_too(clinic: Path) -> None:
    conn = sqlite3.connect(clinic)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = _fingerprint(clinic)
    assert _first_screen_reads(clinic)[0] > 100
    assert _fingerprint(clinic) == before


# --- None for anything unusual ---------------------------------------------------------------


@pytest.fixture
def edges(clinics: dict[str, Path], tmp_path: Path) -> Path:
    return _copy(clinics["edges"], tmp_path / "edges.sqlite3")


def _stamp(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql)
    conn.close()


def test_none_for_what_is_not_a_clinic_at_this_version(edges: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite3"
    text.write_text("SQLite format 3 is what this is not\n" * 10, encoding="utf-8")
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    foreign = tmp_path / "foreign.sqlite3"
    _stamp(foreign, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    older, newer, unstamped = (
        _copy(edges, tmp_path / f"{name}.sqlite3") for name in ("older", "newer", "unstamped")
    )
    head = head_revisions()[0]
    assert head != "0001"
    _stamp(older, f"UPDATE alembic_version SET version_num = '{int(head) - 1:04d}'")
    _stamp(newer, "UPDATE alembic_version SET version_num = '9999'")
    _stamp(unstamped, "DELETE FROM alembic_version")
    for path in (
        tmp_path / "missing.sqlite3",
        tmp_path,
        text,
        empty,
        foreign,
        older,
        newer,
        unstamped,
    ):
        before = sorted(p.name for p in tmp_path.iterdir())
        assert FirstScreen.open(path) is None, path
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert FirstScreen.open(f"sqlite:///{edges}") is None
    assert FirstScreen.open("postgresql+psycopg://user@host/db") is None


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_none_for_a_file_an_exclusive_writer_holds(edges: Path, journal: str) -> None:
    writer = sqlite3.connect(edges, isolation_level=None)
    try:
        writer.execute(f"PRAGMA journal_mode={journal}")
        writer.execute("PRAGMA locking_mode=EXCLUSIVE")
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE patients SET given_name = 'Changing'")
        started = time.perf_counter()
        assert FirstScreen.open(edges) is None
        assert time.perf_counter() - started < 2
    finally:
        writer.close()
    assert FirstScreen.open(edges) is not None


def test_a_schema_changed_under_it_stops_the_reads(edges: Path) -> None:
    first = FirstScreen.open(edges)
    assert first is not None
    with first:
        pages = first.refill_pages(FIXED_NOW, 14)
        pages.count()
        database = open_database(str(edges))  # another program at work: reads take the locks
        try:
            with database.writing() as session:
                session.connection().exec_driver_sql(
                    "UPDATE alembic_version SET version_num = '9999'"
                )
            with pytest.raises(FirstScreenError):
                pages.fetch(0, 10)
        finally:
            database.close()


def test_the_display_name_is_the_databases(edges: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(edges.parent)
    first = FirstScreen.open(edges.name)
    assert first is not None
    with first:
        database = open_database(edges.name)
        try:
            assert first.display_name == database.info.display_name
        finally:
            database.close()


# --- users and passwords ---------------------------------------------------------------------


@pytest.fixture
def with_users(ctx: ServiceContext, db_path: Path) -> Path:
    """A closed database with an administrator, a coordinator and a deactivated viewer."""
    signed = create_first_administrator(
        ctx.db, ctx.clock, UserDraft("Admin", "Ada Admin", "administrator", "admin-password")
    )
    admin = replace(ctx, actor=signed.username, role=signed.role, user_id=signed.user_id)
    create_user(admin, UserDraft("nurse", "Nina Nurse", "coordinator", "nurse-password"))
    gone = create_user(admin, UserDraft("former", "Fred Former", "viewer", "former-password"))
    update_user(admin, gone, active=False)
    ctx.db.close()
    return db_path


def test_has_users(with_users: Path, edges: Path) -> None:
    first = FirstScreen.open(with_users)
    assert first is not None
    with first:
        assert first.has_users()
    nobody = FirstScreen.open(edges)
    assert nobody is not None
    with nobody:
        assert not nobody.has_users()


def test_passwords_are_checked_as_sign_in_checks_them(with_users: Path) -> None:
    before = _fingerprint(with_users)
    first = FirstScreen.open(with_users)
    assert first is not None
    with first:
        assert first.password_matches("nurse", "nurse-password")
        assert first.password_matches("  ADMIN ", "admin-password")  # as username_key folds
        assert not first.password_matches("nurse", "admin-password")
        assert not first.password_matches("nurse", "")
        assert not first.password_matches("nobody", "nurse-password")
        assert not first.password_matches("former", "former-password")  # deactivated
        check = first.password_check("admin", "admin-password")
        assert check() is True and check() is True
        assert first.password_check("former", "former-password")() is False
    assert _fingerprint(with_users) == before


# --- the schema revisions, read without Alembic ---------------------------------------------


def test_the_revision_identifiers_are_the_whole_files() -> None:
    """Only a migration's header is parsed, unless that could give another answer."""
    header = 'from alembic import op\n\nrevision = "0002"\ndown_revision = "0001"\n\n'
    assert _identifiers(header + "def upgrade() -> None:\n    pass\n") == {
        "revision": "0002",
        "down_revision": "0001",
    }
    again = header + "def upgrade() -> None:\n    pass\n\nrevision = '0003'\n"
    assert _identifiers(again)["revision"] == "0003"
    # A docstring with "def " at a line start: the header alone is not valid Python.
    quoted = '"""Notes.\n\ndef is a word\n"""\n' + header + "def upgrade():\n    pass\n"
    assert _identifiers(quoted) == {"revision": "0002", "down_revision": "0001"}
    merge = 'revision = "0010"\ndown_revision = ("0008", "0009")\n@decorated\ndef f(): pass\n'
    assert _identifiers(merge)["down_revision"] == ("0008", "0009")
    assert head_revisions() == tuple(
        sorted(set(revision_graph()) - {p for downs in revision_graph().values() for p in downs})
    )


# --- importing it leaves SQLAlchemy out ------------------------------------------------------


def test_the_first_screen_never_imports_sqlalchemy(edges: Path) -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from pathway_app.storage.first_screen import FirstScreen\n"
        "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'alembic', 'PySide6', 'argon2'})\n"
        "print(loaded())\n"
        f"first = FirstScreen.open({str(edges)!r})\n"
        "pages = first.refill_pages(datetime(2026, 11, 26, 10, tzinfo=UTC), 14)\n"
        "print(pages.count(), len(pages.fetch(0, 100)), first.has_users())\n"
        "print(loaded())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    imported, read, after = result.stdout.splitlines()
    assert imported == "[]"
    assert read.endswith(" 100 False")
    assert after == "[]"
