"""Refill screens driven by their automation names: the refill dialog (discrepancy flag,
overfill refusal), the refill worklist's order, the main window's landing tab, the episode's
pump page and the reservoir chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QWidget,
)
from sqlalchemy import func, select

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import pump_view
from pathway_app.services.refills import record_implant, record_refill
from pathway_app.storage.orm import Fill
from pathway_app.ui import object_names as names
from pathway_app.ui.common import to_qdate
from pathway_app.ui.dialogs.refill_dialog import RefillDialog
from pathway_app.ui.refill_panel import PumpRefillPanel
from pathway_app.ui.refill_worklist import RefillWorklistPanel
from pathway_app.ui.reservoir_chart import ReservoirChart
from tests.factories import morphine_fill

ISOMED = "isomed-8472-20-05"  # 20 mL at 0.5 mL/day


def make_pump(ctx: ServiceContext, mrn: str, family: str, implanted: datetime) -> int:
    patient = register_patient(ctx, PatientDraft(mrn, family, "Jo", date(1960, 5, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"
        ),
    )
    fill = morphine_fill(implanted)
    record_implant(
        ctx, ImplantDraft(episode_id, ISOMED, "SN-" + mrn, None, None, False, implanted, fill)
    )
    return episode_id


def fills(ctx: ServiceContext) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Fill)) or 0


def fill_in(dialog: QWidget, *, aspirated: str, added: str) -> None:
    """Type what a nurse types; the previous fill pre-filled drug, strength, needle, method."""
    dialog.findChild(QLineEdit, names.FILL_ASPIRATED_EDIT).setText(aspirated)
    dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).setText(added)
    dialog.findChild(QLineEdit, names.FILL_LOT_EDIT).setText("LOT-2")
    dialog.findChild(QDateEdit, names.FILL_EXPIRY_EDIT).setDate(to_qdate(date(2027, 6, 1)))
    dialog.findChild(QLineEdit, names.FILL_CHECKER_EDIT).setText("Nurse B")


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    # Filled 20 days before the clock: 10 mL expected in the reservoir now.
    return make_pump(ctx, "U-1", "Alpha", ctx.now() - timedelta(days=20))


def test_a_refill_with_a_discrepancy_shows_the_flag_and_needs_an_explanation(
    ctx: ServiceContext, episode: int, qtbot
) -> None:
    pump = pump_view(ctx, episode)
    assert pump is not None
    dialog = RefillDialog(ctx, pump)
    qtbot.addWidget(dialog)
    dialog.show()
    fill_in(dialog, aspirated="6", added="20")
    dialog.update_preview()

    preview = dialog.findChild(QLabel, names.FILL_PREVIEW_LABEL).text()
    assert "Expected residual now: 10 mL" in preview
    assert "Discrepancy: -4 mL" in preview
    flag = dialog.findChild(QLabel, names.FILL_FLAG_LABEL)
    assert flag.isVisible() and "FLAGGED" in flag.text()

    qtbot.mouseClick(
        dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    error = dialog.findChild(QLabel, names.FILL_EXPLANATION_ERROR)
    assert error.isVisible() and "explanation" in error.text()
    assert fills(ctx) == 1 and dialog.isVisible()

    combo = dialog.findChild(QComboBox, names.FILL_EXPLANATION_COMBO)
    combo.setCurrentIndex(combo.findData("fever_heat"))
    qtbot.mouseClick(
        dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    assert dialog.result() == RefillDialog.DialogCode.Accepted
    assert fills(ctx) == 2
    after = pump_view(ctx, episode)
    assert after is not None and after.latest_fill is not None
    assert after.latest_fill.flagged and after.latest_fill.explanation == "fever_heat"


def test_overfill_is_refused_next_to_the_field_and_nothing_is_saved(
    ctx: ServiceContext, episode: int, qtbot
) -> None:
    pump = pump_view(ctx, episode)
    assert pump is not None
    dialog = RefillDialog(ctx, pump)
    qtbot.addWidget(dialog)
    dialog.show()
    fill_in(dialog, aspirated="10", added="21")
    qtbot.mouseClick(
        dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    error = dialog.findChild(QLabel, names.FILL_ADDED_ERROR)
    assert error.isVisible() and "Overfill" in error.text()
    assert dialog.focusWidget() is dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT)
    assert dialog.isVisible() and dialog.fill_id is None
    assert fills(ctx) == 1


def test_the_refill_worklist_order_changes_after_a_refill(ctx: ServiceContext, qtbot) -> None:
    first = make_pump(ctx, "U-1", "Alpha", ctx.now() - timedelta(days=30))
    second = make_pump(ctx, "U-2", "Beta", ctx.now() - timedelta(days=20))
    panel = RefillWorklistPanel(ctx)
    qtbot.addWidget(panel)
    panel.reload()
    table = panel.findChild(QTableView, names.REFILL_WORKLIST_TABLE)
    assert [table.model().index(r, 0).data(Qt.ItemDataRole.UserRole + 2) for r in range(2)] == [
        first,
        second,
    ]
    assert table.model().index(0, 0).data() == "Overdue"

    pump = pump_view(ctx, first)
    assert pump is not None
    dialog = RefillDialog(ctx, pump)
    qtbot.addWidget(dialog)
    fill_in(dialog, aspirated="5", added="20")
    qtbot.mouseClick(
        dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    assert dialog.fill_id is not None

    panel.reload()
    assert panel.episode_ids() == [second, first]
    assert table.model().index(1, 0).data() == "Scheduled"


def test_the_window_lands_on_refills_and_records_through_the_episode_page(
    ctx: ServiceContext, make_window, monkeypatch: pytest.MonkeyPatch, qtbot
) -> None:
    first = make_pump(ctx, "U-1", "Alpha", ctx.now() - timedelta(days=30))
    second = make_pump(ctx, "U-2", "Beta", ctx.now() - timedelta(days=20))
    window = make_window(ctx)
    tabs = window.findChild(QTabWidget, names.WORKLIST_TABS)
    assert tabs.currentWidget().objectName() == names.REFILL_WORKLIST_PANEL
    panel = window.findChild(RefillWorklistPanel, names.REFILL_WORKLIST_PANEL)
    assert panel.episode_ids() == [first, second]

    panel.select_episode(first)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.REFILL_WORKLIST_OPEN_BUTTON), Qt.MouseButton.LeftButton
    )
    page = window.findChild(PumpRefillPanel, names.PUMP_PANEL)
    window.episode_view.tabs.setCurrentWidget(page)  # a page loads when shown (issue 9)
    assert page.pump is not None and page.pump.episode_id == first

    def fake_ask(ctx_, pump, parent=None, correcting=None):
        at = ctx.now() - timedelta(hours=1)
        draft = FillDraft(
            filled_at=at,
            added_ml=20.0,
            drug_key="morphine",
            concentration=10.0,
            concentration_unit="mg/mL",
            operator="Nurse A",
            second_checker="Nurse B",
            lot="LOT-2",
            expiry_on=date(2027, 6, 1),
            needle="Non-coring refill needle",
            location_method="template",
            aspirated_ml=5.0,
        )
        return record_refill(ctx_, pump.episode_id, draft)

    monkeypatch.setattr(RefillDialog, "ask", fake_ask)
    window.episode_view.tabs.setCurrentWidget(page)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.RECORD_REFILL_BUTTON), Qt.MouseButton.LeftButton
    )
    assert panel.episode_ids() == [second, first]
    history = window.findChild(QWidget, names.REFILL_HISTORY_LIST)
    assert history.count() == 2
    assert "Refill" in history.item(0).text()


def test_the_reservoir_chart_renders(ctx: ServiceContext, episode: int, qtbot) -> None:
    record_refill(
        ctx,
        episode,
        FillDraft(
            filled_at=ctx.now() - timedelta(days=1),
            added_ml=20.0,
            drug_key="morphine",
            concentration=10.0,
            concentration_unit="mg/mL",
            operator="Nurse A",
            second_checker="Nurse B",
            lot="LOT-2",
            expiry_on=date(2027, 6, 1),
            needle="Non-coring refill needle",
            location_method="template",
            aspirated_ml=10.5,
        ),
    )
    pump = pump_view(ctx, episode)
    assert pump is not None
    chart = ReservoirChart()
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    empty = chart.grab().toImage()
    chart.set_series(pump.chart)
    image = chart.grab().toImage()
    background = QColor(image.pixel(1, image.height() - 1))
    drawn = sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if QColor(image.pixel(x, y)) != background
    )
    assert drawn > 0.03 * (image.width() * image.height() / 4)
    assert image != empty
    assert "2 fills" in chart.accessibleDescription()


def test_a_second_checker_is_required_in_the_dialog(
    ctx: ServiceContext, episode: int, qtbot
) -> None:
    pump = pump_view(ctx, episode)
    assert pump is not None
    dialog = RefillDialog(ctx, pump)
    qtbot.addWidget(dialog)
    fill_in(dialog, aspirated="10", added="10")
    dialog.findChild(QLineEdit, names.FILL_CHECKER_EDIT).setText("")
    qtbot.mouseClick(
        dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    assert dialog.findChild(QLabel, names.FILL_CHECKER_ERROR).text()
    assert fills(ctx) == 1


def test_first_refill_time_defaults_to_now(ctx: ServiceContext, episode: int, qtbot) -> None:
    pump = pump_view(ctx, episode)
    assert pump is not None
    dialog = RefillDialog(ctx, pump)
    qtbot.addWidget(dialog)
    draft = dialog.form.draft()
    assert draft.filled_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert draft.drug_key == "morphine" and draft.concentration == 10.0


def test_a_correction_needs_a_reason_and_keeps_the_old_entry(
    ctx: ServiceContext, episode: int, qtbot
) -> None:
    pump = pump_view(ctx, episode)
    assert pump is not None and pump.latest_fill is not None
    dialog = RefillDialog(ctx, pump, None, pump.latest_fill)
    qtbot.addWidget(dialog)
    dialog.show()
    reason = dialog.findChild(QLineEdit, names.REFILL_CORRECTION_REASON_EDIT)
    assert reason.isVisible()
    dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).setText("18")
    save = dialog.findChild(QPushButton, names.REFILL_SAVE_BUTTON)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialog.findChild(QLabel, names.REFILL_CORRECTION_REASON_ERROR).isVisible()
    assert fills(ctx) == 1
    reason.setText("18 mL was drawn up, not 20.")
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialog.fill_id is not None
    after = pump_view(ctx, episode)
    assert after is not None
    assert [f.in_force for f in after.fills] == [True, False]
    assert after.due_at == pump.latest_fill.filled_at + timedelta(days=16 / 0.55 - 4)
