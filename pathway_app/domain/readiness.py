"""Preparation rules: fasting, medication holds, pre-operative tests, screening trial, and the
readiness gate that keeps an episode out of Procedure until every gate is met.

The rules are data: ``resources/readiness.toml`` (gates, fasting times, tests, trial threshold,
procedure settings) and ``resources/holds.toml`` (anticoagulant/antiplatelet hold table). Both are
loaded here and refused with a `TemplateError` naming the file and the key. Every function takes
plain values and explicit times (aware ``datetime``) and reads no clock. The rules, their sources
and which values are clinic defaults or unverified are listed in ``docs/readiness.md``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pathway_app.domain.clock import local_today
from pathway_app.domain.errors import InvalidTransition, TemplateError, ValidationError
from pathway_app.domain.records import FREE_TEXT_MAX_LENGTH, NAME_MAX_LENGTH, validate_reason
from pathway_app.domain.text import check_control_characters
from pathway_app.domain.toml_reader import TomlReader

READINESS_FILE = "readiness.toml"
HOLDS_FILE = "holds.toml"

INR_NORMAL = "inr_normal"
CONDITIONS: dict[str, str] = {INR_NORMAL: "a normal INR"}
"""Extra hold conditions the app understands, with how a message names them."""

HOLD_GROUPS = ("antiplatelet", "nsaid", "vka", "heparin", "doac")
SHARED_DECISION = "shared-decision"
UNKNOWN = "unknown"


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A readiness gate; the key is a gate milestone of the template's Preparation stage."""

    key: str
    name: str


@dataclass(frozen=True)
class IntakeKind:
    """An intake type with its minimum fast (ASA, domain.md §4.1).

    Attributes:
        required: the fasting gate stays unmet until this kind is recorded.
    """

    key: str
    name: str
    min_hours: int
    required: bool

    @property
    def min_fast(self) -> timedelta:
        return timedelta(hours=self.min_hours)


@dataclass(frozen=True)
class TestDef:
    """A pre-operative test of the default list.

    Attributes:
        gate: the readiness gate this test belongs to.
        validity_days: a result older than this on the procedure day is expired.
        clinic_default: the validity window is a clinic choice, not a clinical fact.
        loinc: LOINC code where domain.md gives one, else "".
    """

    key: str
    name: str
    gate: str
    validity_days: int
    clinic_default: bool
    loinc: str = ""


@dataclass(frozen=True)
class Confirmation:
    """A yes/no statement a gate needs besides tests (e.g. "no active infection")."""

    key: str
    name: str
    gate: str


@dataclass(frozen=True)
class TrialConfig:
    """Screening trial rules: pain succeeds above the threshold, spasticity on a positive
    response."""

    success_threshold_pct: float
    pain_indications: frozenset[str]
    spasticity_indications: frozenset[str]


@dataclass(frozen=True)
class Named:
    """A keyed option shown by name (procedure step, anaesthesia type)."""

    key: str
    name: str


@dataclass(frozen=True)
class Role:
    """A personnel role; `required` roles need at least one name on the procedure record."""

    key: str
    name: str
    required: bool


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    text: str
    pump_specific: bool = False


@dataclass(frozen=True)
class Pause:
    """One pause of the WHO Surgical Safety Checklist and its items."""

    key: str
    name: str
    items: tuple[ChecklistItem, ...]


@dataclass(frozen=True)
class ProcedureConfig:
    """Procedure settings (``[procedure]`` and ``[[checklist]]`` of readiness.toml).

    Attributes:
        expected_min, expected_max: duration range; outside it the record is flagged.
        antibiotic_window: prophylaxis must be given within this time before incision.
        antibiotic_window_exempt: antibiotic names (lower case) the window does not apply to.
        max_pocket_depth_cm: deeper pockets are flagged.
        steps: the procedure steps in the order they must happen.
    """

    expected_min: timedelta
    expected_max: timedelta
    antibiotic_window: timedelta
    antibiotic_window_exempt: frozenset[str]
    max_pocket_depth_cm: float
    steps: tuple[Named, ...]
    anaesthesia: tuple[Named, ...]
    roles: tuple[Role, ...]
    checklist: tuple[Pause, ...]

    def step_name(self, key: str) -> str:
        for step in self.steps:
            if step.key == key:
                return step.name
        raise KeyError(key)


@dataclass(frozen=True)
class ReadinessConfig:
    """Everything in ``readiness.toml``."""

    gates: tuple[Gate, ...]
    fasting: tuple[IntakeKind, ...]
    tests: tuple[TestDef, ...]
    confirmations: tuple[Confirmation, ...]
    trial: TrialConfig
    psych_indications: frozenset[str]
    procedure: ProcedureConfig
    source: str = ""

    def gate(self, key: str) -> Gate:
        for gate in self.gates:
            if gate.key == key:
                return gate
        raise KeyError(key)

    def intake_kind(self, key: str) -> IntakeKind:
        for kind in self.fasting:
            if kind.key == key:
                return kind
        raise KeyError(key)

    def test(self, key: str) -> TestDef:
        for test in self.tests:
            if test.key == key:
                return test
        raise KeyError(key)

    @property
    def indications(self) -> frozenset[str]:
        """Indication keys the file names (each must exist in the pathway template)."""
        trial = self.trial
        return trial.pain_indications | trial.spasticity_indications | self.psych_indications


