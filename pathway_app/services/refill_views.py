"""Read models of the refill screens: the clinic-wide refill worklist, an episode's pump with
its fill history, and the reservoir chart's series. Built inside the session, so no ORM object
reaches Qt."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import repeat

from sqlalchemy.orm import Session

from pathway_app.domain.refill_records import ExposureKind
from pathway_app.services.context import ServiceContext
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Fill, ImplantedPump

# The worklist's levels and rows live in storage.refill_rows (importable without SQLAlchemy:
# the first screen, issue 9); callers keep importing them from here.
from pathway_app.storage.refill_rows import (
    LEVEL_OF_NUMBER,
    NUMBER_OF_LEVEL,
    REFILL_LEVELS,
    RefillLevel,
    RefillWorklistRow,
    worklist_rows,
)

_LEVEL_OF_SQL = LEVEL_OF_NUMBER
_SQL_OF_LEVEL = NUMBER_OF_LEVEL
_rows = worklist_rows


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a full worklist is built.

    100,000 rows allocate millions of objects, none in a reference cycle; the collector would
    run hundreds of times meanwhile, each full pass walking every row built so far (a third of
    the build time at 100,000 rows, measured). Reference counting still frees everything; the
    collector resumes afterwards as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RefillWorklistPages:
    """The refill worklist read a page at a time (issue 9): what the refill worklist screen
    shows, without loading 100,000 rows to show forty.

    Made by `refill_worklist_pages`; the clock, window, search and levels are fixed when it is
    made (make a new one to refresh). The list is the levels in order, each split by the
    dangerous-withdrawal flag ("segments").

    - `count()` counts each segment from an index and reads the first ``first_page`` rows in
      the same transaction (the screen asks for them next).
    - `fetch(offset, limit)` reads only the segments the page overlaps, each from an index
      range in order; the page that follows the previous one continues after its last row
      instead of skipping ``offset`` rows.
    - `position(episode_id)` is where an episode's row is (an index range count).
    - `all()` is the whole list.

    A search reads the same way, the same segments in the same order, with "the patient
    matches" added: `count()` counts each segment's matching pumps in one grouped pass, and
    each read walks the segment's index range or starts from the matching patients, whichever
    the counts say is cheaper (`refill_queries.walk_is_cheaper`), so a page costs about the
    same however many pumps match. Each call is one short read transaction.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        window: rq.RefillWindow,
        search: str,
        levels: tuple[RefillLevel, ...],
        first_page: int = 0,
    ) -> None:
        self._ctx = ctx
        self._window = window
        self._search = search.strip()
        wanted = {_SQL_OF_LEVEL[level] for level in levels}
        self._segments = tuple(s for s in rq.SEGMENTS if s.level in wanted)
        self._first_page = first_page
        self._counts: list[int] | None = None
        # With a search: its counts, and each segment's size without it (by index in
        # _segments), counted when a read needs it to choose how to read.
        self._searched: rq.SearchCounts | None = None
        self._sizes: dict[int, int] = {}
        self._first_rows: list[RefillWorklistRow] = []
        # (global offset just after the last row read, its segment index, its sort key).
        self._cursor: tuple[int, int, rq.SortKey] | None = None

    def count(self) -> int:
        """The rows of the whole worklist (counted now; `fetch` pages within this count)."""
        with self._ctx.db.reading() as session:
            self._cursor = None
            if self._search:
                searched = rq.search_counts(session, self._window, self._search)
                index = [rq.SEGMENTS.index(segment) for segment in self._segments]
                self._searched = searched
                self._counts = [searched.matches[n] for n in index]
                sizes = searched.sizes
                self._sizes = {} if sizes is None else {k: sizes[n] for k, n in enumerate(index)}
            else:
                self._counts = rq.segment_counts(session, self._window, self._segments)
            self._first_rows = self._read(session, 0, self._first_page)
        return sum(self._counts)

    def _ensure_counted(self) -> list[int]:
        if self._counts is None:
            self.count()
        assert self._counts is not None
        return self._counts

    def fetch(self, offset: int, limit: int) -> list[RefillWorklistRow]:
        """Rows ``offset .. offset + limit - 1`` in the worklist's order."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        self._ensure_counted()
        if offset + limit <= len(self._first_rows):
            return self._first_rows[offset : offset + limit]
        with self._ctx.db.reading() as session:
            return self._read(session, offset, limit)

    def _read(self, session: Session, offset: int, limit: int) -> list[RefillWorklistRow]:
        assert self._counts is not None
        rows: list[RefillWorklistRow] = []
        start = 0  # global offset of the current segment's first row
        for index, (segment, size) in enumerate(zip(self._segments, self._counts, strict=True)):
            wanted = limit - len(rows)
            if wanted <= 0:
                break
            if offset + len(rows) >= start + size:
                start += size
                continue
            skip = offset + len(rows) - start
            wanted = min(wanted, size - skip)
            after = None
            cursor = self._cursor
            if cursor is not None and cursor[0] == offset + len(rows) and cursor[1] == index:
                after = cursor[2]
            if self._search and not self._walk(
                session, index, wanted + (0 if after is not None else skip)
            ):
                # From the matching patients: this page's remaining rows, whatever segments
                # they are in, in one statement (each would cost a pass over the matches).
                self._read_driven(session, index, skip, limit - len(rows), rows)
                break
            if after is not None:
                skip = 0
            if self._search:
                found = rq.search_segment_rows(
                    session,
                    self._window,
                    segment,
                    self._search,
                    offset=skip,
                    limit=wanted,
                    after=after,
                )
            else:
                found = rq.segment_rows(
                    session, self._window, segment, offset=skip, limit=wanted, after=after
                )
            rows.extend(_rows(found, repeat(_LEVEL_OF_SQL[segment.level])))
            if found:
                self._cursor = (offset + len(rows), index, rq.sort_key(found[-1]))
            start += size
        return rows

    def _walk(self, session: Session, index: int, wanted: int) -> bool:
        """Whether ``wanted`` matching rows of segment ``index`` are cheaper to read by walking
        its index range than from the matching patients (`rq.walk_is_cheaper`)."""
        assert self._counts is not None and self._searched is not None
        matches, total = self._counts[index], self._searched.total
        if not rq.may_walk(wanted, matches, total):
            return False
        size = self._size(session, index)
        return rq.walk_is_cheaper(
            rq.walk_length(self._segments[index], wanted, size, matches), total
        )

    def _read_driven(
        self, session: Session, index: int, skip: int, limit: int, rows: list[RefillWorklistRow]
    ) -> None:
        """Add to ``rows`` the search's rows from row ``skip`` of segment ``index`` on (up to
        ``limit``), read from the matching patients."""
        found = rq.search_rows_driven(
            session, self._window, self._segments[index:], self._search, offset=skip, limit=limit
        )
        rows.extend(
            _rows((row for _segment, row in found), (_LEVEL_OF_SQL[s.level] for s, _row in found))
        )
        # The driven read skips through a sort of the matches, so it needs no cursor.
        self._cursor = None

    def _size(self, session: Session, index: int) -> int:
        """Segment ``index``'s pumps without the search (an index-only count, kept)."""
        size = self._sizes.get(index)
        if size is None:
            size = rq.segment_counts(session, self._window, [self._segments[index]])[0]
            self._sizes[index] = size
        return size

    def position(self, episode_id: int) -> int | None:
        """The row number of ``episode_id`` in the worklist, or None when it is not on it."""
        counts = self._ensure_counted()
        with self._ctx.db.reading() as session:
            place = rq.episode_place(session, self._window, episode_id)
            if place is None or place[0] not in self._segments:
                return None
            segment, key, _episode = place
            if self._search and not rq.episode_matches(session, episode_id, self._search):
                return None
            before = rq.rows_before(session, self._window, segment, key)
            if self._search:
                before = self._matching_before(session, segment, key, before)
        return sum(counts[: self._segments.index(segment)]) + before

    def _matching_before(
        self, session: Session, segment: rq.Segment, key: rq.SortKey, before: int
    ) -> int:
        """Of the ``before`` rows ahead of ``key`` in ``segment``, those the search matches:
        walked when they are few, else counted from the matching patients, or from the
        others when most patients match."""
        searched = self._searched
        assert searched is not None
        # Walking reads the ``before`` entries, each checked against the search (the whole
        # segment when urgent: see `rq.walk_length`).
        walked = before
        if segment.level == rq.LEVEL_URGENT:
            walked = self._size(session, self._segments.index(segment))
        walk = rq.walk_is_cheaper(walked, searched.total)
        if searched.most_match and not walk:
            others = rq.search_rows_before(
                session, self._window, segment, key, self._search, walk=False, matching=False
            )
            return before - others
        return rq.search_rows_before(session, self._window, segment, key, self._search, walk=walk)

    def all(self) -> list[RefillWorklistRow]:
        """The whole worklist: each segment read in one pass of its index range."""
        if self._search:
            total = sum(self._ensure_counted())
            with _no_cycle_collection(), self._ctx.db.reading() as session:
                return self._read(session, 0, total)
        rows: list[RefillWorklistRow] = []
        with _no_cycle_collection(), self._ctx.db.reading() as session:
            for segment in self._segments:
                found = rq.segment_rows(session, self._window, segment)
                rows.extend(_rows(found, repeat(_LEVEL_OF_SQL[segment.level])))
        return rows


