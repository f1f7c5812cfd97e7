"""Fixtures for driving the real windows through their automation names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from pathway_app.services.context import ServiceContext
from pathway_app.ui.main_window import MainWindow


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[[ServiceContext], MainWindow]]:
    def make(ctx: ServiceContext) -> MainWindow:
        window = MainWindow(ctx)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make


@pytest.fixture
def demo_ctx(demo_copy: Path, ctx: ServiceContext) -> ServiceContext:
    """The demo clinic: a copy of the session's seeded template (tests/conftest.py)."""
    return ctx


def find_top_level(object_name: str) -> QWidget | None:
    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == object_name and widget.isVisible():
            return widget
    return None


@pytest.fixture
def on_dialog(qtbot):
    """Run `action(dialog)` on the modal dialog called `object_name` once it is open.

    The dialogs are modal (exec), so the test schedules its keystrokes before the click that
    opens one, as an automation tool would. Failures inside the action are re-raised.
    """
    errors: list[BaseException] = []

    def schedule(object_name: str, action: Callable[[QWidget], None]) -> None:
        def attempt(tries: int = 0) -> None:
            dialog = find_top_level(object_name)
            if dialog is None:
                if tries < 200:
                    QTimer.singleShot(10, lambda: attempt(tries + 1))
                else:
                    errors.append(AssertionError(f"dialog {object_name} never opened"))
                return
            try:
                action(dialog)
            except BaseException as exc:  # re-raised in the test, after the dialog closes
                errors.append(exc)
                dialog.close()

        QTimer.singleShot(0, attempt)

    yield schedule
    if errors:
        raise errors[0]
