"""The refill worklist's plain-Python parts: its levels, the clock window they are computed
against, its segments in order, and the read model of a row (issue 9).

No SQLAlchemy here: the first screen (`storage.first_screen`) builds the same rows from the
standard library's sqlite3 before SQLAlchemy is imported, and `refill_queries` and
`services.refill_views` re-export these names for everyone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

# Refill worklist levels, most urgent first; the numbers are the SQL sort key.
LEVEL_URGENT = 0
LEVEL_OVERDUE = 1
LEVEL_DUE_SOON = 2
LEVEL_SCHEDULED = 3


class RefillLevel(StrEnum):
    """Refill worklist level, most urgent first (the order of `REFILL_LEVELS`)."""

    URGENT = "urgent"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    SCHEDULED = "scheduled"


REFILL_LEVELS: tuple[RefillLevel, ...] = tuple(RefillLevel)
LEVEL_OF_NUMBER: dict[int, RefillLevel] = {
    LEVEL_URGENT: RefillLevel.URGENT,
    LEVEL_OVERDUE: RefillLevel.OVERDUE,
    LEVEL_DUE_SOON: RefillLevel.DUE_SOON,
    LEVEL_SCHEDULED: RefillLevel.SCHEDULED,
}
NUMBER_OF_LEVEL: dict[RefillLevel, int] = {level: n for n, level in LEVEL_OF_NUMBER.items()}


@dataclass(frozen=True)
class RefillWindow:
    """The clock the levels are computed against: urgent from ``now``, overdue before
    ``today``, due soon up to ``today + due_within_days``."""

    now: datetime
    today: date
    due_within_days: int

    @property
    def soon(self) -> date:
        return self.today + timedelta(days=self.due_within_days)

    def level_of(self, urgent_at: datetime | None, due_on: date) -> int:
        """The level of one pump, by the same rule as the worklist's SQL
        (`refill_queries._level_condition`)."""
        if urgent_at is not None and urgent_at <= self.now:
            return LEVEL_URGENT
        if due_on < self.today:
            return LEVEL_OVERDUE
        if due_on <= self.soon:
            return LEVEL_DUE_SOON
        return LEVEL_SCHEDULED

    def params(self) -> dict[str, Any]:
        """The values of the worklist statements' clock parameters."""
        return {"now": self.now, "today": self.today, "soon": self.soon}


@dataclass(frozen=True)
class Segment:
    """One level's pumps with (or without) a dangerous-withdrawal drug."""

    level: int
    dangerous: bool


# The worklist's order: most urgent level first, dangerous withdrawal first within a level.
SEGMENTS: tuple[Segment, ...] = tuple(
    Segment(level, dangerous)
    for level in (LEVEL_URGENT, LEVEL_OVERDUE, LEVEL_DUE_SOON, LEVEL_SCHEDULED)
    for dangerous in (True, False)
)

# (refill_due_on, refill_due_at, patient family name, pump id): a row's place in its segment.
SortKey = tuple[date, datetime, str, int]


@dataclass(frozen=True, slots=True)
class RefillWorklistRow:
    """Attributes:
    unverified: project_refill inputs that set ``due_at`` and are unverified defaults.
    """

    episode_id: int
    patient_id: int
    patient_name: str
    mrn: str
    level: RefillLevel
    drug_name: str
    dangerous_withdrawal: bool
    concentration: float | None
    concentration_unit: str
    daily_dose: float | None
    dose_unit: str
    pump_name: str
    last_fill_at: datetime | None
    due_at: datetime | None
    due_on: date | None
    empty_by_worst_at: datetime | None
    unverified: tuple[str, ...]


def worklist_rows(
    rows: Iterable[Sequence[Any]], levels: Iterable[RefillLevel]
) -> list[RefillWorklistRow]:
    """Read models of rows of `refill_queries.ROW_COLUMNS` with their levels (unpacked by
    position: a full export builds 100,000 of them)."""
    out = []
    # A handful of distinct values across the whole list: split each once.
    unverified_names: dict[str, tuple[str, ...]] = {}
    for (
        (
            episode_id,
            patient_id,
            family_name,
            given_name,
            mrn,
            drug_name,
            dangerous,
            concentration,
            concentration_unit,
            daily_dose,
            dose_unit,
            model_name,
            last_fill_at,
            due_at,
            due_on,
            empty_by_worst_at,
            unverified,
            _sort_name,
            _pump_id,
        ),
        level,
    ) in zip(rows, levels, strict=False):
        names = unverified_names.get(unverified)
        if names is None:
            names = unverified_names[unverified] = tuple(n for n in unverified.split(",") if n)
        out.append(
            RefillWorklistRow(
                episode_id,
                patient_id,
                f"{family_name}, {given_name}",
                mrn,
                level,
                drug_name,
                bool(dangerous),
                concentration,
                concentration_unit,
                daily_dose,
                dose_unit,
                model_name,
                last_fill_at,
                due_at,
                due_on,
                empty_by_worst_at,
                names,
            )
        )
    return out
