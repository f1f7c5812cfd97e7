"""Queries and writes the services need. Callers own the session and its transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload

from pathway_app.domain.errors import ConcurrentEdit, NotFound
from pathway_app.domain.progress import DueStatus
from pathway_app.storage import audit
from pathway_app.storage.orm import AuditEntry, Episode, Milestone, Patient


def add_audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int,
    patient_id: int | None = None,
    episode_id: int | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, chained to the previous one, in the caller's transaction."""
    detail = json.dumps({"old": old or {}, "new": new or {}}, default=str, ensure_ascii=False)
    audit.append(
        session,
        at=at,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        patient_id=patient_id,
        episode_id=episode_id,
        detail=detail,
    )


def patient_by_mrn(session: Session, mrn: str) -> Patient | None:
    return session.scalars(select(Patient).where(Patient.mrn == mrn)).first()


def get_patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("That patient no longer exists.")
    return patient


def get_episode(session: Session, episode_id: int) -> Episode:
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise NotFound("That episode no longer exists.")
    return episode


def get_milestone(session: Session, milestone_id: int) -> Milestone:
    milestone = session.get(Milestone, milestone_id)
    if milestone is None:
        raise NotFound("That milestone no longer exists.")
    return milestone


def open_episode_of(session: Session, patient_id: int) -> Episode | None:
    query = select(Episode).where(Episode.patient_id == patient_id, Episode.status == "open")
    return session.scalars(query).first()


def search_patients(session: Session, text: str = "", limit: int = 200) -> Sequence[Patient]:
    query = select(Patient).order_by(Patient.family_name, Patient.given_name, Patient.mrn)
    if text.strip():
        query = query.where(_patient_matches(text))
    return session.scalars(query.limit(limit)).all()


# --- Issue 9: search that stays instant at 100,000 patients --------------------------------------
# One text per patient holds everything "name or MRN" matches: "Given Family", "Family, Given"
# and the MRN, a newline apart (a search box cannot hold a newline, so no match spans two parts).
# A substring of it is exactly a substring of one of those. Migration 0008 indexes the same text:
# an FTS5 trigram table on SQLite (kept by triggers), a pg_trgm GIN index on PostgreSQL.
SEARCH_TABLE = "patient_search"
SEARCH_INDEX = "ix_patients_search_trgm"  # PostgreSQL
# Trigrams need three characters. One or two match the start of a word instead (see
# `_patient_id_matches`), through migration 0009's word-prefix index.
TRIGRAM = 3
WORDS_TABLE = "patient_search_words"  # SQLite (its name starts with SEARCH_TABLE)
WORDS_INDEX = "ix_patients_search_words"  # PostgreSQL


def _search_text(newline: str = "char(10)") -> Any:
    # Literal SQL, not bound parameters: on PostgreSQL the expression must equal the one
    # migration 0008 indexes (there with chr(10)) for the planner to use the index.
    space: Any = literal_column("' '")
    comma: Any = literal_column("', '")
    line_break: Any = literal_column(newline)
    return (
        Patient.given_name
        + space
        + Patient.family_name
        + line_break
        + Patient.family_name
        + comma
        + Patient.given_name
        + line_break
        + Patient.mrn
    )


def _words_text() -> Any:
    """The text whose words migration 0009 indexes by prefix: "Given Family MRN"."""
    space: Any = literal_column("' '")
    return Patient.given_name + space + Patient.family_name + space + Patient.mrn


def _words_vector() -> Any:
    # PostgreSQL: must equal migration 0009's indexed expression. Every run of characters
    # other than letters and digits becomes a space first, so the words are exactly SQLite's
    # (the text-search parser alone would also keep "smith-jones" and similar compounds).
    simple: Any = literal_column("'simple'")
    words = func.regexp_replace(
        _words_text(),
        literal_column("'[^[:alnum:]]+'"),
        literal_column("' '"),
        literal_column("'g'"),
    )
    return func.to_tsvector(simple, words)


