"""The episode's "Pump and refills" section: the implanted pump (with the unverified mark where
a catalogue default drives a date), the current projection, the actions, the fill history and
the reservoir chart."""

from __future__ import annotations

import itertools

from PySide6.QtCore import QLocale, Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import FillView, PumpView, episode_pump_plan, pump_view
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_date, format_datetime, named, tr
from pathway_app.ui.dialogs.refill_dialog import ExposureDialog, ImplantDialog, RefillDialog
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.refill_worklist import LEVEL_COLOURS, UNVERIFIED_MARK, level_text, number
from pathway_app.ui.reservoir_chart import ReservoirChart

FILL_ID_ROLE = Qt.ItemDataRole.UserRole + 1
# The refill dialog's warning colours; the words "POSSIBLE POCKET FILL" carry the meaning.
POCKET_FILL_BACKGROUND = QColor("#f8d7da")
POCKET_FILL_TEXT = QColor("#58151c")


class _FillWords:
    """The translated pieces of a fill's line and one QLocale, made once per history shown
    rather than once per row: a ten-year pump has well over a hundred fills (issue 9)."""

    def __init__(self) -> None:
        self.locale = QLocale()
        self.point = self.locale.decimalPoint()
        self.initial = tr("Refills", "Initial fill")
        self.refill = tr("Refills", "Refill")
        self.filled = tr("Refills", "+%1 mL %2 %3 %4 → %5 mL")
        self.aspirated = tr(
            "Refills", "; aspirated %1 mL (expected %2, discrepancy %3 mL, flow %4 %)"
        )
        self.flagged = tr("Refills", " ⚠ FLAGGED: %1")
        self.measured = tr("Refills", "; measured after refill %1 mL")
        self.pocket_fill = tr("Refills", " ⚠ POSSIBLE POCKET FILL (observation started)")
        self.checked = tr("Refills", " · %1 / %2")
        self.correction = tr("Refills", " · correction: %1")
        self.corrected = tr("Refills", "[corrected] ")

    def number(self, value: float | None, digits: int = 2) -> str:
        """As `refill_worklist.number` (the local way, no trailing zeros), with one locale."""
        if value is None:
            return "—"
        text = self.locale.toString(float(value), "f", digits)
        if self.point in text:
            text = text.rstrip("0").rstrip(self.point)
        return text


def fill_text(fill: FillView, words: _FillWords | None = None) -> str:
    """One line of the fill history, with the reconciliation and any correction."""
    w = words or _FillWords()
    number = w.number
    kind = w.initial if fill.kind == "initial" else w.refill
    text = f"{format_datetime(fill.filled_at)} — {kind}: " + w.filled.replace(
        "%1", number(fill.added_ml)
    ).replace("%2", fill.drug_name).replace("%3", number(fill.concentration, 3)).replace(
        "%4", fill.concentration_unit
    ).replace("%5", number(fill.volume_after_ml))
    if fill.aspirated_ml is not None:
        text += (
            w.aspirated.replace("%1", number(fill.aspirated_ml))
            .replace("%2", number(fill.expected_residual_ml))
            .replace("%3", number(fill.discrepancy_ml))
            .replace("%4", number(fill.flow_error_pct, 1))
        )
    if fill.post_refill_volume_ml is not None:
        text += w.measured.replace("%1", number(fill.post_refill_volume_ml))
    if fill.pocket_fill_alert is not None:
        text += w.pocket_fill
    if fill.flagged:
        text += w.flagged.replace("%1", fill.explanation or "—")
    text += w.checked.replace("%1", fill.operator).replace("%2", fill.second_checker)
    if fill.corrects_id is not None:
        text += w.correction.replace("%1", fill.correction_reason)
    if not fill.in_force:
        text = w.corrected + text
    return text


