"""Issue 7: the banner shown while the connection to the clinic database is lost.

It appears at the top of the main window whichever action or refresh ran into the lost
connection, pings the database every few seconds with a countdown (or at once with "Retry now"),
and hides itself when the database answers again; the window then refreshes. Nothing typed in
an open dialog is touched: the dialog's save failed as a whole ("nothing was saved") and the user
presses Save again once the banner is gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from pathway_app.ui import object_names as names
from pathway_app.ui.common import named

DEFAULT_RETRY_SECONDS = 5


class ConnectionBanner(QFrame):
    """Hidden until `report_lost()`; emits `restored` once `ping()` answers True again.

    Args:
        ping: whether the database answers now (cheap; called on the GUI thread).
        retry_seconds: the countdown between two automatic tries.
    """

    restored = Signal()
    # Carries a ping's answer from the worker thread back to the GUI thread (queued).
    _answered = Signal(bool)

    def __init__(
        self,
        ping: Callable[[], bool],
        retry_seconds: int = DEFAULT_RETRY_SECONDS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        named(self, names.CONNECTION_BANNER, self.tr("Connection to the database lost"))
        self._ping = ping
        self._retry_seconds = max(1, int(retry_seconds))
        self._remaining = self._retry_seconds
        self._tries = 0
        self._lost = False
        self._pinging = False
        self._stopped = False
        self.setStyleSheet(
            "QFrame#connectionBanner { background: #f8d7da; border: 1px solid #d9828b; }"
            "QLabel { color: #58151c; font-weight: bold; }"
        )
        self.label = named(QLabel(), names.CONNECTION_BANNER_LABEL, self.tr("Connection status"))
        self.label.setWordWrap(True)
        self.retry_button = named(
            QPushButton(self.tr("Retry &now")),
            names.CONNECTION_RETRY_BUTTON,
            self.tr("Try to reach the database now"),
        )
        self.retry_button.clicked.connect(self.retry_now)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.retry_button)
        # One tick a second drives the countdown; the ping runs when it reaches zero.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._answered.connect(self._on_answer, Qt.ConnectionType.QueuedConnection)
        self.setVisible(False)

    @property
    def is_lost(self) -> bool:
        return self._lost

    @property
    def is_pinging(self) -> bool:
        return self._pinging

    @Slot()
    def report_lost(self) -> None:
        """Show the banner and start retrying (several reports of one loss are one)."""
        if self._lost or self._stopped:
            return
        self._lost = True
        self._tries = 0
        self._remaining = self._retry_seconds
        self._update_text()
        self.setVisible(True)
        self._tick.start()

    @Slot()
    def retry_now(self) -> None:
        """Ping the database on a worker thread: reaching a server that is gone can take up to
        the connect timeout, and the window (an open dialog included) must stay usable."""
        if not self._lost or self._pinging or self._stopped:
            return
        self._pinging = True
        self._tries += 1
        self._tick.stop()
        self.retry_button.setEnabled(False)
        self._update_text()
        QThreadPool.globalInstance().start(self._run_ping)

    def _run_ping(self) -> None:
        try:
            answered = bool(self._ping())
        except Exception:  # a ping that fails in any way means "not back yet"
            answered = False
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self._answered.emit(answered)

    @Slot(bool)
    def _on_answer(self, answered: bool) -> None:
        self._pinging = False
        self.retry_button.setEnabled(True)
        if self._stopped:
            return
        if answered:
            self._lost = False
            self._tick.stop()
            self.setVisible(False)
            self.restored.emit()
            return
        self._remaining = self._retry_seconds
        self._update_text()
        self._tick.start()

    def stop(self) -> None:
        """The window is closing: no more tries, and a late answer is ignored."""
        self._stopped = True
        self._tick.stop()

    @Slot()
    def _on_tick(self) -> None:
        self._remaining -= 1
        if self._remaining <= 0:
            self.retry_now()
        else:
            self._update_text()

    def _update_text(self) -> None:
        if self._pinging:
            wait = self.tr("Trying to reach it now…")
        else:
            wait = self.tr("Trying again in %1 s.").replace("%1", str(self._remaining))
        text = (
            self.tr(
                "The connection to the clinic database is lost. Nothing can be saved until it "
                "is back; what you typed in an open window is kept, so save it again then."
            )
            + " "
            + wait
        )
        if self._tries:
            text += " " + self.tr("Tries so far: %1.").replace("%1", str(self._tries))
        self.label.setText(text)
        self.label.setAccessibleDescription(text)