@dataclass(frozen=True)
class HoldRule:
    """One row of the hold table (``holds.toml``).

    Attributes:
        hold_hours: (lower, upper) minimum time from last dose to procedure start, in hours; the
            rule uses the upper bound. None when the table has no number (shared decision or
            "unknown"): a clinician must decide.
        shared_decision: the guideline leaves stopping to a shared decision.
        restart_hours: (earliest, latest) restart after the end of the procedure; None = unknown.
        condition: an extra condition (`INR_NORMAL`) or None.
        unverified: the numbers are not verified [U]; every patient needs a clinician's decision.
    """

    key: str
    name: str
    group: str
    hold_hours: tuple[int, int] | None
    shared_decision: bool
    restart_hours: tuple[int, int] | None
    condition: str | None
    unverified: bool
    source: str
    note: str = ""

    @property
    def hold(self) -> timedelta | None:
        """The hold the rule applies: the upper bound of the table's value."""
        return None if self.hold_hours is None else timedelta(hours=self.hold_hours[1])

    def hold_text(self) -> str:
        if self.hold_hours is None:
            return "shared decision" if self.shared_decision else "no number in the hold table"
        return _hours_range_text(self.hold_hours)

    def restart_text(self) -> str:
        if self.restart_hours is None:
            return "restart time not in the hold table"
        return f"restart {_hours_range_text(self.restart_hours)} after the procedure"


def _hours_text(hours: int) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    return f"{hours} h"


def _hours_range_text(hours: tuple[int, int]) -> str:
    low, high = hours
    if low == high:
        return _hours_text(low)
    if low >= 48 and low % 24 == 0 and high % 24 == 0:
        return f"{low // 24}–{high // 24} days"
    return f"{low}–{high} h"


# --- loading -----------------------------------------------------------------------------------


