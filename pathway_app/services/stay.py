"""The hospital stay: admission, monitoring notes, wound care instructions, activity
restrictions, the discharge checklist and the discharge itself.

Each function is one user action: it validates with the domain (``domain.recovery``), writes in
one transaction with an audit entry (old and new values) and keeps the episode's worklist fields
current through ``refresh_progress``. Pathway milestones that the stay completes (admission,
discharge teaching, discharge) are marked through the milestone service, so their history
reads the same as a mark made by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.progress import MilestoneState
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH
from pathway_app.domain.recovery import (
    MonitoringNote as NoteDraft,
)
from pathway_app.domain.recovery import (
    WoundCareInstruction,
    default_restriction_end,
    discharge_blockers,
    discharge_decision,
    validate_monitoring_note,
    validate_restriction_end,
    validate_stay,
    validate_wound_care,
)
from pathway_app.domain.text import check_control_characters
from pathway_app.services.context import ServiceContext
from pathway_app.services.episode_access import audit_episode, open_episode_row
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.milestones import mark_done
from pathway_app.storage import followup_queries as fq
from pathway_app.storage import refill_queries as rq
from pathway_app.storage.orm import Episode
from pathway_app.storage.orm_followup import DischargeCheck, HospitalStay, MonitoringNote

ADMISSION_MILESTONE = "admission"
TEACHING_MILESTONE = "discharge-teaching"
DISCHARGE_MILESTONE = "discharge"
RESTRICTIONS_MILESTONE = "restrictions-end"
PLACEMENT_MILESTONE = "pump-placement"


# --- shared helpers (also used by services.followup) ---------------------------------------


def operation_moment(session: Session, episode: Episode) -> datetime:
    """When the operation happened, as best recorded: the implanted pump's time, else the
    pump-placement milestone's done time, else the start of the planned procedure day (UTC
    midnight, so a check "not before the operation" never refuses a same-day entry)."""
    pump = rq.active_pump(session, episode.id)
    if pump is not None:
        return pump.implanted_at
    placement = fq.milestone(session, episode.id, PLACEMENT_MILESTONE)
    if placement is not None and placement.done_at is not None:
        return placement.done_at
    return datetime.combine(episode.planned_procedure_on, time(), tzinfo=UTC)


def operation_day(session: Session, episode: Episode) -> date:
    """The operation date the follow-up plan and the restrictions count from."""
    pump = rq.active_pump(session, episode.id)
    if pump is not None:
        return pump.implanted_at.astimezone().date()
    placement = fq.milestone(session, episode.id, PLACEMENT_MILESTONE)
    if placement is not None and placement.done_at is not None:
        return placement.done_at.astimezone().date()
    return episode.planned_procedure_on


def complete_milestone(
    ctx: ServiceContext, session: Session, episode_id: int, key: str, done_at: datetime, note: str
) -> None:
    """Mark a pathway milestone done when it is still planned (in the caller's transaction)."""
    milestone = fq.milestone(session, episode_id, key)
    if milestone is not None and milestone.state == MilestoneState.PLANNED.value:
        mark_done(ctx, milestone.id, done_at=min(done_at, ctx.now()), note=note)


def _require_stay(session: Session, episode_id: int) -> HospitalStay:
    stay = fq.stay_of(session, episode_id)
    if stay is None:
        raise InvalidTransition("Record the admission first.")
    return stay


def _require_in_hospital(session: Session, episode_id: int) -> HospitalStay:
    stay = _require_stay(session, episode_id)
    if stay.discharged_at is not None:
        raise InvalidTransition("The patient is already discharged.")
    return stay


def _stay_snapshot(stay: HospitalStay) -> dict[str, Any]:
    return {
        "admitted_at": stay.admitted_at,
        "discharged_at": stay.discharged_at,
        "restrictions": json.loads(stay.restrictions),
        "restrictions_end_on": stay.restrictions_end_on,
        "wound_care_given_by": stay.wound_care_given_by,
        "wound_care_given_at": stay.wound_care_given_at,
        "wound_care_notes": stay.wound_care_notes,
        "discharge_overridden": stay.discharge_overridden,
        "discharge_override_reason": stay.discharge_override_reason,
        "discharge_open_items": json.loads(stay.discharge_open_items),
    }


# --- admission ------------------------------------------------------------------------------


def record_admission(ctx: ServiceContext, episode_id: int, admitted_at: datetime | None) -> int:
    """Record (or correct, before discharge) the admission to the ward; return the stay's id.

    A new stay gets the restrictions of ``recovery.toml`` and their default end date, counted
    from the operation. The admission milestone is marked done at the admission time.

    Raises:
        ValidationError: ``admitted_at`` is missing, has no time zone or is in the future.
        InvalidTransition: the episode is closed or the patient is already discharged.
    """
    start, _ = validate_stay(admitted_at, None, ctx.now())
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = fq.stay_of(session, episode_id)
        if stay is not None and stay.discharged_at is not None:
            raise InvalidTransition(
                "The patient is already discharged; the admission can no longer be changed."
            )
        if stay is None:
            config = ctx.recovery.restrictions
            stay = HospitalStay(
                episode_id=episode.id,
                admitted_at=start,
                restrictions=json.dumps([item.text for item in config.items], ensure_ascii=False),
                restrictions_end_on=default_restriction_end(
                    operation_day(session, episode), config
                ),
                wound_care_notes="",
                discharge_override_reason="",
                discharge_open_items="[]",
                discharge_overridden=False,
                recorded_at=ctx.now(),
                recorded_by=ctx.actor,
            )
            session.add(stay)
            session.flush()
            old: dict[str, Any] = {}
            action = "stay.admitted"
            _restrictions_milestone(session, episode.id, stay.restrictions_end_on)
        else:
            old = {"admitted_at": stay.admitted_at}
            stay.admitted_at = start
            action = "stay.admission_corrected"
        complete_milestone(
            ctx, session, episode.id, ADMISSION_MILESTONE, start, "Recorded with the admission."
        )
        refresh_progress(session, episode)
        audit_episode(
            ctx, session, episode, action, "stay", stay.id, old=old, new=_stay_snapshot(stay)
        )
        return stay.id


def _restrictions_milestone(session: Session, episode_id: int, end_on: date | None) -> None:
    """The "restrictions reviewed and lifted" milestone falls due on the restrictions' end."""
    milestone = fq.milestone(session, episode_id, RESTRICTIONS_MILESTONE)
    if (
        end_on is not None
        and milestone is not None
        and milestone.state == MilestoneState.PLANNED.value
    ):
        milestone.due_on = end_on


# --- during the stay ------------------------------------------------------------------------


def add_monitoring_note(
    ctx: ServiceContext, episode_id: int, at: datetime | None, text: str, author: str = ""
) -> int:
    """Add a post-operative monitoring note (author defaults to the signed-in user)."""
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = _require_stay(session, episode_id)
        if at is None:
            raise ValidationError({"at": "Enter the note time."})
        clean = validate_monitoring_note(
            NoteDraft(at, author.strip() or ctx.actor, text),
            admitted_at=stay.admitted_at,
            now=ctx.now(),
        )
        note = MonitoringNote(
            episode_id=episode.id,
            at=clean.at,
            author=clean.author,
            text=clean.text,
            recorded_at=ctx.now(),
            recorded_by=ctx.actor,
        )
        session.add(note)
        session.flush()
        audit_episode(
            ctx,
            session,
            episode,
            "stay.note_added",
            "monitoring_note",
            note.id,
            new={"at": clean.at, "author": clean.author, "text": clean.text},
        )
        return note.id


def record_wound_care(
    ctx: ServiceContext,
    episode_id: int,
    given_by: str,
    given_at: datetime | None,
    notes: str = "",
) -> None:
    """Record who gave the wound care instructions and when."""
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = _require_stay(session, episode_id)
        if given_at is None:
            raise ValidationError({"given_at": "Enter when the instructions were given."})
        clean = validate_wound_care(
            WoundCareInstruction(given_by, given_at, notes),
            operation_at=operation_moment(session, episode),
            now=ctx.now(),
        )
        old = _stay_snapshot(stay)
        stay.wound_care_given_by = clean.given_by
        stay.wound_care_given_at = clean.given_at
        stay.wound_care_notes = clean.notes
        audit_episode(
            ctx,
            session,
            episode,
            "stay.wound_care",
            "stay",
            stay.id,
            old={k: old[k] for k in ("wound_care_given_by", "wound_care_given_at")},
            new={
                "wound_care_given_by": clean.given_by,
                "wound_care_given_at": clean.given_at,
                "wound_care_notes": clean.notes,
            },
        )


def set_restrictions(
    ctx: ServiceContext, episode_id: int, end_on: date | None, items: Sequence[str]
) -> str | None:
    """Change the activity restrictions: their end date (last day they apply) and what they are.

    Returns:
        A warning when the end date is outside the sourced 6-8 week window (the date is still
        saved: it is the coordinator's decision), else None.

    Raises:
        ValidationError: the end date is missing or not after the operation, or no restriction
            is listed, or one is too long or holds a control character.
    """
    texts = [line.strip() for line in items if line.strip()]
    errors: dict[str, str] = {}
    if not texts:
        errors["restrictions"] = "List at least one restriction."
    elif any(len(t) > FREE_TEXT_MAX_LENGTH for t in texts):
        errors["restrictions"] = f"Keep each restriction under {FREE_TEXT_MAX_LENGTH} characters."
    else:
        # Each item is one line of the dialog's list: naming the line finds the invisible
        # character; blank lines count, as they do in the editor.
        several = len(items) > 1
        for number, line in enumerate(items, start=1):
            context = f"Line {number}" if several else ""
            if not check_control_characters(
                errors, "restrictions", line.strip(), "restriction", context=context
            ):
                break
    if end_on is None:
        errors["restrictions_end_on"] = "Enter the last day of the restrictions."
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = _require_stay(session, episode_id)
        warning = None
        if end_on is not None:
            try:
                warning = validate_restriction_end(
                    operation_day(session, episode), end_on, ctx.recovery.restrictions
                )
            except ValidationError as exc:
                errors.update(exc.field_errors)
        if errors:
            raise ValidationError(errors)
        old = {
            "restrictions": json.loads(stay.restrictions),
            "restrictions_end_on": stay.restrictions_end_on,
        }
        stay.restrictions = json.dumps(texts, ensure_ascii=False)
        stay.restrictions_end_on = end_on
        _restrictions_milestone(session, episode.id, end_on)
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "stay.restrictions",
            "stay",
            stay.id,
            old=old,
            new={"restrictions": texts, "restrictions_end_on": end_on, "warning": warning},
        )
        return warning


