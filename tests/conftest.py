"""Shared fixtures: a fixed clock, the shipped template and catalogues, and a fresh database
file per test (never ``:memory:``, which behaves differently across threads)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Qt must never need a screen in the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathway_app.app import load_configuration
from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services.context import ServiceContext
from pathway_app.storage.database import Database, open_database

FIXED_NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ACTOR = "Nurse Tester"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real per-user data folder or a developer's settings."""
    monkeypatch.setenv("PATHWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TZ", "UTC")
    for name in ("PATHWAY_DB", "PATHWAY_NOW", "PATHWAY_USER", "PATHWAY_RESOURCES_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 4: argon2 at its minimum cost in tests (the app uses the library's defaults,
    which take a noticeable fraction of a second per hash by design)."""
    from argon2 import PasswordHasher

    from pathway_app.services import users

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(users, "_hasher", lambda: cheap)


@pytest.fixture(scope="session")
def configuration() -> tuple[PathwayTemplate, Catalogue]:
    return load_configuration()


@pytest.fixture
def template(configuration: tuple[PathwayTemplate, Catalogue]) -> PathwayTemplate:
    return configuration[0]


@pytest.fixture
def catalogue(configuration: tuple[PathwayTemplate, Catalogue]) -> Catalogue:
    return configuration[1]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(FIXED_NOW)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clinic.sqlite3"


@pytest.fixture
def db_backend() -> str:
    """Which back end `db` opens: SQLite here; tests/storage and tests/services run their
    tests on PostgreSQL too (`tests.pg_support.parametrise_backends`)."""
    return "sqlite"


@pytest.fixture
def db_url(request: pytest.FixtureRequest, db_backend: str) -> str:
    """What `db` opens: this test's SQLite file (`db_path`), or the session's PostgreSQL
    database emptied for this test."""
    if db_backend == "postgresql":
        return str(request.getfixturevalue("pg_clean_url"))
    return str(request.getfixturevalue("db_path"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


@pytest.fixture
def ctx(
    db: Database, template: PathwayTemplate, catalogue: Catalogue, clock: FixedClock
) -> ServiceContext:
    return ServiceContext(db, template, catalogue, clock, ACTOR)


# --- The demo clinic, seeded once per session (issue 9) ----------------------------------------


@pytest.fixture(scope="session")
def demo_template(
    tmp_path_factory: pytest.TempPathFactory, configuration: tuple[PathwayTemplate, Catalogue]
) -> Path:
    """A database file holding the demo clinic, seeded once; `demo_copy` copies it per test.

    The clock in tests is fixed, so a copy is identical to seeding again."""
    from pathway_app.services.demo import seed_demo

    template, catalogue = configuration
    path = tmp_path_factory.mktemp("demo-template") / "demo.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        database = open_database(str(path))
        try:
            seed_demo(ServiceContext(database, template, catalogue, FixedClock(FIXED_NOW), ACTOR))
        finally:
            database.close()
    time.tzset()
    return path


@pytest.fixture
def demo_copy(demo_template: Path, db_path: Path) -> Path:
    """This test's database file (`db_path`) as a copy of the seeded demo clinic. Request it
    before `db`/`ctx` (or through `demo_ctx`), so they open the copy."""
    source = sqlite3.connect(demo_template)
    target = sqlite3.connect(db_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return db_path


# --- PostgreSQL (issue 7) -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole session (dropped at the end); each test
    gets it emptied through `pg_clean_url`, which is much faster than a database per test."""
    from tests.pg_support import create_database, drop_database

    url = create_database("pwsuite")
    open_database(url).close()  # migrated once
    yield url
    drop_database(url)


@pytest.fixture
def pg_clean_url(pg_session_url: str) -> str:
    """The session's PostgreSQL database with every table emptied and ids restarted."""
    from tests.pg_support import empty_database

    empty_database(pg_session_url)
    return pg_session_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test (see
    `tests/pg_support.py` for how the server is found)."""
    from tests.pg_support import create_database, drop_database

    url = create_database()
    yield url
    drop_database(url)
