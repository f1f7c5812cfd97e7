"""Preparation: fasting, the medication adjustment list, pre-operative tests, the screening trial
and evaluations, consent, and the readiness gate with its override.

Gates and milestones (docs/readiness.md, "Gates and milestones"):

* The readiness rules (`domain.readiness.readiness`) decide each gate from the records here.
  After every write, `_sync_gates` marks a gate milestone done (by the acting user, audited)
  once its rule is met, and reopens it when a record makes the rule unmet again — until the
  procedure has started, after which preparation is history and is not reopened.
* A gate milestone marked done or skipped by hand while no record exists for that gate is a
  clinician's attestation (paper records, older databases) and counts as met; it is shown as
  such. As soon as a record for the gate exists, the record decides: a hand mark is refused
  while it says unmet.
* A gate is *blocking* when its rule is unmet, it is not attested, and no override covers it.
  While any gate blocks, procedure milestones cannot be marked done and the procedure cannot be
  recorded (`require_may_proceed`), and the episode stays in Preparation (`refresh_progress`
  counts only gates covered by the override in force as passed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.progress import MilestoneState
from pathway_app.domain.readiness import (
    ClinicianDecision,
    Evaluation,
    FastingResult,
    HoldVerdict,
    Intake,
    Medication,
    Override,
    PreopTest,
    PreopTestStatus,
    Preparation,
    Readiness,
    ScreeningTrial,
    UnmetGate,
    apply_override,
    fasting_status,
    hold_verdict,
    preop_test_status,
    readiness,
    validate_intakes,
    validate_preop_test,
    validate_trial,
)
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, NAME_MAX_LENGTH
from pathway_app.domain.text import clean_text
from pathway_app.services.context import ServiceContext
from pathway_app.services.episode_access import audit_episode, open_episode_row
from pathway_app.services.episodes import refresh_progress
from pathway_app.storage import preparation_queries as pq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode, Milestone
from pathway_app.storage.orm_preparation import (
    IntakeRecord,
    MedicationRecord,
    PreopTestRecord,
    PreparationRecord,
    ReadinessOverride,
)

OTHER_DRUG = "other"
"""Drug key for a drug not in the hold table (it always needs a clinician's decision)."""

GATE_MET_NOTE = "Met by the preparation record."


class GateState(StrEnum):
    MET = "met"
    ATTESTED = "attested"  # marked by hand, no record for the gate
    OVERRIDDEN = "overridden"
    UNMET = "unmet"


@dataclass(frozen=True)
class GateView:
    """One readiness gate as the Preparation page shows it.

    Attributes:
        reasons: why the rule is unmet (empty when met).
        milestone_state: the gate milestone's state, or "" when the episode has none.
        marked_by: who marked the milestone (by hand or through a record), if marked.
    """

    key: str
    name: str
    state: GateState
    reasons: tuple[str, ...]
    milestone_state: str
    marked_by: str

    @property
    def blocking(self) -> bool:
        return self.state is GateState.UNMET


@dataclass(frozen=True)
class OverrideView:
    id: int
    reason: str
    authorised_by: str
    at: datetime
    recorded_by: str
    gates: tuple[UnmetGate, ...]


@dataclass(frozen=True)
class MedicationView:
    id: int
    drug_key: str
    name: str
    last_dose_at: datetime | None
    instruction: str
    decision_by: str
    decision_at: datetime | None
    decision_note: str
    verdict: HoldVerdict | None  # None while no procedure start is scheduled
    unverified: bool  # the hold table's row is unverified [U]: shown, never trusted


@dataclass(frozen=True)
class TestView:
    key: str
    name: str
    gate: str
    validity_days: int
    clinic_default: bool
    record: PreopTest | None
    status: PreopTestStatus


@dataclass(frozen=True)
class HoldChoice:
    """A drug the medication dialog offers (hold-table rows, then "other")."""

    key: str
    name: str
    hold: str
    unverified: bool
    note: str


@dataclass(frozen=True)
class GateCheck:
    """The readiness of one episode with the milestones taken into account."""

    readiness: Readiness
    gates: tuple[GateView, ...]
    override: OverrideView | None

    @property
    def blocking(self) -> tuple[GateView, ...]:
        return tuple(g for g in self.gates if g.blocking)

    @property
    def may_proceed(self) -> bool:
        return not self.blocking

    def blocking_text(self) -> str:
        """The unmet gates and why, one line each (the message of a refusal)."""
        lines = []
        for gate in self.blocking:
            lines.append(f"• {gate.name}: {' '.join(gate.reasons)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PreparationView:
    """Everything the Preparation page shows; built in one read session."""

    episode_id: int
    is_open: bool
    indication: str
    pain_trial: bool
    psych_required: bool
    procedure_start: datetime | None
    intakes: tuple[Intake, ...]
    fasting: FastingResult | None
    medications: tuple[MedicationView, ...]
    medications_reviewed: bool
    inr_normal: bool | None
    tests: tuple[TestView, ...]
    trial: ScreeningTrial | None
    psych: Evaluation | None
    consent_on: date | None
    confirmations: tuple[tuple[str, str, bool], ...]
    check: GateCheck
    override_history: tuple[OverrideView, ...]
    procedure_started: bool
    drift: bool  # a gate milestone disagrees with its rule; `sync_gates` brings it in line

    @property
    def gates(self) -> tuple[GateView, ...]:
        return self.check.gates

    @property
    def may_proceed(self) -> bool:
        return self.check.may_proceed


@dataclass(frozen=True)
class MedicationDraft:
    """A drug on the adjustment list as entered.

    Attributes:
        drug_key: a holds.toml key, or `OTHER_DRUG` with `name`.
        decision_by, decision_note: a clinician's decision (both or neither).
    """

    drug_key: str
    name: str
    last_dose_at: datetime | None
    instruction: str
    decision_by: str = ""
    decision_note: str = ""


@dataclass(frozen=True)
class EvaluationsDraft:
    """The screening trial, the psychological evaluation, consent and the confirmations.

    A section left entirely blank is stored as not recorded.
    """

    trial: ScreeningTrial | None
    psych: Evaluation | None
    consent_on: date | None
    confirmations: frozenset[str]


# --- helpers -----------------------------------------------------------------------------------


def _record(ctx: ServiceContext, session: Session, episode: Episode) -> PreparationRecord:
    row = pq.preparation(session, episode.id)
    if row is None:
        row = PreparationRecord(
            episode_id=episode.id,
            trial_drug="",
            trial_dose="",
            psych_by="",
            psych_note="",
            confirmations="[]",
            medications_reviewed=False,
            updated_at=ctx.now(),
            updated_by=ctx.actor,
        )
        session.add(row)
        session.flush()
    return row


def _touch(ctx: ServiceContext, row: Any) -> None:
    row.updated_at = ctx.now()
    row.updated_by = ctx.actor


def _confirmations(row: PreparationRecord | None) -> frozenset[str]:
    if row is None:
        return frozenset()
    return frozenset(json.loads(row.confirmations or "[]"))


def _medication(row: MedicationRecord) -> Medication:
    decision = None
    if row.decision_by and row.decision_at is not None:
        decision = ClinicianDecision(row.decision_by, row.decision_at, row.decision_note)
    return Medication(row.drug_key, row.name, row.last_dose_at, row.instruction, decision)


def _trial(row: PreparationRecord | None) -> ScreeningTrial | None:
    if row is None or row.trial_on is None:
        return None
    return ScreeningTrial(
        row.trial_on,
        row.trial_drug,
        row.trial_dose,
        row.trial_percent_relief,
        row.trial_positive_response,
    )


def _psych(row: PreparationRecord | None) -> Evaluation | None:
    if row is None or row.psych_done_on is None:
        return None
    return Evaluation(row.psych_done_on, row.psych_by, row.psych_cleared, row.psych_note)


def _test(row: PreopTestRecord) -> PreopTest:
    return PreopTest(
        row.key, row.ordered_on, row.resulted_on, row.result, row.reviewed_by, row.reviewed_on
    )


def _preparation(session: Session, episode: Episode) -> Preparation:
    row = pq.preparation(session, episode.id)
    return Preparation(
        indication=episode.indication,
        procedure_start=row.procedure_start if row else None,
        trial=_trial(row),
        psych_evaluation=_psych(row),
        consent_on=row.consent_on if row else None,
        tests=tuple(_test(t) for t in pq.tests(session, episode.id)),
        confirmations=_confirmations(row),
        medications=tuple(_medication(m) for m in pq.medications(session, episode.id)),
        medications_reviewed=bool(row and row.medications_reviewed),
        intakes=tuple(
            Intake(i.kind, i.last_at, i.nothing_since) for i in pq.intakes(session, episode.id)
        ),
        inr_normal=row.inr_normal if row else None,
    )


def _override_view(row: ReadinessOverride) -> OverrideView:
    gates = tuple(
        UnmetGate(g["key"], g["name"], g["reason"]) for g in json.loads(row.gates or "[]")
    )
    return OverrideView(row.id, row.reason, row.authorised_by, row.at, row.recorded_by, gates)


def _has_record(ctx: ServiceContext, prep: Preparation, key: str) -> bool:
    """True when something is recorded for the gate, so the record (not a hand mark) decides."""
    config = ctx.readiness
    if key == "screening-trial":
        return prep.trial is not None
    if key == "psych-evaluation":
        return prep.psych_evaluation is not None
    if key == "consent":
        return prep.consent_on is not None
    if key == "medication-holds":
        return prep.medications_reviewed or bool(prep.medications)
    if key == "fasting":
        return bool(prep.intakes)
    test_keys = {t.key for t in config.tests if t.gate == key}
    confirmation_keys = {c.key for c in config.confirmations if c.gate == key}
    return any(t.key in test_keys for t in prep.tests) or bool(
        prep.confirmations & confirmation_keys
    )


def _record_decides(ctx: ServiceContext, prep: Preparation, m: Milestone) -> bool:
    """The rule, not a hand mark, decides this gate: a record exists for it, or the milestone
    was marked by the rule in the first place."""
    return m.note == GATE_MET_NOTE or _has_record(ctx, prep, m.key)


def _gate_milestones(session: Session, episode: Episode) -> dict[str, Milestone]:
    return {m.key: m for m in episode.milestones if m.gate}


def procedure_started(session: Session, episode: Episode) -> bool:
    """The operation has begun: a step is recorded or a procedure milestone is marked."""
    record = pq.procedure(session, episode.id)
    if record is not None and json.loads(record.steps or "{}"):
        return True
    return any(
        is_procedure_milestone(episode, m) and m.state != MilestoneState.PLANNED.value
        for m in episode.milestones
    )


def _gate_stage_position(episode: Episode) -> int:
    positions = [m.stage_position for m in episode.milestones if m.gate]
    return max(positions) if positions else -1


def is_procedure_milestone(episode: Episode, milestone: Milestone) -> bool:
    """A milestone of the stage that follows the readiness gates (Procedure)."""
    gate_stage = _gate_stage_position(episode)
    return gate_stage >= 0 and milestone.stage_position == gate_stage + 1


def _check(
    ctx: ServiceContext, session: Session, episode: Episode
) -> tuple[GateCheck, Preparation]:
    prep = _preparation(session, episode)
    override_row = pq.current_override(session, episode.id)
    override = _override_view(override_row) if override_row else None
    domain_override = (
        Override(override.reason, override.authorised_by, override.at, override.gates)
        if override
        else None
    )
    result = readiness(prep, ctx.readiness, ctx.holds, now=ctx.now(), override=domain_override)
    milestones = _gate_milestones(session, episode)
    covered = domain_override.gate_keys if domain_override else frozenset()
    views = []
    for gate in ctx.readiness.gates:
        m = milestones.get(gate.key)
        reasons = tuple(u.reason for u in result.unmet if u.key == gate.key)
        if m is None and not reasons:
            continue  # the gate does not apply to this episode (e.g. psych for cancer pain)
        hand_marked = m is not None and m.state != MilestoneState.PLANNED.value
        if not reasons:
            state = GateState.MET
        elif hand_marked and m is not None and not _record_decides(ctx, prep, m):
            state = GateState.ATTESTED
        elif gate.key in covered:
            state = GateState.OVERRIDDEN
        else:
            state = GateState.UNMET
        views.append(
            GateView(
                key=gate.key,
                name=gate.name,
                state=state,
                reasons=reasons,
                milestone_state=m.state if m is not None else "",
                marked_by=(m.done_by or "") if hand_marked and m is not None else "",
            )
        )
    return GateCheck(result, tuple(views), override), prep


def gate_check(ctx: ServiceContext, session: Session, episode: Episode) -> GateCheck:
    """The episode's readiness now, with hand marks and the override in force."""
    return _check(ctx, session, episode)[0]


def require_may_proceed(ctx: ServiceContext, session: Session, episode: Episode) -> GateCheck:
    """Refuse to go on into the Procedure stage while a gate blocks.

    Raises:
        InvalidTransition: listing each unmet gate and why.
    """
    check = gate_check(ctx, session, episode)
    if not check.may_proceed:
        raise InvalidTransition(
            "The episode cannot move to the Procedure stage: these readiness gates are unmet "
            "(record them on the Preparation page, or record an authorised override):\n"
            + check.blocking_text()
        )
    return check


def check_hand_mark(ctx: ServiceContext, session: Session, milestone: Milestone) -> None:
    """Refuse marking a gate milestone by hand while its record says the rule is unmet."""
    if not milestone.gate:
        return
    episode = milestone.episode
    check, prep = _check(ctx, session, episode)
    if not _has_record(ctx, prep, milestone.key):
        return
    reasons = [u.reason for u in check.readiness.unmet if u.key == milestone.key]
    if reasons:
        raise InvalidTransition(
            f"“{milestone.name}” is a readiness gate and its preparation record says it is "
            f"not met: {' '.join(reasons)} Correct the record on the Preparation page (the "
            "milestone is then marked done by itself), or record an authorised override."
        )


def _sync_gates(ctx: ServiceContext, session: Session, episode: Episode) -> None:
    """Bring the gate milestones in line with their rules, then the worklist fields."""
    session.flush()
    session.refresh(episode, ["milestones"])
    check, prep = _check(ctx, session, episode)
    started = procedure_started(session, episode)
    milestones = _gate_milestones(session, episode)
    for gate in check.gates:
        m = milestones.get(gate.key)
        if m is None:
            continue
        old = {"state": m.state, "done_at": m.done_at, "done_by": m.done_by, "note": m.note}
        if not gate.reasons and m.state == MilestoneState.PLANNED.value:
            m.state = MilestoneState.DONE.value
            m.done_at = ctx.now()
            m.done_by = ctx.actor
            m.note = GATE_MET_NOTE
            action = "milestone.done"
        elif (
            gate.reasons
            and m.state != MilestoneState.PLANNED.value
            and _record_decides(ctx, prep, m)
            and not started
        ):
            m.state = MilestoneState.PLANNED.value
            m.done_at = None
            m.done_by = None
            m.skip_reason = None
            m.note = None
            action = "milestone.reopened"
        else:
            continue
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
                "reasons": list(gate.reasons),
            },
        )
    refresh_progress(session, episode)


