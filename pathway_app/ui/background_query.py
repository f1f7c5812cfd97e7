"""Queries run off the GUI thread for the worklist panels (issue 9), newest answer wins.

At 100,000 episodes a worklist's count and first page take tens of milliseconds (some header
sorts, hundreds): more than a frame. A panel hands such a read to its `BackgroundQuery`; the
read runs on a pool thread with its own session (the engine's pool gives each thread its own
connection) and only the answer of the newest query comes back, on the GUI thread, through
`finished` -- older answers are stale and dropped.

Automation: a panel is `busy` from the moment a query starts until its answer has been shown;
`EpisodeTablePanel.wait_until_idle()` and the panel's ``rows_loaded`` signal let a script or a
test read the rows only once they are there (see docs/automation.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QEventLoop,
    QObject,
    QRunnable,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)

# A search starts at the next turn of the event loop (keys queued together, as from a paste or
# automation, make one search); a newer search makes older answers stale. Whatever its length:
# one or two characters read a word-prefix index since migration 0009 (a few ms at 100,000
# patients), so they no longer wait for a pause in the typing.
SEARCH_DELAY_MS = 0


def search_delay_ms(text: str) -> int:
    """How long after a keystroke the search for ``text`` starts."""
    return SEARCH_DELAY_MS


class _JobSignals(QObject):
    done = Signal(object)  # the finished _Job


class _Job(QRunnable):
    """One query, run on a pool thread; its answer or its error goes back to the GUI thread."""

    def __init__(self, query: Callable[[], Any], generation: int) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the BackgroundQuery keeps it until its answer is handled
        self.query = query
        self.generation = generation
        self.result: Any = None
        self.error: Exception | None = None
        # Made on the GUI thread, so `done` is delivered there (a queued connection).
        self.signals = _JobSignals()

    def run(self) -> None:
        try:
            self.result = self.query()
        except Exception as exc:  # handed to the GUI thread, which reports it
            self.error = exc
        self.signals.done.emit(self)


class BackgroundQuery(QObject):
    """Runs a panel's queries on worker threads; only the newest one's answer is delivered.

    - `start(query)`: run ``query()`` (no Qt objects, its own session) on a pool thread now.
    - `schedule(prepare, delay_ms)`: after ``delay_ms`` (restarted by each call) call
      ``prepare()`` on the GUI thread -- it reads the widgets -- and start the query it
      returns. For typing: one query per pause, not per key.
    - `cancel()`: every query started or scheduled so far is stale (e.g. before a synchronous
      reload that shows newer rows itself).
    - ``finished(result)`` / ``failed(exception)``: the newest query's answer, on the GUI thread.
    - `busy` / ``busy_changed(bool)``: a query is scheduled or running whose answer is wanted.
    """

    finished = Signal(object)
    failed = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._busy = False
        self._pool = QThreadPool(self)
        # A stale query may still be finishing on one thread when the newest starts.
        self._pool.setMaxThreadCount(3)
        self._pending: set[_Job] = set()
        self._prepare: Callable[[], Callable[[], Any]] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start_prepared)

    @property
    def busy(self) -> bool:
        return self._busy

    def start(self, query: Callable[[], Any]) -> None:
        self._timer.stop()
        self._generation += 1
        # Queries still queued are stale: take them back unstarted (a running one finishes
        # and is kept until its answer arrives, then ignored).
        self._pending = {job for job in self._pending if not self._pool.tryTake(job)}
        job = _Job(query, self._generation)
        job.signals.done.connect(self._done)
        self._pending.add(job)
        self._set_busy(True)
        self._pool.start(job)

    def schedule(self, prepare: Callable[[], Callable[[], Any]], delay_ms: int = 0) -> None:
        self._generation += 1  # whatever runs now is already stale
        self._prepare = prepare
        self._set_busy(True)
        self._timer.start(delay_ms)

    def cancel(self) -> None:
        self._timer.stop()
        self._prepare = None
        self._generation += 1
        self._set_busy(False)

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Run the event loop until no query is wanted (its answer shown) or the timeout;
        True when idle. For automation without qtbot; the GUI itself never waits."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self._busy and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
            if self._busy and not self._pending and not self._timer.isActive():
                time.sleep(0.001)  # the answer is on its way through the event queue
        return not self._busy

    @Slot()
    def _start_prepared(self) -> None:
        prepare, self._prepare = self._prepare, None
        if prepare is not None:
            self.start(prepare())

    @Slot(object)
    def _done(self, job: _Job) -> None:
        self._pending.discard(job)
        if job.generation != self._generation:
            return  # something newer was asked for meanwhile
        # The answer is shown first, then the panel stops being busy: whoever waits for
        # `busy` to clear can read the rows at once.
        if job.error is not None:
            self.failed.emit(job.error)
        else:
            self.finished.emit(job.result)
        if job.generation == self._generation:  # the handler asked for nothing newer
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
