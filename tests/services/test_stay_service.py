"""Hospital stay services: admission, restrictions, wound care, monitoring notes, the discharge
checklist and the discharge (blocked, overridden, completed), each audited with old and new
values, and the pathway milestones they complete.

Clock: 2026-11-26 10:00 UTC (TZ=UTC). The operation was planned on 2026-11-24.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.followup_views import stay_view
from pathway_app.services.patients import register_patient
from pathway_app.services.stay import (
    add_monitoring_note,
    discharge,
    record_admission,
    record_wound_care,
    set_checklist_item,
    set_restrictions,
)
from pathway_app.services.views import episode_view
from pathway_app.storage.orm import AuditEntry, Milestone

OPERATION = date(2026, 11, 24)
ADMITTED = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)


def make_episode(ctx: ServiceContext, mrn: str = "S-1", planned: date = OPERATION) -> int:
    patient = register_patient(ctx, PatientDraft(mrn, "Stay", "Sam", date(1960, 5, 1)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient,
            "noncancer-pain",
            "morphine",
            "isomed-8472-20-05",
            planned,
            "Dr A",
            "hospital-or",
        ),
    )


def audit_actions(ctx: ServiceContext) -> list[str]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def last_audit(ctx: ServiceContext, action: str) -> dict:
    with ctx.db.reading() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None, action
        return json.loads(entry.detail)


def milestone_state(ctx: ServiceContext, episode_id: int, key: str) -> str:
    with ctx.db.reading() as session:
        return session.scalars(
            select(Milestone.state).where(Milestone.episode_id == episode_id, Milestone.key == key)
        ).one()


def tick_all(ctx: ServiceContext, episode_id: int) -> None:
    for item in ctx.recovery.discharge_checklist:
        set_checklist_item(ctx, episode_id, item.key, True)


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    return make_episode(ctx)


def test_admission_creates_the_stay_with_default_restrictions_and_marks_the_milestone(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    view = stay_view(ctx, episode)
    assert view.admitted and view.admitted_at == ADMITTED
    # 8 weeks (clinic default) after the operation; the restrictions are shown until then.
    assert view.restrictions_end_on == date(2027, 1, 19)
    assert view.restrictions_active
    assert "No lifting more than 5 lb (about 2.3 kg)" in view.restrictions
    assert view.days == 2 and view.flag is None
    assert view.expected == "1-2 days" and view.expected_mark == "clinic default"
    assert milestone_state(ctx, episode, "admission") == "done"
    # The "restrictions lifted" milestone falls due on the restrictions' last day.
    with ctx.db.reading() as session:
        due = session.scalars(
            select(Milestone.due_on).where(
                Milestone.episode_id == episode, Milestone.key == "restrictions-end"
            )
        ).one()
    assert due == date(2027, 1, 19)
    assert last_audit(ctx, "stay.admitted")["new"]["admitted_at"].startswith("2026-11-24 07:30")


def test_admission_in_the_future_is_refused(ctx: ServiceContext, episode: int) -> None:
    with pytest.raises(ValidationError) as err:
        record_admission(ctx, episode, ctx.now() + timedelta(hours=1))
    assert "future" in err.value.field_errors["admitted_at"]
    assert stay_view(ctx, episode).admitted is False


def test_a_running_stay_is_flagged_from_the_midnight_that_makes_it_too_long(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    ctx.clock.set(datetime(2026, 11, 26, 23, 59, tzinfo=UTC))  # type: ignore[attr-defined]
    assert stay_view(ctx, episode).flag is None
    ctx.clock.set(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    flag = stay_view(ctx, episode).flag
    assert flag is not None and "3 days" in flag


def test_restrictions_can_be_adjusted_with_a_warning_outside_the_window(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    warning = set_restrictions(ctx, episode, date(2026, 12, 22), ["No lifting", "No bending"])
    assert warning is not None and "minimum of 6 weeks" in warning
    view = stay_view(ctx, episode)
    assert view.restrictions == ("No lifting", "No bending")
    assert view.restrictions_end_on == date(2026, 12, 22)
    detail = last_audit(ctx, "stay.restrictions")
    assert detail["old"]["restrictions_end_on"] == "2027-01-19"
    assert detail["new"]["restrictions_end_on"] == "2026-12-22"
    with pytest.raises(ValidationError) as err:
        set_restrictions(ctx, episode, OPERATION, [])
    assert set(err.value.field_errors) == {"restrictions", "restrictions_end_on"}


def test_restrictions_stop_showing_the_day_after_their_end(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    ctx.clock.set(datetime(2027, 1, 19, 22, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    assert stay_view(ctx, episode).restrictions_active
    ctx.clock.set(datetime(2027, 1, 20, 0, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    assert not stay_view(ctx, episode).restrictions_active


def test_wound_care_and_monitoring_notes_are_recorded_and_checked(
    ctx: ServiceContext, episode: int
) -> None:
    with pytest.raises(InvalidTransition):
        add_monitoring_note(ctx, episode, ctx.now(), "No CSF leak.")
    record_admission(ctx, episode, ADMITTED)
    add_monitoring_note(ctx, episode, ctx.now() - timedelta(hours=2), "Wound dry; no headache.")
    with pytest.raises(ValidationError) as err:
        add_monitoring_note(ctx, episode, ADMITTED - timedelta(hours=1), "")
    assert set(err.value.field_errors) == {"at", "text"}
    record_wound_care(ctx, episode, "N. Berg", ctx.now() - timedelta(hours=1), "Leaflet given")
    with pytest.raises(ValidationError) as err:
        record_wound_care(ctx, episode, "", None)
    assert "given_at" in err.value.field_errors
    view = stay_view(ctx, episode)
    assert view.wound_care_given_by == "N. Berg"
    assert [n.text for n in view.notes] == ["Wound dry; no headache."]
    assert view.notes[0].author == "Nurse Tester"


def test_discharge_is_blocked_while_checklist_items_are_open(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    set_checklist_item(ctx, episode, "wound-care-taught", True)
    with pytest.raises(ValidationError) as err:
        discharge(ctx, episode, ctx.now())
    message = err.value.field_errors["override_reason"]
    assert "5 checklist items open" in message and "Implant card issued" in message
    assert stay_view(ctx, episode).discharged_at is None
    assert milestone_state(ctx, episode, "discharge") == "planned"


def test_discharge_with_open_items_needs_a_reason_and_keeps_them(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    result = discharge(ctx, episode, ctx.now(), override_reason="Transferred to rehab at 9:00")
    assert result.overridden and len(result.open_items) == 6
    view = stay_view(ctx, episode)
    assert view.discharge_overridden
    assert view.discharge_override_reason == "Transferred to rehab at 9:00"
    new = last_audit(ctx, "stay.discharged_override")["new"]
    assert "implant-card-issued" in new["discharge_open_items"]
    # The teaching milestone stays open: it is the next thing to do.
    assert milestone_state(ctx, episode, "discharge-teaching") == "planned"
    assert milestone_state(ctx, episode, "discharge") == "done"


def test_discharge_with_the_checklist_complete_marks_the_milestones(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    tick_all(ctx, episode)
    set_checklist_item(ctx, episode, "implant-card-issued", False)
    set_checklist_item(ctx, episode, "implant-card-issued", True)
    discharged_at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    result = discharge(ctx, episode, discharged_at)
    assert not result.overridden
    view = stay_view(ctx, episode)
    assert view.discharged_at == discharged_at and view.days == 2 and view.flag is None
    assert milestone_state(ctx, episode, "discharge-teaching") == "done"
    assert milestone_state(ctx, episode, "discharge") == "done"
    actions = audit_actions(ctx)
    assert actions.count("stay.checklist_ticked") == 7
    assert "stay.checklist_unticked" in actions and actions[-1] == "stay.discharged"
    with pytest.raises(InvalidTransition):
        discharge(ctx, episode, ctx.now())
    with pytest.raises(InvalidTransition):
        set_checklist_item(ctx, episode, "wound-care-taught", False)
    history = [h.action for h in episode_view(ctx, episode).history]
    assert history[0] == "stay.discharged"


def test_discharge_before_admission_and_in_the_future_are_refused_with_every_problem(
    ctx: ServiceContext, episode: int
) -> None:
    record_admission(ctx, episode, ADMITTED)
    with pytest.raises(ValidationError) as err:
        discharge(ctx, episode, ADMITTED - timedelta(minutes=1))
    assert set(err.value.field_errors) == {"discharged_at", "override_reason"}
    with pytest.raises(ValidationError) as err:
        discharge(ctx, episode, ctx.now() + timedelta(minutes=1), "reason")
    assert "future" in err.value.field_errors["discharged_at"]


def test_unknown_checklist_item_is_refused(ctx: ServiceContext, episode: int) -> None:
    record_admission(ctx, episode, ADMITTED)
    with pytest.raises(ValidationError):
        set_checklist_item(ctx, episode, "not-an-item", True)