def sync_gates(ctx: ServiceContext, episode_id: int) -> None:
    """Re-check the gates now (a result can expire with time) and update the milestones."""
    with ctx.db.writing() as session:
        _sync_gates(ctx, session, open_episode_row(session, episode_id))


# --- read model --------------------------------------------------------------------------------


def hold_choices(ctx: ServiceContext) -> tuple[HoldChoice, ...]:
    """The drugs of the hold table in file order, then "other"."""
    rows = [
        HoldChoice(r.key, r.name, r.hold_text(), r.unverified, r.note) for r in ctx.holds.values()
    ]
    rows.append(
        HoldChoice(
            OTHER_DRUG, "Other drug (not in the hold table)", "a clinician decides", False, ""
        )
    )
    return tuple(rows)


def preparation_view(ctx: ServiceContext, episode_id: int) -> PreparationView:
    config = ctx.readiness
    now = ctx.now()
    with ctx.db.reading() as session:
        episode = repo.episode_with_milestones(session, episode_id)
        check, prep = _check(ctx, session, episode)
        start = prep.procedure_start
        medications = []
        for row in pq.medications(session, episode.id):
            verdict = None
            if start is not None:
                med = _medication(row)
                verdict = hold_verdict(
                    med.drug_key,
                    med.last_dose_at,
                    start,
                    ctx.holds,
                    prep.inr_normal,
                    now,
                    decision=med.decision,
                    name=med.name,
                )
            medications.append(
                MedicationView(
                    id=row.id,
                    drug_key=row.drug_key,
                    name=row.name,
                    last_dose_at=row.last_dose_at,
                    instruction=row.instruction,
                    decision_by=row.decision_by,
                    decision_at=row.decision_at,
                    decision_note=row.decision_note,
                    verdict=verdict,
                    unverified=bool(
                        (rule := ctx.holds.get(row.drug_key)) is not None and rule.unverified
                    ),
                )
            )
        statuses = {s.key: s for s in check.readiness.tests}
        recorded = {t.key: t for t in prep.tests}
        tests = tuple(
            TestView(
                key=d.key,
                name=d.name,
                gate=d.gate,
                validity_days=d.validity_days,
                clinic_default=d.clinic_default,
                record=recorded.get(d.key),
                status=statuses.get(d.key)
                or preop_test_status(recorded.get(d.key), d.key, ctx.today(), config),
            )
            for d in config.tests
        )
        started = procedure_started(session, episode)
        milestones = _gate_milestones(session, episode)
        drift = False
        for gate in check.gates:
            m = milestones.get(gate.key)
            if m is None:
                continue
            if (not gate.reasons and m.state == MilestoneState.PLANNED.value) or (
                gate.reasons
                and m.state != MilestoneState.PLANNED.value
                and _record_decides(ctx, prep, m)
                and not started
            ):
                drift = True
        return PreparationView(
            episode_id=episode.id,
            is_open=episode.status == "open",
            indication=episode.indication,
            pain_trial=episode.indication in config.trial.pain_indications,
            psych_required=episode.indication in config.psych_indications,
            procedure_start=start,
            intakes=prep.intakes,
            fasting=check.readiness.fasting,
            medications=tuple(medications),
            medications_reviewed=prep.medications_reviewed,
            inr_normal=prep.inr_normal,
            tests=tests,
            trial=prep.trial,
            psych=prep.psych_evaluation,
            consent_on=prep.consent_on,
            confirmations=tuple(
                (c.key, c.name, c.key in prep.confirmations) for c in config.confirmations
            ),
            check=check,
            override_history=tuple(_override_view(o) for o in pq.overrides(session, episode.id)),
            procedure_started=started,
            drift=drift and episode.status == "open",
        )


