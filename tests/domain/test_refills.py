"""Refill engine: hand-computed cases with fixed dates, then properties."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathway_app.domain.catalogues import Drug
from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.refills import (
    EXPLANATIONS,
    Explanation,
    Reconciliation,
    RefillCheck,
    RefillProjection,
    catheter_lag,
    check_refill,
    concentration_for_dose,
    daily_dose,
    dose_change_pct,
    dose_step_warning,
    empty_by,
    expected_residual,
    mixed_concentration,
    pocket_fill_alert,
    project_refill,
    reconcile,
)

FILL = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)


def make_drug(**overrides: object) -> Drug:
    values: dict[str, object] = {
        "key": "morphine",
        "name": "Morphine",
        "concentration_unit": "mg/mL",
        "dose_unit": "mg/day",
        "stability_days": 90,
        "max_daily_dose": 15.0,
        "max_concentration": 20.0,
        "dangerous_withdrawal": True,
        "reserve_ml": None,
        "usual_concentrations": (10.0, 25.0),
        "suitable_for_constant_flow": True,
        "unverified": frozenset({"max_daily_dose", "max_concentration"}),
        "source": "test",
    }
    values.update(overrides)
    return Drug(**values)  # type: ignore[arg-type]


def project(**overrides: object) -> RefillProjection:
    values: dict[str, object] = {
        "filled_at": FILL,
        "volume_after_fill_ml": 20.0,
        "reserve_ml": 2.0,
        "nominal_flow_ml_per_day": 0.5,
        "tolerance_pct": 10.0,
        "buffer_days": 4.0,
        "stability_days": 90,
    }
    values.update(overrides)
    return project_refill(**values)  # type: ignore[arg-type]


def refill(**overrides: object) -> RefillCheck:
    values: dict[str, object] = {
        "drug": make_drug(),
        "reservoir_ml": 20.0,
        "nominal_flow_ml_per_day": 0.5,
        "refilled_at": FILL + timedelta(days=30),
        "last_filled_at": FILL,
        "residual_left_ml": 2.0,
        "residual_concentration": 10.0,
        "residual_concentration_unit": "mg/mL",
        "added_ml": 18.0,
        "concentration": 20.0,
        "concentration_unit": "mg/mL",
        "operator": "Nurse A",
        "second_checker": "Nurse B",
    }
    values.update(overrides)
    return check_refill(**values)  # type: ignore[arg-type]


# --- dose arithmetic -------------------------------------------------------------------------


def test_daily_dose_and_concentration_for_dose() -> None:
    assert daily_dose(8.0, 0.5) == pytest.approx(4.0)
    # domain.md §3.1 example: 4 mg/day at 0.5 mL/day -> 8 mg/mL.
    assert concentration_for_dose(4.0, 0.5) == pytest.approx(8.0)


def test_dose_change_and_step_warning() -> None:
    assert dose_change_pct(4.0, 5.0) == pytest.approx(25.0)
    assert dose_step_warning(4.0, 5.0, 30) is None
    assert dose_step_warning(4.0, 5.2, 30) is None  # exactly 30 % is allowed
    warning = dose_step_warning(4.0, 6.0, 30)
    assert warning is not None and "50 %" in warning and "30 %" in warning
    assert dose_step_warning(4.0, 6.0, 50) is None
    reduction = dose_step_warning(400.0, 300.0, 15)
    assert reduction is not None and "reduction" in reduction


def test_mixing_example() -> None:
    # 2 mL of 10 mg/mL left, 18 mL of 20 mg/mL added: (20 + 360) / 20 = 19 mg/mL.
    assert mixed_concentration(10.0, 2.0, 20.0, 18.0) == pytest.approx(19.0)
    assert mixed_concentration(10.0, 0.0, 20.0, 18.0) == pytest.approx(20.0)


def test_catheter_lag_example() -> None:
    # domain.md §3.1: 0.2 mL at 0.5 mL/day is about 9.6 h.
    assert catheter_lag(0.2, 0.5) == timedelta(hours=9, minutes=36)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0])
def test_bad_numbers_refused(bad: float) -> None:
    with pytest.raises(ValidationError):
        daily_dose(bad, 0.5)
    with pytest.raises(ValidationError):
        expected_residual(bad, 0.5, FILL, FILL)
    with pytest.raises(ValidationError):
        mixed_concentration(10.0, bad, 20.0, 18.0)
    with pytest.raises(ValidationError):
        project(volume_after_fill_ml=bad)
    with pytest.raises(ValidationError):
        pocket_fill_alert(bad, 1.0, 20.0)


def test_zero_flow_refused() -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        daily_dose(10.0, 0.0)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        expected_residual(20.0, 0.5, datetime(2026, 1, 1), FILL)


# --- volume over time ------------------------------------------------------------------------


def test_expected_residual_after_ten_days() -> None:
    assert expected_residual(20.0, 0.5, FILL, FILL + timedelta(days=10)) == pytest.approx(15.0)
    assert expected_residual(20.0, 0.5, FILL, FILL + timedelta(days=100)) == 0.0


def test_expected_residual_before_fill_refused() -> None:
    with pytest.raises(ValidationError):
        expected_residual(20.0, 0.5, FILL, FILL - timedelta(days=1))


def test_empty_by() -> None:
    assert empty_by(FILL, 20.0, 0.5) == FILL + timedelta(days=40)


def test_worked_example_due_date() -> None:
    result = project()
    expected = FILL + timedelta(days=18 / 0.55 - 4)  # ~ fill + 28.727 days
    assert abs(result.due_at - expected) < ONE_SECOND
    assert abs((result.due_at - FILL) / timedelta(days=1) - 28.727) < 0.001
    assert result.limited_by == "volume"
    assert result.worst_case_flow == pytest.approx(0.55)
    assert result.empty_by_nominal == FILL + timedelta(days=40)
    assert abs(result.empty_by_worst_case - (FILL + timedelta(days=20 / 0.55))) < ONE_SECOND
    assert result.warnings == ()
    assert result.unverified == ()


def test_morphine_capped_at_stability() -> None:
    # 50 mL at 0.3 mL/day: (50 - 2) / 0.33 - 4 = ~141 days, but morphine is stable 90 days.
    result = project(volume_after_fill_ml=50.0, nominal_flow_ml_per_day=0.3)
    assert result.due_at == FILL + timedelta(days=90)
    assert result.limited_by == "stability"


def test_unknown_stability_warns() -> None:
    result = project(stability_days=None)
    assert any("No stability limit" in w for w in result.warnings)


def test_fill_not_above_reserve_is_due_now() -> None:
    result = project(volume_after_fill_ml=2.0)
    assert result.due_at == FILL
    assert any("due now" in w for w in result.warnings)


def test_buffer_longer_than_interval_is_due_now() -> None:
    result = project(volume_after_fill_ml=3.0, buffer_days=4.0)  # 1/0.55 = 1.8 days < 4
    assert result.due_at == FILL
    assert any("buffer" in w for w in result.warnings)


def test_exposure_logged_without_factor_warns_and_uses_one() -> None:
    plain = project()
    result = project(exposure_logged=True, exposure_factor=None)
    assert result.due_at == plain.due_at
    assert any("exposure" in w and "NOT" in w for w in result.warnings)


def test_exposure_factor_used_only_when_logged() -> None:
    assert project(exposure_factor=1.2).due_at == project().due_at
    result = project(exposure_factor=1.2, exposure_logged=True)
    expected = FILL + timedelta(days=18 / (0.5 * 1.1 * 1.2) - 4)
    assert abs(result.due_at - expected) < ONE_SECOND
    assert result.worst_case_flow == pytest.approx(0.66)


def test_exposure_factor_below_one_refused() -> None:
    with pytest.raises(ValidationError):
        project(exposure_factor=0.9, exposure_logged=True)


def test_unverified_inputs_reported_only_when_they_drive_the_date() -> None:
    names = frozenset({"tolerance_pct", "nominal_flow_ml_per_day", "stability_days"})
    by_volume = project(unverified_inputs=names)
    assert by_volume.unverified == ("nominal_flow_ml_per_day", "tolerance_pct")
    assert any("unverified" in w for w in by_volume.warnings)
    by_stability = project(
        volume_after_fill_ml=50.0, nominal_flow_ml_per_day=0.3, unverified_inputs=names
    )
    assert by_stability.unverified == ("stability_days",)


# --- reconciliation --------------------------------------------------------------------------


def test_reconcile_within_limits() -> None:
    # 20 mL at 0.5 mL/day for 30 days: 5 mL expected. 5.5 mL aspirated: +0.5 mL,
    # Q_actual = 14.5 / 30 = 0.4833 mL/day, -3.3 %.
    result = reconcile(
        last_filled_at=FILL,
        last_volume_after_fill_ml=20.0,
        nominal_flow_ml_per_day=0.5,
        tolerance_pct=10.0,
        refilled_at=FILL + timedelta(days=30),
        aspirated_ml=5.5,
    )
    assert result.expected_residual == pytest.approx(5.0)
    assert result.discrepancy_ml == pytest.approx(0.5)
    assert result.actual_flow == pytest.approx(14.5 / 30)
    assert result.flow_error_pct == pytest.approx(-10 / 3)
    assert not result.flagged and result.reasons == ()


def _reconcile(aspirated: float, days: float, tolerance: float = 10.0) -> Reconciliation:
    return reconcile(
        last_filled_at=FILL,
        last_volume_after_fill_ml=40.0,
        nominal_flow_ml_per_day=0.5,
        tolerance_pct=tolerance,
        refilled_at=FILL + timedelta(days=days),
        aspirated_ml=aspirated,
    )


def test_reconcile_discrepancy_above_and_below_two_ml() -> None:
    # 40 mL, 70 days: 5 mL expected; a wide tolerance isolates the volume rule.
    assert not _reconcile(7.0, 70, tolerance=50).flagged  # exactly +2 mL: not above
    assert not _reconcile(3.1, 70, tolerance=50).flagged  # -1.9 mL
    flagged = _reconcile(7.1, 70, tolerance=50)
    assert flagged.flagged
    assert any("2 mL" in r for r in flagged.reasons)
    assert any("under-delivery" in r for r in flagged.reasons)
    over = _reconcile(2.9, 70, tolerance=50)
    assert over.flagged and any("over-delivery" in r for r in over.reasons)


def test_reconcile_flow_error_above_tolerance() -> None:
    # 70 days: 6.5 mL left -> Q_actual = 33.5/70 = 0.4786, -4.3 %: within 10 %.
    assert not _reconcile(6.5, 70).flagged
    # 40 mL, 70 days, 1.6 mL aspirated: +1.6 - 5 = -3.4 mL and 38.4/70 = 0.5486 (+9.7 %).
    # A tight 5 % tolerance flags on flow even with a 10 mL limit on volume.
    result = reconcile(
        last_filled_at=FILL,
        last_volume_after_fill_ml=40.0,
        nominal_flow_ml_per_day=0.5,
        tolerance_pct=5.0,
        refilled_at=FILL + timedelta(days=70),
        aspirated_ml=1.6,
        discrepancy_limit_ml=10.0,
    )
    assert result.flagged
    assert any("tolerance" in r for r in result.reasons)
    assert not any("limit" in r for r in result.reasons)


def test_reconcile_empty_reservoir_flagged() -> None:
    result = _reconcile(0.0, 100, tolerance=100)
    assert result.flagged
    assert any("empty" in r for r in result.reasons)


def test_reconcile_zero_interval_refused() -> None:
    with pytest.raises(ValidationError, match="after the last fill"):
        _reconcile(5.0, 0)
    with pytest.raises(ValidationError):
        _reconcile(5.0, -1)


def test_explanations() -> None:
    assert len(EXPLANATIONS) == 7
    assert Explanation.POCKET_FILL in EXPLANATIONS
    assert Explanation("fever_heat").label == "Fever / heat"
    assert all(e.label for e in EXPLANATIONS)


# --- refill checks ---------------------------------------------------------------------------


def test_check_refill_computes_dialog_values() -> None:
    result = refill(previous_daily_dose=5.0, dose_step_limit_pct=30.0, catheter_volume_ml=0.2)
    assert result.volume_after_fill_ml == pytest.approx(20.0)
    assert result.daily_dose == pytest.approx(10.0)
    assert result.effective_concentration == pytest.approx(19.0)
    assert result.effective_daily_dose == pytest.approx(9.5)
    assert result.dose_change_pct == pytest.approx(100.0)
    assert result.catheter_lag == timedelta(hours=9, minutes=36)
    assert result.dose_unit == "mg/day"
    assert not result.over_max
    assert any("step limit" in w for w in result.warnings)


def test_overfill_refused() -> None:
    with pytest.raises(ValidationError) as info:
        refill(added_ml=18.5)
    assert "added_ml" in info.value.field_errors
    assert "Overfill" in info.value.field_errors["added_ml"]


def test_unit_mismatch_refused() -> None:
    with pytest.raises(ValidationError) as info:
        refill(concentration_unit="mcg/mL")
    assert "concentration_unit" in info.value.field_errors
    with pytest.raises(ValidationError) as info:
        refill(residual_concentration_unit="mcg/mL")
    assert "residual_concentration_unit" in info.value.field_errors


def test_max_dose_needs_confirmation_and_reason() -> None:
    # 20 mg/mL at 1 mL/day = 20 mg/day, above 15 mg/day.
    with pytest.raises(ValidationError) as info:
        refill(nominal_flow_ml_per_day=1.0)
    assert "confirm_over_max" in info.value.field_errors
    assert "unverified" in info.value.field_errors["confirm_over_max"]
    with pytest.raises(ValidationError) as info:
        refill(nominal_flow_ml_per_day=1.0, confirm_over_max=True, over_max_reason="  ")
    assert "over_max_reason" in info.value.field_errors
    ok = refill(nominal_flow_ml_per_day=1.0, confirm_over_max=True, over_max_reason="palliative")
    assert ok.over_max


def test_unknown_max_dose_warns() -> None:
    result = refill(drug=make_drug(max_daily_dose=None))
    assert any("No maximum daily dose" in w for w in result.warnings)


def test_second_checker_required_and_distinct() -> None:
    with pytest.raises(ValidationError) as info:
        refill(second_checker=" ")
    assert "second_checker" in info.value.field_errors
    with pytest.raises(ValidationError) as info:
        refill(second_checker="  nurse a ")
    assert "someone other" in info.value.field_errors["second_checker"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -2.0])
def test_check_refill_bad_volumes(bad: float) -> None:
    with pytest.raises(ValidationError) as info:
        refill(added_ml=bad, residual_left_ml=bad)
    assert {"added_ml", "residual_left_ml"} <= set(info.value.field_errors)


def test_refill_before_last_fill_refused() -> None:
    with pytest.raises(ValidationError) as info:
        refill(refilled_at=FILL - timedelta(hours=1))
    assert "refilled_at" in info.value.field_errors


def test_residual_concentration_required_when_residual_left() -> None:
    with pytest.raises(ValidationError) as info:
        refill(residual_concentration=None)
    assert "residual_concentration" in info.value.field_errors


def test_drug_change_dilutes_and_warns() -> None:
    result = refill(residual_drug_key="hydromorphone", residual_concentration=None)
    assert result.effective_concentration == pytest.approx(18.0)
    assert any("hydromorphone" in w for w in result.warnings)


def test_not_constant_flow_drug_warns() -> None:
    drug = make_drug(
        key="ziconotide",
        name="Ziconotide",
        concentration_unit="mcg/mL",
        dose_unit="mcg/day",
        max_daily_dose=19.2,
        max_concentration=None,
        suitable_for_constant_flow=False,
        notes="not for constant flow",
    )
    result = refill(
        drug=drug,
        residual_left_ml=0.0,
        concentration=10.0,
        concentration_unit="mcg/mL",
        residual_concentration_unit="mcg/mL",
    )
    assert any("not a drug for constant-flow" in w for w in result.warnings)


# --- pocket fill -----------------------------------------------------------------------------


def test_pocket_fill_thresholds() -> None:
    assert pocket_fill_alert(18.0, 17.0, 20.0) is None  # exactly 1 mL
    assert pocket_fill_alert(18.0, 16.9, 20.0) is not None
    assert pocket_fill_alert(36.0, 34.5, 40.0) is None
    alert = pocket_fill_alert(36.0, 33.9, 40.0)
    assert alert is not None and "pocket fill" in alert
    assert "carried over" not in alert
    # Between 20 and 40 mL the stricter 1-mL threshold applies.
    between = pocket_fill_alert(30.0, 28.5, 35.0)
    assert between is not None and "carried over" in between
    assert pocket_fill_alert(50.0, 48.5, 60.0) is None


# --- properties ------------------------------------------------------------------------------

volumes = st.floats(min_value=0, max_value=100, allow_nan=False)
flows = st.floats(min_value=0.01, max_value=20, allow_nan=False)


@st.composite
def projections(draw: st.DrawFn) -> dict[str, object]:
    return {
        "filled_at": FILL,
        "volume_after_fill_ml": draw(volumes),
        "reserve_ml": draw(st.floats(min_value=0, max_value=10)),
        "nominal_flow_ml_per_day": draw(flows),
        "tolerance_pct": draw(st.floats(min_value=0, max_value=100)),
        "buffer_days": draw(st.floats(min_value=0, max_value=30)),
        "stability_days": draw(st.none() | st.integers(min_value=1, max_value=365)),
        "exposure_factor": draw(st.none() | st.floats(min_value=1, max_value=3)),
        "exposure_logged": draw(st.booleans()),
    }


@given(projections())
def test_due_never_after_worst_case_empty(args: dict[str, object]) -> None:
    result = project_refill(**args)  # type: ignore[arg-type]
    assert FILL <= result.due_at <= result.empty_by_worst_case
    assert result.empty_by_worst_case <= result.empty_by_nominal


@given(projections(), st.floats(min_value=0, max_value=100))
def test_more_volume_never_earlier(args: dict[str, object], extra: float) -> None:
    before = project_refill(**args)  # type: ignore[arg-type]
    args = {**args, "volume_after_fill_ml": args["volume_after_fill_ml"] + extra}  # type: ignore[operator]
    after = project_refill(**args)  # type: ignore[arg-type]
    assert after.due_at >= before.due_at


@given(volumes, flows, st.floats(min_value=0, max_value=400), st.floats(min_value=0, max_value=400))
def test_expected_residual_non_negative_and_non_increasing(
    volume: float, flow: float, d1: float, d2: float
) -> None:
    early, late = sorted((d1, d2))
    at_early = expected_residual(volume, flow, FILL, FILL + timedelta(days=early))
    at_late = expected_residual(volume, flow, FILL, FILL + timedelta(days=late))
    assert 0 <= at_late <= at_early <= volume


def test_domain_errors_are_domain_errors() -> None:
    assert issubclass(ValidationError, DomainError)
