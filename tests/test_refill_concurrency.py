"""A refill, fill correction or exposure saved from a form opened before someone else's change
to the same pump is refused, with who and when, and writes nothing (audit entries included).

Two app instances on one database: "Nurse Tester" (`ctx`) and "Second Window" (`second`), on
SQLite and on PostgreSQL. Clock: 2026-11-26 10:00 UTC (TZ=UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import ConcurrentEdit
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import ExposureDraft, FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import pump_view
from pathway_app.services.refills import (
    correct_fill,
    log_exposure,
    pump_version,
    record_implant,
    record_refill,
)
from pathway_app.storage.database import open_database
from pathway_app.storage.orm import AuditEntry, Exposure, Fill, ImplantedPump
from tests.factories import morphine_fill
from tests.pg_support import parametrise_backends

ISOMED = "isomed-8472-20-05"  # 20 mL at 0.5 mL/day


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_backends(metafunc)


@pytest.fixture
def second(
    db_url: str, ctx: ServiceContext, template, catalogue, clock
) -> Iterator[ServiceContext]:
    """Another window or workstation on the same database, signed in as someone else."""
    db = open_database(db_url)
    yield ServiceContext(db, template, catalogue, clock, "Second Window")
    db.close()


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    """A pump filled with 20 mL twenty days ago: 10 mL expected in the reservoir now."""
    patient = register_patient(ctx, PatientDraft("C-1", "Doe", "Jo", date(1960, 5, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"
        ),
    )
    at = ctx.now() - timedelta(days=20)
    record_implant(
        ctx, ImplantDraft(episode_id, ISOMED, "SN-1", None, None, False, at, morphine_fill(at))
    )
    return episode_id


def refill(ctx: ServiceContext, hours_ago: float = 1.0, **changes: Any) -> FillDraft:
    """10 mL aspirated as expected, 10 mL added: the reservoir full again."""
    changes = {"aspirated_ml": 10.0, "added_ml": 10.0, **changes}
    return morphine_fill(ctx.now() - timedelta(hours=hours_ago), **changes)


def state(ctx: ServiceContext) -> tuple[Any, ...]:
    """Everything a refused write could have touched."""
    with ctx.db.reading() as session:
        pump = session.scalars(select(ImplantedPump)).one()
        return (
            session.scalar(select(func.count()).select_from(Fill)),
            session.scalar(select(func.count()).select_from(Exposure)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
            tuple(session.scalars(select(Fill.superseded_by_id).order_by(Fill.id))),
            pump.version,
            pump.refill_due_at,
            pump.last_fill_at,
        )


def test_a_refill_from_a_stale_form_is_refused_and_writes_nothing(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    mine, theirs = pump_version(ctx, episode), pump_version(second, episode)
    assert mine is not None and mine == theirs
    record_refill(second, episode, refill(second), expected_version=theirs)
    before = state(ctx)

    with pytest.raises(ConcurrentEdit) as caught:
        record_refill(ctx, episode, refill(ctx, 0.5), expected_version=mine)

    assert str(caught.value).startswith(
        "A refill was recorded for this pump at 10:00 by Second Window since you opened this form."
    )
    assert "check the pump page" in str(caught.value)
    assert state(ctx) == before


def test_the_current_version_goes_through(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    record_refill(second, episode, refill(second), expected_version=pump_version(second, episode))
    fresh = pump_version(ctx, episode)
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    fill_id = correct_fill(
        ctx, view.latest_fill.id, refill(ctx, lot="LOT-9"), "Lot misread", expected_version=fresh
    )
    after = pump_view(ctx, episode)
    assert after is not None and after.latest_fill is not None
    assert after.latest_fill.id == fill_id
    assert pump_version(ctx, episode) != fresh


def test_without_a_version_nothing_is_checked(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    """Scripts, the demo and the synthetic generator pass no version."""
    log_exposure(second, ExposureDraft(episode, "fever", date(2026, 11, 20), None))
    record_refill(ctx, episode, refill(ctx))
    log_exposure(ctx, ExposureDraft(episode, "heat", date(2026, 11, 21), date(2026, 11, 21)))
    assert state(ctx)[:2] == (2, 2)


def test_a_correction_after_an_exposure_elsewhere_is_refused(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    record_refill(ctx, episode, refill(ctx))
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    seen = pump_version(ctx, episode)
    log_exposure(
        second,
        ExposureDraft(episode, "fever", date(2026, 11, 25), None),
        expected_version=pump_version(second, episode),
    )
    before = state(ctx)

    with pytest.raises(ConcurrentEdit, match="“Fever”, was logged for this patient at 10:00 by"):
        correct_fill(
            ctx, view.latest_fill.id, refill(ctx, added_ml=9.0), "typo", expected_version=seen
        )
    assert state(ctx) == before


def test_a_correction_elsewhere_is_named_before_already_corrected(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    record_refill(ctx, episode, refill(ctx))
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    seen = pump_version(ctx, episode)
    correct_fill(
        second, view.latest_fill.id, refill(second, added_ml=9.0), "9 mL", expected_version=seen
    )
    before = state(ctx)

    with pytest.raises(
        ConcurrentEdit, match="The last fill of this pump was corrected at 10:00 by Second Window"
    ):
        correct_fill(
            ctx, view.latest_fill.id, refill(ctx, added_ml=8.0), "8 mL", expected_version=seen
        )
    with pytest.raises(ConcurrentEdit):
        log_exposure(
            ctx, ExposureDraft(episode, "heat", date(2026, 11, 25), None), expected_version=seen
        )
    assert state(ctx) == before


def test_an_exposure_that_leaves_the_dates_alone_still_changes_the_version(
    ctx: ServiceContext, second: ServiceContext, episode: int
) -> None:
    """An exposure long over before the current fill does not move the projection, but a form
    opened before it did not show it."""
    seen = pump_version(ctx, episode)
    due_before = state(ctx)[5]
    log_exposure(second, ExposureDraft(episode, "diving", date(2026, 1, 5), date(2026, 1, 6)))
    assert state(ctx)[5] == due_before
    assert pump_version(ctx, episode) != seen
    with pytest.raises(ConcurrentEdit, match="Diving or hyperbaric therapy"):
        record_refill(ctx, episode, refill(ctx), expected_version=seen)


def test_a_change_on_another_day_says_the_date(
    ctx: ServiceContext, second: ServiceContext, episode: int, clock: FixedClock
) -> None:
    seen = pump_version(ctx, episode)
    record_refill(second, episode, refill(second))
    clock.set(clock.now() + timedelta(days=1, hours=2))
    with pytest.raises(
        ConcurrentEdit, match="recorded for this pump on 2026-11-26 at 10:00 by Second Window"
    ):
        record_refill(ctx, episode, refill(ctx), expected_version=seen)


def test_an_exposure_on_an_episode_without_a_pump_needs_no_version(ctx: ServiceContext) -> None:
    patient = register_patient(ctx, PatientDraft("C-2", "Roe", "Al", date(1970, 1, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 12, 1), "Dr A", "hospital-or"
        ),
    )
    assert pump_version(ctx, episode_id) is None
    log_exposure(
        ctx, ExposureDraft(episode_id, "fever", date(2026, 11, 25), None), expected_version=None
    )