def fasting_preview(
    ctx: ServiceContext, procedure_start: datetime, intakes: Sequence[Intake]
) -> FastingResult:
    """Fasting at a start time being typed, before anything is saved (the page re-evaluates as
    the time moves). Raises ValidationError for an unknown kind or a time without a zone."""
    return fasting_status(intakes, procedure_start, ctx.readiness)


# --- fasting and the scheduled start -----------------------------------------------------------


def _aware_or_error(errors: dict[str, str], field: str, value: datetime | None, label: str) -> None:
    if value is not None and value.utcoffset() is None:
        errors[field] = f"The {label} has no time zone."


def save_fasting(
    ctx: ServiceContext,
    episode_id: int,
    procedure_start: datetime | None,
    intakes: Sequence[Intake],
) -> None:
    """Store the scheduled start and the last intake of each kind (kinds not given are cleared).

    Raises:
        ValidationError: keyed ``procedure_start`` or by intake kind (future intake, unknown
            kind, repeated kind); nothing is written.
    """
    errors: dict[str, str] = {}
    _aware_or_error(errors, "procedure_start", procedure_start, "procedure start")
    kinds = [i.kind for i in intakes]
    for kind in {k for k in kinds if kinds.count(k) > 1}:
        errors[kind] = "This kind of intake is entered twice."
    try:
        validate_intakes(intakes, ctx.now(), ctx.readiness)
    except ValidationError as exc:
        errors.update(exc.field_errors)
    if errors:
        raise ValidationError(errors)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        row = _record(ctx, session, episode)
        existing = {i.kind: i for i in pq.intakes(session, episode.id)}
        old = {
            "procedure_start": row.procedure_start,
            "intakes": {k: [i.last_at, i.nothing_since] for k, i in existing.items()},
        }
        row.procedure_start = procedure_start
        _touch(ctx, row)
        given = {i.kind: i for i in intakes}
        for kind, stored in existing.items():
            if kind not in given:
                session.delete(stored)
        for kind, intake in given.items():
            stored_row = existing.get(kind)
            if stored_row is None:
                session.add(
                    IntakeRecord(
                        episode_id=episode.id,
                        kind=kind,
                        last_at=intake.last_at,
                        nothing_since=intake.nothing_since,
                        updated_at=ctx.now(),
                        updated_by=ctx.actor,
                    )
                )
            elif (stored_row.last_at, stored_row.nothing_since) != (
                intake.last_at,
                intake.nothing_since,
            ):
                stored_row.last_at = intake.last_at
                stored_row.nothing_since = intake.nothing_since
                _touch(ctx, stored_row)
        new = {
            "procedure_start": procedure_start,
            "intakes": {k: [i.last_at, i.nothing_since] for k, i in given.items()},
        }
        audit_episode(
            ctx, session, episode, "preparation.fasting", "preparation", row.id, old=old, new=new
        )
        _sync_gates(ctx, session, episode)


