"""The operation record: anaesthesia, setting and personnel, the six steps with their times, the
WHO checklist with the pump-specific items, antibiotic timing, the implanted pump and its initial
fill, and intra-operative events.

Nothing here may be recorded while a readiness gate is unmet without an override
(`preparation.require_may_proceed`). The record is built as the operation goes: missing parts
are listed as flags, not refused; what is entered is checked (steps in order and not in the
future, known roles, positive numbers...).

The pump and its initial fill are recorded through `refills.record_implant` (in the same
transaction), so the refill schedule starts from the fill recorded in theatre. Recording a step
marks the procedure milestone of the same key done at the step's time; a complete pause of the
WHO checklist marks its milestone (``who-sign-in``, ``who-time-out``, ``who-sign-out``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.procedure import (
    AntibioticCheck,
    PauseStatus,
    ProcedureDetails,
    ProcedureDuration,
    PumpImplant,
    StepTime,
    antibiotic_check,
    checklist_status,
    procedure_duration,
    validate_details,
    validate_pump_implant,
    validate_steps,
)
from pathway_app.domain.progress import MilestoneState
from pathway_app.domain.readiness import ProcedureConfig
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, NAME_MAX_LENGTH
from pathway_app.domain.recovery import ComplicationCategory
from pathway_app.domain.refill_records import ImplantDraft
from pathway_app.domain.text import check_control_characters
from pathway_app.services.context import ServiceContext
from pathway_app.services.episode_access import audit_episode, open_episode_row
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.preparation import (
    GateCheck,
    gate_check,
    is_procedure_milestone,
    require_may_proceed,
)
from pathway_app.services.refills import record_implant
from pathway_app.storage import preparation_queries as pq
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode, Fill, Milestone
from pathway_app.storage.orm_preparation import ProcedureEvent, ProcedureRecord

PROCEDURE_NOTE = "Recorded on the procedure record."
PAUSE_MILESTONES = {
    "sign-in": "who-sign-in",
    "time-out": "who-time-out",
    "sign-out": "who-sign-out",
}
TIP_LEVEL_MAX_LENGTH = 64


@dataclass(frozen=True)
class ProcedureDraft:
    """The operation record as entered on the Procedure page (everything optional but checked).

    Attributes:
        personnel: role key -> names.
        steps: the step times recorded so far.
        checklist: ticked WHO checklist item keys.
    """

    anaesthesia: str
    setting: str
    personnel: Mapping[str, tuple[str, ...]]
    steps: tuple[StepTime, ...]
    checklist: frozenset[str]
    antibiotic: str
    antibiotic_at: datetime | None
    csf_flow_confirmed: bool
    catheter_tip_level: str
    pocket_depth_cm: float | None


@dataclass(frozen=True)
class EventDraft:
    at: datetime | None
    text: str
    categories: frozenset[str]


@dataclass(frozen=True)
class PumpSummary:
    """The pump recorded for the episode and its initial fill (from the refill records)."""

    pump_id: int
    model_name: str
    serial: str
    reservoir_ml: float
    implanted_at: datetime
    drug_name: str | None
    concentration: float | None
    concentration_unit: str
    volume_ml: float | None
    second_checker: str
    refill_due_at: datetime | None


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    text: str
    categories: tuple[str, ...]  # names
    recorded_by: str


@dataclass(frozen=True)
class ProcedureView:
    """Everything the Procedure page shows.

    Attributes:
        recorded: a procedure record exists.
        antibiotic_check: the timing check, once the incision is recorded.
        flags: what needs attention (missing parts, out-of-range duration, antibiotic timing,
            incomplete pauses, pump flags), one sentence each.
    """

    episode_id: int
    is_open: bool
    check: GateCheck
    recorded: bool
    anaesthesia: str
    setting: str
    personnel: Mapping[str, tuple[str, ...]]
    steps: tuple[StepTime, ...]
    duration: ProcedureDuration | None
    checklist: frozenset[str]
    pauses: tuple[PauseStatus, ...]
    antibiotic: str
    antibiotic_at: datetime | None
    antibiotic_check: AntibioticCheck | None
    csf_flow_confirmed: bool
    catheter_tip_level: str
    pocket_depth_cm: float | None
    pump: PumpSummary | None
    events: tuple[EventView, ...]
    flags: tuple[str, ...]
    updated_by: str
    updated_at: datetime | None

    @property
    def may_proceed(self) -> bool:
        return self.check.may_proceed


# --- helpers -----------------------------------------------------------------------------------


def complication_categories(ctx: ServiceContext) -> tuple[ComplicationCategory, ...]:
    """The pathway's risk list (recovery.toml ``[[complications.categories]]``)."""
    return ctx.recovery.complications


