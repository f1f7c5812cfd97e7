"""The pathway template: the shipped file, defaults, and refusal of broken files with a message
that names the file and the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathway_app.domain.errors import TemplateError
from pathway_app.domain.template import MilestoneDef, PathwayTemplate, load_template

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "pathways" / "constant_flow_pump.toml"

HEAD = """
[pathway]
key = "test-pathway"
name = "Test pathway"
version = 3
"""

PARAMETERS = """
[parameters]
due_soon_days = 7
"""

CHOICES = """
[[indications]]
key = "pain"
name = "Pain"
dose_step_limit_pct = 30

[[indications]]
key = "spasm"
name = "Spasticity"

[[settings]]
key = "or"
name = "Operating room"
"""

STAGES = """
[[stages]]
key = "prep"
name = "Preparation"

[[stages.milestones]]
key = "consent"
name = "Consent signed"
gate = true
offset_days = -7

[[stages.milestones]]
key = "psych"
name = "Psychological evaluation"
indications = ["pain"]

[[stages]]
key = "after"
name = "Follow-up"

[[stages.milestones]]
key = "wound"
name = "Wound check"
offset_days = 14
"""


def write(tmp_path: Path, text: str, name: str = "pathway.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(TemplateError) as info:
        load_template(path)
    return str(info.value)


# --- the shipped template --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> PathwayTemplate:
    return load_template(SHIPPED)


def test_shipped_template_has_the_four_stages_in_order(shipped: PathwayTemplate) -> None:
    assert [s.key for s in shipped.stages] == ["preparation", "procedure", "stay", "follow-up"]
    assert [s.name for s in shipped.stages] == [
        "Preparation",
        "Procedure",
        "Hospital stay",
        "Follow-up",
    ]
    assert shipped.key == "constant-flow-pump"
    assert shipped.version == 1
    assert shipped.source == str(SHIPPED)


def test_shipped_template_milestones(shipped: PathwayTemplate) -> None:
    preparation = [m.key for m in shipped.stage("preparation").milestones]
    assert preparation[0] == "screening-trial"
    assert preparation[-1] == "fasting"
    assert "psych-evaluation" in preparation and "consent" in preparation
    procedure = [m.key for m in shipped.stage("procedure").milestones]
    assert procedure[0] == "who-sign-in" and procedure[-1] == "who-sign-out"
    assert [m.key for m in shipped.stage("stay").milestones] == [
        "admission",
        "post-op-monitoring",
        "discharge-teaching",
        "discharge",
    ]
    assert [m.key for m in shipped.stage("follow-up").milestones] == [
        "wound-check",
        "first-refill",
        "restrictions-end",
    ]
    every = [m for s in shipped.stages for m in s.milestones]
    assert len({m.key for m in every}) == len(every)
    by_key = {m.key: m for m in every}
    assert by_key["wound-check"].offset_days == 14
    assert by_key["fasting"].offset_days == 0
    assert by_key["fasting"].gate is True
    assert by_key["first-refill"].offset_days is None
    assert by_key["psych-evaluation"].indications == ("noncancer-pain",)
    assert all(m.gate for m in shipped.stage("preparation").milestones)


def test_shipped_template_parameters_and_choices(shipped: PathwayTemplate) -> None:
    assert shipped.parameter("due_soon_days") == 14
    assert shipped.parameter("planned_date_max_past_days") == 365
    assert shipped.parameter("planned_date_max_future_days") == 730
    assert {c.key for c in shipped.indications} == {
        "noncancer-pain",
        "cancer-pain",
        "spasticity-spinal",
        "spasticity-cerebral",
    }
    assert shipped.indication("cancer-pain").dose_step_limit_pct == 50
    assert [c.key for c in shipped.settings] == ["hospital-or", "surgical-centre"]
    with pytest.raises(KeyError):
        shipped.stage("no-such-stage")


# --- a minimal valid template ----------------------------------------------------------------


def test_minimal_template_loads(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, HEAD + PARAMETERS + CHOICES + STAGES))
    assert template.key == "test-pathway"
    assert template.version == 3
    assert [s.key for s in template.stages] == ["prep", "after"]
    consent, psych = template.stage("prep").milestones
    assert consent == MilestoneDef(key="consent", name="Consent signed", gate=True, offset_days=-7)
    assert psych.offset_days is None
    assert psych.gate is False
    assert psych.detail == ""
    assert psych.indications == ("pain",)
    assert template.indication("spasm").dose_step_limit_pct is None


def test_parameters_default_when_omitted(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, HEAD + CHOICES + STAGES))
    assert dict(template.parameters) == {
        "due_soon_days": 14,
        "refill_buffer_days": 4,
        "planned_date_max_past_days": 365,
        "planned_date_max_future_days": 730,
    }


def test_a_given_parameter_overrides_only_itself(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, HEAD + PARAMETERS + CHOICES + STAGES))
    assert template.parameter("due_soon_days") == 7
    assert template.parameter("refill_buffer_days") == 4


def test_milestone_applies_to() -> None:
    everyone = MilestoneDef(key="a", name="A")
    only_pain = MilestoneDef(key="b", name="B", indications=("pain", "cancer"))
    assert everyone.applies_to("pain")
    assert everyone.applies_to("anything")
    assert only_pain.applies_to("pain")
    assert only_pain.applies_to("cancer")
    assert not only_pain.applies_to("spasm")


# --- refusals --------------------------------------------------------------------------------


def test_invalid_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "[[stages]\nkey = \n")
    message = refusal(path)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line" in message  # the parser's position tells the editor where to look


def test_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert str(path) in refusal(path)


def test_missing_pathway_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, CHOICES + STAGES)
    message = refusal(path)
    assert str(path) in message
    assert "pathway" in message


def test_milestone_without_name_is_refused(tmp_path: Path) -> None:
    broken = STAGES.replace('name = "Wound check"\n', "")
    path = write(tmp_path, HEAD + CHOICES + broken)
    message = refusal(path)
    assert str(path) in message
    assert "stages[1].milestones[0].name" in message


def test_duplicate_milestone_key_across_stages_is_refused(tmp_path: Path) -> None:
    broken = STAGES.replace('key = "wound"', 'key = "consent"')
    path = write(tmp_path, HEAD + CHOICES + broken)
    message = refusal(path)
    assert str(path) in message
    assert "stages[1].milestones[0].key" in message
    assert "'consent'" in message


def test_unknown_milestone_key_is_refused(tmp_path: Path) -> None:
    broken = STAGES.replace("offset_days = 14", "ofset_days = 14")
    path = write(tmp_path, HEAD + CHOICES + broken)
    message = refusal(path)
    assert str(path) in message
    assert "stages[1].milestones[0].ofset_days" in message
    assert "not a known key" in message


def test_non_integer_offset_is_refused(tmp_path: Path) -> None:
    broken = STAGES.replace("offset_days = 14", 'offset_days = "14"')
    path = write(tmp_path, HEAD + CHOICES + broken)
    message = refusal(path)
    assert str(path) in message
    assert "stages[1].milestones[0].offset_days" in message
    assert "whole number" in message


@pytest.mark.parametrize("value", ["1.5", "true"])
def test_fractional_or_boolean_offset_is_refused(tmp_path: Path, value: str) -> None:
    broken = STAGES.replace("offset_days = 14", f"offset_days = {value}")
    message = refusal(write(tmp_path, HEAD + CHOICES + broken))
    assert "stages[1].milestones[0].offset_days" in message


def test_milestone_naming_unknown_indication_is_refused(tmp_path: Path) -> None:
    broken = STAGES.replace('indications = ["pain"]', 'indications = ["pian"]')
    path = write(tmp_path, HEAD + CHOICES + broken)
    message = refusal(path)
    assert str(path) in message
    assert "stages[0].milestones[1].indications" in message
    assert "'pian'" in message


def test_negative_parameter_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "[parameters]\ndue_soon_days = -1\n" + CHOICES + STAGES)
    message = refusal(path)
    assert str(path) in message
    assert "[parameters].due_soon_days" in message
    assert "negative" in message


def test_zero_parameter_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "[parameters]\ndue_soon_days = 0\n" + CHOICES + STAGES)
    assert load_template(path).parameter("due_soon_days") == 0


def test_unknown_parameter_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "[parameters]\ndue_son_days = 10\n" + CHOICES + STAGES)
    message = refusal(path)
    assert str(path) in message
    assert "[parameters].due_son_days" in message
    assert "not a known key" in message