# --- medications -------------------------------------------------------------------------------


def _validate_medication(ctx: ServiceContext, draft: MedicationDraft) -> MedicationDraft:
    errors: dict[str, str] = {}
    rule = ctx.holds.get(draft.drug_key)
    if rule is None and draft.drug_key != OTHER_DRUG:
        errors["drug_key"] = "Choose the drug (or “Other drug” and type its name)."
    name = (
        rule.name
        if rule
        else clean_text(errors, "name", draft.name, "drug name", NAME_MAX_LENGTH, required=True)
    )
    if draft.last_dose_at is not None:
        if draft.last_dose_at.utcoffset() is None:
            errors["last_dose_at"] = "The last dose has no time zone."
        elif draft.last_dose_at > ctx.now():
            errors["last_dose_at"] = "The last dose is in the future."
    instruction = clean_text(
        errors,
        "instruction",
        draft.instruction,
        "instruction",
        FREE_TEXT_MAX_LENGTH,
        required=False,
        multiline=True,
    )
    by = clean_text(
        errors,
        "decision_by",
        draft.decision_by,
        "clinician's name",
        NAME_MAX_LENGTH,
        required=False,
    )
    note = clean_text(
        errors,
        "decision_note",
        draft.decision_note,
        "decision",
        FREE_TEXT_MAX_LENGTH,
        required=False,
        multiline=True,
    )
    if note and not by and "decision_by" not in errors:
        errors["decision_by"] = "Enter the clinician who decided."
    if by and not note and "decision_note" not in errors:
        errors["decision_note"] = "Write the decision (e.g. “continue aspirin”, “stop 5 days”)."
    if errors:
        raise ValidationError(errors)
    return MedicationDraft(draft.drug_key, name, draft.last_dose_at, instruction, by, note)


