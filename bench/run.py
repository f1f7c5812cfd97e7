"""Benchmarks of issue 9: is the app still instant at 100,000 episodes?

    python bench/run.py [--sizes 1000,10000,100000] [--data /tmp/pathway-bench]

Generates each synthetic clinic once into the data folder (kept for the next run; never in the
repository), then prints one line per figure:

    name: value unit (baseline: value unit, ratio: x)

Every baseline is measured in the same run. Not part of the test suite. See bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NOW_TEXT = "2026-11-26T10:00"
DUE_WITHIN_DAYS = 14


def line(name: str, value: float, unit: str, base: float, base_unit: str | None = None) -> None:
    ratio = value / base if base else float("inf")
    baseline = f"{base:.1f} {base_unit or unit}"
    print(f"{name}: {value:.1f} {unit} (baseline: {baseline}, ratio: {ratio:.2f})", flush=True)


REPEAT = [5]  # --quick sets 1


def best(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(min(repeat, REPEAT[0])):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def clinic(data: Path, size: int) -> Path:
    from pathway_app.app import load_configuration
    from pathway_app.services.synthetic import generate_clinic

    path = data / f"clinic-{size}.sqlite3"
    if not path.exists():
        template, catalogue = load_configuration()
        started = time.perf_counter()
        report = generate_clinic(
            path, episodes=size, template=template, catalogue=catalogue, now=NOW
        )
        seconds = time.perf_counter() - started
        print(
            f"generate[{size}]: {seconds:.1f} s (baseline: 600.0 s target, ratio: "
            f"{seconds / 600:.2f}) [{report.audit_entries} audit entries, "
            f"prototype {report.seconds_prototype:.1f} s, copy {report.seconds_copy:.1f} s]",
            flush=True,
        )
    return path


def startup(db: Path | None) -> tuple[float, int, int, float]:
    args = [sys.executable, str(ROOT / "bench" / "_startup.py")]
    args += ["bare"] if db is None else ["app", str(db), NOW_TEXT]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    _, seconds, peak, rows, complete = out.split()
    return float(seconds) * 1000, int(peak), int(rows), float(complete) * 1000


def ensure_bench_user(db: Path) -> None:
    """The start-up child signs in as automation does (``--user`` with a password), as a
    coordinator (an administrator could not record the missed follow-ups the window sweeps)."""
    from bench._startup import BENCH_PASSWORD, BENCH_USER
    from pathway_app.app import load_configuration
    from pathway_app.domain.clock import FixedClock
    from pathway_app.domain.users import Role, UserDraft
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.users import create_first_administrator, create_user, has_users
    from pathway_app.storage.database import open_database

    database = open_database(str(db))
    try:
        if not has_users(database):
            clock = FixedClock(NOW)
            admin_draft = UserDraft("bench-admin", "", Role.ADMINISTRATOR.value, BENCH_PASSWORD)
            admin = create_first_administrator(database, clock, admin_draft)
            ctx = ServiceContext(
                database,
                *load_configuration(),
                clock,
                admin.username,
                role=admin.role,
                user_id=admin.user_id,
            )
            draft = UserDraft(BENCH_USER, "Benchmark", Role.COORDINATOR.value, BENCH_PASSWORD)
            create_user(ctx, draft)
    finally:
        database.close()


STARTUP_RUNS = 7


def bench_startup(size: int, db: Path) -> None:
    ensure_bench_user(db)
    # Interleaved, so a busier moment of the machine weighs on both; seven of each, because a
    # start-up of a few hundred ms varies by tens of ms from run to run on this machine.
    runs, bare = [], []
    for _ in range(STARTUP_RUNS if REPEAT[0] > 1 else 1):
        runs.append(startup(db))
        bare.append(startup(None))
    app_ms = statistics.median(r[0] for r in runs)
    bare_ms = statistics.median(r[0] for r in bare)
    line(f"startup[{size}] to painted refill worklist", app_ms, "ms", bare_ms)
    line(
        f"startup_complete[{size}] until every screen works",
        statistics.median(r[3] for r in runs),
        "ms",
        bare_ms,
    )
    line(
        f"peak_memory[{size}] worklist open, every screen built",
        max(r[1] for r in runs) / 1024,
        "MiB",
        max(r[1] for r in bare) / 1024,
    )


RAW_REFILL = """
SELECT p.*, pa.*,
  CASE WHEN p.urgent_at <= :now THEN 0 WHEN p.refill_due_on < :today THEN 1
       WHEN p.refill_due_on <= :soon THEN 2 ELSE 3 END AS level
