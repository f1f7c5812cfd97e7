"""Issue 8: upcoming refills and follow-ups as an RFC 5545 calendar (made with `icalendar`).

Every event has a UID that depends only on what it is about, never on when it was exported:
the next refill of an episode is ``refill-episode-<id>@<domain>`` (it moves when a fill is
recorded), a follow-up item is ``followup-<id>@<domain>``. Importing a newer export therefore
updates the events already in a calendar instead of adding copies; SEQUENCE grows with each
recorded fill and DTSTAMP is the export time, so clients take the newer version. Cancelled
follow-up items in the range are exported as STATUS:CANCELLED so a re-import removes them.

Events are all-day (VALUE=DATE) on the local calendar day the clinic sees in the worklist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

from pathway_app import __version__
from pathway_app.domain.followup import FollowUpStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup_views import followup_view
from pathway_app.services.refill_views import refill_worklist
from pathway_app.services.views import episode_view, worklist

UID_DOMAIN = "care-pathway-tracker.local"
PRODID = f"-//Care Pathway Tracker//pathway-app {__version__}//EN"
DEFAULT_DAYS = 90  # the clinic calendar's range when no end is given


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    on: date
    summary: str
    description: str
    status: str  # CONFIRMED, TENTATIVE or CANCELLED
    sequence: int
    episode_id: int


def _sequence(moment: datetime | None) -> int:
    # Minutes since the epoch of the last fill: grows with every fill, fits SEQUENCE's integer.
    return 0 if moment is None else int(moment.timestamp() // 60)


def _patient_events(
    ctx: ServiceContext, episode_id: int, start: date, end: date | None, who: str
) -> list[CalendarEvent]:
    events: list[CalendarEvent] = []
    follow = followup_view(ctx, episode_id)
    for item in follow.items:
        if item.due_on < start or (end is not None and item.due_on > end):
            continue
        if item.status is FollowUpStatus.BOOKED:
            status = "CONFIRMED"
        elif item.status is FollowUpStatus.PLANNED:
            status = "TENTATIVE"
        elif item.status is FollowUpStatus.CANCELLED:
            status = "CANCELLED"
        else:
            continue  # done or missed: not upcoming
        lines = [f"Follow-up: {item.purpose}", f"Patient: {who}"]
        if item.window_opens_on is not None:
            lines.append(f"Window opens {item.window_opens_on.isoformat()}")
        if item.notes:
            lines.append(item.notes)
        events.append(
            CalendarEvent(
                uid=f"followup-{item.id}@{UID_DOMAIN}",
                on=item.due_on,
                summary=f"Follow-up: {item.purpose} — {who}",
                description="\n".join(lines),
                status=status,
                sequence=0 if status != "CANCELLED" else 1,
                episode_id=episode_id,
            )
        )
    return events


def _refill_events(
    ctx: ServiceContext, start: date, end: date | None, episode_id: int | None
) -> list[CalendarEvent]:
    events = []
    for row in refill_worklist(ctx):
        if episode_id is not None and row.episode_id != episode_id:
            continue
        if row.due_on is None or (end is not None and row.due_on > end):
            continue
        # An overdue refill stays in the calendar (on its due day) until it is done, in any
        # export whose range starts today or earlier.
        if row.due_on < start and start > ctx.today():
            continue
        who = f"{row.patient_name} ({row.mrn})"
        lines = [
            f"Pump refill due: {who}",
            f"Drug: {row.drug_name}"
            + (
                f", {row.concentration:g} {row.concentration_unit}"
                if row.concentration is not None
                else ""
            ),
            f"Pump: {row.pump_name}",
        ]
        if row.empty_by_worst_at is not None:
            lines.append(
                "Empty at the worst-case flow by "
                + row.empty_by_worst_at.astimezone().strftime("%Y-%m-%d %H:%M")
            )
        if row.dangerous_withdrawal:
            lines.append("Running dry causes a dangerous withdrawal: do not postpone.")
        events.append(
            CalendarEvent(
                uid=f"refill-episode-{row.episode_id}@{UID_DOMAIN}",
                on=row.due_on,
                summary=f"Pump refill due — {who}",
                description="\n".join(lines),
                status="CONFIRMED",
                sequence=_sequence(row.last_fill_at),
                episode_id=row.episode_id,
            )
        )
    return events


def patient_events(
    ctx: ServiceContext, episode_id: int, *, start: date | None = None, end: date | None = None
) -> list[CalendarEvent]:
    """The episode's next refill and its follow-up items from `start` (default today)."""
    start = start or ctx.today()
    view = episode_view(ctx, episode_id)
    who = f"{view.patient_name} ({view.mrn})"
    events = _refill_events(ctx, start, end, episode_id)
    events += _patient_events(ctx, episode_id, start, end, who)
    return sorted(events, key=lambda e: (e.on, e.uid))


def clinic_events(
    ctx: ServiceContext, *, start: date | None = None, end: date | None = None
) -> list[CalendarEvent]:
    """Every open episode's refills and follow-ups due from `start` to `end` (both included;
    default today and 90 days on)."""
    start = start or ctx.today()
    end = end or start + timedelta(days=DEFAULT_DAYS)
    events = _refill_events(ctx, start, end, None)
    for row in worklist(ctx):
        who = f"{row.patient_name} ({row.mrn})"
        events += _patient_events(ctx, row.episode_id, start, end, who)
    return sorted(events, key=lambda e: (e.on, e.uid))


def calendar_bytes(events: list[CalendarEvent], *, name: str, stamp: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", item.on)
        event.add("dtend", item.on + timedelta(days=1))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("status", item.status)
        event.add("sequence", item.sequence)
        event.add("transp", "TRANSPARENT")
        event.add("class", "CONFIDENTIAL")
        calendar.add_component(event)
    return calendar.to_ical()
