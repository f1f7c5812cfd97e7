"""Preparation rules and the readiness gate: shipped files, loaders, fasting, holds, tests, trial,
readiness and override. Times are fixed aware UTC datetimes."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathway_app.domain.errors import InvalidTransition, TemplateError, ValidationError
from pathway_app.domain.readiness import (
    ClinicianDecision,
    Evaluation,
    FastingResult,
    FastState,
    HoldRule,
    HoldState,
    HoldVerdict,
    Intake,
    Medication,
    PreopTest,
    PreopTestState,
    Preparation,
    Readiness,
    ReadinessConfig,
    ScreeningTrial,
    apply_override,
    check_against_template,
    fasting_status,
    hold_verdict,
    load_holds,
    load_readiness,
    nothing_since,
    preop_test_status,
    readiness,
    trial_outcome,
    validate_intakes,
    validate_preop_test,
    validate_trial,
)
from pathway_app.domain.template import load_template

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
READINESS_TEXT = (RESOURCES / "readiness.toml").read_text(encoding="utf-8")
HOLDS_TEXT = (RESOURCES / "holds.toml").read_text(encoding="utf-8")

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)
MINUTE = timedelta(minutes=1)
UNVERIFIED_HOLDS = {
    "clopidogrel",
    "prasugrel",
    "ticagrelor",
    "dabigatran",
    "rivaroxaban",
    "apixaban",
    "edoxaban",
}

CONFIG = load_readiness(RESOURCES / "readiness.toml")
HOLDS = load_holds(RESOURCES / "holds.toml")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --- shipped files -----------------------------------------------------------------------------


def test_shipped_readiness_file_loads_with_the_domain_values() -> None:
    fasting = {k.key: (k.min_hours, k.required) for k in CONFIG.fasting}
    assert fasting == {
        "clear_fluids": (2, True),
        "breast_milk": (4, False),
        "light_meal": (6, True),
        "fatty_meal": (8, True),
    }
    assert {t.key for t in CONFIG.tests} == {"mri-spine", "cbc", "inr", "infection-screen"}
    assert CONFIG.test("cbc").loinc == "58410-2"
    assert CONFIG.test("inr").loinc == "6301-6"
    assert CONFIG.test("mri-spine").loinc == ""
    # domain.md gives no validity window: every one is a clinic default, flagged as such.
    assert all(t.clinic_default for t in CONFIG.tests)
    assert CONFIG.test("cbc").validity_days == 30
    assert CONFIG.test("mri-spine").validity_days == 365
    assert CONFIG.trial.success_threshold_pct == 50
    assert CONFIG.psych_indications == {"noncancer-pain"}
    procedure = CONFIG.procedure
    assert [s.key for s in procedure.steps] == [
        "incision",
        "pocket-creation",
        "pump-placement",
        "catheter-insertion",
        "testing",
        "closure",
    ]
    assert (procedure.expected_min, procedure.expected_max) == (
        timedelta(minutes=60),
        timedelta(minutes=120),
    )
    assert procedure.antibiotic_window == timedelta(minutes=60)
    assert [p.key for p in procedure.checklist] == ["sign-in", "time-out", "sign-out"]
    assert {a.key for a in procedure.anaesthesia} == {"general", "neuraxial", "monitored-local"}


def test_shipped_readiness_file_matches_the_shipped_template() -> None:
    template = load_template(RESOURCES / "pathways" / "constant_flow_pump.toml")
    gates = [m.key for m in template.stage("preparation").milestones if m.gate]
    check_against_template(CONFIG, [c.key for c in template.indications], gates)
    assert [g.key for g in CONFIG.gates] == gates


def test_every_unverified_hold_is_flagged_and_only_those() -> None:
    assert {k for k, rule in HOLDS.items() if rule.unverified} == UNVERIFIED_HOLDS


def test_shipped_holds_carry_the_verified_values() -> None:
    def hours(key: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        return HOLDS[key].hold_hours, HOLDS[key].restart_hours

    assert hours("aspirin-primary") == ((144, 144), (24, 24))
    assert HOLDS["aspirin-secondary"].shared_decision
    assert hours("aspirin-secondary") == (None, (24, 24))
    assert hours("cilostazol") == ((48, 48), (24, 24))
    assert hours("warfarin") == ((120, 120), (6, 6))
    assert HOLDS["warfarin"].condition == "inr_normal"
    assert hours("acenocoumarol") == ((72, 72), (24, 24))
    assert HOLDS["acenocoumarol"].condition == "inr_normal"
    assert hours("heparin-iv") == ((6, 6), (2, 2))
    assert hours("heparin-sc") == ((24, 24), (6, 6))
    assert hours("enoxaparin-prophylactic") == ((12, 12), (12, 24))
    assert hours("enoxaparin-therapeutic") == ((24, 24), (12, 24))
    assert hours("dalteparin") == ((24, 24), (12, 24))
    nsaids = {"ibuprofen": 24, "diclofenac": 24, "ketorolac": 24, "naproxen": 96}
    nsaids |= {"meloxicam": 96, "nabumetone": 144, "oxaprozin": 240, "piroxicam": 240}
    for key, value in nsaids.items():
        assert HOLDS[key].hold_hours == (value, value), key
    assert HOLDS["nsaid-other"].hold_hours is None
    assert HOLDS["prasugrel"].hold_hours == (168, 240)
    assert HOLDS["prasugrel"].hold_text() == "7–10 days"
    assert all(HOLDS[k].source for k in HOLDS)


# --- loaders refuse broken files, naming file and key ------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("min_hours = 8", "min_hours = 8.5", "fasting[3].min_hours"),
        ("min_hours = 2", "min_hours = 0", "fasting[0].min_hours"),
        ('gate = "blood-tests"', 'gate = "bloods"', "tests[1].gate"),
        ("validity_days = 365", 'validity_days = "a year"', "tests[0].validity_days"),
        (
            "validity_days = 365\nclinic_default = true",
            'validity_days = 365\nclinic_default = "yes"',
            "tests[0].clinic_default",
        ),
        ("success_threshold_pct = 50", "success_threshold_pct = 150", "[trial].success_threshold"),
        ('key = "light_meal"', 'key = "clear_fluids"', "fasting[2].key"),
        ("expected_max_minutes = 120", "expected_max_minutes = 30", "expected_max_minutes"),
        ("[psych_evaluation]", "[psych_evaluation]\ncolour = 1", "[psych_evaluation].colour"),
        ('key = "closure"', 'key = "incision"', "[procedure].steps[5].key"),
        ('key = "csf-flow-confirmed"', 'key = "site-marked"', "checklist[2].items[7].key"),
        ('pain_indications = ["noncancer-pain", ', 'pain_indications = ["spasticity-spinal", ', ""),
    ],
)
def test_readiness_loader_names_file_and_key(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = write(tmp_path, "readiness.toml", edited(READINESS_TEXT, old, new))
    with pytest.raises(TemplateError) as info:
        load_readiness(path)
    message = str(info.value)
    assert str(path) in message
    assert where in message


def test_readiness_loader_refuses_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "readiness.toml", "[trial\n")
    with pytest.raises(TemplateError, match=r"readiness\.toml: is not valid TOML"):
        load_readiness(path)
    with pytest.raises(TemplateError, match="cannot be read"):
        load_readiness(tmp_path / "missing.toml")


def test_check_against_template_refuses_unknown_indication_and_gate() -> None:
    indications = ["noncancer-pain", "cancer-pain", "spasticity-spinal"]
    with pytest.raises(TemplateError, match="'spasticity-cerebral'"):
        check_against_template(CONFIG, indications, [g.key for g in CONFIG.gates])
    all_indications = [*indications, "spasticity-cerebral"]
    with pytest.raises(TemplateError, match=r"gates\[7\]\.key 'fasting'"):
        check_against_template(CONFIG, all_indications, [g.key for g in CONFIG.gates][:-1])


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('"vka"\nhold_hours = 120', '"vka"\nhold_hours = -1', "[warfarin].hold_hours"),
        ('"vka"\nhold_hours = 120', '"vka"\nhold_hours = "5 d"', "[warfarin].hold_hours"),
        ("hold_hours = [168, 240]", "hold_hours = [240, 168]", "[prasugrel].hold_hours"),
        ('condition = "inr_normal"', 'condition = "inr_low"', "[warfarin].condition"),
        ('group = "vka"', 'group = "rat poison"', "[warfarin].group"),
        ("restart_hours = 6\n", "", "[warfarin].restart_hours"),
        ("restart_hours = 6\n", "restart_hours = 6\ncolour = 1\n", "[warfarin].colour"),
        ("unverified = true\n", "", "[clopidogrel].unverified"),
        ("unverified = true\n", 'unverified = "yes"\n', "[clopidogrel].unverified"),
    ],
)
def test_holds_loader_names_file_and_key(tmp_path: Path, old: str, new: str, where: str) -> None:
    path = write(tmp_path, "holds.toml", edited(HOLDS_TEXT, old, new))
    with pytest.raises(TemplateError) as info:
        load_holds(path)
    assert str(path) in str(info.value)
    assert where in str(info.value)


def test_holds_loader_refuses_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="contains no drugs"):
        load_holds(write(tmp_path, "holds.toml", "# nothing\n"))


# --- fasting -----------------------------------------------------------------------------------


def intakes_before(start: datetime, **gaps: timedelta) -> list[Intake]:
    return [Intake(kind, start - gap) for kind, gap in gaps.items()]


def kind_state(result: FastingResult, kind: str) -> FastState:
    return next(k.state for k in result.kinds if k.kind == kind)


def test_fatty_meal_exactly_8_hours_is_met() -> None:
    intakes = intakes_before(
        START,
        fatty_meal=timedelta(hours=8),
        light_meal=timedelta(hours=9),
        clear_fluids=timedelta(hours=3),
    )
    result = fasting_status(intakes, START, CONFIG)
    assert kind_state(result, "fatty_meal") is FastState.MET
    assert result.met
    assert result.reasons() == ()
    assert result.earliest_start == START


def test_fatty_meal_7_h_59_min_is_not_met_and_gives_earliest_start() -> None:
    intakes = intakes_before(
        START,
        fatty_meal=timedelta(hours=7, minutes=59),
        light_meal=timedelta(hours=9),
        clear_fluids=timedelta(hours=3),
    )
    result = fasting_status(intakes, START, CONFIG)
    fatty = next(k for k in result.kinds if k.kind == "fatty_meal")
    assert fatty.state is FastState.NOT_MET
    assert fatty.short_by == MINUTE
    assert fatty.ready_at == START + MINUTE
    assert result.earliest_start == START + MINUTE
    assert not result.met
    (reason,) = result.reasons()
    assert "8 h fast not met" in reason and "1 min short" in reason
    assert "2026-12-01 08:01" in reason


def test_moving_the_procedure_time_re_evaluates() -> None:
    intakes = intakes_before(
        START,
        fatty_meal=timedelta(hours=7),
        light_meal=timedelta(hours=7),
        clear_fluids=timedelta(hours=1),
    )
    early = fasting_status(intakes, START, CONFIG)
    assert not early.met
    assert early.earliest_start == START + timedelta(hours=1)
    assert kind_state(early, "light_meal") is FastState.MET
    assert kind_state(early, "clear_fluids") is FastState.NOT_MET
    moved = fasting_status(intakes, early.earliest_start, CONFIG)
    assert moved.met
    earlier = fasting_status(intakes, START - timedelta(hours=2), CONFIG)
    assert kind_state(earlier, "light_meal") is FastState.NOT_MET


def test_each_intake_kind_uses_its_own_minimum() -> None:
    intakes = intakes_before(
        START,
        clear_fluids=timedelta(hours=2),
        breast_milk=timedelta(hours=4) - MINUTE,
        light_meal=timedelta(hours=6),
        fatty_meal=timedelta(hours=8),
    )
    result = fasting_status(intakes, START, CONFIG)
    assert kind_state(result, "clear_fluids") is FastState.MET
    assert kind_state(result, "light_meal") is FastState.MET
    assert kind_state(result, "breast_milk") is FastState.NOT_MET
    assert not result.met  # a recorded kind counts even when it is optional


def test_unrecorded_required_kind_keeps_fasting_unmet_optional_one_does_not() -> None:
    result = fasting_status(intakes_before(START, fatty_meal=timedelta(hours=10)), START, CONFIG)
    assert kind_state(result, "light_meal") is FastState.NOT_RECORDED
    assert kind_state(result, "breast_milk") is FastState.NOT_RECORDED
    assert not result.met
    reasons = result.reasons()
    assert len(reasons) == 2  # clear fluids and light meal; breast milk is optional
    assert all("not recorded" in r for r in reasons)
    assert result.earliest_start == START - timedelta(hours=2)


def test_nothing_since_midnight_statement_covers_every_required_kind() -> None:
    midnight = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    statement = nothing_since(midnight, CONFIG)
    assert {i.kind for i in statement} == {"clear_fluids", "light_meal", "fatty_meal"}
    result = fasting_status(statement, START, CONFIG)
    assert result.met  # 8 h from midnight to 08:00
    assert all(k.nothing_since for k in result.kinds if k.last_at is not None)
    assert not fasting_status(statement, START - MINUTE, CONFIG).met


def test_the_latest_intake_of_a_kind_counts() -> None:
    late_drink = Intake("clear_fluids", START - timedelta(hours=1))
    intakes = (*nothing_since(START - timedelta(hours=12), CONFIG), late_drink)
    result = fasting_status(intakes, START, CONFIG)
    assert kind_state(result, "clear_fluids") is FastState.NOT_MET


def test_fasting_refuses_unknown_kind_and_naive_time() -> None:
    with pytest.raises(ValidationError, match="'soup' is not a known kind"):
        fasting_status([Intake("soup", START)], START, CONFIG)
    with pytest.raises(ValidationError, match="time zone"):
        fasting_status([Intake("clear_fluids", datetime(2026, 12, 1, 6, 0))], START, CONFIG)
    with pytest.raises(ValidationError, match="time zone"):
        fasting_status([], datetime(2026, 12, 1, 8, 0), CONFIG)


def test_validate_intakes_refuses_future_intake() -> None:
    with pytest.raises(ValidationError) as info:
        validate_intakes([Intake("light_meal", NOW + MINUTE)], NOW, CONFIG)
    assert "light_meal" in info.value.field_errors
    assert "in the future" in info.value.field_errors["light_meal"]
    assert validate_intakes([Intake("light_meal", NOW)], NOW, CONFIG)


gaps = st.integers(min_value=0, max_value=48 * 60).map(lambda m: timedelta(minutes=m))


@given(clear=gaps, light=gaps, fatty=gaps)
def test_earliest_start_satisfies_every_fast(
    clear: timedelta, light: timedelta, fatty: timedelta
) -> None:
    intakes = intakes_before(START, clear_fluids=clear, light_meal=light, fatty_meal=fatty)
    result = fasting_status(intakes, START, CONFIG)
    assert result.earliest_start is not None
    assert fasting_status(intakes, result.earliest_start, CONFIG).met
    assert not fasting_status(intakes, result.earliest_start - MINUTE, CONFIG).met
    assert result.met == (result.earliest_start <= START)


@given(clear=gaps, fatty=gaps, later=gaps)
def test_moving_the_start_later_never_breaks_a_met_fast(
    clear: timedelta, fatty: timedelta, later: timedelta
) -> None:
    intakes = intakes_before(START, clear_fluids=clear, fatty_meal=fatty)
    before = fasting_status(intakes, START, CONFIG)
    after = fasting_status(intakes, START + later, CONFIG)
    for a, b in zip(before.kinds, after.kinds, strict=True):
        if a.state is FastState.MET:
            assert b.state is FastState.MET


# --- medication holds --------------------------------------------------------------------------


def verdict(
    drug: str,
    since_last_dose: timedelta | None,
    inr: bool | None = None,
    *,
    procedure_end: datetime | None = None,
    decision: ClinicianDecision | None = None,
    name: str = "",
) -> HoldVerdict:
    last = None if since_last_dose is None else START - since_last_dose
    return hold_verdict(
        drug,
        last,
        START,
        HOLDS,
        inr,
        NOW,
        procedure_end=procedure_end,
        decision=decision,
        name=name,
    )


def test_warfarin_5_days_with_normal_inr_is_satisfied() -> None:
    result = verdict("warfarin", timedelta(days=5), inr=True)
    assert result.state is HoldState.SATISFIED
    assert result.ok
    assert result.hold_until == START
    assert result.restart == "restart 6 h after the procedure"


def test_warfarin_5_days_without_a_normal_inr_is_condition_unmet() -> None:
    for inr, words in ((False, "not normal"), (None, "not recorded")):
        result = verdict("warfarin", timedelta(days=6), inr=inr)
        assert result.state is HoldState.CONDITION_UNMET
        assert not result.ok
        assert words in result.reason and "INR" in result.reason


def test_warfarin_one_minute_short_is_not_yet_with_the_date() -> None:
    result = verdict("warfarin", timedelta(days=5) - MINUTE, inr=False)
    assert result.state is HoldState.NOT_YET
    assert result.hold_until == START + MINUTE
    assert "2026-12-01 08:01" in result.reason
    assert "INR" in result.reason  # the other problem is mentioned too


def test_enoxaparin_prophylactic_12_h_and_therapeutic_24_h() -> None:
    assert verdict("enoxaparin-prophylactic", timedelta(hours=12)).state is HoldState.SATISFIED
    assert verdict("enoxaparin-therapeutic", timedelta(hours=12)).state is HoldState.NOT_YET
    assert verdict("enoxaparin-therapeutic", timedelta(hours=24)).state is HoldState.SATISFIED


def test_restart_window_from_the_procedure_end() -> None:
    end = START + timedelta(hours=2)
    result = verdict("enoxaparin-therapeutic", timedelta(days=2), procedure_end=end)
    assert result.restart_from == end + timedelta(hours=12)
    assert result.restart_by == end + timedelta(hours=24)
    assert verdict("enoxaparin-therapeutic", timedelta(days=2)).restart_from is None


@pytest.mark.parametrize("drug", sorted(UNVERIFIED_HOLDS))
def test_unverified_drugs_need_a_decision_and_show_the_table_value(drug: str) -> None:
    result = verdict(drug, timedelta(days=30))
    assert result.state is HoldState.NEEDS_DECISION
    assert result.unverified
    assert "not verified" in result.reason
    assert "Table value" in result.reason
    assert result.hold_until == START - timedelta(days=30) + (HOLDS[drug].hold or timedelta(0))


def test_range_holds_use_the_upper_bound() -> None:
    result = verdict("prasugrel", timedelta(days=8))
    assert result.hold_until == START - timedelta(days=8) + timedelta(days=10)


def test_a_clinician_decision_resolves_only_needs_decision() -> None:
    decision = ClinicianDecision("Dr Who", NOW, "stop 7 days agreed")
    decided = verdict("clopidogrel", timedelta(days=8), decision=decision)
    assert decided.state is HoldState.DECIDED and decided.ok
    assert "Dr Who" in decided.reason
    still = verdict("warfarin", timedelta(days=1), inr=True, decision=decision)
    assert still.state is HoldState.NOT_YET


def test_shared_decision_no_number_and_unknown_drug_need_a_decision() -> None:
    assert verdict("aspirin-secondary", timedelta(days=30)).state is HoldState.NEEDS_DECISION
    other = verdict("nsaid-other", timedelta(days=30))
    assert other.state is HoldState.NEEDS_DECISION
    assert "5 half-lives" in other.reason
    unknown = verdict("metformin", timedelta(days=1), name="Metformin")
    assert unknown.state is HoldState.NEEDS_DECISION
    assert unknown.reason.startswith("Metformin is not in the hold table")


def test_missing_last_dose_is_not_recorded_and_future_dose_refused() -> None:
    assert verdict("warfarin", None).state is HoldState.NOT_RECORDED
    with pytest.raises(ValidationError, match="in the future"):
        hold_verdict("warfarin", NOW + MINUTE, START, HOLDS, True, NOW)


def test_aspirin_primary_six_days_boundary() -> None:
    assert verdict("aspirin-primary", timedelta(days=6)).state is HoldState.SATISFIED
    assert verdict("aspirin-primary", timedelta(days=6) - MINUTE).state is HoldState.NOT_YET


def test_hold_rule_texts() -> None:
    rule: HoldRule = HOLDS["heparin-iv"]
    assert (rule.hold_text(), rule.restart_text()) == ("6 h", "restart 2 h after the procedure")
    assert HOLDS["aspirin-secondary"].hold_text() == "shared decision"


# --- pre-operative tests -----------------------------------------------------------------------


def test_test_states_ordered_resulted_reviewed() -> None:
    on = date(2026, 12, 1)
    assert preop_test_status(None, "cbc", on, CONFIG).state is PreopTestState.NOT_ORDERED
    ordered = PreopTest("cbc", ordered_on=date(2026, 11, 20))
    assert preop_test_status(ordered, "cbc", on, CONFIG).state is PreopTestState.ORDERED
    resulted = PreopTest("cbc", date(2026, 11, 20), date(2026, 11, 21), "normal")
    status = preop_test_status(resulted, "cbc", on, CONFIG)
    assert status.state is PreopTestState.RESULTED and not status.ok
    reviewed = PreopTest("cbc", date(2026, 11, 20), date(2026, 11, 21), "normal", "Dr A", on)
    status = preop_test_status(reviewed, "cbc", on, CONFIG)
    assert status.state is PreopTestState.REVIEWED and status.ok
    assert status.valid_until == date(2026, 12, 21)


def test_result_older_than_its_validity_is_expired() -> None:
    test = PreopTest("inr", date(2026, 10, 1), date(2026, 10, 1), "1.0", "Dr A", date(2026, 10, 2))
    last_valid = date(2026, 10, 31)  # 30 days
    assert preop_test_status(test, "inr", last_valid, CONFIG).state is PreopTestState.REVIEWED
    expired = preop_test_status(test, "inr", last_valid + timedelta(days=1), CONFIG)
    assert expired.state is PreopTestState.EXPIRED
    assert expired.valid_until == last_valid
    assert "expired after 2026-10-31" in expired.reason
    assert "clinic default" in expired.reason


def test_validate_preop_test_lists_each_problem() -> None:
    bad = PreopTest(
        "cbc",
        ordered_on=date(2026, 11, 20),
        resulted_on=date(2026, 11, 19),
        result=" ",
        reviewed_by="",
        reviewed_on=date(2026, 12, 5),
    )
    with pytest.raises(ValidationError) as info:
        validate_preop_test(bad, TODAY, CONFIG)
    assert set(info.value.field_errors) == {"resulted_on", "result", "reviewed_on", "reviewed_by"}
    with pytest.raises(ValidationError, match="not a known pre-operative test"):
        validate_preop_test(PreopTest("x-ray"), TODAY, CONFIG)
    good = PreopTest("cbc", date(2026, 11, 20), date(2026, 11, 21), " Hb 13 ", " Dr A ", TODAY)
    assert validate_preop_test(good, TODAY, CONFIG).reviewed_by == "Dr A"


# --- screening trial ---------------------------------------------------------------------------


def test_pain_trial_succeeds_only_above_the_threshold() -> None:
    assert not trial_outcome("noncancer-pain", 50, CONFIG.trial)
    assert trial_outcome("noncancer-pain", 50.1, CONFIG.trial)
    assert trial_outcome("cancer-pain", 100, CONFIG.trial)
    assert not trial_outcome("cancer-pain", 0, CONFIG.trial)


@pytest.mark.parametrize("value", [-1, 100.5, math.nan, math.inf, True, None])
def test_pain_trial_refuses_values_outside_0_to_100(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        trial_outcome("noncancer-pain", value, CONFIG.trial)  # type: ignore[arg-type]
    assert "percent_relief" in info.value.field_errors


def test_spasticity_trial_is_a_positive_response() -> None:
    assert trial_outcome("spasticity-spinal", True, CONFIG.trial)
    assert not trial_outcome("spasticity-cerebral", False, CONFIG.trial)
    with pytest.raises(ValidationError, match="positive"):
        trial_outcome("spasticity-spinal", 80, CONFIG.trial)
    with pytest.raises(ValidationError, match="indication"):
        trial_outcome("migraine", 80, CONFIG.trial)


def test_validate_trial() -> None:
    bad = ScreeningTrial(date(2026, 12, 5), " ", "", percent_relief=120)
    with pytest.raises(ValidationError) as info:
        validate_trial(bad, "noncancer-pain", TODAY, CONFIG)
    assert set(info.value.field_errors) == {"trial_on", "drug", "dose", "percent_relief"}
    ok = ScreeningTrial(date(2026, 11, 1), " Morphine ", "1 mg", positive_response=None)
    with pytest.raises(ValidationError, match="positive"):
        validate_trial(ok, "spasticity-spinal", TODAY, CONFIG)
    good = ScreeningTrial(date(2026, 11, 1), " Baclofen ", "50 mcg", positive_response=True)
    assert validate_trial(good, "spasticity-spinal", TODAY, CONFIG).drug == "Baclofen"


# --- readiness gate ----------------------------------------------------------------------------


def ready_preparation(**changes: object) -> Preparation:
    reviewed = date(2026, 11, 25)
    tests = tuple(
        PreopTest(t.key, date(2026, 11, 20), date(2026, 11, 24), "fine", "Dr A", reviewed)
        for t in CONFIG.tests
    )
    values: dict[str, object] = {
        "indication": "noncancer-pain",
        "procedure_start": START,
        "trial": ScreeningTrial(date(2026, 10, 1), "Morphine", "1 mg", percent_relief=70),
        "psych_evaluation": Evaluation(date(2026, 10, 5), "Dr Psy", cleared=True),
        "consent_on": date(2026, 11, 25),
        "tests": tests,
        "confirmations": frozenset({"no-active-infection"}),
        "medications": (
            Medication("warfarin", "Warfarin", START - timedelta(days=6), "stop 5 days before"),
        ),
        "medications_reviewed": True,
        "intakes": nothing_since(datetime(2026, 11, 30, 23, 0, tzinfo=UTC), CONFIG),
        "inr_normal": True,
    }
    values.update(changes)
    return Preparation(**values)  # type: ignore[arg-type]


def check(prep: Preparation, config: ReadinessConfig = CONFIG) -> Readiness:
    return readiness(prep, config, HOLDS, now=NOW)


def test_a_complete_preparation_is_ready() -> None:
    result = check(ready_preparation())
    assert result.unmet == ()
    assert result.ready and result.may_proceed and not result.overridden
    assert result.fasting is not None and result.fasting.met
    assert [v.state for v in result.holds] == [HoldState.SATISFIED]
    assert all(t.ok for t in result.tests)


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"trial": None}, "screening-trial", "No screening trial"),
        (
            {"trial": ScreeningTrial(date(2026, 10, 1), "Morphine", "1 mg", percent_relief=50)},
            "screening-trial",
            "not above the 50 %",
        ),
        (
            {"trial": ScreeningTrial(date(2026, 10, 1), "Morphine", "1 mg")},
            "screening-trial",
            "outcome is not recorded",
        ),
        ({"psych_evaluation": None}, "psych-evaluation", "Required"),
        (
            {"psych_evaluation": Evaluation(date(2026, 10, 5), "Dr Psy", cleared=False)},
            "psych-evaluation",
            "did not clear",
        ),
        ({"consent_on": None}, "consent", "Consent not recorded"),
        ({"confirmations": frozenset()}, "infection-screen", "No active infection"),
        ({"tests": ()}, "mri-spine", "MRI of the spine: not ordered"),
        ({"inr_normal": False}, "medication-holds", "INR is not normal"),
        (
            {"medications_reviewed": False, "medications": ()},
            "medication-holds",
            "not been reviewed",
        ),
        ({"intakes": ()}, "fasting", "not recorded"),
        ({"procedure_start": None}, "fasting", "No procedure start"),
    ],
)
def test_each_unmet_gate_is_listed_with_its_reason(
    changes: dict[str, object], key: str, words: str
) -> None:
    result = check(ready_preparation(**changes))
    assert not result.ready and not result.may_proceed
    assert key in result.unmet_keys
    assert any(words in g.reason for g in result.unmet if g.key == key), result.unmet
    assert result.unmet[0].name == CONFIG.gate(result.unmet[0].key).name


def test_expired_lab_blocks_the_blood_tests_gate() -> None:
    prep = ready_preparation()
    old = PreopTest("cbc", date(2026, 10, 1), date(2026, 10, 1), "fine", "Dr A", date(2026, 10, 2))
    tests = tuple(old if t.key == "cbc" else t for t in prep.tests)
    result = check(ready_preparation(tests=tests))
    assert result.unmet_keys == ("blood-tests",)
    assert "Complete blood count" in result.unmet[0].reason
    assert "expired" in result.unmet[0].reason


def test_psych_evaluation_not_required_for_cancer_pain_or_spasticity() -> None:
    assert check(ready_preparation(indication="cancer-pain", psych_evaluation=None)).ready
    spasticity = ScreeningTrial(date(2026, 10, 1), "Baclofen", "50 mcg", positive_response=True)
    prep = ready_preparation(
        indication="spasticity-spinal", psych_evaluation=None, trial=spasticity
    )
    assert check(prep).ready
    failed = ScreeningTrial(date(2026, 10, 1), "Baclofen", "50 mcg", positive_response=False)
    result = check(ready_preparation(indication="spasticity-spinal", trial=failed))
    assert result.unmet_keys == ("screening-trial",)


def test_unmet_gates_come_in_gate_order_one_entry_per_problem() -> None:
    prep = ready_preparation(consent_on=None, trial=None, intakes=(), inr_normal=None)
    result = check(prep)
    assert result.unmet_keys == ("screening-trial", "consent", "medication-holds", "fasting")
    assert len([g for g in result.unmet if g.key == "fasting"]) == 3


def test_override_requires_a_written_reason_and_a_name() -> None:
    result = check(ready_preparation(consent_on=None))
    with pytest.raises(ValidationError) as info:
        apply_override(result, "   ", "", NOW)
    assert set(info.value.field_errors) == {"override_reason", "override_by"}


def test_override_with_a_reason_lets_the_episode_proceed_and_is_kept() -> None:
    result = check(ready_preparation(consent_on=None))
    overridden = apply_override(result, " Consent signed on paper, scan pending ", "Dr B", NOW)
    assert not overridden.ready  # still shown as not ready
    assert overridden.overridden and overridden.may_proceed
    assert overridden.override is not None
    assert overridden.override.reason == "Consent signed on paper, scan pending"
    assert overridden.override.unmet == result.unmet
    # Re-checked later with the stored override: still covered...
    again = readiness(
        ready_preparation(consent_on=None), CONFIG, HOLDS, now=NOW, override=overridden.override
    )
    assert again.may_proceed
    # ...but a gate that became unmet afterwards is not.
    worse = readiness(
        ready_preparation(consent_on=None, intakes=()),
        CONFIG,
        HOLDS,
        now=NOW,
        override=overridden.override,
    )
    assert not worse.may_proceed


def test_override_of_a_ready_episode_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="nothing to override"):
        apply_override(check(ready_preparation()), "because", "Dr B", NOW)