def refill_worklist_pages(
    ctx: ServiceContext,
    *,
    due_within_days: int | None = None,
    search: str = "",
    levels: Iterable[RefillLevel] = REFILL_LEVELS,
    first_page: int = 0,
) -> RefillWorklistPages:
    """The refill worklist (every open episode with a pump, most urgent first), to be read a
    page at a time. ``levels`` keeps only those levels (e.g. urgent, overdue and due soon for
    "what needs doing"); the levels are computed against the app clock now. ``first_page``
    rows are read with the count, in the same transaction."""
    days = ctx.template.parameter("due_soon_days") if due_within_days is None else due_within_days
    window = rq.RefillWindow(ctx.now(), ctx.today(), max(0, days))
    return RefillWorklistPages(ctx, window, search, tuple(levels), max(0, first_page))


def refill_worklist(
    ctx: ServiceContext,
    *,
    due_within_days: int | None = None,
    search: str = "",
    levels: Iterable[RefillLevel] = REFILL_LEVELS,
) -> list[RefillWorklistRow]:
    """Every open episode with a pump, most urgent first (the exports' full list). Levels come
    from the pump's denormalised columns relative to the app clock; within a level, drugs whose
    withdrawal is dangerous come first, then the earliest due, then the patient's name."""
    return refill_worklist_pages(
        ctx, due_within_days=due_within_days, search=search, levels=levels
    ).all()


