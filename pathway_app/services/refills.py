"""Recording the implanted pump, its fills and the exposure log, and keeping the refill
projection current.

Every write checks everything first (the engine's `check_refill`, the reconciliation, the
explanation a flagged reconciliation needs), then writes the row, the audit entry, the pump's
denormalised worklist columns and the first-refill milestone in one transaction. Nothing is
updated in place: a correction is a new fill row pointing at the one it replaces.

Optimistic concurrency: every refill, correction and exposure bumps the pump row's ``version``.
A form passes back the version it read when it opened (`pump_version`) as ``expected_version``;
when another window or workstation changed the pump since, the write raises `ConcurrentEdit`
naming who changed it and when, and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from pathway_app.domain.catalogues import (
    Drug,
    PumpModel,
    effective_reserve_ml,
    unverified_projection_inputs,
)
from pathway_app.domain.clock import local_today
from pathway_app.domain.errors import (
    ConcurrentEdit,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from pathway_app.domain.progress import MilestoneState
from pathway_app.domain.records import validate_reason
from pathway_app.domain.refill_records import (
    ExposureDraft,
    ExposureKind,
    FillDraft,
    FillKind,
    ImplantDraft,
    check_post_refill_volume,
    validate_explanation,
    validate_exposure,
    validate_fill_fields,
    validate_implant_fields,
)
from pathway_app.domain.refills import (
    Reconciliation,
    RefillCheck,
    RefillProjection,
    check_refill,
    expected_residual,
    project_refill,
    reconcile,
)
from pathway_app.services.context import ServiceContext
from pathway_app.services.episode_access import audit_episode, open_episode_row
from pathway_app.services.episodes import refresh_progress
from pathway_app.services.milestones import mark_done
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode, Exposure, Fill, ImplantedPump

FIRST_REFILL_MILESTONE = "first-refill"
FLOW_RAISING_EXPOSURES = tuple(k.value for k in ExposureKind if k.raises_flow)


@dataclass(frozen=True)
class FillPreview:
    """What the fill dialog shows before saving; nothing is written to compute it.

    Attributes:
        kind: initial fill or refill.
        previous_fill_at: the fill this one is reconciled against (None for an initial fill).
        previous_volume_ml: volume in the reservoir after that fill.
        expected_residual_ml: V_expected at the entered time (nominal flow), when computable.
        reconciliation: residual vs expected, once the aspirated volume is entered.
        check: the engine's checks and doses, when they pass.
        projection: next due / empty-by dates after this fill, when the checks pass.
        errors: field -> message; saving is refused while any is present.
        pocket_fill_alert: the alert the volume measured after a refill raises (None without a
            measurement or within the threshold); saving it needs ``observation_started``.
        volume_in_reservoir_ml: what the projection starts from: the volume after the fill,
            or the volume measured after a refill when that is lower (see `_projected_volume`).
    """

    kind: FillKind
    previous_fill_at: datetime | None
    previous_volume_ml: float | None
    expected_residual_ml: float | None
    reconciliation: Reconciliation | None
    check: RefillCheck | None
    projection: RefillProjection | None
    errors: Mapping[str, str] = field(default_factory=dict)
    pocket_fill_alert: str | None = None
    volume_in_reservoir_ml: float | None = None

    @property
    def flagged(self) -> bool:
        return self.reconciliation is not None and self.reconciliation.flagged


# --- helpers -----------------------------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    return frozenset(name for name in text.split(",") if name)


def _join(names: frozenset[str] | tuple[str, ...]) -> str:
    return ",".join(sorted(names))


def pump_model_of(pump: ImplantedPump) -> PumpModel:
    """The implanted pump as the engine sees it: the numbers copied at implant, not today's
    catalogue, so editing the catalogue never moves an existing patient's dates."""
    return PumpModel(
        key=pump.model_key,
        name=pump.model_name,
        maker="",
        reservoir_ml=pump.reservoir_ml,
        nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
        flow_tolerance_pct=pump.tolerance_pct,
        reserve_ml=pump.reserve_ml,
        exposure_factor=pump.exposure_factor,
        unverified=_names(pump.unverified),
        source="recorded at implant",
    )