def is_compared_schema_object(name: str | None, type_: str, _parent: Any = None) -> bool:
    """For Alembic's model comparison: the search indexes of migrations 0008 and 0009 (SQLite:
    FTS5 virtual tables and their shadow tables; PostgreSQL: GIN indexes) are not ORM models."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE)
    return not (type_ == "index" and name in (SEARCH_INDEX, WORDS_INDEX))


class _ByDialect(ColumnElement[bool]):
    """A condition written one way for SQLite, one way for PostgreSQL (the same as "other"
    unless given) and another for every other database; which one is chosen when the statement
    is compiled (the callers build queries without a session)."""

    inherit_cache = False  # the branches hold the search text; never reuse a compilation
    type = Boolean()
    # A predicate, not a boolean value: without this SQLite would get "(... IN (...)) = 1",
    # which no index serves.
    _is_implicitly_boolean = True

    def __init__(self, sqlite: Any, other: Any, postgresql: Any = None) -> None:
        self.sqlite = sqlite
        self.other = other
        self.postgresql = other if postgresql is None else postgresql


@compiles(_ByDialect)
def _compile_other(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.other.self_group(), **kw))


@compiles(_ByDialect, "sqlite")
def _compile_sqlite(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.sqlite.self_group(), **kw))


@compiles(_ByDialect, "postgresql")
def _compile_postgresql(element: _ByDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.postgresql.self_group(), **kw))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _patient_matches(text: str) -> Any:
    """Patients whose name ("Given Family", "Family, Given") or MRN contains `text` (one or
    two characters: has a word starting with them), ignoring case (Unicode-aware) and
    surrounding spaces; LIKE wildcards in `text` are literal.

    The single search predicate of both worklists and the patient finder (see
    `_patient_id_matches`)."""
    return _patient_id_matches(Patient.id, text)


def _patient_id_matches(patient_id: Any, text: str) -> Any:
    """`patient_id` (a column holding a patient id) belongs to a patient matching `text`.

    Three or more characters: the name ("Given Family", "Family, Given") or the MRN contains
    the text. SQLite reads the trigram index (a phrase query: the text's trigrams, adjacent,
    which is exactly "contains"); PostgreSQL and others: ILIKE on the indexed text.

    One or two characters: a word of the given name, the family name or the MRN starts with
    them, a word being a run of letters and digits ("Ga" finds García and Gabriel, not
    Morgan; "O'" finds O'Brien as "O" does). Anywhere-in-the-name would match most patients
    from a typist's first key and no index serves it. Other characters in such a search are
    ignored; one with no letter or digit at all ("%") still means "contains". SQLite: the
    FTS5 word-prefix table of migration 0009 (unicode61, which folds case as the trigram
    tokenizer does); PostgreSQL: its ``simple`` text-search vector index, ``'ga':*``.
    """
    needle = _needle(text)
    if len(needle) < TRIGRAM and _word_prefix(needle):
        return _word_prefix_matches(patient_id, needle)
    pattern = _like_pattern(needle)
    ids = _sqlite_search_ids(needle)
    if ids is not None:
        sqlite: Any = patient_id.in_(ids)
    else:
        # One or two characters without a letter or digit ("%", ", "): no word starts with
        # them, so they keep the meaning "contains", read by scanning the patients (no name
        # or MRN is typed so; the app's Unicode lower() is not needed for such text).
        short = _search_text().like(pattern, escape="\\")
        sqlite = (
            short if patient_id is Patient.id else patient_id.in_(select(Patient.id).where(short))
        )
    other = _search_text("chr(10)").ilike(pattern, escape="\\")
    if patient_id is not Patient.id:
        other = patient_id.in_(select(Patient.id).where(other))
    return _ByDialect(sqlite, other)


def _needle(text: str) -> str:
    return text.strip().replace("\n", " ")


def _word_prefix(needle: str) -> str:
    """What a one- or two-character search looks for at the start of a word: its letters and
    digits (the characters words are made of)."""
    return "".join(char for char in needle if char.isalnum())


def _sqlite_search_ids(needle: str) -> Any:
    """SQLite: the ids of the patients matching ``needle`` (stripped, not empty), read from
    the search index that serves its length; None for a short one without letters or digits,
    which no index serves."""
    if len(needle) >= TRIGRAM:
        name, query = SEARCH_TABLE, '"' + needle.replace('"', '""') + '"'
    else:
        prefix = _word_prefix(needle)
        if not prefix:
            return None
        name, query = WORDS_TABLE, f'"{prefix}" *'
    index = table(name, column("rowid"))
    match = literal_column(name).op("MATCH")(bindparam(None, query, type_=String))
    return select(index.c.rowid).where(match)


def _word_prefix_matches(patient_id: Any, needle: str) -> Any:
    prefix = _word_prefix(needle)
    sqlite = patient_id.in_(_sqlite_search_ids(needle))
    tsquery = func.to_tsquery(
        literal_column("'simple'"), bindparam(None, f"{prefix}:*", type_=String)
    )
    postgresql = _words_vector().op("@@")(tsquery)
    # Any other database: words split at spaces only (no index; not a supported back end).
    other = (literal_column("' '", String) + _words_text()).ilike(
        _like_pattern(" " + prefix), escape="\\"
    )
    if patient_id is not Patient.id:
        postgresql = patient_id.in_(select(Patient.id).where(postgresql))
        other = patient_id.in_(select(Patient.id).where(other))
    return _ByDialect(sqlite, other, postgresql)


def _most_patients_match(session: Session, search: str) -> bool:
    """SQLite: whether more than half of the patients match ``search`` (two counts on indexes,
    a few ms at 100,000). Then counting their open episodes is cheaper by walking the worklist
    index and checking each episode's patient (a fixed cost) than by looking up each matching
    patient's episodes (a cost per match): "S" matches every MRN starting "SYN-"."""
    ids = _sqlite_search_ids(_needle(search))
    if ids is None:
        return False
    matches = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    return 2 * matches > (session.scalar(select(func.count()).select_from(Patient)) or 0)


@dataclass(frozen=True)
class WorklistFilter:
    """What the pathway worklist shows: the filters of its panel plus today's date."""

    today: date
    due_soon_days: int
    search: str = ""
    stage: str | None = None
    status: DueStatus | None = None
    include_closed: bool = False
    # Issue 9: the screen sorts in SQL. "urgency" is the worklist's own order (see
    # `worklist_query`); the others are WORKLIST_SORTS keys, ties broken by episode id.
    sort: str = "urgency"
    descending: bool = False


# What a worklist column header sorts by, besides the urgency order (stored keys: the
# indication and stage sort by their key, which is close to their name in every template here).
WORKLIST_SORTS: dict[str, tuple[Any, ...]] = {
    "patient": (Patient.family_name, Patient.given_name),
    "mrn": (Patient.mrn,),
    "indication": (Episode.indication,),
    # An episode without a stage last (SQLite and PostgreSQL would put NULL at opposite ends).
    "stage": (Episode.current_stage.is_(None), Episode.current_stage),
    "due": (Episode.attention_due_on.is_(None), Episode.attention_due_on),
    "next_action": (Episode.next_action,),
}
# Sorts whose first key is "has no value": those rows stay last in both directions.
NULLS_LAST_SORTS = frozenset({"due", "stage"})
# Orders an index serves, so any page (continuing after the previous one) costs a few ms at
# 100,000 episodes; the other column sorts sort every open episode for each page.
INDEXED_SORTS = frozenset({"urgency", "mrn", "due"})


def worklist_order_indexed(where: WorklistFilter) -> bool:
    """Whether an index serves this worklist order (see `_worklist_parts`)."""
    return where.sort in INDEXED_SORTS and not (where.include_closed and where.sort != "urgency")


# What a worklist row shows, as plain columns: loading whole ORM objects for a page cost more
# than the query (issue 9). Rows are named tuples with these names.
WORKLIST_COLUMNS: tuple[Any, ...] = (
    Episode.id,
    Episode.patient_id,
    Patient.family_name,
    Patient.given_name,
    Patient.mrn,
    Episode.indication,
    Episode.current_stage,
    Episode.next_action,
    Episode.next_due_on,
    Episode.followup_due_on,
    Episode.followup_action,
    Episode.attention_due_on,
    Episode.urgent_since,
    Episode.urgent_summary,
    Episode.open_complications,
    Episode.complication_summary,
    Episode.status,
    Episode.outcome_summary,
    Episode.outcome_flag,
)


def worklist_query(
    *,
    today: date,
    due_soon_days: int,
    search: str = "",
    stage: str | None = None,
    status: DueStatus | None = None,
    include_closed: bool = False,
) -> Select[Any]:
    """Open episodes with their patient, most urgent first; filters run in SQL on indexes.

    Issue 6: rows sort and filter on ``attention_due_on`` (the earlier of the next milestone
    and the earliest follow-up item). An open episode with a missed follow-up item
    (``followup_due_on`` before today) or an unresolved red flag (``urgent_since``) is never
    hidden by the stage or status filter; urgent rows come first. ``include_closed`` adds the
    closed episodes (the "show closed" option), after the open ones.

    This is the whole list in one statement; the screen pages through the same rows with
    `worklist_count` and `worklist_page` (issue 9).
    """
    where = WorklistFilter(today, due_soon_days, search, stage, status, include_closed)
    # Typed loosely: the row type parameters of Select differ between SQLAlchemy 2.0 and 2.1.
    query: Any = select(*WORKLIST_COLUMNS).join(Patient, Episode.patient_id == Patient.id)
    if not include_closed:
        query = query.where(Episode.status == "open")
    query = query.where(*_filters(where))
    return query.order_by(
        Episode.status != "open",
        Episode.urgent_since.is_(None),
        Episode.attention_due_on.is_(None),
        Episode.attention_due_on,
        Patient.family_name,
        Episode.id,
    )


def _filters(where: WorklistFilter) -> list[Any]:
    """The search, stage and status conditions; a missed follow-up or a red flag on an open
    episode passes the stage and status filters whatever they are."""
    conditions: list[Any] = []
    if where.search.strip():
        # On the episode's patient_id, so counting needs no join to patients.
        conditions.append(_patient_id_matches(Episode.patient_id, where.search))
    always = and_(
        Episode.status == "open",
        or_(Episode.followup_due_on < where.today, Episode.urgent_since.is_not(None)),
    )
    if where.stage:
        conditions.append(or_(Episode.current_stage == where.stage, always))
    condition = _status_condition(where)
    if condition is not None:
        conditions.append(or_(condition, always))
    return conditions


def _status_condition(where: WorklistFilter) -> Any:
    due = Episode.attention_due_on
    today = where.today
    soon = today + timedelta(days=where.due_soon_days)
    if where.status is DueStatus.OVERDUE:
        return due < today
    if where.status is DueStatus.DUE_SOON:
        return and_(due >= today, due <= soon)
    if where.status is DueStatus.ON_TRACK:
        return due > soon
    if where.status is DueStatus.NO_DATE:
        return due.is_(None)
    return None


# One ORDER BY key: the expression and whether it sorts descending.
_Key = tuple[Any, bool]
_Part = tuple[tuple[Any, ...], tuple[_Key, ...]]  # (conditions, ORDER BY keys)
# Every page row carries the part it came from and its ORDER BY values under these names, so
# the next page can continue right after it (keyset pagination) instead of skipping rows.
PART_LABEL = "worklist_part"
KEY_LABEL = "worklist_key_"


def _worklist_parts(where: WorklistFilter) -> list[_Part]:
    """The worklist order split into parts an index can serve, in order.

    One ORDER BY over "open first, urgent first, dated first, by date" starts with expressions,
    so SQLite sorts every row to return the first hundred. Each part below fixes those leading
    keys, so it reads ``ix_episodes_worklist`` (status, urgent_since, attention_due_on, ...) in
    order, or sorts only its own set of rows, and stops after the page: urgent open episodes
    (few); open ones with a date, by date; open ones without a date; then the closed ones when
    shown. The same index holds the stage and status filter columns, so counting a part
    reads the index alone.
    """
    conditions = tuple(_filters(where))
    due = Episode.attention_due_on
    is_open = Episode.status == "open"
    not_urgent = Episode.urgent_since.is_(None)
    down = where.descending
    if where.sort in WORKLIST_SORTS:
        # A column the user clicked: one query, the open/closed split kept first.
        keys: list[_Key] = [(key, down) for key in (*WORKLIST_SORTS[where.sort], Episode.id)]
        if where.sort in NULLS_LAST_SORTS:  # rows without a value last, whichever direction
            keys[0] = (keys[0][0], False)
        if where.include_closed:
            return [(conditions, ((Episode.status != "open", False), *keys))]
        if where.sort in NULLS_LAST_SORTS:
            # Two parts, the rows with a value (by value) then those without: each part's
            # order is then plain columns an index can serve (the due date:
            # ix_episodes_status_attention_due_on), rather than an expression to sort by.
            value = WORKLIST_SORTS[where.sort][1]
            return [
                ((*conditions, is_open, value.is_not(None)), ((value, down), (Episode.id, down))),
                ((*conditions, is_open, value.is_(None)), ((Episode.id, down),)),
            ]
        # Only open rows: no leading status key, so an index on the column can give the order.
        if where.sort == "mrn":
            # Walk the patients in MRN order (their unique index) and look up each one's
            # episodes, stopping after the page, instead of sorting every open episode:
            # "status = 'open'" as is would make SQLite start from ix_episodes_worklist, so it
            # is written as an expression no index serves (the same rows).
            is_open = func.coalesce(Episode.status, "") == "open"
        return [((*conditions, is_open), tuple(keys))]
    parts: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = [
        (
            (*conditions, is_open, Episode.urgent_since.is_not(None)),
            (due.is_(None), due, Patient.family_name, Episode.id),
        ),
        (
            (*conditions, is_open, not_urgent, due.is_not(None)),
            (due, Patient.family_name, Episode.id),
        ),
        ((*conditions, is_open, not_urgent, due.is_(None)), (Patient.family_name, Episode.id)),
    ]
    if where.include_closed:
        parts.append(
            (
                (*conditions, Episode.status != "open"),
                (not_urgent, due.is_(None), due, Patient.family_name, Episode.id),
            )
        )
    if down:  # least urgent first: the same parts backwards, each reversed
        parts = parts[::-1]
    return [(found, tuple((key, down) for key in keys)) for found, keys in parts]


def _part_rows(part: _Part, number: int = 0, after: Sequence[Any] | None = None) -> Any:
    """The rows of part ``number`` in order, each with the part number and its ORDER BY values
    (see `worklist_cursor`); with ``after``, only the rows after the row with those values."""
    found, keys = part
    query = (
        select(
            *WORKLIST_COLUMNS,
            literal(number).label(PART_LABEL),
            *(key.label(f"{KEY_LABEL}{n}") for n, (key, _down) in enumerate(keys)),
        )
        .join(Patient, Episode.patient_id == Patient.id)
        .where(*found)
        .order_by(*(key.desc() if down else key for key, down in keys))
    )
    if after is not None:
        query = query.where(*_after(keys, after))
    return query


def _after(keys: Sequence[_Key], values: Sequence[Any]) -> list[Any]:
    """Conditions for "comes after the row whose ORDER BY values are ``values``".

    Written out key by key ((k0 > v0) OR (k0 = v0 AND k1 > v1) ...), since the directions may
    differ, with a plain bound on the first key so the index is read from that point on. A
    NULL value has no rows after it within its own group: every NULL-able key here is preceded
    by an "IS NULL" key, or sorts only one group of NULLs last (the stage)."""

    def bound(key: Any, value: Any) -> Any:
        # A parameter of the key's type (True/False from an "IS NULL" key compare as such).
        return bindparam(None, value, type_=key.type)

    def beyond(key: Any, down: bool, value: Any) -> Any:
        if value is None:
            return false()
        return key < bound(key, value) if down else key > bound(key, value)

    def same(key: Any, value: Any) -> Any:
        return key.is_(None) if value is None else key == bound(key, value)

    alternatives = []
    for n, (key, down) in enumerate(keys):
        equal = [same(k, v) for (k, _d), v in zip(keys[:n], values[:n], strict=True)]
        alternatives.append(and_(*equal, beyond(key, down, values[n])))
    conditions: list[Any] = [or_(*alternatives)]
    first, down = keys[0]
    if values[0] is not None:
        start = bound(first, values[0])
        conditions.append(first <= start if down else first >= start)
    return conditions


@dataclass(frozen=True)
class WorklistCursor:
    """Where a page of the worklist ended: the position just after its last row, the part that
    row is in and its ORDER BY values. `worklist_page` continues from it when asked for the
    rows at that position (the next page), whatever the depth."""

    position: int
    part: int
    values: tuple[Any, ...]


def worklist_cursor(row: Any, position: int) -> WorklistCursor:
    """The cursor after ``row`` (a row `worklist_page` returned) at ``position``."""
    fields = row._fields
    values = tuple(row[n] for n, name in enumerate(fields) if name.startswith(KEY_LABEL))
    return WorklistCursor(position, int(getattr(row, PART_LABEL)), values)


def _part_count(session: Session, part: _Part) -> int:
    # Episodes only: the conditions never need the patient (see _filters).
    return int(session.scalar(select(func.count()).select_from(Episode).where(*part[0])) or 0)


def worklist_count(session: Session, where: WorklistFilter) -> int:
    """How many rows the worklist has with these filters: one count over the index (the parts
    split exactly these rows)."""
    scope: tuple[Any, ...] = ()
    if not where.include_closed:
        # SQLite, with a search: the matching patients' episodes are usually few, so read them
        # through the patient_id index. "status = 'open'" as is would make SQLite walk every
        # open episode in ix_episodes_worklist instead, so it is written as an expression no
        # index serves -- unless most patients match, when that walk is the cheaper one.
        # PostgreSQL's planner chooses between the two itself, from its statistics.
        by_patient = (
            bool(where.search.strip())
            and session.get_bind().dialect.name == "sqlite"
            and not _most_patients_match(session, where.search)
        )
        status = func.coalesce(Episode.status, "") if by_patient else Episode.status
        scope = (status == "open",)
    query = select(func.count()).select_from(Episode).where(*_filters(where), *scope)
    return int(session.scalar(query) or 0)


def worklist_page(
    session: Session,
    where: WorklistFilter,
    offset: int,
    limit: int,
    after: WorklistCursor | None = None,
) -> list[Any]:
    """Rows ``offset`` to ``offset + limit`` of the worklist, in its order (see
    `worklist_query`): each part is asked only for what falls in the window.

    With ``after`` (the `worklist_cursor` of the row just before ``offset``), the page
    continues after that row through the index (keyset pagination): row 50,000 costs what
    row 200 does. Without it, or when it is for another position, rows are skipped."""
    rows: list[Any] = []
    skip = offset
    parts = _worklist_parts(where)
    first = 0
    values: Sequence[Any] | None = None
    if after is not None and after.position == offset and 0 <= after.part < len(parts):
        first, skip, values = after.part, 0, after.values
    for number in range(first, len(parts)):
        part = parts[number]
        if len(rows) >= limit:
            break
        if skip:
            size = _part_count(session, part)
            if skip >= size:
                skip -= size
                continue
        statement = _part_rows(part, number, values).offset(skip).limit(limit - len(rows))
        rows.extend(session.execute(statement))
        skip, values = 0, None
    return rows


def worklist(session: Session, query: Select[Any]) -> Sequence[Any]:
    """The rows of `worklist_query`: named tuples of WORKLIST_COLUMNS."""
    return session.execute(query).all()


def episode_with_milestones(session: Session, episode_id: int) -> Episode:
    query = (
        select(Episode)
        .options(joinedload(Episode.milestones), joinedload(Episode.patient))
        .where(Episode.id == episode_id)
    )
    episode = session.scalars(query).unique().first()
    if episode is None:
        raise NotFound("That episode no longer exists.")
    return episode


def episode_history(session: Session, episode_id: int) -> Sequence[Any]:
    """The episode's audit entries, newest first: rows of the columns the history shows (not
    whole entries with their hash chain: an episode with ten years of refills has hundreds)."""
    query = (
        select(
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.entity,
            AuditEntry.entity_id,
            AuditEntry.detail,
        )
        .where(AuditEntry.episode_id == episode_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return session.execute(query).all()


def count_open_episodes(session: Session) -> int:
    return session.scalar(select(func.count()).where(Episode.status == "open")) or 0


def check_version(current: int, expected: int | None) -> None:
    """Optimistic concurrency: the record must still be the version the user saw.

    Raises:
        ConcurrentEdit: someone changed it meanwhile; nothing is written.
    """
    if expected is not None and current != expected:
        raise ConcurrentEdit(
            "Someone else changed this record while you were looking at it. Nothing was "
            "overwritten; refresh to see their change and try again."
        )