@dataclass(frozen=True)
class FillView:
    """One fill row as recorded (corrected rows included, with who corrected them and why)."""

    id: int
    kind: str
    filled_at: datetime
    recorded_at: datetime
    recorded_by: str
    aspirated_ml: float | None
    residual_left_ml: float
    added_ml: float
    volume_after_ml: float
    drug_key: str
    drug_name: str
    concentration: float
    concentration_unit: str
    effective_concentration: float
    daily_dose: float
    effective_daily_dose: float
    dose_unit: str
    lot: str
    expiry_on: date | None
    operator: str
    second_checker: str
    needle: str
    location_method: str
    notes: str
    expected_residual_ml: float | None
    discrepancy_ml: float | None
    flow_error_pct: float | None
    actual_flow_ml_per_day: float | None
    flagged: bool
    flag_reasons: tuple[str, ...]
    explanation: str | None
    explanation_note: str
    over_max_reason: str
    due_at: datetime
    empty_by_worst_at: datetime
    warnings: tuple[str, ...]
    corrects_id: int | None
    correction_reason: str
    superseded_by_id: int | None
    # The pocket-fill check (refills only): volume measured after the refill, and its alert.
    post_refill_volume_ml: float | None = None
    pocket_fill_alert: str | None = None

    @property
    def in_force(self) -> bool:
        return self.superseded_by_id is None


@dataclass(frozen=True)
class ExposureView:
    id: int
    kind: ExposureKind
    started_on: date
    ended_on: date | None
    note: str


@dataclass(frozen=True)
class ChartLine:
    """A polyline of (time, volume mL) points."""

    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True)
