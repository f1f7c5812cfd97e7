"""Follow-up services and their worklist integration: the proposed plan (refill visits from the
refill engine, not duplicated), accepting, adding, moving one occurrence or a whole series,
status changes, items missed by the app clock and their resolution, the complication log and
red flags on the worklist row, and closing an episode.

Clock: 2026-11-26 10:00 UTC (TZ=UTC). Operation (planned date) 2026-11-24, morphine, so the
plan is: wound check 2026-12-08 (window from 12-01), dose-adjustment review 2026-12-22,
pump-function checks 2027-02-24 then every 6 months (4), opioid dose-trend review 2027-11-24
then yearly (5).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.followup import FollowUpStatus
from pathway_app.domain.progress import DueStatus
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.recovery import Complication
from pathway_app.domain.refill_records import ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.followup import (
    accept_plan,
    add_followup,
    change_followup_status,
    close_episode,
    log_complication,
    move_followup,
    propose_followup_plan,
    raise_red_flags,
    resolve_missed_item,
    resolve_red_flag,
    sweep_missed,
    update_complication,
)
from pathway_app.services.followup_views import episode_timeline, followup_view
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import record_implant
from pathway_app.services.views import episode_view, worklist
from pathway_app.storage.orm import AuditEntry, Episode, Milestone
from pathway_app.storage.orm_followup import FollowUpEntry
from tests.factories import morphine_fill

OPERATION = date(2026, 11, 24)
WOUND_CHECK = date(2026, 12, 8)


def make_episode(ctx: ServiceContext, mrn: str = "F-1", family: str = "Follow") -> int:
    patient = register_patient(ctx, PatientDraft(mrn, family, "Fay", date(1960, 5, 1)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient,
            "noncancer-pain",
            "morphine",
            "isomed-8472-20-05",
            OPERATION,
            "Dr A",
            "hospital-or",
        ),
    )


def accepted(ctx: ServiceContext, episode_id: int) -> list[int]:
    return accept_plan(ctx, episode_id, propose_followup_plan(ctx, episode_id).items)


def row_of(ctx: ServiceContext, episode_id: int, **filters: object):
    rows = [r for r in worklist(ctx, **filters) if r.episode_id == episode_id]  # type: ignore[arg-type]
    return rows[0] if rows else None


def item_named(ctx: ServiceContext, episode_id: int, purpose: str, occurrence: int | None = None):
    return next(
        i
        for i in followup_view(ctx, episode_id).items
        if i.purpose.startswith(purpose) and (occurrence is None or i.occurrence == occurrence)
    )


def set_clock(ctx: ServiceContext, moment: datetime) -> None:
    ctx.clock.set(moment)  # type: ignore[attr-defined]


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    return make_episode(ctx)


# --- the plan -------------------------------------------------------------------------------


def test_the_proposed_plan_counts_from_the_operation_and_leaves_refills_to_the_engine(
    ctx: ServiceContext, episode: int
) -> None:
    proposal = propose_followup_plan(ctx, episode)
    assert proposal.operation_on == OPERATION and not proposal.already_accepted
    firsts = [(i.purpose, i.due_on) for i in proposal.items if (i.occurrence or 0) == 0]
    assert firsts[:3] == [
        ("Wound check", WOUND_CHECK),
        ("Dose-adjustment review", date(2026, 12, 22)),
        ("Pump-function check", date(2027, 2, 24)),
    ]
    assert proposal.items[0].window_opens_on == date(2026, 12, 1)
    assert not any("refill" in i.purpose.lower() for i in proposal.items)
    assert proposal.refill_due_on is None  # no pump recorded yet
    assert proposal.marks["wound-check"] == "unverified"
    assert proposal.marks["dose-adjustment"] == "clinic default"


def test_the_next_refill_in_the_plan_comes_from_the_refill_engine(
    ctx: ServiceContext, episode: int
) -> None:
    implanted = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    fill = morphine_fill(implanted)
    record_implant(
        ctx,
        ImplantDraft(episode, "isomed-8472-20-05", "SN-1", None, None, False, implanted, fill),
    )
    proposal = propose_followup_plan(ctx, episode)
    # 18 mL usable / (0.5 × 1.1) mL/day = 32.7 days, minus the 4-day buffer.
    expected = implanted + timedelta(days=18 / 0.55 - 4)
    assert proposal.refill_due_at == expected
    assert followup_view(ctx, episode).refill_due_at == expected


def test_accepting_the_plan_stores_it_once_with_an_audit_entry(
    ctx: ServiceContext, episode: int
) -> None:
    ids = accepted(ctx, episode)
    assert len(ids) == 2 + 4 + 5
    view = followup_view(ctx, episode)
    assert view.plan_accepted
    assert all(i.status is FollowUpStatus.PLANNED for i in view.items)
    assert item_named(ctx, episode, "Pump-function check", 3).series_size == 4
    with ctx.db.reading() as session:
        detail = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "followup.plan_accepted")
        ).one()
    assert len(json.loads(detail)["new"]["items"]) == 11
    with pytest.raises(InvalidTransition):
        accepted(ctx, episode)


def test_a_plan_item_in_the_past_must_be_moved_or_left_out(
    ctx: ServiceContext, episode: int
) -> None:
    set_clock(ctx, datetime(2026, 12, 10, 10, 0, tzinfo=UTC))
    with pytest.raises(ValidationError) as err:
        accepted(ctx, episode)
    assert "Wound check" in err.value.field_errors["items"]
    items = [i for i in propose_followup_plan(ctx, episode).items if i.key != "wound-check"]
    assert len(accept_plan(ctx, episode, items)) == 10


def test_the_worklist_shows_the_next_follow_up_item(ctx: ServiceContext, episode: int) -> None:
    accepted(ctx, episode)
    with ctx.db.writing() as session:  # finish the pathway's milestones
        for m in session.scalars(select(Milestone).where(Milestone.episode_id == episode)):
            m.state = "done"
    # A bare state change in SQL does not refresh the row; a real action does.
    add_followup(ctx, episode, "Phone call", date(2026, 12, 30))
    row = row_of(ctx, episode)
    assert row is not None
    assert (row.next_action, row.next_due_on, row.next_action_kind) == (
        "Wound check",
        WOUND_CHECK,
        "followup",
    )
    assert row.status is DueStatus.DUE_SOON  # 12 days ahead, within due_soon_days (14)
    # The episode's header says the same as its worklist row.
    view = episode_view(ctx, episode)
    assert (view.next_action, view.next_due_on, view.next_action_kind, view.due_status) == (
        row.next_action,
        row.next_due_on,
        row.next_action_kind,
        row.status,
    )


# --- missed items ---------------------------------------------------------------------------


def test_an_item_past_its_due_day_is_missed_by_the_clock_and_never_filtered_out(
    ctx: ServiceContext, episode: int
) -> None:
    accepted(ctx, episode)
    set_clock(ctx, datetime(2026, 12, 8, 23, 59, 59, tzinfo=UTC))
    assert item_named(ctx, episode, "Wound check").status is FollowUpStatus.PLANNED

    set_clock(ctx, datetime(2026, 12, 9, 0, 0, tzinfo=UTC))
    # Shown as missed at once, before any write.
    assert item_named(ctx, episode, "Wound check").status is FollowUpStatus.MISSED
    row = row_of(ctx, episode)
    assert row is not None and row.next_action_kind == "missed"
    assert row.next_action == "Wound check" and row.status is DueStatus.OVERDUE
    view = episode_view(ctx, episode)
    assert (view.next_action, view.next_action_kind, view.due_status) == (
        "Wound check",
        "missed",
        DueStatus.OVERDUE,
    )
    # No stage or status filter hides it.
    for status in DueStatus:
        assert row_of(ctx, episode, status=status) is not None, status
    for stage in ctx.template.stages:
        assert row_of(ctx, episode, stage=stage.key) is not None, stage.key
    assert row_of(ctx, episode, stage="procedure", status=DueStatus.NO_DATE) is not None
    # A search for another patient still narrows the list.
    assert row_of(ctx, episode, search="nobody-called-this") is None


def test_the_sweep_writes_missed_items_once_and_resolving_needs_a_reason(
    ctx: ServiceContext, episode: int
) -> None:
    accepted(ctx, episode)
    set_clock(ctx, datetime(2026, 12, 9, 8, 0, tzinfo=UTC))
    assert sweep_missed(ctx) == 1
    assert sweep_missed(ctx) == 0
    item = item_named(ctx, episode, "Wound check")
    assert item.missed_on == WOUND_CHECK
    with pytest.raises(InvalidTransition):
        change_followup_status(ctx, item.id, "done", done_at=ctx.now())
    with pytest.raises(ValidationError):
        resolve_missed_item(ctx, item.id, "booked", "", new_due_on=date(2026, 12, 11))
    resolve_missed_item(
        ctx, item.id, "booked", "Patient was ill; rebooked", new_due_on=date(2026, 12, 11)
    )
    again = item_named(ctx, episode, "Wound check")
    assert again.status is FollowUpStatus.BOOKED and again.due_on == date(2026, 12, 11)
    assert again.missed_on == WOUND_CHECK  # the history keeps the miss
    row = row_of(ctx, episode)
    assert row is not None and row.next_action_kind != "missed"
    with ctx.db.reading() as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("followup.missed") == 1 and actions[-1] == "followup.resolved"


def test_a_change_on_an_overdue_item_starts_from_what_the_clock_says(
    ctx: ServiceContext, episode: int
) -> None:
    accepted(ctx, episode)
    item = item_named(ctx, episode, "Wound check")
    set_clock(ctx, datetime(2026, 12, 10, 8, 0, tzinfo=UTC))
    # Not swept yet, but it is missed: booking it is refused, resolving it works.
    with pytest.raises(InvalidTransition, match="missed"):
        change_followup_status(ctx, item.id, "booked")
    resolve_missed_item(
        ctx, item.id, "done", "Seen by the GP", done_at=datetime(2026, 12, 9, 15, tzinfo=UTC)
    )
    with ctx.db.reading() as session:
        state = session.scalars(
            select(Milestone.state).where(
                Milestone.episode_id == episode, Milestone.key == "wound-check"
            )
        ).one()
    assert state == "done"  # the plan's wound check completes the pathway milestone


def test_status_changes_book_done_and_cancel_with_reason(ctx: ServiceContext, episode: int) -> None:
    accepted(ctx, episode)
    item = item_named(ctx, episode, "Dose-adjustment review")
    change_followup_status(ctx, item.id, "booked")
    assert item_named(ctx, episode, "Dose-adjustment review").status is FollowUpStatus.BOOKED
    with pytest.raises(ValidationError):
        change_followup_status(ctx, item.id, "cancelled")
    change_followup_status(ctx, item.id, "cancelled", reason="Dose stable; not needed")
    cancelled = item_named(ctx, episode, "Dose-adjustment review")
    assert cancelled.status is FollowUpStatus.CANCELLED
    assert cancelled.cancel_reason == "Dose stable; not needed"
    with pytest.raises(InvalidTransition):
        change_followup_status(ctx, item.id, "planned")
    wound = item_named(ctx, episode, "Wound check")
    with pytest.raises(ValidationError):
        change_followup_status(ctx, wound.id, "done", done_at=ctx.now() + timedelta(hours=1))
    change_followup_status(ctx, wound.id, "done", done_at=ctx.now())
    assert item_named(ctx, episode, "Wound check").status is FollowUpStatus.DONE


# --- moving and adding ----------------------------------------------------------------------


def test_move_one_occurrence_or_the_whole_series(ctx: ServiceContext, episode: int) -> None:
    accepted(ctx, episode)
    second = item_named(ctx, episode, "Pump-function check", 1)
    assert second.due_on == date(2027, 8, 24)
    move_followup(ctx, second.id, date(2027, 9, 1))
    dates = [item_named(ctx, episode, "Pump-function check", n).due_on for n in range(4)]
    assert dates == [date(2027, 2, 24), date(2027, 9, 1), date(2028, 2, 24), date(2028, 8, 24)]
    move_followup(ctx, second.id, date(2027, 9, 8), whole_series=True)
    dates = [item_named(ctx, episode, "Pump-function check", n).due_on for n in range(4)]
    # This and all following move by 7 days; the earlier one stays.
    assert dates == [date(2027, 2, 24), date(2027, 9, 8), date(2028, 3, 2), date(2028, 8, 31)]
    with pytest.raises(ValidationError):
        move_followup(ctx, second.id, date(2026, 11, 1))
    with ctx.db.reading() as session:
        text = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "followup.series_moved")
        ).one()
    detail = json.loads(text)
    assert [m["due_on"] for m in detail["new"]["moves"]] == [
        "2027-09-08",
        "2028-03-02",
        "2028-08-31",
    ]


def test_several_independent_follow_ups_and_a_recurring_one_added_by_hand(
    ctx: ServiceContext, episode: int
) -> None:
    accepted(ctx, episode)
    add_followup(ctx, episode, "Physiotherapy review", date(2026, 12, 3), notes="Gait")
    ids = add_followup(ctx, episode, "Pain diary call", date(2027, 1, 31), every_months=1, count=3)
    assert len(ids) == 3
    diary = [i for i in followup_view(ctx, episode).items if i.purpose == "Pain diary call"]
    assert [i.due_on for i in diary] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)]
    assert len({i.series_id for i in diary}) == 1
    row = row_of(ctx, episode)
    assert row is not None and row.next_due_on is not None
    with pytest.raises(ValidationError) as err:
        add_followup(ctx, episode, "", date(2026, 11, 1))
    assert set(err.value.field_errors) == {"purpose", "due_on"}


# --- complications and red flags --------------------------------------------------------------


def test_open_complications_show_on_the_worklist_row(ctx: ServiceContext, episode: int) -> None:
    first = log_complication(
        ctx, episode, Complication("csf-leak", date(2026, 11, 25), "mild", "Bed rest")
    )
    log_complication(ctx, episode, Complication("infection", date(2026, 11, 26), "severe"))
    row = row_of(ctx, episode)
    assert row is not None and row.open_complications == 2
    assert row.complication_summary.startswith("Infection at the incision or pump pocket (Severe)")
    with pytest.raises(ValidationError) as err:
        log_complication(ctx, episode, Complication("other", date(2026, 11, 1), "mild"))
    assert set(err.value.field_errors) == {"onset_on", "detail"}
    update_complication(
        ctx,
        first,
        Complication("csf-leak", date(2026, 11, 25), "mild", "Settled", date(2026, 11, 26)),
    )
    row = row_of(ctx, episode)
    assert row is not None and row.open_complications == 1
    assert "CSF" not in row.complication_summary


def test_a_ticked_red_flag_makes_an_urgent_item_first_on_the_worklist_until_resolved(
    ctx: ServiceContext, episode: int
) -> None:
    other = make_episode(ctx, "F-2", "Aaron")  # sorts first by name and date otherwise
    with pytest.raises(ValidationError):
        raise_red_flags(ctx, episode, [])
    ids = raise_red_flags(ctx, episode, ["fever", "incision-signs"], note="38.6 °C since today")
    rows = worklist(ctx)
    assert rows[0].episode_id == episode and rows[0].urgent
    assert rows[0].urgent_summary.startswith("Red flag: Redness")
    assert other in [r.episode_id for r in rows]
    # Filters never hide it.
    assert row_of(ctx, episode, status=DueStatus.ON_TRACK) is not None
    assert row_of(ctx, episode, stage="follow-up") is not None
    with pytest.raises(ValidationError):
        resolve_red_flag(ctx, ids[0], "")
    for report in ids:
        resolve_red_flag(ctx, report, "Seen in clinic; antibiotics started")
    row = row_of(ctx, episode)
    assert row is not None and not row.urgent
    with pytest.raises(InvalidTransition):
        resolve_red_flag(ctx, ids[0], "again")


# --- closing ----------------------------------------------------------------------------------


def test_closing_needs_a_reason_cancels_open_items_and_keeps_the_episode_searchable(
    ctx: ServiceContext, episode: int
) -> None:
    accepted(ctx, episode)
    with pytest.raises(ValidationError) as err:
        close_episode(ctx, episode, "", "")
    assert set(err.value.field_errors) == {"kind", "text"}
    raise_red_flags(ctx, episode, ["fever"])
    with pytest.raises(InvalidTransition, match="red flag"):
        close_episode(ctx, episode, "pump_explanted", "Infected pocket; explanted")
    flag = followup_view(ctx, episode).open_red_flags[0]
    resolve_red_flag(ctx, flag.id, "Admitted for explant")
    close_episode(ctx, episode, "pump_explanted", "Infected pocket; explanted 26/11")

    view = followup_view(ctx, episode)
    assert not view.is_open and view.closure is not None
    assert view.closure.label == "Pump explanted"
    assert all(i.status is FollowUpStatus.CANCELLED for i in view.items)
    assert row_of(ctx, episode) is None
    closed = row_of(ctx, episode, include_closed=True, search="Follow")
    assert closed is not None and closed.closed and not closed.urgent
    with pytest.raises(InvalidTransition):
        add_followup(ctx, episode, "Call", date(2026, 12, 1))
    with ctx.db.reading() as session:
        fields = session.get(Episode, episode)
        assert fields is not None and fields.followup_due_on is None
        left = session.scalars(
            select(FollowUpEntry.status).where(FollowUpEntry.episode_id == episode)
        ).all()
    assert set(left) == {"cancelled"}


def test_the_timeline_puts_everything_on_one_axis(ctx: ServiceContext, episode: int) -> None:
    accepted(ctx, episode)
    log_complication(ctx, episode, Complication("csf-leak", date(2026, 11, 25), "mild"))
    raise_red_flags(ctx, episode, ["fever"])
    timeline = episode_timeline(ctx, episode)
    lanes = {e.lane for e in timeline.events}
    assert {"milestone", "complication", "followup"} <= lanes
    days = [e.day for e in timeline.events]
    assert days == sorted(days)
    assert any(e.title == "Wound check" and e.day == WOUND_CHECK for e in timeline.future)
    assert any(e.state == "urgent" for e in timeline.past)
