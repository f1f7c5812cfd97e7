"""Issue 9: the pathway worklist read a page at a time.

`worklist_page` (the parts of the worklist order an index can serve, each asked only for what
falls in the page) and `worklist_count` give exactly the rows and order of the one-statement
`worklist`, for every filter; the search predicate keeps its meaning on both back ends; and on
SQLite the first page is read in index order rather than by sorting every episode.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from pathway_app.domain.progress import URGENCY, DueStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.demo import seed_demo
from pathway_app.services.views import WorklistRow, worklist, worklist_filter, worklist_page
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Patient


def paged(ctx: ServiceContext, page: int = 4, **filters: Any) -> tuple[list[int], int]:
    """Every row of the worklist read `page` rows at a time, and the count."""
    where = worklist_filter(ctx, **filters)
    total = worklist_page(ctx, where, limit=0).total
    ids: list[int] = []
    while True:
        rows = worklist_page(ctx, where, offset=len(ids), limit=page, with_total=False).rows
        ids += [row.episode_id for row in rows]
        if len(rows) < page:
            return ids, total


def keyset(ctx: ServiceContext, page: int = 4, **filters: Any) -> list[int]:
    """Every row read `page` rows at a time, each page continuing after the previous one's
    last row (its cursor), as the screen scrolls."""
    where = worklist_filter(ctx, **filters)
    ids: list[int] = []
    cursor = None
    while True:
        found = worklist_page(
            ctx, where, offset=len(ids), limit=page, with_total=False, after=cursor
        )
        ids += [row.episode_id for row in found.rows]
        cursor = found.cursor
        if len(found.rows) < page:
            return ids


SORTS = [("urgency", False), ("urgency", True)] + [
    (sort, down) for sort in repo.WORKLIST_SORTS for down in (False, True)
]


def whole(ctx: ServiceContext, **filters: Any) -> list[WorklistRow]:
    return worklist(ctx, **filters)


@pytest.fixture
def demo(demo_copy: Any, ctx: ServiceContext) -> ServiceContext:
    """The demo clinic on SQLite (a copy of the session's seeded file: fast); the PostgreSQL
    test below seeds its own once."""
    return ctx


def test_pages_give_the_whole_worklist_in_order_for_every_filter(demo: ServiceContext) -> None:
    stages = [None, *(stage.key for stage in demo.template.stages[:3])]
    statuses: list[DueStatus | None] = [None, *URGENCY]
    assert len(whole(demo, include_closed=True)) > 20  # enough rows for several pages
    for stage, status, closed in itertools.product(stages, statuses, (False, True)):
        filters: dict[str, Any] = {"stage": stage, "status": status, "include_closed": closed}
        expected = [row.episode_id for row in whole(demo, **filters)]
        ids, total = paged(demo, **filters)
        assert (ids, total) == (expected, len(expected)), filters


def test_rows_read_a_page_at_a_time_equal_the_whole_rows(demo: ServiceContext) -> None:
    rows = whole(demo, include_closed=True)
    where = worklist_filter(demo, include_closed=True)
    page = worklist_page(demo, where, offset=3, limit=5)
    assert page.rows == tuple(rows[3:8])
    assert page.total == len(rows)


@pytest.mark.parametrize("search", ["demo", "DEMO-10", "a", "e ", ", ", "zzz", "%", "_"])
def test_search_pages_match_the_whole_search(demo: ServiceContext, search: str) -> None:
    expected = [row.episode_id for row in whole(demo, search=search, include_closed=True)]
    assert paged(demo, search=search, include_closed=True) == (expected, len(expected))


def test_search_finds_names_in_either_order_and_the_mrn(demo: ServiceContext) -> None:
    with demo.db.reading() as session:
        patient = session.scalars(select(Patient).order_by(Patient.id)).first()
        assert patient is not None
        patient_id, given, family, mrn = (
            patient.id,
            patient.given_name,
            patient.family_name,
            patient.mrn,
        )
    for text in (f"{given} {family}", f"{family}, {given}", mrn.lower(), family.upper()[:3]):
        found = {row.mrn for row in whole(demo, search=text, include_closed=True)}
        assert mrn in found, text
        with demo.db.reading() as session:
            assert patient_id in {p.id for p in repo.search_patients(session, text)}


@pytest.mark.parametrize("sort", ["patient", "mrn", "due", "stage", "indication", "next_action"])
@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_a_column_pages_in_that_order(
    demo: ServiceContext, sort: str, descending: bool
) -> None:
    ids, total = paged(demo, sort=sort, descending=descending)
    rows = {row.episode_id: row for row in whole(demo)}
    assert sorted(ids) == sorted(rows) and total == len(rows)

    def key(row: WorklistRow) -> Any:
        match sort:
            case "patient":
                return row.patient_name.split(", ")[0]
            case "mrn":
                return row.mrn
            case "stage":
                return row.stage_key or ""
            case _:
                return None

    keys = [key(rows[i]) for i in ids]
    if keys[0] is not None:
        # Compared as the database does; only the direction is checked here.
        pairs = list(itertools.pairwise(keys))
        if descending:
            assert all(a >= b for a, b in pairs) or len({*keys}) == 1
        else:
            assert all(a <= b for a, b in pairs) or len({*keys}) == 1


@pytest.mark.parametrize(("sort", "descending"), SORTS)
def test_pages_continuing_after_the_last_row_equal_pages_by_offset(
    demo: ServiceContext, sort: str, descending: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyset pagination (scrolling deep costs what the top does) gives the same rows in the
    same order as skipping, in every order, with and without the closed episodes; it never
    counts parts to skip them."""
    counted: list[Any] = []
    real = repo._part_count
    for closed, status in ((False, None), (True, None), (False, DueStatus.OVERDUE)):
        filters: dict[str, Any] = {
            "sort": sort,
            "descending": descending,
            "include_closed": closed,
            "status": status,
        }
        expected, _total = paged(demo, page=1000, **filters)
        monkeypatch.setattr(repo, "_part_count", lambda *a: counted.append(a) or real(*a))
        for page in (1, 3, 7):
            assert keyset(demo, page=page, **filters) == expected, (filters, page)
        monkeypatch.setattr(repo, "_part_count", real)
        assert counted == []


def test_a_cursor_for_another_position_is_ignored(demo: ServiceContext) -> None:
    where = worklist_filter(demo, include_closed=True)
    first = worklist_page(demo, where, limit=5)
    assert first.cursor is not None and first.cursor.position == 5
    later = worklist_page(demo, where, offset=9, limit=3, after=first.cursor)
    assert later.rows == worklist_page(demo, where, offset=9, limit=3).rows


def test_least_urgent_first_is_the_urgency_order_reversed(demo: ServiceContext) -> None:
    forwards, _ = paged(demo, include_closed=True)
    backwards, _ = paged(demo, include_closed=True, descending=True)
    assert backwards == forwards[::-1]


def test_on_every_back_end_pages_searches_and_counts_agree(ctx: ServiceContext) -> None:
    """The same checks in brief on PostgreSQL too (ILIKE on the trigram-indexed text there)."""
    seed_demo(ctx)
    for filters in (
        {},
        {"include_closed": True},
        {"status": DueStatus.OVERDUE, "stage": "preparation"},
        {"search": "demo"},
        {"search": "De"},
        {"search": "%"},
        {"sort": "patient", "descending": True},
    ):
        unsorted = {k: v for k, v in filters.items() if k not in ("sort", "descending")}
        expected = [row.episode_id for row in whole(ctx, **unsorted)]
        ids, total = paged(ctx, **filters)
        assert keyset(ctx, page=3, **filters) == ids, filters
        assert total == len(expected), filters
        if filters.get("sort") is None:
            assert ids == expected, filters
        else:
            assert sorted(ids) == sorted(expected), filters


@pytest.mark.sqlite_only
def test_the_first_page_reads_the_index_in_order(ctx: ServiceContext) -> None:
    """Each part of the urgency order is served by ix_episodes_worklist; only the urgent part
    (few rows) and the undated part sort, and counting reads the index alone."""
    where = worklist_filter(ctx, stage="preparation", status=DueStatus.OVERDUE)
    with ctx.db.reading() as session:
        connection = session.connection()
        plans = []
        for part in repo._worklist_parts(where):
            statement = repo._part_rows(part).limit(100)
            sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
            plans.append(
                " | ".join(r[3] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            )
    assert all("ix_episodes_worklist" in plan for plan in plans), plans
    dated = plans[1]
    assert "USE TEMP B-TREE FOR ORDER BY" not in dated, dated  # only the tie-break is sorted


@pytest.mark.sqlite_only
@pytest.mark.parametrize("descending", [False, True])
def test_the_mrn_sort_walks_the_patients_in_order(demo: ServiceContext, descending: bool) -> None:
    """Sorting by MRN reads the patients' MRN index in order and stops after the page (and,
    continuing after a row, starts from its MRN) instead of sorting every open episode."""
    where = worklist_filter(demo, sort="mrn", descending=descending)
    (part,) = repo._worklist_parts(where)
    with demo.db.reading() as session:
        connection = session.connection()
        for after in (None, (f"MRN-{5:05d}", 7)):
            # With bound parameters, as the app runs it (the plan differs for literals).
            compiled = repo._part_rows(part, 0, after).limit(100).compile(connection)
            params = compiled.construct_params()
            values = tuple(params[name] for name in compiled.positiontup or ())
            explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
            plan = " | ".join(r[3] for r in explained)
            assert "sqlite_autoindex_patients_1" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def test_schema_comparison_skips_only_the_search_index() -> None:
    assert not repo.is_compared_schema_object("patient_search", "table")
    assert not repo.is_compared_schema_object("patient_search_data", "table")
    assert not repo.is_compared_schema_object(repo.SEARCH_INDEX, "index")
    assert not repo.is_compared_schema_object("patient_search_words_idx", "table")  # 0009
    assert not repo.is_compared_schema_object(repo.WORDS_INDEX, "index")
    assert repo.is_compared_schema_object("ix_episodes_status_indication", "index")
    assert repo.is_compared_schema_object("patients", "table")
    assert repo.is_compared_schema_object("ix_episodes_worklist", "index")
