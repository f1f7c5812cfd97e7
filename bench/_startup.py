"""Child process of bench/run.py: start, show a window, report when its first rows are painted.

    python bench/_startup.py app DB NOW  the app's own start-up (`ui.startup.Start`) on DB,
                                         signing in as the bench user (`--user` automation)
    python bench/_startup.py bare        a bare window with an empty QTableView

Prints one line: ``ready <s to painted rows> <peak RSS KiB> <rows> <s to complete>``, times
since process start; "complete" is when every screen works (`MainWindow.ready`; for the bare
window the same as painted), and the peak RSS is read then.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-not-secret"


def _since_start() -> float:
    # Process start time from /proc (Linux), so interpreter start-up and imports count.
    with open(f"/proc/{os.getpid()}/stat") as handle:
        start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as handle:
        uptime = float(handle.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def _peak_rss_kib() -> int:
    # VmHWM, this process image's own high-water mark. Not getrusage's ru_maxrss: after the
    # fork and exec that start this child, Linux keeps the larger of the parent's and the
    # child's peaks there, so a bare window started by a big benchmark process looked as big
    # as the benchmark (stop 12 reported the bare window at 156 MiB; it is about 60).
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    if sys.argv[1] == "bare":
        from PySide6.QtWidgets import QApplication, QMainWindow, QTableView

        app = QApplication(sys.argv[:1])
        window = QMainWindow()
        table = QTableView()
        window.setCentralWidget(table)
        window.resize(1560, 900)  # the main window's default size
        window.show()
        app.processEvents()
        table.viewport().repaint()  # as the app paints its first rows
        rows = 0
        painted = _since_start()
    else:
        from datetime import UTC, datetime

        from pathway_app.app import AppOptions, start_app

        now = datetime.fromisoformat(sys.argv[3]).replace(tzinfo=UTC)
        options = AppOptions(
            database=sys.argv[2],
            now=now,
            actor=BENCH_USER,
            user=BENCH_USER,
            password=BENCH_PASSWORD,
        )
        # As `pathway-app --db DB --user bench` starts, without the settings file (no backups).
        app, start, failure = start_app(options, use_settings=False)
        if failure is not None or start.window is None:
            raise SystemExit("the app did not start")
        window = start.window
        table = window.refill_worklist.table
        rows = table.model().rowCount()
        # Painted inside start_app, before the rest of the app loads on a thread.
        assert start.painted_at is not None
        painted = _since_start() - (time.perf_counter() - start.painted_at)
    elapsed = painted
    complete = elapsed
    if sys.argv[1] != "bare":
        if not window.wait_until_ready(120_000):
            raise SystemExit("the app did not complete its start")
        complete = _since_start()
    peak = _peak_rss_kib()
    print(f"ready {elapsed:.4f} {peak} {rows} {complete:.4f}", flush=True)
    if sys.argv[1] != "bare":
        start.close()


if __name__ == "__main__":
    main()