class ReservoirSeries:
    """Everything the reservoir chart draws, in data units (time, mL).

    Attributes:
        fills: (time, volume after the fill) of each fill in force.
        nominal: expected decline at nominal flow, one line per fill interval.
        worst_case: decline at worst-case flow, one line per fill interval.
        residuals: (time, volume aspirated) measured at each refill.
        start, end: the time axis.
    """

    reservoir_ml: float
    reserve_ml: float
    fills: tuple[tuple[datetime, float], ...]
    nominal: tuple[ChartLine, ...]
    worst_case: tuple[ChartLine, ...]
    residuals: tuple[tuple[datetime, float], ...]
    now: datetime
    due_at: datetime | None
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PumpView:
    """The implanted pump of an episode with its current projection and history.

    Attributes:
        unverified: catalogue field names copied at implant that are unverified defaults.
        projection_unverified: inputs that set the current due date and are unverified.
    """

    id: int
    episode_id: int
    model_name: str
    serial: str
    reservoir_ml: float
    nominal_flow_ml_per_day: float
    tolerance_pct: float
    reserve_ml: float
    exposure_factor: float | None
    unverified: frozenset[str]
    implanted_at: datetime
    drug_name: str
    dangerous_withdrawal: bool
    concentration: float | None
    concentration_unit: str
    daily_dose: float | None
    dose_unit: str
    last_fill_at: datetime | None
    due_at: datetime | None
    due_on: date | None
    empty_by_nominal_at: datetime | None
    empty_by_worst_at: datetime | None
    urgent_at: datetime | None
    limited_by: str
    projection_unverified: tuple[str, ...]
    warnings: tuple[str, ...]
    level: RefillLevel | None
    latest_fill: FillView | None
    fills: tuple[FillView, ...]
    exposures: tuple[ExposureView, ...]
    chart: ReservoirSeries


def _fill_view(f: Fill) -> FillView:
    return FillView(
        id=f.id,
        kind=f.kind,
        filled_at=f.filled_at,
        recorded_at=f.recorded_at,
        recorded_by=f.recorded_by,
        aspirated_ml=f.aspirated_ml,
        residual_left_ml=f.residual_left_ml,
        added_ml=f.added_ml,
        volume_after_ml=f.volume_after_ml,
        drug_key=f.drug_key,
        drug_name=f.drug_name,
        concentration=f.concentration,
        concentration_unit=f.concentration_unit,
        effective_concentration=f.effective_concentration,
        daily_dose=f.daily_dose,
        effective_daily_dose=f.effective_daily_dose,
        dose_unit=f.dose_unit,
        lot=f.lot,
        expiry_on=f.expiry_on,
        operator=f.operator,
        second_checker=f.second_checker,
        needle=f.needle,
        location_method=f.location_method,
        notes=f.notes,
        expected_residual_ml=f.expected_residual_ml,
        discrepancy_ml=f.discrepancy_ml,
        flow_error_pct=f.flow_error_pct,
        actual_flow_ml_per_day=f.actual_flow_ml_per_day,
        flagged=f.flagged,
        flag_reasons=tuple(json.loads(f.flag_reasons)),
        explanation=f.explanation,
        explanation_note=f.explanation_note,
        over_max_reason=f.over_max_reason,
        due_at=f.due_at,
        empty_by_worst_at=f.empty_by_worst_at,
        warnings=tuple(json.loads(f.warnings)),
        corrects_id=f.corrects_id,
        correction_reason=f.correction_reason,
        superseded_by_id=f.superseded_by_id,
        post_refill_volume_ml=f.post_refill_volume_ml,
        pocket_fill_alert=f.pocket_fill_alert,
    )


def _decline(
    start: datetime, volume: float, flow: float, until: datetime
) -> tuple[tuple[datetime, float], ...]:
    """Straight decline from ``volume`` at ``flow`` until ``until``, flat at 0 once empty."""
    if until <= start:
        return ((start, volume),)
    empty_at = start + timedelta(days=volume / flow)
    if empty_at >= until:
        days = (until - start) / timedelta(days=1)
        return ((start, volume), (until, volume - flow * days))
    return ((start, volume), (empty_at, 0.0), (until, 0.0))