def _steps(row: ProcedureRecord | None) -> tuple[StepTime, ...]:
    if row is None:
        return ()
    raw: dict[str, str] = json.loads(row.steps or "{}")
    return tuple(StepTime(key, datetime.fromisoformat(at)) for key, at in raw.items())


def _personnel(row: ProcedureRecord | None) -> dict[str, tuple[str, ...]]:
    if row is None:
        return {}
    raw: dict[str, list[str]] = json.loads(row.personnel or "{}")
    return {key: tuple(names) for key, names in raw.items()}


def _checklist(row: ProcedureRecord | None) -> frozenset[str]:
    return frozenset(json.loads(row.checklist or "[]")) if row is not None else frozenset()


def _snapshot(row: ProcedureRecord | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "anaesthesia": row.anaesthesia,
        "setting": row.setting,
        "personnel": json.loads(row.personnel or "{}"),
        "steps": json.loads(row.steps or "{}"),
        "checklist": json.loads(row.checklist or "[]"),
        "antibiotic": row.antibiotic,
        "antibiotic_at": row.antibiotic_at,
        "csf_flow_confirmed": row.csf_flow_confirmed,
        "catheter_tip_level": row.catheter_tip_level,
        "pocket_depth_cm": row.pocket_depth_cm,
        "pump_id": row.pump_id,
    }


def _record(ctx: ServiceContext, session: Session, episode: Episode) -> ProcedureRecord:
    row = pq.procedure(session, episode.id)
    if row is None:
        row = ProcedureRecord(
            episode_id=episode.id,
            anaesthesia="",
            setting="",
            personnel="{}",
            steps="{}",
            checklist="[]",
            antibiotic="",
            csf_flow_confirmed=False,
            catheter_tip_level="",
            updated_at=ctx.now(),
            updated_by=ctx.actor,
        )
        session.add(row)
        session.flush()
    return row


def _pump_summary(session: Session, episode_id: int) -> PumpSummary | None:
    pump = rq.active_pump(session, episode_id)
    if pump is None:
        return None
    fills = rq.current_fills(session, pump.id)
    initial: Fill | None = next((f for f in fills if f.kind == "initial"), None)
    return PumpSummary(
        pump_id=pump.id,
        model_name=pump.model_name,
        serial=pump.serial,
        reservoir_ml=pump.reservoir_ml,
        implanted_at=pump.implanted_at,
        drug_name=initial.drug_name if initial else None,
        concentration=initial.concentration if initial else None,
        concentration_unit=initial.concentration_unit if initial else "",
        volume_ml=initial.added_ml if initial else None,
        second_checker=initial.second_checker if initial else "",
        refill_due_at=pump.refill_due_at,
    )


def _pump_flags(
    pump: PumpSummary | None, row: ProcedureRecord | None, config: ProcedureConfig
) -> tuple[str, ...]:
    if pump is None:
        return ("Record the pump and its initial fill (the refill schedule starts from it).",)
    try:
        _, flags = validate_pump_implant(
            PumpImplant(
                pump_model=pump.model_name,
                serial=pump.serial,
                reservoir_ml=pump.reservoir_ml,
                drug=pump.drug_name or "",
                concentration=pump.concentration,
                concentration_unit=pump.concentration_unit,
                volume_ml=pump.volume_ml,
                fill_checked_by=pump.second_checker,
                csf_flow_confirmed=bool(row and row.csf_flow_confirmed),
                catheter_tip_level=row.catheter_tip_level if row else "",
                pocket_depth_cm=row.pocket_depth_cm if row else None,
            ),
            config,
        )
    except ValidationError as exc:
        # Refusals of the pump record (e.g. no catheter tip level yet) are shown as flags
        # here: the pump itself is already recorded through the refill service.
        flags = tuple(exc.field_errors.values())
        if not (row and row.csf_flow_confirmed):
            flags += ("Free CSF flow is not confirmed.",)
    return flags


