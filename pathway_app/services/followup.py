"""Follow-up after discharge: the proposed plan, items added by hand, moving items and series,
status changes, missed items, the complication log, red flags and closing the episode.

Every write is one transaction with an audit entry (old and new values) and ends with
``refresh_progress``, which keeps the episode's worklist fields current. Before an item is
changed, the items of its episode whose due day has passed are written as missed (the sweep),
so a status change always starts from what the clock says.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.followup import (
    CLOSE_KIND_LABELS,
    FollowUpItem,
    FollowUpStatus,
    add_item,
    change_status,
    close_episode_reason,
    evaluate_missed,
    make_series,
    move_item,
    move_series,
    propose_plan,
    resolve_missed,
)
from pathway_app.domain.records import validate_reason
from pathway_app.domain.recovery import Complication, urgent_items, validate_complication
from pathway_app.services.context import ServiceContext
from pathway_app.services.episode_access import audit_episode, open_episode_row
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.stay import complete_milestone, operation_day
from pathway_app.storage import followup_queries as fq
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode
from pathway_app.storage.orm_followup import (
    ComplicationEntry,
    EpisodeClosure,
    FollowUpEntry,
    RedFlagReport,
)

# --- conversions ----------------------------------------------------------------------------


def item_of(entry: FollowUpEntry) -> FollowUpItem:
    """The stored row as the domain's value."""
    return FollowUpItem(
        purpose=entry.purpose,
        due_on=entry.due_on,
        status=FollowUpStatus(entry.status),
        notes=entry.notes,
        key=entry.key,
        window_opens_on=entry.window_opens_on,
        series_id=entry.series_id,
        occurrence=entry.occurrence,
        cancel_reason=entry.cancel_reason,
        done_at=entry.done_at,
        missed_on=entry.missed_on,
        resolution=entry.resolution,
    )


def _apply(entry: FollowUpEntry, item: FollowUpItem) -> None:
    entry.purpose = item.purpose
    entry.due_on = item.due_on
    entry.status = item.status.value
    entry.notes = item.notes
    entry.window_opens_on = item.window_opens_on
    entry.cancel_reason = item.cancel_reason
    entry.done_at = item.done_at
    entry.missed_on = item.missed_on
    entry.resolution = item.resolution


def _snapshot(entry: FollowUpEntry | FollowUpItem) -> dict[str, Any]:
    return {
        "purpose": entry.purpose,
        "due_on": entry.due_on,
        "status": str(entry.status),
        "notes": entry.notes,
        "series_id": entry.series_id,
        "occurrence": entry.occurrence,
        "cancel_reason": entry.cancel_reason,
        "done_at": entry.done_at,
        "missed_on": entry.missed_on,
        "resolution": entry.resolution,
    }


def _new_entry(ctx: ServiceContext, episode_id: int, item: FollowUpItem) -> FollowUpEntry:
    return FollowUpEntry(
        episode_id=episode_id,
        key=item.key,
        purpose=item.purpose,
        due_on=item.due_on,
        window_opens_on=item.window_opens_on,
        status=item.status.value,
        notes=item.notes,
        series_id=item.series_id,
        occurrence=item.occurrence,
        cancel_reason=item.cancel_reason,
        done_at=item.done_at,
        missed_on=item.missed_on,
        resolution=item.resolution,
        recorded_at=ctx.now(),
        recorded_by=ctx.actor,
    )


# --- missed items -----------------------------------------------------------------------------


def _sweep(ctx: ServiceContext, session: Session, episode_id: int | None = None) -> int:
    """Write as missed every planned or booked item whose due day has passed (app clock), one
    audit entry per item; return how many. Idempotent."""
    now = ctx.now()
    rows = fq.overdue_open_items(session, ctx.today(), episode_id)
    changed = 0
    touched: dict[int, Episode] = {}
    for entry in rows:
        (item,) = evaluate_missed([item_of(entry)], now)
        if item.status is not FollowUpStatus.MISSED:
            continue
        old = _snapshot(entry)
        _apply(entry, item)
        episode = touched.get(entry.episode_id) or repo.get_episode(session, entry.episode_id)
        touched[episode.id] = episode
        audit_episode(
            ctx,
            session,
            episode,
            "followup.missed",
            "followup",
            entry.id,
            old=old,
            new={**_snapshot(entry), "automatic": True, "evaluated_at": now},
        )
        changed += 1
    for episode in touched.values():
        refresh_progress(session, episode)
    return changed


