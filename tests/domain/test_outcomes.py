"""Outcomes (issue 10): summary arithmetic, flags, MME conversion with its table, the IT
opioid trend, and the validated loader."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pathway_app.domain.errors import TemplateError, ValidationError
from pathway_app.domain.outcomes import (
    OUTCOMES_FILE,
    DosePoint,
    OralDose,
    OutcomeDraft,
    OutcomePoint,
    convert_to_mme,
    it_opioid_trend,
    load_outcomes,
    new_side_effects,
    percent_change,
    summarise,
    two_visit_rise,
    validate_outcome,
)
from pathway_app.resources import resource_path

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def config():
    return load_outcomes(resource_path(OUTCOMES_FILE))


def p(on: date, kind: str = "follow-up", **kw) -> OutcomePoint:
    return OutcomePoint(on=on, kind=kind, **kw)


# --- percent change and the summary -----------------------------------------------------------


def test_percent_change_plain_and_zero_baseline() -> None:
    assert percent_change(8, 4) == -50.0
    assert percent_change(0, 0) == 0.0
    assert percent_change(0, 3) is None  # undefined: the summary shows the values instead
    assert percent_change(None, 3) is None
    assert percent_change(5, None) is None


def test_summary_pain_and_mme_change() -> None:
    points = [
        p(date(2026, 1, 5), "baseline", pain_nrs=8, oral_mme=90.0, function_score=3),
        p(date(2026, 3, 5), pain_nrs=6, oral_mme=60.0),
        p(date(2026, 6, 5), "refill", pain_nrs=4, oral_mme=30.0, function_score=6),
    ]
    s = summarise(points, "pain")
    assert s.text == "pain −50 %, oral MME −60 mg/day, function +3"
    assert s.score_change_pct == -50.0
    assert s.mme_change == -60.0
    assert not s.flagged


def test_summary_rounds_like_the_issue_example() -> None:
    points = [p(date(2026, 1, 1), "baseline", pain_nrs=9), p(date(2026, 2, 1), pain_nrs=5)]
    assert summarise(points, "pain").text == "pain −44 %"


def test_summary_zero_baseline_shows_values_not_a_percentage() -> None:
    points = [p(date(2026, 1, 1), "baseline", pain_nrs=0), p(date(2026, 2, 1), pain_nrs=3)]
    s = summarise(points, "pain")
    assert s.text == "pain 0 → 3"
    assert s.score_change_pct is None
    same = [p(date(2026, 1, 1), "baseline", pain_nrs=0), p(date(2026, 2, 1), pain_nrs=0)]
    assert summarise(same, "pain").text == "pain 0 %"


def test_summary_missing_visits_use_the_latest_recorded_value() -> None:
    points = [
        p(date(2026, 1, 1), "baseline", pain_nrs=10, oral_mme=None),
        p(date(2026, 2, 1), pain_nrs=5, oral_mme=20.0),
        p(date(2026, 3, 1), pain_nrs=None, oral_mme=None),  # a visit without scores
    ]
    s = summarise(points, "pain")
    assert s.text == "pain −50 %"  # no MME at baseline: no MME change claimed


def test_summary_edge_cases() -> None:
    assert summarise([], "pain").text == ""
    assert summarise([p(TODAY, "baseline", pain_nrs=5)], "pain").text == "baseline only"
    no_base = [p(date(2026, 1, 1), "baseline"), p(date(2026, 2, 1), pain_nrs=4)]
    assert summarise(no_base, "pain").text == "pain: no baseline score"


def test_summary_spasticity_reads_grades() -> None:
    points = [
        p(date(2026, 1, 1), "baseline", ashworth="3"),
        p(date(2026, 2, 1), ashworth="1+"),
    ]
    assert summarise(points, "spasticity").text == "Ashworth 3 → 1+"


def test_summary_baseline_is_the_baseline_entry_even_out_of_order() -> None:
    points = [
        p(date(2026, 3, 1), pain_nrs=4),
        p(date(2026, 1, 1), "baseline", pain_nrs=8),
    ]
    assert summarise(points, "pain").text == "pain −50 %"


# --- flags ------------------------------------------------------------------------------------


def test_two_visit_rise() -> None:
    assert two_visit_rise([3, 4, 6])
    assert not two_visit_rise([3, 4, 4])
    assert not two_visit_rise([3, 6])
    assert two_visit_rise([8, 3, None, 4, None, 5])  # missing visits skipped
    assert not two_visit_rise([3, 5, 4])


def test_summary_flags_two_visit_rise_and_new_side_effect() -> None:
    points = [
        p(date(2026, 1, 1), "baseline", pain_nrs=7),
        p(date(2026, 2, 1), pain_nrs=3, side_effects=frozenset({"nausea"})),
        p(date(2026, 3, 1), pain_nrs=4, side_effects=frozenset({"nausea"})),
        p(date(2026, 4, 1), pain_nrs=6, side_effects=frozenset({"nausea", "itching"})),
    ]
    s = summarise(points, "pain")
    assert s.flags == ("pain rose at two consecutive visits", "new side effect: itching")
    assert s.flagged


def test_new_side_effects_only_against_the_previous_entry() -> None:
    a = p(date(2026, 1, 1), side_effects=frozenset({"sedation"}))
    b = p(date(2026, 2, 1), side_effects=frozenset({"sedation"}))
    assert new_side_effects([a, b]) == ()
    assert new_side_effects([a]) == ()


# --- MME conversion ---------------------------------------------------------------------------


def test_mme_conversion_with_the_table(config) -> None:
    assert convert_to_mme(OralDose("morphine", 60), config).mme == 60
    oxy = convert_to_mme(OralDose("oxycodone", 20), config)
    assert oxy.mme == 30 and not oxy.verified  # unverified default, shown as such
    assert convert_to_mme(OralDose("fentanyl-patch", 25), config).mme == 60
    assert convert_to_mme(OralDose("morphine", 60), config).verified


def test_mme_conversion_refusals(config) -> None:
    with pytest.raises(ValueError, match="no conversion"):
        convert_to_mme(OralDose("heroin", 10), config)
    with pytest.raises(ValueError, match="clinic must set it"):
        convert_to_mme(OralDose("methadone", 10), config)
    with pytest.raises(ValueError, match="negative"):
        convert_to_mme(OralDose("morphine", -1), config)


def test_every_unverified_factor_is_marked_and_only_morphine_is_verified(config) -> None:
    assert {k for k, f in config.oral.items() if f.verified} == {"morphine"}
    assert all(f.source for f in config.oral.values())


# --- validation -------------------------------------------------------------------------------


def test_validation_refuses_bad_input_at_each_field(config) -> None:
    draft = OutcomeDraft(
        assessed_on=date(2026, 12, 1),
        kind="follow-up",
        pain_nrs=11,
        function_score=-1,
        oral=(OralDose("morphine", -5), OralDose("unobtainium", 5)),
        side_effects=frozenset({"other"}),
    )
    with pytest.raises(ValidationError) as info:
        validate_outcome(draft, config, score_kind="pain", today=TODAY)
    errors = info.value.field_errors
    assert set(errors) == {
        "assessed_on",
        "pain_nrs",
        "function_score",
        "oral.0",
        "oral.1",
        "side_effect_other",
    }


def test_validation_requires_the_indication_score(config) -> None:
    draft = OutcomeDraft(assessed_on=TODAY, kind="baseline", ashworth="5")
    with pytest.raises(ValidationError) as info:
        validate_outcome(draft, config, score_kind="spasticity", today=TODAY)
    assert "ashworth" in info.value.field_errors


def test_validation_totals_mme(config) -> None:
    draft = OutcomeDraft(
        assessed_on=TODAY,
        kind="baseline",
        pain_nrs=7,
        oral=(OralDose("morphine", 30), OralDose("oxycodone", 20)),
        side_effects=frozenset({"itching", "nausea"}),
    )
    clean = validate_outcome(draft, config, score_kind="pain", today=TODAY)
    assert clean.oral_mme == 60 and not clean.mme_verified
    assert clean.side_effects == ("nausea", "itching")


# --- IT opioid trend --------------------------------------------------------------------------


def at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 9, tzinfo=UTC)


def test_it_trend_rising_year_on_year_prompts_without_diagnosing(config) -> None:
    doses = [
        DosePoint(at(date(2024, 10, 1)), "morphine", 1.0),
        DosePoint(at(date(2025, 10, 1)), "morphine", 2.0),
        DosePoint(at(date(2026, 10, 1)), "morphine", 3.0),
    ]
    trend = it_opioid_trend(doses, config, TODAY)
    assert trend is not None and trend.rising
    assert [v for _, v in trend.yearly] == [1.0, 2.0, 3.0]
    assert trend.rise_pct == 50.0
    assert "not a diagnosis" in trend.prompt and "inflammatory mass" in trend.prompt


def test_it_trend_converts_hydromorphone_and_ignores_non_opioids(config) -> None:
    doses = [
        DosePoint(at(date(2025, 6, 1)), "morphine", 3.0),
        DosePoint(at(date(2026, 6, 1)), "hydromorphone", 0.5),  # = 3 mg morphine
    ]
    trend = it_opioid_trend(doses, config, TODAY)
    assert trend is not None and not trend.rising and trend.prompt == ""
    baclofen = [DosePoint(at(date(2024, 1, 1)), "baclofen", 0.2)]
    assert it_opioid_trend(baclofen, config, TODAY) is None
    young = [DosePoint(at(date(2026, 6, 1)), "morphine", 2.0)]
    assert it_opioid_trend(young, config, TODAY) is None


# --- loader -----------------------------------------------------------------------------------


def test_loader_names_file_and_key(tmp_path: Path) -> None:
    text = resource_path(OUTCOMES_FILE).read_text(encoding="utf-8")
    broken = tmp_path / "outcomes.toml"
    broken.write_text(text.replace("factor = 1.5", "factor = -1.5"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"outcomes\.toml: oral\.oxycodone\.factor"):
        load_outcomes(broken)
    broken.write_text(text.replace('noncancer-pain = "pain"', 'noncancer-pain = "x"'))
    with pytest.raises(TemplateError, match=r"scores\.noncancer-pain"):
        load_outcomes(broken)
    with pytest.raises(TemplateError, match="cannot be read"):
        load_outcomes(tmp_path / "missing.toml")


def test_summary_says_nothing_about_mme_when_no_oral_opioid_at_either_end() -> None:
    points = [
        p(date(2026, 1, 1), "baseline", pain_nrs=5, oral_mme=0.0),
        p(date(2026, 2, 1), pain_nrs=5, oral_mme=0.0),
    ]
    assert summarise(points, "pain").text == "pain 0 %"
    stopped = [
        p(date(2026, 1, 1), "baseline", pain_nrs=5, oral_mme=40.0),
        p(date(2026, 2, 1), pain_nrs=5, oral_mme=0.0),
    ]
    assert summarise(stopped, "pain").text == "pain 0 %, oral MME −40 mg/day"