def _exposure_logged(session: Session, episode_id: int, filled_at: datetime) -> bool:
    return rq.has_exposure_since(
        session, episode_id, local_today(filled_at), FLOW_RAISING_EXPOSURES
    )


def _dose_step_limit(ctx: ServiceContext, episode: Episode) -> float | None:
    try:
        return ctx.template.indication(episode.indication).dose_step_limit_pct
    except KeyError:
        return None


def _set_errors(errors: dict[str, str], new: Mapping[str, str]) -> None:
    # The first message for a field is the most specific one (field checks run first).
    for key, message in new.items():
        errors.setdefault(key, message)


def _evaluate(
    ctx: ServiceContext,
    session: Session,
    episode: Episode,
    pump: ImplantedPump,
    draft: FillDraft,
    *,
    kind: FillKind,
    previous: Fill | None,
) -> FillPreview:
    """Check a fill and compute everything shown and stored for it, collecting every problem."""
    errors = validate_fill_fields(draft, ctx.now(), kind=kind)
    drug = ctx.catalogue.drugs.get(draft.drug_key)
    if drug is None and "drug_key" not in errors:
        errors["drug_key"] = "Choose a drug from the catalogue."
    model = pump_model_of(pump)
    when = draft.filled_at if "filled_at" not in errors else None

    expected = None
    reconciliation = None
    if kind is FillKind.REFILL and previous is not None and when is not None:
        if when > previous.filled_at:
            expected = expected_residual(
                previous.volume_after_ml, pump.nominal_flow_ml_per_day, previous.filled_at, when
            )
        if draft.aspirated_ml is not None:
            try:
                reconciliation = reconcile(
                    last_filled_at=previous.filled_at,
                    last_volume_after_fill_ml=previous.volume_after_ml,
                    nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
                    tolerance_pct=pump.tolerance_pct,
                    refilled_at=when,
                    # What was in the reservoir is what came out plus what the nurse says
                    # could not be aspirated; otherwise every declared residual is a deficit.
                    aspirated_ml=draft.aspirated_ml + max(0.0, draft.residual_left_ml),
                )
            except ValidationError as exc:
                _set_errors(errors, exc.field_errors)

    check = None
    if (
        drug is not None
        and when is not None
        and draft.added_ml is not None
        and draft.concentration is not None
    ):
        same_drug = previous is not None and previous.drug_key == drug.key
        try:
            check = check_refill(
                drug=drug,
                reservoir_ml=pump.reservoir_ml,
                nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
                refilled_at=when,
                last_filled_at=previous.filled_at if previous else None,
                residual_left_ml=draft.residual_left_ml,
                added_ml=draft.added_ml,
                concentration=draft.concentration,
                concentration_unit=draft.concentration_unit,
                operator=draft.operator,
                second_checker=draft.second_checker,
                # What stays in the pump is the mixture the last fill left there.
                residual_concentration=previous.effective_concentration if previous else None,
                residual_concentration_unit=previous.concentration_unit if previous else None,
                residual_drug_key=previous.drug_key if previous else None,
                previous_daily_dose=previous.daily_dose if same_drug and previous else None,
                dose_step_limit_pct=_dose_step_limit(ctx, episode),
                catheter_volume_ml=pump.catheter_volume_ml,
                confirm_over_max=draft.confirm_over_max,
                over_max_reason=draft.over_max_reason,
            )
        except ValidationError as exc:
            _set_errors(errors, exc.field_errors)
    _set_errors(
        errors,
        validate_explanation(draft, reconciliation is not None and reconciliation.flagged),
    )
    alert = None
    if kind is FillKind.REFILL and "post_refill_volume_ml" not in errors:
        post = check_post_refill_volume(draft, pump.reservoir_ml)
        alert = post.alert
        _set_errors(errors, post.errors)

    projection = None
    volume = None
    if check is not None:
        volume = _projected_volume(check.volume_after_fill_ml, draft, kind, errors)
    if check is not None and drug is not None and when is not None:
        assert volume is not None
        projection = project_refill(
            filled_at=when,
            volume_after_fill_ml=volume,
            reserve_ml=effective_reserve_ml(model, drug),
            nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
            tolerance_pct=pump.tolerance_pct,
            buffer_days=ctx.template.parameter("refill_buffer_days"),
            stability_days=drug.stability_days,
            exposure_factor=pump.exposure_factor,
            exposure_logged=_exposure_logged(session, episode.id, when),
            unverified_inputs=unverified_projection_inputs(model, drug),
        )
    return FillPreview(
        kind=kind,
        previous_fill_at=previous.filled_at if previous else None,
        previous_volume_ml=previous.volume_after_ml if previous else None,
        expected_residual_ml=expected,
        reconciliation=reconciliation,
        check=check,
        projection=projection,
        errors=errors,
        pocket_fill_alert=alert,
        volume_in_reservoir_ml=volume,
    )