def _medication_snapshot(row: MedicationRecord) -> dict[str, Any]:
    return {
        "drug_key": row.drug_key,
        "name": row.name,
        "last_dose_at": row.last_dose_at,
        "instruction": row.instruction,
        "decision_by": row.decision_by,
        "decision_note": row.decision_note,
    }


def save_medication(
    ctx: ServiceContext, episode_id: int, draft: MedicationDraft, medication_id: int | None = None
) -> int:
    """Add a drug to the adjustment list, or change one; return its id.

    A clinician's decision (name and text) resolves a drug that needs one; it is dated now.

    Raises:
        ValidationError: one message per faulty field; nothing is written.
    """
    clean = _validate_medication(ctx, draft)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        if medication_id is None:
            row = MedicationRecord(episode_id=episode.id, decision_by="", decision_note="")
            old: dict[str, Any] = {}
            session.add(row)
        else:
            row = pq.get_medication(session, medication_id)
            if row.episode_id != episode.id:
                raise InvalidTransition("That medication belongs to another episode.")
            old = _medication_snapshot(row)
        decision_changed = (row.decision_by, row.decision_note) != (
            clean.decision_by,
            clean.decision_note,
        )
        row.drug_key = clean.drug_key
        row.name = clean.name
        row.last_dose_at = clean.last_dose_at
        row.instruction = clean.instruction
        row.decision_by = clean.decision_by
        row.decision_note = clean.decision_note
        if decision_changed:
            row.decision_at = ctx.now() if clean.decision_by else None
        _touch(ctx, row)
        session.flush()
        audit_episode(
            ctx,
            session,
            episode,
            "medication.added" if medication_id is None else "medication.changed",
            "medication",
            row.id,
            old=old,
            new=_medication_snapshot(row),
        )
        _sync_gates(ctx, session, episode)
        return row.id


