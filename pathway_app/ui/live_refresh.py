"""Issue 7: changes made on other workstations appear by themselves.

`LiveRefresh` watches the database's change feed (`storage/change_feed.py`):

- PostgreSQL: a `QSocketNotifier` on the listening connection's socket; the event loop wakes us
  only when the server sends something (no polling).
- SQLite: a timer polls ``PRAGMA data_version`` (a cheap read of a counter) every ~2 s.
- Neither available: a periodic refresh, every `$PATHWAY_REFRESH_SECONDS` (default 30 s).

A change starts a short debounce, so a burst of commits is one refresh; the refresh reloads the
worklists (their `reload()` keeps the selection) and the open episode, the latter only when no
modal dialog is open and nothing typed on its pages is unsaved (`EpisodeEdits`); else as soon as
that is over, so nothing moves under the user's dialog and no entry is overwritten.
A lost connection, whichever call ran into it, shows the `ConnectionBanner`; when the banner
finds the database again the listener is reopened and the window refreshed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSocketNotifier, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QBoxLayout,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from pathway_app.domain.errors import ConnectionLost, DomainError
from pathway_app.services.context import ServiceContext
from pathway_app.storage import change_feed
from pathway_app.ui.connection_banner import DEFAULT_RETRY_SECONDS, ConnectionBanner
from pathway_app.ui.episode_view import EpisodeViewWidget

if TYPE_CHECKING:
    from pathway_app.ui.main_window import MainWindow

REFRESH_SECONDS_ENV = "PATHWAY_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 30
DEFAULT_POLL_MS = 2000
DEFAULT_DEBOUNCE_MS = 300
# How often to look again whether the modal dialog that held back an episode reload has closed.
MODAL_RECHECK_MS = 250


class Mode(StrEnum):
    NOTIFY = "notify"  # PostgreSQL LISTEN/NOTIFY
    POLL = "poll"  # SQLite data_version
    PERIODIC = "periodic"  # no change feed: refresh on a timer


def fallback_refresh_ms() -> int:
    """The periodic refresh interval when notifications are unavailable (env override)."""
    raw = os.environ.get(REFRESH_SECONDS_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_REFRESH_SECONDS
    except ValueError:
        seconds = DEFAULT_REFRESH_SECONDS
    return max(100, int(seconds * 1000))


class LiveRefresh(QObject):
    """Calls `refresh_lists()` and `refresh_episode()` when someone else changed the data.

    Args:
        ctx: the window's services context (its database is watched).
        banner: shown when the connection is lost.
        refresh_lists: reloads the worklists; may raise `StorageError`.
        refresh_episode: reloads the open episode; called only with no modal dialog open and
            while `episode_busy()` is False (the user has typed something not yet saved).
        poll_ms, debounce_ms, fallback_ms: timings (tests make them short).
    """

    refreshed = Signal()
    unavailable = Signal(str)  # why notifications are off (shown in the status bar)
    _lost_reported = Signal()

    def __init__(
        self,
        ctx: ServiceContext,
        banner: ConnectionBanner,
        refresh_lists: Callable[[], None],
        refresh_episode: Callable[[], None],
        *,
        episode_busy: Callable[[], bool] = lambda: False,
        poll_ms: int = DEFAULT_POLL_MS,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        fallback_ms: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = ctx.db.engine
        self.banner = banner
        self._refresh_lists = refresh_lists
        self._refresh_episode = refresh_episode
        self._episode_busy = episode_busy
        self.edits: EpisodeEdits | None = None  # set by `attach`
        self._listener: change_feed.ChangeListener | None = None
        self._notifier: QSocketNotifier | None = None
        self._episode_pending = False
        self._stopped = False
        self.mode: Mode | None = None

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self.refresh_now)
        self._poll = QTimer(self)
        self._poll.setInterval(poll_ms)
        self._poll.timeout.connect(self._drain)
        self._periodic = QTimer(self)
        self._periodic.setInterval(
            fallback_ms if fallback_ms is not None else fallback_refresh_ms()
        )
        self._periodic.timeout.connect(self.refresh_now)
        self._modal_check = QTimer(self)
        self._modal_check.setSingleShot(True)
        self._modal_check.setInterval(MODAL_RECHECK_MS)
        self._modal_check.timeout.connect(self._reload_episode_when_free)

        banner.restored.connect(self._on_restored)
        # Reported from inside the failing database call, possibly on the banner's ping thread:
        # only queue the banner from there.
        self._lost_reported.connect(self._on_lost, Qt.ConnectionType.QueuedConnection)
        self._unregister = change_feed.on_connection_lost(self._engine, self._report_lost)

    def _report_lost(self) -> None:
        with contextlib.suppress(RuntimeError):  # the window is already gone
            self._lost_reported.emit()

    def start(self) -> None:
        """Open the listener (or fall back to the periodic refresh)."""
        if self._stopped:
            return
        try:
            listener = change_feed.open_listener(self._engine)
        except change_feed.NotificationsUnavailable as exc:
            self.mode = Mode.PERIODIC
            self._periodic.start()
            self.unavailable.emit(str(exc))
            return
        self._listener = listener
        self._periodic.stop()
        fileno = listener.fileno()
        if fileno is None:
            self.mode = Mode.POLL
            self._poll.start()
            return
        self.mode = Mode.NOTIFY
        self._notifier = QSocketNotifier(fileno, QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def stop(self) -> None:
        """Close the listener and stop every timer (the window is closing)."""
        self._stopped = True
        self._unregister()
        for timer in (self._debounce, self._poll, self._periodic, self._modal_check):
            timer.stop()
        self._close_listener()
        self.banner.stop()

    def _close_listener(self) -> None:
        self._poll.stop()
        if self._notifier is not None:
            # Disabled first: a closed socket stays "readable" and would spin the event loop.
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    @Slot()
    def _drain(self) -> None:
        if self._listener is None:
            return
        try:
            changed = self._listener.drain()
        except change_feed.ListenerLost:
            self._close_listener()
            self._on_lost()
            return
        if changed:
            self._debounce.start()

    @Slot()
    def _on_lost(self) -> None:
        if not self._stopped:
            self.banner.report_lost()

    @Slot()
    def _on_restored(self) -> None:
        if self._stopped:
            return
        if self._listener is None and self.mode is not Mode.PERIODIC:
            self.start()
        # Whatever changed while we were cut off is fetched now.
        self.refresh_now()

    @Slot()
    def refresh_now(self) -> None:
        """Reload the worklists now, and the episode as soon as no dialog is open."""
        self._debounce.stop()
        if self._stopped or self.banner.is_lost:
            return  # the banner refreshes once the connection is back
        try:
            self._refresh_lists()
        except ConnectionLost:
            self._on_lost()
            return
        except DomainError:
            return  # busy for a moment: the next change or tick tries again
        self._episode_pending = True
        self._reload_episode_when_free()
        self.refreshed.emit()

    @Slot()
    def _reload_episode_when_free(self) -> None:
        if not self._episode_pending or self._stopped:
            return
        if QApplication.activeModalWidget() is not None or self._episode_busy():
            self._modal_check.start()  # look again shortly; no database work meanwhile
            return
        self._episode_pending = False
        try:
            self._refresh_episode()
        except ConnectionLost:
            self._on_lost()
        except DomainError:
            pass  # e.g. the episode is gone; the next explicit action says so

    def set_poll_interval(self, ms: int) -> None:
        """How often SQLite's data_version is read (tests make it short)."""
        self._poll.setInterval(ms)

    @property
    def listener(self) -> change_feed.ChangeListener | None:
        return self._listener