def _projected_volume(
    computed_ml: float, draft: FillDraft, kind: FillKind, errors: dict[str, str]
) -> float:
    """The volume the refill date is projected from. A measurement after a refill that is
    lower than the residual plus the volume added means less drug reached the reservoir (at
    worst a pocket fill): the reservoir then runs dry sooner, and a date from the computed
    volume would be late -- a withdrawal risk. So the lower measured volume is used; a higher
    one is taken as measuring noise. The next refill is reconciled against the same volume."""
    measured = draft.post_refill_volume_ml
    if kind is not FillKind.REFILL or measured is None or "post_refill_volume_ml" in errors:
        return computed_ml
    return min(computed_ml, float(measured))


def _fill_row(
    ctx: ServiceContext,
    pump: ImplantedPump,
    draft: FillDraft,
    preview: FillPreview,
    drug: Drug,
    model: PumpModel,
    previous: Fill | None,
) -> Fill:
    assert preview.check is not None and preview.projection is not None
    assert draft.filled_at is not None and draft.added_ml is not None
    assert draft.concentration is not None
    check, projection, rec = preview.check, preview.projection, preview.reconciliation
    residual = draft.residual_left_ml
    return Fill(
        pump_id=pump.id,
        episode_id=pump.episode_id,
        kind=preview.kind.value,
        filled_at=draft.filled_at,
        recorded_at=ctx.now(),
        recorded_by=ctx.actor,
        aspirated_ml=draft.aspirated_ml if preview.kind is FillKind.REFILL else None,
        residual_left_ml=residual,
        added_ml=draft.added_ml,
        drug_key=drug.key,
        drug_name=drug.name,
        concentration=draft.concentration,
        concentration_unit=check.concentration_unit,
        residual_concentration=(
            previous.effective_concentration if previous is not None and residual > 0 else None
        ),
        lot=draft.lot.strip(),
        expiry_on=draft.expiry_on,
        operator=draft.operator.strip(),
        second_checker=draft.second_checker.strip(),
        needle=draft.needle.strip(),
        location_method=draft.location_method.strip(),
        notes=draft.notes.strip(),
        over_max_confirmed=check.over_max,
        over_max_reason=draft.over_max_reason.strip() if check.over_max else "",
        interval_days=rec.interval_days if rec else None,
        expected_residual_ml=rec.expected_residual if rec else None,
        actual_flow_ml_per_day=rec.actual_flow if rec else None,
        flow_error_pct=rec.flow_error_pct if rec else None,
        discrepancy_ml=rec.discrepancy_ml if rec else None,
        flagged=bool(rec and rec.flagged),
        flag_reasons=json.dumps(list(rec.reasons) if rec else [], ensure_ascii=False),
        explanation=draft.explanation.value if draft.explanation else None,
        explanation_note=draft.explanation_note.strip(),
        post_refill_volume_ml=(
            draft.post_refill_volume_ml if preview.kind is FillKind.REFILL else None
        ),
        pocket_fill_alert=preview.pocket_fill_alert,
        volume_after_ml=(
            preview.volume_in_reservoir_ml
            if preview.volume_in_reservoir_ml is not None
            else check.volume_after_fill_ml
        ),
        effective_concentration=check.effective_concentration,
        daily_dose=check.daily_dose,
        effective_daily_dose=check.effective_daily_dose,
        dose_unit=check.dose_unit,
        due_at=projection.due_at,
        empty_by_nominal_at=projection.empty_by_nominal,
        empty_by_worst_at=projection.empty_by_worst_case,
        worst_case_flow_ml_per_day=projection.worst_case_flow,
        limited_by=projection.limited_by,
        reserve_ml_used=effective_reserve_ml(model, drug),
        buffer_days_used=float(ctx.template.parameter("refill_buffer_days")),
        stability_days_used=drug.stability_days,
        dangerous_withdrawal=drug.dangerous_withdrawal,
        unverified_inputs=_join(unverified_projection_inputs(model, drug)),
        warnings=json.dumps(
            [*check.warnings, *projection.warnings, *(rec.reasons if rec else ())],
            ensure_ascii=False,
        ),
        correction_reason="",
    )


