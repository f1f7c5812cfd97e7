"""Refill arithmetic for constant-flow implantable pumps.

A constant-flow pump has no alarm: the refill date computed here is the patient's only protection
against the reservoir running dry. Every function takes plain values and explicit times (aware
``datetime``); nothing reads the clock. Volumes are mL, flows mL/day, concentrations are in the
drug's unit (mg/mL or mcg/mL) and daily doses in the matching mg/day or mcg/day. Formulas and
their sources are listed in ``docs/refills.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pathway_app.domain.catalogues import Drug
from pathway_app.domain.errors import ValidationError
from pathway_app.domain.text import control_character_message, has_control_character

# Values computed from entered decimals carry binary rounding noise (0.1 + 0.2 != 0.3); a value
# that equals a limit as typed must not be flagged, so comparisons allow this much slack.
_EPS = 1e-9


# --- input checks ----------------------------------------------------------------------------


def _num(field: str, value: float, *, positive: bool = False) -> float:
    """Refuse NaN, infinities, negatives (and zero when ``positive``) with a readable message."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({field: f"{_label(field)} must be a number (got {value!r})."})
    if value < 0 or (positive and value == 0):
        wanted = "greater than zero" if positive else "zero or more"
        raise ValidationError({field: f"{_label(field)} must be {wanted} (got {value:g})."})
    return float(value)