def sweep_missed(ctx: ServiceContext, episode_id: int | None = None) -> int:
    """Record as missed every item whose due day has passed (all episodes, or one).

    The worklist does not depend on this (it compares due dates with today in SQL); it writes
    ``missed_on`` and the audit entry so the history shows when an item was missed.
    """
    with ctx.db.writing() as session:
        return _sweep(ctx, session, episode_id)


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanProposal:
    """What the plan dialog shows after discharge; nothing is stored.

    Attributes:
        operation_on: the date the offsets count from.
        items: the proposed items (refill visits excluded: they come from the refill engine).
        refill_due_at, refill_due_on: the pump's next refill from the refill engine, if any.
        marks: plan key -> "unverified" or "clinic default" when its numbers are not sourced.
        already_accepted: a plan was accepted for this episode before.
    """

    episode_id: int
    operation_on: date
    items: tuple[FollowUpItem, ...]
    refill_due_at: datetime | None
    refill_due_on: date | None
    marks: dict[str, str]
    already_accepted: bool


def _plan_accepted(session: Session, episode_id: int) -> bool:
    query = select(func.count()).where(
        FollowUpEntry.episode_id == episode_id, FollowUpEntry.key != ""
    )
    return bool(session.scalar(query))


def propose_followup_plan(ctx: ServiceContext, episode_id: int) -> PlanProposal:
    """The plan ``recovery.toml`` proposes for this episode, counted from its operation."""
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        operation_on = operation_day(session, episode)
        items = propose_plan(
            operation_on,
            ctx.recovery.followup,
            today=max(ctx.today(), operation_on),
            drug=episode.drug,
        )
        pump = rq.active_pump(session, episode_id)
        marks: dict[str, str] = {}
        for definition in ctx.recovery.followup.items:
            if definition.unverified:
                marks[definition.key] = "unverified"
            elif definition.clinic_defaults:
                marks[definition.key] = "clinic default"
        return PlanProposal(
            episode_id=episode_id,
            operation_on=operation_on,
            items=items,
            refill_due_at=pump.refill_due_at if pump else None,
            refill_due_on=pump.refill_due_on if pump else None,
            marks=marks,
            already_accepted=_plan_accepted(session, episode_id),
        )


def accept_plan(ctx: ServiceContext, episode_id: int, items: Sequence[FollowUpItem]) -> list[int]:
    """Store the plan the coordinator accepted (possibly with items moved or left out).

    Raises:
        ValidationError: no item, or an item's purpose or date is wrong (``items``, naming the
            item; a date before today must be moved or left out).
        InvalidTransition: the episode is closed, or a plan was already accepted.
    """
    if not items:
        raise ValidationError({"items": "Keep at least one item of the plan, or cancel."})
    today = ctx.today()
    problems: list[str] = []
    clean: list[FollowUpItem] = []
    for item in items:
        try:
            checked = add_item(item.purpose, item.due_on, today=today, notes=item.notes)
        except ValidationError as exc:
            problems.append(
                f"{item.purpose or '?'} ({item.due_on.isoformat()}): "
                + " ".join(exc.field_errors.values())
            )
            continue
        clean.append(replace(item, purpose=checked.purpose, notes=checked.notes))
    if problems:
        raise ValidationError({"items": "\n".join(problems)})
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        if _plan_accepted(session, episode_id):
            raise InvalidTransition(
                "The follow-up plan was already accepted; add or move items instead."
            )
        rows = [_new_entry(ctx, episode.id, item) for item in clean]
        session.add_all(rows)
        session.flush()
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "followup.plan_accepted",
            "episode",
            episode.id,
            new={"items": [{"id": r.id, **_snapshot(r)} for r in rows]},
        )
        return [r.id for r in rows]