def _reproject(session: Session, pump: ImplantedPump, fill: Fill) -> RefillProjection:
    """The projection of a stored fill with today's exposure log, from the inputs it stored."""
    return project_refill(
        filled_at=fill.filled_at,
        volume_after_fill_ml=fill.volume_after_ml,
        reserve_ml=fill.reserve_ml_used,
        nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
        tolerance_pct=pump.tolerance_pct,
        buffer_days=fill.buffer_days_used,
        stability_days=fill.stability_days_used,
        exposure_factor=pump.exposure_factor,
        exposure_logged=_exposure_logged(session, pump.episode_id, fill.filled_at),
        unverified_inputs=_names(fill.unverified_inputs),
    )


def _refresh_pump(
    session: Session,
    pump: ImplantedPump,
    fill: Fill | None = None,
    projection: RefillProjection | None = None,
) -> None:
    """Bring the pump's denormalised worklist columns and the first-refill date up to date.

    Args:
        fill: the fill now in force, when the caller just wrote it (saves a query).
        projection: its projection, when the caller just computed it with the same exposures.
    """
    session.flush()
    if fill is None:
        fill = rq.latest_fill(session, pump.id)
        if fill is None:
            return
    if projection is None:
        projection = _reproject(session, pump, fill)
    pump.last_fill_at = fill.filled_at
    pump.refill_due_at = projection.due_at
    pump.refill_due_on = local_today(projection.due_at)
    pump.empty_by_nominal_at = projection.empty_by_nominal
    pump.empty_by_worst_at = projection.empty_by_worst_case
    pump.urgent_at = projection.empty_by_worst_case - timedelta(days=fill.buffer_days_used)
    pump.drug_key = fill.drug_key
    pump.drug_name = fill.drug_name
    pump.dangerous_withdrawal = fill.dangerous_withdrawal
    pump.concentration = fill.effective_concentration
    pump.concentration_unit = fill.concentration_unit
    pump.daily_dose = fill.effective_daily_dose
    pump.dose_unit = fill.dose_unit
    pump.projection_limited_by = projection.limited_by
    pump.projection_unverified = _join(projection.unverified)
    pump.projection_warnings = json.dumps(list(projection.warnings), ensure_ascii=False)
    if fill.kind != FillKind.INITIAL.value:
        return
    milestone = rq.milestone_by_key(session, pump.episode_id, FIRST_REFILL_MILESTONE)
    if milestone is not None and milestone.state == MilestoneState.PLANNED.value:
        milestone.due_on = pump.refill_due_on
        refresh_progress(session, repo.get_episode(session, pump.episode_id))


def _fill_snapshot(fill: Fill) -> dict[str, Any]:
    keys = (
        "kind",
        "filled_at",
        "aspirated_ml",
        "residual_left_ml",
        "added_ml",
        "drug_key",
        "concentration",
        "concentration_unit",
        "lot",
        "expiry_on",
        "operator",
        "second_checker",
        "needle",
        "location_method",
        "notes",
        "over_max_confirmed",
        "over_max_reason",
        "expected_residual_ml",
        "discrepancy_ml",
        "flow_error_pct",
        "flagged",
        "explanation",
        "explanation_note",
        "post_refill_volume_ml",
        "pocket_fill_alert",
        "volume_after_ml",
        "effective_concentration",
        "daily_dose",
        "due_at",
        "empty_by_worst_at",
        "unverified_inputs",
    )
    return {key: getattr(fill, key) for key in keys}


