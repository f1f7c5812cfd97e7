"""Marking milestones done or skipped, and undoing a mistaken mark.

An undo never erases: the audit log keeps the mark and its correction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.progress import MilestoneState
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, validate_reason
from pathway_app.domain.text import clean_text
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.preparation import (
    check_hand_mark,
    is_procedure_milestone,
    require_may_proceed,
)
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Milestone


def _snapshot(m: Milestone) -> dict[str, Any]:
    return {
        "state": m.state,
        "done_at": m.done_at.isoformat() if m.done_at else None,
        "done_by": m.done_by,
        "skip_reason": m.skip_reason,
        "note": m.note,
    }


def _audit(
    ctx: ServiceContext, session: Any, m: Milestone, action: str, old: dict[str, Any]
) -> None:
    repo.add_audit(
        session,
        at=ctx.now(),
        actor=ctx.actor,
        action=action,
        entity="milestone",
        entity_id=m.id,
        patient_id=m.episode.patient_id,
        episode_id=m.episode_id,
        old={"milestone": m.key, **old},
        new={"milestone": m.key, **_snapshot(m)},
    )


def _require_gates(ctx: ServiceContext, session: Any, m: Milestone) -> None:
    """Issue 5: a gate milestone is not marked by hand against its preparation record, and no
    procedure milestone is marked while a readiness gate is unmet without an override."""
    check_hand_mark(ctx, session, m)
    if is_procedure_milestone(m.episode, m):
        require_may_proceed(ctx, session, m.episode)


def _require_planned(m: Milestone) -> None:
    if m.state != MilestoneState.PLANNED.value:
        raise InvalidTransition(
            f"“{m.name}” is already marked {m.state}; undo that mark first to change it."
        )


def mark_done(
    ctx: ServiceContext,
    milestone_id: int,
    *,
    done_at: datetime | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> None:
    """Mark a planned milestone done at `done_at` (default: now) by the acting user.

    `expected_version` (here and below) is the milestone version the user saw; when another
    window changed it since, `ConcurrentEdit` is raised and nothing is written.
    """
    when = done_at or ctx.now()
    if when.tzinfo is None:
        raise ValidationError({"done_at": "The time has no time zone."})
    if when > ctx.now():
        raise ValidationError({"done_at": "The time done is in the future."})
    errors: dict[str, str] = {}
    text = clean_text(
        errors, "note", note, "note", FREE_TEXT_MAX_LENGTH, required=False, multiline=True
    )
    if errors:
        raise ValidationError(errors)
    with ctx.db.writing() as session:
        m = repo.get_milestone(session, milestone_id)
        repo.check_version(m.version, expected_version)
        _require_planned(m)
        if m.episode.status != "open":
            raise InvalidTransition("The episode is closed.")
        _require_gates(ctx, session, m)
        old = _snapshot(m)
        m.state = MilestoneState.DONE.value
        m.done_at = when
        m.done_by = ctx.actor
        m.note = text or None
        refresh_progress(session, m.episode)
        _audit(ctx, session, m, "milestone.done", old)


def mark_skipped(
    ctx: ServiceContext, milestone_id: int, reason: str, *, expected_version: int | None = None
) -> None:
    """Skip a planned milestone; a reason is required."""
    text = validate_reason(reason)
    with ctx.db.writing() as session:
        m = repo.get_milestone(session, milestone_id)
        repo.check_version(m.version, expected_version)
        _require_planned(m)
        if m.episode.status != "open":
            raise InvalidTransition("The episode is closed.")
        _require_gates(ctx, session, m)
        old = _snapshot(m)
        m.state = MilestoneState.SKIPPED.value
        m.done_at = ctx.now()
        m.done_by = ctx.actor
        m.skip_reason = text
        refresh_progress(session, m.episode)
        _audit(ctx, session, m, "milestone.skipped", old)


def undo_mark(
    ctx: ServiceContext, milestone_id: int, *, expected_version: int | None = None
) -> None:
    """Return a done or skipped milestone to planned; the audit log keeps what was undone."""
    with ctx.db.writing() as session:
        m = repo.get_milestone(session, milestone_id)
        repo.check_version(m.version, expected_version)
        if m.state == MilestoneState.PLANNED.value:
            raise InvalidTransition(f"“{m.name}” is not marked; there is nothing to undo.")
        if m.episode.status != "open":
            raise InvalidTransition("The episode is closed.")
        old = _snapshot(m)
        m.state = MilestoneState.PLANNED.value
        m.done_at = None
        m.done_by = None
        m.skip_reason = None
        m.note = None
        refresh_progress(session, m.episode)
        _audit(ctx, session, m, "milestone.undone", old)
