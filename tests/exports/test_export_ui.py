"""Issue 8: the export buttons, driven through their automation names."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QPushButton

from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import refill_worklist
from pathway_app.ui import object_names as names
from pathway_app.ui.export_actions import ExportController
from pathway_app.ui.main_window import MainWindow


@pytest.fixture
def window(export_ctx: ServiceContext, qtbot) -> MainWindow:
    """The main window on the session's demo clinic (seeded once, see conftest.py)."""
    main = MainWindow(export_ctx)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    messages: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        ExportController,
        "tell",
        classmethod(
            lambda cls, parent, title, text, problem=False: messages.append((text, problem))
        ),
    )
    return messages


def _answer(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(ExportController, "ask_path", classmethod(lambda cls, *a: path))


def test_episode_exports_from_the_buttons(
    export_ctx, window, qtbot, tmp_path: Path, monkeypatch, told
) -> None:
    summary = window.findChild(QPushButton, names.EXPORT_SUMMARY_BUTTON)
    assert summary is not None and not summary.isEnabled()  # no episode shown yet
    episode_id = refill_worklist(export_ctx)[0].episode_id
    window.open_episode(episode_id)
    assert summary.isEnabled()
    target = tmp_path / "summary.pdf"
    _answer(monkeypatch, target)
    qtbot.mouseClick(summary, Qt.MouseButton.LeftButton)
    assert len(PdfReader(target).pages) >= 2
    assert told and not told[-1][1]
    card = tmp_path / "card.pdf"
    _answer(monkeypatch, card)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.EXPORT_CARD_BUTTON), Qt.MouseButton.LeftButton
    )
    assert len(PdfReader(card).pages) == 1
    printed = tmp_path / "printed.pdf"

    def printer(cls, parent):
        device = QPrinter(QPrinter.PrinterMode.HighResolution)
        device.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        device.setOutputFileName(str(printed))
        return device

    monkeypatch.setattr(ExportController, "ask_printer", classmethod(printer))
    qtbot.mouseClick(
        window.findChild(QPushButton, names.EXPORT_PRINT_BUTTON), Qt.MouseButton.LeftButton
    )
    assert len(PdfReader(printed).pages) >= 2


def test_worklist_csv_follows_the_filters(
    export_ctx, window, qtbot, tmp_path: Path, monkeypatch, told
) -> None:
    rows = refill_worklist(export_ctx)
    window.refill_worklist.search.setText(rows[0].mrn)
    window.refill_worklist.reload()
    target = tmp_path / "refills.csv"
    _answer(monkeypatch, target)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.EXPORT_REFILL_CSV_BUTTON), Qt.MouseButton.LeftButton
    )
    lines = list(csv.DictReader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert [line["mrn"] for line in lines] == [rows[0].mrn]


def test_a_folder_that_cannot_be_written_is_reported(
    window, qtbot, tmp_path: Path, monkeypatch, told
) -> None:
    _answer(monkeypatch, tmp_path / "missing" / "clinic.ics")
    qtbot.mouseClick(
        window.findChild(QPushButton, names.EXPORT_CLINIC_ICS_BUTTON), Qt.MouseButton.LeftButton
    )
    assert told[-1][1] and "does not exist" in told[-1][0]
    assert not (tmp_path / "missing").exists()
