"""The app's notion of "now". Everything that needs the time is handed a clock, so tests,
training sessions and GUI automation can fix it (``--now``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol


class Clock(Protocol):
    fixed: bool

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    fixed = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that always answers the same moment (naive datetimes are taken as UTC)."""

    fixed = True

    def __init__(self, moment: datetime) -> None:
        self._moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._moment = self._moment.astimezone(UTC)

    def now(self) -> datetime:
        return self._moment

    def set(self, moment: datetime) -> None:
        self._moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def local_today(moment: datetime) -> date:
    """The calendar day of `moment` where the workstation is: due dates are local days."""
    return moment.astimezone().date()
