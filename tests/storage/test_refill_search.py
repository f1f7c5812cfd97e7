"""Issue 9: the refill worklist searched, read like the unsearched one (counts per segment in
SQL, pages through the index in worklist order), must answer exactly what the plain rule
answers: the whole unsearched list, kept to the patients the search predicate matches.

Over a generated clinic (years of real refills) plus rows written directly for every edge of
the worklist (closed episodes, removed pumps, pumps never filled, no urgent time, tied due
times, non-ASCII names), on SQLite and on PostgreSQL: searches of one, two and three or more
characters, one matching most patients, an MRN and one matching nobody; several clocks and
windows; pages of 1, 7 and 100 read one after another and from anywhere; positions. Each read
can take either path (walking the segment's index or starting from the matching patients) and
the counts either way (the matching patients' pumps or the others'): every combination is
forced in turn, besides the one the counts choose.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import (
    RefillWorklistPages,
    RefillWorklistRow,
    refill_worklist,
    refill_worklist_pages,
)
from pathway_app.services.synthetic import generate_clinic
from pathway_app.storage import refill_queries as rq
from pathway_app.storage import repository as repo
from pathway_app.storage.database import Database, open_database
from pathway_app.storage.orm import Episode, Patient
from tests.conftest import ACTOR, FIXED_NOW
from tests.factories import episode_row, pump_row, schedule_refill

NOWS = (
    FIXED_NOW,
    FIXED_NOW - timedelta(days=41, hours=3, microseconds=17),
    # Another zone, a local evening: the same moment seen elsewhere gives the same answers.
    (FIXED_NOW + timedelta(days=23, hours=11)).astimezone(timezone(timedelta(hours=-5))),
)
WINDOWS = (0, 14, 60)
PAGE_SIZES = (1, 7, 100)
# Which way each read goes: as the counts choose, or forced one way (the answers must not
# depend on it); "others" also counts the pumps of the patients who do not match.
PLANS = ("chosen", "walk", "drive", "others")
EDGE_FAMILIES = ("Garnier", "Öztürk", "Gómez", "O'Brien", "Dahl")


def _seed_edges(db: Database, pumps: int = 90, seed: int = 5) -> None:
    """Rows the synthetic clinic may lack: every level, both flags, tied due times, no urgent
    time, closed episodes, removed pumps, pumps never filled, non-ASCII names."""
    rng = random.Random(seed)
    due_times = [
        FIXED_NOW + timedelta(days=d, hours=h, microseconds=m)
        for d in range(-60, 90, 9)
        for h, m in ((0, 0), (5, 250_000))
    ]
    with db.writing() as session:
        for n in range(1, pumps + 1):
            episode = episode_row(
                session,
                FIXED_NOW,
                f"EDGE{n:04d}",
                rng.choice(EDGE_FAMILIES),
                rng.choice(("Gabriel", "Ana", "Zoë")),
                closed=n % 17 == 0,
            )
            pump = pump_row(
                episode,
                FIXED_NOW,
                f"E{n}",
                model_name="Model A",
                removed_at=FIXED_NOW - timedelta(days=1) if n % 19 == 0 else None,
                dangerous_withdrawal=rng.random() < 0.5,
                concentration=2.0,
                concentration_unit="mg/mL",
                daily_dose=0.2,
                dose_unit="mg/day",
                projection_unverified=rng.choice(("", "reserve_ml")),
            )
            if n % 23 != 0:
                due_at = rng.choice(due_times)
                schedule_refill(
                    pump,
                    due_at,
                    None
                    if n % 13 == 0
                    else due_at + timedelta(days=rng.choice((-50, -30, -3, 2, 10))),
                )
            session.add(pump)


@pytest.fixture(scope="module")
def clinic_file(
    tmp_path_factory: pytest.TempPathFactory, configuration: tuple[PathwayTemplate, Catalogue]
) -> Path:
    template, catalogue = configuration
    path = tmp_path_factory.mktemp("refill-search") / "clinic.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        generate_clinic(
            path,
            episodes=160,
            template=template,
            catalogue=catalogue,
            now=FIXED_NOW,
            seed=11,
            prototypes=12,
            history_days=900,
        )
        database = open_database(str(path))
        try:
            _seed_edges(database)
        finally:
            database.close()
    time.tzset()
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic_url(request: pytest.FixtureRequest, clinic_file: Path) -> Iterator[str]:
    """The clinic on each back end (copied once per module into a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield str(clinic_file)
        return
    from pathway_app.storage.migrate_data import migrate_data
    from tests.pg_support import create_database, drop_database

    url = create_database("pwsearch")
    try:
        migrate_data(str(clinic_file), url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def clinic_db(clinic_url: str) -> Iterator[Database]:
    database = open_database(clinic_url)
    yield database
    database.close()


@pytest.fixture(scope="module")
def searches(clinic_db: Database) -> dict[str, str]:
    """Searches of each kind, taken from the clinic's own names."""
    with clinic_db.reading() as session:
        family = session.scalar(
            select(Patient.family_name)
            .where(Patient.family_name.like("G%"))
            .group_by(Patient.family_name)
            .order_by(Patient.family_name)
        )
        mrn = session.scalar(select(Patient.mrn).order_by(Patient.id).offset(40))
    assert family is not None and mrn is not None
    return {
        "one": "g",
        "two": family[:2].upper(),
        "three": family[:3].lower(),
        "inside": family[1:5],
        "most": "S",  # every synthetic MRN starts "SYN-"
        "mrn": mrn,
        "nobody": "zzqx",
        "accent": "öz",
    }


def _context(
    configuration: tuple[PathwayTemplate, Catalogue], db: Database, now: datetime
) -> ServiceContext:
    template, catalogue = configuration
    return ServiceContext(db, template, catalogue, FixedClock(now), ACTOR)


def _matching_patients(db: Database, search: str) -> set[int]:
    """The patients the shared search predicate matches (the patient finder's own query)."""
    with db.reading() as session:
        return {p.id for p in repo.search_patients(session, search, limit=10**6)}


def _reference(ctx: ServiceContext, days: int, search: str) -> list[RefillWorklistRow]:
    """The plain rule: the whole unsearched list, kept to the matching patients."""
    matching = _matching_patients(ctx.db, search)
    return [row for row in refill_worklist(ctx, due_within_days=days) if row.patient_id in matching]


def _force(monkeypatch: pytest.MonkeyPatch, plan: str) -> None:
    if plan in ("walk", "others"):
        monkeypatch.setattr(rq, "may_walk", lambda *_args: True)
        monkeypatch.setattr(rq, "walk_is_cheaper", lambda *_args: True)
    if plan == "drive":
        monkeypatch.setattr(rq, "may_walk", lambda *_args: False)
        monkeypatch.setattr(rq, "walk_is_cheaper", lambda *_args: False)
    if plan == "others":
        monkeypatch.setattr(rq, "_most_patients_match", lambda *_args: True)


def _read_in_order(pages: RefillWorklistPages, size: int, upto: int) -> list[Any]:
    rows: list[Any] = []
    while len(rows) < upto:
        page = pages.fetch(len(rows), size)
        assert page, "a page within the count is never empty"
        rows += page
    return rows


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(
    "kind", ["one", "two", "three", "inside", "most", "mrn", "nobody", "accent"]
)
def test_a_search_answers_what_the_filtered_list_answers(
    clinic_db: Database,
    configuration: tuple[PathwayTemplate, Catalogue],
    searches: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    plan: str,
) -> None:
    search = searches[kind]
    _force(monkeypatch, plan)
    rng = random.Random(f"{kind}-{plan}")
    seen_rows = False
    # The level boundaries move with the clock, whichever way the rows are read: every clock
    # for the chosen plan; the forced plans (same segments, another way through them) at one,
    # which keeps the suite within its time on two cores.
    for now in NOWS if plan == "chosen" else NOWS[:1]:
        ctx = _context(configuration, clinic_db, now)
        for days in WINDOWS:
            expected = _reference(ctx, days, search)
            seen_rows = seen_rows or bool(expected)
            case = (kind, search, now, days)
            for size in PAGE_SIZES:
                pages = refill_worklist_pages(
                    ctx, due_within_days=days, search=search, first_page=size
                )
                assert pages.count() == len(expected), case
                # One page after another, as the screen scrolls (size 1: the first rows).
                upto = len(expected) if size > 1 else min(len(expected), 25)
                assert _read_in_order(pages, size, upto) == expected[:upto], (*case, size)
                assert pages.fetch(len(expected), size) == [], (*case, size)
                # Pages from anywhere, as a jump to a row reads.
                for _ in range(4):
                    offset = rng.randrange(len(expected) + 3)
                    got = pages.fetch(offset, size)
                    assert got == expected[offset : offset + size], (*case, size, offset)
            pages = refill_worklist_pages(ctx, due_within_days=days, search=search)
            assert pages.all() == expected, case
            assert refill_worklist(ctx, due_within_days=days, search=search) == expected, case
            for number, row in enumerate(expected):
                if number % 7 == 0 or number == len(expected) - 1:
                    assert pages.position(row.episode_id) == number, (*case, number)
    if kind != "nobody":
        assert seen_rows, f"the clinic has no row for {kind!r}: the test would prove nothing"


def test_positions_of_episodes_not_in_the_result(
    clinic_db: Database,
    configuration: tuple[PathwayTemplate, Catalogue],
    searches: dict[str, str],
) -> None:
    ctx = _context(configuration, clinic_db, FIXED_NOW)
    search = searches["three"]
    shown = {row.episode_id for row in _reference(ctx, 14, search)}
    with clinic_db.reading() as session:
        episodes = session.execute(select(Episode.id, Episode.status)).all()
    pages = refill_worklist_pages(ctx, due_within_days=14, search=search)
    others = [episode_id for episode_id, _status in episodes if episode_id not in shown]
    closed = [episode_id for episode_id, status in episodes if status == "closed"]
    assert others and closed
    for episode_id in [*others[::5], *closed, 10**9]:
        assert pages.position(episode_id) is None, episode_id


def test_the_levels_asked_for_keep_the_search(
    clinic_db: Database,
    configuration: tuple[PathwayTemplate, Catalogue],
    searches: dict[str, str],
) -> None:
    from pathway_app.services.refill_views import RefillLevel

    wanted = (RefillLevel.OVERDUE, RefillLevel.SCHEDULED)
    for now in NOWS:
        ctx = _context(configuration, clinic_db, now)
        for kind in ("one", "most", "three"):
            search = searches[kind]
            expected = [row for row in _reference(ctx, 14, search) if row.level in wanted]
            pages = refill_worklist_pages(
                ctx, due_within_days=14, search=search, levels=wanted, first_page=7
            )
            assert pages.count() == len(expected)
            assert _read_in_order(pages, 7, len(expected)) == expected
            for number, row in enumerate(expected[::3]):
                assert pages.position(row.episode_id) == 3 * number


def test_the_cost_rule_walks_broad_searches_and_drives_narrow_ones() -> None:
    """The choice only changes the cost, never the answer (above); here, that it is the cheap
    one at the sizes of issue 9 (a page of 100 among 100,000 pumps)."""
    segment = rq.Segment(rq.LEVEL_SCHEDULED, True)
    urgent = rq.Segment(rq.LEVEL_URGENT, True)
    # "G": 7,301 pumps match, 4,646 of a 61,667-pump segment: walk ~1,300 entries.
    assert rq.walk_is_cheaper(rq.walk_length(segment, 100, 61_667, 4_646), 7_301)
    # "Gar": 1,775 match, 1,108 of the same segment: walk ~5,600 entries; drive 1,775 pumps.
    assert not rq.walk_is_cheaper(rq.walk_length(segment, 100, 61_667, 1_108), 1_775)
    # One MRN: never walk a segment for one row.
    assert not rq.walk_is_cheaper(rq.walk_length(segment, 100, 61_667, 1), 1)
    # The urgent segment sorts: it is read whole whatever the page.
    assert rq.walk_length(urgent, 1, 1_667, 1_000) == 1_667
    # Each row a walk returns is an entry read: no need to count the segment to know.
    assert not rq.may_walk(100, 100, 150)
    assert rq.may_walk(100, 4_646, 7_301)


def test_the_sqlite_plans_take_the_path_chosen(clinic_file: Path) -> None:
    """What keeps a page cheap at 100,000 pumps: a walk reads the segment's index range in
    order (no sort) and stops after the page; a drive starts from the matching episodes."""
    database = open_database(str(clinic_file))
    window = rq.RefillWindow(FIXED_NOW, FIXED_NOW.date(), 14)
    segment = rq.Segment(rq.LEVEL_DUE_SOON, True)
    try:
        with database.reading() as session:
            conn = session.connection()

            def plan(statement: Any, params: dict[str, Any]) -> str:
                compiled = statement.compile(dialect=conn.dialect)
                values = compiled.construct_params(params)
                args = []
                for name in compiled.positiontup or ():
                    process = compiled.binds[name].type.bind_processor(conn.dialect)
                    args.append(process(values[name]) if process else values[name])
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(args))
                return "\n".join(str(row[-1]) for row in rows)

            params = {**window.params(), "limit": 100, "offset": 0}
            for search in ("g", "Gar"):
                walk = plan(rq._page_rows(rq._search_condition(segment, search, walk=True)), params)
                chosen = walk.split("SCAN page")[0]
                assert "INDEX ix_implanted_pumps_refill_worklist" in chosen, walk
                assert "TEMP B-TREE" not in chosen, walk
                drive = plan(
                    rq._page_rows(rq._search_condition(segment, search, walk=False)), params
                )
                assert "INDEX ix_implanted_pumps_episode_id" in drive, drive
                assert "ix_implanted_pumps_refill_worklist" not in drive, drive
    finally:
        database.close()
