"""The synthetic clinic generator (issue 9): deterministic, consistent with the domain rules,
with an audit chain that verifies. Small sizes only, so the suite stays fast."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from pathway_app.cli import main
from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services import refills
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.refill_views import refill_worklist
from pathway_app.services.synthetic import generate_clinic
from pathway_app.services.views import worklist
from pathway_app.storage.audit import verify_chain
from pathway_app.storage.database import open_database
from pathway_app.storage.orm import Episode, ImplantedPump

FIXED_NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EPISODES = 70
PROTOTYPES = 12
HISTORY_DAYS = 900


def _generate(path: Path, configuration: tuple[PathwayTemplate, Catalogue], seed: int) -> None:
    template, catalogue = configuration
    generate_clinic(
        path,
        episodes=EPISODES,
        template=template,
        catalogue=catalogue,
        now=FIXED_NOW,
        seed=seed,
        prototypes=PROTOTYPES,
        history_days=HISTORY_DAYS,
    )


def _content(path: Path) -> str:
    """A digest of every row of every table, in id order."""
    digest = hashlib.sha256()
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, configuration: tuple[PathwayTemplate, Catalogue]
) -> Path:
    path = tmp_path_factory.mktemp("synthetic") / "clinic.sqlite3"
    _generate(path, configuration, seed=7)
    return path


@pytest.fixture
def clinic(
    generated: Path, tmp_path: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> Iterator[ServiceContext]:
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(generated.read_bytes())
    database = open_database(str(copy))
    template, catalogue = configuration
    yield ServiceContext(database, template, catalogue, FixedClock(FIXED_NOW), "Nurse Tester")
    database.close()


def test_it_makes_the_number_of_episodes_asked_for(clinic: ServiceContext) -> None:
    with clinic.db.reading() as session:
        episodes = session.scalars(select(Episode)).all()
        assert len(episodes) == EPISODES
        assert len({e.patient_id for e in episodes}) == EPISODES
        stages = {e.current_stage for e in episodes}
        pumps = session.scalars(select(ImplantedPump)).all()
    assert len(stages) >= 3  # patients across the stages
    assert len(pumps) > EPISODES // 3


def test_it_is_deterministic_for_a_seed(
    generated: Path, tmp_path: Path, configuration: tuple[PathwayTemplate, Catalogue]
) -> None:
    again = tmp_path / "again.sqlite3"
    _generate(again, configuration, seed=7)
    assert _content(again) == _content(generated)


def test_the_audit_chain_verifies(clinic: ServiceContext) -> None:
    with clinic.db.reading() as session:
        report = verify_chain(session)
    assert report.ok, report
    assert report.checked > EPISODES * 10


def test_the_worklists_agree_with_recomputation(clinic: ServiceContext) -> None:
    pathway_before = worklist(clinic)
    refill_before = refill_worklist(clinic)
    assert {row.status for row in pathway_before} >= {"overdue"} or pathway_before
    assert refill_before, "a clinic with years of refills has pumps to refill"
    with clinic.db.writing() as session:
        for episode in session.scalars(select(Episode)).all():
            refresh_progress(session, episode)
        for pump in session.scalars(select(ImplantedPump)).all():
            refills._refresh_pump(session, pump)
    assert worklist(clinic) == pathway_before
    assert refill_worklist(clinic) == refill_before


def test_refill_intervals_are_weeks_not_days(clinic: ServiceContext) -> None:
    with sqlite3.connect(clinic.db.info.display_name) as connection:
        median = connection.execute(
            "SELECT interval_days FROM fills WHERE interval_days IS NOT NULL "
            "ORDER BY interval_days LIMIT 1 OFFSET (SELECT count(*) / 2 FROM fills "
            "WHERE interval_days IS NOT NULL)"
        ).fetchone()[0]
    assert 21 <= median <= 100


def test_the_generate_command(tmp_path: Path) -> None:
    target = tmp_path / "cli.sqlite3"
    code = main(
        [
            "--now",
            "2026-11-26T10:00",
            "generate",
            "--episodes",
            "15",
            "--prototypes",
            "5",
            "--history-days",
            "400",
            "--db",
            str(target),
        ]
    )
    assert code == 0
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT count(*) FROM episodes").fetchone()[0] == 15
    assert main(["generate", "--episodes", "15", "--db", str(target)]) != 0  # never overwrites
