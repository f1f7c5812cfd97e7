"""Operation rules: step order, duration range, WHO checklist, antibiotic timing, pump record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.procedure import (
    AntibioticTiming,
    ProcedureDetails,
    PumpImplant,
    StepTime,
    antibiotic_check,
    checklist_complete,
    checklist_status,
    procedure_duration,
    validate_details,
    validate_pump_implant,
    validate_steps,
)
from pathway_app.domain.readiness import load_readiness

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
PROCEDURE = load_readiness(RESOURCES / "readiness.toml").procedure
SETTINGS = ("hospital-or", "surgical-centre")

INCISION = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STEP_KEYS = [s.key for s in PROCEDURE.steps]


def steps_every(minutes: int, count: int = 6) -> list[StepTime]:
    return [
        StepTime(key, INCISION + timedelta(minutes=minutes * i))
        for i, key in enumerate(STEP_KEYS[:count])
    ]


# --- steps -------------------------------------------------------------------------------------


def test_six_steps_in_order_are_accepted_and_returned_in_order() -> None:
    steps = steps_every(15)
    result = validate_steps(list(reversed(steps)), NOW, PROCEDURE)
    assert [s.step for s in result] == STEP_KEYS
    assert STEP_KEYS == [
        "incision",
        "pocket-creation",
        "pump-placement",
        "catheter-insertion",
        "testing",
        "closure",
    ]


def test_steps_may_be_recorded_as_the_operation_goes() -> None:
    assert len(validate_steps(steps_every(10, count=3), NOW, PROCEDURE)) == 3
    assert validate_steps([], NOW, PROCEDURE) == ()


def test_equal_times_for_consecutive_steps_are_allowed() -> None:
    steps = steps_every(10)
    steps[5] = StepTime("closure", steps[4].at)
    assert len(validate_steps(steps, NOW, PROCEDURE)) == 6


def test_out_of_order_step_is_refused_naming_the_step() -> None:
    steps = steps_every(10)
    steps[2] = StepTime("pump-placement", steps[1].at - MINUTE)
    with pytest.raises(ValidationError) as info:
        validate_steps(steps, NOW, PROCEDURE)
    assert set(info.value.field_errors) == {"pump-placement"}
    message = info.value.field_errors["pump-placement"]
    assert "Pump placement" in message and "before Pocket creation" in message


def test_future_step_is_refused() -> None:
    steps = steps_every(10)
    steps[5] = StepTime("closure", NOW + MINUTE)
    with pytest.raises(ValidationError) as info:
        validate_steps(steps, NOW, PROCEDURE)
    assert info.value.field_errors == {
        "closure": "Closure at 2026-12-01 12:01 UTC is in the future."
    }
    steps[5] = StepTime("closure", NOW)
    assert len(validate_steps(steps, NOW, PROCEDURE)) == 6


def test_duplicate_unknown_and_skipped_steps_are_refused() -> None:
    steps = steps_every(10, count=2)
    with pytest.raises(ValidationError, match="Incision is recorded twice"):
        validate_steps([*steps, StepTime("incision", INCISION)], NOW, PROCEDURE)
    with pytest.raises(ValidationError, match="'suturing' is not a procedure step"):
        validate_steps([*steps, StepTime("suturing", INCISION)], NOW, PROCEDURE)
    with pytest.raises(ValidationError) as info:
        validate_steps([steps[0], StepTime("testing", NOW)], NOW, PROCEDURE)
    assert "Pocket creation is not" in info.value.field_errors["testing"]


def test_step_time_without_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        validate_steps([StepTime("incision", datetime(2026, 12, 1, 9, 0))], NOW, PROCEDURE)


@given(st.lists(st.integers(min_value=0, max_value=120), min_size=6, max_size=6))
def test_any_non_decreasing_times_are_accepted_any_swap_refused(offsets: list[int]) -> None:
    ordered = sorted(offsets)
    steps = [
        StepTime(k, INCISION + timedelta(minutes=m))
        for k, m in zip(STEP_KEYS, ordered, strict=True)
    ]
    assert len(validate_steps(steps, NOW, PROCEDURE)) == 6
    if ordered[0] < ordered[-1]:
        swapped = [
            replace(steps[0], at=steps[-1].at),
            *steps[1:-1],
            replace(steps[-1], at=steps[0].at),
        ]
        with pytest.raises(ValidationError):
            validate_steps(swapped, NOW, PROCEDURE)


# --- duration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "flagged"),
    [(59, True), (60, False), (90, False), (120, False), (121, True)],
)
def test_duration_flagged_just_outside_the_expected_range(minutes: int, flagged: bool) -> None:
    result = procedure_duration(INCISION, INCISION + timedelta(minutes=minutes), PROCEDURE)
    assert result.duration == timedelta(minutes=minutes)
    assert (result.flag is not None) is flagged
    assert result.within_range is not flagged


def test_duration_flag_text_and_invalid_range() -> None:
    short = procedure_duration(INCISION, INCISION + timedelta(minutes=59), PROCEDURE)
    assert short.flag == "The procedure took 59 min, shorter than expected 60 min to 120 min."
    long = procedure_duration(INCISION, INCISION + timedelta(minutes=121), PROCEDURE)
    assert long.flag is not None and "longer than" in long.flag
    with pytest.raises(ValidationError, match="after its start"):
        procedure_duration(INCISION, INCISION, PROCEDURE)


def test_duration_range_is_configurable() -> None:
    wider = replace(PROCEDURE, expected_max=timedelta(hours=3))
    assert procedure_duration(INCISION, INCISION + timedelta(minutes=150), wider).flag is None


# --- WHO checklist -----------------------------------------------------------------------------


def test_checklist_completeness_per_pause() -> None:
    sign_in = {i.key for i in PROCEDURE.checklist[0].items}
    statuses = checklist_status(sign_in, PROCEDURE)
    assert [(s.key, s.complete) for s in statuses] == [
        ("sign-in", True),
        ("time-out", False),
        ("sign-out", False),
    ]
    assert not checklist_complete(statuses)
    time_out = statuses[1]
    assert "antibiotic-prophylaxis" in {i.key for i in time_out.missing}
    everything = {i.key for p in PROCEDURE.checklist for i in p.items}
    assert checklist_complete(checklist_status(everything, PROCEDURE))


def test_checklist_has_the_pump_specific_items() -> None:
    pump = {i.key for p in PROCEDURE.checklist for i in p.items if i.pump_specific}
    assert pump == {
        "pump-device-recorded",
        "pump-fill-checked",
        "csf-flow-confirmed",
        "catheter-tip-level",
    }


def test_checklist_refuses_unknown_item() -> None:
    with pytest.raises(ValidationError, match="'coffee-break' is not a checklist item"):
        checklist_status({"coffee-break"}, PROCEDURE)


# --- antibiotic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "state"),
    [
        (timedelta(minutes=60), AntibioticTiming.WITHIN),
        (timedelta(minutes=61), AntibioticTiming.TOO_EARLY),
        (timedelta(0), AntibioticTiming.WITHIN),
        (-MINUTE, AntibioticTiming.AFTER_INCISION),
    ],
)
def test_antibiotic_within_60_minutes_before_incision(
    before: timedelta, state: AntibioticTiming
) -> None:
    result = antibiotic_check("Cefazolin", INCISION - before, INCISION, PROCEDURE)
    assert result.state is state
    assert result.ok is (state is AntibioticTiming.WITHIN)
    assert result.before_incision == before


def test_antibiotic_exempt_and_not_recorded() -> None:
    exempt = antibiotic_check("Vancomycin", INCISION - timedelta(hours=2), INCISION, PROCEDURE)
    assert exempt.state is AntibioticTiming.EXEMPT
    assert "local protocol" in exempt.message
    missing = antibiotic_check("Cefazolin", None, INCISION, PROCEDURE)
    assert missing.state is AntibioticTiming.NOT_RECORDED and not missing.ok


# --- operation record --------------------------------------------------------------------------


def test_details_validation() -> None:
    good = ProcedureDetails(
        "monitored-local",
        "hospital-or",
        {"implanting-physician": (" Dr Smith ",), "scrub-nurse": ("", "N. Jones")},
    )
    cleaned = validate_details(good, PROCEDURE, SETTINGS)
    assert cleaned.personnel == {
        "implanting-physician": ("Dr Smith",),
        "scrub-nurse": ("N. Jones",),
    }
    bad = ProcedureDetails("hypnosis", "garage", {"magician": ("X",)})
    with pytest.raises(ValidationError) as info:
        validate_details(bad, PROCEDURE, SETTINGS)
    assert set(info.value.field_errors) == {
        "anaesthesia",
        "setting",
        "personnel.magician",
        "personnel.implanting-physician",
    }


def implant(**changes: object) -> PumpImplant:
    values: dict[str, object] = {
        "pump_model": "isomed-8472-20-05",
        "serial": "ABC123",
        "reservoir_ml": 20.0,
        "drug": "morphine",
        "concentration": 10.0,
        "concentration_unit": "mg/mL",
        "volume_ml": 20.0,
        "fill_checked_by": "Pharm. Lee",
        "csf_flow_confirmed": True,
        "catheter_tip_level": "T10",
        "pocket_depth_cm": 2.5,
    }
    values.update(changes)
    return PumpImplant(**values)  # type: ignore[arg-type]


def test_complete_pump_record_has_no_flags() -> None:
    record, flags = validate_pump_implant(implant(serial=" ABC123 "), PROCEDURE)
    assert flags == ()
    assert record.serial == "ABC123"


def test_pump_record_refuses_missing_fields_and_overfill() -> None:
    with pytest.raises(ValidationError) as info:
        validate_pump_implant(implant(serial="", catheter_tip_level=" ", volume_ml=20.5), PROCEDURE)
    assert set(info.value.field_errors) == {"serial", "catheter_tip_level", "volume_ml"}
    assert "do not overfill" in info.value.field_errors["volume_ml"]
    with pytest.raises(ValidationError) as info:
        validate_pump_implant(implant(concentration=0, reservoir_ml=None), PROCEDURE)
    assert set(info.value.field_errors) == {"concentration", "reservoir_ml"}


def test_pump_record_flags_what_needs_attention() -> None:
    _, flags = validate_pump_implant(
        implant(csf_flow_confirmed=False, fill_checked_by="", pocket_depth_cm=2.6), PROCEDURE
    )
    assert len(flags) == 3
    assert any("CSF" in f for f in flags)
    assert any("2.6 cm" in f for f in flags)
