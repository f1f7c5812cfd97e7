"""Read models of the hospital stay, follow-up and overview pages, and the episode timeline.
Built inside the session, so no ORM object reaches Qt.

Missed items are shown as missed as soon as their due day has passed by the app clock
(``evaluate_missed``), whether or not the sweep has written it yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from pathway_app.domain.followup import (
    CLOSE_KIND_LABELS,
    CloseKind,
    FollowUpStatus,
    evaluate_missed,
)
from pathway_app.domain.recovery import (
    Mark,
    expected_stay_text,
    restrictions_active,
    stay_days,
    stay_flag,
    validate_restriction_end,
)
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import item_of
from pathway_app.services.stay import operation_day
from pathway_app.storage import followup_queries as fq
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo

# --- hospital stay ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItemView:
    key: str
    name: str
    detail: str
    ticked: bool
    ticked_by: str | None
    ticked_at: datetime | None


@dataclass(frozen=True)
class NoteView:
    id: int
    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class StayView:
    """Attributes:
    admitted: an admission is recorded (the other stay fields are empty otherwise).
    days: days of stay so far (midnights), or of the finished stay.
    flag: the longer-than-expected warning, if any.
    expected: e.g. "1-2 days"; ``expected_mark`` says it is a clinic default.
    restrictions_active: shown until the end date passes.
    restrictions_warning: the end date is outside the sourced window.
    open_items: names of checklist items still open.
    """

    episode_id: int
    is_open: bool
    operation_on: date
    admitted: bool
    admitted_at: datetime | None
    discharged_at: datetime | None
    discharged_by: str | None
    days: int | None
    expected: str
    expected_mark: str
    flag: str | None
    restrictions: tuple[str, ...]
    restrictions_end_on: date | None
    restrictions_active: bool
    restrictions_warning: str | None
    default_restrictions: tuple[str, ...]
    checklist: tuple[ChecklistItemView, ...]
    discharge_overridden: bool
    discharge_override_reason: str
    wound_care_given_by: str | None
    wound_care_given_at: datetime | None
    wound_care_notes: str
    notes: tuple[NoteView, ...]

    @property
    def discharged(self) -> bool:
        return self.discharged_at is not None

    @property
    def open_items(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.checklist if not item.ticked)


def _mark_text(mark: Mark | None) -> str:
    return mark.value if mark is not None else ""


def stay_view(ctx: ServiceContext, episode_id: int) -> StayView:
    now, today = ctx.now(), ctx.today()
    config = ctx.recovery
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        operation_on = operation_day(session, episode)
        stay = fq.stay_of(session, episode_id)
        checks = {c.key: c for c in fq.discharge_checks(session, episode_id)}
        checklist = tuple(
            ChecklistItemView(
                key=item.key,
                name=item.name,
                detail=item.detail,
                ticked=item.key in checks,
                ticked_by=checks[item.key].ticked_by if item.key in checks else None,
                ticked_at=checks[item.key].ticked_at if item.key in checks else None,
            )
            for item in config.discharge_checklist
        )
        defaults = tuple(item.text for item in config.restrictions.items)
        expected = expected_stay_text(config.stay)
        mark = _mark_text(config.mark("stay.expected_max_days"))
        if stay is None:
            return StayView(
                episode_id=episode_id,
                is_open=episode.status == "open",
                operation_on=operation_on,
                admitted=False,
                admitted_at=None,
                discharged_at=None,
                discharged_by=None,
                days=None,
                expected=expected,
                expected_mark=mark,
                flag=None,
                restrictions=(),
                restrictions_end_on=None,
                restrictions_active=False,
                restrictions_warning=None,
                default_restrictions=defaults,
                checklist=checklist,
                discharge_overridden=False,
                discharge_override_reason="",
                wound_care_given_by=None,
                wound_care_given_at=None,
                wound_care_notes="",
                notes=(),
            )
        until = stay.discharged_at or max(now, stay.admitted_at)
        end_on = stay.restrictions_end_on
        warning = None
        if end_on is not None and end_on > operation_on:
            warning = validate_restriction_end(operation_on, end_on, config.restrictions)
        return StayView(
            episode_id=episode_id,
            is_open=episode.status == "open",
            operation_on=operation_on,
            admitted=True,
            admitted_at=stay.admitted_at,
            discharged_at=stay.discharged_at,
            discharged_by=stay.discharged_by,
            days=stay_days(stay.admitted_at, until),
            expected=expected,
            expected_mark=mark,
            flag=stay_flag(stay.admitted_at, stay.discharged_at, until, config.stay),
            restrictions=tuple(json.loads(stay.restrictions)),
            restrictions_end_on=end_on,
            restrictions_active=end_on is not None
            and restrictions_active(end_on, today, operation_on),
            restrictions_warning=warning,
            default_restrictions=defaults,
            checklist=checklist,
            discharge_overridden=stay.discharge_overridden,
            discharge_override_reason=stay.discharge_override_reason,
            wound_care_given_by=stay.wound_care_given_by,
            wound_care_given_at=stay.wound_care_given_at,
            wound_care_notes=stay.wound_care_notes,
            notes=tuple(
                NoteView(n.id, n.at, n.author, n.text)
                for n in fq.monitoring_notes(session, episode_id)
            ),
        )


# --- follow-up --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpItemView:
    """Attributes:
    status: as the clock says (a planned item past its due day is MISSED here at once).
    series_size: number of occurrences in its series (0 for a single item).
    """

    id: int
    key: str
    purpose: str
    due_on: date
    window_opens_on: date | None
    status: FollowUpStatus
    notes: str
    series_id: str | None
    occurrence: int | None
    series_size: int
    cancel_reason: str
    done_at: datetime | None
    missed_on: date | None
    resolution: str

    @property
    def is_open(self) -> bool:
        return self.status in (FollowUpStatus.PLANNED, FollowUpStatus.BOOKED)


@dataclass(frozen=True)
class ComplicationView:
    id: int
    category: str
    category_name: str
    onset_on: date
    severity: str
    severity_name: str
    action_taken: str
    resolved_on: date | None
    detail: str
    recorded_by: str


@dataclass(frozen=True)
class RedFlagView:
    id: int
    flag_key: str
    title: str
    raised_at: datetime
    raised_by: str
    note: str
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str


@dataclass(frozen=True)
class ClosureView:
    kind: str
    label: str
    text: str
    closed_at: datetime
    closed_by: str


@dataclass(frozen=True)
class FollowUpView:
    """Attributes:
    refill_due_at/on: the pump's next refill from the refill engine (None without a pump).
    discharged: a discharge is recorded (the plan is proposed from then on).
    plan_accepted: the proposed plan was accepted once.
    """

    episode_id: int
    is_open: bool
    operation_on: date
    discharged: bool
    plan_accepted: bool
    items: tuple[FollowUpItemView, ...]
    refill_due_at: datetime | None
    refill_due_on: date | None
    complications: tuple[ComplicationView, ...]
    red_flags: tuple[RedFlagView, ...]
    closure: ClosureView | None

    @property
    def missed(self) -> tuple[FollowUpItemView, ...]:
        return tuple(i for i in self.items if i.status is FollowUpStatus.MISSED)

    @property
    def open_red_flags(self) -> tuple[RedFlagView, ...]:
        return tuple(f for f in self.red_flags if f.resolved_at is None)


def _closure_label(kind: str) -> str:
    try:
        return CLOSE_KIND_LABELS[CloseKind(kind)]
    except ValueError:
        return kind


def followup_view(ctx: ServiceContext, episode_id: int) -> FollowUpView:
    now = ctx.now()
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        stay = fq.stay_of(session, episode_id)
        rows = list(fq.followup_items(session, episode_id))
        effective = evaluate_missed([item_of(r) for r in rows], now)
        sizes: dict[str, int] = {}
        for row in rows:
            if row.series_id is not None:
                sizes[row.series_id] = sizes.get(row.series_id, 0) + 1
        items = tuple(
            FollowUpItemView(
                id=row.id,
                key=row.key,
                purpose=item.purpose,
                due_on=item.due_on,
                window_opens_on=item.window_opens_on,
                status=item.status,
                notes=item.notes,
                series_id=item.series_id,
                occurrence=item.occurrence,
                series_size=sizes.get(row.series_id, 0) if row.series_id else 0,
                cancel_reason=item.cancel_reason,
                done_at=item.done_at,
                missed_on=item.missed_on,
                resolution=item.resolution,
            )
            for row, item in zip(rows, effective, strict=True)
        )
        pump = rq.active_pump(session, episode_id)
        closure = fq.closure_of(session, episode_id)
        return FollowUpView(
            episode_id=episode_id,
            is_open=episode.status == "open",
            operation_on=operation_day(session, episode),
            discharged=stay is not None and stay.discharged_at is not None,
            plan_accepted=any(r.key for r in rows),
            items=items,
            refill_due_at=pump.refill_due_at if pump else None,
            refill_due_on=pump.refill_due_on if pump else None,
            complications=tuple(
                ComplicationView(
                    c.id,
                    c.category,
                    c.category_name,
                    c.onset_on,
                    c.severity,
                    c.severity_name,
                    c.action_taken,
                    c.resolved_on,
                    c.detail,
                    c.recorded_by,
                )
                for c in fq.complications(session, episode_id)
            ),
            red_flags=tuple(
                RedFlagView(
                    f.id,
                    f.flag_key,
                    f.title,
                    f.raised_at,
                    f.raised_by,
                    f.note,
                    f.resolved_at,
                    f.resolved_by,
                    f.resolution,
                )
                for f in fq.red_flags(session, episode_id)
            ),
            closure=(
                ClosureView(
                    closure.kind,
                    _closure_label(closure.kind),
                    closure.text,
                    closure.closed_at,
                    closure.closed_by,
                )
                if closure
                else None
            ),
        )


# --- timeline ---------------------------------------------------------------------------------

# Lanes of the timeline, in the order a legend lists them.
LANE_MILESTONE = "milestone"
LANE_STAY = "stay"
LANE_COMPLICATION = "complication"
LANE_FOLLOWUP = "followup"
LANE_REFILL = "refill"
LANES = (LANE_MILESTONE, LANE_STAY, LANE_COMPLICATION, LANE_FOLLOWUP, LANE_REFILL)

# States an event can be drawn in (colour and words in the widget).
STATE_DONE = "done"
STATE_PLANNED = "planned"
STATE_OVERDUE = "overdue"
STATE_MISSED = "missed"
STATE_OPEN = "open"
STATE_URGENT = "urgent"
STATE_CANCELLED = "cancelled"
STATE_INFO = "info"


@dataclass(frozen=True)
class TimelineEvent:
    """One thing on the episode's time axis.

    Attributes:
        day: the (local) day it happened or is due.
        lane: one of `LANES`.
        title: what it is, e.g. "Wound check" or "Refill due".
        state: one of the STATE_* values.
        detail: a second line (who, why, end date…).
    """

    day: date
    lane: str
    title: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Timeline:
    today: date
    events: tuple[TimelineEvent, ...]

    @property
    def past(self) -> tuple[TimelineEvent, ...]:
        return tuple(e for e in self.events if e.day <= self.today)

    @property
    def future(self) -> tuple[TimelineEvent, ...]:
        return tuple(e for e in self.events if e.day > self.today)


def _local(moment: datetime) -> date:
    return moment.astimezone().date()


_FOLLOWUP_STATE = {
    FollowUpStatus.DONE: STATE_DONE,
    FollowUpStatus.PLANNED: STATE_PLANNED,
    FollowUpStatus.BOOKED: STATE_PLANNED,
    FollowUpStatus.MISSED: STATE_MISSED,
    FollowUpStatus.CANCELLED: STATE_CANCELLED,
}


def episode_timeline(
    ctx: ServiceContext, episode_id: int, follow: FollowUpView | None = None
) -> Timeline:
    """Every milestone, stay event, complication, red flag, follow-up item and refill of the
    episode on one axis, past and future, sorted by day (lane order on ties).

    ``follow``: the episode's `followup_view`, when the caller has it already (the overview
    shows it too), so it is not read twice."""
    today = ctx.today()
    if follow is None or follow.episode_id != episode_id:
        follow = followup_view(ctx, episode_id)
    stay = stay_view(ctx, episode_id)
    events: list[TimelineEvent] = []
    with ctx.db.reading() as session:
        episode = repo.episode_with_milestones(session, episode_id)
        for m in episode.milestones:
            if m.state == "done" and m.done_at is not None:
                events.append(
                    TimelineEvent(
                        _local(m.done_at), LANE_MILESTONE, m.name, STATE_DONE, m.done_by or ""
                    )
                )
            elif m.state == "skipped":
                day = _local(m.done_at) if m.done_at else (m.due_on or today)
                events.append(
                    TimelineEvent(day, LANE_MILESTONE, m.name, STATE_CANCELLED, m.skip_reason or "")
                )
            elif m.due_on is not None:
                state = STATE_OVERDUE if m.due_on < today else STATE_PLANNED
                events.append(TimelineEvent(m.due_on, LANE_MILESTONE, m.name, state))
        pump = rq.active_pump(session, episode_id)
        if pump is not None:
            for fill in rq.current_fills(session, pump.id):
                title = "Initial fill" if fill.kind == "initial" else "Refill"
                detail = f"{fill.drug_name} {fill.concentration:g} {fill.concentration_unit}"
                events.append(
                    TimelineEvent(_local(fill.filled_at), LANE_REFILL, title, STATE_DONE, detail)
                )
            if pump.refill_due_on is not None:
                state = STATE_OVERDUE if pump.refill_due_on < today else STATE_PLANNED
                if pump.urgent_at is not None and pump.urgent_at <= ctx.now():
                    state = STATE_URGENT
                events.append(
                    TimelineEvent(pump.refill_due_on, LANE_REFILL, "Next refill due", state)
                )
    if stay.admitted_at is not None:
        events.append(TimelineEvent(_local(stay.admitted_at), LANE_STAY, "Admitted", STATE_DONE))
    if stay.discharged_at is not None:
        detail = f"{stay.days} day(s)" if stay.days is not None else ""
        if stay.discharge_overridden:
            detail += f" · override: {stay.discharge_override_reason}"
        events.append(
            TimelineEvent(_local(stay.discharged_at), LANE_STAY, "Discharged", STATE_DONE, detail)
        )
    if stay.restrictions_end_on is not None:
        events.append(
            TimelineEvent(
                stay.restrictions_end_on,
                LANE_STAY,
                "Activity restrictions end",
                STATE_OPEN if stay.restrictions_active else STATE_DONE,
            )
        )
    for c in follow.complications:
        state = STATE_OPEN if c.resolved_on is None else STATE_DONE
        detail = c.severity_name + (
            f" · resolved {c.resolved_on.isoformat()}" if c.resolved_on else " · open"
        )
        events.append(TimelineEvent(c.onset_on, LANE_COMPLICATION, c.category_name, state, detail))
    for f in follow.red_flags:
        state = STATE_URGENT if f.resolved_at is None else STATE_DONE
        detail = f.note if f.resolved_at is None else f"resolved: {f.resolution}"
        events.append(TimelineEvent(_local(f.raised_at), LANE_COMPLICATION, f.title, state, detail))
    for item in follow.items:
        detail = ""
        if item.series_size:
            detail = f"{(item.occurrence or 0) + 1} of {item.series_size}"
        if item.status is FollowUpStatus.CANCELLED:
            detail = (detail + " · " if detail else "") + item.cancel_reason
        day = _local(item.done_at) if item.done_at else item.due_on
        events.append(
            TimelineEvent(day, LANE_FOLLOWUP, item.purpose, _FOLLOWUP_STATE[item.status], detail)
        )
    if follow.closure is not None:
        events.append(
            TimelineEvent(
                _local(follow.closure.closed_at),
                LANE_STAY,
                f"Episode closed: {follow.closure.label}",
                STATE_INFO,
                follow.closure.text,
            )
        )
    order = {lane: i for i, lane in enumerate(LANES)}
    events.sort(key=lambda e: (e.day, order[e.lane]))
    return Timeline(today=today, events=tuple(events))
