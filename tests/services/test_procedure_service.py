"""Procedure services: refused while a gate blocks; steps in order mark the procedure
milestones; duration and antibiotic flags; the pump recorded through the refill service starts
the refill schedule; intra-operative events with the risk list's categories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.procedure import StepTime
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo_preparation import record_complete_preparation, record_operation
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.procedure import (
    EventDraft,
    ProcedureDraft,
    add_event,
    procedure_view,
    record_procedure_pump,
    save_procedure,
)
from pathway_app.services.refill_views import pump_view
from pathway_app.storage.orm import AuditEntry, Episode, Milestone

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)  # an operation that began two hours ago
ISOMED = "isomed-8472-20-05"


def make_episode(ctx: ServiceContext, mrn: str = "Q-1") -> int:
    patient = register_patient(ctx, PatientDraft(mrn, "Tanaka", "Ines", date(1970, 2, 3)))
    return open_episode(
        ctx,
        EpisodeDraft(patient, "cancer-pain", "morphine", ISOMED, NOW.date(), "Dr A", "hospital-or"),
    )


@pytest.fixture
def ready(ctx: ServiceContext, clock: FixedClock) -> int:
    episode_id = make_episode(ctx)
    record_complete_preparation(ctx, episode_id, START)
    return episode_id


def draft(**changes: object) -> ProcedureDraft:
    base = ProcedureDraft(
        anaesthesia="monitored-local",
        setting="hospital-or",
        personnel={"implanting-physician": ("Dr A",)},
        steps=(
            StepTime("incision", START),
            StepTime("pocket-creation", START + timedelta(minutes=20)),
        ),
        checklist=frozenset(),
        antibiotic="Cefazolin 2 g",
        antibiotic_at=START - timedelta(minutes=45),
        csf_flow_confirmed=False,
        catheter_tip_level="",
        pocket_depth_cm=None,
    )
    return ProcedureDraft(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def states(ctx: ServiceContext, episode_id: int) -> dict[str, str]:
    with ctx.db.reading() as session:
        rows = session.execute(
            select(Milestone.key, Milestone.state).where(Milestone.episode_id == episode_id)
        )
        return {key: state for key, state in rows}


def test_nothing_is_recorded_while_a_gate_blocks(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    with pytest.raises(InvalidTransition, match="readiness gates are unmet"):
        save_procedure(ctx, episode_id, draft())
    with pytest.raises(InvalidTransition):
        add_event(ctx, episode_id, EventDraft(NOW, "Bleeding", frozenset({"bleeding"})))
    assert not procedure_view(ctx, episode_id).recorded


def test_steps_mark_their_milestones_at_their_times(ctx: ServiceContext, ready: int) -> None:
    save_procedure(ctx, ready, draft())
    assert states(ctx, ready)["incision"] == "done"
    assert states(ctx, ready)["pocket-creation"] == "done"
    assert states(ctx, ready)["pump-placement"] == "planned"
    with ctx.db.reading() as session:
        done_at = session.scalars(
            select(Milestone.done_at).where(
                Milestone.episode_id == ready, Milestone.key == "incision"
            )
        ).one()
        stage = session.get(Episode, ready)
        assert stage is not None and stage.current_stage == "procedure"
    assert done_at == START
    # Taking a step back out reopens its milestone.
    save_procedure(ctx, ready, draft(steps=(StepTime("incision", START),)))
    assert states(ctx, ready)["pocket-creation"] == "planned"


def test_out_of_order_and_future_steps_are_refused(ctx: ServiceContext, ready: int) -> None:
    with pytest.raises(ValidationError) as info:
        save_procedure(
            ctx,
            ready,
            draft(
                steps=(
                    StepTime("incision", START),
                    StepTime("pocket-creation", START - timedelta(minutes=5)),
                    StepTime("pump-placement", NOW + timedelta(minutes=5)),
                )
            ),
        )
    errors = info.value.field_errors
    assert "before Incision" in errors["step.pocket-creation"]
    assert "future" in errors["step.pump-placement"]
    assert not procedure_view(ctx, ready).recorded


def test_duration_and_antibiotic_are_flagged(ctx: ServiceContext, ready: int) -> None:
    steps = tuple(
        StepTime(key, START + timedelta(minutes=m))
        for key, m in (
            ("incision", 0),
            ("pocket-creation", 5),
            ("pump-placement", 10),
            ("catheter-insertion", 20),
            ("testing", 30),
            ("closure", 40),
        )
    )
    save_procedure(ctx, ready, draft(steps=steps, antibiotic_at=START - timedelta(minutes=75)))
    view = procedure_view(ctx, ready)
    assert view.duration is not None and view.duration.duration == timedelta(minutes=40)
    assert view.duration.flag is not None and "shorter" in view.duration.flag
    assert view.antibiotic_check is not None and not view.antibiotic_check.ok
    assert any("more than 60 min" in f for f in view.flags)
    assert states(ctx, ready)["closure"] == "done"


def test_complete_checklist_marks_the_who_milestones(ctx: ServiceContext, ready: int) -> None:
    record_operation(ctx, ready, START)
    view = procedure_view(ctx, ready)
    assert all(p.complete for p in view.pauses)
    assert view.antibiotic_check is not None and view.antibiotic_check.ok
    marked = states(ctx, ready)
    assert marked["who-sign-in"] == marked["who-time-out"] == marked["who-sign-out"] == "done"
    assert "Record the pump and its initial fill" in " ".join(view.flags)


def test_the_pump_recorded_in_theatre_starts_the_refill_schedule(
    ctx: ServiceContext, ready: int
) -> None:
    fill = FillDraft(
        filled_at=START + timedelta(minutes=40),
        added_ml=20.0,
        drug_key="morphine",
        concentration=10.0,
        concentration_unit="mg/mL",
        operator="Dr A",
        second_checker="N. Berg",
        lot="LOT-7",
        expiry_on=date(2027, 5, 1),
        needle="Non-coring needle",
        location_method="template",
    )
    implant = ImplantDraft(ready, ISOMED, "SN-77", None, None, False, fill.filled_at, fill)
    pump_id = record_procedure_pump(ctx, implant)
    pump = pump_view(ctx, ready)
    assert pump is not None and pump.id == pump_id
    assert pump.latest_fill is not None and pump.latest_fill.kind == "initial"
    assert pump.due_at is not None  # the refill engine projected the first refill
    view = procedure_view(ctx, ready)
    assert view.pump is not None and view.pump.serial == "SN-77" and view.pump.volume_ml == 20.0
    assert "Free CSF flow is not confirmed." in view.flags
    with ctx.db.reading() as session:
        acts = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert acts[-3:] == ["pump.implanted", "fill.initial", "procedure.pump_recorded"]
    with pytest.raises(InvalidTransition, match="already recorded"):
        record_procedure_pump(ctx, implant)


def test_events_take_categories_from_the_risk_list(ctx: ServiceContext, ready: int) -> None:
    with pytest.raises(ValidationError) as info:
        add_event(ctx, ready, EventDraft(None, " ", frozenset({"no-such-thing"})))
    assert set(info.value.field_errors) == {"at", "text", "categories"}
    add_event(
        ctx,
        ready,
        EventDraft(
            START + timedelta(minutes=30), "CSF leak at the purse string.", frozenset({"csf-leak"})
        ),
    )
    (event,) = procedure_view(ctx, ready).events
    assert event.categories == ("Spinal-fluid (CSF) leak or positional headache",)
    assert event.recorded_by == "Nurse Tester"


def test_details_are_checked_per_field(ctx: ServiceContext, ready: int) -> None:
    with pytest.raises(ValidationError) as info:
        save_procedure(
            ctx,
            ready,
            draft(anaesthesia="hypnosis", personnel={}, pocket_depth_cm=-1.0, antibiotic=""),
        )
    errors = info.value.field_errors
    assert {
        "anaesthesia",
        "personnel.implanting-physician",
        "pocket_depth_cm",
        "antibiotic",
    } <= set(errors)
