"""Refill services: implant and initial fill, refills with reconciliation and safety checks,
corrections, the exposure log, and the refill worklist's levels and order.

Clock: 2026-11-26 10:00 UTC (TZ=UTC). Hand-computed numbers use an IsoMed 8472-20-05
(20 mL, 0.5 mL/day, tolerance 10 %, reserve 2 mL) and the 4-day buffer of the template.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import ExposureDraft, ImplantDraft
from pathway_app.domain.refills import Explanation
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import RefillLevel, pump_view, refill_worklist
from pathway_app.services.refills import (
    correct_fill,
    log_exposure,
    preview_refill,
    record_implant,
    record_refill,
)
from pathway_app.services.views import episode_view
from pathway_app.storage.orm import AuditEntry, Fill, ImplantedPump
from tests.factories import morphine_fill

ISOMED = "isomed-8472-20-05"
IMPLANT = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
# 18 mL usable / (0.5 × 1.1) mL/day = 32.727 days, minus the 4-day buffer.
FIRST_DUE = IMPLANT + timedelta(days=18 / 0.55 - 4)


def make_episode(
    ctx: ServiceContext, mrn: str = "R-1", *, drug: str = "morphine", family: str = "Doe"
) -> int:
    patient = register_patient(ctx, PatientDraft(mrn, family, "Jo", date(1960, 5, 1)))
    indication = "spasticity-spinal" if drug == "baclofen" else "noncancer-pain"
    return open_episode(
        ctx,
        EpisodeDraft(patient, indication, drug, ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"),
    )


fill = morphine_fill


def implant(
    ctx: ServiceContext, episode_id: int, at: datetime = IMPLANT, **fill_changes: object
) -> int:
    return record_implant(
        ctx,
        ImplantDraft(
            episode_id=episode_id,
            model_key=ISOMED,
            serial="SN-1",
            reservoir_ml=None,
            nominal_flow_ml_per_day=None,
            read_from_label=False,
            implanted_at=at,
            fill=fill(at, **fill_changes),
        ),
    )


def count(ctx: ServiceContext, model: type) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def audit_actions(ctx: ServiceContext) -> list[str]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- implant and initial fill ---------------------------------------------------------------


def test_implant_sets_the_first_refill_date_from_the_engine(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)

    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.due_at == FIRST_DUE  # 2026-10-30 03:27 UTC
    assert pump.due_on == date(2026, 10, 30)
    assert pump.empty_by_nominal_at == IMPLANT + timedelta(days=40)
    assert pump.empty_by_worst_at == IMPLANT + timedelta(days=20 / 0.55)
    # The IsoMed's flow and tolerance are unverified catalogue defaults: the date says so.
    assert set(pump.projection_unverified) == {"nominal_flow_ml_per_day", "tolerance_pct"}
    assert {"reservoir_ml", "nominal_flow_ml_per_day"} <= pump.unverified
    milestone = next(
        m
        for s in episode_view(ctx, episode_id).stages
        for m in s.milestones
        if m.key == "first-refill"
    )
    assert milestone.due_on == date(2026, 10, 30)
    assert audit_actions(ctx)[-2:] == ["pump.implanted", "fill.initial"]


def test_values_read_from_the_label_are_verified_and_override_the_catalogue(
    ctx: ServiceContext,
) -> None:
    episode_id = make_episode(ctx)
    record_implant(
        ctx,
        ImplantDraft(
            episode_id, ISOMED, "SN-2", 20.0, 0.4, True, IMPLANT, fill(IMPLANT, added_ml=18.0)
        ),
    )
    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.nominal_flow_ml_per_day == 0.4
    assert "nominal_flow_ml_per_day" not in pump.unverified
    assert "nominal_flow_ml_per_day" not in pump.projection_unverified
    assert pump.due_at == IMPLANT + timedelta(days=16 / 0.44 - 4)


def test_a_model_without_a_catalogue_flow_needs_it_from_the_label(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    draft = ImplantDraft(
        episode_id, "codman-3000-16", "SN", None, None, False, IMPLANT, fill(IMPLANT, added_ml=16.0)
    )
    with pytest.raises(ValidationError) as caught:
        record_implant(ctx, draft)
    assert "label" in caught.value.field_errors["nominal_flow_ml_per_day"]
    assert count(ctx, ImplantedPump) == 0


def test_a_second_implant_on_the_episode_is_refused(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    with pytest.raises(InvalidTransition):
        implant(ctx, episode_id)


# --- refills --------------------------------------------------------------------------------

REFILL_AT = IMPLANT + timedelta(days=20)  # expected residual 20 − 0.5 × 20 = 10 mL


def test_refill_stores_the_reconciliation_and_moves_the_due_date(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    fill_id = record_refill(ctx, episode_id, fill(REFILL_AT, aspirated_ml=9.5))

    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None
        assert row.expected_residual_ml == pytest.approx(10.0)
        assert row.discrepancy_ml == pytest.approx(-0.5)
        assert row.actual_flow_ml_per_day == pytest.approx(10.5 / 20)
        assert row.flow_error_pct == pytest.approx(5.0)
        assert not row.flagged
    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.last_fill_at == REFILL_AT
    assert pump.due_at == REFILL_AT + timedelta(days=18 / 0.55 - 4)
    milestone = next(
        m
        for s in episode_view(ctx, episode_id).stages
        for m in s.milestones
        if m.key == "first-refill"
    )
    assert milestone.state == "done"
    assert milestone.done_at == REFILL_AT
    assert "fill.refill" in audit_actions(ctx)


def test_a_flagged_refill_needs_an_explanation(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    draft = fill(REFILL_AT, aspirated_ml=6.0)  # 4 mL less than expected

    preview = preview_refill(ctx, episode_id, draft)
    assert preview.flagged
    assert preview.expected_residual_ml == pytest.approx(10.0)
    assert "explanation" in preview.errors
    with pytest.raises(ValidationError) as caught:
        record_refill(ctx, episode_id, draft)
    assert set(caught.value.field_errors) == {"explanation"}
    assert count(ctx, Fill) == 1

    fill_id = record_refill(ctx, episode_id, replace(draft, explanation=Explanation.FEVER_HEAT))
    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None and row.flagged and row.explanation == "fever_heat"
        assert json.loads(row.flag_reasons)


def test_other_explanation_needs_words(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    with pytest.raises(ValidationError) as caught:
        record_refill(
            ctx, episode_id, fill(REFILL_AT, aspirated_ml=6.0, explanation=Explanation.OTHER)
        )
    assert "explanation_note" in caught.value.field_errors


def test_overfill_is_refused_and_nothing_is_written(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    audits = len(audit_actions(ctx))
    with pytest.raises(ValidationError) as caught:
        record_refill(
            ctx, episode_id, fill(REFILL_AT, aspirated_ml=10.0, residual_left_ml=2.0, added_ml=19.0)
        )
    assert "Overfill" in caught.value.field_errors["added_ml"]
    assert count(ctx, Fill) == 1
    assert len(audit_actions(ctx)) == audits
    pump = pump_view(ctx, episode_id)
    assert pump is not None and pump.last_fill_at == IMPLANT


def test_unit_mismatch_is_refused(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    with pytest.raises(ValidationError) as caught:
        record_refill(
            ctx, episode_id, fill(REFILL_AT, aspirated_ml=10.0, concentration_unit="mcg/mL")
        )
    assert "concentration_unit" in caught.value.field_errors


def test_dose_above_the_maximum_needs_confirmation_and_a_reason(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    strong = fill(REFILL_AT, aspirated_ml=10.0, concentration=40.0)  # 20 mg/day > 15 mg/day
    with pytest.raises(ValidationError) as caught:
        record_refill(ctx, episode_id, strong)
    assert "confirm_over_max" in caught.value.field_errors
    with pytest.raises(ValidationError) as caught:
        record_refill(ctx, episode_id, replace(strong, confirm_over_max=True))
    assert "over_max_reason" in caught.value.field_errors
    fill_id = record_refill(
        ctx, episode_id, replace(strong, confirm_over_max=True, over_max_reason="Palliative")
    )
    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None and row.over_max_confirmed and row.over_max_reason == "Palliative"


def test_second_checker_is_required(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    with pytest.raises(ValidationError) as caught:
        record_refill(ctx, episode_id, fill(REFILL_AT, aspirated_ml=10.0, second_checker=" "))
    assert "second_checker" in caught.value.field_errors


def test_residual_left_in_the_pump_mixes_with_the_new_drug(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)  # 10 mg/mL
    fill_id = record_refill(
        ctx,
        episode_id,
        fill(REFILL_AT, aspirated_ml=8.0, residual_left_ml=2.0, added_ml=18.0, concentration=12.0),
    )
    with ctx.db.reading() as session:
        row = session.get(Fill, fill_id)
        assert row is not None
        assert row.effective_concentration == pytest.approx((10 * 2 + 12 * 18) / 20)
        assert row.residual_concentration == 10.0


# --- corrections ----------------------------------------------------------------------------


def test_a_correction_is_a_new_entry_and_the_projection_follows_it(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    first = record_refill(ctx, episode_id, fill(REFILL_AT, aspirated_ml=10.0))
    with pytest.raises(ValidationError) as caught:
        correct_fill(ctx, first, fill(REFILL_AT, aspirated_ml=10.0, added_ml=15.0), " ")
    assert "correction_reason" in caught.value.field_errors

    corrected = correct_fill(
        ctx, first, fill(REFILL_AT, aspirated_ml=10.0, added_ml=15.0), "Only 15 mL was drawn up."
    )

    with ctx.db.reading() as session:
        old, new = session.get(Fill, first), session.get(Fill, corrected)
        assert old is not None and new is not None
        assert old.added_ml == 20.0 and old.superseded_by_id == corrected
        assert new.corrects_id == first and new.correction_reason == "Only 15 mL was drawn up."
    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.due_at == REFILL_AT + timedelta(days=13 / 0.55 - 4)
    assert [f.id for f in pump.fills if not f.in_force] == [first]
    assert "fill.corrected" in audit_actions(ctx)


def test_only_the_most_recent_fill_can_be_corrected(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    initial = pump_view(ctx, episode_id)
    assert initial is not None and initial.latest_fill is not None
    record_refill(ctx, episode_id, fill(REFILL_AT, aspirated_ml=10.0))
    with pytest.raises(InvalidTransition):
        correct_fill(ctx, initial.latest_fill.id, fill(IMPLANT), "typo")


def test_correcting_the_initial_fill_moves_the_first_refill_milestone(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    view = pump_view(ctx, episode_id)
    assert view is not None and view.latest_fill is not None
    correct_fill(ctx, view.latest_fill.id, fill(IMPLANT, added_ml=12.0), "Half-filled at implant")
    milestone = next(
        m
        for s in episode_view(ctx, episode_id).stages
        for m in s.milestones
        if m.key == "first-refill"
    )
    due = IMPLANT + timedelta(days=10 / 0.55 - 4)
    assert milestone.due_on == due.date()


# --- exposures ------------------------------------------------------------------------------


def test_exposure_without_a_factor_warns_and_keeps_the_date(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    log_exposure(ctx, ExposureDraft(episode_id, "fever", date(2026, 10, 10), date(2026, 10, 14)))
    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.due_at == FIRST_DUE
    assert any("exposure factor" in w for w in pump.warnings)
    assert "exposure.logged" in audit_actions(ctx)


def test_exposure_with_a_factor_brings_the_date_forward(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    with ctx.db.writing() as session:
        pump_row = session.scalars(select(ImplantedPump)).one()
        pump_row.exposure_factor = 1.2  # as if entered from the IFU
    log_exposure(ctx, ExposureDraft(episode_id, "altitude", date(2026, 10, 10), None))
    pump = pump_view(ctx, episode_id)
    assert pump is not None
    assert pump.due_at == IMPLANT + timedelta(days=18 / (0.55 * 1.2) - 4)


def test_exposure_before_the_current_fill_and_diving_do_not_change_the_date(
    ctx: ServiceContext,
) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    log_exposure(ctx, ExposureDraft(episode_id, "fever", date(2026, 9, 1), date(2026, 9, 5)))
    log_exposure(ctx, ExposureDraft(episode_id, "diving", date(2026, 10, 5), date(2026, 10, 6)))
    pump = pump_view(ctx, episode_id)
    assert pump is not None and not any("exposure" in w for w in pump.warnings)
    with pytest.raises(ValidationError):
        log_exposure(ctx, ExposureDraft(episode_id, "fever", date(2026, 10, 5), date(2026, 10, 1)))


# --- worklist -------------------------------------------------------------------------------


def test_worklist_levels_and_order(ctx: ServiceContext) -> None:
    now = ctx.now()
    # Each fill's due and urgent times are fixed offsets from the fill (20 mL at 0.5 mL/day):
    # due after 28.727 d, urgent (empty at worst case − 4 d buffer) after 32.364 d.
    due_after = timedelta(days=18 / 0.55 - 4)
    urgent_after = timedelta(days=20 / 0.55 - 4)
    cases = {
        "scheduled": now - due_after + timedelta(days=20),
        "soon-morphine": now - due_after + timedelta(days=5),
        "overdue": now - due_after - timedelta(days=2),
        "urgent": now - urgent_after - timedelta(hours=1),
    }
    ids = {}
    for index, (name, at) in enumerate(cases.items()):
        ids[name] = make_episode(ctx, f"W-{index}", family=name)
        implant(ctx, ids[name], at)
    # Same level, later due, but baclofen: dangerous withdrawal ranks first within the level.
    ids["soon-bupivacaine"] = make_episode(ctx, "W-9", drug="bupivacaine", family="bupi")
    implant(
        ctx,
        ids["soon-bupivacaine"],
        now - due_after + timedelta(days=1),
        drug_key="bupivacaine",
        concentration=5.0,
    )

    rows = refill_worklist(ctx)
    assert [r.episode_id for r in rows] == [
        ids["urgent"],
        ids["overdue"],
        ids["soon-morphine"],
        ids["soon-bupivacaine"],
        ids["scheduled"],
    ]
    assert [r.level for r in rows] == [
        RefillLevel.URGENT,
        RefillLevel.OVERDUE,
        RefillLevel.DUE_SOON,
        RefillLevel.DUE_SOON,
        RefillLevel.SCHEDULED,
    ]
    assert rows[2].dangerous_withdrawal and not rows[3].dangerous_withdrawal


def test_due_within_n_days_boundary(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id, ctx.now() - timedelta(days=18 / 0.55 - 4) + timedelta(days=14))
    (row,) = refill_worklist(ctx)
    assert row.due_on == date(2026, 12, 10)  # today + 14
    assert row.level is RefillLevel.DUE_SOON
    assert refill_worklist(ctx, due_within_days=13)[0].level is RefillLevel.SCHEDULED
    assert refill_worklist(ctx, due_within_days=14)[0].level is RefillLevel.DUE_SOON


def test_worklist_search_and_recording_a_refill_changes_the_order(ctx: ServiceContext) -> None:
    a = make_episode(ctx, "S-1", family="Alpha")
    b = make_episode(ctx, "S-2", family="Beta")
    implant(ctx, a, ctx.now() - timedelta(days=30))
    implant(ctx, b, ctx.now() - timedelta(days=20))
    assert [r.episode_id for r in refill_worklist(ctx)] == [a, b]
    assert [r.episode_id for r in refill_worklist(ctx, search="beta")] == [b]
    record_refill(ctx, a, fill(ctx.now() - timedelta(hours=1), aspirated_ml=5.0))
    assert [r.episode_id for r in refill_worklist(ctx)] == [b, a]


def test_demo_has_refill_histories(demo_copy: Path, ctx: ServiceContext) -> None:
    # demo_copy: the demo clinic seeded once per session (tests/conftest.py).
    rows = refill_worklist(ctx)
    levels = [r.level for r in rows]
    assert levels[0] is RefillLevel.URGENT
    assert "Baclofen" in rows[0].drug_name
    assert RefillLevel.OVERDUE in levels
    with ctx.db.reading() as session:
        assert session.scalar(select(func.count()).where(Fill.flagged)) == 1
        assert (session.scalar(select(func.count()).select_from(Fill)) or 0) > len(rows)