# --- read model --------------------------------------------------------------------------------


def procedure_view(ctx: ServiceContext, episode_id: int) -> ProcedureView:
    config = ctx.readiness.procedure
    categories = {c.key: c.name for c in complication_categories(ctx)}
    with ctx.db.reading() as session:
        episode = repo.episode_with_milestones(session, episode_id)
        check = gate_check(ctx, session, episode)
        row = pq.procedure(session, episode.id)
        steps = _steps(row)
        by_step = {s.step: s.at for s in steps}
        first, last = config.steps[0].key, config.steps[-1].key
        duration = None
        if first in by_step and last in by_step and by_step[last] > by_step[first]:
            duration = procedure_duration(by_step[first], by_step[last], config)
        checked = _checklist(row)
        pauses = checklist_status(checked & _known_items(config), config)
        antibiotic = row.antibiotic if row else ""
        antibiotic_at = row.antibiotic_at if row else None
        ab_check = None
        if first in by_step:
            ab_check = antibiotic_check(antibiotic, antibiotic_at, by_step[first], config)
        pump = _pump_summary(session, episode.id)
        flags: list[str] = []
        if row is None or not row.anaesthesia:
            flags.append("Record the anaesthesia type, the setting and the implanting physician.")
        missing = [s.name for s in config.steps if s.key not in by_step]
        if missing:
            flags.append("Steps not recorded yet: " + ", ".join(missing) + ".")
        if duration is not None and duration.flag:
            flags.append(duration.flag)
        for pause in pauses:
            if not pause.complete:
                flags.append(f"{pause.name}: {len(pause.missing)} item(s) not checked.")
        if ab_check is not None and not ab_check.ok:
            flags.append(ab_check.message)
        elif ab_check is None:
            flags.append("Record the antibiotic prophylaxis and when it was given.")
        flags.extend(_pump_flags(pump, row, config))
        events = tuple(
            EventView(
                e.id,
                e.at,
                e.text,
                tuple(categories.get(k, k) for k in json.loads(e.categories or "[]")),
                e.recorded_by,
            )
            for e in pq.events(session, episode.id)
        )
        return ProcedureView(
            episode_id=episode.id,
            is_open=episode.status == "open",
            check=check,
            recorded=row is not None,
            anaesthesia=row.anaesthesia if row else "",
            setting=(row.setting if row and row.setting else episode.setting),
            personnel=_personnel(row),
            steps=steps,
            duration=duration,
            checklist=checked,
            pauses=pauses,
            antibiotic=antibiotic,
            antibiotic_at=antibiotic_at,
            antibiotic_check=ab_check,
            csf_flow_confirmed=bool(row and row.csf_flow_confirmed),
            catheter_tip_level=row.catheter_tip_level if row else "",
            pocket_depth_cm=row.pocket_depth_cm if row else None,
            pump=pump,
            events=events,
            flags=tuple(flags),
            updated_by=row.updated_by if row else "",
            updated_at=row.updated_at if row else None,
        )


def _known_items(config: ProcedureConfig) -> frozenset[str]:
    return frozenset(i.key for p in config.checklist for i in p.items)


# --- writes ------------------------------------------------------------------------------------


