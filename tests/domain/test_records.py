"""Validation of what a nurse enters: patients, episodes, skip reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.errors import ValidationError
from pathway_app.domain.records import (
    FREE_TEXT_MAX_LENGTH,
    MRN_MAX_LENGTH,
    NAME_MAX_LENGTH,
    EpisodeDraft,
    PatientDraft,
    validate_episode,
    validate_patient,
    validate_reason,
)
from pathway_app.domain.template import PathwayTemplate

TODAY = date(2026, 11, 26)
GOOD_PATIENT = PatientDraft("MRN-001", "Müller", "Anna", date(1960, 5, 17))


def named(field: str, value: Any) -> dict[str, Any]:
    return {field: value}


def patient_errors(draft: PatientDraft) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        validate_patient(draft, TODAY)
    return info.value.field_errors


# --- validate_patient ------------------------------------------------------------------------


def test_valid_patient_is_returned_trimmed() -> None:
    draft = PatientDraft("  MRN-001\t", "  Müller ", " Anna  ", date(1960, 5, 17))
    assert validate_patient(draft, TODAY) == GOOD_PATIENT


@pytest.mark.parametrize("mrn", ["", "   "])
def test_mrn_is_required(mrn: str) -> None:
    assert set(patient_errors(replace(GOOD_PATIENT, mrn=mrn))) == {"mrn"}


def test_mrn_with_inner_space_is_refused() -> None:
    assert "spaces" in patient_errors(replace(GOOD_PATIENT, mrn="MRN 001"))["mrn"]


def test_mrn_with_control_character_is_refused() -> None:
    assert "mrn" in patient_errors(replace(GOOD_PATIENT, mrn="MRN\x00001"))


def test_mrn_max_length() -> None:
    longest = "M" * MRN_MAX_LENGTH
    assert validate_patient(replace(GOOD_PATIENT, mrn=longest), TODAY).mrn == longest
    message = patient_errors(replace(GOOD_PATIENT, mrn=longest + "1"))["mrn"]
    assert str(MRN_MAX_LENGTH) in message


@pytest.mark.parametrize("field", ["family_name", "given_name"])
@pytest.mark.parametrize("value", ["", "  \t "])
def test_names_are_required(field: str, value: str) -> None:
    assert set(patient_errors(replace(GOOD_PATIENT, **named(field, value)))) == {field}


@pytest.mark.parametrize("field", ["family_name", "given_name"])
def test_name_max_length(field: str) -> None:
    longest = "é" * NAME_MAX_LENGTH
    assert getattr(validate_patient(replace(GOOD_PATIENT, **named(field, longest)), TODAY), field)
    assert field in patient_errors(replace(GOOD_PATIENT, **named(field, longest + "e")))


@pytest.mark.parametrize(
    ("family", "given"),
    [("Müller", "Jürgen"), ("O'Brien", "Siobhán"), ("Nguyễn", "Thị Minh"), ("García-López", "Zoë")],
)
def test_unicode_names_are_accepted_unchanged(family: str, given: str) -> None:
    clean = validate_patient(replace(GOOD_PATIENT, family_name=family, given_name=given), TODAY)
    assert (clean.family_name, clean.given_name) == (family, given)


@pytest.mark.parametrize("bad", ["Mül\x07ler", "Mül\nler", "Mül\x1bler"])
def test_names_with_control_characters_are_refused(bad: str) -> None:
    errors = patient_errors(replace(GOOD_PATIENT, family_name=bad, given_name=bad))
    assert "control character" in errors["family_name"]
    assert "control character" in errors["given_name"]


def test_birth_date_is_required() -> None:
    assert set(patient_errors(replace(GOOD_PATIENT, birth_date=None))) == {"birth_date"}


def test_birth_date_today_accepted_tomorrow_refused() -> None:
    assert validate_patient(replace(GOOD_PATIENT, birth_date=TODAY), TODAY).birth_date == TODAY
    errors = patient_errors(replace(GOOD_PATIENT, birth_date=TODAY + timedelta(days=1)))
    assert "future" in errors["birth_date"]


def test_birth_date_before_1900_refused() -> None:
    assert validate_patient(replace(GOOD_PATIENT, birth_date=date(1900, 1, 1)), TODAY)
    errors = patient_errors(replace(GOOD_PATIENT, birth_date=date(1899, 12, 31)))
    assert "1900" in errors["birth_date"]


def test_all_patient_errors_are_reported_at_once() -> None:
    errors = patient_errors(PatientDraft("a b", "", "X\x01", date(2030, 1, 1)))
    assert set(errors) == {"mrn", "family_name", "given_name", "birth_date"}
    assert all(message.strip() for message in errors.values())


def test_validation_error_message_joins_field_messages() -> None:
    with pytest.raises(ValidationError) as info:
        validate_patient(PatientDraft("", "", "Anna", date(1960, 1, 1)), TODAY)
    assert "MRN" in str(info.value)
    assert "family name" in str(info.value)


# --- validate_episode ------------------------------------------------------------------------


@pytest.fixture
def good_episode() -> EpisodeDraft:
    return EpisodeDraft(
        patient_id=7,
        indication="noncancer-pain",
        drug="morphine",
        pump_model="isomed-8472-20-05",
        planned_procedure_on=date(2027, 1, 12),
        surgeon="  Dr A. Lindgren ",
        setting="hospital-or",
    )


def check_episode(
    draft: EpisodeDraft,
    template: PathwayTemplate,
    catalogue: Catalogue,
    birth_date: date | None = date(1960, 5, 17),
) -> EpisodeDraft:
    return validate_episode(
        draft,
        template,
        today=TODAY,
        known_drugs=set(catalogue.drugs),
        known_pump_models=set(catalogue.pumps),
        birth_date=birth_date,
    )


def episode_errors(
    draft: EpisodeDraft,
    template: PathwayTemplate,
    catalogue: Catalogue,
    birth_date: date | None = date(1960, 5, 17),
) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        check_episode(draft, template, catalogue, birth_date)
    return info.value.field_errors


def test_valid_episode_is_returned_trimmed(
    good_episode: EpisodeDraft, template: PathwayTemplate, catalogue: Catalogue
) -> None:
    clean = check_episode(good_episode, template, catalogue)
    assert clean == replace(good_episode, surgeon="Dr A. Lindgren")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient_id": None}, "patient"),
        ({"indication": ""}, "indication"),
        ({"indication": "headache"}, "indication"),
        ({"drug": ""}, "drug"),
        ({"drug": "aspirin"}, "drug"),
        ({"pump_model": ""}, "pump_model"),
        ({"setting": ""}, "setting"),
        ({"surgeon": "  "}, "surgeon"),
        ({"surgeon": "Dr\x00X"}, "surgeon"),
        ({"surgeon": "S" * (NAME_MAX_LENGTH + 1)}, "surgeon"),
        ({"planned_procedure_on": None}, "planned_procedure_on"),
    ],
)
def test_each_missing_choice_gives_its_field_error(
    good_episode: EpisodeDraft,
    template: PathwayTemplate,
    catalogue: Catalogue,
    change: dict[str, Any],
    field: str,
) -> None:
    errors = episode_errors(replace(good_episode, **change), template, catalogue)
    assert set(errors) == {field}


def test_all_episode_errors_reported_at_once(
    template: PathwayTemplate, catalogue: Catalogue
) -> None:
    errors = episode_errors(EpisodeDraft(None, "", "", "", None, "", ""), template, catalogue)
    assert set(errors) == {
        "patient",
        "indication",
        "drug",
        "pump_model",
        "setting",
        "surgeon",
        "planned_procedure_on",
    }


def test_planned_date_before_birth_refused(
    good_episode: EpisodeDraft, template: PathwayTemplate, catalogue: Catalogue
) -> None:
    birth = date(2026, 6, 1)
    draft = replace(good_episode, planned_procedure_on=birth - timedelta(days=1))
    errors = episode_errors(draft, template, catalogue, birth_date=birth)
    assert "birth" in errors["planned_procedure_on"]
    later = replace(good_episode, planned_procedure_on=birth + timedelta(days=1))
    assert check_episode(later, template, catalogue, birth_date=birth)


def test_planned_date_past_limit_boundary(
    good_episode: EpisodeDraft, template: PathwayTemplate, catalogue: Catalogue
) -> None:
    past = template.parameter("planned_date_max_past_days")
    assert past == 365
    at_limit = replace(good_episode, planned_procedure_on=TODAY - timedelta(days=past))
    assert check_episode(at_limit, template, catalogue).planned_procedure_on == date(2025, 11, 26)
    beyond = replace(good_episode, planned_procedure_on=TODAY - timedelta(days=past + 1))
    message = episode_errors(beyond, template, catalogue)["planned_procedure_on"]
    assert "365 days in the past" in message


def test_planned_date_future_limit_boundary(
    good_episode: EpisodeDraft, template: PathwayTemplate, catalogue: Catalogue
) -> None:
    future = template.parameter("planned_date_max_future_days")
    at_limit = replace(good_episode, planned_procedure_on=TODAY + timedelta(days=future))
    assert check_episode(at_limit, template, catalogue)
    beyond = replace(good_episode, planned_procedure_on=TODAY + timedelta(days=future + 1))
    message = episode_errors(beyond, template, catalogue)["planned_procedure_on"]
    assert f"{future} days ahead" in message


def test_planned_date_today_accepted(
    good_episode: EpisodeDraft, template: PathwayTemplate, catalogue: Catalogue
) -> None:
    draft = replace(good_episode, planned_procedure_on=TODAY)
    assert check_episode(draft, template, catalogue).planned_procedure_on == TODAY


# --- validate_reason -------------------------------------------------------------------------


def test_reason_is_trimmed() -> None:
    assert validate_reason("  Done at the referring clinic.\n") == "Done at the referring clinic."


@pytest.mark.parametrize("reason", ["", "   \n\t"])
def test_reason_is_required(reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_reason(reason)
    assert set(info.value.field_errors) == {"reason"}


def test_reason_error_uses_the_given_field_name() -> None:
    with pytest.raises(ValidationError) as info:
        validate_reason("", field="override_reason")
    assert set(info.value.field_errors) == {"override_reason"}


def test_reason_max_length() -> None:
    assert len(validate_reason("r" * FREE_TEXT_MAX_LENGTH)) == FREE_TEXT_MAX_LENGTH
    with pytest.raises(ValidationError):
        validate_reason("r" * (FREE_TEXT_MAX_LENGTH + 1))
