"""What a nurse enters about an implanted pump: the implant, each fill, and exposures.

These are plain drafts; `validate_fill_fields` and friends check what can be checked without the
pump's history (required fields, lengths, times, expiry). The refill arithmetic and the safety
checks that need the pump (overfill, units, maximum dose) are in `refills.check_refill`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, NAME_MAX_LENGTH
from pathway_app.domain.refills import Explanation, pocket_fill_alert
from pathway_app.domain.text import check_control_characters, clean_text

# Entered decimals carry binary noise; a measurement equal to the reservoir as typed is not
# "above" it (the same slack as refills._EPS).
_EPS = 1e-9

SERIAL_MAX_LENGTH = 64
LOT_MAX_LENGTH = 64
METHOD_MAX_LENGTH = 100

LOCATION_METHODS: tuple[str, ...] = ("template", "palpation", "ultrasound", "fluoroscopy")
"""Ways of locating the refill septum (domain.md §2.2 [V]); the dialog offers these."""


class FillKind(StrEnum):
    INITIAL = "initial"
    REFILL = "refill"


class ExposureKind(StrEnum):
    """Environmental exposures that change a constant-flow pump's flow (domain.md §1.3, §9.10)."""

    FEVER = "fever"
    HEAT = "heat"
    ALTITUDE = "altitude"
    DIVING = "diving"

    @property
    def raises_flow(self) -> bool:
        """Heat and low ambient pressure speed the pump up; diving/hyperbaric pressure slows it."""
        return self is not ExposureKind.DIVING

    @property
    def label(self) -> str:
        return _EXPOSURE_LABELS[self]


_EXPOSURE_LABELS = {
    ExposureKind.FEVER: "Fever",
    ExposureKind.HEAT: "Heat exposure (sauna, hot tub, heating pad)",
    ExposureKind.ALTITUDE: "Altitude or unpressurised flight",
    ExposureKind.DIVING: "Diving or hyperbaric therapy",
}


@dataclass(frozen=True)
class FillDraft:
    """One fill as entered: the initial fill at implant (``aspirated_ml`` None) or a refill.

    Attributes:
        filled_at: when the reservoir was filled.
        added_ml: volume injected.
        drug_key: catalogue key of the drug injected.
        concentration: its concentration, in ``concentration_unit``.
        concentration_unit: as entered; refused unless it is the drug's unit.
        operator: who filled the pump.
        second_checker: who double-checked drug and concentration.
        lot: pharmacy or compounding lot.
        expiry_on: the lot's expiry date.
        needle: needle type used (refill and bolus needles differ: wrong needle = overdose).
        location_method: how the septum was located.
        aspirated_ml: volume aspirated from the reservoir (refills only).
        residual_left_ml: volume that could not be aspirated and mixes with the new drug.
        notes: free text.
        explanation: chosen cause when the reconciliation is flagged.
        explanation_note: detail, required with `Explanation.OTHER`.
        confirm_over_max: a dose above the drug's maximum is intended.
        over_max_reason: why, required with ``confirm_over_max``.
        post_refill_volume_ml: volume measured in the reservoir after the refill (optional;
            refills only), compared with what should be there to catch a pocket fill.
        observation_started: the nurse confirms post-refill observation has started; required
            while the pocket-fill alert fires (`check_post_refill_volume`).
    """

    filled_at: datetime | None
    added_ml: float | None
    drug_key: str
    concentration: float | None
    concentration_unit: str
    operator: str
    second_checker: str
    lot: str
    expiry_on: date | None
    needle: str
    location_method: str
    aspirated_ml: float | None = None
    residual_left_ml: float = 0.0
    notes: str = ""
    explanation: Explanation | None = None
    explanation_note: str = ""
    confirm_over_max: bool = False
    over_max_reason: str = ""
    post_refill_volume_ml: float | None = None
    observation_started: bool = False