def _aware(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError({field: f"{_label(field)} must be a date and time with a time zone."})
    return value


_LABELS = {
    "added_ml": "Volume added",
    "residual_left_ml": "Volume left in the pump",
    "aspirated_ml": "Aspirated volume",
    "injected_ml": "Injected volume",
    "measured_ml": "Measured volume",
    "reservoir_ml": "Reservoir volume",
    "catheter_volume_ml": "Catheter volume",
    "last_volume_after_fill_ml": "Volume after the last fill",
    "discrepancy_limit_ml": "Discrepancy limit",
    "tolerance_pct": "Flow tolerance",
    "buffer_days": "Scheduling buffer",
    "stability_days": "Drug stability",
    "exposure_factor": "Exposure factor",
}


def _label(field: str) -> str:
    if field in _LABELS:
        return _LABELS[field]
    return field.replace("_ml_per_day", "").replace("_ml", "").replace("_", " ").capitalize()


def _plus_days(start: datetime, days: float, field: str) -> datetime:
    try:
        return start + timedelta(days=days)
    except OverflowError:
        raise ValidationError(
            {field: f"{_label(field)} gives a date too far in the future ({days:.3g} days)."}
        ) from None


def _fmt(value: float, digits: int = 2) -> str:
    return f"{round(value, digits):g}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def _days_between(start: datetime, end: datetime) -> float:
    return (end - start) / timedelta(days=1)


# --- dose and concentration (domain.md §3.1, §9.1-9.3) ---------------------------------------


def daily_dose(concentration: float, flow_ml_per_day: float) -> float:
    """Daily dose D = C × Q.

    Args:
        concentration: C, in mg/mL or mcg/mL.
        flow_ml_per_day: Q, the pump's nominal flow.

    Returns:
        D in mg/day or mcg/day (the unit follows the concentration's).
    """
    return _num("concentration", concentration) * _num(
        "flow_ml_per_day", flow_ml_per_day, positive=True
    )


def concentration_for_dose(target_daily_dose: float, flow_ml_per_day: float) -> float:
    """Concentration giving a target dose on a fixed flow: C_new = D_target / Q.

    Args:
        target_daily_dose: D_target in mg/day or mcg/day.
        flow_ml_per_day: Q, the pump's nominal flow.

    Returns:
        C_new in mg/mL or mcg/mL respectively.
    """
    dose = _num("target_daily_dose", target_daily_dose)
    return dose / _num("flow_ml_per_day", flow_ml_per_day, positive=True)


def dose_change_pct(old: float, new: float) -> float:
    """Percentage change from ``old`` to ``new`` daily dose: (new − old) / old × 100."""
    before = _num("old_daily_dose", old, positive=True)
    return (_num("new_daily_dose", new) - before) / before * 100.0


def dose_step_warning(old: float, new: float, limit_pct: float) -> str | None:
    """Warn when a dose step exceeds the pathway template's limit.

    The limit comes from the template (e.g. 30 % non-cancer pain, 50 % cancer pain, 30 % spinal
    spasticity, 15 % cerebral/paediatric spasticity). Sources give limits for increases; a
    reduction beyond the same size is also reported because a misplaced decimal in either
    direction is the error that hurts, and cutting baclofen, opioids or clonidine abruptly risks
    withdrawal.

    Args:
        old: current daily dose (> 0).
        new: proposed daily dose, same unit.
        limit_pct: largest step allowed without a warning, in %.

    Returns:
        A readable warning, or None when the step is within the limit.
    """
    limit = _num("dose_step_limit_pct", limit_pct)
    change = dose_change_pct(old, new)
    if abs(change) <= limit + _EPS:
        return None
    if change > 0:
        return (
            f"Dose increase of {_fmt(change, 1)} % is above the {_fmt(limit, 1)} % step limit "
            "of this pathway. Check the prescription and concentration."
        )
    return (
        f"Dose reduction of {_fmt(-change, 1)} % is larger than the {_fmt(limit, 1)} % step "
        "limit of this pathway. Check it is intended: large cuts can cause withdrawal."
    )


def mixed_concentration(
    c_old: float, v_residual_ml: float, c_new: float, v_added_ml: float
) -> float:
    """Concentration after refilling on top of a residual that could not be aspirated.

    C_eff = (C_old·V_r + C_new·V_new) / (V_r + V_new). Both concentrations must be in the same
    unit; the caller (`check_refill`) enforces that.
    """
    c_o = _num("residual_concentration", c_old)
    v_r = _num("residual_left_ml", v_residual_ml)
    c_n = _num("concentration", c_new)
    v_n = _num("added_ml", v_added_ml)
    if v_r + v_n == 0:
        raise ValidationError({"added_ml": "The reservoir would be empty: nothing to mix."})
    return (c_o * v_r + c_n * v_n) / (v_r + v_n)


def catheter_lag(catheter_volume_ml: float, flow_ml_per_day: float) -> timedelta:
    """Time the old drug in the catheter keeps arriving after a change: t = V_cath / Q."""
    volume = _num("catheter_volume_ml", catheter_volume_ml)
    flow = _num("flow_ml_per_day", flow_ml_per_day, positive=True)
    return timedelta(days=volume / flow)


# --- volume over time (domain.md §2.1, §2.3, §9.4-9.5) ---------------------------------------


def expected_residual(
    fill_volume_ml: float, flow_ml_per_day: float, filled_at: datetime, at: datetime
) -> float:
    """Volume expected in the reservoir at ``at``: max(0, V_fill − Q·Δt).

    Raises:
        ValidationError: ``at`` is before ``filled_at``, or a value is not a usable number.
    """
    volume = _num("fill_volume_ml", fill_volume_ml)
    flow = _num("flow_ml_per_day", flow_ml_per_day, positive=True)
    start, end = _aware("filled_at", filled_at), _aware("at", at)
    if end < start:
        raise ValidationError({"at": "The date asked about is before the fill."})
    return max(0.0, volume - flow * _days_between(start, end))


def empty_by(filled_at: datetime, volume_ml: float, flow_ml_per_day: float) -> datetime:
    """When a reservoir holding ``volume_ml`` at ``filled_at`` runs dry at a constant flow."""
    volume = _num("volume_ml", volume_ml)
    flow = _num("flow_ml_per_day", flow_ml_per_day, positive=True)
    return _plus_days(_aware("filled_at", filled_at), volume / flow, "volume_ml")


@dataclass(frozen=True)
class RefillProjection:
    """When the next refill is due, and why.

    Attributes:
        due_at: latest safe refill time (already reduced by the scheduling buffer).
        empty_by_nominal: reservoir dry at the nominal flow.
        empty_by_worst_case: reservoir dry at the worst-case flow.
        worst_case_flow: Q_nom × (1 + tol) × k_env, mL/day.
        limited_by: "volume" or "stability" (the drug's stability cap came first).
        warnings: readable sentences the nurse must see.
        unverified: names of inputs that drove ``due_at`` and are unverified defaults.
    """

    due_at: datetime
    empty_by_nominal: datetime
    empty_by_worst_case: datetime
    worst_case_flow: float
    limited_by: Literal["volume", "stability"]
    warnings: tuple[str, ...]
    unverified: tuple[str, ...]


def project_refill(
    *,
    filled_at: datetime,
    volume_after_fill_ml: float,
    reserve_ml: float,
    nominal_flow_ml_per_day: float,
    tolerance_pct: float,
    buffer_days: float,
    stability_days: int | None,
    exposure_factor: float | None = None,
    exposure_logged: bool = False,
    unverified_inputs: frozenset[str] = frozenset(),
) -> RefillProjection:
    """Project the next refill date after a fill.

    t_due = t_fill + (V − V_reserve) / (Q_nom × (1 + tol/100) × k_env) − buffer, capped at
    t_fill + stability_days, never after the worst-case empty date and never before t_fill.

    Args:
        filled_at: when the pump was filled.
        volume_after_fill_ml: V, volume in the reservoir after the fill.
        reserve_ml: volume that must still be in the pump at the due date.
        nominal_flow_ml_per_day: Q_nom.
        tolerance_pct: worst-case flow excess in % (0-100).
        buffer_days: scheduling margin subtracted from the volume-based date.
        stability_days: drug stability cap; None when unknown (the result then warns).
        exposure_factor: k_env (>= 1) of the pump model; None when unknown.
        exposure_logged: the patient's exposure log has a fever/heat/altitude episode.
        unverified_inputs: names of the arguments above that are unverified defaults.

    Returns:
        The projection, with warnings to show.
    """
    start = _aware("filled_at", filled_at)
    volume = _num("volume_after_fill_ml", volume_after_fill_ml)
    reserve = _num("reserve_ml", reserve_ml)
    flow = _num("nominal_flow_ml_per_day", nominal_flow_ml_per_day, positive=True)
    tolerance = _num("tolerance_pct", tolerance_pct)
    if tolerance > 100:
        raise ValidationError({"tolerance_pct": "Tolerance must be between 0 and 100 %."})
    buffer = _num("buffer_days", buffer_days)
    if stability_days is not None and (
        isinstance(stability_days, bool)
        or not isinstance(stability_days, int)
        or stability_days < 1
    ):
        raise ValidationError({"stability_days": "Stability must be a whole number of days ≥ 1."})

    warnings: list[str] = []
    drivers = {"volume_after_fill_ml", "reserve_ml", "nominal_flow_ml_per_day", "tolerance_pct"}
    k_env = 1.0
    if exposure_logged:
        if exposure_factor is None:
            # Never ignore a logged exposure silently: without a factor the date may be too late.
            warnings.append(
                "A fever, heat or altitude exposure is logged but this pump model has no exposure "
                "factor set: the refill date does NOT account for the faster flow. Set the factor "
                "from the pump IFU, or plan the refill earlier."
            )
        else:
            k_env = _num("exposure_factor", exposure_factor)
            if k_env < 1:
                message = "Exposure factor must be 1 or more (it models faster flow)."
                raise ValidationError({"exposure_factor": message})
            drivers.add("exposure_factor")
    worst_flow = flow * (1 + tolerance / 100) * k_env
    empty_nominal = _plus_days(start, volume / flow, "volume_after_fill_ml")
    empty_worst = _plus_days(start, volume / worst_flow, "volume_after_fill_ml")

    usable = volume - reserve
    if usable <= _EPS:
        warnings.append(
            f"The fill ({_fmt(volume)} mL) does not exceed the {_fmt(reserve)} mL reserve: "
            "the refill is due now."
        )
        due = start
    else:
        reserve_at = usable / worst_flow
        if buffer > 0:
            drivers.add("buffer_days")
        if buffer >= reserve_at:
            warnings.append(
                f"The {_fmt(buffer)}-day scheduling buffer is longer than the "
                f"{_fmt(reserve_at)} days until the reserve is reached: the refill is due now."
            )
            due = start
        else:
            due = _plus_days(start, reserve_at - buffer, "volume_after_fill_ml")

    limited_by: Literal["volume", "stability"] = "volume"
    if stability_days is None:
        warnings.append(
            "No stability limit is set for this drug: the date is based on volume only. "
            "Check the drug label for how long it stays stable in the pump."
        )
    else:
        stability_due = start + timedelta(days=stability_days)
        if stability_due < due:
            due, limited_by = stability_due, "stability"
            drivers = {"stability_days"}
    due = min(due, empty_worst)

    unverified = tuple(sorted(drivers & unverified_inputs))
    if unverified:
        names = ", ".join(_label(name).lower() for name in unverified)
        warnings.append(
            f"This date rests on unverified defaults ({names}): the clinical owner must confirm "
            "them against the pump IFU / drug label."
        )
    return RefillProjection(
        due_at=due,
        empty_by_nominal=empty_nominal,
        empty_by_worst_case=empty_worst,
        worst_case_flow=worst_flow,
        limited_by=limited_by,
        warnings=tuple(warnings),
        unverified=unverified,
    )


# --- reconciliation at the next refill (domain.md §2.3, §9.6) --------------------------------


class Explanation(StrEnum):
    """Cause the nurse picks when a reconciliation is flagged (stored by value)."""

    FEVER_HEAT = "fever_heat"
    ALTITUDE = "altitude"
    DRUG_VISCOSITY = "drug_viscosity"
    OCCLUSION_SUSPECTED = "occlusion_suspected"
    INCOMPLETE_ASPIRATION = "incomplete_aspiration"
    POCKET_FILL = "pocket_fill"
    OTHER = "other"

    @property
    def label(self) -> str:
        """Text shown in the choice list."""
        return _EXPLANATION_LABELS[self]


_EXPLANATION_LABELS = {
    Explanation.FEVER_HEAT: "Fever / heat",
    Explanation.ALTITUDE: "Altitude",
    Explanation.DRUG_VISCOSITY: "Drug viscosity",
    Explanation.OCCLUSION_SUSPECTED: "Occlusion suspected",
    Explanation.INCOMPLETE_ASPIRATION: "Incomplete aspiration last time",
    Explanation.POCKET_FILL: "Possible pocket fill",
    Explanation.OTHER: "Other",
}

EXPLANATIONS: tuple[Explanation, ...] = tuple(Explanation)


@dataclass(frozen=True)
class Reconciliation:
    """Comparison of the aspirated residual with the expected one.

    Attributes:
        interval_days: Δt since the last fill, days.
        expected_residual: V_expected at nominal flow, mL (floored at 0).
        delivered_ml: V_last − V_aspirated.
        actual_flow: Q_actual = delivered / Δt, mL/day.
        flow_error_pct: (Q_actual − Q_nom) / Q_nom × 100.
        discrepancy_ml: V_aspirated − V_expected (negative = over-delivery).
        flagged: the nurse must choose an `Explanation` before saving.
        reasons: readable sentences saying why it is flagged.
    """

    interval_days: float
    expected_residual: float
    delivered_ml: float
    actual_flow: float
    flow_error_pct: float
    discrepancy_ml: float
    flagged: bool
    reasons: tuple[str, ...]


def reconcile(
    *,
    last_filled_at: datetime,
    last_volume_after_fill_ml: float,
    nominal_flow_ml_per_day: float,
    tolerance_pct: float,
    refilled_at: datetime,
    aspirated_ml: float,
    discrepancy_limit_ml: float = 2.0,
) -> Reconciliation:
    """Compare what was aspirated at a refill with what the nominal flow predicts.

    Flagged when |V_aspirated − V_expected| > ``discrepancy_limit_ml`` (2 mL, ASRA 2017) or
    |flow error| > the model tolerance, or when the reservoir was found empty.

    Raises:
        ValidationError: the refill is not after the last fill (Δt would be 0 or negative:
            no flow can be computed), or a value is not a usable number.
    """
    start, end = _aware("last_filled_at", last_filled_at), _aware("refilled_at", refilled_at)
    if end <= start:
        raise ValidationError(
            {"refilled_at": "The refill time must be after the last fill; check both dates."}
        )
    last = _num("last_volume_after_fill_ml", last_volume_after_fill_ml, positive=True)
    flow = _num("nominal_flow_ml_per_day", nominal_flow_ml_per_day, positive=True)
    tolerance = _num("tolerance_pct", tolerance_pct)
    aspirated = _num("aspirated_ml", aspirated_ml)
    limit = _num("discrepancy_limit_ml", discrepancy_limit_ml, positive=True)

    days = _days_between(start, end)
    expected = expected_residual(last, flow, start, end)
    delivered = last - aspirated
    actual_flow = delivered / days
    flow_error = (actual_flow - flow) / flow * 100
    discrepancy = aspirated - expected

    reasons: list[str] = []
    if aspirated == 0:
        reasons.append(
            "The reservoir was found empty: the patient may have been without drug (withdrawal "
            f"risk). The real flow was at least {_fmt(actual_flow, 3)} mL/day."
        )
    if aspirated > last:
        reasons.append(
            f"More was aspirated ({_fmt(aspirated)} mL) than was in the pump after the last fill "
            f"({_fmt(last)} mL): the recorded fill volume may be wrong."
        )
    if abs(discrepancy) > limit + _EPS:
        reasons.append(
            f"The aspirated volume differs from the expected {_fmt(expected)} mL by "
            f"{_fmt(discrepancy)} mL (limit ±{_fmt(limit)} mL)."
        )
    if abs(flow_error) > tolerance + _EPS:
        reasons.append(
            f"The actual flow {_fmt(actual_flow, 3)} mL/day is {_fmt(flow_error, 1)} % from the "
            f"nominal {_fmt(flow, 3)} mL/day (tolerance ±{_fmt(tolerance, 1)} %)."
        )
    if reasons and discrepancy < 0:
        reasons.append(
            "Less was left than expected (over-delivery): consider fever or heat, altitude, a "
            "less viscous drug, or incomplete aspiration at the last refill."
        )
    elif reasons and discrepancy > 0:
        reasons.append(
            "More was left than expected (under-delivery): consider catheter occlusion, kink or "
            "granuloma, precipitate in the restrictor, pressure exposure, a more viscous drug, "
            "or a failing pump."
        )
    return Reconciliation(
        interval_days=days,
        expected_residual=expected,
        delivered_ml=delivered,
        actual_flow=actual_flow,
        flow_error_pct=flow_error,
        discrepancy_ml=discrepancy,
        flagged=bool(reasons),
        reasons=tuple(reasons),
    )


# --- checks before a refill is saved (domain.md §9.1-9.3, §9.6-9.8) --------------------------


@dataclass(frozen=True)
class RefillCheck:
    """Values the refill dialog shows once the entry passed `check_refill`.

    Attributes:
        volume_after_fill_ml: residual left + added, mL.
        concentration_unit: the drug's unit, e.g. "mg/mL".
        dose_unit: e.g. "mg/day".
        daily_dose: new concentration × nominal flow.
        effective_concentration: after mixing with the residual left in the reservoir.
        effective_daily_dose: effective concentration × nominal flow (what is delivered until
            the next refill, assuming the reservoir mixes).
        dose_change_pct: vs the previous daily dose, when given.
        catheter_lag: how long old drug keeps arriving, when the catheter volume is known.
        over_max: the dose is above the drug's maximum (confirmed with a reason).
        warnings: readable sentences the nurse must see before saving.
    """

    volume_after_fill_ml: float
    concentration_unit: str
    dose_unit: str
    daily_dose: float
    effective_concentration: float
    effective_daily_dose: float
    dose_change_pct: float | None
    catheter_lag: timedelta | None
    over_max: bool
    warnings: tuple[str, ...]


def _same_person(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def check_refill(
    *,
    drug: Drug,
    reservoir_ml: float,
    nominal_flow_ml_per_day: float,
    refilled_at: datetime,
    last_filled_at: datetime | None,
    residual_left_ml: float,
    added_ml: float,
    concentration: float,
    concentration_unit: str,
    operator: str,
    second_checker: str,
    residual_concentration: float | None = None,
    residual_concentration_unit: str | None = None,
    residual_drug_key: str | None = None,
    previous_daily_dose: float | None = None,
    dose_step_limit_pct: float | None = None,
    catheter_volume_ml: float | None = None,
    confirm_over_max: bool = False,
    over_max_reason: str = "",
) -> RefillCheck:
    """Check a refill before it is saved and compute what the dialog shows.

    Args:
        drug: the drug being filled (from the catalogue).
        reservoir_ml: V_max of the implanted pump.
        nominal_flow_ml_per_day: the implanted pump's nominal flow.
        refilled_at: time of this refill.
        last_filled_at: time of the previous fill, None for the first fill.
        residual_left_ml: volume left in the reservoir after aspiration (mixes with the new drug).
        added_ml: volume injected.
        concentration: concentration of the injected drug.
        concentration_unit: its unit as entered; must be the drug's unit.
        operator: who performs the refill.
        second_checker: who double-checks drug and concentration; must be someone else.
        residual_concentration: concentration of the residual, needed when some is left.
        residual_concentration_unit: its unit; must be the drug's unit.
        residual_drug_key: drug of the residual when it differs from ``drug`` (drug change).
        previous_daily_dose: current daily dose, to show the step and warn on big steps.
        dose_step_limit_pct: the pathway template's step limit.
        catheter_volume_ml: catheter internal volume, from the catheter IFU.
        confirm_over_max: the prescriber's dose above the drug maximum is confirmed.
        over_max_reason: why; required with ``confirm_over_max``.

    Raises:
        ValidationError: one message per faulty field (overfill, wrong unit, unconfirmed dose
            above the maximum, missing or identical checker, unusable numbers, time order).
    """
    errors: dict[str, str] = {}

    def number(field: str, value: float | None, *, positive: bool = False) -> float:
        if value is None:
            errors[field] = f"{_label(field)} is required."
            return 0.0
        try:
            return _num(field, value, positive=positive)
        except ValidationError as exc:
            errors.update(exc.field_errors)
            return 0.0

    reservoir = number("reservoir_ml", reservoir_ml, positive=True)
    flow = number("nominal_flow_ml_per_day", nominal_flow_ml_per_day, positive=True)
    residual = number("residual_left_ml", residual_left_ml)
    added = number("added_ml", added_ml, positive=True)
    conc = number("concentration", concentration, positive=True)

    try:
        when = _aware("refilled_at", refilled_at)
        if last_filled_at is not None and when <= _aware("last_filled_at", last_filled_at):
            errors["refilled_at"] = (
                f"The refill time is not after the last fill ({_when(last_filled_at)})."
            )
    except ValidationError as exc:
        errors.update(exc.field_errors)

    unit = drug.concentration_unit
    if concentration_unit != unit:
        errors["concentration_unit"] = (
            f"{drug.name} is dosed in {unit}; the entered unit is {concentration_unit!r}. "
            "Convert the concentration to the drug's unit."
        )
    if not operator.strip():
        errors["operator"] = "Enter who performs the refill."
    elif has_control_character(operator.strip()):
        errors["operator"] = control_character_message("operator's name")
    if not second_checker.strip():
        errors["second_checker"] = "A second person must check drug and concentration."
    elif has_control_character(second_checker.strip()):
        errors["second_checker"] = control_character_message("second checker's name")
    elif _same_person(operator, second_checker):
        errors["second_checker"] = "The second checker must be someone other than the operator."

    after = residual + added
    if after > reservoir + _EPS and "reservoir_ml" not in errors:
        errors["added_ml"] = (
            f"Overfill: {_fmt(residual)} mL left + {_fmt(added)} mL added = {_fmt(after)} mL, "
            f"more than the {_fmt(reservoir)} mL reservoir. Do not overfill."
        )

    warnings: list[str] = []
    same_drug = residual_drug_key is None or residual_drug_key == drug.key
    old_conc = 0.0
    if residual > 0 and same_drug:
        old_conc = number("residual_concentration", residual_concentration)
        if residual_concentration_unit != unit:
            errors["residual_concentration_unit"] = (
                f"The drug left in the pump must be given in {unit} "
                f"(got {residual_concentration_unit!r})."
            )
    elif residual > 0:
        warnings.append(
            f"{_fmt(residual)} mL of {residual_drug_key} stays in the reservoir and mixes with "
            f"the {drug.name}: both are delivered until the next refill."
        )
    if errors:
        raise ValidationError(errors)

    effective = mixed_concentration(old_conc, residual, conc, added)
    dose = conc * flow
    effective_dose = effective * flow
    # The reservoir delivers the mixture, but the next refill delivers the new strength: check
    # the maximum against whichever is higher.
    checked_dose = max(dose, effective_dose)
    over_max = False
    if drug.max_daily_dose is None:
        warnings.append(
            f"No maximum daily dose is configured for {drug.name}: the dose was not checked "
            "against a maximum."
        )
    elif checked_dose > drug.max_daily_dose + _EPS:
        over_max = True
        status = " (an unverified default)" if drug.is_unverified("max_daily_dose") else ""
        limit_text = f"{_fmt(drug.max_daily_dose)} {drug.dose_unit}{status}"
        if not confirm_over_max:
            errors["confirm_over_max"] = (
                f"The daily dose {_fmt(checked_dose, 3)} {drug.dose_unit} is above the maximum "
                f"of {limit_text}. Confirm it and give a reason."
            )
        elif not over_max_reason.strip():
            errors["over_max_reason"] = "Give the reason for a dose above the maximum."
        elif has_control_character(over_max_reason.strip(), multiline=True):
            errors["over_max_reason"] = control_character_message("reason")
        warnings.append(f"Daily dose above the maximum of {limit_text}, confirmed.")
    if errors:
        raise ValidationError(errors)

    if drug.max_concentration is not None and conc > drug.max_concentration + _EPS:
        warnings.append(
            f"The concentration is above the suggested maximum of "
            f"{_fmt(drug.max_concentration)} {unit} for {drug.name}."
        )
    if not drug.suitable_for_constant_flow:
        warnings.append(f"{drug.name} is not a drug for constant-flow pumps: {drug.notes}")

    change = None
    if previous_daily_dose is not None and previous_daily_dose > 0:
        change = dose_change_pct(previous_daily_dose, dose)
        if dose_step_limit_pct is not None:
            step = dose_step_warning(previous_daily_dose, dose, dose_step_limit_pct)
            if step:
                warnings.append(step)
    lag = None if catheter_volume_ml is None else catheter_lag(catheter_volume_ml, flow)
    return RefillCheck(
        volume_after_fill_ml=after,
        concentration_unit=unit,
        dose_unit=drug.dose_unit,
        daily_dose=dose,
        effective_concentration=effective,
        effective_daily_dose=effective_dose,
        dose_change_pct=change,
        catheter_lag=lag,
        over_max=over_max,
        warnings=tuple(warnings),
    )


# --- pocket fill (domain.md §2.3, §9.8) ------------------------------------------------------

_POCKET_FILL_SMALL_ML = 1.0  # 20-mL pump, Maino 2017 [V]
_POCKET_FILL_LARGE_ML = 2.0  # 40-mL pump, Maino 2017 [V]


def pocket_fill_alert(injected_ml: float, measured_ml: float, reservoir_ml: float) -> str | None:
    """Alert when injected drug seems not to have reached the reservoir.

    Maino 2017 gives > 1 mL for a 20-mL pump and > 2 mL for a 40-mL pump. Sizes in between are
    not interpolated: every pump under 40 mL gets the stricter 1-mL threshold (a missed pocket
    fill is an overdose, a false alert costs a check). Pumps of 40 mL or more get 2 mL. For sizes
    other than 20 and 40 mL the message says the threshold is carried over, not published.

    Args:
        injected_ml: volume injected at the refill.
        measured_ml: volume found to have entered the reservoir.
        reservoir_ml: the pump's reservoir volume.

    Returns:
        A readable alert, or None when the gap is within the threshold.
    """
    injected = _num("injected_ml", injected_ml)
    measured = _num("measured_ml", measured_ml)
    reservoir = _num("reservoir_ml", reservoir_ml, positive=True)
    threshold = _POCKET_FILL_LARGE_ML if reservoir >= 40 else _POCKET_FILL_SMALL_ML
    gap = injected - measured
    if gap <= threshold + _EPS:
        return None
    carried = "" if reservoir in (20, 40) else ", carried over from the published 20/40-mL values"
    return (
        f"Possible pocket fill: {_fmt(gap)} mL injected did not reach the reservoir (alert "
        f"threshold {_fmt(threshold)} mL for a {_fmt(reservoir)} mL pump{carried}). Overdose "
        "risk: keep the patient under observation for sedation and respiratory depression."
    )