class PumpRefillPanel(EpisodePage):
    """A page of the episode view; emits `changed(episode_id)` after anything is recorded."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id: int | None = None
        self._episode_models: tuple[str, str] = ("", "")
        self._is_open = False
        self._pump: PumpView | None = None
        named(self, names.PUMP_PANEL, self.tr("Pump and refills"))
        self.details = named(QLabel(), names.PUMP_DETAILS_LABEL, self.tr("Implanted pump"))
        self.projection = named(QLabel(), names.PUMP_PROJECTION_LABEL, self.tr("Next refill"))
        self.warnings = named(QLabel(), names.PUMP_WARNINGS_LABEL, self.tr("Refill warnings"))
        for label in (self.details, self.projection, self.warnings):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.projection.setMargin(6)
        self.warnings.setStyleSheet("color: #8a4b00;")
        self.implant_button = named(
            QPushButton(self.tr("Record &implant and initial fill…")),
            names.RECORD_IMPLANT_BUTTON,
            self.tr("Record the implanted pump and its initial fill"),
        )
        self.refill_button = named(
            QPushButton(self.tr("Record &refill…")),
            names.RECORD_REFILL_BUTTON,
            self.tr("Record a refill"),
        )
        self.correct_button = named(
            QPushButton(self.tr("&Correct last fill…")),
            names.CORRECT_REFILL_BUTTON,
            self.tr("Correct the most recent fill"),
        )
        self.exposure_button = named(
            QPushButton(self.tr("Log e&xposure…")),
            names.LOG_EXPOSURE_BUTTON,
            self.tr("Log fever, heat, altitude or diving"),
        )
        self.implant_button.clicked.connect(self.record_implant)
        self.refill_button.clicked.connect(self.record_refill)
        self.correct_button.clicked.connect(self.correct_refill)
        self.exposure_button.clicked.connect(self.log_exposure)
        self.history = named(QListWidget(), names.REFILL_HISTORY_LIST, self.tr("Fill history"))
        self.history.setWordWrap(True)
        self.history.setAlternatingRowColors(True)
        self.chart = ReservoirChart()

        buttons = QHBoxLayout()
        for button in (
            self.implant_button,
            self.refill_button,
            self.correct_button,
            self.exposure_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.setChildrenCollapsible(False)
        lower.addWidget(self.chart)
        history_box = QWidget()
        history_layout = QVBoxLayout(history_box)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_label = QLabel(self.tr("Fill &history"))
        history_label.setBuddy(self.history)
        history_layout.addWidget(history_label)
        history_layout.addWidget(self.history)
        lower.addWidget(history_box)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.details)
        layout.addWidget(self.projection)
        layout.addWidget(self.warnings)
        layout.addLayout(buttons)
        layout.addWidget(lower, 1)
        order = [
            self.implant_button,
            self.refill_button,
            self.correct_button,
            self.exposure_button,
            self.chart,
            self.history,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    @property
    def pump(self) -> PumpView | None:
        return self._pump

    def load(self, episode_id: int) -> None:
        plan = episode_pump_plan(self._ctx, episode_id)
        self._episode_id = episode_id
        self._episode_models = (plan.pump_model, plan.drug)
        self._is_open = plan.is_open
        self._pump = pump = pump_view(self._ctx, episode_id)
        is_open = self._is_open
        self.implant_button.setVisible(pump is None)
        self.implant_button.setEnabled(pump is None and is_open)
        self.refill_button.setEnabled(pump is not None and is_open)
        self.correct_button.setEnabled(
            pump is not None and is_open and pump.latest_fill is not None
        )
        self.exposure_button.setEnabled(is_open)
        self.chart.set_series(pump.chart if pump else None)
        self.history.clear()
        if pump is None:
            self.details.setText(
                self.tr(
                    "No pump recorded. After the operation, record the implant and the "
                    "initial fill from the procedure record."
                )
            )
            self.projection.setText("")
            self.projection.setStyleSheet("")
            self.warnings.setText("")
            return
        mark = f" {UNVERIFIED_MARK}"

        def marked(field: str, text: str) -> str:
            return text + (mark if field in pump.unverified else "")

        details = (
            self.tr(
                "%1 · serial %2 · implanted %3\nReservoir %4 mL · flow %5 mL/day · "
                "tolerance %6 · reserve %7 mL · exposure factor %8"
            )
            .replace("%1", pump.model_name)
            .replace("%2", pump.serial)
            .replace("%3", format_date(pump.implanted_at.date()))
            .replace("%4", marked("reservoir_ml", number(pump.reservoir_ml)))
            .replace(
                "%5", marked("nominal_flow_ml_per_day", number(pump.nominal_flow_ml_per_day, 3))
            )
            .replace("%6", marked("flow_tolerance_pct", number(pump.tolerance_pct) + " %"))
            .replace("%7", number(pump.reserve_ml))
            .replace(
                "%8",
                self.tr("unknown")
                if pump.exposure_factor is None
                else number(pump.exposure_factor),
            )
        )
        if pump.unverified:
            details += "\n" + self.tr(
                "%1 unverified catalogue default — confirm on the device."
            ).replace("%1", UNVERIFIED_MARK)
        self.details.setText(details)
        due_mark = mark if pump.projection_unverified else ""
        risk = self.tr(" ⚠ withdrawal risk") if pump.dangerous_withdrawal else ""
        text = (
            self.tr(
                "%1 — next refill due %2%3 · empty by %4 (worst case) / %5 (nominal)\n"
                "Last fill %6 · %7%8 %9 %10 → %11 %12"
            )
            .replace("%10", pump.concentration_unit)
            .replace("%11", number(pump.daily_dose, 3))
            .replace("%12", pump.dose_unit)
            .replace("%1", level_text(pump.level))
            .replace("%2", format_datetime(pump.due_at))
            .replace("%3", due_mark)
            .replace("%4", format_datetime(pump.empty_by_worst_at))
            .replace("%5", format_datetime(pump.empty_by_nominal_at))
            .replace("%6", format_datetime(pump.last_fill_at))
            .replace("%7", pump.drug_name)
            .replace("%8", risk)
            .replace("%9", number(pump.concentration, 3))
        )
        self.projection.setText(text)
        colour = LEVEL_COLOURS.get(pump.level) if pump.level else None
        self.projection.setStyleSheet(
            f"background: {colour.name()}; color: black; border-radius: 3px;" if colour else ""
        )
        self.projection.setAccessibleDescription(text)
        # The engine's warnings already name any unverified input that set the date.
        notes = list(pump.warnings)
        self.warnings.setText("\n".join(f"⚠ {n}" for n in notes))
        words = _FillWords()
        for fill in pump.fills:
            item = QListWidgetItem(fill_text(fill, words))
            item.setData(FILL_ID_ROLE, fill.id)
            tips = [*fill.flag_reasons, *fill.warnings]
            if fill.pocket_fill_alert is not None:
                # The alert as it was shown when the fill was saved comes first.
                tips.insert(0, fill.pocket_fill_alert)
                item.setBackground(POCKET_FILL_BACKGROUND)
                item.setForeground(POCKET_FILL_TEXT)
            if fill.notes:
                tips.append(self.tr("Note: %1").replace("%1", fill.notes))
            item.setToolTip("\n".join(tips))
            if not fill.in_force:
                font = item.font()
                font.setStrikeOut(True)
                item.setFont(font)
            self.history.addItem(item)

    def _refresh(self) -> None:
        assert self._episode_id is not None
        self.load(self._episode_id)
        self.changed.emit(self._episode_id)

    @Slot()
    def record_implant(self) -> None:
        if self._episode_id is None:
            return
        model, drug = self._episode_models
        if ImplantDialog.ask(self._ctx, self._episode_id, model, drug, self) is not None:
            self._refresh()

    @Slot()
    def record_refill(self) -> None:
        if self._pump is None:
            return
        if RefillDialog.ask(self._ctx, self._pump, self) is not None:
            self._refresh()

    @Slot()
    def correct_refill(self) -> None:
        if self._pump is None or self._pump.latest_fill is None:
            return
        if RefillDialog.ask(self._ctx, self._pump, self, self._pump.latest_fill) is not None:
            self._refresh()

    @Slot()
    def log_exposure(self) -> None:
        if self._episode_id is not None and ExposureDialog.ask(self._ctx, self._episode_id, self):
            self._refresh()