def remove_medication(ctx: ServiceContext, medication_id: int) -> None:
    """Take a drug off the adjustment list (the audit log keeps what it was)."""
    with ctx.db.writing() as session:
        row = pq.get_medication(session, medication_id)
        episode = open_episode_row(session, row.episode_id)
        old = _medication_snapshot(row)
        session.delete(row)
        audit_episode(
            ctx, session, episode, "medication.removed", "medication", medication_id, old=old
        )
        _sync_gates(ctx, session, episode)


def set_medication_review(
    ctx: ServiceContext, episode_id: int, reviewed: bool, inr_normal: bool | None
) -> None:
    """Record that the adjustment list was checked (even when empty) and the INR finding."""
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        row = _record(ctx, session, episode)
        old = {"medications_reviewed": row.medications_reviewed, "inr_normal": row.inr_normal}
        row.medications_reviewed = reviewed
        row.inr_normal = inr_normal
        _touch(ctx, row)
        audit_episode(
            ctx,
            session,
            episode,
            "preparation.medications_reviewed",
            "preparation",
            row.id,
            old=old,
            new={"medications_reviewed": reviewed, "inr_normal": inr_normal},
        )
        _sync_gates(ctx, session, episode)


# --- tests -------------------------------------------------------------------------------------


def _test_snapshot(row: PreopTestRecord | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "key": row.key,
        "ordered_on": row.ordered_on,
        "resulted_on": row.resulted_on,
        "result": row.result,
        "reviewed_by": row.reviewed_by,
        "reviewed_on": row.reviewed_on,
    }


