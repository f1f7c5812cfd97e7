"""Queries and lookups for implanted pumps, fills and exposures. Callers own the session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from pathway_app.domain.errors import NotFound
from pathway_app.storage.orm import (
    Episode,
    Exposure,
    Fill,
    ImplantedPump,
    Milestone,
    Patient,
    UTCDateTime,
)

# The worklist's plain parts live in refill_rows (importable without SQLAlchemy: the first
# screen, issue 9); callers keep importing them from here.
from pathway_app.storage.refill_rows import (
    LEVEL_DUE_SOON,
    LEVEL_OVERDUE,
    LEVEL_URGENT,
    SEGMENTS,
    RefillWindow,
    Segment,
    SortKey,
)
from pathway_app.storage.refill_rows import (
    LEVEL_SCHEDULED as LEVEL_SCHEDULED,
)
from pathway_app.storage.repository import _patient_matches


def active_pump(session: Session, episode_id: int) -> ImplantedPump | None:
    """The pump currently implanted on the episode (not removed), if any."""
    query = select(ImplantedPump).where(
        ImplantedPump.episode_id == episode_id, ImplantedPump.removed_at.is_(None)
    )
    return session.scalars(query.order_by(ImplantedPump.implanted_at.desc())).first()


def get_fill(session: Session, fill_id: int) -> Fill:
    fill = session.get(Fill, fill_id)
    if fill is None:
        raise NotFound("That fill record no longer exists.")
    return fill


def current_fills(session: Session, pump_id: int) -> Sequence[Fill]:
    """The fills in force (corrected rows left out), oldest first."""
    query = select(Fill).where(Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None))
    return session.scalars(query.order_by(Fill.filled_at, Fill.id)).all()


def all_fills(session: Session, pump_id: int) -> Sequence[Fill]:
    """Every fill row, corrected ones included, newest first: the history as recorded."""
    query = select(Fill).where(Fill.pump_id == pump_id)
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).all()


def latest_fill(session: Session, pump_id: int) -> Fill | None:
    query = select(Fill).where(Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None))
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).first()


def fill_before(session: Session, pump_id: int, filled_at: datetime) -> Fill | None:
    """The fill in force that came just before ``filled_at``."""
    query = select(Fill).where(
        Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None), Fill.filled_at < filled_at
    )
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).first()


def exposures(session: Session, episode_id: int) -> Sequence[Exposure]:
    query = select(Exposure).where(Exposure.episode_id == episode_id)
    return session.scalars(query.order_by(Exposure.started_on.desc(), Exposure.id.desc())).all()


def has_exposure_since(
    session: Session, episode_id: int, since: date, kinds: Collection[str]
) -> bool:
    """True when an exposure of one of ``kinds`` is still going on, or ended, on or after
    ``since`` (planned future exposures count: they will speed the pump up)."""
    query = select(Exposure.id).where(
        Exposure.episode_id == episode_id,
        Exposure.kind.in_(list(kinds)),
        or_(Exposure.ended_on.is_(None), Exposure.ended_on >= since),
    )
    return session.scalars(query.limit(1)).first() is not None


# The refill worklist (issue 9). A level is a range of the pump's denormalised columns, so each
# level -- split by the dangerous-withdrawal flag, which comes first within a level -- is one
# range of ix_implanted_pumps_refill_worklist (or _refill_urgent) on implanted_pumps alone, in
# the worklist's order: due day, due time, then the patient's family name and the pump id for
# ties (the pump carries copies of the episode's status and the patient's name, migration 0007).
# The whole list is these segments one after the other; a page reads only the segments it
# overlaps, choosing its rows from the index before reading any row, and the count is a
# handful of index-only range counts. A CASE on the clock (the old query) defeats every index.


# The statements below are plain Core on the tables, built once with bound parameters for the
# clock, the page and the keyset: a page costs its SQL, not the building of the statement.
_PUMPS = ImplantedPump.__table__
_P = _PUMPS.c
_E = Episode.__table__.c
_PA = Patient.__table__.c
_NOW = bindparam("now", type_=_P.urgent_at.type)
_TODAY = bindparam("today", type_=Date())
_SOON = bindparam("soon", type_=Date())
_LIMIT = bindparam("limit", type_=Integer())
_OFFSET = bindparam("offset", type_=Integer())
_ORDER = (_P.refill_due_on, _P.refill_due_at, _P.patient_family_name, _P.id)
_AFTER = (
    bindparam("after_on", type_=Date()),
    bindparam("after_at", type_=_P.refill_due_at.type),
    bindparam("after_name", type_=String()),
    bindparam("after_id", type_=Integer()),
)


class _WorklistUTCDateTime(UTCDateTime):
    """`UTCDateTime` read faster on SQLite, where a full worklist reads 300,000 of them: the
    stored text is parsed straight into an aware datetime (``fromisoformat`` of the text with
    "+00:00"), instead of parsing it naive and then ``replace(tzinfo=UTC)``, which costs several
    times the parse. Other back ends hand datetimes over already: the usual path."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            return None if value is None else parse(value + "+00:00")

        return process


