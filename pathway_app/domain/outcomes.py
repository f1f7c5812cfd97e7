"""Outcomes (issue 10): is the pump helping this patient?

Pure rules: the outcome entry and its validation, the oral morphine milligram equivalent (MME)
conversion with its editable table (``resources/outcomes.toml``), the change since baseline,
the "score rose at two consecutive visits" and "new side effect" flags, and the year-on-year
intrathecal (IT) opioid dose trend (domain.md §7), which is a prompt and never a diagnosis.
No Qt, no SQL, no clock.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pathway_app.domain.errors import TemplateError, ValidationError
from pathway_app.domain.text import check_control_characters

OUTCOMES_FILE = "outcomes.toml"
PAIN_LOINC = "72514-3"  # Pain severity - 0-10 verbal numeric rating [Score] - Reported
ASHWORTH_GRADES = ("0", "1", "1+", "2", "3", "4")  # Modified Ashworth, in order
SCORE_KINDS = ("pain", "spasticity")
ENTRY_KINDS = ("baseline", "follow-up", "refill")
SIDE_EFFECTS: tuple[tuple[str, str], ...] = (
    ("nausea", "Nausea"),
    ("itching", "Itching"),
    ("sedation", "Sedation"),
    ("constipation", "Constipation"),
    ("urinary-retention", "Urinary retention"),
    ("oedema", "Oedema"),
    ("other", "Other"),
)
SIDE_EFFECT_NAMES = dict(SIDE_EFFECTS)
ORAL_UNITS = ("mg/day", "mcg/h")
FUNCTION_TEXT_MAX = 200
NOTE_MAX = 2000
MAX_ORAL_AMOUNT = 100_000.0
YEAR = timedelta(days=365)


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OralFactor:
    """One oral opioid's MME conversion: MME/day = amount (in ``unit``) × ``factor``.

    ``factor`` None means no factor is configured: conversion is refused.
    """

    key: str
    name: str
    unit: str
    factor: float | None
    verified: bool
    source: str


@dataclass(frozen=True)
class ConsentAlternative:
    key: str
    name: str


@dataclass(frozen=True)
class OutcomesConfig:
    scores: Mapping[str, str]  # indication key -> "pain" | "spasticity"
    oral: Mapping[str, OralFactor]
    intrathecal: Mapping[str, float]  # IT drug key -> IT morphine mg per mg
    alternatives: tuple[ConsentAlternative, ...]

    def score_kind(self, indication: str) -> str:
        return self.scores.get(indication, "pain")


def _fail(source: str, key: str, message: str) -> TemplateError:
    return TemplateError(f"{source}: {key} {message}")


def parse_outcomes(data: Mapping[str, Any], source: str) -> OutcomesConfig:
    """Validate the parsed TOML; raise `TemplateError` naming ``source`` and the key."""
    scores_raw = data.get("scores")
    if not isinstance(scores_raw, dict) or not scores_raw:
        raise _fail(source, "scores", "must be a table of indication = score")
    scores: dict[str, str] = {}
    for key, value in scores_raw.items():
        if value not in SCORE_KINDS:
            raise _fail(source, f"scores.{key}", f"must be one of {list(SCORE_KINDS)}")
        scores[key] = value
    oral_raw = data.get("oral")
    if not isinstance(oral_raw, dict) or not oral_raw:
        raise _fail(source, "oral", "must list at least one oral opioid")
    oral: dict[str, OralFactor] = {}
    for key, entry in oral_raw.items():
        where = f"oral.{key}"
        if not isinstance(entry, dict):
            raise _fail(source, where, "must be a table")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(source, f"{where}.name", "must be a non-empty text")
        unit = entry.get("unit")
        if unit not in ORAL_UNITS:
            raise _fail(source, f"{where}.unit", f"must be one of {list(ORAL_UNITS)}")
        raw = entry.get("factor")
        factor: float | None
        if raw == "unknown":
            factor = None
        elif isinstance(raw, int | float) and not isinstance(raw, bool) and 0 < raw <= 1000:
            factor = float(raw)
        else:
            raise _fail(source, f"{where}.factor", 'must be a number > 0 or "unknown"')
        verified = entry.get("verified")
        if not isinstance(verified, bool):
            raise _fail(source, f"{where}.verified", "must be true or false")
        if verified and factor is None:
            raise _fail(source, f"{where}.verified", 'cannot be true with factor "unknown"')
        text = entry.get("source", "")
        if not isinstance(text, str):
            raise _fail(source, f"{where}.source", "must be text")
        oral[key] = OralFactor(key, name.strip(), unit, factor, verified, text)
    it_raw = data.get("intrathecal", {})
    if not isinstance(it_raw, dict):
        raise _fail(source, "intrathecal", "must be a table of drug = factor")
    intrathecal: dict[str, float] = {}
    for key, value in it_raw.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise _fail(source, f"intrathecal.{key}", "must be a number > 0")
        intrathecal[key] = float(value)
    alternatives: list[ConsentAlternative] = []
    for index, entry in enumerate(data.get("consent_alternatives", [])):
        where = f"consent_alternatives[{index}]"
        if not isinstance(entry, dict):
            raise _fail(source, where, "must be a table")
        key, name = entry.get("key"), entry.get("name")
        if not isinstance(key, str) or not key.strip():
            raise _fail(source, f"{where}.key", "must be a non-empty text")
        if not isinstance(name, str) or not name.strip():
            raise _fail(source, f"{where}.name", "must be a non-empty text")
        if any(a.key == key for a in alternatives):
            raise _fail(source, f"{where}.key", f"repeats {key!r}")
        alternatives.append(ConsentAlternative(key, name.strip()))
    return OutcomesConfig(scores, oral, intrathecal, tuple(alternatives))


def load_outcomes(path: Path) -> OutcomesConfig:
    """Read and validate ``outcomes.toml``.

    Raises:
        TemplateError: unreadable, not TOML, or a key is wrong; the message names file and key.
    """
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: is not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: is not valid UTF-8 text ({exc})") from exc
    return parse_outcomes(data, str(path))


# --- MME conversion ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OralDose:
    """An oral opioid as entered: the drug key and its daily amount (in the drug's unit)."""

    drug: str
    amount: float | None


@dataclass(frozen=True)
class ConvertedDose:
    drug: str
    name: str
    amount: float
    unit: str
    factor: float
    mme: float
    verified: bool


def convert_to_mme(dose: OralDose, config: OutcomesConfig) -> ConvertedDose:
    """MME/day of one oral opioid.

    Raises:
        ValueError: unknown drug, no factor configured, or a negative/missing amount; the
            message is shown at the field.
    """
    entry = config.oral.get(dose.drug)
    if entry is None:
        raise ValueError("Choose an oral opioid from the list; this drug has no conversion.")
    if entry.factor is None:
        raise ValueError(
            f"No MME factor is set for {entry.name}; the clinic must set it in {OUTCOMES_FILE}."
        )
    if dose.amount is None:
        raise ValueError(f"Enter the daily amount of {entry.name} in {entry.unit}.")
    if dose.amount < 0:
        raise ValueError("The dose cannot be negative.")
    if dose.amount > MAX_ORAL_AMOUNT:
        raise ValueError(f"The dose is larger than {MAX_ORAL_AMOUNT:g} {entry.unit}.")
    return ConvertedDose(
        drug=entry.key,
        name=entry.name,
        amount=dose.amount,
        unit=entry.unit,
        factor=entry.factor,
        mme=round(dose.amount * entry.factor, 3),
        verified=entry.verified,
    )


# --- the entry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeDraft:
    assessed_on: date | None
    kind: str
    pain_nrs: int | None = None
    ashworth: str | None = None
    function_text: str = ""
    function_score: int | None = None
    oral: tuple[OralDose, ...] = ()
    side_effects: frozenset[str] = frozenset()
    side_effect_other: str = ""
    note: str = ""


@dataclass(frozen=True)
class CleanOutcome:
    assessed_on: date
    kind: str
    pain_nrs: int | None
    ashworth: str | None
    function_text: str
    function_score: int | None
    oral: tuple[ConvertedDose, ...]
    oral_mme: float
    mme_verified: bool
    side_effects: tuple[str, ...]
    side_effect_other: str
    note: str


def validate_outcome(
    draft: OutcomeDraft,
    config: OutcomesConfig,
    *,
    score_kind: str,
    today: date,
    earliest: date | None = None,
) -> CleanOutcome:
    """Return the cleaned entry, or raise `ValidationError` with one message per field.

    Field keys: ``assessed_on``, ``kind``, ``pain_nrs``, ``ashworth``, ``function_score``,
    ``function_text``, ``oral.<i>`` (the i-th oral opioid row), ``side_effect_other``, ``note``.
    ``score_kind`` ("pain" or "spasticity") makes that score required.
    """
    errors: dict[str, str] = {}
    if draft.assessed_on is None:
        errors["assessed_on"] = "Enter the date of the assessment."
    elif draft.assessed_on > today:
        errors["assessed_on"] = "The assessment date is in the future."
    elif earliest is not None and draft.assessed_on < earliest:
        errors["assessed_on"] = "The assessment date is before the episode was opened."
    if draft.kind not in ENTRY_KINDS:
        errors["kind"] = "Choose baseline, follow-up or refill visit."
    if draft.pain_nrs is not None and not 0 <= draft.pain_nrs <= 10:
        errors["pain_nrs"] = "The pain score must be a whole number from 0 to 10."
    elif draft.pain_nrs is None and score_kind == "pain":
        errors["pain_nrs"] = "Enter the pain score (0-10)."
    if draft.ashworth is not None and draft.ashworth not in ASHWORTH_GRADES:
        errors["ashworth"] = "The Ashworth grade must be 0, 1, 1+, 2, 3 or 4."
    elif draft.ashworth is None and score_kind == "spasticity":
        errors["ashworth"] = "Enter the Modified Ashworth grade."
    if draft.function_score is not None and not 0 <= draft.function_score <= 10:
        errors["function_score"] = "The function rating must be a whole number from 0 to 10."
    function_text = draft.function_text.strip()
    if len(function_text) > FUNCTION_TEXT_MAX:
        errors["function_text"] = f"Describe function in at most {FUNCTION_TEXT_MAX} characters."
    else:
        check_control_characters(errors, "function_text", function_text, "function description")
    converted: list[ConvertedDose] = []
    seen: set[str] = set()
    for index, dose in enumerate(draft.oral):
        try:
            item = convert_to_mme(dose, config)
        except ValueError as exc:
            errors[f"oral.{index}"] = str(exc)
            continue
        if item.drug in seen:
            errors[f"oral.{index}"] = f"{item.name} is listed twice; add the amounts together."
            continue
        seen.add(item.drug)
        converted.append(item)
    unknown = draft.side_effects - set(SIDE_EFFECT_NAMES)
    if unknown:
        errors["side_effects"] = "Choose side effects from the list."
    other = draft.side_effect_other.strip()
    if "other" in draft.side_effects and not other:
        errors["side_effect_other"] = "Say which other side effect."
    elif len(other) > FUNCTION_TEXT_MAX:
        errors["side_effect_other"] = f"Use at most {FUNCTION_TEXT_MAX} characters."
    elif "other" in draft.side_effects:
        # Without "other" ticked the text is dropped, so it cannot block the save.
        check_control_characters(errors, "side_effect_other", other, "other side effect")
    if len(draft.note) > NOTE_MAX:
        errors["note"] = f"The note is longer than {NOTE_MAX} characters."
    else:
        check_control_characters(errors, "note", draft.note.strip(), "note", multiline=True)
    if errors:
        raise ValidationError(errors)
    assert draft.assessed_on is not None
    return CleanOutcome(
        assessed_on=draft.assessed_on,
        kind=draft.kind,
        pain_nrs=draft.pain_nrs,
        ashworth=draft.ashworth,
        function_text=function_text,
        function_score=draft.function_score,
        oral=tuple(converted),
        oral_mme=round(sum(c.mme for c in converted), 3),
        mme_verified=all(c.verified for c in converted),
        side_effects=tuple(k for k, _ in SIDE_EFFECTS if k in draft.side_effects),
        side_effect_other=other if "other" in draft.side_effects else "",
        note=draft.note.strip(),
    )


# --- summary and flags ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomePoint:
    """One stored entry as the summary sees it (ordered by date by the caller or here)."""

    on: date
    kind: str
    pain_nrs: int | None = None
    ashworth: str | None = None
    function_score: int | None = None
    oral_mme: float | None = None
    side_effects: frozenset[str] = frozenset()
    entry_id: int = 0


def ashworth_rank(grade: str | None) -> int | None:
    """The ordinal position of a Modified Ashworth grade (0 → 0 … 1+ → 2 … 4 → 5)."""
    return ASHWORTH_GRADES.index(grade) if grade in ASHWORTH_GRADES else None


def score_of(point: OutcomePoint, score_kind: str) -> float | None:
    if score_kind == "spasticity":
        rank = ashworth_rank(point.ashworth)
        return float(rank) if rank is not None else None
    return float(point.pain_nrs) if point.pain_nrs is not None else None


def percent_change(baseline: float | None, current: float | None) -> float | None:
    """Percent change from baseline; None when either is missing or the baseline is zero and
    the value is not (a percentage of zero is undefined: show the values instead)."""
    if baseline is None or current is None:
        return None
    if baseline == 0:
        return 0.0 if current == 0 else None
    return (current - baseline) / baseline * 100.0


def two_visit_rise(values: Sequence[float | None]) -> bool:
    """True when the score rose at each of the last two visits that recorded it (missing
    visits are skipped): v[-3] < v[-2] < v[-1]."""
    recorded = [v for v in values if v is not None]
    return len(recorded) >= 3 and recorded[-3] < recorded[-2] < recorded[-1]


def new_side_effects(points: Sequence[OutcomePoint]) -> tuple[str, ...]:
    """Side effects in the latest entry that the entry before it did not have."""
    if len(points) < 2:
        return ()
    before, last = points[-2].side_effects, points[-1].side_effects
    return tuple(k for k, _ in SIDE_EFFECTS if k in last and k not in before)


@dataclass(frozen=True)
class OutcomeSummary:
    text: str  # e.g. "pain −45 %, oral MME −60 mg/day"
    flags: tuple[str, ...] = ()
    score_change_pct: float | None = None
    mme_change: float | None = None

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def flag_text(self) -> str:
        return "; ".join(self.flags)


def _signed(value: float, digits: int = 0) -> str:
    text = f"{abs(value):.{digits}f}"
    if round(value, digits) == 0:
        return text
    return ("+" if value > 0 else "−") + text


def _fmt(value: float) -> str:
    return f"{value:g}"


def summarise(points: Sequence[OutcomePoint], score_kind: str) -> OutcomeSummary:
    """The change since baseline and the flags, from the entries in any order.

    The baseline is the earliest entry of kind "baseline" (or the earliest entry when none is
    marked baseline); "now" is the latest entry. The flags: the score rose at two consecutive
    visits; a side effect is new since the previous entry.
    """
    if not points:
        return OutcomeSummary("")
    ordered = sorted(points, key=lambda p: (p.on, p.entry_id))
    baselines = [p for p in ordered if p.kind == "baseline"]
    base = baselines[0] if baselines else ordered[0]
    after = [p for p in ordered if (p.on, p.entry_id) > (base.on, base.entry_id)]
    label = "Ashworth" if score_kind == "spasticity" else "pain"
    flags: list[str] = []
    if two_visit_rise([score_of(p, score_kind) for p in ordered]):
        flags.append(f"{label} rose at two consecutive visits")
    new = new_side_effects(ordered)
    if new:
        flags.append("new side effect: " + ", ".join(SIDE_EFFECT_NAMES[k].lower() for k in new))
    if not after:
        return OutcomeSummary("baseline only", tuple(flags))
    last = after[-1]
    parts: list[str] = []
    change_pct: float | None = None
    # Score: the latest entry that recorded it, against the baseline's.
    base_score = score_of(base, score_kind)
    recent = next((p for p in reversed(after) if score_of(p, score_kind) is not None), None)
    if base_score is None:
        parts.append(f"{label}: no baseline score")
    elif recent is not None:
        now_score = score_of(recent, score_kind)
        if score_kind == "spasticity":
            parts.append(f"Ashworth {base.ashworth} → {recent.ashworth}")
        else:
            change_pct = percent_change(base_score, now_score)
            if change_pct is None:
                parts.append(f"pain {_fmt(base_score)} → {_fmt(now_score or 0)}")
            else:
                parts.append(f"pain {_signed(change_pct)} %")
    mme_change: float | None = None
    recent_mme = next((p for p in reversed(after) if p.oral_mme is not None), None)
    if (
        base.oral_mme is not None
        and recent_mme is not None
        and recent_mme.oral_mme is not None
        and (base.oral_mme or recent_mme.oral_mme)  # no oral opioid at either: nothing to say
    ):
        mme_change = recent_mme.oral_mme - base.oral_mme
        parts.append(f"oral MME {_signed(mme_change)} mg/day")
    if base.function_score is not None and last.function_score is not None:
        parts.append(f"function {_signed(last.function_score - base.function_score)}")
    return OutcomeSummary(", ".join(parts), tuple(flags), change_pct, mme_change)


# --- year-on-year intrathecal opioid trend ----------------------------------------------------


@dataclass(frozen=True)
class DosePoint:
    """An IT daily dose in effect from ``at`` (a fill), as recorded."""

    at: datetime
    drug: str
    daily_dose: float


@dataclass(frozen=True)
class OpioidTrend:
    """IT morphine-equivalent mg/day on each anniversary looking back from today (oldest first)
    and the rise over the last year. ``rising`` drives the prompt."""

    yearly: tuple[tuple[date, float], ...]
    rise_pct: float | None
    rising: bool
    text: str
    prompt: str = field(default="")


GRANULOMA_PROMPT = (
    "A rising intrathecal opioid dose year on year is a risk factor for a catheter-tip "
    "inflammatory mass (granuloma; domain.md §7). Consider it with the physician, especially "
    "if pain returns or new neurological signs appear. This is a prompt, not a diagnosis."
)


def _dose_on(points: Sequence[DosePoint], day: date, config: OutcomesConfig) -> float | None:
    current: DosePoint | None = None
    for p in points:
        if p.at.date() <= day:
            current = p
    if current is None or current.drug not in config.intrathecal:
        return None
    return current.daily_dose * config.intrathecal[current.drug]


def it_opioid_trend(
    doses: Sequence[DosePoint], config: OutcomesConfig, today: date
) -> OpioidTrend | None:
    """The year-on-year trend of the IT opioid dose (in IT morphine mg/day), or None when the
    drug is not an opioid listed in ``[intrathecal]`` or there is less than a year of fills."""
    ordered = sorted(doses, key=lambda d: d.at)
    yearly: list[tuple[date, float]] = []
    day = today
    while True:
        value = _dose_on(ordered, day, config)
        if value is None:
            break
        yearly.append((day, value))
        day = day - YEAR
    if len(yearly) < 2:
        return None
    yearly.reverse()
    (_, before), (_, now) = yearly[-2], yearly[-1]
    rise = percent_change(before, now)
    rising = now > before
    text = (
        f"IT opioid {_fmt(round(before, 3))} → {_fmt(round(now, 3))} mg/day morphine-equivalent "
        f"over the last year"
    )
    if rise is not None:
        text += f" ({_signed(rise)} %)"
    return OpioidTrend(tuple(yearly), rise, rising, text + ".", GRANULOMA_PROMPT if rising else "")
