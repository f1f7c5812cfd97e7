"""Issue 7: throwaway PostgreSQL databases for the tests.

`PATHWAY_TEST_PG_URL` names a database on a server the tests may use (its role needs CREATEDB);
`.ci/postgres` starts one on the loopback interface and prints the URL. Without it the
PostgreSQL tests are skipped, unless `PATHWAY_REQUIRE_PG=1` (set by `.ci/run`), where a
missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
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
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by `create_database`, closing any connection still open on it."""
    target = make_url(url)
    base = make_url(server_url())
    engine = _admin_engine(base.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        engine.dispose()