def set_checklist_item(ctx: ServiceContext, episode_id: int, key: str, ticked: bool) -> None:
    """Tick or untick one item of the discharge checklist (before discharge)."""
    names = {item.key: item.name for item in ctx.recovery.discharge_checklist}
    if key not in names:
        raise ValidationError({"checklist": "That item is not on the discharge checklist."})
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = _require_in_hospital(session, episode_id)
        existing = {c.key: c for c in fq.discharge_checks(session, episode_id)}
        if ticked == (key in existing):
            return
        if ticked:
            check = DischargeCheck(
                episode_id=episode.id,
                key=key,
                name=names[key],
                ticked_at=ctx.now(),
                ticked_by=ctx.actor,
            )
            session.add(check)
        else:
            session.delete(existing[key])
        audit_episode(
            ctx,
            session,
            episode,
            "stay.checklist_ticked" if ticked else "stay.checklist_unticked",
            "stay",
            stay.id,
            old={"item": key, "ticked": not ticked},
            new={"item": key, "name": names[key], "ticked": ticked},
        )


# --- discharge ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DischargeResult:
    """Attributes:
    overridden: discharged with checklist items open.
    open_items: names of the items open at discharge.
    """

    overridden: bool
    open_items: tuple[str, ...]


def discharge(
    ctx: ServiceContext, episode_id: int, discharged_at: datetime | None, override_reason: str = ""
) -> DischargeResult:
    """Discharge the patient. Blocked while checklist items are open, unless a reason is given.

    The discharge milestone is marked done at the discharge time; the teaching milestone too
    when the checklist is complete. The follow-up plan is proposed next
    (``services.followup.propose_followup_plan``).

    Raises:
        ValidationError: the time is missing, in the future or before the admission
            (``discharged_at``); items are open and no reason was given (``override_reason``,
            naming the items). Every problem at once.
        InvalidTransition: no admission is recorded, or the patient is already discharged.
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        stay = _require_in_hospital(session, episode_id)
        errors: dict[str, str] = {}
        if discharged_at is None:
            errors["discharged_at"] = "Enter the discharge time."
        else:
            try:
                validate_stay(stay.admitted_at, discharged_at, ctx.now())
            except ValidationError as exc:
                errors.update(exc.field_errors)
        ticked = {c.key for c in fq.discharge_checks(session, episode_id)}
        blockers = discharge_blockers(ctx.recovery.discharge_checklist, ticked)
        try:
            decision = discharge_decision(blockers, override_reason)
        except ValidationError as exc:
            errors.update(exc.field_errors)
        if errors:
            raise ValidationError(errors)
        assert discharged_at is not None
        old = _stay_snapshot(stay)
        stay.discharged_at = discharged_at
        stay.discharged_by = ctx.actor
        stay.discharge_overridden = decision.overridden
        stay.discharge_override_reason = decision.override_reason
        stay.discharge_open_items = json.dumps(list(decision.open_items))
        if not blockers:
            complete_milestone(
                ctx,
                session,
                episode.id,
                TEACHING_MILESTONE,
                discharged_at,
                "Discharge checklist complete.",
            )
        complete_milestone(
            ctx, session, episode.id, DISCHARGE_MILESTONE, discharged_at, "Recorded with the stay."
        )
        refresh_progress(session, episode)
        audit_episode(
            ctx,
            session,
            episode,
            "stay.discharged_override" if decision.overridden else "stay.discharged",
            "stay",
            stay.id,
            old={k: old[k] for k in ("discharged_at", "discharge_overridden")},
            new=_stay_snapshot(stay),
        )
        return DischargeResult(decision.overridden, tuple(item.name for item in blockers))
