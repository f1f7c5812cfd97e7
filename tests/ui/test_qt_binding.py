"""The Qt binding itself: a PySide6 release that mishandles reference counts ends a nurse's
session with a crash long after the cause, so it is checked here rather than found in clinic."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QLineEdit, QWidget
from pytestqt.qtbot import QtBot

ROUNDS = 300


class _Painted(QWidget):
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(QColor("red"))
        painter.drawLine(0, 0, 10, 10)
        painter.drawText(5, 5, "x")
        painter.end()


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: a lost count is moot"
)
def test_painting_and_typing_keep_the_reference_count_of_none(qtbot: QtBot) -> None:
    # PySide6 6.12.0 lost one reference to None per paint or key event; on Python 3.11 the
    # count reaching zero aborts the process ("none_dealloc").
    widget = _Painted()
    widget.resize(60, 60)
    line = QLineEdit()
    qtbot.addWidget(widget)
    qtbot.addWidget(line)
    widget.show()
    line.show()
    before = sys.getrefcount(None)
    for _ in range(ROUNDS):
        widget.grab()
        qtbot.keyClick(line, Qt.Key.Key_A)
    lost = before - sys.getrefcount(None)
    assert lost < ROUNDS // 3, f"{lost} references to None lost in {ROUNDS} paints and keys"