@dataclass(frozen=True)
class ImplantDraft:
    """The implanted pump as recorded from the procedure, with its initial fill.

    Attributes:
        episode_id: the episode the pump belongs to.
        model_key: pump-catalogue key.
        serial: the device's serial number.
        reservoir_ml: reservoir size as labelled on the device (None: take the catalogue's).
        nominal_flow_ml_per_day: flow as labelled on the device (None: take the catalogue's).
        read_from_label: reservoir and flow were read on the implanted device's label, so they
            are verified for this pump even where the catalogue default is not.
        implanted_at: time of implant.
        catheter_volume_ml: catheter internal volume from the catheter IFU, if known.
        fill: the initial fill.
    """

    episode_id: int
    model_key: str
    serial: str
    reservoir_ml: float | None
    nominal_flow_ml_per_day: float | None
    read_from_label: bool
    implanted_at: datetime | None
    fill: FillDraft
    catheter_volume_ml: float | None = None


@dataclass(frozen=True)
class ExposureDraft:
    episode_id: int
    kind: str
    started_on: date | None
    ended_on: date | None
    note: str = ""


def validate_time(field: str, value: datetime | None, now: datetime, label: str) -> datetime:
    """A time that is entered, has a time zone and is not in the future."""
    if value is None:
        raise ValidationError({field: f"Enter the {label}."})
    if value.utcoffset() is None:
        raise ValidationError({field: f"The {label} has no time zone."})
    if value > now:
        raise ValidationError({field: f"The {label} is in the future."})
    return value


def validate_fill_fields(draft: FillDraft, now: datetime, *, kind: FillKind) -> dict[str, str]:
    """Problems with the fields that need no pump history, keyed by field (empty when none).

    A lot past its expiry on the fill day is refused: the drug must not go into the pump.
    """
    errors: dict[str, str] = {}
    try:
        validate_time("filled_at", draft.filled_at, now, "fill time")
    except ValidationError as exc:
        errors.update(exc.field_errors)
    if kind is FillKind.REFILL and draft.aspirated_ml is None:
        errors["aspirated_ml"] = "Enter the volume aspirated (0 if the reservoir was empty)."
    if draft.added_ml is None:
        errors["added_ml"] = "Enter the volume added."
    if draft.concentration is None:
        errors["concentration"] = "Enter the concentration."
    if not draft.drug_key:
        errors["drug_key"] = "Choose the drug."
    if not isinstance(draft.residual_left_ml, int | float) or not math.isfinite(
        draft.residual_left_ml
    ):
        errors["residual_left_ml"] = "Enter the volume left in the pump as a number."
    measured = draft.post_refill_volume_ml
    if measured is not None:
        if kind is not FillKind.REFILL:
            errors["post_refill_volume_ml"] = (
                "A volume measured after the refill is recorded with refills only."
            )
        elif (
            isinstance(measured, bool)
            or not isinstance(measured, int | float)
            or not math.isfinite(measured)
            or measured < 0
        ):
            errors["post_refill_volume_ml"] = (
                "Enter the volume measured after the refill as a number, 0 or more (or leave "
                "it empty)."
            )
    clean_text(
        errors, "operator", draft.operator, "operator's name", NAME_MAX_LENGTH, required=True
    )
    clean_text(
        errors,
        "second_checker",
        draft.second_checker,
        "second checker's name",
        NAME_MAX_LENGTH,
        required=True,
    )
    clean_text(errors, "lot", draft.lot, "lot number", LOT_MAX_LENGTH, required=True)
    clean_text(errors, "needle", draft.needle, "needle type", METHOD_MAX_LENGTH, required=True)
    clean_text(
        errors,
        "location_method",
        draft.location_method,
        "location method",
        METHOD_MAX_LENGTH,
        required=True,
    )
    clean_text(
        errors, "notes", draft.notes, "note", FREE_TEXT_MAX_LENGTH, required=False, multiline=True
    )
    if draft.expiry_on is None:
        errors["expiry_on"] = "Enter the expiry date of the lot."
    elif draft.filled_at is not None and draft.expiry_on < draft.filled_at.date():
        errors["expiry_on"] = (
            f"The lot expired on {draft.expiry_on.isoformat()}, before the fill: do not use it."
        )
    return errors