class _Reader(TomlReader):
    """The shared TOML reader plus the flags, bounded numbers and key lists readiness needs."""

    def flag(self, data: Mapping[str, Any], key: str, where: str, default: bool | None) -> bool:
        value = data.get(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"{where}{key}", "must be true or false")
        return value

    def whole(self, data: Mapping[str, Any], key: str, where: str, *, minimum: int = 1) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}{key}", "must be a whole number")
        if value < minimum:
            raise self.fail(f"{where}{key}", f"must be at least {minimum} (got {value})")
        return value

    def number(
        self, data: Mapping[str, Any], key: str, where: str, low: float, high: float
    ) -> float:
        value = data.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"{where}{key}", "must be a number")
        if not low <= value <= high:
            raise self.fail(f"{where}{key}", f"must be from {low:g} to {high:g} (got {value:g})")
        return float(value)

    def keys(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{where}{key}", "must be a list of keys in quotes")
        return tuple(value)

    def no_unknown(self, data: Mapping[str, Any], known: set[str], where: str) -> None:
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.fail(f"{where}{unknown[0]}", "is not a known key")

    def unique(self, keys: Iterable[tuple[str, str]]) -> None:
        seen: set[str] = set()
        for key, where in keys:
            if key in seen:
                raise self.fail(where, f"repeats the key {key!r}; keys must be unique")
            seen.add(key)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: is not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: is not valid UTF-8 text ({exc})") from exc


def _named_list(
    r: _Reader, data: Mapping[str, Any], key: str, where: str, extra: Iterable[str] = ()
) -> list[tuple[Mapping[str, Any], str]]:
    items = []
    for index, item in enumerate(r.tables(data, key, where)):
        item_where = f"{where}{key}[{index}]."
        r.no_unknown(item, {"key", "name", *extra}, item_where)
        r.text(item, "key", item_where)
        r.text(item, "name", item_where)
        items.append((item, item_where))
    r.unique((str(item["key"]).strip(), f"{w}key") for item, w in items)
    return items


def parse_readiness(data: Mapping[str, Any], source: str) -> ReadinessConfig:
    """Validate parsed ``readiness.toml`` and build the configuration."""
    r = _Reader(source)
    r.no_unknown(
        data,
        {
            "gates",
            "fasting",
            "tests",
            "confirmations",
            "trial",
            "psych_evaluation",
            "procedure",
            "checklist",
        },
        "",
    )
    gates = tuple(
        Gate(r.text(g, "key", w), r.text(g, "name", w))
        for g, w in _named_list(r, data, "gates", "")
    )
    gate_keys = {g.key for g in gates}

    def gate_of(item: Mapping[str, Any], where: str) -> str:
        key = r.text(item, "gate", where)
        if key not in gate_keys:
            raise r.fail(f"{where}gate", f"names an unknown gate {key!r} (see [[gates]])")
        return key

    fasting = tuple(
        IntakeKind(
            r.text(f, "key", w),
            r.text(f, "name", w),
            r.whole(f, "min_hours", w),
            r.flag(f, "required", w, None),
        )
        for f, w in _named_list(r, data, "fasting", "", {"min_hours", "required"})
    )
    tests = []
    for t, w in _named_list(
        r, data, "tests", "", {"gate", "validity_days", "clinic_default", "loinc"}
    ):
        tests.append(
            TestDef(
                key=r.text(t, "key", w),
                name=r.text(t, "name", w),
                gate=gate_of(t, w),
                validity_days=r.whole(t, "validity_days", w),
                clinic_default=r.flag(t, "clinic_default", w, False),
                loinc=r.text(t, "loinc", w, required=False),
            )
        )
    confirmations = tuple(
        Confirmation(r.text(c, "key", w), r.text(c, "name", w), gate_of(c, w))
        for c, w in (
            _named_list(r, data, "confirmations", "", {"gate"}) if "confirmations" in data else []
        )
    )

    raw_trial = r.table(data, "trial", "")
    r.no_unknown(
        raw_trial,
        {"success_threshold_pct", "pain_indications", "spasticity_indications"},
        "[trial].",
    )
    pain = frozenset(r.keys(raw_trial, "pain_indications", "[trial]."))
    spasticity = frozenset(r.keys(raw_trial, "spasticity_indications", "[trial]."))
    both = sorted(pain & spasticity)
    if both:
        raise r.fail("[trial].spasticity_indications", f"repeats {both[0]!r} from pain_indications")
    trial = TrialConfig(
        r.number(raw_trial, "success_threshold_pct", "[trial].", 0, 100), pain, spasticity
    )
    raw_psych = r.table(data, "psych_evaluation", "")
    r.no_unknown(raw_psych, {"indications"}, "[psych_evaluation].")
    psych = frozenset(r.keys(raw_psych, "indications", "[psych_evaluation]."))

    return ReadinessConfig(
        gates=gates,
        fasting=fasting,
        tests=tuple(tests),
        confirmations=confirmations,
        trial=trial,
        psych_indications=psych,
        procedure=_parse_procedure(r, data),
        source=source,
    )


def _parse_procedure(r: _Reader, data: Mapping[str, Any]) -> ProcedureConfig:
    where = "[procedure]."
    raw = r.table(data, "procedure", "")
    r.no_unknown(
        raw,
        {
            "expected_min_minutes",
            "expected_max_minutes",
            "antibiotic_window_minutes",
            "antibiotic_window_exempt",
            "max_pocket_depth_cm",
            "steps",
            "anaesthesia",
            "roles",
        },
        where,
    )
    low = r.whole(raw, "expected_min_minutes", where)
    high = r.whole(raw, "expected_max_minutes", where)
    if high < low:
        raise r.fail(
            f"{where}expected_max_minutes", f"must not be below expected_min_minutes ({low})"
        )
    steps = tuple(
        Named(r.text(s, "key", w), r.text(s, "name", w))
        for s, w in _named_list(r, raw, "steps", where)
    )
    anaesthesia = tuple(
        Named(r.text(a, "key", w), r.text(a, "name", w))
        for a, w in _named_list(r, raw, "anaesthesia", where)
    )
    roles = tuple(
        Role(r.text(a, "key", w), r.text(a, "name", w), r.flag(a, "required", w, False))
        for a, w in _named_list(r, raw, "roles", where, {"required"})
    )
    pauses = []
    item_keys: list[tuple[str, str]] = []
    for p, pw in _named_list(r, data, "checklist", "", {"items"}):
        items = []
        for index, item in enumerate(r.tables(p, "items", pw)):
            iw = f"{pw}items[{index}]."
            r.no_unknown(item, {"key", "text", "pump_specific"}, iw)
            entry = ChecklistItem(
                r.text(item, "key", iw),
                r.text(item, "text", iw),
                r.flag(item, "pump_specific", iw, False),
            )
            items.append(entry)
            item_keys.append((entry.key, f"{iw}key"))
        pauses.append(Pause(r.text(p, "key", pw), r.text(p, "name", pw), tuple(items)))
    r.unique(item_keys)
    return ProcedureConfig(
        expected_min=timedelta(minutes=low),
        expected_max=timedelta(minutes=high),
        antibiotic_window=timedelta(minutes=r.whole(raw, "antibiotic_window_minutes", where)),
        antibiotic_window_exempt=frozenset(
            k.lower() for k in r.keys(raw, "antibiotic_window_exempt", where)
        ),
        max_pocket_depth_cm=r.number(raw, "max_pocket_depth_cm", where, 0.1, 100),
        steps=steps,
        anaesthesia=anaesthesia,
        roles=roles,
        checklist=tuple(pauses),
    )


def load_readiness(path: Path) -> ReadinessConfig:
    """Read and validate ``readiness.toml``.

    Raises:
        TemplateError: the file is unreadable, not TOML, or a key is wrong; the message names the
            file and the key.
    """
    return parse_readiness(_read_toml(path), str(path))


def check_against_template(
    config: ReadinessConfig, indication_keys: Iterable[str], gate_milestones: Iterable[str]
) -> None:
    """Refuse a readiness file whose indications or gates the pathway template does not know.

    Args:
        indication_keys: the template's indication keys.
        gate_milestones: keys of the template's gate milestones (Preparation stage).

    Raises:
        TemplateError: naming the readiness file and the offending key.
    """
    indications = set(indication_keys)
    unknown = sorted(config.indications - indications)
    if unknown:
        raise TemplateError(
            f"{config.source}: names the indication {unknown[0]!r}, which the pathway template "
            "does not have"
        )
    milestones = set(gate_milestones)
    for index, gate in enumerate(config.gates):
        if gate.key not in milestones:
            raise TemplateError(
                f"{config.source}: gates[{index}].key {gate.key!r} is not a gate milestone of the "
                "pathway template"
            )


def _hours_pair(
    r: _Reader, table: Mapping[str, Any], key: str, where: str
) -> tuple[int, int] | None:
    value = table.get(key)
    if value == UNKNOWN:
        return None
    if isinstance(value, list) and len(value) == 2:
        low, high = value
    else:
        low = high = value
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise r.fail(
                f"{where}{key}",
                f'must be whole hours (e.g. 24), a range [12, 24] or "{UNKNOWN}" (got {value!r})',
            )
    if high < low:
        raise r.fail(f"{where}{key}", f"range must go from low to high (got {value!r})")
    return (low, high)


def parse_holds(data: Mapping[str, Any], source: str) -> dict[str, HoldRule]:
    """Validate parsed ``holds.toml`` and build the rules by drug key, in file order."""
    r = _Reader(source)
    if not data:
        raise r.fail("", "contains no drugs")
    known = {
        "name",
        "group",
        "hold_hours",
        "restart_hours",
        "condition",
        "unverified",
        "source",
        "note",
    }
    rules: dict[str, HoldRule] = {}
    for key, table in data.items():
        where = f"[{key}]."
        if not isinstance(table, dict):
            raise r.fail(f"[{key}]", "must be a table with its fields")
        r.no_unknown(table, known, where)
        group = r.text(table, "group", where)
        if group not in HOLD_GROUPS:
            raise r.fail(f"{where}group", f"must be one of {', '.join(HOLD_GROUPS)}")
        shared = table.get("hold_hours") == SHARED_DECISION
        if "hold_hours" not in table:
            raise r.fail(f"{where}hold_hours", "is missing")
        hold = None if shared else _hours_pair(r, table, "hold_hours", where)
        if "restart_hours" not in table:
            raise r.fail(f"{where}restart_hours", "is missing")
        condition = table.get("condition")
        if condition is not None and condition not in CONDITIONS:
            raise r.fail(f"{where}condition", f"must be one of {', '.join(CONDITIONS)}")
        rules[key] = HoldRule(
            key=key,
            name=r.text(table, "name", where),
            group=group,
            hold_hours=hold,
            shared_decision=shared,
            restart_hours=_hours_pair(r, table, "restart_hours", where),
            condition=condition,
            unverified=r.flag(table, "unverified", where, None),
            source=r.text(table, "source", where),
            note=r.text(table, "note", where, required=False),
        )
    return rules


def load_holds(path: Path) -> dict[str, HoldRule]:
    """Read and validate ``holds.toml``.

    Raises:
        TemplateError: as for `load_readiness`.
    """
    return parse_holds(_read_toml(path), str(path))


# --- input checks ------------------------------------------------------------------------------


def _aware(field_name: str, label: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError({field_name: f"{label} must be a date and time with a time zone."})
    return value


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def _duration_text(delta: timedelta) -> str:
    minutes = math.ceil(delta.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


# --- fasting (domain.md §4.1) ------------------------------------------------------------------


class FastState(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NOT_RECORDED = "not_recorded"


@dataclass(frozen=True)
class Intake:
    """The last intake of one kind.

    Attributes:
        kind: an intake kind key from readiness.toml (``clear_fluids``...).
        last_at: when the patient last took this kind of intake.
        nothing_since: True when the patient states "nothing of this kind since `last_at`"
            (e.g. since midnight) instead of giving the exact time; the fast is counted from
            `last_at` either way, which can only make it look shorter than it is.
    """

    kind: str
    last_at: datetime
    nothing_since: bool = False


@dataclass(frozen=True)
class KindFasting:
    """The fast of one intake kind at the scheduled start.

    Attributes:
        ready_at: the earliest start that satisfies this kind; None when not recorded.
        short_by: how much fast is missing at the scheduled start; None when met or not recorded.
    """

    kind: str
    name: str
    min_hours: int
    required: bool
    state: FastState
    last_at: datetime | None
    nothing_since: bool
    ready_at: datetime | None
    short_by: timedelta | None

    def message(self) -> str:
        if self.state is FastState.NOT_RECORDED:
            return f"{self.name}: last intake not recorded."
        assert self.ready_at is not None
        if self.state is FastState.MET:
            return f"{self.name}: {self.min_hours} h fast met."
        assert self.short_by is not None
        return (
            f"{self.name}: {self.min_hours} h fast not met at the scheduled start "
            f"({_duration_text(self.short_by)} short); earliest start {_when(self.ready_at)}."
        )


@dataclass(frozen=True)
class FastingResult:
    """Fasting of every intake kind at a scheduled start.

    Attributes:
        earliest_start: the earliest start satisfying every recorded kind (None if none recorded).
        met: every required kind is recorded and every recorded kind is met.
    """

    procedure_start: datetime
    kinds: tuple[KindFasting, ...]
    earliest_start: datetime | None

    @property
    def met(self) -> bool:
        return all(
            k.state is FastState.MET or (k.state is FastState.NOT_RECORDED and not k.required)
            for k in self.kinds
        )

    def reasons(self) -> tuple[str, ...]:
        """Why fasting is not met, one sentence per kind."""
        return tuple(
            k.message()
            for k in self.kinds
            if k.state is FastState.NOT_MET or (k.state is FastState.NOT_RECORDED and k.required)
        )


def _check_intake(intake: Intake, config: ReadinessConfig, index: int) -> IntakeKind:
    try:
        kind = config.intake_kind(intake.kind)
    except KeyError:
        raise ValidationError(
            {f"intake_{index}": f"{intake.kind!r} is not a known kind of intake."}
        ) from None
    _aware(intake.kind, f"{kind.name}: the time of the last intake", intake.last_at)
    return kind


def validate_intakes(
    intakes: Sequence[Intake], now: datetime, config: ReadinessConfig
) -> tuple[Intake, ...]:
    """Refuse unknown kinds, times without a time zone and intakes in the future.

    Raises:
        ValidationError: keyed by intake kind.
    """
    _aware("now", "The current time", now)
    errors: dict[str, str] = {}
    for index, intake in enumerate(intakes):
        kind = _check_intake(intake, config, index)
        if intake.last_at > now:
            errors[intake.kind] = (
                f"{kind.name}: the last intake ({_when(intake.last_at)}) is in the future."
            )
    if errors:
        raise ValidationError(errors)
    return tuple(intakes)


def nothing_since(at: datetime, config: ReadinessConfig) -> tuple[Intake, ...]:
    """The statement "nothing by mouth since `at`" as one intake per required kind."""
    _aware("nothing_since", "The time", at)
    return tuple(Intake(k.key, at, nothing_since=True) for k in config.fasting if k.required)


def fasting_status(
    intakes: Sequence[Intake], procedure_start: datetime, config: ReadinessConfig
) -> FastingResult:
    """Check each intake kind's minimum fast at the scheduled procedure start.

    A fast is met when ``procedure_start - last_at >= min_hours`` (exactly 8 h is met, 7 h 59 min
    is not). When a kind is recorded more than once, the latest intake counts. Moving the start
    just means calling this again with the new time.

    Raises:
        ValidationError: unknown intake kind or a time without a time zone.
    """
    _aware("procedure_start", "The procedure start", procedure_start)
    latest: dict[str, Intake] = {}
    for index, intake in enumerate(intakes):
        _check_intake(intake, config, index)
        known = latest.get(intake.kind)
        if known is None or intake.last_at > known.last_at:
            latest[intake.kind] = intake
    kinds = []
    for kind in config.fasting:
        last = latest.get(kind.key)
        if last is None:
            kinds.append(
                KindFasting(
                    kind=kind.key,
                    name=kind.name,
                    min_hours=kind.min_hours,
                    required=kind.required,
                    state=FastState.NOT_RECORDED,
                    last_at=None,
                    nothing_since=False,
                    ready_at=None,
                    short_by=None,
                )
            )
            continue
        ready_at = last.last_at + kind.min_fast
        met = procedure_start >= ready_at
        kinds.append(
            KindFasting(
                kind=kind.key,
                name=kind.name,
                min_hours=kind.min_hours,
                required=kind.required,
                state=FastState.MET if met else FastState.NOT_MET,
                last_at=last.last_at,
                nothing_since=last.nothing_since,
                ready_at=ready_at,
                short_by=None if met else ready_at - procedure_start,
            )
        )
    ready = [k.ready_at for k in kinds if k.ready_at is not None]
    return FastingResult(procedure_start, tuple(kinds), max(ready) if ready else None)


# --- medication holds (domain.md §4.2) ---------------------------------------------------------


class HoldState(StrEnum):
    SATISFIED = "satisfied"
    NOT_YET = "not_yet"
    NEEDS_DECISION = "needs_decision"
    CONDITION_UNMET = "condition_unmet"
    NOT_RECORDED = "not_recorded"
    DECIDED = "decided"


@dataclass(frozen=True)
class ClinicianDecision:
    """A clinician's decision on a drug that needs one (shared decision, unverified row, drug not
    in the table). It resolves only `HoldState.NEEDS_DECISION`."""

    by: str
    at: datetime
    note: str


@dataclass(frozen=True)
class Medication:
    """A drug on the patient's adjustment list.

    Attributes:
        drug_key: key in holds.toml, or any other key for a drug not in the table.
        name: what the nurse sees (the table's name is used when the drug is in it).
        last_dose_at: the last dose taken; None while not recorded.
        instruction: the written instruction given to the patient.
        decision: a clinician's decision, for drugs that need one.
    """

    drug_key: str
    name: str
    last_dose_at: datetime | None
    instruction: str = ""
    decision: ClinicianDecision | None = None


@dataclass(frozen=True)
class HoldVerdict:
    """The verdict for one drug at the scheduled start.

    Attributes:
        hold_until: last dose + hold (the moment the hold is satisfied); None without a number.
        unverified: the table row is unverified [U]; the numbers are shown but not trusted.
        restart: text such as "restart 12–24 h after the procedure".
        restart_from, restart_by: the restart window, when the procedure end is known.
    """

    drug_key: str
    drug_name: str
    state: HoldState
    reason: str
    hold_until: datetime | None = None
    unverified: bool = False
    restart: str = ""
    restart_from: datetime | None = None
    restart_by: datetime | None = None
    decision: ClinicianDecision | None = None

    @property
    def ok(self) -> bool:
        return self.state in (HoldState.SATISFIED, HoldState.DECIDED)


def hold_verdict(
    drug_key: str,
    last_dose_at: datetime | None,
    procedure_start: datetime,
    holds: Mapping[str, HoldRule],
    inr_normal: bool | None,
    now: datetime,
    *,
    procedure_end: datetime | None = None,
    decision: ClinicianDecision | None = None,
    name: str = "",
) -> HoldVerdict:
    """Judge one drug's hold against the hold table.

    Order of the rules: no last dose → NOT_RECORDED; a row that is unverified, a shared decision,
    without a number, or a drug not in the table → NEEDS_DECISION (DECIDED once `decision` is
    given); ``procedure_start - last_dose_at < hold`` → NOT_YET (exactly the hold is satisfied);
    a condition (INR normal) unmet or not recorded → CONDITION_UNMET; else SATISFIED.

    Raises:
        ValidationError: a time without a time zone, or a last dose in the future.
    """
    _aware("procedure_start", "The procedure start", procedure_start)
    _aware("now", "The current time", now)
    rule = holds.get(drug_key)
    drug_name = rule.name if rule else (name.strip() or drug_key)
    if last_dose_at is not None:
        _aware("last_dose_at", f"{drug_name}: the last dose", last_dose_at)
        if last_dose_at > now:
            raise ValidationError(
                {
                    "last_dose_at": (
                        f"{drug_name}: the last dose ({_when(last_dose_at)}) is in the future."
                    )
                }
            )
    restart_from = restart_by = None
    if rule and rule.restart_hours and procedure_end is not None:
        _aware("procedure_end", "The procedure end", procedure_end)
        restart_from = procedure_end + timedelta(hours=rule.restart_hours[0])
        restart_by = procedure_end + timedelta(hours=rule.restart_hours[1])
    base = HoldVerdict(
        drug_key=drug_key,
        drug_name=drug_name,
        state=HoldState.NOT_RECORDED,
        reason="",
        unverified=bool(rule and rule.unverified),
        restart=rule.restart_text() if rule else "",
        restart_from=restart_from,
        restart_by=restart_by,
        decision=decision,
    )
    if last_dose_at is None:
        return replace(base, reason=f"{drug_name}: enter the date and time of the last dose.")
    hold = rule.hold if rule else None
    hold_until = last_dose_at + hold if hold is not None else None
    base = replace(base, hold_until=hold_until)

    needs = _needs_decision(rule, drug_name)
    if needs:
        if decision is not None:
            return replace(
                base,
                state=HoldState.DECIDED,
                reason=f"{drug_name}: decided by {decision.by} ({decision.note}).",
            )
        if hold_until is not None:
            needs += f" Table value: {rule.hold_text() if rule else ''}, until {_when(hold_until)}."
        return replace(base, state=HoldState.NEEDS_DECISION, reason=needs)

    assert rule is not None and hold_until is not None
    condition_text = _condition_problem(rule, inr_normal)
    if procedure_start < hold_until:
        reason = (
            f"{drug_name}: hold of {rule.hold_text()} is not satisfied at the scheduled start; "
            f"it will be on {_when(hold_until)}."
        )
        if condition_text:
            reason += f" Also: {condition_text}"
        return replace(base, state=HoldState.NOT_YET, reason=reason)
    if condition_text:
        return replace(
            base, state=HoldState.CONDITION_UNMET, reason=f"{drug_name}: {condition_text}"
        )
    return replace(
        base,
        state=HoldState.SATISFIED,
        reason=f"{drug_name}: hold of {rule.hold_text()} satisfied.",
    )


def _needs_decision(rule: HoldRule | None, drug_name: str) -> str:
    if rule is None:
        return f"{drug_name} is not in the hold table: a clinician must decide."
    if rule.unverified:
        return (
            f"{drug_name}: the hold table's values are not verified; a clinician must decide "
            "until the clinical owner confirms them."
        )
    if rule.shared_decision:
        return f"{drug_name}: stopping is a shared decision; a clinician must decide."
    if rule.hold_hours is None:
        note = f" ({rule.note})" if rule.note else ""
        return f"{drug_name}: the hold table gives no hold time{note}; a clinician must decide."
    return ""


def _condition_problem(rule: HoldRule, inr_normal: bool | None) -> str:
    if rule.condition == INR_NORMAL:
        if inr_normal is None:
            return "the INR is not recorded; the hold needs a normal INR."
        if not inr_normal:
            return "the INR is not normal; the hold needs a normal INR."
    return ""


# --- pre-operative tests (domain.md §4.3) ------------------------------------------------------


class PreopTestState(StrEnum):
    NOT_ORDERED = "not_ordered"
    ORDERED = "ordered"
    RESULTED = "resulted"
    REVIEWED = "reviewed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PreopTest:
    """A pre-operative test: ordered → resulted → reviewed."""

    key: str
    ordered_on: date | None = None
    resulted_on: date | None = None
    result: str = ""
    reviewed_by: str = ""
    reviewed_on: date | None = None


@dataclass(frozen=True)
class PreopTestStatus:
    """Attributes:
    valid_until: the last day the result counts (result day + validity_days); None unresulted.
    """

    key: str
    name: str
    state: PreopTestState
    valid_until: date | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.state is PreopTestState.REVIEWED


def validate_preop_test(test: PreopTest, today: date, config: ReadinessConfig) -> PreopTest:
    """Return the test trimmed, or raise `ValidationError` listing each problem."""
    try:
        name = config.test(test.key).name
    except KeyError:
        raise ValidationError({"key": f"{test.key!r} is not a known pre-operative test."}) from None
    errors: dict[str, str] = {}
    for field_name, day in (
        ("ordered_on", test.ordered_on),
        ("resulted_on", test.resulted_on),
        ("reviewed_on", test.reviewed_on),
    ):
        if day is not None and day > today:
            errors[field_name] = f"{name}: the date {day.isoformat()} is in the future."
    if test.resulted_on is not None:
        if test.ordered_on is not None and test.resulted_on < test.ordered_on:
            errors.setdefault("resulted_on", f"{name}: the result date is before the order date.")
        if not test.result.strip():
            errors["result"] = f"{name}: enter the result or a summary."
        elif len(test.result.strip()) > FREE_TEXT_MAX_LENGTH:
            errors["result"] = f"{name}: keep the result under {FREE_TEXT_MAX_LENGTH} characters."
    if test.reviewed_on is not None:
        if test.resulted_on is None:
            errors.setdefault(
                "reviewed_on", f"{name}: a test cannot be reviewed before its result."
            )
        elif test.reviewed_on < test.resulted_on:
            errors.setdefault("reviewed_on", f"{name}: the review date is before the result date.")
        if not test.reviewed_by.strip():
            errors["reviewed_by"] = f"{name}: enter who reviewed the result."
        elif len(test.reviewed_by.strip()) > NAME_MAX_LENGTH:
            errors["reviewed_by"] = f"{name}: the reviewer's name is too long."
    elif test.reviewed_by.strip():
        errors["reviewed_on"] = f"{name}: enter the date of the review."
    # Both texts are kept even when their dates are missing, so they are checked either way.
    check_control_characters(
        errors, "result", test.result.strip(), "result", multiline=True, context=name
    )
    check_control_characters(
        errors, "reviewed_by", test.reviewed_by.strip(), "reviewer's name", context=name
    )
    if errors:
        raise ValidationError(errors)
    return replace(test, result=test.result.strip(), reviewed_by=test.reviewed_by.strip())


def preop_test_status(
    test: PreopTest | None, key: str, on: date, config: ReadinessConfig
) -> PreopTestStatus:
    """The state of one test on a day (the procedure day, or today while none is scheduled).

    A result is valid through ``resulted_on + validity_days``; the day after it is EXPIRED.
    """
    definition = config.test(key)
    name = definition.name
    if test is None or (test.ordered_on is None and test.resulted_on is None):
        return PreopTestStatus(key, name, PreopTestState.NOT_ORDERED, None, f"{name}: not ordered.")
    if test.resulted_on is None:
        return PreopTestStatus(
            key, name, PreopTestState.ORDERED, None, f"{name}: ordered, no result yet."
        )
    valid_until = test.resulted_on + timedelta(days=definition.validity_days)
    if on > valid_until:
        default = " (clinic default)" if definition.clinic_default else ""
        return PreopTestStatus(
            key,
            name,
            PreopTestState.EXPIRED,
            valid_until,
            f"{name}: the result of {test.resulted_on.isoformat()} expired after "
            f"{valid_until.isoformat()} (valid {definition.validity_days} days{default}); "
            "repeat the test.",
        )
    if test.reviewed_on is None:
        return PreopTestStatus(
            key, name, PreopTestState.RESULTED, valid_until, f"{name}: resulted, not yet reviewed."
        )
    return PreopTestStatus(
        key,
        name,
        PreopTestState.REVIEWED,
        valid_until,
        f"{name}: reviewed by {test.reviewed_by}; valid until {valid_until.isoformat()}.",
    )


# --- screening trial and evaluations (domain.md §4.3) ------------------------------------------


@dataclass(frozen=True)
class ScreeningTrial:
    """Attributes:
    percent_relief: pain indications, 0-100.
    positive_response: spasticity indications (response to an IT baclofen bolus within 4-8 h).
    """

    trial_on: date | None
    drug: str
    dose: str
    percent_relief: float | None = None
    positive_response: bool | None = None


@dataclass(frozen=True)
class Evaluation:
    """A psychological evaluation; `cleared` False means it found a contraindication."""

    done_on: date | None
    by: str = ""
    cleared: bool | None = None
    note: str = ""


def trial_outcome(indication: str, outcome: float | bool | None, trial: TrialConfig) -> bool:
    """True when the screening trial succeeded.

    Pain: success when the percent relief is ABOVE the threshold (50 % is not enough at the
    default 50). Spasticity: success on a positive response.

    Raises:
        ValidationError: unknown indication, or an outcome of the wrong kind or out of 0-100.
    """
    if indication in trial.pain_indications:
        if (
            isinstance(outcome, bool)
            or not isinstance(outcome, int | float)
            or not math.isfinite(outcome)
        ):
            raise ValidationError({"percent_relief": "Enter the pain relief as a percentage."})
        if not 0 <= outcome <= 100:
            raise ValidationError(
                {"percent_relief": f"The pain relief must be from 0 to 100 % (got {outcome:g})."}
            )
        return outcome > trial.success_threshold_pct
    if indication in trial.spasticity_indications:
        if not isinstance(outcome, bool):
            raise ValidationError(
                {"positive_response": "Record whether the response to the bolus was positive."}
            )
        return outcome
    raise ValidationError(
        {"indication": f"No screening-trial rule for the indication {indication!r}."}
    )


def validate_trial(
    trial: ScreeningTrial, indication: str, today: date, config: ReadinessConfig
) -> ScreeningTrial:
    """Return the trial trimmed, or raise `ValidationError` listing each problem."""
    errors: dict[str, str] = {}
    if trial.trial_on is None:
        errors["trial_on"] = "Enter the date of the trial."
    elif trial.trial_on > today:
        errors["trial_on"] = "The trial date is in the future."
    if not trial.drug.strip():
        errors["drug"] = "Enter the trial drug."
    else:
        check_control_characters(errors, "drug", trial.drug.strip(), "trial drug")
    if not trial.dose.strip():
        errors["dose"] = "Enter the trial dose."
    else:
        check_control_characters(errors, "dose", trial.dose.strip(), "trial dose")
    outcome = (
        trial.percent_relief
        if indication in config.trial.pain_indications
        else trial.positive_response
    )
    try:
        trial_outcome(indication, outcome, config.trial)
    except ValidationError as exc:
        errors.update(exc.field_errors)
    if errors:
        raise ValidationError(errors)
    return replace(trial, drug=trial.drug.strip(), dose=trial.dose.strip())


# --- readiness gate (domain.md §9.11) ----------------------------------------------------------


@dataclass(frozen=True)
class UnmetGate:
    key: str
    name: str
    reason: str


@dataclass(frozen=True)
class Override:
    """An authorised decision to proceed although gates are unmet; kept in history.

    Attributes:
        unmet: the gates that were unmet when the override was given; the override covers only
            these gate keys.
    """

    reason: str
    by: str
    at: datetime
    unmet: tuple[UnmetGate, ...]

    @property
    def gate_keys(self) -> frozenset[str]:
        return frozenset(g.key for g in self.unmet)


@dataclass(frozen=True)
class Preparation:
    """Everything the readiness gate looks at for one episode.

    Attributes:
        tests: recorded tests; a configured test missing here counts as not ordered.
        confirmations: keys of the confirmations stated true (e.g. ``no-active-infection``).
        medications_reviewed: the adjustment list has been checked (it may be empty); until then
            the holds gate is unmet, because "no drugs" and "not asked yet" look the same.
        intakes: last intake per kind (see `Intake`, `nothing_since`).
        inr_normal: the reviewed INR is normal (True/False) or not recorded (None).
    """

    indication: str
    procedure_start: datetime | None
    trial: ScreeningTrial | None = None
    psych_evaluation: Evaluation | None = None
    consent_on: date | None = None
    tests: tuple[PreopTest, ...] = ()
    confirmations: frozenset[str] = frozenset()
    medications: tuple[Medication, ...] = ()
    medications_reviewed: bool = False
    intakes: tuple[Intake, ...] = ()
    inr_normal: bool | None = None


@dataclass(frozen=True)
class Readiness:
    """The readiness gate's answer.

    Attributes:
        unmet: every unmet gate with its reason, in gate order (a gate may appear more than once,
            one entry per problem).
        fasting, holds, tests: the detail behind the fasting, holds and test gates, for display.
        override: an override covering the unmet gates, if one was given.
    """

    checked_at: datetime
    unmet: tuple[UnmetGate, ...]
    fasting: FastingResult | None = None
    holds: tuple[HoldVerdict, ...] = ()
    tests: tuple[PreopTestStatus, ...] = ()
    override: Override | None = None

    @property
    def ready(self) -> bool:
        """Every gate is met."""
        return not self.unmet

    @property
    def unmet_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.key for g in self.unmet))

    @property
    def overridden(self) -> bool:
        """Gates are unmet but an override covers every one of them."""
        return (
            not self.ready
            and self.override is not None
            and set(self.unmet_keys) <= self.override.gate_keys
        )

    @property
    def may_proceed(self) -> bool:
        """The episode may move to Procedure: ready, or every unmet gate overridden."""
        return self.ready or self.overridden


def readiness(
    prep: Preparation,
    config: ReadinessConfig,
    holds: Mapping[str, HoldRule],
    *,
    now: datetime,
    override: Override | None = None,
) -> Readiness:
    """Check every readiness gate and say which are unmet and why.

    Gates: screening trial successful; psychological evaluation done and cleared where the
    indication requires it; each configured test reviewed and within its validity on the
    procedure day (today while no start is scheduled); confirmations; consent; medication holds
    (list reviewed, every drug satisfied or decided); fasting by intake kind. Without a scheduled
    start, holds and fasting are unmet.

    Args:
        override: a stored override; it keeps covering the gates it was given for (see
            `Readiness.may_proceed`).
    """
    _aware("now", "The current time", now)
    start = prep.procedure_start
    if start is not None:
        _aware("procedure_start", "The procedure start", start)
    unmet: list[UnmetGate] = []

    def add(key: str, reason: str) -> None:
        try:
            name = config.gate(key).name
        except KeyError:
            return  # gate switched off in readiness.toml
        unmet.append(UnmetGate(key, name, reason))

    # Screening trial
    trial = prep.trial
    if trial is None or trial.trial_on is None:
        add("screening-trial", "No screening trial recorded.")
    else:
        pain = prep.indication in config.trial.pain_indications
        outcome = trial.percent_relief if pain else trial.positive_response
        if outcome is None:
            add("screening-trial", "The trial outcome is not recorded.")
        elif not trial_outcome(prep.indication, outcome, config.trial):
            if pain:
                add(
                    "screening-trial",
                    f"Pain relief {outcome:g} % is not above the "
                    f"{config.trial.success_threshold_pct:g} % success threshold.",
                )
            else:
                add("screening-trial", "No positive response to the trial bolus.")

    # Psychological evaluation
    if prep.indication in config.psych_indications:
        evaluation = prep.psych_evaluation
        if evaluation is None or evaluation.done_on is None:
            add("psych-evaluation", "Required for this indication and not recorded.")
        elif evaluation.cleared is None:
            add("psych-evaluation", "Done, but the outcome is not recorded.")
        elif not evaluation.cleared:
            add("psych-evaluation", "The evaluation did not clear the patient.")

    # Tests and confirmations
    on = local_today(start) if start is not None else local_today(now)
    recorded = {t.key: t for t in prep.tests}
    statuses = []
    for definition in config.tests:
        status = preop_test_status(recorded.get(definition.key), definition.key, on, config)
        statuses.append(status)
        if not status.ok:
            add(definition.gate, status.reason)
    for confirmation in config.confirmations:
        if confirmation.key not in prep.confirmations:
            add(confirmation.gate, f"Not confirmed: {confirmation.name}.")

    if prep.consent_on is None:
        add("consent", "Consent not recorded.")

    # Medication holds
    verdicts = []
    if not prep.medications_reviewed:
        add(
            "medication-holds",
            "The medication list has not been reviewed (confirm it even when it is empty).",
        )
    if start is None:
        if prep.medications:
            add("medication-holds", "No procedure start scheduled; holds cannot be checked.")
    else:
        for med in prep.medications:
            verdict = hold_verdict(
                med.drug_key,
                med.last_dose_at,
                start,
                holds,
                prep.inr_normal,
                now,
                decision=med.decision,
                name=med.name,
            )
            verdicts.append(verdict)
            if not verdict.ok:
                add("medication-holds", verdict.reason)

    # Fasting
    fasting = None
    if start is None:
        add("fasting", "No procedure start scheduled.")
    else:
        fasting = fasting_status(prep.intakes, start, config)
        for reason in fasting.reasons():
            add("fasting", reason)

    order = {g.key: i for i, g in enumerate(config.gates)}
    unmet.sort(key=lambda g: order[g.key])  # stable: problems keep their order within a gate
    return Readiness(
        checked_at=now,
        unmet=tuple(unmet),
        fasting=fasting,
        holds=tuple(verdicts),
        tests=tuple(statuses),
        override=override,
    )


def apply_override(readiness: Readiness, reason: str, by: str, at: datetime) -> Readiness:
    """Record an authorised override of the unmet gates.

    Whether ``by`` may override is the services' business (roles); the domain requires a
    written reason and a name, and keeps the unmet gates in the override for history.

    Raises:
        ValidationError: no reason (``override_reason``) or no name (``override_by``).
        InvalidTransition: every gate is met; there is nothing to override.
    """
    errors: dict[str, str] = {}
    text = ""
    try:
        text = validate_reason(reason, "override_reason")
    except ValidationError as exc:
        errors.update(exc.field_errors)
    who = by.strip()
    if not who:
        errors["override_by"] = "Enter who authorised the override."
    elif len(who) > NAME_MAX_LENGTH:
        errors["override_by"] = f"Keep the name under {NAME_MAX_LENGTH} characters."
    else:
        check_control_characters(errors, "override_by", who, "name of the person who authorised it")
    if errors:
        raise ValidationError(errors)
    _aware("override_at", "The time of the override", at)
    if readiness.ready:
        raise InvalidTransition("Every readiness gate is met; there is nothing to override.")
    return replace(readiness, override=Override(text, who, at, readiness.unmet))
