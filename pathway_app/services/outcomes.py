"""Outcomes (issue 10): record and correct an outcome entry, record the alternatives discussed
at consent, and the read model of the Outcomes page (entries, summary, flags, chart series and
the year-on-year IT opioid trend)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.outcomes import (
    CleanOutcome,
    DosePoint,
    OpioidTrend,
    OutcomeDraft,
    ashworth_rank,
    it_opioid_trend,
    summarise,
    validate_outcome,
)
from pathway_app.domain.records import validate_reason
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.outcome_progress import point
from pathway_app.storage import outcome_queries as oq
from pathway_app.storage import preparation_queries as pq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode
from pathway_app.storage.orm_outcomes import OutcomeEntry
from pathway_app.storage.orm_preparation import PreparationRecord

# --- read models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OralDoseView:
    drug: str
    name: str
    amount: float
    unit: str
    factor: float
    mme: float
    verified: bool


@dataclass(frozen=True)
class OutcomeEntryView:
    id: int
    assessed_on: date
    kind: str
    pain_nrs: int | None
    ashworth: str | None
    function_text: str
    function_score: int | None
    oral: tuple[OralDoseView, ...]
    oral_mme: float
    mme_verified: bool
    side_effects: tuple[str, ...]
    side_effect_other: str
    note: str
    recorded_at: datetime
    recorded_by: str
    version: int


@dataclass(frozen=True)
class OutcomeChartSeries:
    """What the outcome chart draws, baseline (or the first fill) to today.

    ``scores`` are pain NRS 0-10 or the Ashworth rank 0-5 (``score_kind``); ``it_doses`` is a
    step series of the IT daily dose from each current fill; ``dose_changes`` the fills that
    changed the daily dose; ``refills`` the other refills.
    """

    score_kind: str
    start: date
    end: date
    scores: tuple[tuple[date, float], ...]
    mme: tuple[tuple[date, float], ...]
    it_doses: tuple[tuple[datetime, float], ...]
    it_unit: str
    it_drug: str
    refills: tuple[datetime, ...]
    dose_changes: tuple[datetime, ...]


@dataclass(frozen=True)
class ConsentAlternativeView:
    key: str
    name: str
    discussed: bool


@dataclass(frozen=True)
class OutcomesView:
    episode_id: int
    score_kind: str
    entries: tuple[OutcomeEntryView, ...]  # newest first
    summary: str
    flags: tuple[str, ...]
    trend: OpioidTrend | None
    chart: OutcomeChartSeries
    alternatives: tuple[ConsentAlternativeView, ...]
    consent_on: date | None
    preparation_version: int | None
    has_baseline: bool


def _entry_view(e: OutcomeEntry) -> OutcomeEntryView:
    return OutcomeEntryView(
        id=e.id,
        assessed_on=e.assessed_on,
        kind=e.kind,
        pain_nrs=e.pain_nrs,
        ashworth=e.ashworth,
        function_text=e.function_text,
        function_score=e.function_score,
        oral=tuple(OralDoseView(**d) for d in json.loads(e.oral_doses)),
        oral_mme=e.oral_mme,
        mme_verified=e.mme_verified,
        side_effects=tuple(json.loads(e.side_effects)),
        side_effect_other=e.side_effect_other,
        note=e.note,
        recorded_at=e.recorded_at,
        recorded_by=e.recorded_by,
        version=e.version,
    )


def outcomes_view(ctx: ServiceContext, episode_id: int) -> OutcomesView:
    today = ctx.today()
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        kind = ctx.outcomes.score_kind(episode.indication)
        rows = oq.entries(session, episode_id)
        views = [_entry_view(e) for e in rows]
        summary = summarise([point(e) for e in rows], kind)
        fills = oq.current_fills(session, episode_id)
        doses = [DosePoint(f.filled_at, f.drug_key, f.daily_dose) for f in fills]
        trend = it_opioid_trend(doses, ctx.outcomes, today)
        prep = pq.preparation(session, episode_id)
        chosen = set(json.loads(prep.consent_alternatives)) if prep else set()
        alternatives = tuple(
            ConsentAlternativeView(a.key, a.name, a.key in chosen)
            for a in ctx.outcomes.alternatives
        )
        scores: list[tuple[date, float]] = []
        for v in views:
            if kind == "spasticity" and v.ashworth is not None:
                rank = ashworth_rank(v.ashworth)
                if rank is not None:
                    scores.append((v.assessed_on, float(rank)))
            elif kind == "pain" and v.pain_nrs is not None:
                scores.append((v.assessed_on, float(v.pain_nrs)))
        it_doses = tuple((f.filled_at, f.daily_dose) for f in fills)
        refills: list[datetime] = []
        changes: list[datetime] = []
        previous: float | None = None
        for f in fills:
            if previous is not None and abs(f.daily_dose - previous) > 1e-9:
                changes.append(f.filled_at)
            elif f.kind == "refill":
                refills.append(f.filled_at)
            previous = f.daily_dose
        starts = [v.assessed_on for v in views] + [f.filled_at.date() for f in fills]
        start = min(starts) if starts else today
        chart = OutcomeChartSeries(
            score_kind=kind,
            start=start,
            end=max([today, *starts]),
            scores=tuple(scores),
            mme=tuple((v.assessed_on, v.oral_mme) for v in views),
            it_doses=it_doses,
            it_unit=fills[-1].dose_unit if fills else "",
            it_drug=fills[-1].drug_name if fills else "",
            refills=tuple(refills),
            dose_changes=tuple(changes),
        )
        return OutcomesView(
            episode_id=episode_id,
            score_kind=kind,
            entries=tuple(reversed(views)),
            summary=summary.text,
            flags=summary.flags,
            trend=trend,
            chart=chart,
            alternatives=alternatives,
            consent_on=prep.consent_on if prep else None,
            preparation_version=prep.version if prep else None,
            has_baseline=any(v.kind == "baseline" for v in views),
        )


# --- writes -----------------------------------------------------------------------------------


def _values(clean: CleanOutcome) -> dict[str, Any]:
    return {
        "assessed_on": clean.assessed_on.isoformat(),
        "kind": clean.kind,
        "pain_nrs": clean.pain_nrs,
        "ashworth": clean.ashworth,
        "function_text": clean.function_text,
        "function_score": clean.function_score,
        "oral_doses": [c.__dict__ for c in clean.oral],
        "oral_mme": clean.oral_mme,
        "mme_verified": clean.mme_verified,
        "side_effects": list(clean.side_effects),
        "side_effect_other": clean.side_effect_other,
        "note": clean.note,
    }


def _row_values(e: OutcomeEntry) -> dict[str, Any]:
    return {
        "assessed_on": e.assessed_on.isoformat(),
        "kind": e.kind,
        "pain_nrs": e.pain_nrs,
        "ashworth": e.ashworth,
        "function_text": e.function_text,
        "function_score": e.function_score,
        "oral_doses": json.loads(e.oral_doses),
        "oral_mme": e.oral_mme,
        "mme_verified": e.mme_verified,
        "side_effects": json.loads(e.side_effects),
        "side_effect_other": e.side_effect_other,
        "note": e.note,
    }


def _apply(row: OutcomeEntry, clean: CleanOutcome) -> None:
    values = _values(clean)
    row.assessed_on = clean.assessed_on
    row.kind = clean.kind
    row.pain_nrs = clean.pain_nrs
    row.ashworth = clean.ashworth
    row.function_text = clean.function_text
    row.function_score = clean.function_score
    row.oral_doses = json.dumps(values["oral_doses"], ensure_ascii=False)
    row.oral_mme = clean.oral_mme
    row.mme_verified = clean.mme_verified
    row.side_effects = json.dumps(values["side_effects"])
    row.side_effect_other = clean.side_effect_other
    row.note = clean.note


def _validate(
    ctx: ServiceContext, session: Session, episode: Episode, draft: OutcomeDraft, skip_id: int
) -> CleanOutcome:
    clean = validate_outcome(
        draft,
        ctx.outcomes,
        score_kind=ctx.outcomes.score_kind(episode.indication),
        today=ctx.today(),
    )
    if clean.kind == "baseline" and any(
        e.kind == "baseline" and e.id != skip_id for e in oq.entries(session, episode.id)
    ):
        raise ValidationError(
            {"kind": "This episode already has a baseline; correct it instead of adding one."}
        )
    return clean


def record_outcome(ctx: ServiceContext, episode_id: int, draft: OutcomeDraft) -> int:
    """Validate and record an outcome entry; return its id.

    Raises:
        ValidationError: a field is wrong (one message per field; see `validate_outcome`), or
            a second baseline.
    """
    with ctx.db.writing() as session:
        episode = repo.get_episode(session, episode_id)
        clean = _validate(ctx, session, episode, draft, 0)
        row = OutcomeEntry(episode_id=episode_id, recorded_at=ctx.now(), recorded_by=ctx.actor)
        _apply(row, clean)
        session.add(row)
        session.flush()
        refresh_progress(session, episode)
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="outcome.recorded",
            entity="outcome_entry",
            entity_id=row.id,
            patient_id=episode.patient_id,
            episode_id=episode_id,
            new=_values(clean),
        )
        return row.id


def correct_outcome(
    ctx: ServiceContext,
    entry_id: int,
    draft: OutcomeDraft,
    *,
    expected_version: int | None,
    reason: str,
) -> None:
    """Correct an entry in place; the audit entry keeps the old and new values and the reason.

    Raises:
        ValidationError: a field is wrong, or ``reason`` is missing, too long or holds a
            control character.
        ConcurrentEdit: the entry changed since the user read it.
    """
    with ctx.db.writing() as session:
        row = oq.get_entry(session, entry_id)
        repo.check_version(row.version, expected_version)
        episode = repo.get_episode(session, row.episode_id)
        errors: dict[str, str] = {}
        try:
            clean = _validate(ctx, session, episode, draft, row.id)
        except ValidationError as exc:
            errors.update(exc.field_errors)
        why = reason.strip()
        if not why:
            # Says which reason, unlike the shared "Enter a reason.": the form has other fields.
            errors["reason"] = "Say why the entry is corrected."
        else:
            try:
                why = validate_reason(why)
            except ValidationError as exc:
                errors.update(exc.field_errors)
        if errors:
            raise ValidationError(errors)
        old = _row_values(row)
        _apply(row, clean)
        session.flush()
        refresh_progress(session, episode)
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="outcome.corrected",
            entity="outcome_entry",
            entity_id=row.id,
            patient_id=episode.patient_id,
            episode_id=episode.id,
            old=old,
            new={**_values(clean), "reason": why},
        )


def record_consent_alternatives(
    ctx: ServiceContext, episode_id: int, keys: set[str], *, expected_version: int | None
) -> None:
    """Record which alternatives to an implanted pump were discussed at consent.

    Raises:
        ValidationError: key ``alternatives`` for a key not in outcomes.toml.
        ConcurrentEdit: the preparation record changed since the user read it.
    """
    known = [a.key for a in ctx.outcomes.alternatives]
    if keys - set(known):
        raise ValidationError({"alternatives": "Choose alternatives from the list."})
    with ctx.db.writing() as session:
        episode = repo.get_episode(session, episode_id)
        row = pq.preparation(session, episode_id)
        if row is None:
            row = PreparationRecord(
                episode_id=episode_id,
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
        else:
            repo.check_version(row.version, expected_version)
        old = json.loads(row.consent_alternatives)
        new = [k for k in known if k in keys]
        row.consent_alternatives = json.dumps(new)
        row.updated_at = ctx.now()
        row.updated_by = ctx.actor
        session.flush()
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="consent.alternatives_recorded",
            entity="preparation_record",
            entity_id=row.id,
            patient_id=episode.patient_id,
            episode_id=episode_id,
            old={"consent_alternatives": old},
            new={"consent_alternatives": new},
        )