def validate_explanation(draft: FillDraft, flagged: bool) -> dict[str, str]:
    """A flagged reconciliation needs a cause; "other" needs words."""
    errors: dict[str, str] = {}
    if flagged and draft.explanation is None:
        errors["explanation"] = (
            "The residual does not match the expected volume: choose the likely explanation."
        )
    if draft.explanation is Explanation.OTHER:
        clean_text(
            errors,
            "explanation_note",
            draft.explanation_note,
            "explanation",
            FREE_TEXT_MAX_LENGTH,
            required=True,
            multiline=True,
        )
    elif len(draft.explanation_note) > FREE_TEXT_MAX_LENGTH:
        errors["explanation_note"] = (
            f"Keep the explanation under {FREE_TEXT_MAX_LENGTH} characters."
        )
    else:
        # Kept with a non-"other" cause too (the service stores it), so it is checked as well.
        check_control_characters(
            errors,
            "explanation_note",
            draft.explanation_note.strip(),
            "explanation",
            multiline=True,
        )
    return errors


@dataclass(frozen=True)
class PostRefillCheck:
    """The post-refill measurement checked against the pump (domain.md §2.3, §9.8).

    Attributes:
        alert: the pocket-fill alert to show and store with the fill, None when there is no
            measurement or the gap is within the threshold.
        errors: field -> message (a measurement above the reservoir, an alert not acknowledged).
    """

    alert: str | None
    errors: dict[str, str]


def check_post_refill_volume(draft: FillDraft, reservoir_ml: float) -> PostRefillCheck:
    """Compare the volume measured after a refill with what should be in the reservoir.

    What should be there is the residual left in the pump plus the volume added, so a residual
    that could not be aspirated is not mistaken for drug lost to the pocket. The gap is passed
    to `refills.pocket_fill_alert` (Maino 2017 thresholds). While the alert fires, saving needs
    ``observation_started``: the patient may have had an overdose injected under the skin.

    Fields `validate_fill_fields` already refuses (a missing or unusable volume) give no alert
    and no further message here.
    """
    errors: dict[str, str] = {}
    measured = draft.post_refill_volume_ml
    added, residual = draft.added_ml, draft.residual_left_ml
    usable = [
        v is not None
        and not isinstance(v, bool)
        and isinstance(v, int | float)
        and math.isfinite(v)
        for v in (measured, added, residual, reservoir_ml)
    ]
    if measured is None or not all(usable):
        return PostRefillCheck(None, errors)
    assert added is not None
    if measured < 0 or added < 0 or residual < 0 or reservoir_ml <= 0:
        return PostRefillCheck(None, errors)
    if measured > reservoir_ml + _EPS:
        errors["post_refill_volume_ml"] = (
            f"The measured volume ({measured:g} mL) is more than the pump's {reservoir_ml:g} mL "
            "reservoir: check the measurement."
        )
        return PostRefillCheck(None, errors)
    alert = pocket_fill_alert(residual + added, measured, reservoir_ml)
    if alert is not None and not draft.observation_started:
        errors["observation_started"] = (
            "Possible pocket fill: start the post-refill observation and confirm it before saving."
        )
    return PostRefillCheck(alert, errors)


def validate_implant_fields(draft: ImplantDraft, now: datetime) -> dict[str, str]:
    errors: dict[str, str] = {}
    clean_text(errors, "serial", draft.serial, "serial number", SERIAL_MAX_LENGTH, required=True)
    try:
        validate_time("implanted_at", draft.implanted_at, now, "implant time")
    except ValidationError as exc:
        errors.update(exc.field_errors)
    for field, value, label in (
        ("reservoir_ml", draft.reservoir_ml, "Reservoir volume"),
        ("nominal_flow_ml_per_day", draft.nominal_flow_ml_per_day, "Nominal flow"),
        ("catheter_volume_ml", draft.catheter_volume_ml, "Catheter volume"),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            errors[field] = f"{label} must be a number greater than zero."
    return errors


def validate_exposure(draft: ExposureDraft) -> ExposureDraft:
    """A planned exposure (a flight next week) is welcome: the start may be in the future."""
    errors: dict[str, str] = {}
    if draft.kind not in {k.value for k in ExposureKind}:
        errors["kind"] = "Choose the kind of exposure."
    if draft.started_on is None:
        errors["started_on"] = "Enter the day the exposure started."
    elif draft.ended_on is not None and draft.ended_on < draft.started_on:
        errors["ended_on"] = "The end is before the start."
    note = clean_text(
        errors, "note", draft.note, "note", FREE_TEXT_MAX_LENGTH, required=False, multiline=True
    )
    if errors:
        raise ValidationError(errors)
    return ExposureDraft(draft.episode_id, draft.kind, draft.started_on, draft.ended_on, note)