FROM implanted_pumps p
JOIN episodes e ON p.episode_id = e.id
JOIN patients pa ON e.patient_id = pa.id
WHERE p.removed_at IS NULL AND p.refill_due_at IS NOT NULL AND e.status = 'open' {extra}
ORDER BY level, p.dangerous_withdrawal DESC, p.refill_due_at, pa.family_name, p.id
"""
RAW_COUNT = """
SELECT count(*) FROM implanted_pumps p JOIN episodes e ON p.episode_id = e.id
WHERE p.removed_at IS NULL AND p.refill_due_at IS NOT NULL AND e.status = 'open' {extra}
"""
DUE_ONLY = "AND (p.urgent_at <= :now OR p.refill_due_on <= :soon)"


def raw_params() -> dict[str, str]:
    today = NOW.date()
    return {
        "now": NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
        "today": today.isoformat(),
        "soon": (today + timedelta(days=DUE_WITHIN_DAYS)).isoformat(),
    }


def bench_queries(size: int, ctx: Any, db: Path) -> None:
    """The refill worklist as the UI reads it (issue 9): one count and the first page, and the
    full ordered result, through the app's service vs hand-written SQL on plain ``sqlite3``
    doing the same (the same level-by-level index ranges and columns; the old ``CASE`` query is
    printed too, for the record)."""
    from pathway_app.services.refill_views import RefillLevel, refill_worklist_pages

    raw = sqlite3.connect(db)
    params = raw_params()
    first_levels = (RefillLevel.URGENT, RefillLevel.OVERDUE, RefillLevel.DUE_SOON)
    base = "p.episode_open = 1 AND p.removed_at IS NULL AND p.dangerous_withdrawal = {d}"
    not_urgent = "(p.urgent_at > :now OR p.urgent_at IS NULL)"
    levels = [
        "p.urgent_at <= :now AND p.refill_due_on IS NOT NULL",
        f"p.refill_due_on < :today AND {not_urgent}",
        f"p.refill_due_on >= :today AND p.refill_due_on <= :soon AND {not_urgent}",
        f"p.refill_due_on > :soon AND {not_urgent}",
    ]
    segments = [f"{base.format(d=d)} AND {level}" for level in levels for d in (1, 0)]
    columns = (
        "p.id, p.episode_id, pa.id, pa.family_name, pa.given_name, pa.mrn, p.drug_name, "
        "p.dangerous_withdrawal, p.concentration, p.concentration_unit, p.daily_dose, "
        "p.dose_unit, p.model_name, p.last_fill_at, p.refill_due_at, p.refill_due_on, "
        "p.empty_by_worst_at, p.projection_unverified, p.patient_family_name"
    )
    order = "p.refill_due_on, p.refill_due_at, p.patient_family_name, p.id"
    join = "JOIN episodes e ON p.episode_id = e.id JOIN patients pa ON e.patient_id = pa.id"
    # A page: its ids from the index, then those rows (the app does the same).
    page_sql = (
        f"SELECT {columns} FROM implanted_pumps p JOIN (SELECT id FROM implanted_pumps p "
        f"WHERE {{where}} ORDER BY {order} LIMIT {{limit}}) page ON page.id = p.id {join} "
        f"ORDER BY {order}"
    )
    rows_sql = f"SELECT {columns} FROM implanted_pumps p {join} WHERE {{where}} ORDER BY {order}"
    count_sql = "SELECT " + ", ".join(
        f"(SELECT count(*) FROM implanted_pumps p WHERE {where})" for where in segments[:6]
    )

    def raw_first() -> None:
        counts = raw.execute(count_sql, params).fetchone()
        rows: list[Any] = []
        for where, n in zip(segments, counts, strict=False):
            if len(rows) >= 100:
                break
            if n:
                sql = page_sql.format(where=where, limit=100 - len(rows))
                rows += raw.execute(sql, params).fetchall()

    def app_first() -> None:
        pages = refill_worklist_pages(
            ctx, due_within_days=DUE_WITHIN_DAYS, levels=first_levels, first_page=100
        )
        pages.count()  # the count and the first page, in one read transaction
        pages.fetch(0, 100)

    def raw_full() -> None:
        for where in segments:
            raw.execute(rows_sql.format(where=where), params).fetchall()

    def app_full() -> None:
        refill_worklist_pages(ctx, due_within_days=DUE_WITHIN_DAYS).all()

    def raw_case_first() -> None:
        raw.execute(RAW_REFILL.format(extra=DUE_ONLY) + " LIMIT 100", params).fetchall()
        raw.execute(RAW_COUNT.format(extra=DUE_ONLY), params).fetchone()

    app_first()  # the first read warms SQLAlchemy's statement cache, as the app's start-up does
    line(f"refill_query[{size}] first 100 + count", best(app_first), "ms", best(raw_first))
    line(
        f"refill_worklist[{size}] full ordered result (service)",
        best(app_full, 3),
        "ms",
        best(raw_full, 3),
    )
    line(
        f"refill_query_case[{size}] first 100 + count (service vs the old CASE query, raw)",
        best(app_first),
        "ms",
        best(raw_case_first, 3),
    )
    raw.close()


KEYSTROKE_INTERVAL_S = 0.15  # a quick typist: about seven characters a second


def bench_ui(size: int, ctx: Any, db: Path) -> None:
    """Typing into the pathway worklist's search, and opening the longest episode.

    Search: "Gar" is typed a key at a time (QTest key clicks, 150 ms apart) while the event
    loop runs; every key click and every `processEvents` call is timed, and the longest is the
    worst time the event loop was blocked (target 16 ms). After the last key the loop runs until
    the panel shows the first page and count for "Gar" (target 100 ms); then the same for "G"
    and "Ga" (one and two characters match the start of a word, from their own index). The
    same two figures for a status filter change, a header sort and the refill worklist's search
    ("G", "Ga", then "Gar"), and one further page at row 20,000. Baseline: a plain
    ``LIKE '%Gar%'`` over the patients with the urgency ordering through ``sqlite3``."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(ctx)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    panel = window.worklist
    raw = sqlite3.connect(db)
    text = raw.execute("SELECT family_name FROM patients ORDER BY id LIMIT 1").fetchone()[0][:3]
    shown: list[tuple[float, str]] = []  # when the panel showed rows, and for which search
    panel.rows_loaded.connect(
        lambda _total: shown.append((time.perf_counter(), panel.shown_filter.search))
    )

    def settle(seconds: float, blocks: list[float]) -> None:
        """Run the event loop for `seconds`, timing each pass."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            app.processEvents()
            blocks.append((time.perf_counter() - started) * 1000)
            time.sleep(0.0005)

    def type_search(typed: str = text) -> tuple[float, float]:
        panel.search.clear()
        panel.reload()
        settle(0.3, [])
        blocks: list[float] = []
        for char in typed:
            started = time.perf_counter()
            QTest.keyClick(panel.search, char)
            blocks.append((time.perf_counter() - started) * 1000)
            last_key = time.perf_counter()
            settle(KEYSTROKE_INTERVAL_S, blocks)
        # Until the panel shows the rows of the whole text (or 5 s).
        while panel.shown_filter.search != typed and time.perf_counter() - last_key < 5:
            settle(0.001, blocks)
        done = [at for at, search in shown if search == typed and at >= last_key]
        latency = ((done[0] if done else time.perf_counter()) - last_key) * 1000
        shown.clear()
        return max(blocks), latency

    runs = [type_search() for _ in range(min(3, REPEAT[0]))]
    pattern = f"%{text}%"
    params = {**raw_params(), "p": pattern}

    def raw_search() -> None:
        raw.execute(
            "SELECT e.*, pa.* FROM episodes e JOIN patients pa ON e.patient_id = pa.id "
            "WHERE e.status = 'open' AND (pa.family_name LIKE :p OR pa.given_name LIKE :p "
            "OR pa.mrn LIKE :p) ORDER BY e.urgent_since IS NULL, e.attention_due_on IS NULL, "
            "e.attention_due_on, pa.family_name, e.id",
            params,
        ).fetchall()

    raw_ms = best(raw_search, 3)
    line(
        f"search_block[{size}] '{text}' typed: worst event-loop block",
        statistics.median(r[0] for r in runs),
        "ms",
        raw_ms,
    )
    line(
        f"search[{size}] '{text}' last keystroke to first page + count shown",
        statistics.median(r[1] for r in runs),
        "ms",
        raw_ms,
    )
    # One and two characters (a word-prefix index since migration 0009, no typing pause).
    for typed in (text[:1], text[:2]):
        short = [type_search(typed) for _ in range(min(3, REPEAT[0]))]
        line(
            f"search_block[{size}] '{typed}' typed: worst event-loop block",
            statistics.median(r[0] for r in short),
            "ms",
            raw_ms,
        )
        line(
            f"search[{size}] '{typed}' last keystroke to first page + count shown",
            statistics.median(r[1] for r in short),
            "ms",
            raw_ms,
        )

    def after_action(target: Any, action: Callable[[], None]) -> tuple[float, float]:
        """Worst event-loop block while `action` runs and the loop turns until `target` (a
        worklist panel) shows its rows, and the time until then (5 s at most)."""
        target.wait_until_idle()
        settle(0.1, [])
        done: list[float] = []

        def loaded(_total: int) -> None:
            done.append(time.perf_counter())

        target.rows_loaded.connect(loaded)
        blocks: list[float] = []
        started = time.perf_counter()
        action()
        blocks.append((time.perf_counter() - started) * 1000)
        while not done and time.perf_counter() - started < 5:
            settle(0.001, blocks)
        target.rows_loaded.disconnect(loaded)
        return max(blocks), ((done[0] if done else time.perf_counter()) - started) * 1000

    # A filter change and a header click read on the worker thread too (issue 9).
    status_combo = panel.status_filter
    for label, index in (("status filter 'Overdue'", 1), ("status filter 'All'", 0)):
        block, latency = after_action(panel, lambda i=index: status_combo.setCurrentIndex(i))
        line(f"filter_block[{size}] {label}: worst event-loop block", block, "ms", raw_ms)
        line(f"filter[{size}] {label}: rows + count shown", latency, "ms", raw_ms)
    for label, column, order in (
        ("sort by MRN", 1, Qt.SortOrder.AscendingOrder),
        ("sort by urgency", 6, Qt.SortOrder.AscendingOrder),
    ):
        block, latency = after_action(
            panel, lambda c=column, o=order: panel.table.sortByColumn(c, o)
        )
        line(f"sort_block[{size}] {label}: worst event-loop block", block, "ms", raw_ms)
        line(f"sort[{size}] {label}: first page + count shown", latency, "ms", raw_ms)
    # Deep scrolling: the page after row 20,000 (each page continues after the last row read).
    panel.model.load_through(20_000 - 1)
    gc.collect()  # the collection owed to the 20,000 rows just read is not the next page's
    started = time.perf_counter()
    panel.model.fetchMore()
    line(
        f"scroll[{size}] one more page at row 20,000",
        (time.perf_counter() - started) * 1000,
        "ms",
        raw_ms,
    )
    # The refill worklist's search: one and two characters (the word-prefix index), then three.
    refills = window.refill_worklist
    for typed in (text[:1], text[:2], text):

        def type_refill(typed: str = typed) -> None:
            for char in typed:
                QTest.keyClick(refills.search, char)

        refills.search.clear()
        refills.reload()
        block, latency = after_action(refills, type_refill)
        line(f"refill_search_block[{size}] '{typed}': worst event-loop block", block, "ms", raw_ms)
        line(f"refill_search[{size}] '{typed}': typing to rows shown", latency, "ms", raw_ms)
    panel.search.clear()
    started = time.perf_counter()
    panel.reload()
    app.processEvents()
    line(
        f"worklist_reload[{size}] first page + count",
        (time.perf_counter() - started) * 1000,
        "ms",
        raw_ms,
    )
    # Open the episode with the longest refill history.
    busiest, fewest = raw.execute(
        "SELECT (SELECT episode_id FROM fills GROUP BY episode_id ORDER BY count(*) DESC, "
        "episode_id LIMIT 1), (SELECT id FROM episodes ORDER BY id LIMIT 1)"
    ).fetchone()
    fills = raw.execute("SELECT count(*) FROM fills WHERE episode_id = ?", (busiest,)).fetchone()

    def open_episode(episode_id: int) -> Callable[[], None]:
        def run() -> None:
            window.open_episode(episode_id)
            app.processEvents()

        return run

    line(
        f"open_episode[{size}] {fills[0]} fills",
        best(open_episode(busiest), 3),
        "ms",
        best(open_episode(fewest), 3),
    )
    window.close()
    raw.close()


def bench_refill(size: int, db: Path, configuration: Any) -> None:
    from pathway_app.domain.clock import FixedClock
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.demo import _fill_draft
    from pathway_app.services.refills import preview_refill, record_refill
    from pathway_app.storage.database import open_database

    copy = db.with_name(f"refill-{db.name}")
    shutil.copyfile(db, copy)
    try:
        database = open_database(str(copy))
        template, catalogue = configuration
        ctx = ServiceContext(database, template, catalogue, FixedClock(NOW), "bench")
        raw = sqlite3.connect(copy)
        rows = raw.execute(
            "SELECT p.episode_id, p.reservoir_ml, p.concentration, p.drug_key "
            "FROM implanted_pumps p JOIN episodes e ON e.id = p.episode_id "
            "WHERE e.status = 'open' AND p.last_fill_at < ? ORDER BY p.id LIMIT 5",
            ((NOW - timedelta(days=21)).replace(tzinfo=None).isoformat(sep=" "),),
        ).fetchall()
        raw.close()
        rng = random.Random(1)
        timings = []
        for episode_id, reservoir, concentration, drug_key in rows:
            drug = catalogue.drug(drug_key)
            draft = _fill_draft(drug, NOW - timedelta(hours=1), reservoir, concentration, rng)
            preview = preview_refill(ctx, episode_id, replace(draft, aspirated_ml=0.0))
            expected = preview.expected_residual_ml or 0.0
            draft = replace(draft, aspirated_ml=round(expected, 1))
            started = time.perf_counter()
            record_refill(ctx, episode_id, draft)
            timings.append((time.perf_counter() - started) * 1000)

        def bare_write() -> None:
            with database.writing() as session:
                session.execute(__import__("sqlalchemy").text("SELECT 1"))

        line(
            f"record_refill[{size}]",
            statistics.median(timings),
            "ms",
            best(bare_write),
        )
        database.close()
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--data", type=Path, default=Path("/tmp/pathway-bench"))
    parser.add_argument("--skip", default="", help="comma list of: startup,query,ui,refill")
    parser.add_argument("--quick", action="store_true", help="one run per figure, not 3-5")
    args = parser.parse_args()
    if args.quick:
        REPEAT[0] = 1
    os.environ["TZ"] = "UTC"
    time.tzset()
    args.data.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    from pathway_app.app import load_configuration
    from pathway_app.domain.clock import FixedClock
    from pathway_app.services.context import ServiceContext
    from pathway_app.storage.database import open_database

    configuration = load_configuration()
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        db = clinic(args.data, size)
        if "startup" not in skip:
            bench_startup(size, db)
        database = open_database(str(db))
        ctx = ServiceContext(database, *configuration, FixedClock(NOW), "bench")
        if "query" not in skip:
            bench_queries(size, ctx, db)
        if "ui" not in skip:
            bench_ui(size, ctx, db)
        database.close()
        if "refill" not in skip:
            bench_refill(size, db, configuration)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of the Qt objects