def _aware(column: Any) -> Any:
    return type_coerce(column, _WorklistUTCDateTime()).label(column.name)


# What a worklist row holds, in this order (services unpack it positionally: faster than names
# for the 100,000 rows of a full export): the pump's denormalised columns and the patient only.
ROW_COLUMNS = (
    _P.episode_id,
    _PA.id,  # patient id
    _PA.family_name,
    _PA.given_name,
    _PA.mrn,
    _P.drug_name,
    _P.dangerous_withdrawal,
    _P.concentration,
    _P.concentration_unit,
    _P.daily_dose,
    _P.dose_unit,
    _P.model_name,
    _aware(_P.last_fill_at),
    _aware(_P.refill_due_at),
    _P.refill_due_on,
    _aware(_P.empty_by_worst_at),
    _P.projection_unverified,
    _P.patient_family_name,  # the sort name
    _P.id,  # pump id
)
_PUMP = _PUMPS.join(Episode.__table__, _P.episode_id == _E.id).join(
    Patient.__table__, _E.patient_id == _PA.id
)
WorklistRow = Row[*tuple[Any, ...]]


def sort_key(row: WorklistRow) -> SortKey:
    """The `SortKey` of a row of `ROW_COLUMNS`."""
    return (row[14], row[13], row[17], row[18])


def _on_worklist() -> list[Any]:
    """An implanted pump of an open episode; the equalities lead both worklist indexes."""
    return [_P.episode_open == true(), _P.removed_at.is_(None)]


def _level_condition(level: int) -> Any:
    due_on = _P.refill_due_on
    if level == LEVEL_URGENT:
        return and_(_P.urgent_at <= _NOW, due_on.is_not(None))
    not_urgent = or_(_P.urgent_at > _NOW, _P.urgent_at.is_(None))
    if level == LEVEL_OVERDUE:
        return and_(due_on < _TODAY, not_urgent)
    if level == LEVEL_DUE_SOON:
        return and_(due_on >= _TODAY, due_on <= _SOON, not_urgent)
    return and_(due_on > _SOON, not_urgent)


def _segment_condition(segment: Segment) -> list[Any]:
    return [
        *_on_worklist(),
        _P.dangerous_withdrawal == (true() if segment.dangerous else false()),
        _level_condition(segment.level),
    ]


@cache
def _count_statement(segments: tuple[Segment, ...]) -> Select[Any]:
    """One statement counting each segment: index-only range counts, no row read."""
    counts = [
        select(func.count()).select_from(_PUMPS).where(*_segment_condition(s)).scalar_subquery()
        for s in segments
    ]
    return select(*counts)


@cache
def _rows_statement(segment: Segment, *, page: bool, keyset: bool) -> Select[Any]:
    """The rows of a segment in order: all of them, or a page (``limit``/``offset``); after a
    key (keyset) or from the start."""
    condition = _segment_condition(segment)
    if keyset:
        # A range of the index: the order's columns are consecutive in it.
        condition.append(tuple_(*_ORDER) > tuple_(*_AFTER))
    if not page:
        # A whole segment: walk the index in order, reading each row once.
        return select(*ROW_COLUMNS).select_from(_PUMP).where(*condition).order_by(*_ORDER)
    # A page: its pump ids come from the index alone (skipping ``offset`` entries there), then
    # only those rows are read.
    chosen = select(_P.id).where(*condition).order_by(*_ORDER).limit(_LIMIT).offset(_OFFSET)
    page_ids = chosen.subquery("page")
    return (
        select(*ROW_COLUMNS)
        .select_from(_PUMP.join(page_ids, page_ids.c.id == _P.id))
        .order_by(*_ORDER)
    )


def segment_counts(
    session: Session, window: RefillWindow, segments: Sequence[Segment]
) -> list[int]:
    """How many pumps each segment holds: index-only range counts, in one statement."""
    if not segments:
        return []
    row = session.execute(_count_statement(tuple(segments)), window.params()).one()
    return [int(n) for n in row]


