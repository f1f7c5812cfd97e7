"""Queries and lookups for implanted pumps, fills and exposures. Callers own the session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
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
    case,
    exists,
    false,
    func,
    not_,
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
from pathway_app.storage.repository import (
    _most_patients_match as repo_most_patients_match,
)
from pathway_app.storage.repository import (
    _patient_id_matches,
    _patient_matches,
)


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


def _on_worklist(*, by_index: bool = True) -> list[Any]:
    """An implanted pump of an open episode; the equalities lead both worklist indexes.

    ``by_index=False`` is the same test written so that neither index can serve it
    (coalesce()): SQLite then finds the pumps from another condition (a search's matching
    episodes, through ix_implanted_pumps_episode_id) instead of walking every open pump.
    """
    is_open = _P.episode_open if by_index else func.coalesce(_P.episode_open, false())
    return [is_open == true(), _P.removed_at.is_(None)]


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


def _segment_condition(segment: Segment, *, by_index: bool = True) -> list[Any]:
    return [
        *_on_worklist(by_index=by_index),
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
    return _page_rows(condition)


def _page_rows(condition: list[Any]) -> Select[Any]:
    """A page (``limit``/``offset``) of the rows of the pumps meeting ``condition`` (on
    implanted_pumps alone), in order. Its pump ids are chosen first, from the index alone where
    it can (skipping ``offset`` entries there), then only those rows are read."""
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


# --- The worklist searched (issue 9) --------------------------------------------------------------
# A search keeps the segments and their order and adds one condition: the pump's patient
# matches (`repository._patient_id_matches`, the predicate of every search). The count is one
# grouped pass over the matching patients' pumps (`search_counts`). A page's rows can be read
# two ways, the same rows in the same order:
#
# - walk (`search_segment_rows`): a segment's index range in order, as without a search, each
#   pump's episode looked up by its primary key and its patient checked against the matching
#   patients (listed once per statement), until the page is full. It costs the entries walked,
#   about ``wanted * segment size / matches in the segment``: little when many pumps match.
# - drive (`search_rows_driven`): from the matching patients to their episodes and pumps (the
#   search index, ix_episodes_patient_id, ix_implanted_pumps_episode_id), sorted by segment
#   and order, the rest of the page across segments in one statement. It costs the search's
#   pumps: little when few match.
#
# `walk_is_cheaper` chooses from the counts. SQLite takes the chosen path because the other
# one's conditions are written so that no index serves them: the drive tests the episode's
# status through coalesce() (`_on_worklist`), the walk tests the patient in a correlated
# EXISTS. The old way, every matching pump's key loaded and ordered in Python, took 360 ms
# for "G" at 100,000 episodes (7,301 pumps) and 2.4 s for "S" (all of them).

# An index entry walked (a pump row and its episode read) costs about twice a pump reached from
# a matching patient (measured on SQLite at 100,000 episodes: ~6 and ~3 microseconds).
_WALK_COST = 2


def may_walk(wanted: int, segment_matches: int, matches: int) -> bool:
    """False when reading ``wanted`` rows of a segment holding ``segment_matches`` of the
    search's ``matches`` pumps is surely cheaper from the matching patients: a walk reads at
    least one entry per row it returns. Saves counting the segment (`walk_is_cheaper`)."""
    return _WALK_COST * min(wanted, segment_matches) < matches


def walk_length(segment: Segment, wanted: int, segment_size: int, segment_matches: int) -> int:
    """About how many index entries a walk of ``segment`` (``segment_size`` pumps, of which
    ``segment_matches`` match) reads to find ``wanted`` matching rows, the matches taken as
    evenly spread. An urgent segment is read whole: its index is in urgency order, not the
    worklist's, so it sorts."""
    if segment.level == LEVEL_URGENT or segment_matches <= 0:
        return segment_size
    return -(-min(wanted, segment_matches) * segment_size // segment_matches)


def walk_is_cheaper(walked: int, matches: int) -> bool:
    """Whether walking ``walked`` index entries costs less than reaching the search's
    ``matches`` pumps from its patients. At the break-even a page of 100 walks about
    ``sqrt(100 * worklist size / cost)`` entries (2,200 at 100,000 pumps), whatever the
    search: that bounds a page's cost."""
    return _WALK_COST * walked < matches


def _search_episodes(search: str, *, matching: bool = True) -> Select[Any]:
    """The ids of the episodes whose patient matches ``search`` (or, ``matching=False``, whose
    patient does not)."""
    episodes = Episode.__table__.alias("search_episodes")
    condition = _patient_id_matches(episodes.c.patient_id, search)
    return select(episodes.c.id).where(condition if matching else not_(condition))


def _search_condition(segment: Segment, search: str, *, walk: bool) -> list[Any]:
    """A segment's pumps whose patient matches ``search``, read as `walk` says."""
    if walk:
        episodes = Episode.__table__.alias("search_episode")
        matching = _patient_id_matches(episodes.c.patient_id, search)
        found = exists().where(episodes.c.id == _P.episode_id, matching).correlate(_PUMPS)
        return [*_segment_condition(segment), found]
    return [
        *_segment_condition(segment, by_index=False),
        _P.episode_id.in_(_search_episodes(search)),
    ]


def _level_number() -> Any:
    """The pump's level (`_level_condition` as one expression; its due day is not null)."""
    return case(
        (_P.urgent_at <= _NOW, LEVEL_URGENT),
        (_P.refill_due_on < _TODAY, LEVEL_OVERDUE),
        (_P.refill_due_on <= _SOON, LEVEL_DUE_SOON),
        else_=LEVEL_SCHEDULED,
    )


def _segment_rank() -> Any:
    """The index in `SEGMENTS` of the pump's segment (its due day is not null)."""
    dangerous_last = case((_P.dangerous_withdrawal == true(), 0), else_=1)
    return _level_number() * 2 + dangerous_last


def _grouped_count(search: str, *, matching: bool) -> Select[Any]:
    """(level, dangerous withdrawal, pumps) of the worklist's pumps whose patient matches
    ``search`` (or does not), driven from those patients: one pass over their pumps."""
    pumps = (
        select(_level_number().label("level"), _P.dangerous_withdrawal.label("dangerous"))
        .where(
            *_on_worklist(by_index=False),
            _P.refill_due_on.is_not(None),
            _P.episode_id.in_(_search_episodes(search, matching=matching)),
        )
        .subquery("searched")
    )
    # Grouped by the subquery's columns: PostgreSQL would not take the CASE, whose bound
    # parameters differ between the select list and the GROUP BY, as the same expression.
    return select(pumps.c.level, pumps.c.dangerous, func.count()).group_by(
        pumps.c.level, pumps.c.dangerous
    )


def _most_patients_match(session: Session, search: str) -> bool:
    if session.get_bind().dialect.name == "sqlite":
        return repo_most_patients_match(session, search)
    matching = select(func.count()).select_from(Patient.__table__).where(_patient_matches(search))
    everyone = select(func.count()).select_from(Patient.__table__)
    return 2 * int(session.scalar(matching) or 0) > int(session.scalar(everyone) or 0)


@dataclass(frozen=True)
class SearchCounts:
    """A search's pumps on the worklist, per segment (all of `SEGMENTS`, in order).

    Attributes:
        matches: each segment's pumps whose patient matches the search.
        most_match: more than half the patients match (the others' pumps were counted).
        sizes: each segment's pumps without the search, when they were counted (most_match).
    """

    matches: tuple[int, ...]
    most_match: bool
    sizes: tuple[int, ...] | None

    @property
    def total(self) -> int:
        """The search's pumps on the whole worklist (what reading from its patients reads)."""
        return sum(self.matches)


def search_counts(session: Session, window: RefillWindow, search: str) -> SearchCounts:
    """How many pumps of each segment belong to a patient ``search`` matches.

    Counted from the matching patients in one grouped pass; when most patients match ("S"
    matches every "SYN-" MRN) the pumps of the others are counted instead and taken from the
    segments' sizes (index-only counts), which is the smaller pass.
    """
    most_match = _most_patients_match(session, search)
    found = {
        Segment(int(level), bool(dangerous)): int(n)
        for level, dangerous, n in session.execute(
            _grouped_count(search, matching=not most_match), window.params()
        )
    }
    matches = [found.get(segment, 0) for segment in SEGMENTS]
    if not most_match:
        return SearchCounts(tuple(matches), False, None)
    sizes = segment_counts(session, window, SEGMENTS)
    matches = [size - n for size, n in zip(sizes, matches, strict=True)]
    return SearchCounts(tuple(matches), True, tuple(sizes))


def search_segment_rows(
    session: Session,
    window: RefillWindow,
    segment: Segment,
    search: str,
    *,
    offset: int,
    limit: int,
    after: SortKey | None = None,
) -> Sequence[WorklistRow]:
    """`segment_rows` (a page) of the pumps whose patient matches ``search``, read by walking
    the segment's index range: for when `walk_is_cheaper` (else `search_rows_driven`)."""
    condition = _search_condition(segment, search, walk=True)
    params = window.params()
    if after is not None:
        condition.append(tuple_(*_ORDER) > tuple_(*_AFTER))
        params.update(zip(("after_on", "after_at", "after_name", "after_id"), after, strict=True))
    params.update(limit=limit, offset=offset)
    return session.execute(_page_rows(condition), params).all()


def search_rows_driven(
    session: Session,
    window: RefillWindow,
    segments: Sequence[Segment],
    search: str,
    *,
    offset: int,
    limit: int,
) -> list[tuple[Segment, Sequence[Any]]]:
    """Rows ``offset .. offset + limit - 1`` of the pumps in ``segments`` (in the worklist's
    order) whose patient matches ``search``, each with its segment: read from the matching
    patients, so in one pass over their pumps however many segments the page spans."""
    rank = _segment_rank()
    wanted = [SEGMENTS.index(segment) for segment in segments]
    chosen = (
        select(_P.id, rank.label("segment_rank"), *_ORDER)
        .where(
            *_on_worklist(by_index=False),
            _P.refill_due_on.is_not(None),
            _P.episode_id.in_(_search_episodes(search)),
        )
        .subquery("matching")
    )
    page = (
        select(chosen.c.id, chosen.c.segment_rank)
        .where(chosen.c.segment_rank.in_(wanted))
        .order_by(chosen.c.segment_rank, *(chosen.c[column.name] for column in _ORDER))
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    query = (
        select(*ROW_COLUMNS, page.c.segment_rank)
        .select_from(_PUMP.join(page, page.c.id == _P.id))
        .order_by(page.c.segment_rank, *_ORDER)
    )
    return [(SEGMENTS[row[-1]], row[:-1]) for row in session.execute(query, window.params())]


def search_rows_before(
    session: Session,
    window: RefillWindow,
    segment: Segment,
    key: SortKey,
    search: str,
    *,
    walk: bool,
    matching: bool = True,
) -> int:
    """`rows_before` counting only the pumps whose patient matches ``search`` (``walk``: the
    index range before ``key``, each entry checked; otherwise from the matching patients).
    ``matching=False`` counts those whose patient does not match instead, from those
    patients (when most match: the fewer)."""
    if matching:
        condition = _search_condition(segment, search, walk=walk)
    else:  # driven from the others
        others = _search_episodes(search, matching=False)
        condition = [*_segment_condition(segment, by_index=False), _P.episode_id.in_(others)]
    query = select(func.count()).select_from(_PUMPS)
    query = query.where(*condition, tuple_(*_ORDER) < tuple_(*_AFTER))
    params = window.params()
    params.update(zip(("after_on", "after_at", "after_name", "after_id"), key, strict=True))
    return int(session.scalar(query, params) or 0)


def episode_matches(session: Session, episode_id: int, search: str) -> bool:
    """Whether the patient of ``episode_id`` matches ``search``."""
    query = select(_E.id).where(_E.id == episode_id, _patient_id_matches(_E.patient_id, search))
    return session.scalar(query) is not None


def milestone_by_key(session: Session, episode_id: int, key: str) -> Milestone | None:
    query = select(Milestone).where(Milestone.episode_id == episode_id, Milestone.key == key)
    return session.scalars(query).first()
