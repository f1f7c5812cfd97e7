"""Issue 8: one demo clinic (30 patients, demo users) built once per test session and copied
for each test, so every export test reads a realistic database without reseeding it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo import seed_demo
from pathway_app.services.refill_views import refill_worklist
from pathway_app.services.users import seed_demo_users
from pathway_app.storage.database import Database, open_database
from tests.conftest import FIXED_NOW


@pytest.fixture(scope="session")
def seeded_demo_file(
    tmp_path_factory: pytest.TempPathFactory, configuration: tuple[PathwayTemplate, Catalogue]
) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    db = open_database(str(path))
    try:
        clock = FixedClock(FIXED_NOW)
        seed_demo(ServiceContext(db, *configuration, clock, "demo"))
        seed_demo_users(db, clock)
    finally:
        db.close()
    return path


@pytest.fixture
def demo_db_path(seeded_demo_file: Path, tmp_path: Path) -> Path:
    target = tmp_path / "clinic.sqlite3"
    shutil.copyfile(seeded_demo_file, target)
    return target


@pytest.fixture
def demo_db(demo_db_path: Path) -> Iterator[Database]:
    database = open_database(str(demo_db_path))
    yield database
    database.close()


@pytest.fixture
def export_ctx(
    demo_db: Database, template: PathwayTemplate, catalogue: Catalogue, clock: FixedClock
) -> ServiceContext:
    return ServiceContext(demo_db, template, catalogue, clock, "Nurse Tester")


@pytest.fixture
def pumped_episode(export_ctx: ServiceContext) -> int:
    """An episode with an implanted pump and refills (the most urgent on the refill list)."""
    return refill_worklist(export_ctx)[0].episode_id