def segment_rows(
    session: Session,
    window: RefillWindow,
    segment: Segment,
    *,
    offset: int = 0,
    limit: int | None = None,
    after: SortKey | None = None,
) -> Sequence[WorklistRow]:
    """The rows (`ROW_COLUMNS`) of one segment in the worklist's order (`SortKey`), from
    ``offset`` or, cheaper deep in a long segment, from just after the row whose key is
    ``after``."""
    if offset and limit is None:
        raise ValueError("an offset needs a limit")
    query = _rows_statement(segment, page=limit is not None, keyset=after is not None)
    params = window.params()
    if limit is not None:
        params.update(limit=limit, offset=offset)
    if after is not None:
        params.update(zip(("after_on", "after_at", "after_name", "after_id"), after, strict=True))
    return session.execute(query, params).all()


# Where a pump is on the worklist: its segment, its sort key, its episode.
Place = tuple[Segment, SortKey, int]
_SEGMENT_RANK = {segment: rank for rank, segment in enumerate(SEGMENTS)}


def _places(session: Session, window: RefillWindow, condition: Any) -> list[Place]:
    query = select(*_ORDER, _P.urgent_at, _P.dangerous_withdrawal, _P.episode_id).where(
        _P.removed_at.is_(None), _P.refill_due_on.is_not(None), condition
    )
    places: list[Place] = []
    for due_on, due_at, name, pump_id, urgent_at, dangerous, episode_id in session.execute(query):
        segment = Segment(window.level_of(urgent_at, due_on), bool(dangerous))
        places.append((segment, (due_on, due_at, name, pump_id), episode_id))
    places.sort(key=lambda place: (_SEGMENT_RANK[place[0]], place[1]))
    return places


def search_places(session: Session, window: RefillWindow, search: str) -> list[Place]:
    """The worklist's pumps of the patients ``search`` matches, in the worklist's order.

    A search matches few patients, so this starts from them (the search index, then each
    one's episodes and pumps) and orders the handful of keys here, rather than walking the
    worklist index and looking every pump's patient up.
    """
    patients = select(Patient.id).where(_patient_matches(search))
    episodes = select(_E.id).where(_E.patient_id.in_(patients))
    # coalesce(): the same test as episode_open = true, but one SQLite cannot serve from the
    # worklist indexes (which lead with episode_open); so it drives from the matching episodes
    # through ix_implanted_pumps_episode_id instead of scanning every open pump.
    condition = and_(func.coalesce(_P.episode_open, false()) == true(), _P.episode_id.in_(episodes))
    return _places(session, window, condition)


def episode_place(session: Session, window: RefillWindow, episode_id: int) -> Place | None:
    """Where the episode's pump is on the worklist; None when it is not on it (no pump, no
    fill, removed, or a closed episode)."""
    places = _places(session, window, and_(*_on_worklist(), _P.episode_id == episode_id))
    return places[0] if places else None


def rows_before(session: Session, window: RefillWindow, segment: Segment, key: SortKey) -> int:
    """How many rows of ``segment`` come before the row whose key is ``key``: an index range
    count."""
    query = select(func.count()).select_from(_PUMPS)
    query = query.where(*_segment_condition(segment), tuple_(*_ORDER) < tuple_(*_AFTER))
    params = window.params()
    params.update(zip(("after_on", "after_at", "after_name", "after_id"), key, strict=True))
    return int(session.scalar(query, params) or 0)


_ROWS_BY_ID = (
    select(*ROW_COLUMNS).select_from(_PUMP).where(_P.id.in_(bindparam("ids", expanding=True)))
)


def rows_by_pump_id(session: Session, pump_ids: Sequence[int]) -> dict[int, WorklistRow]:
    """The worklist rows of these pumps, by pump id (read in chunks: a back end limits how
    many parameters one statement may have)."""
    rows: dict[int, WorklistRow] = {}
    for start in range(0, len(pump_ids), 500):
        chunk = list(pump_ids[start : start + 500])
        rows.update((row[18], row) for row in session.execute(_ROWS_BY_ID, {"ids": chunk}))
    return rows


def milestone_by_key(session: Session, episode_id: int, key: str) -> Milestone | None:
    query = select(Milestone).where(Milestone.episode_id == episode_id, Milestone.key == key)
    return session.scalars(query).first()
