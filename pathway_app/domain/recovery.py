"""Hospital stay and recovery: length of stay, activity restrictions, the discharge checklist,
complications and red-flag symptoms, and the loader of ``recovery.toml``.

Everything takes plain values and explicit times (``now``/``today``); nothing reads the clock.
Rules, parameters and sources are listed in ``docs/recovery.md``.

Definitions:

* **Days of stay** are counted as midnights crossed in local time (the hospital census
  convention): admitted Monday 14:00 and discharged Tuesday 09:00 is 1 day; the same day is 0.
  A stay is flagged when it is *more* than ``expected_max_days``; a stay still running is flagged
  from the local midnight that makes it so.
* **Activity restrictions** apply up to and including their end date and are lifted the day
  after (`restrictions_active`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from pathway_app.domain.errors import TemplateError, ValidationError
from pathway_app.domain.followup import REFILL_ENGINE, FollowUpConfig, Offset, PlanItemDef
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, NAME_MAX_LENGTH, validate_reason
from pathway_app.domain.text import check_control_characters, clean_text
from pathway_app.domain.toml_reader import TomlReader as _TemplateReader
from pathway_app.domain.toml_reader import require_unique as _unique

RECOVERY_FILE = "recovery.toml"


class Mark(StrEnum):
    """How trustworthy a configured number is, for the UI to show beside it."""

    UNVERIFIED = "unverified"
    CLINIC_DEFAULT = "clinic default"


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StayConfig:
    """Expected length of stay in days (midnights), from ``[stay]``."""

    expected_min_days: int
    expected_max_days: int
    source: str = ""


@dataclass(frozen=True)
class RestrictionItem:
    key: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class RestrictionConfig:
    """Activity restrictions after the operation, from ``[restrictions]``.

    Attributes:
        window_min_weeks, window_max_weeks: the sourced range (6-8 weeks).
        default_weeks: the end date proposed for a new episode, counted from the operation.
        items: what the restrictions are.
    """

    window_min_weeks: int
    window_max_weeks: int
    default_weeks: int
    items: tuple[RestrictionItem, ...]
    source: str = ""


@dataclass(frozen=True)
class ChecklistItem:
    """One item of the discharge checklist."""

    key: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class ComplicationCategory:
    """A complication category of the pathway's risk list.

    Attributes:
        requires_detail: the coordinator must describe it (the "other" category).
    """

    key: str
    name: str
    detail: str = ""
    requires_detail: bool = False
    source: str = ""


@dataclass(frozen=True)
class Severity:
    """A severity level; file order is mildest first."""

    key: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class RedFlag:
    """A red-flag symptom the coordinator can tick during a call."""

    key: str
    name: str
    detail: str = ""
    source: str = ""


@dataclass(frozen=True)
class RecoveryConfig:
    """Everything ``recovery.toml`` holds.

    Attributes:
        marks: dotted field name -> `Mark` for every value that is unverified or a clinic default,
            e.g. ``"stay.expected_max_days"`` or ``"followup.items.wound-check.due"``; a name
            not in it comes from a named source.
        source: the file it was read from.
    """

    stay: StayConfig
    restrictions: RestrictionConfig
    discharge_checklist: tuple[ChecklistItem, ...]
    complications: tuple[ComplicationCategory, ...]
    severities: tuple[Severity, ...]
    red_flags: tuple[RedFlag, ...]
    followup: FollowUpConfig
    marks: Mapping[str, Mark]
    source: str = ""

    def mark(self, name: str) -> Mark | None:
        return self.marks.get(name)

    def complication(self, key: str) -> ComplicationCategory:
        for category in self.complications:
            if category.key == key:
                return category
        raise KeyError(key)

    def severity(self, key: str) -> Severity:
        for severity in self.severities:
            if severity.key == key:
                return severity
        raise KeyError(key)

    def red_flag(self, key: str) -> RedFlag:
        for flag in self.red_flags:
            if flag.key == key:
                return flag
        raise KeyError(key)


# --- loader -----------------------------------------------------------------------------------


class _Reader(_TemplateReader):
    """Adds numbers with a minimum, flags, string lists and source marks to the template reader."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.marks: dict[str, Mark] = {}

    def whole(
        self, data: Mapping[str, Any], key: str, where: str, *, minimum: int = 0
    ) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{where}{key}", f"must be a whole number of at least {minimum}")
        return value

    def required_whole(
        self, data: Mapping[str, Any], key: str, where: str, *, minimum: int = 0
    ) -> int:
        value = self.whole(data, key, where, minimum=minimum)
        if value is None:
            raise self.fail(f"{where}{key}", "is missing")
        return value

    def flag(self, data: Mapping[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}{key}", "must be true or false")
        return value

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{where}{key}", "must be a list of strings")
        return tuple(value)

    def collect_marks(
        self, data: Mapping[str, Any], where: str, prefix: str, fields: set[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Read the ``unverified`` and ``clinic_defaults`` lists of one table."""
        result = []
        for key, mark in (
            ("unverified", Mark.UNVERIFIED),
            ("clinic_defaults", Mark.CLINIC_DEFAULT),
        ):
            names = self.strings(data, key, where)
            for name in names:
                if name not in fields:
                    raise self.fail(
                        f"{where}{key}",
                        f"lists {name!r}, which is not one of: {', '.join(sorted(fields))}",
                    )
                if f"{prefix}{name}" in self.marks:
                    raise self.fail(
                        f"{where}{key}", f"lists {name!r}, which is already marked otherwise"
                    )
                self.marks[f"{prefix}{name}"] = mark
            result.append(frozenset(names))
        return result[0], result[1]


_MARK_KEYS = {"unverified", "clinic_defaults"}
_OFFSET_UNITS = ("years", "months", "weeks", "days")


def _offset(r: _Reader, data: Mapping[str, Any], key: str, where: str) -> Offset | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise r.fail(
            f"{where}{key}", "must be an inline table such as { days = 14 } or { months = 3 }"
        )
    r.no_unknown(value, set(_OFFSET_UNITS), f"{where}{key}.")
    numbers = {unit: r.whole(value, unit, f"{where}{key}.") or 0 for unit in _OFFSET_UNITS}
    offset = Offset(**numbers)
    if offset.is_zero():
        raise r.fail(f"{where}{key}", "must be after the operation (more than 0 days)")
    return offset


# Reference days on which a plan item's window must open no later than it is due; a year and a
# leap year cover every month length relativedelta can meet.
_REFERENCE_DAYS = tuple(date(2027, 1, 1) + timedelta(days=n) for n in range(731))


def _plan_item(r: _Reader, raw: Mapping[str, Any], where: str) -> PlanItemDef:
    fields = {"due", "window_opens", "repeat_every_months", "repeat_count", "only_for_drugs"}
    r.no_unknown(raw, {"key", "purpose", "detail", "source", *fields, *_MARK_KEYS}, where)
    key = r.text(raw, "key", where)
    due = _offset(r, raw, "due", where)
    if due is None:
        raise r.fail(f"{where}due", "is missing")
    window = _offset(r, raw, "window_opens", where)
    if window is not None and any(window.after(d) > due.after(d) for d in _REFERENCE_DAYS):
        raise r.fail(f"{where}window_opens", "must not be later than due")
    every = r.whole(raw, "repeat_every_months", where, minimum=1)
    count = r.whole(raw, "repeat_count", where, minimum=1)
    if count is not None and every is None:
        raise r.fail(f"{where}repeat_count", "needs repeat_every_months")
    if every is not None and count is None:
        raise r.fail(f"{where}repeat_every_months", "needs repeat_count")
    unverified, clinic = r.collect_marks(raw, where, f"followup.items.{key}.", fields)
    return PlanItemDef(
        key=key,
        purpose=r.text(raw, "purpose", where),
        due=due,
        window_opens=window,
        repeat_every_months=every,
        repeat_count=count,
        only_for_drugs=r.strings(raw, "only_for_drugs", where),
        detail=r.text(raw, "detail", where, required=False),
        source=r.text(raw, "source", where, required=False),
        unverified=unverified,
        clinic_defaults=clinic,
    )


def parse_recovery(data: Mapping[str, Any], source: str) -> RecoveryConfig:
    """Validate parsed TOML and build the configuration; ``source`` names the file in messages.

    Raises:
        TemplateError: naming the file and the first wrong key.
    """
    r = _Reader(source)
    r.no_unknown(
        data,
        {
            "recovery",
            "stay",
            "restrictions",
            "discharge",
            "complications",
            "severity",
            "red_flags",
            "followup",
        },
        "",
    )
    head = r.table(data, "recovery", "")
    r.no_unknown(head, {"version"}, "[recovery].")
    r.required_whole(head, "version", "[recovery].", minimum=1)

    # stay
    raw = r.table(data, "stay", "")
    where = "[stay]."
    numbers = {"expected_min_days", "expected_max_days"}
    r.no_unknown(raw, {*numbers, "source", *_MARK_KEYS}, where)
    low = r.required_whole(raw, "expected_min_days", where)
    high = r.required_whole(raw, "expected_max_days", where, minimum=1)
    if low > high:
        raise r.fail(f"{where}expected_min_days", "must not be more than expected_max_days")
    r.collect_marks(raw, where, "stay.", numbers)
    stay = StayConfig(low, high, r.text(raw, "source", where, required=False))

    # restrictions
    raw = r.table(data, "restrictions", "")
    where = "[restrictions]."
    numbers = {"window_min_weeks", "window_max_weeks", "default_weeks"}
    r.no_unknown(raw, {*numbers, "items", "source", *_MARK_KEYS}, where)
    w_min = r.required_whole(raw, "window_min_weeks", where, minimum=1)
    w_max = r.required_whole(raw, "window_max_weeks", where, minimum=1)
    weeks = r.required_whole(raw, "default_weeks", where, minimum=1)
    if w_min > w_max:
        raise r.fail(f"{where}window_min_weeks", "must not be more than window_max_weeks")
    if not w_min <= weeks <= w_max:
        raise r.fail(f"{where}default_weeks", f"must be within the window ({w_min}-{w_max} weeks)")
    r.collect_marks(raw, where, "restrictions.", numbers)
    items = []
    for index, item in enumerate(r.array_of_tables(raw, "items", where)):
        at = f"{where}items[{index}]."
        r.no_unknown(item, {"key", "text", "source"}, at)
        items.append(
            RestrictionItem(
                r.text(item, "key", at),
                r.text(item, "text", at),
                r.text(item, "source", at, required=False),
            )
        )
    _unique(r, [(x.key, f"{where}items[{i}].key") for i, x in enumerate(items)])
    restrictions = RestrictionConfig(
        w_min, w_max, weeks, tuple(items), r.text(raw, "source", where, required=False)
    )

    # discharge checklist
    raw = r.table(data, "discharge", "")
    where = "[discharge]."
    r.no_unknown(raw, {"checklist", "source"}, where)
    checklist = []
    for index, item in enumerate(r.array_of_tables(raw, "checklist", where)):
        at = f"{where}checklist[{index}]."
        r.no_unknown(item, {"key", "name", "detail"}, at)
        checklist.append(
            ChecklistItem(
                r.text(item, "key", at),
                r.text(item, "name", at),
                r.text(item, "detail", at, required=False),
            )
        )
    _unique(r, [(x.key, f"{where}checklist[{i}].key") for i, x in enumerate(checklist)])

    # complications
    raw = r.table(data, "complications", "")
    where = "[complications]."
    r.no_unknown(raw, {"categories", "source", *_MARK_KEYS}, where)
    r.collect_marks(raw, where, "complications.", {"categories"})
    categories = []
    for index, item in enumerate(r.array_of_tables(raw, "categories", where)):
        at = f"{where}categories[{index}]."
        r.no_unknown(item, {"key", "name", "detail", "requires_detail", "source"}, at)
        categories.append(
            ComplicationCategory(
                r.text(item, "key", at),
                r.text(item, "name", at),
                r.text(item, "detail", at, required=False),
                r.flag(item, "requires_detail", at),
                r.text(item, "source", at, required=False),
            )
        )
    _unique(r, [(c.key, f"{where}categories[{i}].key") for i, c in enumerate(categories)])

    # severity
    raw = r.table(data, "severity", "")
    where = "[severity]."
    r.no_unknown(raw, {"levels", "source", *_MARK_KEYS}, where)
    r.collect_marks(raw, where, "severity.", {"levels"})
    severities = []
    for index, item in enumerate(r.array_of_tables(raw, "levels", where)):
        at = f"{where}levels[{index}]."
        r.no_unknown(item, {"key", "name", "detail"}, at)
        severities.append(
            Severity(
                r.text(item, "key", at),
                r.text(item, "name", at),
                r.text(item, "detail", at, required=False),
            )
        )
    _unique(r, [(s.key, f"{where}levels[{i}].key") for i, s in enumerate(severities)])

    # red flags
    raw = r.table(data, "red_flags", "")
    where = "[red_flags]."
    r.no_unknown(raw, {"symptoms", "source"}, where)
    flags = []
    for index, item in enumerate(r.array_of_tables(raw, "symptoms", where)):
        at = f"{where}symptoms[{index}]."
        r.no_unknown(item, {"key", "name", "detail", "source"}, at)
        flags.append(
            RedFlag(
                r.text(item, "key", at),
                r.text(item, "name", at),
                r.text(item, "detail", at, required=False),
                r.text(item, "source", at, required=False),
            )
        )
    _unique(r, [(f.key, f"{where}symptoms[{i}].key") for i, f in enumerate(flags)])

    # follow-up plan
    raw = r.table(data, "followup", "")
    where = "[followup]."
    r.no_unknown(raw, {"refill_visits", "items", "source"}, where)
    if raw.get("refill_visits") != REFILL_ENGINE:
        raise r.fail(
            f"{where}refill_visits",
            f'must be "{REFILL_ENGINE}": refill visits come from the refill engine',
        )
    plan = [
        _plan_item(r, item, f"{where}items[{index}].")
        for index, item in enumerate(r.array_of_tables(raw, "items", where))
    ]
    _unique(r, [(p.key, f"{where}items[{i}].key") for i, p in enumerate(plan)])

    return RecoveryConfig(
        stay=stay,
        restrictions=restrictions,
        discharge_checklist=tuple(checklist),
        complications=tuple(categories),
        severities=tuple(severities),
        red_flags=tuple(flags),
        followup=FollowUpConfig(tuple(plan), REFILL_ENGINE),
        marks=dict(r.marks),
        source=source,
    )


def load_recovery(path: Path) -> RecoveryConfig:
    """Read and validate ``recovery.toml``.

    Raises:
        TemplateError: the file is unreadable, not TOML, or a key is wrong; the message names
            the file and the key.
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
    return parse_recovery(data, str(path))


# --- helpers ----------------------------------------------------------------------------------


def _aware(name: str, value: datetime | None, label: str) -> datetime:
    if value is None:
        raise ValidationError({name: f"Enter the {label}."})
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError({name: f"The {label} must be a date and time with a time zone."})
    return value


def _free_text(errors: dict[str, str], name: str, value: str, label: str, *, required: bool) -> str:
    return clean_text(
        errors, name, value, label, FREE_TEXT_MAX_LENGTH, required=required, multiline=True
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- hospital stay ----------------------------------------------------------------------------


def length_of_stay(admitted_at: datetime, discharged_at: datetime) -> timedelta:
    """Elapsed time from admission to discharge.

    Raises:
        ValidationError: a time has no time zone, or the discharge is before the admission.
    """
    start = _aware("admitted_at", admitted_at, "admission time")
    end = _aware("discharged_at", discharged_at, "discharge time")
    if end < start:
        raise ValidationError({"discharged_at": "The discharge is before the admission."})
    return end - start


def stay_days(admitted_at: datetime, until: datetime, tz: tzinfo | None = None) -> int:
    """Days of stay: local midnights crossed from admission to ``until`` (discharge or now).

    Args:
        tz: the hospital's time zone; None = the workstation's.

    Raises:
        ValidationError: as for `length_of_stay`.
    """
    length_of_stay(admitted_at, until)
    return (until.astimezone(tz).date() - admitted_at.astimezone(tz).date()).days


def validate_stay(
    admitted_at: datetime | None, discharged_at: datetime | None, now: datetime
) -> tuple[datetime, datetime | None]:
    """Check entered admission and discharge times: present (discharge optional), with a time
    zone, not in the future, and the discharge not before the admission.

    Raises:
        ValidationError: every problem, keyed by field.
    """
    errors: dict[str, str] = {}
    start: datetime | None = None
    end: datetime | None = None
    try:
        start = _aware("admitted_at", admitted_at, "admission time")
        if start > now:
            errors["admitted_at"] = "The admission time is in the future."
    except ValidationError as exc:
        errors.update(exc.field_errors)
    if discharged_at is not None:
        try:
            end = _aware("discharged_at", discharged_at, "discharge time")
            if end > now:
                errors["discharged_at"] = "The discharge time is in the future."
            elif start is not None and end < start:
                errors["discharged_at"] = "The discharge is before the admission."
        except ValidationError as exc:
            errors.update(exc.field_errors)
    if errors or start is None:
        raise ValidationError(errors)
    return start, end


def expected_stay_text(config: StayConfig) -> str:
    """E.g. ``"1-2 days"``; a day is a night in hospital (a midnight crossed)."""
    if config.expected_min_days == config.expected_max_days:
        return _plural(config.expected_max_days, "day")
    return f"{config.expected_min_days}-{config.expected_max_days} days"


def stay_flag(
    admitted_at: datetime,
    discharged_at: datetime | None,
    now: datetime,
    config: StayConfig,
    tz: tzinfo | None = None,
) -> str | None:
    """A warning when the stay is longer than expected, else None.

    Days are midnights crossed in local time (see the module docstring). A finished stay is
    judged on its discharge time; a running one on ``now``, so it is flagged from the local
    midnight that begins day ``expected_max_days + 1``.
    """
    until = discharged_at if discharged_at is not None else _aware("now", now, "current time")
    days = stay_days(admitted_at, until, tz)
    if days <= config.expected_max_days:
        return None
    expected = expected_stay_text(config)
    if discharged_at is None:
        return f"In hospital for {_plural(days, 'day')}, longer than the expected {expected}."
    return f"Stay of {_plural(days, 'day')} was longer than the expected {expected}."


@dataclass(frozen=True)
class MonitoringNote:
    """A post-operative monitoring note (what was watched: CSF leak, wound, pump operation)."""

    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class WoundCareInstruction:
    """Wound care instructions given to the patient: who gave them and when."""

    given_by: str
    given_at: datetime
    notes: str = ""


def _person(errors: dict[str, str], name: str, value: str, label: str, noun: str) -> str:
    """A person's name, one line; ``label`` completes "Enter ...", ``noun`` names the field."""
    text = value.strip()
    if not text:
        errors[name] = f"Enter {label}."
    elif len(text) > NAME_MAX_LENGTH:
        errors[name] = f"Enter {label} in at most {NAME_MAX_LENGTH} characters."
    else:
        check_control_characters(errors, name, text, noun)
    return text


def _time_in_range(
    errors: dict[str, str],
    name: str,
    value: datetime | None,
    label: str,
    *,
    now: datetime,
    not_before: datetime | None,
    before_label: str = "",
) -> datetime | None:
    try:
        moment = _aware(name, value, label)
    except ValidationError as exc:
        errors.update(exc.field_errors)
        return None
    if moment > now:
        errors[name] = f"The {label} is in the future."
    elif not_before is not None and moment < not_before:
        errors[name] = f"The {label} is before {before_label}."
    return moment


def validate_monitoring_note(
    note: MonitoringNote, *, admitted_at: datetime | None, now: datetime
) -> MonitoringNote:
    """A note needs a time (not in the future, not before the admission), an author and text."""
    errors: dict[str, str] = {}
    at = _time_in_range(
        errors,
        "at",
        note.at,
        "note time",
        now=now,
        not_before=admitted_at,
        before_label="the admission",
    )
    author = _person(errors, "author", note.author, "who wrote the note", "author's name")
    text = _free_text(errors, "text", note.text, "note", required=True)
    if errors or at is None:
        raise ValidationError(errors)
    return MonitoringNote(at, author, text)


def validate_wound_care(
    record: WoundCareInstruction, *, operation_at: datetime | None, now: datetime
) -> WoundCareInstruction:
    """Wound care instructions need who gave them and when (not in the future, not before the
    operation)."""
    errors: dict[str, str] = {}
    who = _person(
        errors,
        "given_by",
        record.given_by,
        "who gave the instructions",
        "name of the person who gave the instructions",
    )
    at = _time_in_range(
        errors,
        "given_at",
        record.given_at,
        "time the instructions were given",
        now=now,
        not_before=operation_at,
        before_label="the operation",
    )
    notes = _free_text(errors, "notes", record.notes, "note", required=False)
    if errors or at is None:
        raise ValidationError(errors)
    return WoundCareInstruction(who, at, notes)


# --- activity restrictions --------------------------------------------------------------------


def restriction_end(operation_on: date, weeks: int) -> date:
    """Last day of the activity restrictions: ``weeks`` after the operation (relativedelta).

    The restrictions apply up to and including this day (`restrictions_active`).
    """
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ValidationError({"weeks": "The restrictions last at least 1 week."})
    return operation_on + relativedelta(weeks=weeks)


def default_restriction_end(operation_on: date, config: RestrictionConfig) -> date:
    """The end date proposed for a new episode (``default_weeks``, the end of the window)."""
    return restriction_end(operation_on, config.default_weeks)


def restrictions_active(end_on: date, today: date, operation_on: date | None = None) -> bool:
    """Whether the restrictions are shown: from the operation day through ``end_on`` inclusive."""
    if operation_on is not None and today < operation_on:
        return False
    return today <= end_on


def validate_restriction_end(
    operation_on: date, end_on: date, config: RestrictionConfig
) -> str | None:
    """Check an end date the coordinator chose.

    Returns:
        A warning when it is earlier than the sourced minimum (``window_min_weeks``) or later
        than the maximum; None inside the window. The date is the coordinator's decision.

    Raises:
        ValidationError: the end date is not after the operation.
    """
    if end_on <= operation_on:
        raise ValidationError({"restrictions_end_on": "The end date must be after the operation."})
    earliest = restriction_end(operation_on, config.window_min_weeks)
    latest = restriction_end(operation_on, config.window_max_weeks)
    if end_on < earliest:
        return (
            f"Restrictions end before the usual minimum of {config.window_min_weeks} weeks "
            f"({earliest.isoformat()}); the catheter may not be anchored yet."
        )
    if end_on > latest:
        return (
            f"Restrictions last beyond the usual {config.window_max_weeks} weeks "
            f"({latest.isoformat()})."
        )
    return None


# --- discharge checklist ----------------------------------------------------------------------


@dataclass(frozen=True)
class DischargeDecision:
    """The outcome of asking to discharge.

    Attributes:
        overridden: discharged with checklist items open.
        override_reason: the reason given for the override (empty when not overridden).
        open_items: keys of the checklist items open at discharge.
    """

    overridden: bool
    override_reason: str = ""
    open_items: tuple[str, ...] = ()


def discharge_blockers(
    checklist: Sequence[ChecklistItem], ticked: Collection[str]
) -> tuple[ChecklistItem, ...]:
    """The checklist items not ticked, in checklist order. Ticks of keys no longer in the
    checklist are ignored."""
    return tuple(item for item in checklist if item.key not in ticked)


def discharge_decision(
    blockers: Sequence[ChecklistItem], override_reason: str = ""
) -> DischargeDecision:
    """Allow the discharge when nothing is open; with open items, only with a reason.

    Raises:
        ValidationError: items are open and no reason was given (field ``override_reason``;
            the message lists the open items).
    """
    if not blockers:
        return DischargeDecision(overridden=False)
    if not override_reason.strip():
        names = "; ".join(item.name for item in blockers)
        raise ValidationError(
            {
                "override_reason": (
                    f"Discharge is blocked: {_plural(len(blockers), 'checklist item')} open "
                    f"({names}). Complete them, or give a reason to discharge anyway."
                )
            }
        )
    reason = validate_reason(override_reason, "override_reason")
    return DischargeDecision(True, reason, tuple(item.key for item in blockers))


# --- complications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Complication:
    """One entry of the episode's complication log.

    Attributes:
        category: a `ComplicationCategory` key.
        onset_on: first day of the complication (not before the operation).
        severity: a `Severity` key.
        action_taken: what was done.
        resolved_on: the day it resolved; None while open.
        detail: description (required for a category that ``requires_detail``).
    """

    category: str
    onset_on: date | None
    severity: str
    action_taken: str = ""
    resolved_on: date | None = None
    detail: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


def validate_complication(
    entry: Complication, *, operation_on: date, today: date, config: RecoveryConfig
) -> Complication:
    """Check a complication entry; return it trimmed.

    Rules: a known category and severity; onset not before the operation and not in the future;
    resolved not before onset and not in the future; a description when the category needs one.

    Raises:
        ValidationError: every problem, keyed by field.
    """
    errors: dict[str, str] = {}
    category: ComplicationCategory | None = None
    try:
        category = config.complication(entry.category)
    except KeyError:
        errors["category"] = "Choose the complication category."
    if entry.severity not in {s.key for s in config.severities}:
        errors["severity"] = "Choose the severity."
    onset = entry.onset_on
    if onset is None:
        errors["onset_on"] = "Enter the onset date."
    elif onset < operation_on:
        errors["onset_on"] = (
            f"The onset is before the operation ({operation_on.isoformat()}); the log starts at "
            "the operation."
        )
    elif onset > today:
        errors["onset_on"] = "The onset date is in the future."
    resolved = entry.resolved_on
    if resolved is not None:
        if resolved > today:
            errors["resolved_on"] = "The resolved date is in the future."
        elif onset is not None and resolved < onset:
            errors["resolved_on"] = "The resolved date is before the onset."
    action = _free_text(errors, "action_taken", entry.action_taken, "action taken", required=False)
    detail = _free_text(
        errors,
        "detail",
        entry.detail,
        "description",
        required=category is not None and category.requires_detail,
    )
    if errors:
        raise ValidationError(errors)
    return Complication(entry.category, onset, entry.severity, action, resolved, detail)


def open_complications(entries: Iterable[Complication]) -> tuple[Complication, ...]:
    """Complications without a resolved date, earliest onset first."""
    return tuple(sorted((e for e in entries if e.is_open), key=lambda e: e.onset_on or date.min))


def complication_summary(entries: Iterable[Complication], config: RecoveryConfig) -> str:
    """Text for the worklist row: the open complications, most severe first, e.g.
    ``"Infection at the incision or pocket (Severe); Positional headache (Mild)"``; empty when
    none is open. Unknown keys (a category removed from the file) are shown as stored."""
    rank = {s.key: index for index, s in enumerate(config.severities)}
    names = {c.key: c.name for c in config.complications}
    severities = {s.key: s.name for s in config.severities}
    ordered = sorted(
        open_complications(entries),
        key=lambda e: (-rank.get(e.severity, len(rank)), e.onset_on or date.min),
    )
    return "; ".join(
        f"{names.get(e.category, e.category)} ({severities.get(e.severity, e.severity)})"
        for e in ordered
    )


# --- red flags --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrgentItem:
    """An urgent worklist item raised by a ticked red-flag symptom.

    Attributes:
        flag_key: the red flag's key.
        title: what the worklist shows.
        raised_at: when the coordinator ticked it (during the call).
        note: what the coordinator wrote, if anything.
    """

    flag_key: str
    title: str
    raised_at: datetime
    note: str = ""


def urgent_items(
    ticked: Collection[str], at: datetime, flags: Sequence[RedFlag], note: str = ""
) -> tuple[UrgentItem, ...]:
    """One urgent worklist item per ticked red flag, in reference-list order.

    Raises:
        ValidationError: ``at`` has no time zone, or a ticked key is not a known red flag.
    """
    moment = _aware("at", at, "time of the call")
    known = {flag.key for flag in flags}
    unknown = sorted(set(ticked) - known)
    if unknown:
        raise ValidationError({"red_flags": f"Unknown red-flag symptom: {', '.join(unknown)}."})
    errors: dict[str, str] = {}
    text = _free_text(errors, "note", note, "note", required=False)
    if errors:
        raise ValidationError(errors)
    return tuple(
        UrgentItem(flag.key, f"Red flag: {flag.name}", moment, text)
        for flag in flags
        if flag.key in ticked
    )
