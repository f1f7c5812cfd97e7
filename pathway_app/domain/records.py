"""Drafts of what a user enters (patient, episode) and the rules that validate them.

Validation returns every problem at once, keyed by field, so a dialog can show each message
next to its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.template import PathwayTemplate
from pathway_app.domain.text import clean_text, control_character_message, has_control_character

MRN_MAX_LENGTH = 32
NAME_MAX_LENGTH = 100
FREE_TEXT_MAX_LENGTH = 2000
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


@dataclass(frozen=True)
class PatientDraft:
    mrn: str
    family_name: str
    given_name: str
    birth_date: date | None


@dataclass(frozen=True)
class EpisodeDraft:
    patient_id: int | None
    indication: str
    drug: str
    pump_model: str
    planned_procedure_on: date | None
    surgeon: str
    setting: str


def _check_name(errors: dict[str, str], field: str, value: str, label: str) -> None:
    clean_text(errors, field, value, label, NAME_MAX_LENGTH, required=True)


def validate_patient(draft: PatientDraft, today: date) -> PatientDraft:
    """Return the draft with whitespace trimmed, or raise `ValidationError` listing each problem.

    Uniqueness of the MRN needs the database and is checked by the service.
    """
    errors: dict[str, str] = {}
    mrn = draft.mrn.strip()
    if not mrn:
        errors["mrn"] = "Enter the medical record number (MRN)."
    elif len(mrn) > MRN_MAX_LENGTH:
        errors["mrn"] = f"The MRN is longer than {MRN_MAX_LENGTH} characters."
    elif has_control_character(mrn):
        errors["mrn"] = control_character_message("MRN")
    elif any(ch.isspace() for ch in mrn):
        errors["mrn"] = "The MRN must not contain spaces."
    _check_name(errors, "family_name", draft.family_name, "family name")
    _check_name(errors, "given_name", draft.given_name, "given name")
    if draft.birth_date is None:
        errors["birth_date"] = "Enter the date of birth."
    elif draft.birth_date > today:
        errors["birth_date"] = "The date of birth is in the future."
    elif draft.birth_date < EARLIEST_BIRTH_DATE:
        errors["birth_date"] = f"The date of birth is before {EARLIEST_BIRTH_DATE.isoformat()}."
    if errors:
        raise ValidationError(errors)
    return PatientDraft(mrn, draft.family_name.strip(), draft.given_name.strip(), draft.birth_date)


def validate_episode(
    draft: EpisodeDraft,
    template: PathwayTemplate,
    *,
    today: date,
    known_drugs: set[str],
    known_pump_models: set[str],
    birth_date: date | None,
) -> EpisodeDraft:
    """Return the draft trimmed, or raise `ValidationError` listing each problem."""
    errors: dict[str, str] = {}
    if draft.patient_id is None:
        errors["patient"] = "Choose the patient."
    if draft.indication not in {c.key for c in template.indications}:
        errors["indication"] = "Choose the indication."
    if draft.drug not in known_drugs:
        errors["drug"] = "Choose the drug."
    if draft.pump_model not in known_pump_models:
        errors["pump_model"] = "Choose the pump model."
    if draft.setting not in {c.key for c in template.settings}:
        errors["setting"] = "Choose the setting."
    surgeon = draft.surgeon.strip()
    if not surgeon:
        errors["surgeon"] = "Enter the surgeon's name."
    elif len(surgeon) > NAME_MAX_LENGTH:
        errors["surgeon"] = f"Enter the surgeon's name in at most {NAME_MAX_LENGTH} characters."
    elif has_control_character(surgeon):
        errors["surgeon"] = control_character_message("surgeon's name")
    planned = draft.planned_procedure_on
    past = template.parameter("planned_date_max_past_days")
    future = template.parameter("planned_date_max_future_days")
    if planned is None:
        errors["planned_procedure_on"] = "Enter the planned procedure date."
    elif birth_date is not None and planned <= birth_date:
        errors["planned_procedure_on"] = "The planned procedure date is before the date of birth."
    elif planned < today - timedelta(days=past):
        errors["planned_procedure_on"] = (
            f"The planned procedure date is more than {past} days in the past."
        )
    elif planned > today + timedelta(days=future):
        errors["planned_procedure_on"] = (
            f"The planned procedure date is more than {future} days ahead."
        )
    if errors:
        raise ValidationError(errors)
    return EpisodeDraft(
        draft.patient_id,
        draft.indication,
        draft.drug,
        draft.pump_model,
        planned,
        surgeon,
        draft.setting,
    )


def validate_reason(reason: str, field: str = "reason") -> str:
    """A skip or override reason: required, bounded, trimmed; several lines allowed."""
    text = reason.strip()
    if not text:
        raise ValidationError({field: "Enter a reason."})
    if len(text) > FREE_TEXT_MAX_LENGTH:
        raise ValidationError({field: f"Keep the reason under {FREE_TEXT_MAX_LENGTH} characters."})
    if has_control_character(text, multiline=True):
        raise ValidationError({field: control_character_message("reason")})
    return text
