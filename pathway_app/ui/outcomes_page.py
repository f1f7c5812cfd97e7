"""The episode's "Outcomes" page (issue 10): is the pump helping this patient?

The change since baseline and its flag, the year-on-year IT opioid trend with its prompt (never
a diagnosis), the outcome chart (score beside the IT dose), the entries, and the alternatives
discussed at consent."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.services.context import ServiceContext
from pathway_app.services.outcomes import (
    OutcomeEntryView,
    OutcomesView,
    outcomes_view,
    record_consent_alternatives,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, format_date, named, show_error, tr
from pathway_app.ui.dialogs.outcome_dialog import OutcomeDialog, kind_text, side_effect_text
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.outcome_chart import OutcomeChart

ENTRY_ID_ROLE = Qt.ItemDataRole.UserRole + 1
FLAG_STYLE = "background: #ffe69c; color: #000000; padding: 4px; border-radius: 3px;"
TREND_STYLE = "background: #f8e1d0; color: #000000; padding: 4px; border-radius: 3px;"


def score_text(entry: OutcomeEntryView) -> str:
    parts = []
    if entry.pain_nrs is not None:
        parts.append(tr("Outcomes", "pain %1").replace("%1", str(entry.pain_nrs)))
    if entry.ashworth is not None:
        parts.append(tr("Outcomes", "Ashworth %1").replace("%1", entry.ashworth))
    return ", ".join(parts) or "—"


def mme_text(entry: OutcomeEntryView) -> str:
    if not entry.oral:
        return tr("Outcomes", "none")
    text = f"{entry.oral_mme:g}"
    if not entry.mme_verified:
        text += tr("Outcomes", " (unverified factor)")
    return text


def side_effects_text(entry: OutcomeEntryView) -> str:
    names_ = [side_effect_text(k) for k in entry.side_effects if k != "other"]
    if entry.side_effect_other:
        names_.append(entry.side_effect_other)
    return ", ".join(names_) or "—"


class OutcomesPage(EpisodePage):
    """A page of the episode view; emits `changed(episode_id)` after anything is recorded."""

    HEADERS = ("Date", "Kind", "Score", "Function", "Oral MME/day", "Side effects", "Recorded by")

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._view: OutcomesView | None = None
        named(self, names.OUTCOMES_PAGE, self.tr("Outcomes"))
        self.summary = named(
            QLabel(), names.OUTCOME_SUMMARY_LABEL, self.tr("Change since baseline")
        )
        self.summary.setWordWrap(True)
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.flag = named(QLabel(), names.OUTCOME_FLAG_LABEL, self.tr("Outcome flag"))
        self.flag.setWordWrap(True)
        self.flag.setStyleSheet(FLAG_STYLE)
        self.trend = named(QLabel(), names.OUTCOME_TREND_LABEL, self.tr("IT opioid dose trend"))
        self.trend.setWordWrap(True)
        self.trend.setStyleSheet(TREND_STYLE)
        for label in (self.summary, self.flag, self.trend):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Empty until `load` says otherwise; the page is loaded only when its tab is first shown
        # (issue 9), and empty labels must not make the episode view taller meanwhile.
        self.flag.setVisible(False)
        self.trend.setVisible(False)
        self.chart = OutcomeChart()
        self.table = named(
            QTableWidget(0, len(self.HEADERS)), names.OUTCOME_TABLE, self.tr("Outcome entries")
        )
        self.table.setHorizontalHeaderLabels([self.tr(h) for h in self.HEADERS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # function: elided
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.doubleClicked.connect(lambda _i: self._correct())
        self.record_button = named(
            QPushButton(self.tr("&Record outcome…")),
            names.OUTCOME_RECORD_BUTTON,
            self.tr("Record outcome"),
        )
        self.correct_button = named(
            QPushButton(self.tr("Co&rrect selected…")),
            names.OUTCOME_CORRECT_BUTTON,
            self.tr("Correct selected outcome entry"),
        )
        self.record_button.clicked.connect(self._record)
        self.correct_button.clicked.connect(self._correct)
        buttons = QHBoxLayout()
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.correct_button)
        buttons.addStretch(1)

        self.alternatives = named(
            QListWidget(),
            names.OUTCOME_ALTERNATIVES_LIST,
            self.tr("Alternatives discussed at consent"),
        )
        self.alternatives.setFlow(QListWidget.Flow.LeftToRight)
        self.alternatives.setWrapping(True)
        self.alternatives.itemActivated.connect(self._toggle)
        self.alternatives_save = named(
            QPushButton(self.tr("Save &alternatives")),
            names.OUTCOME_ALTERNATIVES_SAVE_BUTTON,
            self.tr("Save alternatives discussed"),
        )
        self.alternatives_save.clicked.connect(self._save_alternatives)
        self.alternatives_error = error_label(names.OUTCOME_ALTERNATIVES_ERROR)
        self.consent_label = QLabel()
        self.consent_label.setBuddy(self.alternatives)
        self.consent_label.setWordWrap(True)
        consent = QGroupBox(self.tr("Consent: alternatives discussed"))
        consent_box = QVBoxLayout(consent)
        consent_box.addWidget(self.consent_label)
        row = QHBoxLayout()
        row.addWidget(self.alternatives, 1)
        row.addWidget(self.alternatives_save)
        consent_box.addLayout(row)
        consent_box.addWidget(self.alternatives_error)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.flag)
        layout.addWidget(self.trend)
        layout.addWidget(self.chart, 3)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 2)
        layout.addWidget(consent)
        order = [
            self.chart,
            self.record_button,
            self.correct_button,
            self.table,
            self.alternatives,
            self.alternatives_save,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    # --- loading ------------------------------------------------------------------------------

    def load(self, episode_id: int) -> None:
        view = outcomes_view(self._ctx, episode_id)
        self._view = view
        if not view.entries:
            self.summary.setText(
                self.tr("No outcome recorded yet: record the baseline before the trial.")
            )
        elif view.summary:
            self.summary.setText(self.tr("Since baseline: %1").replace("%1", view.summary))
        else:
            self.summary.setText("")
        self.summary.setAccessibleDescription(self.summary.text())
        flag = "; ".join(view.flags)
        self.flag.setText(self.tr("⚑ Needs a look: %1").replace("%1", flag) if flag else "")
        self.flag.setAccessibleDescription(flag)
        self.flag.setVisible(bool(flag))
        trend = view.trend
        if trend is not None and trend.rising:
            self.trend.setText(trend.text + "\n" + trend.prompt)
        elif trend is not None:
            self.trend.setText(trend.text)
        else:
            self.trend.setText("")
        self.trend.setAccessibleDescription(self.trend.text())
        self.trend.setVisible(trend is not None)
        self.chart.set_series(view.chart, self._ctx.today())
        self.table.setRowCount(len(view.entries))
        for row, entry in enumerate(view.entries):
            function = entry.function_text
            if entry.function_score is not None:
                function = f"{entry.function_score}/10" + (f" — {function}" if function else "")
            cells = (
                format_date(entry.assessed_on),
                kind_text(entry.kind),
                score_text(entry),
                function or "—",
                mme_text(entry),
                side_effects_text(entry),
                entry.recorded_by,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ENTRY_ID_ROLE, entry.id)
                item.setToolTip(text if column != 4 else self._oral_tooltip(entry))
                self.table.setItem(row, column, item)
        self.correct_button.setEnabled(bool(view.entries))
        self.alternatives.clear()
        for alternative in view.alternatives:
            choice = QListWidgetItem(self.tr(alternative.name))
            choice.setData(Qt.ItemDataRole.UserRole, alternative.key)
            choice.setFlags(choice.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            choice.setCheckState(
                Qt.CheckState.Checked if alternative.discussed else Qt.CheckState.Unchecked
            )
            self.alternatives.addItem(choice)
        self.alternatives.setFixedHeight(self.alternatives.sizeHintForRow(0) * 2 + 12)
        consent = (
            self.tr("Consent signed %1.").replace("%1", format_date(view.consent_on))
            if view.consent_on
            else self.tr("Consent not recorded yet.")
        )
        self.consent_label.setText(
            consent + " " + self.tr("&Tick the alternatives to an implanted pump discussed:")
        )
        show_error(self.alternatives_error, None)

    def _oral_tooltip(self, entry: OutcomeEntryView) -> str:
        lines = [
            self.tr("%1: %2 %3 × %4 = %5 MME%6")
            .replace("%1", d.name)
            .replace("%2", f"{d.amount:g}")
            .replace("%3", d.unit)
            .replace("%4", f"{d.factor:g}")
            .replace("%5", f"{d.mme:g}")
            .replace("%6", "" if d.verified else self.tr(" (unverified factor)"))
            for d in entry.oral
        ]
        return "\n".join(lines) or self.tr("No oral opioid")

    # --- actions ------------------------------------------------------------------------------

    def _selected(self) -> OutcomeEntryView | None:
        if self._view is None:
            return None
        rows = self.table.selectionModel().selectedRows()
        row = rows[0].row() if rows else self.table.currentRow()
        if not 0 <= row < len(self._view.entries):
            return None
        return self._view.entries[row]

    @Slot()
    def _record(self) -> None:
        view = self._view
        if view is None:
            return
        if OutcomeDialog.ask(
            self._ctx, view.episode_id, view.score_kind, has_baseline=view.has_baseline, parent=self
        ):
            self.load(view.episode_id)
            self.changed.emit(view.episode_id)

    @Slot()
    def _correct(self) -> None:
        view, entry = self._view, self._selected()
        if view is None or entry is None:
            return
        if OutcomeDialog.ask(
            self._ctx,
            view.episode_id,
            view.score_kind,
            entry,
            has_baseline=view.has_baseline,
            parent=self,
        ):
            self.load(view.episode_id)
            self.changed.emit(view.episode_id)

    @Slot(QListWidgetItem)
    def _toggle(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    @Slot()
    def _save_alternatives(self) -> None:
        view = self._view
        if view is None:
            return
        keys = {
            self.alternatives.item(row).data(Qt.ItemDataRole.UserRole)
            for row in range(self.alternatives.count())
            if self.alternatives.item(row).checkState() == Qt.CheckState.Checked
        }
        try:
            record_consent_alternatives(
                self._ctx, view.episode_id, keys, expected_version=view.preparation_version
            )
        except ValidationError as exc:
            show_error(self.alternatives_error, "; ".join(exc.field_errors.values()))
            return
        except DomainError as exc:
            show_error(self.alternatives_error, str(exc))
            return
        self.load(view.episode_id)
        self.changed.emit(view.episode_id)