def _observation(fill: Fill, draft: FillDraft) -> dict[str, Any]:
    """The nurse's confirmation that observation started, in the audit entry of a fill saved
    with a pocket-fill alert (it is what allowed the save)."""
    if fill.pocket_fill_alert is None:
        return {}
    return {"observation_started": draft.observation_started}


def _require_pump(session: Session, episode_id: int) -> ImplantedPump:
    pump = rq.active_pump(session, episode_id)
    if pump is None:
        raise InvalidTransition(
            "No pump is recorded for this episode: record the implant and initial fill first."
        )
    return pump


# --- optimistic concurrency --------------------------------------------------------------------


def pump_version(ctx: ServiceContext, episode_id: int) -> int | None:
    """The version of the episode's implanted pump (None when none is recorded).

    A refill, correction or exposure form reads it when it opens and passes it back as
    ``expected_version``, so a change made meanwhile elsewhere is refused rather than saved
    over data the coordinator never saw.
    """
    with ctx.db.reading() as session:
        pump = rq.active_pump(session, episode_id)
        return pump.version if pump is not None else None


def _touch(pump: ImplantedPump) -> None:
    """Make this write bump the pump's version even when the projection comes out the same
    (an exposure before the current fill, a correction of the lot number): a form opened before
    it was still looking at other data."""
    flag_modified(pump, "last_fill_at")


def _at(moment: datetime, now: datetime) -> str:
    local = moment.astimezone()
    if local.date() == now.astimezone().date():
        return f"at {local:%H:%M}"
    return f"on {local:%Y-%m-%d} at {local:%H:%M}"


def _change_since(session: Session, pump: ImplantedPump, now: datetime) -> str:
    """The sentence saying what was recorded for the pump last, by whom and when."""
    since = "since you opened this form"
    # The audit log orders fills and exposures together (by id where the times are equal),
    # which their own recorded_at columns cannot.
    entry = next(
        (
            row
            for row in repo.episode_history(session, pump.episode_id)
            if row.entity in ("fill", "exposure")
        ),
        None,
    )
    if entry is None:
        return f"The pump's record was changed {since}."
    when = f"{_at(entry.at, now)} by {entry.actor} {since}"
    if entry.entity == "exposure":
        exposure = session.get(Exposure, entry.entity_id)
        kind = f", “{ExposureKind(exposure.kind).label}”," if exposure is not None else ""
        return f"An exposure{kind} was logged for this patient {when}; it changes the refill date."
    fill = session.get(Fill, entry.entity_id)
    if fill is not None and fill.corrects_id is not None:
        return f"The last fill of this pump was corrected {when}."
    if fill is not None and fill.kind == FillKind.INITIAL.value:
        return f"The initial fill of this pump was recorded {when}."
    return f"A refill was recorded for this pump {when}."


def _check_unchanged(
    ctx: ServiceContext, session: Session, pump: ImplantedPump | None, expected: int | None
) -> None:
    """Refuse the write when the pump changed since the form read ``expected`` (None: no check).

    Runs inside the write transaction, which holds the clinic-wide write lock, so nothing can
    change the pump between this check and the commit.

    Raises:
        ConcurrentEdit: the pump changed meanwhile; says who and when where the data has it.
    """
    if expected is None:
        return
    if pump is None:
        raise ConcurrentEdit(
            "The pump shown in this form is no longer recorded for the episode. Close it and "
            "check the pump page; nothing was saved."
        )
    if pump.version == expected:
        return
    raise ConcurrentEdit(
        f"{_change_since(session, pump, ctx.now())} Nothing was saved: close this form and "
        "check the pump page before recording again."
    )


# --- implant and initial fill ------------------------------------------------------------------


