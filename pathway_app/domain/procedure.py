"""Operation rules: step timestamps, duration, WHO checklist, antibiotic timing, the pump record.

Settings come from the ``[procedure]`` and ``[[checklist]]`` parts of ``resources/readiness.toml``
(`pathway_app.domain.readiness.ProcedureConfig`). Every function takes explicit times (aware
``datetime``) and reads no clock. See ``docs/readiness.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.readiness import ChecklistItem, ProcedureConfig
from pathway_app.domain.records import NAME_MAX_LENGTH
from pathway_app.domain.text import (
    check_control_characters,
    control_character_message,
    has_control_character,
)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def _minutes(delta: timedelta) -> str:
    total = delta.total_seconds() / 60
    return f"{total:.0f} min" if total == int(total) else f"{total:.1f} min"


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _aware(field_name: str, label: str, value: datetime) -> datetime:
    if not _is_aware(value):
        raise ValidationError({field_name: f"{label} must be a date and time with a time zone."})
    return value


# --- steps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepTime:
    """The time a procedure step was done (``step`` is a key of ``[[procedure.steps]]``)."""

    step: str
    at: datetime


def validate_steps(
    steps: Sequence[StepTime], now: datetime, config: ProcedureConfig
) -> tuple[StepTime, ...]:
    """Check recorded step times and return them in procedure order.

    Steps may be recorded as the operation goes, but only in order: a step needs every earlier
    step recorded, and its time must not be before the previous step's (equal times are allowed:
    times are entered to the minute). Unknown, repeated and future steps are refused.

    Raises:
        ValidationError: keyed by step key, each message naming the step.
    """
    _aware("now", "The current time", now)
    order = {s.key: i for i, s in enumerate(config.steps)}
    errors: dict[str, str] = {}
    by_step: dict[str, StepTime] = {}
    for item in steps:
        if item.step not in order:
            errors[item.step] = f"{item.step!r} is not a procedure step."
            continue
        name = config.step_name(item.step)
        if item.step in by_step:
            errors[item.step] = f"{name} is recorded twice."
            continue
        if not _is_aware(item.at):
            errors[item.step] = f"{name}: the time must be a date and time with a time zone."
            continue
        if item.at > now:
            errors[item.step] = f"{name} at {_when(item.at)} is in the future."
            continue
        by_step[item.step] = item
    previous: StepTime | None = None
    for index, definition in enumerate(config.steps):
        recorded = by_step.get(definition.key)
        if recorded is None:
            continue
        earlier = config.steps[:index]
        missing = [s.name for s in earlier if s.key not in by_step and s.key not in errors]
        if missing:
            errors[definition.key] = (
                f"{definition.name} is recorded but {missing[0]} is not; record the steps in order."
            )
        elif previous is not None and recorded.at < previous.at:
            errors[definition.key] = (
                f"{definition.name} ({_when(recorded.at)}) is before "
                f"{config.step_name(previous.step)} ({_when(previous.at)}); the steps must follow "
                "each other in order."
            )
        previous = recorded
    if errors:
        raise ValidationError(errors)
    return tuple(by_step[s.key] for s in config.steps if s.key in by_step)


# --- duration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureDuration:
    """Attributes:
    flag: why the duration is outside the expected range, or None when inside it (inclusive).
    """

    duration: timedelta
    flag: str | None

    @property
    def within_range(self) -> bool:
        return self.flag is None


def procedure_duration(
    start: datetime, end: datetime, config: ProcedureConfig
) -> ProcedureDuration:
    """Duration from start to end, flagged when outside the expected range (bounds included).

    Raises:
        ValidationError: a time without a time zone, or an end not after the start.
    """
    _aware("start", "The procedure start", start)
    _aware("end", "The procedure end", end)
    if end <= start:
        raise ValidationError({"end": "The procedure end must be after its start."})
    duration = end - start
    low, high = config.expected_min, config.expected_max
    expected = f"expected {_minutes(low)} to {_minutes(high)}"
    flag = None
    if duration < low:
        flag = f"The procedure took {_minutes(duration)}, shorter than {expected}."
    elif duration > high:
        flag = f"The procedure took {_minutes(duration)}, longer than {expected}."
    return ProcedureDuration(duration, flag)


# --- WHO checklist -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PauseStatus:
    key: str
    name: str
    missing: tuple[ChecklistItem, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def checklist_status(checked: Iterable[str], config: ProcedureConfig) -> tuple[PauseStatus, ...]:
    """Completeness of each pause (sign in, time out, sign out) from the checked item keys.

    Raises:
        ValidationError: an item key the checklist does not have.
    """
    known = {item.key for pause in config.checklist for item in pause.items}
    ticked = set(checked)
    unknown = sorted(ticked - known)
    if unknown:
        raise ValidationError({"checklist": f"{unknown[0]!r} is not a checklist item."})
    return tuple(
        PauseStatus(p.key, p.name, tuple(i for i in p.items if i.key not in ticked))
        for p in config.checklist
    )


def checklist_complete(statuses: Iterable[PauseStatus]) -> bool:
    return all(s.complete for s in statuses)


# --- antibiotic prophylaxis --------------------------------------------------------------------


class AntibioticTiming(StrEnum):
    WITHIN = "within"
    TOO_EARLY = "too_early"
    AFTER_INCISION = "after_incision"
    EXEMPT = "exempt"
    NOT_RECORDED = "not_recorded"


@dataclass(frozen=True)
class AntibioticCheck:
    state: AntibioticTiming
    message: str
    before_incision: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.state in (AntibioticTiming.WITHIN, AntibioticTiming.EXEMPT)


def antibiotic_check(
    antibiotic: str, given_at: datetime | None, incision_at: datetime, config: ProcedureConfig
) -> AntibioticCheck:
    """Prophylaxis must be given within the window before incision (0 to 60 min included).

    Antibiotics listed in ``antibiotic_window_exempt`` (vancomycin) are not checked: their timing
    follows the local protocol and the check says so.

    Raises:
        ValidationError: a time without a time zone.
    """
    _aware("incision_at", "The incision time", incision_at)
    name = antibiotic.strip()
    window = _minutes(config.antibiotic_window)
    if given_at is None or not name:
        return AntibioticCheck(
            AntibioticTiming.NOT_RECORDED,
            "Record the antibiotic prophylaxis and when it was given.",
        )
    _aware("antibiotic_at", "The antibiotic time", given_at)
    before = incision_at - given_at
    if name.lower() in config.antibiotic_window_exempt:
        return AntibioticCheck(
            AntibioticTiming.EXEMPT,
            f"{name}: the {window} rule does not apply; check the timing against the local "
            "protocol.",
            before,
        )
    if before < timedelta(0):
        return AntibioticCheck(
            AntibioticTiming.AFTER_INCISION,
            f"{name} was given {_minutes(-before)} after the incision; it must be given within "
            f"{window} before.",
            before,
        )
    if before > config.antibiotic_window:
        return AntibioticCheck(
            AntibioticTiming.TOO_EARLY,
            f"{name} was given {_minutes(before)} before the incision, more than {window}.",
            before,
        )
    return AntibioticCheck(
        AntibioticTiming.WITHIN, f"{name} given {_minutes(before)} before the incision.", before
    )


# --- operation record --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureDetails:
    """Anaesthesia type, setting and personnel (role key -> free names)."""

    anaesthesia: str
    setting: str
    personnel: Mapping[str, tuple[str, ...]]


def validate_details(
    details: ProcedureDetails, config: ProcedureConfig, settings: Iterable[str]
) -> ProcedureDetails:
    """Return the details with names trimmed, or raise `ValidationError` listing each problem.

    Args:
        settings: the template's setting keys (hospital-or, surgical-centre).
    """
    errors: dict[str, str] = {}
    if details.anaesthesia not in {a.key for a in config.anaesthesia}:
        errors["anaesthesia"] = "Choose the type of anaesthesia."
    if details.setting not in set(settings):
        errors["setting"] = "Choose the setting."
    roles = {r.key: r for r in config.roles}
    personnel: dict[str, tuple[str, ...]] = {}
    for role_key, names in details.personnel.items():
        if role_key not in roles:
            errors[f"personnel.{role_key}"] = f"{role_key!r} is not a known role."
            continue
        cleaned = tuple(n.strip() for n in names if n.strip())
        if any(len(n) > NAME_MAX_LENGTH for n in cleaned):
            errors[f"personnel.{role_key}"] = (
                f"{roles[role_key].name}: enter each name in at most {NAME_MAX_LENGTH} characters."
            )
        elif any(has_control_character(n) for n in cleaned):
            errors[f"personnel.{role_key}"] = control_character_message(
                "name", context=roles[role_key].name
            )
        personnel[role_key] = cleaned
    for role in config.roles:
        if role.required and not personnel.get(role.key):
            errors.setdefault(f"personnel.{role.key}", f"Enter the {role.name.lower()}.")
    if errors:
        raise ValidationError(errors)
    return ProcedureDetails(details.anaesthesia, details.setting, personnel)


@dataclass(frozen=True)
class PumpImplant:
    """The pump-specific record of the operation (domain.md §5.3, §9.12).

    Units: reservoir and fill volume in mL; concentration in ``concentration_unit``.
    """

    pump_model: str
    serial: str
    reservoir_ml: float | None
    drug: str
    concentration: float | None
    concentration_unit: str
    volume_ml: float | None
    fill_checked_by: str
    csf_flow_confirmed: bool
    catheter_tip_level: str
    pocket_depth_cm: float | None = None


def _positive(value: float | None) -> bool:
    return (
        value is not None
        and not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def validate_pump_implant(
    implant: PumpImplant, config: ProcedureConfig
) -> tuple[PumpImplant, tuple[str, ...]]:
    """Refuse an incomplete pump record; return it with flags for what needs attention.

    Refused (ValidationError): missing model, serial, drug, unit or catheter tip level;
    non-positive reservoir, concentration or volume; a fill larger than the reservoir (do not
    overfill). Flagged (returned): CSF flow not confirmed; fill not double-checked; pocket deeper
    than ``max_pocket_depth_cm``.
    """
    errors: dict[str, str] = {}
    required = {
        "pump_model": "the pump model",
        "serial": "the pump's serial number",
        "drug": "the drug of the initial fill",
        "concentration_unit": "the concentration unit",
        "catheter_tip_level": "the catheter tip level",
    }
    for field_name, label in required.items():
        if not str(getattr(implant, field_name)).strip():
            errors[field_name] = f"Enter {label}."
    for field_name, noun in (
        ("pump_model", "pump model"),
        ("serial", "serial number"),
        ("drug", "drug"),
        ("concentration_unit", "concentration unit"),
        ("catheter_tip_level", "catheter tip level"),
        ("fill_checked_by", "second checker's name"),
    ):
        check_control_characters(
            errors, field_name, str(getattr(implant, field_name)).strip(), noun
        )
    for field_name, label in (
        ("reservoir_ml", "reservoir size (mL)"),
        ("concentration", "concentration"),
        ("volume_ml", "volume of the initial fill (mL)"),
    ):
        if not _positive(getattr(implant, field_name)):
            errors[field_name] = f"Enter the {label} as a number above zero."
    reservoir, volume = implant.reservoir_ml, implant.volume_ml
    if (
        "reservoir_ml" not in errors
        and "volume_ml" not in errors
        and reservoir is not None
        and volume is not None
        and volume > reservoir
    ):
        errors["volume_ml"] = (
            f"The fill ({volume:g} mL) is larger than the reservoir ({reservoir:g} mL); "
            "do not overfill."
        )
    depth = implant.pocket_depth_cm
    if depth is not None and not _positive(depth):
        errors["pocket_depth_cm"] = "Enter the pocket depth (cm) as a number above zero."
    if errors:
        raise ValidationError(errors)
    flags = []
    if not implant.csf_flow_confirmed:
        flags.append("Free CSF flow is not confirmed.")
    if not implant.fill_checked_by.strip():
        flags.append("The initial fill is not double-checked by a second person.")
    if depth is not None and depth > config.max_pocket_depth_cm:
        flags.append(f"The pocket depth ({depth:g} cm) exceeds {config.max_pocket_depth_cm:g} cm.")
    trimmed = PumpImplant(
        pump_model=implant.pump_model.strip(),
        serial=implant.serial.strip(),
        reservoir_ml=implant.reservoir_ml,
        drug=implant.drug.strip(),
        concentration=implant.concentration,
        concentration_unit=implant.concentration_unit.strip(),
        volume_ml=implant.volume_ml,
        fill_checked_by=implant.fill_checked_by.strip(),
        csf_flow_confirmed=implant.csf_flow_confirmed,
        catheter_tip_level=implant.catheter_tip_level.strip(),
        pocket_depth_cm=implant.pocket_depth_cm,
    )
    return trimmed, tuple(flags)
