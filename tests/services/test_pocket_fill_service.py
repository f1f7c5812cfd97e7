"""The pocket-fill check in the refill services (domain.md §9 item 8), on SQLite and
PostgreSQL: the volume measured after a refill is stored with the fill; when it raises the
pocket-fill alert, the save needs the nurse's confirmation that post-refill observation has
started (a draft field: the service refuses without it, whoever calls it), and the alert is
stored with the fill, in its audit entry and in the pump page's read model.

Clock: 2026-11-26 10:00 UTC. IsoMed 8472-20-05 (20 mL, 0.5 mL/day) implanted and filled with
20 mL on 2026-10-01; the refill on 2026-10-21 aspirates the expected 10 mL and adds 20 mL,
so 20 mL should be in the reservoir after it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import pump_view
from pathway_app.services.refills import (
    correct_fill,
    preview_refill,
    pump_version,
    record_implant,
    record_refill,
)
from pathway_app.storage.orm import AuditEntry, Fill
from tests.factories import morphine_fill
from tests.services.test_refill_service import IMPLANT, ISOMED, count, implant, make_episode

REFILL_AT = datetime(2026, 10, 21, 10, 0, tzinfo=UTC)


def refill(**changes: object) -> FillDraft:
    return replace(morphine_fill(REFILL_AT, aspirated_ml=10.0, added_ml=20.0), **changes)  # type: ignore[arg-type]


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    return episode_id


def stored(ctx: ServiceContext, fill_id: int) -> tuple[float | None, str | None]:
    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None
        return row.post_refill_volume_ml, row.pocket_fill_alert


def audit_new(ctx: ServiceContext, action: str) -> dict[str, Any]:
    with ctx.db.reading() as session:
        detail = session.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id.desc())
        ).first()
    assert detail is not None
    new: dict[str, Any] = json.loads(detail)["new"]
    return new


def test_a_refill_without_a_measurement_stores_none_and_raises_no_alert(
    ctx: ServiceContext, episode: int
) -> None:
    fill_id = record_refill(ctx, episode, refill())
    assert stored(ctx, fill_id) == (None, None)
    new = audit_new(ctx, "fill.refill")
    assert new["post_refill_volume_ml"] is None and new["pocket_fill_alert"] is None
    assert "observation_started" not in new


def test_a_measurement_within_the_threshold_is_stored_without_an_alert(
    ctx: ServiceContext, episode: int
) -> None:
    # 20 mL expected, 19 measured: a gap of exactly 1 mL is not above the 20-mL threshold.
    draft = refill(post_refill_volume_ml=19.0)
    assert preview_refill(ctx, episode, draft).pocket_fill_alert is None
    fill_id = record_refill(ctx, episode, draft)
    assert stored(ctx, fill_id) == (19.0, None)
    assert audit_new(ctx, "fill.refill")["post_refill_volume_ml"] == 19.0
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    assert view.latest_fill.post_refill_volume_ml == 19.0
    assert view.latest_fill.pocket_fill_alert is None


def test_the_alert_is_previewed_and_refused_until_observation_is_confirmed(
    ctx: ServiceContext, episode: int
) -> None:
    draft = refill(post_refill_volume_ml=18.5)  # 1.5 mL missing from a 20-mL pump
    preview = preview_refill(ctx, episode, draft)
    assert preview.pocket_fill_alert is not None
    assert preview.pocket_fill_alert.startswith("Possible pocket fill: 1.5 mL injected")
    # The refill itself checks out: the dates are still computed for the dialog.
    assert preview.projection is not None
    assert set(preview.errors) == {"observation_started"}

    before = count(ctx, Fill), count(ctx, AuditEntry)
    with pytest.raises(ValidationError) as refused:
        record_refill(ctx, episode, draft, expected_version=pump_version(ctx, episode))
    assert set(refused.value.field_errors) == {"observation_started"}
    assert (count(ctx, Fill), count(ctx, AuditEntry)) == before


def test_a_confirmed_alert_is_stored_audited_and_shown_with_the_fill(
    ctx: ServiceContext, episode: int
) -> None:
    draft = refill(post_refill_volume_ml=18.5, observation_started=True)
    fill_id = record_refill(ctx, episode, draft, expected_version=pump_version(ctx, episode))
    volume, alert = stored(ctx, fill_id)
    assert volume == 18.5
    assert alert is not None and "threshold 1 mL for a 20 mL pump" in alert
    new = audit_new(ctx, "fill.refill")
    assert new["post_refill_volume_ml"] == 18.5
    assert new["pocket_fill_alert"] == alert
    assert new["observation_started"] is True
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    assert view.latest_fill.id == fill_id
    assert view.latest_fill.pocket_fill_alert == alert
    assert view.latest_fill.post_refill_volume_ml == 18.5


def test_a_measurement_above_the_reservoir_is_refused(ctx: ServiceContext, episode: int) -> None:
    with pytest.raises(ValidationError) as refused:
        record_refill(ctx, episode, refill(post_refill_volume_ml=21.0))
    assert "reservoir" in refused.value.field_errors["post_refill_volume_ml"]
    assert count(ctx, Fill) == 1


def test_a_forty_ml_pump_alerts_above_two_ml(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx, "R-40")
    record_implant(
        ctx,
        ImplantDraft(
            episode_id, ISOMED, "SN-40", 40.0, None, True, IMPLANT, morphine_fill(IMPLANT)
        ),
    )
    # The expected 10 mL aspirated, 40 mL added: 40 mL should be in the reservoir.
    within = refill(added_ml=40.0, post_refill_volume_ml=38.0)
    assert preview_refill(ctx, episode_id, within).pocket_fill_alert is None
    beyond = replace(within, post_refill_volume_ml=37.9)
    alert = preview_refill(ctx, episode_id, beyond).pocket_fill_alert
    assert alert is not None and "threshold 2 mL for a 40 mL pump" in alert
    fill_id = record_refill(ctx, episode_id, replace(beyond, observation_started=True))
    assert stored(ctx, fill_id) == (37.9, alert)


def test_a_correction_adds_the_measurement_and_needs_the_confirmation_too(
    ctx: ServiceContext, episode: int
) -> None:
    first = record_refill(ctx, episode, refill())
    corrected = refill(post_refill_volume_ml=17.0)
    with pytest.raises(ValidationError) as refused:
        correct_fill(ctx, first, corrected, "Measured after the refill", expected_version=None)
    assert set(refused.value.field_errors) == {"observation_started"}

    new_id = correct_fill(
        ctx,
        first,
        replace(corrected, observation_started=True),
        "Measured after the refill",
        expected_version=pump_version(ctx, episode),
    )
    volume, alert = stored(ctx, new_id)
    assert volume == 17.0 and alert is not None and "3 mL injected" in alert
    new = audit_new(ctx, "fill.corrected")
    assert new["post_refill_volume_ml"] == 17.0 and new["pocket_fill_alert"] == alert
    assert new["observation_started"] is True
    old = json.loads(_detail(ctx, "fill.corrected"))["old"]
    assert old["post_refill_volume_ml"] is None and old["pocket_fill_alert"] is None


def _detail(ctx: ServiceContext, action: str) -> str:
    with ctx.db.reading() as session:
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == action)
        ).first()
    assert detail is not None
    return detail


def test_a_lower_measurement_brings_the_refill_date_forward(
    ctx: ServiceContext, episode: int
) -> None:
    """Less drug reached the reservoir than was injected: it runs dry sooner. The date comes
    from the measured volume (1.5 mL at 0.5 mL/day nominal: 3 days earlier at most, less at
    the worst-case flow), and the next refill is reconciled against it."""
    computed = preview_refill(ctx, episode, refill())
    measured = preview_refill(ctx, episode, refill(post_refill_volume_ml=18.5))
    assert computed.projection is not None and measured.projection is not None
    assert measured.volume_in_reservoir_ml == 18.5
    assert computed.volume_in_reservoir_ml == 20.0
    assert computed.projection.empty_by_nominal - measured.projection.empty_by_nominal == (
        timedelta(days=3)
    )
    assert measured.projection.due_at < computed.projection.due_at
    # A measurement at or above the computed volume is noise: the computed volume stands.
    higher = preview_refill(ctx, episode, refill(post_refill_volume_ml=20.0))
    assert higher.volume_in_reservoir_ml == 20.0
    fill_id = record_refill(
        ctx, episode, refill(post_refill_volume_ml=18.5, observation_started=True)
    )
    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None and row.volume_after_ml == 18.5
        assert row.due_at is not None
        due_at = row.due_at
    assert due_at.replace(tzinfo=UTC) == measured.projection.due_at


def test_the_next_refill_is_reconciled_against_the_measured_volume(
    ctx: ServiceContext, episode: int
) -> None:
    record_refill(ctx, episode, refill(post_refill_volume_ml=18.5, observation_started=True))
    later = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # 20 days at 0.5 mL/day: 10 mL used
    preview = preview_refill(ctx, episode, refill(filled_at=later, aspirated_ml=8.5))
    assert preview.expected_residual_ml == pytest.approx(8.5)
    assert preview.reconciliation is not None and not preview.reconciliation.flagged
