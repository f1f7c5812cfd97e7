"""Preparation services on a real database: records drive the gate milestones, the readiness
gate keeps the episode out of Procedure, the override, holds, fasting and test validity."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.readiness import FastState, HoldState, Intake, PreopTest
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo_preparation import record_complete_preparation, record_tests
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done, mark_skipped
from pathway_app.services.patients import register_patient
from pathway_app.services.preparation import (
    GateState,
    MedicationDraft,
    override_gates,
    preparation_view,
    save_fasting,
    save_medication,
    save_test,
    set_medication_review,
    sync_gates,
)
from pathway_app.storage.orm import AuditEntry, Episode, Milestone
from pathway_app.storage.orm_preparation import MedicationRecord

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
START = NOW + timedelta(hours=3)  # the operation this afternoon


def make_episode(ctx: ServiceContext, mrn: str = "P-1", indication: str = "noncancer-pain") -> int:
    patient = register_patient(ctx, PatientDraft(mrn, "Haddad", "Rosa", date(1961, 3, 4)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient, indication, "morphine", "isomed-8472-20-05", NOW.date(), "Dr A", "hospital-or"
        ),
    )


def milestones(ctx: ServiceContext, episode_id: int) -> dict[str, Milestone]:
    with ctx.db.reading() as session:
        rows = session.scalars(select(Milestone).where(Milestone.episode_id == episode_id)).all()
        for row in rows:
            session.expunge(row)
        return {m.key: m for m in rows}


def stage(ctx: ServiceContext, episode_id: int) -> str | None:
    with ctx.db.reading() as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        return row.current_stage


def actions(ctx: ServiceContext) -> list[str]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_complete_preparation_marks_every_gate_done_and_moves_to_procedure(
    ctx: ServiceContext,
) -> None:
    episode_id = make_episode(ctx)
    record_complete_preparation(ctx, episode_id, START)
    view = preparation_view(ctx, episode_id)
    assert view.may_proceed and view.check.readiness.ready
    assert {g.state for g in view.gates} == {GateState.MET}
    gates = [m for m in milestones(ctx, episode_id).values() if m.gate]
    assert len(gates) == 8
    assert all(m.state == "done" and m.done_by == "Nurse Tester" for m in gates)
    assert stage(ctx, episode_id) == "procedure"
    assert actions(ctx).count("milestone.done") == 8


def test_an_unmet_gate_refuses_the_procedure_with_the_reasons(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    record_tests(ctx, episode_id, NOW.date() - timedelta(days=3))
    keys = milestones(ctx, episode_id)
    with pytest.raises(InvalidTransition) as info:
        mark_done(ctx, keys["who-sign-in"].id)
    message = str(info.value)
    assert "cannot move to the Procedure stage" in message
    assert "Consent signed: Consent not recorded." in message
    assert "Fasting" in message and "MRI" not in message  # the MRI is reviewed and valid
    assert stage(ctx, episode_id) == "preparation"
    assert milestones(ctx, episode_id)["who-sign-in"].state == "planned"
    assert milestones(ctx, episode_id)["mri-spine"].state == "done"


def test_override_needs_a_reason_lets_the_episode_proceed_and_is_kept(
    ctx: ServiceContext, clock: FixedClock
) -> None:
    episode_id = make_episode(ctx)
    with pytest.raises(ValidationError) as info:
        override_gates(ctx, episode_id, "  ", "")
    assert set(info.value.field_errors) == {"override_reason", "override_by"}
    override_id = override_gates(ctx, episode_id, "Emergency replacement of a failed pump.", "Dr B")
    view = preparation_view(ctx, episode_id)
    assert view.may_proceed and not view.check.readiness.ready
    assert view.check.override is not None and view.check.override.id == override_id
    assert {g.state for g in view.gates} == {GateState.OVERRIDDEN}
    assert stage(ctx, episode_id) == "procedure"
    mark_done(ctx, milestones(ctx, episode_id)["who-sign-in"].id)
    with ctx.db.reading() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "readiness.overridden")
        ).one()
        detail, actor = json.loads(entry.detail), entry.actor
    assert detail["new"]["reason"] == "Emergency replacement of a failed pump."
    assert "consent" in detail["new"]["gates"]
    assert actor == "Nurse Tester"


def test_a_gate_unmet_after_the_override_needs_a_new_one(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    record_complete_preparation(ctx, episode_id, START)
    # Everything but the medication list is met; the override covers only that gate.
    set_medication_review(ctx, episode_id, False, True)
    assert stage(ctx, episode_id) == "preparation"
    override_gates(ctx, episode_id, "Medication list confirmed by phone.", "Dr B")
    assert stage(ctx, episode_id) == "procedure"
    save_fasting(ctx, episode_id, START, ())  # intakes cleared: fasting is unmet now
    view = preparation_view(ctx, episode_id)
    assert not view.may_proceed
    assert [g.key for g in view.check.blocking] == ["fasting"]
    assert stage(ctx, episode_id) == "preparation"
    assert len(view.override_history) == 1


def test_moving_the_start_re_evaluates_fasting_and_reopens_the_gate(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    record_complete_preparation(ctx, episode_id, START)
    intakes = preparation_view(ctx, episode_id).intakes
    assert milestones(ctx, episode_id)["fasting"].state == "done"
    earlier = START - timedelta(hours=4)  # 5 h after the last meal: too early
    save_fasting(ctx, episode_id, earlier, intakes)
    view = preparation_view(ctx, episode_id)
    assert view.fasting is not None and not view.fasting.met
    fatty = next(k for k in view.fasting.kinds if k.kind == "fatty_meal")
    assert fatty.state is FastState.NOT_MET
    assert view.fasting.earliest_start == START - timedelta(hours=1)
    assert milestones(ctx, episode_id)["fasting"].state == "planned"
    assert "milestone.reopened" in actions(ctx)
    assert stage(ctx, episode_id) == "preparation"


def test_future_intake_is_refused_and_nothing_is_written(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    before = actions(ctx)
    with pytest.raises(ValidationError) as info:
        save_fasting(ctx, episode_id, START, (Intake("clear_fluids", NOW + timedelta(hours=1)),))
    assert "future" in info.value.field_errors["clear_fluids"]
    assert actions(ctx) == before


def test_hold_verdicts_not_yet_and_needs_decision(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    save_fasting(ctx, episode_id, START, ())
    save_medication(
        ctx, episode_id, MedicationDraft("warfarin", "", NOW - timedelta(days=2), "Stop.")
    )
    clopidogrel = save_medication(
        ctx, episode_id, MedicationDraft("clopidogrel", "", NOW - timedelta(days=8), "Stopped.")
    )
    set_medication_review(ctx, episode_id, True, True)
    view = preparation_view(ctx, episode_id)
    verdicts = {m.drug_key: m.verdict for m in view.medications}
    warfarin, clop = verdicts["warfarin"], verdicts["clopidogrel"]
    assert warfarin is not None and warfarin.state is HoldState.NOT_YET
    assert warfarin.hold_until == NOW - timedelta(days=2) + timedelta(days=5)
    assert clop is not None and clop.state is HoldState.NEEDS_DECISION and clop.unverified
    save_medication(
        ctx,
        episode_id,
        MedicationDraft("clopidogrel", "", NOW - timedelta(days=8), "Stopped.", "Dr C", "Go ahead"),
        clopidogrel,
    )
    clop = {m.drug_key: m.verdict for m in preparation_view(ctx, episode_id).medications}[
        "clopidogrel"
    ]
    assert clop is not None and clop.state is HoldState.DECIDED
    with ctx.db.reading() as session:
        row = session.get(MedicationRecord, clopidogrel)
        assert row is not None and row.decision_at == NOW


def test_medication_validation_is_per_field(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    with pytest.raises(ValidationError) as info:
        save_medication(
            ctx,
            episode_id,
            MedicationDraft("other", "", NOW + timedelta(hours=1), "", "", "Continue"),
        )
    assert set(info.value.field_errors) == {"name", "last_dose_at", "decision_by"}


def test_an_expired_result_reopens_its_gate(ctx: ServiceContext, clock: FixedClock) -> None:
    episode_id = make_episode(ctx)
    save_test(
        ctx,
        episode_id,
        PreopTest(
            "mri-spine", date(2026, 1, 2), date(2026, 1, 5), "Clear", "Dr R", date(2026, 1, 6)
        ),
    )
    assert milestones(ctx, episode_id)["mri-spine"].state == "done"
    clock.set(datetime(2027, 1, 6, 9, 0, tzinfo=UTC))  # 366 days after the result
    view = preparation_view(ctx, episode_id)
    mri = next(t for t in view.tests if t.key == "mri-spine")
    assert mri.status.state.value == "expired"
    assert view.drift
    sync_gates(ctx, episode_id)
    assert milestones(ctx, episode_id)["mri-spine"].state == "planned"


def test_a_hand_mark_counts_without_a_record_but_not_against_one(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = milestones(ctx, episode_id)
    mark_done(ctx, keys["consent"].id)  # paper consent: an attestation
    gate = next(g for g in preparation_view(ctx, episode_id).gates if g.key == "consent")
    assert gate.state is GateState.ATTESTED and gate.marked_by == "Nurse Tester"
    save_test(ctx, episode_id, PreopTest("cbc", date(2026, 11, 20)))  # ordered, no result
    with pytest.raises(InvalidTransition, match="not met"):
        mark_done(ctx, keys["blood-tests"].id)
    with pytest.raises(InvalidTransition, match="not met"):
        mark_skipped(ctx, keys["blood-tests"].id, "Done elsewhere")
    assert milestones(ctx, episode_id)["blood-tests"].state == "planned"


def test_psych_gate_only_where_the_indication_requires_it(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx, "P-2", "spasticity-spinal")
    record_complete_preparation(ctx, episode_id, START)
    view = preparation_view(ctx, episode_id)
    assert "psych-evaluation" not in {g.key for g in view.gates}
    assert view.may_proceed and stage(ctx, episode_id) == "procedure"


def test_every_write_is_audited_with_old_and_new(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    save_fasting(ctx, episode_id, START, ())
    save_fasting(ctx, episode_id, START + timedelta(hours=1), ())
    with ctx.db.reading() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "preparation.fasting")
        ).all()
        last = json.loads(entries[-1].detail)
    assert last["old"]["procedure_start"] == str(START)
    assert last["new"]["procedure_start"] == str(START + timedelta(hours=1))