def add_followup(
    ctx: ServiceContext,
    episode_id: int,
    purpose: str,
    due_on: date | None,
    *,
    notes: str = "",
    every_months: int | None = None,
    count: int | None = None,
) -> list[int]:
    """Add an item by hand, or a recurring series (``every_months`` and ``count``).

    Raises:
        ValidationError: by field (``purpose``, ``due_on``, ``notes``, ``every_months``,
            ``count``).
    """
    if due_on is None:
        raise ValidationError({"due_on": "Enter the due date."})
    first = add_item(purpose, due_on, today=ctx.today(), notes=notes)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        if every_months is None:
            items: tuple[FollowUpItem, ...] = (first,)
        else:
            if count is None:
                raise ValidationError({"count": "Enter how many times it repeats."})
            taken = select(func.count(func.distinct(FollowUpEntry.series_id))).where(
                FollowUpEntry.episode_id == episode_id
            )
            series_id = f"custom-{(session.scalar(taken) or 0) + 1}"
            while fq.series_items(session, episode_id, series_id):
                series_id += "b"
            items = make_series(
                first.purpose,
                first.due_on,
                every_months,
                series_id=series_id,
                count=count,
                notes=first.notes,
            )
        rows = [_new_entry(ctx, episode.id, item) for item in items]
        session.add_all(rows)
        session.flush()
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "followup.added",
            "followup",
            rows[0].id,
            new={"items": [{"id": r.id, **_snapshot(r)} for r in rows]},
        )
        return [r.id for r in rows]


def _load_item(
    ctx: ServiceContext, session: Session, item_id: int
) -> tuple[FollowUpEntry, Episode]:
    entry = fq.get_followup(session, item_id)
    episode = open_episode_row(session, entry.episode_id)
    _sweep(ctx, session, episode.id)  # the same row object: it now says what the clock says
    return entry, episode


def move_followup(
    ctx: ServiceContext, item_id: int, new_on: date | None, *, whole_series: bool = False
) -> None:
    """Move one item, or (``whole_series``) this occurrence and every later open one of its
    series by the same number of days.

    Raises:
        ValidationError: no date, or a new date in the past (``due_on``).
        InvalidTransition: the item is done, missed or cancelled.
    """
    if new_on is None:
        raise ValidationError({"due_on": "Enter the new due date."})
    today = ctx.today()
    with ctx.db.writing() as session:
        entry, episode = _load_item(ctx, session, item_id)
        if whole_series and entry.series_id is not None and entry.occurrence is not None:
            rows = list(fq.series_items(session, episode.id, entry.series_id))
            moved = move_series(
                [item_of(r) for r in rows], entry.series_id, entry.occurrence, new_on, today=today
            )
        else:
            rows = [entry]
            moved = (move_item(item_of(entry), new_on, today=today),)
        changes = []
        for row, item in zip(rows, moved, strict=True):
            if item.due_on != row.due_on:
                changes.append({"id": row.id, "from": row.due_on, "to": item.due_on})
                _apply(row, item)
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "followup.series_moved" if whole_series else "followup.moved",
            "followup",
            entry.id,
            old={
                "purpose": entry.purpose,
                "moves": [{"id": c["id"], "due_on": c["from"]} for c in changes],
            },
            new={
                "purpose": entry.purpose,
                "moves": [{"id": c["id"], "due_on": c["to"]} for c in changes],
            },
        )


def change_followup_status(
    ctx: ServiceContext,
    item_id: int,
    new_status: FollowUpStatus | str,
    *,
    reason: str = "",
    done_at: datetime | None = None,
) -> None:
    """Book, un-book, mark done, cancel (with a reason) or mark missed (a no-show) a planned or
    booked item. An item done whose key matches a pathway milestone (the wound check) marks
    that milestone done too.

    Raises:
        InvalidTransition: not allowed from the item's status (e.g. it was missed: resolve it).
        ValidationError: a reason or the done time is missing or wrong.
    """
    with ctx.db.writing() as session:
        entry, episode = _load_item(ctx, session, item_id)
        old = _snapshot(entry)
        item = change_status(
            item_of(entry),
            FollowUpStatus(new_status),
            now=ctx.now(),
            reason=reason,
            done_at=done_at,
        )
        _apply(entry, item)
        if item.status is FollowUpStatus.DONE and item.done_at is not None and entry.key:
            complete_milestone(
                ctx, session, episode.id, entry.key, item.done_at, "Recorded with the follow-up."
            )
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            f"followup.{item.status.value}",
            "followup",
            entry.id,
            old=old,
            new=_snapshot(entry),
        )