def reservoir_series(
    pump: ImplantedPump, fills: list[Fill], now: datetime, reserve_ml: float
) -> ReservoirSeries:
    """Volume over time since implant: each fill, then the expected decline at nominal and
    worst-case flow until the next fill (for the last fill, until it is empty at nominal flow
    or today, whichever is later)."""
    start = pump.implanted_at
    if fills:
        start = min(start, fills[0].filled_at)
    last = fills[-1] if fills else None
    end = now
    if last is not None:
        end = max(now, last.empty_by_nominal_at)
    # Room on the right so the last point and the "today" marker are not on the border.
    end = end + max(timedelta(days=2), (end - start) * 0.03)
    nominal: list[ChartLine] = []
    worst: list[ChartLine] = []
    residuals: list[tuple[datetime, float]] = []
    for index, fill in enumerate(fills):
        until = fills[index + 1].filled_at if index + 1 < len(fills) else end
        flow = pump.nominal_flow_ml_per_day
        nominal.append(ChartLine(_decline(fill.filled_at, fill.volume_after_ml, flow, until)))
        worst.append(
            ChartLine(
                _decline(
                    fill.filled_at, fill.volume_after_ml, fill.worst_case_flow_ml_per_day, until
                )
            )
        )
        if fill.aspirated_ml is not None:
            residuals.append((fill.filled_at, fill.aspirated_ml))
    return ReservoirSeries(
        reservoir_ml=pump.reservoir_ml,
        reserve_ml=reserve_ml,
        fills=tuple((f.filled_at, f.volume_after_ml) for f in fills),
        nominal=tuple(nominal),
        worst_case=tuple(worst),
        residuals=tuple(residuals),
        now=now,
        due_at=pump.refill_due_at,
        start=start,
        end=end,
    )


def pump_view(ctx: ServiceContext, episode_id: int) -> PumpView | None:
    """The episode's implanted pump, or None when no implant is recorded."""
    now, today = ctx.now(), ctx.today()
    soon = ctx.template.parameter("due_soon_days")
    with ctx.db.reading() as session:
        repo.get_episode(session, episode_id)
        pump = rq.active_pump(session, episode_id)
        if pump is None:
            return None
        # One read of the fills: the history is newest first, so the fills in force are its
        # uncorrected rows reversed — the same rows and order as `rq.current_fills`.
        rows = rq.all_fills(session, pump.id)
        in_force = [f for f in reversed(rows) if f.superseded_by_id is None]
        history = [_fill_view(f) for f in rows]
        latest = next((f for f in history if f.in_force), None)
        level = None
        if pump.refill_due_on is not None:
            level = _level(pump, now, today, soon)
        reserve = in_force[-1].reserve_ml_used if in_force else pump.reserve_ml
        return PumpView(
            id=pump.id,
            episode_id=pump.episode_id,
            model_name=pump.model_name,
            serial=pump.serial,
            reservoir_ml=pump.reservoir_ml,
            nominal_flow_ml_per_day=pump.nominal_flow_ml_per_day,
            tolerance_pct=pump.tolerance_pct,
            reserve_ml=reserve,
            exposure_factor=pump.exposure_factor,
            unverified=frozenset(n for n in pump.unverified.split(",") if n),
            implanted_at=pump.implanted_at,
            drug_name=pump.drug_name,
            dangerous_withdrawal=pump.dangerous_withdrawal,
            concentration=pump.concentration,
            concentration_unit=pump.concentration_unit,
            daily_dose=pump.daily_dose,
            dose_unit=pump.dose_unit,
            last_fill_at=pump.last_fill_at,
            due_at=pump.refill_due_at,
            due_on=pump.refill_due_on,
            empty_by_nominal_at=pump.empty_by_nominal_at,
            empty_by_worst_at=pump.empty_by_worst_at,
            urgent_at=pump.urgent_at,
            limited_by=pump.projection_limited_by,
            projection_unverified=tuple(n for n in pump.projection_unverified.split(",") if n),
            warnings=tuple(json.loads(pump.projection_warnings)),
            level=level,
            latest_fill=latest,
            fills=tuple(history),
            exposures=tuple(
                ExposureView(e.id, ExposureKind(e.kind), e.started_on, e.ended_on, e.note)
                for e in rq.exposures(session, episode_id)
            ),
            chart=reservoir_series(pump, in_force, now, reserve),
        )


def _level(pump: ImplantedPump, now: datetime, today: date, soon: int) -> RefillLevel:
    """The worklist level of one pump, by the same rule as the worklist's SQL."""
    assert pump.refill_due_on is not None
    window = rq.RefillWindow(now, today, soon)
    return _LEVEL_OF_SQL[window.level_of(pump.urgent_at, pump.refill_due_on)]


@dataclass(frozen=True)
class EpisodePumpPlan:
    """What the episode planned for the pump: the implant dialog's defaults."""

    episode_id: int
    pump_model: str
    drug: str
    is_open: bool


def episode_pump_plan(ctx: ServiceContext, episode_id: int) -> EpisodePumpPlan:
    with ctx.db.reading() as session:
        episode = repo.get_episode(session, episode_id)
        return EpisodePumpPlan(
            episode.id, episode.pump_model, episode.drug, episode.status == "open"
        )
