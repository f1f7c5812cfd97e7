"""Issue 7: throwaway PostgreSQL databases for the tests.

`PATHWAY_TEST_PG_URL` names a database on a server the tests may use (its role needs CREATEDB);
`.ci/postgres` starts one on the loopback interface and prints the URL. Without it the
PostgreSQL tests are skipped, unless `PATHWAY_REQUIRE_PG=1` (set by `.ci/run`), where a
missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import time
import uuid
from functools import cache

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

PG_URL_VARIABLE = "PATHWAY_TEST_PG_URL"
REQUIRE_VARIABLE = "PATHWAY_REQUIRE_PG"


def server_url() -> str:
    """The configured test server's URL; skips (or fails in CI) when there is none."""
    url = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not url:
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{REQUIRE_VARIABLE}=1 but {PG_URL_VARIABLE} is not set")
        pytest.skip(f"no PostgreSQL server ({PG_URL_VARIABLE} is not set)")
    return url


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def create_database(prefix: str = "pw") -> str:
    """A new empty database on the test server; returns its URL (password included)."""
    base = make_url(server_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(base.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            # UTF-8 whatever the cluster's default, as the app requires (see README).
            conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
                )
            )
            # A throwaway database needs no durability: commits need not wait for the disk.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by `create_database`, closing any connection still open on it."""
    target = make_url(url)
    base = make_url(server_url())
    engine = _admin_engine(base.render_as_string(hide_password=False))
    try:
        for attempt in range(20):
            try:
                with engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
                return
            except ProgrammingError:
                # An autovacuum worker (not ours to end) is still on it; it leaves soon.
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        engine.dispose()


@cache
def _session_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def empty_database(url: str) -> None:
    """Delete every row but alembic_version's and restart the id sequences: after a typical
    test this takes a few milliseconds (TRUNCATE of every table took 0.2 s). The audit
    trail's append-only triggers are lifted only inside this transaction."""
    from pathway_app.storage.orm import Base

    engine = _session_engine(url)
    with engine.begin() as conn:
        # A connection a failed test left open (its traceback keeps the session alive) could
        # hold locks and block the cleanup: end every other connection to this database.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND usename = current_user AND backend_type = 'client backend'"
            )
        )
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        present = set(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
        )
        # Children before parents (foreign keys are not deferrable); tables that are no
        # model (none today) first.
        models = [table.name for table in reversed(Base.metadata.sorted_tables)]
        order = sorted(present - set(models)) + [name for name in models if name in present]
        deletes = "; ".join(f'DELETE FROM "{name}"' for name in order)
        conn.exec_driver_sql(
            "ALTER TABLE audit_entries DISABLE TRIGGER USER; "
            f"{deletes}; "
            "ALTER TABLE audit_entries ENABLE TRIGGER USER; "
            "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'S'"
        )


SQLITE_ONLY_FIXTURES = ("db_path", "demo_copy")


def parametrise_backends(metafunc: pytest.Metafunc) -> None:
    """Run a test that uses `db` on SQLite and on PostgreSQL, unless it works on the SQLite
    file itself (it asks for `db_path`/`demo_copy`) or is marked ``sqlite_only``."""
    if "db_backend" not in metafunc.fixturenames:
        return
    sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None or any(
        name in metafunc.fixturenames for name in SQLITE_ONLY_FIXTURES
    )
    if not sqlite_only:
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"])