def _new_pump(ctx: ServiceContext, draft: ImplantDraft, errors: dict[str, str]) -> ImplantedPump:
    """The pump row as it would be saved, from the catalogue and what the label says."""
    model = ctx.catalogue.pumps.get(draft.model_key)
    if model is None:
        errors["model_key"] = "Choose the pump model."
        return ImplantedPump(reservoir_ml=1.0, nominal_flow_ml_per_day=1.0, tolerance_pct=0.0)
    unverified = set(model.unverified)
    values: dict[str, float] = {}
    for name, entered, label in (
        ("reservoir_ml", draft.reservoir_ml, "reservoir volume"),
        ("nominal_flow_ml_per_day", draft.nominal_flow_ml_per_day, "nominal flow"),
    ):
        default = getattr(model, name)
        value = entered if entered is not None else default
        if value is None:
            errors.setdefault(
                name,
                f"The catalogue does not know the {label} of {model.name}: enter it from the "
                "implanted pump's label.",
            )
            value = 1.0
        # A value read on the device (confirmed, or different from the default) is this
        # pump's own, so the catalogue's "unverified" no longer applies to it.
        if draft.read_from_label or (entered is not None and entered != default):
            unverified.discard(name)
        values[name] = float(value)
    return ImplantedPump(
        episode_id=draft.episode_id,
        model_key=model.key,
        model_name=model.name,
        serial=draft.serial.strip(),
        reservoir_ml=values["reservoir_ml"],
        nominal_flow_ml_per_day=values["nominal_flow_ml_per_day"],
        tolerance_pct=model.flow_tolerance_pct,
        reserve_ml=model.reserve_ml,
        exposure_factor=model.exposure_factor,
        catheter_volume_ml=draft.catheter_volume_ml,
        unverified=_join(frozenset(unverified)),
        implanted_at=draft.implanted_at,
        recorded_at=ctx.now(),
        recorded_by=ctx.actor,
    )


def preview_implant(ctx: ServiceContext, draft: ImplantDraft) -> FillPreview:
    """Check the implant and initial fill and compute the first refill date, writing nothing."""
    with ctx.db.reading() as session:
        return _check_implant(ctx, session, draft)[1]


def _check_implant(
    ctx: ServiceContext, session: Session, draft: ImplantDraft
) -> tuple[ImplantedPump, FillPreview, Episode]:
    errors = validate_implant_fields(draft, ctx.now())
    episode = open_episode_row(session, draft.episode_id)
    pump = _new_pump(ctx, draft, errors)
    preview = _evaluate(
        ctx, session, episode, pump, draft.fill, kind=FillKind.INITIAL, previous=None
    )
    all_errors = {**preview.errors, **errors}
    return pump, replace(preview, errors=all_errors), episode


def record_implant(ctx: ServiceContext, draft: ImplantDraft) -> int:
    """Record the implanted pump and its initial fill; return the pump's id.

    The first-refill milestone gets the engine's due date.

    Raises:
        ValidationError: one message per faulty field; nothing is written.
        InvalidTransition: the episode is closed or already has a pump.
    """
    with ctx.db.writing() as session:
        if rq.active_pump(session, draft.episode_id) is not None:
            raise InvalidTransition(
                "A pump is already recorded for this episode; correct its fills instead."
            )
        pump, preview, episode = _check_implant(ctx, session, draft)
        if preview.errors:
            raise ValidationError(dict(preview.errors))
        drug = ctx.catalogue.drug(draft.fill.drug_key)
        session.add(pump)
        session.flush()
        fill = _fill_row(ctx, pump, draft.fill, preview, drug, pump_model_of(pump), None)
        session.add(fill)
        _refresh_pump(session, pump, fill, preview.projection)
        audit_episode(
            ctx,
            session,
            episode,
            "pump.implanted",
            "pump",
            pump.id,
            new={
                "model_key": pump.model_key,
                "serial": pump.serial,
                "reservoir_ml": pump.reservoir_ml,
                "nominal_flow_ml_per_day": pump.nominal_flow_ml_per_day,
                "tolerance_pct": pump.tolerance_pct,
                "reserve_ml": pump.reserve_ml,
                "exposure_factor": pump.exposure_factor,
                "unverified": pump.unverified,
                "implanted_at": pump.implanted_at,
            },
        )
        audit_episode(
            ctx,
            session,
            episode,
            "fill.initial",
            "fill",
            fill.id,
            new={**_fill_snapshot(fill), "next_due_on": pump.refill_due_on},
        )
        return pump.id