def _validate(ctx: ServiceContext, draft: ProcedureDraft) -> ProcedureDraft:
    config = ctx.readiness.procedure
    errors: dict[str, str] = {}
    anaesthesia, setting, personnel = draft.anaesthesia, draft.setting, dict(draft.personnel)
    if anaesthesia or setting or any(n.strip() for names in personnel.values() for n in names):
        try:
            details = validate_details(
                ProcedureDetails(anaesthesia, setting, personnel),
                config,
                [s.key for s in ctx.template.settings],
            )
            personnel = {k: v for k, v in details.personnel.items() if v}
        except ValidationError as exc:
            errors.update(exc.field_errors)
    steps: tuple[StepTime, ...] = ()
    try:
        steps = validate_steps(draft.steps, ctx.now(), config)
    except ValidationError as exc:
        errors.update({f"step.{k}": v for k, v in exc.field_errors.items()})
    try:
        checklist_status(draft.checklist, config)
    except ValidationError as exc:
        errors.update(exc.field_errors)
    antibiotic = draft.antibiotic.strip()
    if len(antibiotic) > NAME_MAX_LENGTH:
        errors["antibiotic"] = f"Keep the antibiotic under {NAME_MAX_LENGTH} characters."
    else:
        check_control_characters(errors, "antibiotic", antibiotic, "antibiotic")
    if draft.antibiotic_at is not None:
        if draft.antibiotic_at.utcoffset() is None:
            errors["antibiotic_at"] = "The antibiotic time has no time zone."
        elif draft.antibiotic_at > ctx.now():
            errors["antibiotic_at"] = "The antibiotic time is in the future."
        elif not antibiotic:
            errors["antibiotic"] = "Enter the antibiotic given."
    tip = draft.catheter_tip_level.strip()
    if len(tip) > TIP_LEVEL_MAX_LENGTH:
        errors["catheter_tip_level"] = f"Keep the level under {TIP_LEVEL_MAX_LENGTH} characters."
    else:
        # The label the pump record's tip level has (domain.procedure), so both forms agree.
        check_control_characters(errors, "catheter_tip_level", tip, "catheter tip level")
    depth = draft.pocket_depth_cm
    if depth is not None and (not math.isfinite(depth) or depth <= 0):
        errors["pocket_depth_cm"] = "Enter the pocket depth (cm) as a number above zero."
    if errors:
        raise ValidationError(errors)
    return ProcedureDraft(
        anaesthesia=anaesthesia,
        setting=setting,
        personnel=personnel,
        steps=steps,
        checklist=draft.checklist,
        antibiotic=antibiotic,
        antibiotic_at=draft.antibiotic_at,
        csf_flow_confirmed=draft.csf_flow_confirmed,
        catheter_tip_level=tip,
        pocket_depth_cm=depth,
    )


def _mark(
    ctx: ServiceContext, session: Session, episode: Episode, m: Milestone, at: datetime | None
) -> None:
    """Mark a procedure milestone done at `at` (or reopen it when `at` is None and the record
    had marked it); audited like a hand mark."""
    old = {"state": m.state, "done_at": m.done_at, "done_by": m.done_by, "note": m.note}
    if at is not None and m.state == MilestoneState.PLANNED.value:
        m.state = MilestoneState.DONE.value
        m.done_at = min(at, ctx.now())
        m.done_by = ctx.actor
        m.note = PROCEDURE_NOTE
        action = "milestone.done"
    elif at is None and m.state == MilestoneState.DONE.value and m.note == PROCEDURE_NOTE:
        m.state = MilestoneState.PLANNED.value
        m.done_at = None
        m.done_by = None
        m.note = None
        action = "milestone.reopened"
    else:
        return
    repo.add_audit(
        session,
        at=ctx.now(),
        actor=ctx.actor,
        action=action,
        entity="milestone",
        entity_id=m.id,
        patient_id=episode.patient_id,
        episode_id=episode.id,
        old={"milestone": m.key, **old},
        new={
            "milestone": m.key,
            "state": m.state,
            "done_at": m.done_at,
            "done_by": m.done_by,
            "note": m.note,
            "by_rule": True,
        },
    )


def _sync_milestones(
    ctx: ServiceContext, session: Session, episode: Episode, row: ProcedureRecord
) -> None:
    config = ctx.readiness.procedure
    session.flush()
    session.refresh(episode, ["milestones"])
    by_step = {s.step: s.at for s in _steps(row)}
    pauses = {p.key: p for p in checklist_status(_checklist(row), config)}
    first, last = config.steps[0].key, config.steps[-1].key
    step_keys = {s.key for s in config.steps}
    for m in episode.milestones:
        if not is_procedure_milestone(episode, m):
            continue
        if m.key in step_keys:
            _mark(ctx, session, episode, m, by_step.get(m.key))
            continue
        pause_key = next((p for p, key in PAUSE_MILESTONES.items() if key == m.key), None)
        if pause_key is None or pause_key not in pauses:
            continue
        if pauses[pause_key].complete:
            anchor = by_step.get(last) if pause_key == "sign-out" else by_step.get(first)
            _mark(ctx, session, episode, m, anchor or ctx.now())
        else:
            _mark(ctx, session, episode, m, None)
    refresh_progress(session, episode)


