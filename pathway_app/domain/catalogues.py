"""Pump-model and drug catalogues, loaded from ``pumps.toml`` and ``drugs.toml``.

The files are data a clinic may edit. A number nobody could verify ships as an editable default
listed in the entry's ``unverified`` list; a number no source gave at all is written ``"unknown"``
in the file and loads as ``None``, so callers must ask the user for it instead of guessing
(see `PumpModel.require`). A broken file is refused with a `TemplateError` naming the file and the
key, so the person editing it knows where to look.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pathway_app.domain.errors import DomainError, NotFound, TemplateError

UNKNOWN = "unknown"
CONCENTRATION_UNITS: dict[str, str] = {"mg/mL": "mg/day", "mcg/mL": "mcg/day"}
"""Accepted concentration units and the daily-dose unit each implies."""

PUMPS_FILE = "pumps.toml"
DRUGS_FILE = "drugs.toml"


@dataclass(frozen=True)
class PumpModel:
    """One constant-flow pump model.

    Attributes:
        key: identifier, the TOML table name (e.g. ``isomed-8472-20-05``).
        name: what the nurse sees.
        maker: manufacturer.
        reservoir_ml: reservoir volume (mL); None when no source gave it.
        nominal_flow_ml_per_day: factory-set flow (mL/day); None when not published: the rate
            must then come from the implanted pump's label.
        flow_tolerance_pct: worst-case flow excess used for the refill date (%).
        reserve_ml: volume that must remain in the pump at the refill date (mL).
        exposure_factor: k_env applied when a fever/heat/altitude episode is logged; None = unknown.
        unverified: names of the numeric fields that are unverified defaults.
        source: where the values come from.
        note: free text for the nurse.
    """

    key: str
    name: str
    maker: str
    reservoir_ml: float | None
    nominal_flow_ml_per_day: float | None
    flow_tolerance_pct: float
    reserve_ml: float
    exposure_factor: float | None
    unverified: frozenset[str]
    source: str
    note: str = ""

    def is_unverified(self, field: str) -> bool:
        """Return True if ``field`` is an unverified default for this model."""
        return field in self.unverified

    def require(self, field: str) -> float:
        """Return a numeric field, refusing loudly when the catalogue does not know it.

        Raises:
            DomainError: the value is ``"unknown"`` in pumps.toml; the message tells the nurse
                where to find it.
        """
        value = getattr(self, field)
        if value is None:
            raise DomainError(
                f"{self.name}: {field} is not known to the pump catalogue. Enter it from the "
                "implanted pump's label or IFU; the app will not guess it."
            )
        return float(value)


@dataclass(frozen=True)
class Drug:
    """One intrathecal drug.

    Attributes:
        key: identifier, the TOML table name (e.g. ``baclofen``).
        name: what the nurse sees.
        concentration_unit: ``"mg/mL"`` or ``"mcg/mL"``.
        dose_unit: ``"mg/day"`` or ``"mcg/day"``, matching the concentration unit.
        stability_days: days the drug stays stable in the pump; None when unknown.
        max_daily_dose: maximum daily dose in ``dose_unit``; None when unknown.
        max_concentration: maximum concentration in ``concentration_unit``; None when unknown.
        dangerous_withdrawal: running dry causes a dangerous withdrawal syndrome.
        reserve_ml: drug-specific reserve (mL) overriding a smaller pump reserve; None = none.
        usual_concentrations: typical strengths, in ``concentration_unit``.
        suitable_for_constant_flow: False for drugs that need titration (ziconotide).
        unverified: names of the numeric fields that are unverified defaults.
        source: where the values come from.
        notes: free text for the nurse.
    """

    key: str
    name: str
    concentration_unit: str
    dose_unit: str
    stability_days: int | None
    max_daily_dose: float | None
    max_concentration: float | None
    dangerous_withdrawal: bool
    reserve_ml: float | None
    usual_concentrations: tuple[float, ...]
    suitable_for_constant_flow: bool
    unverified: frozenset[str]
    source: str
    notes: str = ""

    def is_unverified(self, field: str) -> bool:
        """Return True if ``field`` is an unverified default for this drug."""
        return field in self.unverified


@dataclass(frozen=True)
class Catalogue:
    """Both catalogues, keyed by entry key."""

    pumps: dict[str, PumpModel]
    drugs: dict[str, Drug]

    def pump(self, key: str) -> PumpModel:
        """Return a pump model; raise `NotFound` with a readable message if absent."""
        try:
            return self.pumps[key]
        except KeyError:
            raise NotFound(f"Pump model {key!r} is not in {PUMPS_FILE}.") from None

    def drug(self, key: str) -> Drug:
        """Return a drug; raise `NotFound` with a readable message if absent."""
        try:
            return self.drugs[key]
        except KeyError:
            raise NotFound(f"Drug {key!r} is not in {DRUGS_FILE}.") from None


def effective_reserve_ml(pump: PumpModel, drug: Drug) -> float:
    """Reserve to keep in the pump: the larger of the pump's and the drug's.

    The drug value is an override *upwards* only (4 mL for baclofen), so a clinic that raised a
    pump's reserve never sees it lowered by the drug table.
    """
    if drug.reserve_ml is None:
        return pump.reserve_ml
    return max(pump.reserve_ml, drug.reserve_ml)


def unverified_projection_inputs(pump: PumpModel, drug: Drug) -> frozenset[str]:
    """Names of `refills.project_refill` inputs that come from unverified catalogue defaults.

    Pass the result as ``unverified_inputs`` so the projection can say which of the inputs that
    drove the date still need the clinical owner's confirmation.
    """
    names: set[str] = set()
    if pump.is_unverified("nominal_flow_ml_per_day"):
        names.add("nominal_flow_ml_per_day")
    if pump.is_unverified("flow_tolerance_pct"):
        names.add("tolerance_pct")
    if pump.is_unverified("exposure_factor"):
        names.add("exposure_factor")
    reserve_from_drug = drug.reserve_ml is not None and drug.reserve_ml > pump.reserve_ml
    reserve_source = drug if reserve_from_drug else pump
    if reserve_source.is_unverified("reserve_ml"):
        names.add("reserve_ml")
    if drug.is_unverified("stability_days"):
        names.add("stability_days")
    return frozenset(names)


# --- loading ---------------------------------------------------------------------------------

_T = TypeVar("_T")

_PUMP_NUMBERS = (
    "reservoir_ml",
    "nominal_flow_ml_per_day",
    "flow_tolerance_pct",
    "reserve_ml",
    "exposure_factor",
)
_PUMP_KEYS = frozenset({"name", "maker", "unverified", "source", "note", *_PUMP_NUMBERS})
_DRUG_NUMBERS = (
    "stability_days",
    "max_daily_dose",
    "max_concentration",
    "reserve_ml",
    "usual_concentrations",
)
_DRUG_KEYS = frozenset(
    {
        "name",
        "concentration_unit",
        "dose_unit",
        "dangerous_withdrawal",
        "suitable_for_constant_flow",
        "unverified",
        "source",
        "notes",
        *_DRUG_NUMBERS,
    }
)


class _Entry:
    """Reads the fields of one TOML table, collecting every problem instead of stopping at one."""

    def __init__(
        self, file: str, key: str, table: Mapping[str, Any], allowed: frozenset[str]
    ) -> None:
        self.file = file
        self.key = key
        self.table = table
        self.errors: list[str] = []
        for name in sorted(set(table) - allowed):
            self.fail(name, "is not a known field (typo?)")

    def fail(self, field: str, message: str) -> None:
        self.errors.append(f"{self.file}: [{self.key}].{field} {message}")

    def _raw(self, field: str, required: bool) -> Any:
        if field not in self.table:
            if required:
                self.fail(field, "is missing")
            return None
        return self.table[field]

    def text(self, field: str, *, required: bool = True) -> str:
        value = self._raw(field, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(field, f"must be text in quotes (got {value!r})")
            return ""
        return value

    def flag(self, field: str, *, default: bool | None = None) -> bool:
        value = self._raw(field, required=default is None)
        if value is None:
            return bool(default)
        if not isinstance(value, bool):
            self.fail(field, f"must be true or false (got {value!r})")
            return False
        return value

    def number(
        self,
        field: str,
        wanted: str,
        ok: Callable[[float], bool],
        *,
        integer: bool = False,
        unknown_ok: bool = True,
        required: bool = True,
    ) -> float | None:
        """Read a number checked by ``ok``; ``"unknown"`` reads as None where allowed."""
        value = self._raw(field, required)
        if value is None or (unknown_ok and value == UNKNOWN):
            return None
        if not _is_number(value, integer=integer) or not ok(float(value)):
            alternative = f' or "{UNKNOWN}"' if unknown_ok else ""
            self.fail(field, f"must be {wanted}{alternative} (got {value!r})")
            return None
        return float(value)

    def numbers(self, field: str) -> tuple[float, ...]:
        value = self._raw(field, required=False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(_is_number(v) and v > 0 for v in value):
            self.fail(field, f"must be a list of positive numbers (got {value!r})")
            return ()
        return tuple(float(v) for v in value)

    def names(self, field: str, allowed: tuple[str, ...]) -> frozenset[str]:
        value = self._raw(field, required=True)
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.fail(field, f"must be a list of field names (got {value!r})")
            return frozenset()
        result: set[str] = set()
        for item in value:
            if item in allowed:
                result.add(item)
            else:
                self.fail(field, f"lists {item!r}, which is not one of: {', '.join(allowed)}")
        return frozenset(result)


_POSITIVE = "a positive number"


def _positive(x: float) -> bool:
    return x > 0


def _is_number(value: object, *, integer: bool = False) -> bool:
    # bool is an int subclass in Python; `true` is never a volume.
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise TemplateError(f"{path.name}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path.name}: not valid UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise TemplateError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc


def _load_entries(
    path: Path, build: Callable[[_Entry], _T], allowed: frozenset[str]
) -> dict[str, _T]:
    data = _read_toml(path)
    if not data:
        raise TemplateError(f"{path.name}: contains no entries")
    result: dict[str, _T] = {}
    errors: list[str] = []
    for key, table in data.items():
        if not isinstance(table, dict):
            errors.append(f"{path.name}: {key!r} must be a table written [{key}] with its fields")
            continue
        entry = _Entry(path.name, key, table, allowed)
        item = build(entry)
        if entry.errors:
            errors.extend(entry.errors)
        else:
            result[key] = item
    if errors:
        raise TemplateError("\n".join(errors))
    return result


def _build_pump(entry: _Entry) -> PumpModel:
    reservoir = entry.number("reservoir_ml", _POSITIVE, _positive)
    flow = entry.number("nominal_flow_ml_per_day", _POSITIVE, _positive)
    tolerance = entry.number(
        "flow_tolerance_pct", "a number from 0 to 100", lambda x: 0 <= x <= 100, unknown_ok=False
    )
    reserve = entry.number("reserve_ml", "a number >= 0", lambda x: x >= 0, unknown_ok=False)
    # k_env < 1 would postpone refills; the factor only models flow-raising exposures.
    exposure = entry.number("exposure_factor", "a number >= 1", lambda x: x >= 1)
    if reserve is not None and reservoir is not None and reserve >= reservoir:
        entry.fail(
            "reserve_ml",
            f"({reserve:g} mL) must be smaller than reservoir_ml ({reservoir:g} mL)",
        )
    return PumpModel(
        key=entry.key,
        name=entry.text("name"),
        maker=entry.text("maker"),
        reservoir_ml=reservoir,
        nominal_flow_ml_per_day=flow,
        flow_tolerance_pct=tolerance if tolerance is not None else 0.0,
        reserve_ml=reserve if reserve is not None else 0.0,
        exposure_factor=exposure,
        unverified=entry.names("unverified", _PUMP_NUMBERS),
        source=entry.text("source"),
        note=entry.text("note", required=False),
    )


def _build_drug(entry: _Entry) -> Drug:
    unit = entry.text("concentration_unit")
    dose_unit = entry.text("dose_unit")
    if unit and unit not in CONCENTRATION_UNITS:
        units = ", ".join(CONCENTRATION_UNITS)
        entry.fail("concentration_unit", f"must be one of {units} (got {unit!r})")
    elif unit and dose_unit != CONCENTRATION_UNITS[unit]:
        wanted = CONCENTRATION_UNITS[unit]
        entry.fail("dose_unit", f"must be {wanted!r} to match {unit!r} (got {dose_unit!r})")
    stability = entry.number("stability_days", "a positive whole number", _positive, integer=True)
    return Drug(
        key=entry.key,
        name=entry.text("name"),
        concentration_unit=unit,
        dose_unit=dose_unit,
        stability_days=None if stability is None else int(stability),
        max_daily_dose=entry.number("max_daily_dose", _POSITIVE, _positive),
        max_concentration=entry.number("max_concentration", _POSITIVE, _positive),
        dangerous_withdrawal=entry.flag("dangerous_withdrawal"),
        reserve_ml=entry.number(
            "reserve_ml", _POSITIVE, _positive, unknown_ok=False, required=False
        ),
        usual_concentrations=entry.numbers("usual_concentrations"),
        suitable_for_constant_flow=entry.flag("suitable_for_constant_flow", default=True),
        unverified=entry.names("unverified", _DRUG_NUMBERS),
        source=entry.text("source"),
        notes=entry.text("notes", required=False),
    )


def load_pumps(path: Path) -> dict[str, PumpModel]:
    """Load and validate a pump catalogue.

    Args:
        path: the ``pumps.toml`` file.

    Returns:
        Pump models by key, in file order.

    Raises:
        TemplateError: the file is unreadable, not TOML, or an entry is wrong; the message names
            the file and every faulty ``[key].field``.
    """
    return _load_entries(path, _build_pump, _PUMP_KEYS)


def load_drugs(path: Path) -> dict[str, Drug]:
    """Load and validate a drug catalogue.

    Args:
        path: the ``drugs.toml`` file.

    Returns:
        Drugs by key, in file order.

    Raises:
        TemplateError: as for `load_pumps`.
    """
    return _load_entries(path, _build_drug, _DRUG_KEYS)


def load_catalogue(resources_dir: Path) -> Catalogue:
    """Load ``pumps.toml`` and ``drugs.toml`` from a resources folder.

    Args:
        resources_dir: usually ``pathway_app.resources.resources_dir()``.

    Raises:
        TemplateError: either file is missing or broken.
    """
    return Catalogue(
        pumps=load_pumps(resources_dir / PUMPS_FILE),
        drugs=load_drugs(resources_dir / DRUGS_FILE),
    )
