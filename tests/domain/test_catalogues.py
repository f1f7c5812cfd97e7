"""Pump and drug catalogues: the shipped files, and refusal of broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathway_app.domain.catalogues import (
    Catalogue,
    effective_reserve_ml,
    load_catalogue,
    load_drugs,
    load_pumps,
    unverified_projection_inputs,
)
from pathway_app.domain.errors import DomainError, NotFound, TemplateError

RESOURCES = Path(__file__).resolve().parents[2] / "resources"

GOOD_PUMP = """
[test-pump]
name = "Test pump"
maker = "Maker"
reservoir_ml = 20
nominal_flow_ml_per_day = 0.5
flow_tolerance_pct = 10
reserve_ml = 2
exposure_factor = "unknown"
unverified = ["flow_tolerance_pct"]
source = "test"
"""

GOOD_DRUG = """
[test-drug]
name = "Test drug"
concentration_unit = "mg/mL"
dose_unit = "mg/day"
stability_days = 90
max_daily_dose = "unknown"
max_concentration = 20
dangerous_withdrawal = true
unverified = ["max_concentration"]
source = "test"
"""


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(RESOURCES)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped catalogues ----------------------------------------------------------------------


def test_shipped_catalogues_load(catalogue: Catalogue) -> None:
    assert "isomed-8472-20-05" in catalogue.pumps
    assert {"codman-3000-30", "archimedes-20", "accurx"} <= set(catalogue.pumps)
    assert {"morphine", "baclofen", "ziconotide", "clonidine", "bupivacaine"} <= set(
        catalogue.drugs
    )


def test_isomed_decoded_flows_are_unverified(catalogue: Catalogue) -> None:
    flows = {
        "isomed-8472-20-03": 0.3,
        "isomed-8472-20-05": 0.5,
        "isomed-8472-20-10": 1.0,
        "isomed-8472-20-15": 1.5,
        "isomed-8472-35-03": 0.3,
        "isomed-8472-35-05": 0.5,
        "isomed-8472-35-10": 1.0,
        "isomed-8472-35-15": 1.5,
        "isomed-8472-35-20": 2.0,
        "isomed-8472-35-25": 2.5,
    }
    for key, flow in flows.items():
        pump = catalogue.pump(key)
        assert pump.nominal_flow_ml_per_day == flow
        assert pump.reservoir_ml == (20 if "-20-" in key else 35)
        assert pump.is_unverified("nominal_flow_ml_per_day")
        assert pump.is_unverified("reservoir_ml")


def test_every_unverified_pump_number_is_marked(catalogue: Catalogue) -> None:
    for pump in catalogue.pumps.values():
        # Tolerance is in no IFU we read; exposure magnitude was never found.
        assert pump.flow_tolerance_pct == 10
        assert pump.is_unverified("flow_tolerance_pct"), pump.key
        assert pump.exposure_factor is None, pump.key
        # 2 mL reserve is verified (Neurosurgery 2004).
        assert pump.reserve_ml == 2 and not pump.is_unverified("reserve_ml")
        # Every reservoir and flow shipped as a number is an [U] or [D/U] value.
        for field in ("reservoir_ml", "nominal_flow_ml_per_day"):
            if getattr(pump, field) is not None:
                assert pump.is_unverified(field), f"{pump.key}.{field}"


def test_unknown_pump_values_refuse_loudly(catalogue: Catalogue) -> None:
    codman = catalogue.pump("codman-3000-30")
    assert codman.nominal_flow_ml_per_day is None
    with pytest.raises(DomainError, match="label"):
        codman.require("nominal_flow_ml_per_day")
    assert catalogue.pump("isomed-8472-20-05").require("nominal_flow_ml_per_day") == 0.5


def test_every_unverified_drug_number_is_marked(catalogue: Catalogue) -> None:
    morphine = catalogue.drug("morphine")
    assert morphine.stability_days == 90 and not morphine.is_unverified("stability_days")
    assert morphine.max_daily_dose == 15 and morphine.is_unverified("max_daily_dose")
    assert morphine.max_concentration == 20 and morphine.is_unverified("max_concentration")
    assert morphine.is_unverified("usual_concentrations")  # 10 mg/mL Infumorph 200 is [U]
    bupivacaine = catalogue.drug("bupivacaine")
    assert bupivacaine.max_concentration == 30 and bupivacaine.is_unverified("max_concentration")
    ziconotide = catalogue.drug("ziconotide")
    assert ziconotide.max_daily_dose == 19.2 and not ziconotide.is_unverified("max_daily_dose")
    assert not ziconotide.suitable_for_constant_flow
    baclofen = catalogue.drug("baclofen")
    assert baclofen.reserve_ml == 4 and baclofen.concentration_unit == "mcg/mL"
    assert baclofen.usual_concentrations == (50, 500, 1000, 2000)
    # No source gave these numbers: they must stay unset, not guessed.
    for key in ("hydromorphone", "baclofen", "clonidine", "bupivacaine", "sufentanil"):
        drug = catalogue.drug(key)
        assert drug.stability_days is None, key
        assert drug.max_daily_dose is None, key


def test_withdrawal_flags(catalogue: Catalogue) -> None:
    dangerous = {k for k, d in catalogue.drugs.items() if d.dangerous_withdrawal}
    assert {"baclofen", "morphine", "hydromorphone", "clonidine"} <= dangerous
    assert not {"bupivacaine", "ziconotide"} & dangerous
    for drug in catalogue.drugs.values():
        assert drug.dose_unit == drug.concentration_unit.replace("/mL", "/day")


def test_reserve_override_and_unverified_inputs(catalogue: Catalogue) -> None:
    pump = catalogue.pump("isomed-8472-20-05")
    assert effective_reserve_ml(pump, catalogue.drug("baclofen")) == 4
    assert effective_reserve_ml(pump, catalogue.drug("morphine")) == 2
    names = unverified_projection_inputs(pump, catalogue.drug("morphine"))
    assert names == {"nominal_flow_ml_per_day", "tolerance_pct"}


def test_missing_entry_not_found(catalogue: Catalogue) -> None:
    with pytest.raises(NotFound, match=r"pumps\.toml"):
        catalogue.pump("nope")
    with pytest.raises(NotFound, match=r"drugs\.toml"):
        catalogue.drug("nope")


# --- broken files ----------------------------------------------------------------------------


def test_good_files_load(tmp_path: Path) -> None:
    pumps = load_pumps(write(tmp_path, "pumps.toml", GOOD_PUMP))
    assert pumps["test-pump"].reservoir_ml == 20
    drugs = load_drugs(write(tmp_path, "drugs.toml", GOOD_DRUG))
    assert drugs["test-drug"].max_daily_dose is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "nominal_flow_ml_per_day = 0.5",
            "nominal_flow_ml_per_day = -0.5",
            "pumps.toml: [test-pump].nominal_flow_ml_per_day must be a positive number",
        ),
        ("reservoir_ml = 20", "reservoir_ml = 0", "[test-pump].reservoir_ml must be a positive"),
        ("reservoir_ml = 20", 'reservoir_ml = "20"', "[test-pump].reservoir_ml must be"),
        ("reservoir_ml = 20", "reservoir_ml = true", "[test-pump].reservoir_ml must be"),
        ("reservoir_ml = 20", "reservoir_ml = nan", "[test-pump].reservoir_ml must be"),
        ("reservoir_ml = 20\n", "", "[test-pump].reservoir_ml is missing"),
        ('name = "Test pump"\n', "", "[test-pump].name is missing"),
        ("flow_tolerance_pct = 10", "flow_tolerance_pct = 101", "flow_tolerance_pct must be"),
        ("flow_tolerance_pct = 10", "flow_tolerance_pct = -1", "flow_tolerance_pct must be"),
        ("flow_tolerance_pct = 10", 'flow_tolerance_pct = "unknown"', "flow_tolerance_pct"),
        ("reserve_ml = 2", "reserve_ml = 20", "[test-pump].reserve_ml (20 mL) must be smaller"),
        ('exposure_factor = "unknown"', "exposure_factor = 0.8", "exposure_factor must be"),
        ('unverified = ["flow_tolerance_pct"]', 'unverified = ["flow"]', "unverified lists"),
        ("source = ", "sourc = ", "[test-pump].sourc is not a known field"),
    ],
)
def test_broken_pump_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD_PUMP
    path = write(tmp_path, "pumps.toml", GOOD_PUMP.replace(old, new, 1))
    with pytest.raises(TemplateError) as info:
        load_pumps(path)
    assert message in str(info.value)
    assert "pumps.toml" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('concentration_unit = "mg/mL"', 'concentration_unit = "mg/L"', "concentration_unit"),
        ('dose_unit = "mg/day"', 'dose_unit = "mcg/day"', "[test-drug].dose_unit must be"),
        ("stability_days = 90", "stability_days = 90.5", "[test-drug].stability_days must be"),
        ("stability_days = 90", "stability_days = 0", "[test-drug].stability_days must be"),
        ("dangerous_withdrawal = true", "dangerous_withdrawal = 1", "dangerous_withdrawal"),
        ('max_daily_dose = "unknown"', "max_daily_dose = -3", "max_daily_dose must be"),
        ('max_daily_dose = "unknown"', 'max_daily_dose = "unknwn"', "max_daily_dose must be"),
    ],
)
def test_broken_drug_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD_DRUG
    path = write(tmp_path, "drugs.toml", GOOD_DRUG.replace(old, new, 1))
    with pytest.raises(TemplateError) as info:
        load_drugs(path)
    assert "drugs.toml: [test-drug]." in str(info.value)
    assert message in str(info.value)


def test_all_errors_reported_together(tmp_path: Path) -> None:
    text = GOOD_PUMP.replace("reservoir_ml = 20", "reservoir_ml = 0").replace(
        "reserve_ml = 2", "reserve_ml = -1"
    )
    with pytest.raises(TemplateError) as info:
        load_pumps(write(tmp_path, "pumps.toml", text))
    assert "reservoir_ml" in str(info.value) and "reserve_ml must" in str(info.value)


def test_unparseable_toml_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pumps.toml", GOOD_PUMP + "\nreservoir_ml = = 3\n")
    with pytest.raises(TemplateError, match=r"pumps\.toml: not valid TOML.*line \d+"):
        load_pumps(path)


def test_top_level_value_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"pumps\.toml: 'version' must be a table"):
        load_pumps(write(tmp_path, "pumps.toml", "version = 1\n" + GOOD_PUMP))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"pumps\.toml: cannot be read"):
        load_pumps(tmp_path / "pumps.toml")
    with pytest.raises(TemplateError, match="no entries"):
        load_drugs(write(tmp_path, "drugs.toml", "# nothing\n"))
    with pytest.raises(TemplateError, match=r"pumps\.toml: cannot be read"):
        load_catalogue(tmp_path)
    write(tmp_path, "pumps.toml", GOOD_PUMP)
    with pytest.raises(TemplateError, match=r"drugs\.toml: contains no entries"):
        load_catalogue(tmp_path)