def resolve_missed_item(
    ctx: ServiceContext,
    item_id: int,
    new_status: FollowUpStatus | str,
    reason: str,
    *,
    done_at: datetime | None = None,
    new_due_on: date | None = None,
) -> None:
    """Resolve a missed item: done late, cancelled, or planned/booked again on a new date.
    A reason is always required; ``missed_on`` stays for the history."""
    with ctx.db.writing() as session:
        entry, episode = _load_item(ctx, session, item_id)
        old = _snapshot(entry)
        item = resolve_missed(
            item_of(entry),
            FollowUpStatus(new_status),
            reason,
            now=ctx.now(),
            done_at=done_at,
            new_due_on=new_due_on,
        )
        _apply(entry, item)
        if item.status is FollowUpStatus.DONE and item.done_at is not None and entry.key:
            complete_milestone(
                ctx, session, episode.id, entry.key, item.done_at, "Recorded with the follow-up."
            )
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "followup.resolved",
            "followup",
            entry.id,
            old=old,
            new=_snapshot(entry),
        )


def set_followup_notes(ctx: ServiceContext, item_id: int, notes: str) -> None:
    """Change an item's notes (any status)."""
    with ctx.db.writing() as session:
        entry = fq.get_followup(session, item_id)
        episode = open_episode_row(session, entry.episode_id)
        clean = add_item(entry.purpose, ctx.today(), today=ctx.today(), notes=notes).notes
        old = {"notes": entry.notes}
        entry.notes = clean
        audit_episode(
            ctx,
            session,
            episode,
            "followup.notes",
            "followup",
            entry.id,
            old=old,
            new={"notes": clean},
        )


# --- complications --------------------------------------------------------------------------


def _complication_row(
    ctx: ServiceContext, session: Session, episode: Episode, entry: Complication
) -> Complication:
    return validate_complication(
        entry,
        operation_on=operation_day(session, episode),
        today=ctx.today(),
        config=ctx.recovery,
    )


def _fill_complication(ctx: ServiceContext, row: ComplicationEntry, clean: Complication) -> None:
    assert clean.onset_on is not None
    ranks = {s.key: i for i, s in enumerate(ctx.recovery.severities)}
    row.category = clean.category
    row.category_name = ctx.recovery.complication(clean.category).name
    row.onset_on = clean.onset_on
    row.severity = clean.severity
    row.severity_name = ctx.recovery.severity(clean.severity).name
    row.severity_rank = ranks[clean.severity]
    row.action_taken = clean.action_taken
    row.resolved_on = clean.resolved_on
    row.detail = clean.detail


def _complication_snapshot(row: ComplicationEntry) -> dict[str, Any]:
    return {
        "category": row.category,
        "onset_on": row.onset_on,
        "severity": row.severity,
        "action_taken": row.action_taken,
        "resolved_on": row.resolved_on,
        "detail": row.detail,
    }