def save_test(ctx: ServiceContext, episode_id: int, test: PreopTest) -> None:
    """Record a pre-operative test's order, result and review (as far as they have happened).

    Raises:
        ValidationError: unknown test, future dates, dates out of order, a result without a
            value, a review without a reviewer; nothing is written.
    """
    clean = validate_preop_test(test, ctx.today(), ctx.readiness)
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        row = pq.test(session, episode.id, clean.key)
        old = _test_snapshot(row)
        if row is None:
            row = PreopTestRecord(episode_id=episode.id, key=clean.key)
            session.add(row)
        row.ordered_on = clean.ordered_on
        row.resulted_on = clean.resulted_on
        row.result = clean.result
        row.reviewed_by = clean.reviewed_by
        row.reviewed_on = clean.reviewed_on
        _touch(ctx, row)
        session.flush()
        audit_episode(
            ctx,
            session,
            episode,
            "preop_test.saved",
            "preop_test",
            row.id,
            old=old,
            new=_test_snapshot(row),
        )
        _sync_gates(ctx, session, episode)


# --- trial, evaluation, consent, confirmations ------------------------------------------------


def _validate_evaluations(
    ctx: ServiceContext, indication: str, draft: EvaluationsDraft
) -> EvaluationsDraft:
    today = ctx.today()
    errors: dict[str, str] = {}
    trial = draft.trial
    if trial is not None:
        try:
            trial = validate_trial(trial, indication, today, ctx.readiness)
        except ValidationError as exc:
            errors.update({f"trial.{k}": v for k, v in exc.field_errors.items()})
    psych = draft.psych
    if psych is not None:
        if psych.done_on is None:
            errors["psych.done_on"] = "Enter the date of the evaluation."
        elif psych.done_on > today:
            errors["psych.done_on"] = "The evaluation date is in the future."
        by = clean_text(
            errors, "psych.by", psych.by, "evaluator's name", NAME_MAX_LENGTH, required=True
        )
        note = clean_text(
            errors,
            "psych.note",
            psych.note,
            "note",
            FREE_TEXT_MAX_LENGTH,
            required=False,
            multiline=True,
        )
        psych = Evaluation(psych.done_on, by, psych.cleared, note)
    if draft.consent_on is not None and draft.consent_on > today:
        errors["consent_on"] = "The consent date is in the future."
    known = {c.key for c in ctx.readiness.confirmations}
    unknown = sorted(draft.confirmations - known)
    if unknown:
        errors["confirmations"] = f"{unknown[0]!r} is not a known confirmation."
    if errors:
        raise ValidationError(errors)
    return EvaluationsDraft(trial, psych, draft.consent_on, draft.confirmations)


