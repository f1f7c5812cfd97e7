"""Issue 9: the refill worklist read a page at a time, level by level from an index.

A clinic of a few hundred pumps with every kind of row (urgent, overdue, due soon, scheduled;
dangerous withdrawal or not; tied due times; closed episodes, removed pumps, pumps without a
fill) is written directly, then every way of reading the worklist -- the count, pages of any
size from any offset, continuing pages, the whole list, an episode's position, a search, a
choice of levels -- must give exactly the order the clinical rule gives, computed here in
Python. Runs on SQLite and on PostgreSQL (tests/storage/conftest.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import (
    RefillLevel,
    RefillWorklistRow,
    refill_worklist,
    refill_worklist_pages,
)
from pathway_app.storage import refill_queries as rq
from pathway_app.storage.database import Database
from tests.conftest import FIXED_NOW
from tests.factories import episode_row, pump_row, schedule_refill

TODAY = FIXED_NOW.date()
FAMILIES = ("Adler", "Brandt", "Costa", "Dahl", "Öztürk", "Eriksen")


@dataclass(frozen=True)
class Expected:
    episode_id: int
    level: RefillLevel
    dangerous: bool
    due_on: date
    due_at: datetime
    family_name: str
    pump_id: int


def _seed(db: Database, pumps: int = 240, seed: int = 7) -> list[Expected]:
    """Write the clinic; return the rows that belong on the worklist, in no order."""
    rng = random.Random(seed)
    expected: list[Expected] = []
    # A few due times shared by many pumps, as in the synthetic clinics: ties are the rule.
    due_times = [FIXED_NOW + timedelta(days=d, hours=h) for d in range(-20, 60, 7) for h in (0, 5)]
    with db.writing() as session:
        for n in range(1, pumps + 1):
            family = rng.choice(FAMILIES)
            closed = n % 17 == 0
            episode = episode_row(
                session, FIXED_NOW, f"MRN{n:05d}", family, f"Given{n}", closed=closed
            )
            removed = n % 19 == 0
            unfilled = n % 23 == 0
            due_at = rng.choice(due_times)
            urgent_at = due_at + timedelta(days=rng.choice((-30, -3, 2, 10)))
            dangerous = rng.random() < 0.5
            pump = pump_row(
                episode,
                FIXED_NOW,
                f"S{n}",
                removed_at=FIXED_NOW - timedelta(days=1) if removed else None,
                dangerous_withdrawal=dangerous,
                projection_unverified="reserve_ml" if n % 3 == 0 else "",
            )
            if not unfilled:
                schedule_refill(pump, due_at, urgent_at)
            session.add(pump)
            session.flush()
            if closed or removed or unfilled:
                continue
            window = rq.RefillWindow(FIXED_NOW, TODAY, 14)
            level = window.level_of(urgent_at, due_at.date())
            expected.append(
                Expected(
                    episode.id,
                    _LEVELS[level],
                    dangerous,
                    due_at.date(),
                    due_at,
                    family,
                    pump.id,
                )
            )
    return expected


_LEVELS = {
    rq.LEVEL_URGENT: RefillLevel.URGENT,
    rq.LEVEL_OVERDUE: RefillLevel.OVERDUE,
    rq.LEVEL_DUE_SOON: RefillLevel.DUE_SOON,
    rq.LEVEL_SCHEDULED: RefillLevel.SCHEDULED,
}
_RANK = {level: i for i, level in enumerate(RefillLevel)}


def _clinical_order(rows: list[Expected]) -> list[int]:
    """The rule: level, dangerous withdrawal first, earliest due, family name, then id."""
    ordered = sorted(
        rows,
        key=lambda r: (
            _RANK[r.level],
            not r.dangerous,
            r.due_on,
            r.due_at,
            r.family_name,
            r.pump_id,
        ),
    )
    return [r.episode_id for r in ordered]


def _ids(rows: list[RefillWorklistRow]) -> list[int]:
    return [r.episode_id for r in rows]


@pytest.fixture
def clinic(ctx: ServiceContext) -> list[Expected]:
    return _seed(ctx.db)


def test_the_whole_list_follows_the_clinical_order(ctx: ServiceContext, clinic) -> None:
    rows = refill_worklist(ctx, due_within_days=14)
    assert _ids(rows) == _clinical_order(clinic)
    assert {r.level for r in rows} == set(RefillLevel)
    by_id = {e.episode_id: e for e in clinic}
    for row in rows:
        assert row.level is by_id[row.episode_id].level
        assert row.dangerous_withdrawal is by_id[row.episode_id].dangerous
        assert row.due_at == by_id[row.episode_id].due_at
        assert row.due_at is not None and row.due_at.tzinfo is not None


@pytest.mark.parametrize("page", [1, 7, 50, 1000])
def test_pages_read_one_after_another_give_the_whole_list(
    ctx: ServiceContext, clinic, page: int
) -> None:
    pages = refill_worklist_pages(ctx, due_within_days=14, first_page=page)
    total = pages.count()
    assert total == len(clinic)
    read: list[RefillWorklistRow] = []
    while len(read) < total:
        read += pages.fetch(len(read), page)
    assert _ids(read) == _clinical_order(clinic)
    assert pages.fetch(total, page) == []


def test_a_page_from_any_offset_is_the_same_slice(ctx: ServiceContext, clinic) -> None:
    expected = _clinical_order(clinic)
    pages = refill_worklist_pages(ctx, due_within_days=14)
    pages.count()
    rng = random.Random(3)
    for _ in range(25):
        offset, limit = rng.randrange(len(expected) + 5), rng.randrange(1, 60)
        assert _ids(pages.fetch(offset, limit)) == expected[offset : offset + limit]


def test_the_levels_asked_for_are_the_only_ones_read(ctx: ServiceContext, clinic) -> None:
    wanted = (RefillLevel.URGENT, RefillLevel.OVERDUE, RefillLevel.DUE_SOON)
    pages = refill_worklist_pages(ctx, due_within_days=14, levels=wanted, first_page=100)
    needing = [e for e in clinic if e.level in wanted]
    assert pages.count() == len(needing)
    assert _ids(pages.fetch(0, 100)) == _clinical_order(needing)[:100]
    assert {r.level for r in refill_worklist(ctx, levels=wanted)} <= set(wanted)


def test_a_search_pages_and_counts_only_the_matching_patients(ctx: ServiceContext, clinic) -> None:
    matching = [e for e in clinic if e.family_name == "Öztürk"]
    assert matching
    pages = refill_worklist_pages(ctx, due_within_days=14, search="öztürk")
    assert pages.count() == len(matching)
    read = pages.fetch(0, 5) + pages.fetch(5, 1000)
    assert _ids(read) == _clinical_order(matching)
    assert _ids(refill_worklist(ctx, due_within_days=14, search="öztürk")) == _ids(read)
    assert pages.position(matching[0].episode_id) == _clinical_order(matching).index(
        matching[0].episode_id
    )
    other = next(e for e in clinic if e.family_name != "Öztürk")
    assert pages.position(other.episode_id) is None


def test_one_or_two_characters_find_the_start_of_a_word(ctx: ServiceContext, clinic) -> None:
    """The refill worklist's short searches mean what the pathway worklist's do (migration
    0009): a word of the name or MRN starts with them, case folded beyond ASCII."""
    for search, family in (("ÖZ", "Öztürk"), ("d", "Dahl"), ("Ad", "Adler")):
        matching = [e for e in clinic if e.family_name == family]
        pages = refill_worklist_pages(ctx, due_within_days=14, search=search)
        assert pages.count() == len(matching), search
        assert _ids(pages.fetch(0, 1000)) == _clinical_order(matching), search
    assert refill_worklist_pages(ctx, due_within_days=14, search="tü").count() == 0  # inside
    every = refill_worklist_pages(ctx, due_within_days=14, search="gi")  # "Given<n>"
    assert every.count() == len(clinic)


def test_position_is_the_row_number_of_the_episode(ctx: ServiceContext, clinic) -> None:
    expected = _clinical_order(clinic)
    pages = refill_worklist_pages(ctx, due_within_days=14)
    pages.count()
    for episode_id in expected[::9]:
        assert pages.position(episode_id) == expected.index(episode_id)
    with ctx.db.reading() as session:
        gone = session.scalars(
            text("SELECT e.id FROM episodes e WHERE e.status = 'closed' ORDER BY e.id")
        ).first()
    assert gone is not None and pages.position(gone) is None
    assert pages.position(10**9) is None


def test_the_window_moves_pumps_between_due_soon_and_scheduled(ctx: ServiceContext, clinic) -> None:
    narrow = refill_worklist_pages(ctx, due_within_days=0)
    wide = refill_worklist_pages(ctx, due_within_days=60)
    assert narrow.count() == wide.count() == len(clinic)
    assert sum(r.level is RefillLevel.DUE_SOON for r in narrow.all()) < sum(
        r.level is RefillLevel.DUE_SOON for r in wide.all()
    )


def test_bad_paging_arguments_are_refused(ctx: ServiceContext, clinic) -> None:
    pages = refill_worklist_pages(ctx)
    with pytest.raises(ValueError, match="negative"):
        pages.fetch(-1, 10)


def test_closing_an_episode_or_renaming_a_patient_reaches_the_worklist(
    ctx: ServiceContext, clinic
) -> None:
    """The pump's copies of the episode status and the patient's name follow any writer (the
    triggers of migration 0007), so the worklist needs no join to filter or order."""
    first, second = _clinical_order(clinic)[:2]
    with ctx.db.writing() as session:
        session.execute(text("UPDATE episodes SET status = 'closed' WHERE id = :id"), {"id": first})
        session.execute(
            text(
                "UPDATE patients SET family_name = 'Zzz' WHERE id = "
                "(SELECT patient_id FROM episodes WHERE id = :id)"
            ),
            {"id": second},
        )
    ids = _ids(refill_worklist(ctx, due_within_days=14))
    assert first not in ids
    remaining = [e for e in clinic if e.episode_id != first]
    renamed = [
        Expected(**{**e.__dict__, "family_name": "Zzz"}) if e.episode_id == second else e
        for e in remaining
    ]
    assert ids == _clinical_order(renamed)
    with ctx.db.writing() as session:
        session.execute(text("UPDATE episodes SET status = 'open' WHERE id = :id"), {"id": first})
    assert first in _ids(refill_worklist(ctx, due_within_days=14))


def test_a_pump_inserted_on_a_closed_episode_stays_off_the_worklist(
    ctx: ServiceContext, clinic
) -> None:
    with ctx.db.reading() as session:
        closed = session.scalars(text("SELECT id FROM episodes WHERE status = 'closed'")).first()
        row = session.execute(
            text(
                "SELECT p.episode_open, p.patient_family_name, pa.family_name "
                "FROM implanted_pumps p JOIN episodes e ON e.id = p.episode_id "
                "JOIN patients pa ON pa.id = e.patient_id WHERE e.id = :id"
            ),
            {"id": closed},
        ).one()
    assert (bool(row[0]), row[1]) == (False, row[2])


def test_the_sqlite_plans_read_ranges_of_the_worklist_indexes(
    ctx: ServiceContext, clinic, db_backend: str
) -> None:
    """The property that keeps the list instant at 100,000 rows: counts are index-only, and a
    page of a level after the urgent one is read in index order (no sort of the level)."""
    if db_backend != "sqlite":
        pytest.skip("SQLite's query plan")
    window = rq.RefillWindow(FIXED_NOW, TODAY, 14)
    with ctx.db.reading() as session:
        conn = session.connection()

        def plan(statement, params) -> str:
            compiled = statement.compile(dialect=conn.dialect)
            values = compiled.construct_params(params)
            args = tuple(
                compiled.binds[name].type.bind_processor(conn.dialect)(values[name])
                if compiled.binds[name].type.bind_processor(conn.dialect)
                else values[name]
                for name in compiled.positiontup
            )
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
            return "\n".join(str(r[-1]) for r in rows)

        counts = plan(rq._count_statement(rq.SEGMENTS), window.params())
        assert "COVERING INDEX ix_implanted_pumps_refill_worklist" in counts
        assert "COVERING INDEX ix_implanted_pumps_refill_urgent" in counts
        assert "SCAN implanted_pumps" not in counts
        due_soon = rq.Segment(rq.LEVEL_DUE_SOON, True)
        page = plan(
            rq._rows_statement(due_soon, page=True, keyset=True),
            {
                **window.params(),
                "limit": 100,
                "offset": 0,
                "after_on": TODAY,
                "after_at": FIXED_NOW,
                "after_name": "A",
                "after_id": 1,
            },
        )
        chosen = page.split("SCAN page")[0]
        assert "COVERING INDEX ix_implanted_pumps_refill_worklist" in chosen
        assert "TEMP B-TREE" not in chosen