_WATCHED = "pathwayLiveRefreshWatched"  # a dynamic property: the widget is connected already


class EpisodeEdits(QObject):
    """Notices what the user types into the open episode's pages (the procedure and preparation
    pages edit in place), so a live refresh never overwrites entries not yet saved.

    Only user-driven signals count (`textEdited`, `activated`, `clicked`, or a change while the
    widget has the keyboard focus): a page filling its own fields on load is not an edit. The
    entries count as saved when the episode view reports a write (`changed`).
    """

    def __init__(self, view: EpisodeViewWidget) -> None:
        super().__init__(view)
        self._view = view
        self._edited: int | None = None
        view.changed.connect(self.forget)
        self.watch()

    def watch(self) -> None:
        """Connect the input widgets not connected yet (pages may add some later)."""
        for widget in self._view.findChildren(QWidget):
            if widget.property(_WATCHED):
                continue
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(self._mark)
            elif isinstance(widget, QComboBox):
                widget.activated.connect(self._mark)
            elif isinstance(widget, QAbstractButton) and widget.isCheckable():
                widget.clicked.connect(self._mark)
            elif isinstance(widget, QAbstractSpinBox | QPlainTextEdit | QTextEdit):
                signal = (
                    widget.textChanged
                    if isinstance(widget, QPlainTextEdit | QTextEdit)
                    else widget.editingFinished
                )
                signal.connect(lambda w=widget: self._mark_if_focused(w))
                if isinstance(widget, QAbstractSpinBox):
                    # Arrow keys and the mouse wheel change the value before editing finishes.
                    widget.installEventFilter(self)
            else:
                continue
            widget.setProperty(_WATCHED, True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.Wheel):
            self._mark()
        return False

    def _mark_if_focused(self, widget: QWidget) -> None:
        if widget.hasFocus():
            self._mark()

    @Slot()
    def _mark(self, *_args: object) -> None:
        episode = self._view.episode
        self._edited = episode.id if episode is not None else None

    @Slot()
    def forget(self, *_args: object) -> None:
        """The entries are saved, or the user reloaded the episode (opened it again, Refresh)."""
        self._edited = None

    def busy(self) -> bool:
        """Whether the open episode has entries typed since its last save."""
        self.watch()
        episode = self._view.episode
        return episode is not None and self._edited == episode.id


def attach(window: MainWindow, ctx: ServiceContext, container: QWidget) -> LiveRefresh:
    """Put the connection banner at the top of `container`'s layout (a box layout) and watch
    the database for `window`."""
    banner = ConnectionBanner(lambda: change_feed.ping(ctx.db.engine), DEFAULT_RETRY_SECONDS)
    layout = container.layout()
    if isinstance(layout, QBoxLayout):
        layout.insertWidget(0, banner)

    def refresh_lists() -> None:
        window.worklist.reload()
        window.refill_worklist.reload()

    def refresh_episode() -> None:
        view = window.episode_view
        if view.episode is not None:
            view.show_episode(view.episode.id, keep_selection=True)

    edits = EpisodeEdits(window.episode_view)
    for reloaded in (
        window.worklist.episode_opened,
        window.refill_worklist.episode_opened,
        window.refresh_button.clicked,
    ):
        reloaded.connect(edits.forget)
    live = LiveRefresh(
        ctx, banner, refresh_lists, refresh_episode, episode_busy=edits.busy, parent=window
    )
    live.edits = edits
    live.unavailable.connect(lambda text: window.statusBar().showMessage(text, 15000))
    live.start()
    return live