# --- refills -------------------------------------------------------------------------------------


def preview_refill(ctx: ServiceContext, episode_id: int, draft: FillDraft) -> FillPreview:
    """Check a refill and compute the reconciliation and new dates, writing nothing."""
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        pump = _require_pump(session, episode_id)
        previous = rq.latest_fill(session, pump.id)
        return _evaluate(
            ctx, session, episode, pump, draft, kind=FillKind.REFILL, previous=previous
        )


def record_refill(
    ctx: ServiceContext,
    episode_id: int,
    draft: FillDraft,
    *,
    expected_version: int | None = None,
) -> int:
    """Record a refill with its reconciliation; return the new fill's id.

    The first refill after the initial fill marks the first-refill milestone done. A volume
    measured after the refill is stored with it, and so is the pocket-fill alert it raises.
    ``expected_version`` is the pump version the form read when it opened (`pump_version`);
    None skips the check (scripts, the demo, the generator).

    Raises:
        ValidationError: one message per faulty field (overfill, unit, unconfirmed dose above
            the maximum, missing second checker, missing explanation of a flagged
            reconciliation, a post-refill volume above the reservoir, a pocket-fill alert
            without ``draft.observation_started``, ...); nothing is written.
        InvalidTransition: the episode is closed or has no pump yet.
        ConcurrentEdit: the pump was refilled, corrected or had an exposure logged since the
            form read ``expected_version``; nothing is written.
    """
    with ctx.db.writing() as session:
        episode = open_episode_row(session, episode_id)
        pump = _require_pump(session, episode_id)
        _check_unchanged(ctx, session, pump, expected_version)
        previous = rq.latest_fill(session, pump.id)
        preview = _evaluate(
            ctx, session, episode, pump, draft, kind=FillKind.REFILL, previous=previous
        )
        if previous is None:
            raise InvalidTransition("The pump has no initial fill on record.")
        if preview.errors:
            raise ValidationError(dict(preview.errors))
        drug = ctx.catalogue.drug(draft.drug_key)
        fill = _fill_row(ctx, pump, draft, preview, drug, pump_model_of(pump), previous)
        session.add(fill)
        _refresh_pump(session, pump, fill, preview.projection)
        _touch(pump)
        audit_episode(
            ctx,
            session,
            episode,
            "fill.refill",
            "fill",
            fill.id,
            new={
                **_fill_snapshot(fill),
                **_observation(fill, draft),
                "next_due_on": pump.refill_due_on,
            },
        )
        milestone = rq.milestone_by_key(session, episode.id, FIRST_REFILL_MILESTONE)
        if milestone is not None and milestone.state == MilestoneState.PLANNED.value:
            assert draft.filled_at is not None
            mark_done(ctx, milestone.id, done_at=draft.filled_at, note="Recorded with the refill.")
        return fill.id


def _correctable(
    ctx: ServiceContext, session: Session, fill_id: int, expected_version: int | None = None
) -> tuple[Fill, ImplantedPump]:
    old = rq.get_fill(session, fill_id)
    pump = session.get(ImplantedPump, old.pump_id)
    if pump is None:
        raise NotFound("That pump no longer exists.")
    # Before the checks below: "already corrected" or "not the most recent" is what a stale
    # form runs into, and who changed the pump and when says more than either.
    _check_unchanged(ctx, session, pump, expected_version)
    if old.superseded_by_id is not None:
        raise InvalidTransition("This entry was already corrected; correct the newer version.")
    latest = rq.latest_fill(session, pump.id)
    if latest is None or latest.id != old.id:
        # Later refills were reconciled against this one's volume; changing it under them
        # would silently change their discrepancy figures.
        raise InvalidTransition(
            "Only the most recent fill can be corrected: later refills were reconciled "
            "against this one."
        )
    return old, pump