def log_complication(ctx: ServiceContext, episode_id: int, entry: Complication) -> int:
    """Add an entry to the complication log (any time from the operation on); return its id.

    Raises:
        ValidationError: every problem by field (category, severity, onset, resolved, detail).
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        clean = _complication_row(ctx, session, episode, entry)
        row = ComplicationEntry(episode_id=episode.id, recorded_at=ctx.now(), recorded_by=ctx.actor)
        _fill_complication(ctx, row, clean)
        session.add(row)
        session.flush()
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "complication.logged",
            "complication",
            row.id,
            new=_complication_snapshot(row),
        )
        return row.id


def update_complication(ctx: ServiceContext, complication_id: int, entry: Complication) -> None:
    """Change an entry (typically: the action taken and the resolved date)."""
    with ctx.db.writing() as session:
        row = fq.get_complication(session, complication_id)
        episode = open_episode_row(session, row.episode_id)
        clean = _complication_row(ctx, session, episode, entry)
        old = _complication_snapshot(row)
        _fill_complication(ctx, row, clean)
        refresh_progress(session, episode)
        action = (
            "complication.resolved"
            if old["resolved_on"] is None and row.resolved_on is not None
            else "complication.updated"
        )
        audit_episode(
            ctx,
            session,
            episode,
            action,
            "complication",
            row.id,
            old=old,
            new=_complication_snapshot(row),
        )


# --- red flags ------------------------------------------------------------------------------


def raise_red_flags(
    ctx: ServiceContext, episode_id: int, keys: Collection[str], note: str = ""
) -> list[int]:
    """Record the red-flag symptoms ticked during a call; each is an urgent worklist item
    until resolved. Return the new reports' ids.

    Raises:
        ValidationError: nothing ticked, an unknown key (``red_flags``) or a note too long.
    """
    if not keys:
        raise ValidationError({"red_flags": "Tick at least one red-flag symptom."})
    items = urgent_items(keys, ctx.now(), ctx.recovery.red_flags, note)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        rows = [
            RedFlagReport(
                episode_id=episode.id,
                flag_key=item.flag_key,
                title=item.title,
                raised_at=item.raised_at,
                raised_by=ctx.actor,
                note=item.note,
                resolution="",
            )
            for item in items
        ]
        session.add_all(rows)
        session.flush()
        refresh_progress(session, episode)
        for row in rows:
            audit_episode(
                ctx,
                session,
                episode,
                "red_flag.raised",
                "red_flag",
                row.id,
                new={"flag": row.flag_key, "title": row.title, "note": row.note},
            )
        return [r.id for r in rows]


def resolve_red_flag(ctx: ServiceContext, report_id: int, resolution: str) -> None:
    """Close an urgent red-flag item, saying what was done (required)."""
    text = validate_reason(resolution, "resolution")
    with ctx.db.writing() as session:
        row = fq.get_red_flag(session, report_id)
        episode = open_episode_row(session, row.episode_id)
        if row.resolved_at is not None:
            raise InvalidTransition("This red flag is already resolved.")
        row.resolved_at = ctx.now()
        row.resolved_by = ctx.actor
        row.resolution = text
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "red_flag.resolved",
            "red_flag",
            row.id,
            old={"resolved_at": None},
            new={"flag": row.flag_key, "resolved_at": row.resolved_at, "resolution": text},
        )


# --- closing the episode ----------------------------------------------------------------------


def close_episode(ctx: ServiceContext, episode_id: int, kind: str, text: str) -> None:
    """Close the episode (pump explanted, patient transferred, deceased) with a reason.

    Planned, booked and missed follow-up items are cancelled with the closing reason. The
    episode leaves the worklists but stays searchable ("Show closed" on the pathway worklist).

    Raises:
        ValidationError: no kind or no explanation (``kind``, ``text``).
        InvalidTransition: already closed, or a red flag is still unresolved (resolve it
            first, so an urgent item is never closed away unseen).
    """
    closure = close_episode_reason(kind, text)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        if fq.open_red_flags(session, episode_id):
            raise InvalidTransition(
                "A red flag is still open: resolve it (say what was done) before closing the "
                "episode."
            )
        now = ctx.now()
        reason = f"Episode closed: {closure.describe()}"
        cancelled = []
        for entry in fq.followup_items(session, episode_id):
            item = item_of(entry)
            if item.is_open:
                new = replace(item, status=FollowUpStatus.CANCELLED, cancel_reason=reason)
            elif item.status is FollowUpStatus.MISSED:
                new = resolve_missed(item, FollowUpStatus.CANCELLED, reason, now=now)
            else:
                continue
            _apply(entry, new)
            cancelled.append(entry.id)
        session.add(
            EpisodeClosure(
                episode_id=episode.id,
                kind=closure.kind.value,
                text=closure.text,
                closed_at=now,
                closed_by=ctx.actor,
            )
        )
        episode.status = "closed"
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "episode.closed",
            "episode",
            episode.id,
            old={"status": "open"},
            new={
                "status": "closed",
                "kind": closure.kind.value,
                "kind_label": CLOSE_KIND_LABELS[closure.kind],
                "text": closure.text,
                "cancelled_followups": cancelled,
            },
        )
