"""Child process of bench/run.py: start, show a window, report when its first rows are painted.

    python bench/_startup.py app DB     the real main window on DB (worklists loaded)
    python bench/_startup.py bare       a bare window with an empty QTableView

Prints one line: ``ready <seconds since process start> <peak RSS KiB> <rows>``.
"""

from __future__ import annotations

import os
import resource
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _since_start() -> float:
    # Process start time from /proc (Linux), so interpreter start-up and imports count.
    with open(f"/proc/{os.getpid()}/stat") as handle:
        start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as handle:
        uptime = float(handle.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from PySide6.QtWidgets import QApplication, QMainWindow, QTableView

    app = QApplication(sys.argv[:1])
    if sys.argv[1] == "bare":
        window = QMainWindow()
        table = QTableView()
        window.setCentralWidget(table)
        rows = 0
    else:
        from datetime import UTC, datetime

        from pathway_app.app import load_configuration
        from pathway_app.domain.clock import FixedClock
        from pathway_app.services.context import ServiceContext
        from pathway_app.storage.database import open_database
        from pathway_app.ui.main_window import MainWindow

        template, catalogue = load_configuration()
        now = datetime.fromisoformat(sys.argv[3]).replace(tzinfo=UTC)
        database = open_database(sys.argv[2])
        ctx = ServiceContext(database, template, catalogue, FixedClock(now), "bench")
        window = MainWindow(ctx)
        table = window.refill_worklist.table
        rows = 0
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    table.viewport().grab()  # paint the visible rows
    if table.model() is not None:
        rows = table.model().rowCount()
    elapsed = _since_start()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ready {elapsed:.4f} {peak} {rows}", flush=True)
    time.sleep(0)


if __name__ == "__main__":
    main()
