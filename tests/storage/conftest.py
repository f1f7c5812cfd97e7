"""Issue 7: the tests here run on SQLite and on PostgreSQL (see `tests.pg_support`)."""

from __future__ import annotations

import pytest

from tests.pg_support import parametrise_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_backends(metafunc)
