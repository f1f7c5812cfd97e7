"""Demo data for the hospital stay and follow-up (issue 6), made through the same services a
coordinator uses, with the app clock set back to when each step would have happened.

Every operated demo episode gets an admission; those operated at least two days ago also a
complete discharge checklist, wound care instructions, a discharge and the accepted plan, and
the items due before today are recorded as done on their day, except on the first episode
discharged three weeks ago or more, whose wound check is left missed. One discharged episode
with no milestone date left has its plan not accepted yet. The next operated episode
gets one open complication and the one after it a ticked red flag (fever). Deterministic: no
randomness, only dates relative to the app clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.followup import FollowUpStatus, propose_plan
from pathway_app.domain.recovery import Complication
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import deferred_progress
from pathway_app.services.followup import (
    accept_plan,
    change_followup_status,
    log_complication,
    raise_red_flags,
)
from pathway_app.services.stay import (
    add_monitoring_note,
    discharge,
    operation_day,
    operation_moment,
    record_admission,
    record_wound_care,
    set_checklist_item,
)
from pathway_app.storage import followup_queries as fq
from pathway_app.storage import repository as repo

STAY_DAYS = 2
MISSED_AFTER_DAYS = 21


def _at(ctx: ServiceContext, moment: datetime) -> ServiceContext:
    """The same context with the clock at ``moment`` (never later than the real clock)."""
    return replace(ctx, clock=FixedClock(min(moment, ctx.now())))


def _day_at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def seed_followup_demo(ctx: ServiceContext, operated: list[int]) -> None:
    """Stay and follow-up records for the operated episodes (in the caller's transaction)."""
    today = ctx.today()
    missed_done = False
    skipped_plan = False
    extras: list[int] = []
    for episode_id in operated:
        with ctx.db.writing() as session:
            episode = repo.get_episode(session, episode_id)
            operated_at = operation_moment(session, episode)
            op_day = operation_day(session, episode)
        admitted_at = min(_day_at(op_day, 7), operated_at)
        discharge_at = _day_at(op_day + timedelta(days=STAY_DAYS), 10)
        if discharge_at > ctx.now():
            # Still in hospital: the admission and a first monitoring note.
            record_admission(_at(ctx, operated_at), episode_id, admitted_at)
            note_at = min(operated_at + timedelta(hours=4), ctx.now())
            add_monitoring_note(
                _at(ctx, note_at), episode_id, note_at, "Wound dry, no headache, pump in place."
            )
            continue
        back = _at(ctx, discharge_at)
        # Each episode's worklist fields are recomputed once per block (issue 9: fast seeding).
        with ctx.db.writing() as session, deferred_progress(session):
            record_admission(back, episode_id, admitted_at)
            add_monitoring_note(
                back,
                episode_id,
                operated_at + timedelta(hours=6),
                "No CSF leak; wound dry; observed overnight.",
            )
            record_wound_care(back, episode_id, "N. Berg", discharge_at - timedelta(hours=2))
            for item in ctx.recovery.discharge_checklist:
                set_checklist_item(back, episode_id, item.key, True)
            discharge(back, episode_id, discharge_at)
        with ctx.db.writing() as session:
            nothing_due = repo.get_episode(session, episode_id).next_due_on is None
        if nothing_due and not skipped_plan:
            # One discharged patient whose plan is not accepted yet ("Not now"): the
            # worklist keeps an episode with no date, and the plan button has work to do.
            skipped_plan = True
            continue
        # Reads join the seeding transaction (a reading session would not see its rows).
        with ctx.db.writing() as session:
            plan = propose_plan(
                op_day, ctx.recovery.followup, today=discharge_at.date(), drug=episode.drug
            )
        leave_missed = not missed_done and (today - op_day).days >= MISSED_AFTER_DAYS
        missed_done = missed_done or leave_missed
        with ctx.db.writing() as session, deferred_progress(session):
            accept_plan(back, episode_id, plan)
            items = [(e.id, e.key, e.due_on) for e in fq.followup_items(session, episode_id)]
            for item_id, key, due_on in items:  # by due date
                if due_on >= today:
                    break
                if leave_missed and key == "wound-check":
                    continue  # written as missed by the next item's sweep, or by the app's
                done_at = _day_at(due_on, 11)
                change_followup_status(
                    _at(ctx, done_at), item_id, FollowUpStatus.DONE, done_at=done_at
                )
        if not leave_missed:
            extras.append(episode_id)
    if extras:
        log_complication(
            ctx,
            extras[0],
            Complication(
                "seroma-hematoma-hygroma",
                min(today, _episode_day(ctx, extras[0]) + timedelta(days=5)),
                "moderate",
                "Compression dressing; review at the next visit.",
            ),
        )
    if len(extras) > 1:
        raise_red_flags(ctx, extras[1], ["fever"], note="38.4 °C since last night (phone call).")


def _episode_day(ctx: ServiceContext, episode_id: int) -> date:
    with ctx.db.writing() as session:
        return operation_day(session, repo.get_episode(session, episode_id))
