"""Benchmarks of issue 9: is the app still instant at 100,000 episodes?

    python bench/run.py [--sizes 1000,10000,100000] [--data /tmp/pathway-bench]

Generates each synthetic clinic once into the data folder (kept for the next run; never in the
repository), then prints one line per figure:

    name: value unit (baseline: value unit, ratio: x)

Every baseline is measured in the same run. Not part of the test suite. See bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
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


def startup(db: Path | None) -> tuple[float, int, int]:
    args = [sys.executable, str(ROOT / "bench" / "_startup.py")]
    args += ["bare"] if db is None else ["app", str(db), NOW_TEXT]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    _, seconds, peak, rows = out.split()
    return float(seconds) * 1000, int(peak), int(rows)


def bench_startup(size: int, db: Path) -> None:
    runs = [startup(db) for _ in range(min(3, REPEAT[0]))]
    bare = [startup(None) for _ in range(min(3, REPEAT[0]))]
    app_ms = statistics.median(r[0] for r in runs)
    bare_ms = statistics.median(r[0] for r in bare)
    line(f"startup[{size}] to painted refill worklist", app_ms, "ms", bare_ms)
    line(
        f"peak_memory[{size}] worklist open",
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
    from sqlalchemy import func, select

    from pathway_app.services.refill_views import refill_worklist
    from pathway_app.storage import refill_queries as rq

    raw = sqlite3.connect(db)
    params = raw_params()
    due = (DUE_ONLY, DUE_ONLY)

    def raw_first() -> None:
        raw.execute(RAW_REFILL.format(extra=due[0]) + " LIMIT 100", params).fetchall()
        raw.execute(RAW_COUNT.format(extra=due[1]), params).fetchone()

    def app_first() -> None:
        query = rq.refill_worklist_query(now=NOW, today=NOW.date(), due_within_days=DUE_WITHIN_DAYS)
        level = rq.refill_level(NOW, NOW.date(), DUE_WITHIN_DAYS)
        query = query.where(level <= rq.LEVEL_DUE_SOON)
        with ctx.db.reading() as session:
            rq.refill_worklist(session, query.limit(100))
            session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))

    def raw_full() -> None:
        raw.execute(RAW_REFILL.format(extra=""), params).fetchall()

    line(f"refill_query[{size}] first 100 + count", best(app_first), "ms", best(raw_first))
    line(
        f"refill_worklist[{size}] full ordered result (service, as the UI loads it)",
        best(lambda: refill_worklist(ctx), 3),
        "ms",
        best(raw_full, 3),
    )
    raw.close()


def bench_ui(size: int, ctx: Any, db: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(ctx)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    panel = window.worklist
    raw = sqlite3.connect(db)
    # Search: the panel debounces keystrokes, then reloads on the GUI thread; that reload is
    # how long the event loop is blocked after the last keystroke.
    text = raw.execute("SELECT family_name FROM patients ORDER BY id LIMIT 1").fetchone()[0][:3]

    def search() -> None:
        panel.search.setText(text)
        panel.reload()
        app.processEvents()

    def clear() -> None:
        panel.search.setText("")

    timings = []
    for _ in range(min(3, REPEAT[0])):
        clear()
        panel.reload()
        started = time.perf_counter()
        search()
        timings.append((time.perf_counter() - started) * 1000)
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

    line(
        f"search[{size}] '{text}' filtered worklist shown (GUI thread blocked)",
        statistics.median(timings),
        "ms",
        best(raw_search, 3),
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