def preview_correction(ctx: ServiceContext, fill_id: int, draft: FillDraft) -> FillPreview:
    """Check a corrected version of the most recent fill, writing nothing."""
    with ctx.db.reading() as session:
        old, pump = _correctable(ctx, session, fill_id)
        episode = repo.get_episode(session, pump.episode_id)
        previous = rq.fill_before(session, pump.id, old.filled_at)
        kind = FillKind(old.kind)
        return _evaluate(ctx, session, episode, pump, draft, kind=kind, previous=previous)


def correct_fill(
    ctx: ServiceContext,
    fill_id: int,
    draft: FillDraft,
    reason: str,
    *,
    expected_version: int | None = None,
) -> int:
    """Replace the most recent fill with a corrected entry; return the new entry's id.

    The old row stays, marked as superseded; the projection follows the correction.
    ``expected_version``: as for `record_refill`.

    Raises:
        ValidationError: a faulty field or no reason; nothing is written.
        InvalidTransition: the fill is not the most recent one in force, or was corrected.
        ConcurrentEdit: the pump changed since the form read ``expected_version``.
    """
    errors: dict[str, str] = {}
    try:
        why = validate_reason(reason, "correction_reason")
    except ValidationError as exc:
        errors.update(exc.field_errors)
        why = ""
    with ctx.db.writing() as session:
        old, pump = _correctable(ctx, session, fill_id, expected_version)
        episode = open_episode_row(session, pump.episode_id)
        previous = rq.fill_before(session, pump.id, old.filled_at)
        kind = FillKind(old.kind)
        preview = _evaluate(ctx, session, episode, pump, draft, kind=kind, previous=previous)
        _set_errors(errors, preview.errors)
        if errors:
            raise ValidationError(errors)
        drug = ctx.catalogue.drug(draft.drug_key)
        fill = _fill_row(ctx, pump, draft, preview, drug, pump_model_of(pump), previous)
        fill.corrects_id = old.id
        fill.correction_reason = why
        session.add(fill)
        session.flush()
        old.superseded_by_id = fill.id
        _refresh_pump(session, pump, fill, preview.projection)
        _touch(pump)
        audit_episode(
            ctx,
            session,
            episode,
            "fill.corrected",
            "fill",
            fill.id,
            old={"fill_id": old.id, **_fill_snapshot(old)},
            new={
                **_fill_snapshot(fill),
                **_observation(fill, draft),
                "reason": why,
                "next_due_on": pump.refill_due_on,
            },
        )
        return fill.id


# --- exposures -------------------------------------------------------------------------------


def log_exposure(
    ctx: ServiceContext, draft: ExposureDraft, *, expected_version: int | None = None
) -> int:
    """Add an exposure to the log and re-project the current fill; return its id.

    A fever, heat or altitude exposure applies the pump's exposure factor (or, when the factor
    is unknown, a warning) to the projection of the fill in force. ``expected_version``: as for
    `record_refill` (a form opened before the pump was implanted passes None).

    Raises:
        ValidationError: a faulty field; nothing is written.
        ConcurrentEdit: the pump changed since the form read ``expected_version``.
    """
    clean = validate_exposure(draft)
    assert clean.started_on is not None
    with ctx.db.writing() as session:
        episode = open_episode_row(session, clean.episode_id)
        pump = rq.active_pump(session, episode.id)
        _check_unchanged(ctx, session, pump, expected_version)
        exposure = Exposure(
            episode_id=episode.id,
            kind=clean.kind,
            started_on=clean.started_on,
            ended_on=clean.ended_on,
            note=clean.note,
            recorded_at=ctx.now(),
            recorded_by=ctx.actor,
        )
        session.add(exposure)
        session.flush()
        old_due: date | None = pump.refill_due_on if pump else None
        if pump is not None:
            _refresh_pump(session, pump)
            _touch(pump)
        audit_episode(
            ctx,
            session,
            episode,
            "exposure.logged",
            "exposure",
            exposure.id,
            old={"next_due_on": old_due},
            new={
                "kind": clean.kind,
                "started_on": clean.started_on,
                "ended_on": clean.ended_on,
                "note": clean.note,
                "next_due_on": pump.refill_due_on if pump else None,
            },
        )
        return exposure.id