def save_procedure(ctx: ServiceContext, episode_id: int, draft: ProcedureDraft) -> None:
    """Store the operation record as entered so far and mark the procedure milestones it
    completes.

    Raises:
        InvalidTransition: a readiness gate is unmet without an override, or the episode is
            closed.
        ValidationError: keys ``anaesthesia``, ``setting``, ``personnel.<role>``,
            ``step.<step>``, ``checklist``, ``antibiotic``, ``antibiotic_at``,
            ``catheter_tip_level``, ``pocket_depth_cm``; nothing is written.
    """
    clean = _validate(ctx, draft)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        require_may_proceed(ctx, session, episode)
        row = _record(ctx, session, episode)
        old = _snapshot(row)
        row.anaesthesia = clean.anaesthesia
        row.setting = clean.setting
        row.personnel = json.dumps(
            {k: list(v) for k, v in clean.personnel.items()}, ensure_ascii=False
        )
        row.steps = json.dumps({s.step: s.at.isoformat() for s in clean.steps})
        row.checklist = json.dumps(sorted(clean.checklist))
        row.antibiotic = clean.antibiotic
        row.antibiotic_at = clean.antibiotic_at
        row.csf_flow_confirmed = clean.csf_flow_confirmed
        row.catheter_tip_level = clean.catheter_tip_level
        row.pocket_depth_cm = clean.pocket_depth_cm
        row.updated_at = ctx.now()
        row.updated_by = ctx.actor
        new = _snapshot(row)
        if new != old:
            audit_episode(
                ctx, session, episode, "procedure.saved", "procedure", row.id, old=old, new=new
            )
        _sync_milestones(ctx, session, episode, row)


def record_procedure_pump(ctx: ServiceContext, draft: ImplantDraft) -> int:
    """Record the implanted pump and its initial fill from the operation; return the pump id.

    Goes through `refills.record_implant` in the same transaction, so the refill schedule and
    the first-refill milestone start from this fill.

    Raises:
        InvalidTransition: a gate blocks, the episode is closed, or a pump is already recorded.
        ValidationError: as `refills.record_implant`; nothing is written.
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, draft.episode_id)
        require_may_proceed(ctx, session, episode)
        pump_id = record_implant(ctx, draft)
        row = _record(ctx, session, episode)
        old = _snapshot(row)
        row.pump_id = pump_id
        row.updated_at = ctx.now()
        row.updated_by = ctx.actor
        audit_episode(
            ctx,
            session,
            episode,
            "procedure.pump_recorded",
            "procedure",
            row.id,
            old={"pump_id": old.get("pump_id")},
            new={"pump_id": pump_id},
        )
        return pump_id


def add_event(ctx: ServiceContext, episode_id: int, draft: EventDraft) -> int:
    """Note an intra-operative event or complication; return its id.

    Raises:
        ValidationError: keys ``at``, ``text``, ``categories``; nothing is written.
        InvalidTransition: a gate blocks or the episode is closed.
    """
    errors: dict[str, str] = {}
    if draft.at is None:
        errors["at"] = "Enter when it happened."
    elif draft.at.utcoffset() is None:
        errors["at"] = "The time has no time zone."
    elif draft.at > ctx.now():
        errors["at"] = "The time is in the future."
    text = draft.text.strip()
    if not text:
        errors["text"] = "Describe what happened."
    elif len(text) > FREE_TEXT_MAX_LENGTH:
        errors["text"] = f"Keep the description under {FREE_TEXT_MAX_LENGTH} characters."
    else:
        check_control_characters(errors, "text", text, "description", multiline=True)
    known = {c.key for c in complication_categories(ctx)}
    unknown = sorted(draft.categories - known)
    if unknown:
        errors["categories"] = f"{unknown[0]!r} is not a category of the risk list."
    if errors:
        raise ValidationError(errors)
    assert draft.at is not None
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        require_may_proceed(ctx, session, episode)
        row = ProcedureEvent(
            episode_id=episode.id,
            at=draft.at,
            text=text,
            categories=json.dumps(sorted(draft.categories)),
            recorded_at=ctx.now(),
            recorded_by=ctx.actor,
        )
        session.add(row)
        session.flush()
        audit_episode(
            ctx,
            session,
            episode,
            "procedure.event",
            "procedure_event",
            row.id,
            new={"at": draft.at, "text": text, "categories": sorted(draft.categories)},
        )
        return row.id


def step_times(steps: Sequence[StepTime]) -> dict[str, datetime]:
    return {s.step: s.at for s in steps}
