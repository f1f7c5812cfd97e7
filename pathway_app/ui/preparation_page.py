"""The episode's Preparation page: the readiness gate at the top (which gates are unmet and why,
the override in force), then fasting against the scheduled start, the medication adjustment list
with each drug's hold verdict, the pre-operative tests, and the screening trial, evaluation,
consent and confirmations. Every verdict comes from the services; the page only shows them
(colour plus words, never colour alone)."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.readiness import (
    Evaluation,
    FastState,
    HoldState,
    Intake,
    KindFasting,
    PreopTestState,
    ScreeningTrial,
)
from pathway_app.services.context import ServiceContext
from pathway_app.services.preparation import (
    EvaluationsDraft,
    GateState,
    PreparationView,
    fasting_preview,
    preparation_view,
    remove_medication,
    save_evaluations,
    save_fasting,
    set_medication_review,
    sync_gates,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import (
    error_label,
    format_date,
    format_datetime,
    from_qdate,
    named,
    show_error,
    to_qdate,
    to_qdatetime,
    tr,
)
from pathway_app.ui.dialogs.patient_dialog import blank_date_edit, date_or_none
from pathway_app.ui.dialogs.preparation_dialogs import (
    MedicationDialog,
    OverrideDialog,
    PreopTestDialog,
    datetime_of,
)
from pathway_app.ui.dialogs.refill_dialog import read_number
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.prompts import show_problem

ID_ROLE = Qt.ItemDataRole.UserRole + 1
OK = QColor("#d1e7dd")
WARN = QColor("#fff3cd")
BAD = QColor("#f5c2c7")
NEUTRAL = QColor("#e2e3e5")
BANNER = {
    "ready": "background: #d1e7dd; color: #0a3622; border: 1px solid #a3cfbb;",
    "blocked": "background: #f5c2c7; color: #58151c; border: 2px solid #b02a37;",
    "overridden": "background: #fff3cd; color: #533f03; border: 2px solid #cc9a06;",
}


def gate_state_text(state: GateState) -> str:
    return {
        GateState.MET: tr("Preparation", "✓ Met"),
        GateState.ATTESTED: tr("Preparation", "✓ Marked by hand (no record)"),
        GateState.OVERRIDDEN: tr("Preparation", "⚠ Overridden"),
        GateState.UNMET: tr("Preparation", "✗ UNMET"),
    }[state]


GATE_COLOURS = {
    GateState.MET: OK,
    GateState.ATTESTED: WARN,
    GateState.OVERRIDDEN: WARN,
    GateState.UNMET: BAD,
}


def hold_text(state: HoldState) -> str:
    return {
        HoldState.SATISFIED: tr("Preparation", "✓ Satisfied"),
        HoldState.DECIDED: tr("Preparation", "✓ Decided"),
        HoldState.NOT_YET: tr("Preparation", "✗ Not yet"),
        HoldState.NEEDS_DECISION: tr("Preparation", "⚠ Needs a decision"),
        HoldState.CONDITION_UNMET: tr("Preparation", "✗ Condition unmet"),
        HoldState.NOT_RECORDED: tr("Preparation", "✗ Last dose not recorded"),
    }[state]


def _paint(item: QTreeWidgetItem, column: int, colour: QColor) -> None:
    item.setBackground(column, QBrush(colour))
    item.setForeground(column, QBrush(Qt.GlobalColor.black))


def fit_height(tree: QTreeWidget, minimum_rows: int = 1) -> None:
    """Size a short list to its rows, so the page scrolls instead of each list."""
    rows = max(minimum_rows, tree.topLevelItemCount())
    row_height = (
        max((tree.sizeHintForRow(i) for i in range(tree.topLevelItemCount())), default=0)
        or tree.fontMetrics().height() + 6
    )
    height = tree.header().sizeHint().height() + rows * row_height + 2 * tree.frameWidth() + 4
    if tree.horizontalScrollBar().isVisible():
        height += tree.horizontalScrollBar().sizeHint().height()
    tree.setFixedHeight(height)


def _tree(object_name: str, accessible: str, headers: list[str]) -> QTreeWidget:
    tree = named(QTreeWidget(), object_name, accessible)
    tree.setRootIsDecorated(False)
    tree.setColumnCount(len(headers))
    tree.setHeaderLabels(headers)
    tree.setWordWrap(True)
    tree.setUniformRowHeights(False)
    tree.header().setStretchLastSection(True)
    return tree


class PreparationPage(EpisodePage):
    """A page of the episode view; emits `changed(episode_id)` after anything is recorded."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._view: PreparationView | None = None
        named(self, names.PREPARATION_PAGE, self.tr("Preparation"))
        config = ctx.readiness

        # Readiness gate
        self.banner = named(QLabel(), names.PREP_BANNER_LABEL, self.tr("Readiness"))
        self.banner.setWordWrap(True)
        self.banner.setMargin(6)
        font = self.banner.font()
        font.setBold(True)
        self.banner.setFont(font)
        self.gate_list = _tree(
            names.PREP_GATE_LIST,
            self.tr("Readiness gates"),
            [self.tr("Gate"), self.tr("Status"), self.tr("Why")],
        )
        self.gate_list.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.override_button = named(
            QPushButton(self.tr("&Override unmet gates…")),
            names.PREP_OVERRIDE_BUTTON,
            self.tr("Record an authorised override of the unmet gates"),
        )
        self.override_button.clicked.connect(self.override)
        self.override_label = named(
            QLabel(), names.PREP_OVERRIDE_LABEL, self.tr("Override in force and history")
        )
        self.override_label.setWordWrap(True)
        self.override_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Fasting
        self.start_check = named(
            QCheckBox(self.tr("&Scheduled start:")),
            names.PREP_START_CHECK,
            self.tr("A procedure start is scheduled"),
        )
        self.start_edit = named(
            QDateTimeEdit(to_qdatetime(ctx.now())),
            names.PREP_START_EDIT,
            self.tr("Scheduled procedure start"),
        )
        self.start_edit.setCalendarPopup(True)
        self.start_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.intake_checks: dict[str, QCheckBox] = {}
        self.intake_edits: dict[str, QDateTimeEdit] = {}
        self.intake_status: dict[str, QLabel] = {}
        fasting_grid = QGridLayout()
        fasting_grid.addWidget(self.start_check, 0, 0)
        fasting_grid.addWidget(self.start_edit, 0, 1)
        for row, kind in enumerate(config.fasting, start=1):
            label = kind.name.split(" (")[0]
            check = named(
                QCheckBox(
                    self.tr("%1 (%2 h):").replace("%1", label).replace("%2", str(kind.min_hours))
                ),
                f"prepIntakeCheck-{kind.key}",
                self.tr("Last intake recorded: %1").replace("%1", label),
            )
            check.setToolTip(kind.name)
            edit = named(
                QDateTimeEdit(to_qdatetime(ctx.now())),
                f"prepIntakeEdit-{kind.key}",
                self.tr("Last intake: %1").replace("%1", label),
            )
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setMaximumDateTime(to_qdatetime(ctx.now()))
            status = named(QLabel(), f"prepIntakeStatus-{kind.key}", label)
            status.setWordWrap(True)
            status.setMargin(3)
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._fasting_changed)
            edit.dateTimeChanged.connect(self._fasting_changed)
            self.intake_checks[kind.key] = check
            self.intake_edits[kind.key] = edit
            self.intake_status[kind.key] = status
            fasting_grid.addWidget(check, row, 0)
            fasting_grid.addWidget(edit, row, 1)
            fasting_grid.addWidget(status, row, 2)
        fasting_grid.setColumnStretch(2, 1)
        self.start_check.toggled.connect(self.start_edit.setEnabled)
        self.start_check.toggled.connect(self._fasting_changed)
        self.start_edit.dateTimeChanged.connect(self._fasting_changed)
        self.fasting_summary = named(
            QLabel(), names.PREP_FASTING_SUMMARY_LABEL, self.tr("Fasting at the scheduled start")
        )
        self.fasting_summary.setWordWrap(True)
        self.fasting_summary.setMargin(4)
        self.fasting_error = error_label(names.PREP_FASTING_ERROR)
        self.fasting_save = named(
            QPushButton(self.tr("Save &fasting and start")),
            names.PREP_FASTING_SAVE_BUTTON,
            self.tr("Save the scheduled start and the last intakes"),
        )
        self.fasting_save.clicked.connect(self.save_fasting)
        fasting_box = QGroupBox(self.tr("Fasting"))
        fasting_layout = QVBoxLayout(fasting_box)
        fasting_layout.addLayout(fasting_grid)
        fasting_layout.addWidget(self.fasting_summary)
        fasting_layout.addWidget(self.fasting_error)
        fasting_layout.addWidget(self.fasting_save, 0, Qt.AlignmentFlag.AlignLeft)

        # Medications
        self.medication_list = _tree(
            names.PREP_MEDICATION_LIST,
            self.tr("Medication adjustment list"),
            [self.tr("Drug"), self.tr("Last dose"), self.tr("Verdict"), self.tr("Instruction")],
        )
        self.medication_list.itemActivated.connect(lambda *_: self.edit_medication())
        self.medication_list.currentItemChanged.connect(self._update_buttons)
        self.add_medication_button = named(
            QPushButton(self.tr("&Add drug…")),
            names.PREP_MEDICATION_ADD_BUTTON,
            self.tr("Add a drug to adjust"),
        )
        self.edit_medication_button = named(
            QPushButton(self.tr("Cha&nge drug…")),
            names.PREP_MEDICATION_EDIT_BUTTON,
            self.tr("Change the selected drug"),
        )
        self.remove_medication_button = named(
            QPushButton(self.tr("Re&move drug")),
            names.PREP_MEDICATION_REMOVE_BUTTON,
            self.tr("Remove the selected drug"),
        )
        self.add_medication_button.clicked.connect(self.add_medication)
        self.edit_medication_button.clicked.connect(self.edit_medication)
        self.remove_medication_button.clicked.connect(self.remove_medication)
        self.reviewed_check = named(
            QCheckBox(self.tr("Medication list &reviewed (also when empty)")),
            names.PREP_MEDICATIONS_REVIEWED_CHECK,
            self.tr("The medication list has been reviewed"),
        )
        self.inr_combo = named(QComboBox(), names.PREP_INR_COMBO, self.tr("INR finding"))
        self.inr_combo.addItem(self.tr("INR not recorded"), None)
        self.inr_combo.addItem(self.tr("INR normal"), True)
        self.inr_combo.addItem(self.tr("INR not normal"), False)
        self.review_save = named(
            QPushButton(self.tr("Save re&view")),
            names.PREP_MEDICATION_REVIEW_SAVE_BUTTON,
            self.tr("Save the medication review and the INR finding"),
        )
        self.review_save.clicked.connect(self.save_review)
        medication_box = QGroupBox(self.tr("Anticoagulants, antiplatelets and other drugs"))
        medication_layout = QVBoxLayout(medication_box)
        medication_layout.addWidget(self.medication_list)
        row_buttons = QHBoxLayout()
        for button in (
            self.add_medication_button,
            self.edit_medication_button,
            self.remove_medication_button,
        ):
            row_buttons.addWidget(button)
        row_buttons.addStretch(1)
        medication_layout.addLayout(row_buttons)
        review_row = QHBoxLayout()
        review_row.addWidget(self.reviewed_check)
        inr_label = QLabel(self.tr("&INR:"))
        inr_label.setBuddy(self.inr_combo)
        review_row.addWidget(inr_label)
        review_row.addWidget(self.inr_combo)
        review_row.addWidget(self.review_save)
        review_row.addStretch(1)
        medication_layout.addLayout(review_row)

        # Tests
        self.test_list = _tree(
            names.PREP_TEST_LIST,
            self.tr("Pre-operative tests"),
            [
                self.tr("Test"),
                self.tr("State"),
                self.tr("Valid until"),
                self.tr("Reviewed"),
                self.tr("Result"),
            ],
        )
        self.test_list.itemActivated.connect(lambda *_: self.edit_test())
        self.test_list.currentItemChanged.connect(self._update_buttons)
        self.test_button = named(
            QPushButton(self.tr("Record &test…")),
            names.PREP_TEST_EDIT_BUTTON,
            self.tr("Record the selected test's order, result and review"),
        )
        self.test_button.clicked.connect(self.edit_test)
        test_box = QGroupBox(self.tr("Pre-operative tests"))
        test_layout = QVBoxLayout(test_box)
        test_layout.addWidget(self.test_list)
        test_layout.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignLeft)

        # Trial, evaluation, consent
        self.trial_date = blank_date_edit(names.PREP_TRIAL_DATE_EDIT, self.tr("Trial date"))
        self.trial_drug = named(QLineEdit(), names.PREP_TRIAL_DRUG_EDIT, self.tr("Trial drug"))
        self.trial_dose = named(QLineEdit(), names.PREP_TRIAL_DOSE_EDIT, self.tr("Trial dose"))
        self.trial_relief = named(
            QLineEdit(), names.PREP_TRIAL_RELIEF_EDIT, self.tr("Pain relief, percent")
        )
        self.trial_relief.setMaxLength(8)
        self.trial_response = named(
            QComboBox(), names.PREP_TRIAL_RESPONSE_COMBO, self.tr("Response to the bolus")
        )
        self.trial_response.addItem(self.tr("Not recorded"), None)
        self.trial_response.addItem(self.tr("Positive response"), True)
        self.trial_response.addItem(self.tr("No response"), False)
        self.psych_date = blank_date_edit(
            names.PREP_PSYCH_DATE_EDIT, self.tr("Psychological evaluation date")
        )
        self.psych_by = named(QLineEdit(), names.PREP_PSYCH_BY_EDIT, self.tr("Evaluated by"))
        self.psych_outcome = named(
            QComboBox(), names.PREP_PSYCH_OUTCOME_COMBO, self.tr("Evaluation outcome")
        )
        self.psych_outcome.addItem(self.tr("Outcome not recorded"), None)
        self.psych_outcome.addItem(self.tr("Cleared"), True)
        self.psych_outcome.addItem(self.tr("Not cleared"), False)
        self.psych_note = named(QLineEdit(), names.PREP_PSYCH_NOTE_EDIT, self.tr("Evaluation note"))
        self.consent_date = blank_date_edit(names.PREP_CONSENT_DATE_EDIT, self.tr("Consent signed"))
        self.confirmation_checks: dict[str, QCheckBox] = {}
        for confirmation in config.confirmations:
            self.confirmation_checks[confirmation.key] = named(
                QCheckBox(confirmation.name),
                f"prepConfirmationCheck-{confirmation.key}",
                confirmation.name,
            )
        self.evaluation_errors = {
            "trial.trial_on": error_label(names.PREP_TRIAL_DATE_ERROR),
            "trial.drug": error_label(names.PREP_TRIAL_DRUG_ERROR),
            "trial.dose": error_label(names.PREP_TRIAL_DOSE_ERROR),
            "trial.outcome": error_label(names.PREP_TRIAL_OUTCOME_ERROR),
            "psych.done_on": error_label(names.PREP_PSYCH_DATE_ERROR),
            "psych.by": error_label(names.PREP_PSYCH_BY_ERROR),
            "psych.note": error_label(names.PREP_PSYCH_NOTE_ERROR),
            "consent_on": error_label(names.PREP_CONSENT_DATE_ERROR),
        }
        self.evaluations_error = error_label(names.PREP_EVALUATIONS_ERROR)
        self.evaluations_save = named(
            QPushButton(self.tr("Save trial, e&valuation and consent")),
            names.PREP_EVALUATIONS_SAVE_BUTTON,
            self.tr("Save the trial, the evaluation, consent and confirmations"),
        )
        self.evaluations_save.clicked.connect(self.save_evaluations)
        self.relief_label = QLabel(
            self.tr("Pain &relief (%, success above %1 %):").replace(
                "%1", f"{config.trial.success_threshold_pct:g}"
            )
        )
        self.relief_label.setBuddy(self.trial_relief)
        self.response_label = QLabel(self.tr("Bolus res&ponse:"))
        self.response_label.setBuddy(self.trial_response)
        evaluation_box = QGroupBox(self.tr("Screening trial, evaluation and consent"))
        form = QFormLayout(evaluation_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        errors = self.evaluation_errors

        def add(text: str | QLabel, widget: QWidget, error: QLabel | None) -> None:
            label = text if isinstance(text, QLabel) else QLabel(text)
            label.setBuddy(widget)
            form.addRow(label, widget)
            if error is not None:
                form.addRow("", error)

        add(self.tr("Trial &date:"), self.trial_date, errors["trial.trial_on"])
        add(self.tr("Trial dr&ug:"), self.trial_drug, errors["trial.drug"])
        add(self.tr("Trial d&ose:"), self.trial_dose, errors["trial.dose"])
        add(self.relief_label, self.trial_relief, None)
        add(self.response_label, self.trial_response, errors["trial.outcome"])
        self.psych_rows = [
            (self.tr("Psychological &evaluation on:"), self.psych_date, errors["psych.done_on"]),
            (self.tr("Evaluated &by:"), self.psych_by, errors["psych.by"]),
            (self.tr("Outco&me:"), self.psych_outcome, None),
            (self.tr("Evaluation &note:"), self.psych_note, errors["psych.note"]),
        ]
        for text, widget, error in self.psych_rows:
            add(text, widget, error)
        add(self.tr("&Consent signed on:"), self.consent_date, errors["consent_on"])
        for check in self.confirmation_checks.values():
            form.addRow("", check)
        form.addRow(self.evaluations_error)
        save_row = QHBoxLayout()
        save_row.addWidget(self.evaluations_save)
        save_row.addStretch(1)
        form.addRow(save_row)
        self._evaluation_form = form

        # Layout: the gate first, then the records in the order they are usually gathered.
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.banner)
        gate_box = QGroupBox(self.tr("Readiness gates"))
        gate_layout = QVBoxLayout(gate_box)
        gate_layout.addWidget(self.gate_list)
        gate_row = QHBoxLayout()
        gate_row.addWidget(self.override_button)
        gate_row.addStretch(1)
        gate_layout.addLayout(gate_row)
        gate_layout.addWidget(self.override_label)
        layout.addWidget(gate_box)
        layout.addWidget(evaluation_box)
        layout.addWidget(test_box)
        layout.addWidget(medication_box)
        layout.addWidget(fasting_box)
        layout.addStretch(1)
        area = QScrollArea()
        area.setWidget(content)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(area)

        order: list[QWidget] = [
            self.gate_list,
            self.override_button,
            self.trial_date,
            self.trial_drug,
            self.trial_dose,
            self.trial_relief,
            self.trial_response,
            self.psych_date,
            self.psych_by,
            self.psych_outcome,
            self.psych_note,
            self.consent_date,
            *self.confirmation_checks.values(),
            self.evaluations_save,
            self.test_list,
            self.test_button,
            self.medication_list,
            self.add_medication_button,
            self.edit_medication_button,
            self.remove_medication_button,
            self.reviewed_check,
            self.inr_combo,
            self.review_save,
            self.start_check,
            self.start_edit,
        ]
        for key in self.intake_checks:
            order += [self.intake_checks[key], self.intake_edits[key]]
        order.append(self.fasting_save)
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    @property
    def view(self) -> PreparationView | None:
        return self._view

    # --- loading -------------------------------------------------------------------------------

    def load(self, episode_id: int) -> None:
        view = preparation_view(self._ctx, episode_id)
        if view.drift:
            # A result expired or a rule changed since the last write: bring the milestones
            # in line (audited), then show the result.
            try:
                sync_gates(self._ctx, episode_id)
            except DomainError:
                pass
            else:
                view = preparation_view(self._ctx, episode_id)
                self.changed.emit(episode_id)
        self._view = view
        self._show_gates(view)
        self._show_evaluations(view)
        self._show_tests(view)
        self._show_medications(view)
        self._show_fasting(view)
        for widget in (
            self.evaluations_save,
            self.fasting_save,
            self.review_save,
            self.add_medication_button,
        ):
            widget.setEnabled(view.is_open)
        self._update_buttons()

    def _show_gates(self, view: PreparationView) -> None:
        blocking = view.check.blocking
        override = view.check.override
        if not blocking and all(g.state is GateState.MET for g in view.gates):
            text, style = self.tr("✓ READY — every readiness gate is met."), BANNER["ready"]
        elif blocking:
            text = self.tr(
                "✗ NOT READY — %n gate(s) unmet; the episode cannot move to the Procedure stage:",
                "",
                len(blocking),
            )
            text += "\n" + view.check.blocking_text()
            style = BANNER["blocked"]
        elif any(g.state is GateState.OVERRIDDEN for g in view.gates) and override is not None:
            text = (
                self.tr("⚠ OVERRIDDEN — proceeding with unmet gates, authorised by %1 on %2.")
                .replace("%1", override.authorised_by)
                .replace("%2", format_datetime(override.at))
            )
            style = BANNER["overridden"]
        else:
            text = self.tr("✓ May proceed — some gates were marked by hand without a record.")
            style = BANNER["overridden"]
        self.banner.setText(text)
        self.banner.setStyleSheet(style)
        self.banner.setAccessibleDescription(text)
        self.gate_list.clear()
        for gate in view.gates:
            why = " ".join(gate.reasons)
            if gate.state is GateState.ATTESTED:
                why = (
                    self.tr("Marked by hand by %1; the record says: %2")
                    .replace("%1", gate.marked_by or "—")
                    .replace("%2", why)
                )
            item = QTreeWidgetItem([gate.name, gate_state_text(gate.state), why or "—"])
            item.setToolTip(2, why)
            _paint(item, 1, GATE_COLOURS[gate.state])
            self.gate_list.addTopLevelItem(item)
        self.gate_list.resizeColumnToContents(0)
        self.gate_list.resizeColumnToContents(1)
        fit_height(self.gate_list)
        self.override_button.setEnabled(view.is_open and bool(blocking))
        lines = []
        for index, entry in enumerate(view.override_history):
            head = self.tr("In force") if index == 0 else self.tr("Earlier")
            gates = ", ".join(g.name for g in entry.gates)
            lines.append(
                self.tr("%1: override on %2 by %3 (recorded by %4) for: %5 — “%6”")
                .replace("%1", head)
                .replace("%2", format_datetime(entry.at))
                .replace("%3", entry.authorised_by)
                .replace("%4", entry.recorded_by)
                .replace("%5", gates)
                .replace("%6", entry.reason)
            )
        self.override_label.setText("\n".join(lines))
        self.override_label.setVisible(bool(lines))
        self.override_label.setStyleSheet(
            "background: #fff3cd; color: #533f03; border: 1px solid #e0c36c; padding: 4px;"
        )

    def _show_evaluations(self, view: PreparationView) -> None:
        trial = view.trial
        self.trial_date.setDate(
            to_qdate(trial.trial_on) if trial and trial.trial_on else self.trial_date.minimumDate()
        )
        self.trial_drug.setText(trial.drug if trial else "")
        self.trial_dose.setText(trial.dose if trial else "")
        relief = trial.percent_relief if trial else None
        self.trial_relief.setText("" if relief is None else f"{relief:g}")
        response = trial.positive_response if trial else None
        self.trial_response.setCurrentIndex(max(0, self.trial_response.findData(response)))
        self._evaluation_form.setRowVisible(self.trial_relief, view.pain_trial)
        self._evaluation_form.setRowVisible(self.trial_response, not view.pain_trial)
        psych = view.psych
        self.psych_date.setDate(
            to_qdate(psych.done_on) if psych and psych.done_on else self.psych_date.minimumDate()
        )
        self.psych_by.setText(psych.by if psych else "")
        cleared = psych.cleared if psych else None
        self.psych_outcome.setCurrentIndex(max(0, self.psych_outcome.findData(cleared)))
        self.psych_note.setText(psych.note if psych else "")
        for _text, row_widget, _error in self.psych_rows:
            self._evaluation_form.setRowVisible(row_widget, view.psych_required)
        self.consent_date.setDate(
            to_qdate(view.consent_on) if view.consent_on else self.consent_date.minimumDate()
        )
        for key, _name, checked in view.confirmations:
            self.confirmation_checks[key].setChecked(checked)
        for label in (*self.evaluation_errors.values(), self.evaluations_error):
            show_error(label, None)

    def _show_tests(self, view: PreparationView) -> None:
        current = self._selected(self.test_list)
        self.test_list.clear()
        for test in view.tests:
            record = test.record
            state = test.status.state
            state_text = {
                PreopTestState.NOT_ORDERED: self.tr("✗ Not ordered"),
                PreopTestState.ORDERED: self.tr("… Ordered"),
                PreopTestState.RESULTED: self.tr("… Resulted, not reviewed"),
                PreopTestState.REVIEWED: self.tr("✓ Reviewed"),
                PreopTestState.EXPIRED: self.tr("✗ EXPIRED"),
            }[state]
            result = ""
            if record is not None and record.resulted_on is not None:
                result = f"{format_date(record.resulted_on)}: {record.result}"
            reviewed = ""
            if record is not None and record.reviewed_on is not None:
                reviewed = f"{record.reviewed_by}, {format_date(record.reviewed_on)}"
            valid = format_date(test.status.valid_until)
            if test.clinic_default and test.status.valid_until is not None:
                valid += self.tr(" (clinic default)")
            item = QTreeWidgetItem([test.name, state_text, valid, reviewed or "—", result or "—"])
            item.setToolTip(4, result)
            item.setData(0, ID_ROLE, test.key)
            item.setToolTip(1, test.status.reason)
            colour = {PreopTestState.REVIEWED: OK, PreopTestState.EXPIRED: BAD}.get(state, WARN)
            if state is PreopTestState.NOT_ORDERED:
                colour = BAD
            _paint(item, 1, colour)
            self.test_list.addTopLevelItem(item)
            if test.key == current:
                self.test_list.setCurrentItem(item)
        for column in range(4):
            self.test_list.resizeColumnToContents(column)
        fit_height(self.test_list)

    def _show_medications(self, view: PreparationView) -> None:
        current = self._selected(self.medication_list)
        self.medication_list.clear()
        for med in view.medications:
            verdict = med.verdict
            if verdict is None:
                verdict_text = self.tr("✗ No start scheduled")
                colour = BAD
                tip = self.tr("Schedule the procedure start to judge the hold.")
            else:
                verdict_text = hold_text(verdict.state)
                if verdict.state is HoldState.NOT_YET and verdict.hold_until is not None:
                    verdict_text += self.tr(" — satisfied from %1").replace(
                        "%1", format_datetime(verdict.hold_until)
                    )
                colour = (
                    OK
                    if verdict.ok
                    else (WARN if verdict.state in (HoldState.NEEDS_DECISION,) else BAD)
                )
                tip = verdict.reason + (f"\n{verdict.restart}" if verdict.restart else "")
            if med.unverified:
                verdict_text += self.tr(" · ⚠ unverified table values")
            item = QTreeWidgetItem(
                [med.name, format_datetime(med.last_dose_at), verdict_text, med.instruction]
            )
            item.setData(0, ID_ROLE, med.id)
            item.setToolTip(2, tip)
            _paint(item, 2, colour)
            self.medication_list.addTopLevelItem(item)
            if med.id == current:
                self.medication_list.setCurrentItem(item)
        for column in range(3):
            self.medication_list.resizeColumnToContents(column)
        fit_height(self.medication_list, minimum_rows=2)
        self.reviewed_check.setChecked(view.medications_reviewed)
        self.inr_combo.setCurrentIndex(max(0, self.inr_combo.findData(view.inr_normal)))

    def _show_fasting(self, view: PreparationView) -> None:
        widgets = [self.start_check, self.start_edit, *self.intake_checks.values()]
        widgets += list(self.intake_edits.values())
        for widget in widgets:
            widget.blockSignals(True)
        self.start_check.setChecked(view.procedure_start is not None)
        self.start_edit.setEnabled(view.procedure_start is not None)
        if view.procedure_start is not None:
            self.start_edit.setDateTime(to_qdatetime(view.procedure_start))
        recorded = {i.kind: i for i in view.intakes}
        for key, check in self.intake_checks.items():
            intake = recorded.get(key)
            check.setChecked(intake is not None)
            self.intake_edits[key].setEnabled(intake is not None)
            if intake is not None:
                self.intake_edits[key].setDateTime(to_qdatetime(intake.last_at))
        for widget in widgets:
            widget.blockSignals(False)
        show_error(self.fasting_error, None)
        self._fasting_changed()

    # --- fasting, re-evaluated as the times move -----------------------------------------------

    def _intakes(self) -> tuple[Intake, ...]:
        return tuple(
            Intake(key, datetime_of(self.intake_edits[key], self._ctx))
            for key, check in self.intake_checks.items()
            if check.isChecked()
        )

    @Slot()
    def _fasting_changed(self) -> None:
        for status in self.intake_status.values():
            status.setText("")
            status.setStyleSheet("")
        if not self.start_check.isChecked():
            self.fasting_summary.setText(
                self.tr("No procedure start scheduled: fasting and holds cannot be judged.")
            )
            self.fasting_summary.setStyleSheet(f"background: {BAD.name()}; color: black;")
            return
        start = datetime_of(self.start_edit, self._ctx)
        try:
            result = fasting_preview(self._ctx, start, self._intakes())
        except ValidationError as exc:
            show_error(self.fasting_error, " ".join(exc.field_errors.values()))
            return
        for kind in result.kinds:
            label = self.intake_status[kind.kind]
            label.setText(self._kind_text(kind))
            colour = {FastState.MET: OK, FastState.NOT_MET: BAD}.get(
                kind.state, BAD if kind.required else NEUTRAL
            )
            label.setStyleSheet(f"background: {colour.name()}; color: black;")
        if result.met:
            text = self.tr("✓ Every minimum fast is met at %1.").replace(
                "%1", format_datetime(start)
            )
            colour = OK
        else:
            text = self.tr("✗ Fasting is not met at %1.").replace("%1", format_datetime(start))
            if result.earliest_start is not None and result.earliest_start > start:
                text += " " + self.tr("Earliest start satisfying every recorded fast: %1.").replace(
                    "%1", format_datetime(result.earliest_start)
                )
            colour = BAD
        self.fasting_summary.setText(text)
        self.fasting_summary.setStyleSheet(f"background: {colour.name()}; color: black;")

    def _kind_text(self, kind: KindFasting) -> str:
        if kind.state is FastState.NOT_RECORDED:
            return (
                self.tr("✗ Not recorded") if kind.required else self.tr("Not recorded (optional)")
            )
        if kind.state is FastState.MET:
            return self.tr("✓ Met")
        return self.tr("✗ Not met — earliest start %1").replace(
            "%1", format_datetime(kind.ready_at)
        )

    # --- actions ---------------------------------------------------------------------------------

    def _selected(self, tree: QTreeWidget) -> object:
        item = tree.currentItem()
        return item.data(0, ID_ROLE) if item is not None else None

    @Slot()
    def _update_buttons(self) -> None:
        is_open = self._view is not None and self._view.is_open
        has_medication = self._selected(self.medication_list) is not None
        self.edit_medication_button.setEnabled(is_open and has_medication)
        self.remove_medication_button.setEnabled(is_open and has_medication)
        self.test_button.setEnabled(is_open and self._selected(self.test_list) is not None)

    def _after_write(self) -> None:
        assert self._view is not None
        episode_id = self._view.episode_id
        self.load(episode_id)
        self.changed.emit(episode_id)

    @Slot()
    def save_fasting(self) -> None:
        if self._view is None:
            return
        show_error(self.fasting_error, None)
        start = datetime_of(self.start_edit, self._ctx) if self.start_check.isChecked() else None
        try:
            save_fasting(self._ctx, self._view.episode_id, start, self._intakes())
        except DomainError as exc:
            message = (
                " ".join(exc.field_errors.values())
                if isinstance(exc, ValidationError)
                else str(exc)
            )
            show_error(self.fasting_error, message)
            return
        self._after_write()

    @Slot()
    def save_review(self) -> None:
        if self._view is None:
            return
        try:
            set_medication_review(
                self._ctx,
                self._view.episode_id,
                self.reviewed_check.isChecked(),
                self.inr_combo.currentData(),
            )
        except DomainError as exc:
            show_problem(self, self.tr("Cannot save"), str(exc))
            return
        self._after_write()

    @Slot()
    def add_medication(self) -> None:
        if self._view is not None and MedicationDialog.ask(
            self._ctx, self._view.episode_id, None, self
        ):
            self._after_write()

    @Slot()
    def edit_medication(self) -> None:
        if self._view is None:
            return
        medication_id = self._selected(self.medication_list)
        current = next((m for m in self._view.medications if m.id == medication_id), None)
        if current is not None and MedicationDialog.ask(
            self._ctx, self._view.episode_id, current, self
        ):
            self._after_write()

    @Slot()
    def remove_medication(self) -> None:
        medication_id = self._selected(self.medication_list)
        if self._view is None or not isinstance(medication_id, int):
            return
        try:
            remove_medication(self._ctx, medication_id)
        except DomainError as exc:
            show_problem(self, self.tr("Cannot remove"), str(exc))
            return
        self._after_write()

    @Slot()
    def edit_test(self) -> None:
        if self._view is None:
            return
        key = self._selected(self.test_list)
        test = next((t for t in self._view.tests if t.key == key), None)
        if test is not None and PreopTestDialog.ask(self._ctx, self._view.episode_id, test, self):
            self._after_write()

    @Slot()
    def override(self) -> None:
        if self._view is None:
            return
        blocking = self._view.check.blocking
        if blocking and OverrideDialog.ask(self._ctx, self._view.episode_id, blocking, self):
            self._after_write()

    def evaluations_draft(self) -> EvaluationsDraft:
        assert self._view is not None
        trial_day = date_or_none(self.trial_date)
        relief = read_number(self.trial_relief)
        response = self.trial_response.currentData()
        trial = None
        if (
            trial_day is not None
            or self.trial_drug.text().strip()
            or self.trial_dose.text().strip()
            or (relief is not None and self._view.pain_trial)
            or (response is not None and not self._view.pain_trial)
        ):
            trial = ScreeningTrial(
                from_qdate(trial_day) if trial_day else None,
                self.trial_drug.text(),
                self.trial_dose.text(),
                relief if self._view.pain_trial else None,
                response if not self._view.pain_trial else None,
            )
        psych_day = date_or_none(self.psych_date)
        psych = None
        if self._view.psych_required and (
            psych_day is not None
            or self.psych_by.text().strip()
            or self.psych_outcome.currentData() is not None
            or self.psych_note.text().strip()
        ):
            psych = Evaluation(
                from_qdate(psych_day) if psych_day else None,
                self.psych_by.text(),
                self.psych_outcome.currentData(),
                self.psych_note.text(),
            )
        consent = date_or_none(self.consent_date)
        return EvaluationsDraft(
            trial,
            psych,
            from_qdate(consent) if consent else None,
            frozenset(k for k, c in self.confirmation_checks.items() if c.isChecked()),
        )

    @Slot()
    def save_evaluations(self) -> None:
        if self._view is None:
            return
        for label in (*self.evaluation_errors.values(), self.evaluations_error):
            show_error(label, None)
        try:
            save_evaluations(self._ctx, self._view.episode_id, self.evaluations_draft())
        except ValidationError as exc:
            aliases = {
                "trial.percent_relief": "trial.outcome",
                "trial.positive_response": "trial.outcome",
            }
            leftovers: list[str] = []
            for key, message in exc.field_errors.items():
                target = self.evaluation_errors.get(aliases.get(key, key))
                if target is None:
                    leftovers.append(message)
                else:
                    show_error(target, message)
            show_error(self.evaluations_error, " ".join(leftovers) or None)
            return
        except DomainError as exc:
            show_error(self.evaluations_error, str(exc))
            return
        self._after_write()