def _evaluations_snapshot(row: PreparationRecord) -> dict[str, Any]:
    return {
        "trial_on": row.trial_on,
        "trial_drug": row.trial_drug,
        "trial_dose": row.trial_dose,
        "trial_percent_relief": row.trial_percent_relief,
        "trial_positive_response": row.trial_positive_response,
        "psych_done_on": row.psych_done_on,
        "psych_by": row.psych_by,
        "psych_cleared": row.psych_cleared,
        "psych_note": row.psych_note,
        "consent_on": row.consent_on,
        "confirmations": json.loads(row.confirmations or "[]"),
    }


def save_evaluations(ctx: ServiceContext, episode_id: int, draft: EvaluationsDraft) -> None:
    """Record the screening trial, the psychological evaluation, consent and confirmations.

    Raises:
        ValidationError: keys ``trial.<field>``, ``psych.<field>``, ``consent_on``,
            ``confirmations``; nothing is written.
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        clean = _validate_evaluations(ctx, episode.indication, draft)
        row = _record(ctx, session, episode)
        old = _evaluations_snapshot(row)
        trial, psych = clean.trial, clean.psych
        row.trial_on = trial.trial_on if trial else None
        row.trial_drug = trial.drug if trial else ""
        row.trial_dose = trial.dose if trial else ""
        row.trial_percent_relief = trial.percent_relief if trial else None
        row.trial_positive_response = trial.positive_response if trial else None
        row.psych_done_on = psych.done_on if psych else None
        row.psych_by = psych.by if psych else ""
        row.psych_cleared = psych.cleared if psych else None
        row.psych_note = psych.note if psych else ""
        row.consent_on = clean.consent_on
        row.confirmations = json.dumps(sorted(clean.confirmations))
        _touch(ctx, row)
        new = _evaluations_snapshot(row)
        if new != old:
            audit_episode(
                ctx,
                session,
                episode,
                "preparation.evaluations",
                "preparation",
                row.id,
                old=old,
                new=new,
            )
        _sync_gates(ctx, session, episode)


# --- override ----------------------------------------------------------------------------------


def override_gates(ctx: ServiceContext, episode_id: int, reason: str, authorised_by: str) -> int:
    """Record an authorised override of the gates unmet now; return its id.

    The override covers exactly these gates: one that becomes unmet later needs a new override.
    It is kept (overrides are never changed or deleted) and shown on the Preparation page.

    Raises:
        ValidationError: no reason (``override_reason``) or no name (``override_by``).
        InvalidTransition: no gate blocks; there is nothing to override.
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        check = gate_check(ctx, session, episode)
        blocking = tuple(
            UnmetGate(g.key, g.name, " ".join(g.reasons))
            for g in check.gates
            if g.state in (GateState.UNMET, GateState.OVERRIDDEN)
        )
        given = apply_override(
            replace(check.readiness, unmet=blocking), reason, authorised_by, ctx.now()
        ).override
        assert given is not None
        row = ReadinessOverride(
            episode_id=episode.id,
            reason=given.reason,
            authorised_by=given.by,
            at=given.at,
            recorded_by=ctx.actor,
            gates=json.dumps(
                [{"key": g.key, "name": g.name, "reason": g.reason} for g in given.unmet],
                ensure_ascii=False,
            ),
        )
        session.add(row)
        session.flush()
        previous = check.override
        audit_episode(
            ctx,
            session,
            episode,
            "readiness.overridden",
            "readiness_override",
            row.id,
            old={"override_id": previous.id, "reason": previous.reason} if previous else {},
            new={
                "reason": row.reason,
                "authorised_by": row.authorised_by,
                "gates": [g.key for g in given.unmet],
                "reasons": [f"{g.name}: {g.reason}" for g in given.unmet],
            },
        )
        refresh_progress(session, episode)
        return row.id


def gate_names(ctx: ServiceContext, keys: Iterable[str]) -> Mapping[str, str]:
    return {k: ctx.readiness.gate(k).name for k in keys}
