"""Dialogs of the Preparation and Procedure pages: a drug of the medication adjustment list, a
pre-operative test, the readiness override, an intra-operative event, and the pump with its
initial fill recorded from the operation. Each validates through a service and shows every
problem next to its field; `ask` is what the pages call (tests patch it or drive the dialog)."""

from __future__ import annotations

import itertools
from datetime import datetime

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.readiness import PreopTest
from pathway_app.domain.records import NAME_MAX_LENGTH
from pathway_app.services.context import ServiceContext
from pathway_app.services.preparation import (
    OTHER_DRUG,
    GateView,
    MedicationDraft,
    MedicationView,
    TestView,
    hold_choices,
    override_gates,
    save_medication,
    save_test,
)
from pathway_app.services.procedure import (
    EventDraft,
    add_event,
    complication_categories,
    record_procedure_pump,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import (
    dialog_buttons,
    error_label,
    from_qdate,
    named,
    show_error,
    to_qdate,
    to_qdatetime,
)
from pathway_app.ui.dialogs.patient_dialog import blank_date_edit, date_or_none
from pathway_app.ui.dialogs.refill_dialog import ImplantDialog

CATEGORY_KEY_ROLE = Qt.ItemDataRole.UserRole + 1


def datetime_of(edit: QDateTimeEdit, ctx: ServiceContext) -> datetime:
    """The edit's moment as an aware datetime (the app clock's zone)."""
    return datetime.fromtimestamp(edit.dateTime().toMSecsSinceEpoch() / 1000, tz=ctx.now().tzinfo)


def datetime_edit(ctx: ServiceContext, object_name: str, accessible: str) -> QDateTimeEdit:
    edit = named(QDateTimeEdit(to_qdatetime(ctx.now())), object_name, accessible)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    return edit


def _form_rows(
    form: QFormLayout,
    rows: list[tuple[str, QWidget, QLabel | None]],
) -> None:
    for text, widget, error in rows:
        label = QLabel(text)
        label.setBuddy(widget)
        form.addRow(label, widget)
        if error is not None:
            form.addRow("", error)


def _tab_order(widgets: list[QWidget]) -> None:
    for first, second in itertools.pairwise(widgets):
        QWidget.setTabOrder(first, second)


class MedicationDialog(QDialog):
    """Add or change a drug on the adjustment list. Attributes: medication_id after saving."""

    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        current: MedicationView | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self._current = current
        self.medication_id: int | None = None
        self.setWindowTitle(self.tr("Change a drug") if current else self.tr("Add a drug"))
        named(self, names.MEDICATION_DIALOG, self.tr("Drug to adjust"))
        self.setMinimumWidth(560)
        self._choices = {c.key: c for c in hold_choices(ctx)}
        self.drug = named(QComboBox(), names.MEDICATION_DRUG_COMBO, self.tr("Drug"))
        self.drug.addItem("", "")
        for choice in self._choices.values():
            mark = self.tr(" [unverified]") if choice.unverified else ""
            self.drug.addItem(f"{choice.name}{mark}", choice.key)
        self.name = named(
            QLineEdit(), names.MEDICATION_NAME_EDIT, self.tr("Name of the other drug")
        )
        self.name.setMaxLength(NAME_MAX_LENGTH)
        self.dose_known = named(
            QCheckBox(self.tr("Last dose &known")),
            names.MEDICATION_DOSE_CHECK,
            self.tr("The last dose is known"),
        )
        self.dose = datetime_edit(ctx, names.MEDICATION_DOSE_EDIT, self.tr("Last dose"))
        self.dose.setMaximumDateTime(to_qdatetime(ctx.now()))
        self.instruction = named(
            QPlainTextEdit(), names.MEDICATION_INSTRUCTION_EDIT, self.tr("Instruction given")
        )
        self.instruction.setTabChangesFocus(True)
        self.instruction.setFixedHeight(56)
        self.decision_by = named(
            QLineEdit(), names.MEDICATION_DECISION_BY_EDIT, self.tr("Clinician who decided")
        )
        self.decision_by.setMaxLength(NAME_MAX_LENGTH)
        self.decision_note = named(
            QLineEdit(), names.MEDICATION_DECISION_NOTE_EDIT, self.tr("Decision")
        )
        self.table = named(QLabel(), names.MEDICATION_TABLE_LABEL, self.tr("Hold table row"))
        self.table.setWordWrap(True)
        self.errors = {
            "drug_key": error_label(names.MEDICATION_DRUG_ERROR),
            "name": error_label(names.MEDICATION_NAME_ERROR),
            "last_dose_at": error_label(names.MEDICATION_DOSE_ERROR),
            "instruction": error_label(names.MEDICATION_INSTRUCTION_ERROR),
            "decision_by": error_label(names.MEDICATION_DECISION_BY_ERROR),
            "decision_note": error_label(names.MEDICATION_DECISION_NOTE_ERROR),
        }
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        _form_rows(
            form,
            [
                (self.tr("&Drug:"), self.drug, self.errors["drug_key"]),
                (self.tr("&Other drug's name:"), self.name, self.errors["name"]),
            ],
        )
        form.addRow("", self.table)
        form.addRow("", self.dose_known)
        _form_rows(
            form,
            [
                (self.tr("&Last dose:"), self.dose, self.errors["last_dose_at"]),
                (self.tr("&Instruction:"), self.instruction, self.errors["instruction"]),
                (self.tr("Decided &by:"), self.decision_by, self.errors["decision_by"]),
                (self.tr("De&cision:"), self.decision_note, self.errors["decision_note"]),
            ],
        )
        hint = QLabel(
            self.tr(
                "A clinician's decision is needed for unverified rows, shared decisions and "
                "drugs not in the hold table; it is dated when saved."
            )
        )
        hint.setWordWrap(True)
        buttons = dialog_buttons(
            self,
            self.tr("&Save drug"),
            names.MEDICATION_SAVE_BUTTON,
            names.MEDICATION_CANCEL_BUTTON,
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        _tab_order(
            [
                self.drug,
                self.name,
                self.dose_known,
                self.dose,
                self.instruction,
                self.decision_by,
                self.decision_note,
                *buttons.buttons(),
            ]
        )
        self.drug.currentIndexChanged.connect(self._drug_changed)
        self.dose_known.toggled.connect(self.dose.setEnabled)
        if current is not None:
            self.drug.setCurrentIndex(max(0, self.drug.findData(current.drug_key)))
            if current.drug_key == OTHER_DRUG:
                self.name.setText(current.name)
            if current.last_dose_at is not None:
                self.dose.setDateTime(to_qdatetime(current.last_dose_at))
            self.instruction.setPlainText(current.instruction)
            self.decision_by.setText(current.decision_by)
            self.decision_note.setText(current.decision_note)
        self.dose_known.setChecked(current is None or current.last_dose_at is not None)
        self.dose.setEnabled(self.dose_known.isChecked())
        self._drug_changed()
        self.drug.setFocus()

    @Slot()
    def _drug_changed(self) -> None:
        choice = self._choices.get(self.drug.currentData() or "")
        self.name.setEnabled(choice is not None and choice.key == OTHER_DRUG)
        if choice is None:
            self.table.setText("")
            return
        text = self.tr("Hold: %1.").replace("%1", choice.hold)
        if choice.unverified:
            text += " " + self.tr("⚠ UNVERIFIED values: a clinician must decide.")
        if choice.note:
            text += " " + choice.note
        self.table.setText(text)

    def draft(self) -> MedicationDraft:
        return MedicationDraft(
            drug_key=self.drug.currentData() or "",
            name=self.name.text(),
            last_dose_at=datetime_of(self.dose, self._ctx) if self.dose_known.isChecked() else None,
            instruction=self.instruction.toPlainText(),
            decision_by=self.decision_by.text(),
            decision_note=self.decision_note.text(),
        )

    @Slot()
    def _save(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        try:
            self.medication_id = save_medication(
                self._ctx,
                self._episode_id,
                self.draft(),
                self._current.id if self._current else None,
            )
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.errors["drug_key"]), message)
            return
        except DomainError as exc:
            show_error(self.errors["drug_key"], str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        episode_id: int,
        current: MedicationView | None = None,
        parent: QWidget | None = None,
    ) -> int | None:
        dialog = cls(ctx, episode_id, current, parent)
        return dialog.medication_id if dialog.exec() == QDialog.DialogCode.Accepted else None


class PreopTestDialog(QDialog):
    """Record a pre-operative test's order, result and review."""

    def __init__(
        self, ctx: ServiceContext, episode_id: int, test: TestView, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self._test = test
        self.setWindowTitle(self.tr("Pre-operative test: %1").replace("%1", test.name))
        named(self, names.PREOP_TEST_DIALOG, self.tr("Pre-operative test"))
        self.setMinimumWidth(520)
        self.ordered = blank_date_edit(names.PREOP_TEST_ORDERED_EDIT, self.tr("Ordered on"))
        self.resulted = blank_date_edit(names.PREOP_TEST_RESULTED_EDIT, self.tr("Result date"))
        self.result_edit = named(
            QLineEdit(), names.PREOP_TEST_RESULT_EDIT, self.tr("Result value or summary")
        )
        self.reviewed_by = named(
            QLineEdit(), names.PREOP_TEST_REVIEWED_BY_EDIT, self.tr("Reviewed by")
        )
        self.reviewed_by.setMaxLength(NAME_MAX_LENGTH)
        self.reviewed = blank_date_edit(names.PREOP_TEST_REVIEWED_EDIT, self.tr("Review date"))
        record = test.record
        if record is not None:
            for edit, value in (
                (self.ordered, record.ordered_on),
                (self.resulted, record.resulted_on),
                (self.reviewed, record.reviewed_on),
            ):
                if value is not None:
                    edit.setDate(to_qdate(value))
            self.result_edit.setText(record.result)
            self.reviewed_by.setText(record.reviewed_by)
        self.errors = {
            "ordered_on": error_label(names.PREOP_TEST_ORDERED_ERROR),
            "resulted_on": error_label(names.PREOP_TEST_RESULTED_ERROR),
            "result": error_label(names.PREOP_TEST_RESULT_ERROR),
            "reviewed_by": error_label(names.PREOP_TEST_REVIEWED_BY_ERROR),
            "reviewed_on": error_label(names.PREOP_TEST_REVIEWED_ERROR),
        }
        validity = (
            self.tr("A result counts for %1 days%2.")
            .replace("%1", str(test.validity_days))
            .replace("%2", self.tr(" (clinic default)") if test.clinic_default else "")
        )
        intro = QLabel(validity)
        intro.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        _form_rows(
            form,
            [
                (self.tr("&Ordered on:"), self.ordered, self.errors["ordered_on"]),
                (self.tr("Res&ult date:"), self.resulted, self.errors["resulted_on"]),
                (self.tr("&Result / summary:"), self.result_edit, self.errors["result"]),
                (self.tr("Reviewed &by:"), self.reviewed_by, self.errors["reviewed_by"]),
                (self.tr("Re&view date:"), self.reviewed, self.errors["reviewed_on"]),
            ],
        )
        buttons = dialog_buttons(
            self,
            self.tr("&Save test"),
            names.PREOP_TEST_SAVE_BUTTON,
            names.PREOP_TEST_CANCEL_BUTTON,
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        _tab_order(
            [
                self.ordered,
                self.resulted,
                self.result_edit,
                self.reviewed_by,
                self.reviewed,
                *buttons.buttons(),
            ]
        )
        self.ordered.setFocus()

    def draft(self) -> PreopTest:
        def day(edit: object) -> object:
            value = date_or_none(edit)  # type: ignore[arg-type]
            return from_qdate(value) if value is not None else None

        return PreopTest(
            key=self._test.key,
            ordered_on=day(self.ordered),  # type: ignore[arg-type]
            resulted_on=day(self.resulted),  # type: ignore[arg-type]
            result=self.result_edit.text(),
            reviewed_by=self.reviewed_by.text(),
            reviewed_on=day(self.reviewed),  # type: ignore[arg-type]
        )

    @Slot()
    def _save(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        try:
            save_test(self._ctx, self._episode_id, self.draft())
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.errors["ordered_on"]), message)
            return
        except DomainError as exc:
            show_error(self.errors["ordered_on"], str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls, ctx: ServiceContext, episode_id: int, test: TestView, parent: QWidget | None = None
    ) -> bool:
        return cls(ctx, episode_id, test, parent).exec() == QDialog.DialogCode.Accepted


class OverrideDialog(QDialog):
    """An authorised override of the unmet gates: who authorised it and why (required)."""

    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        gates: tuple[GateView, ...],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self.override_id: int | None = None
        self.setWindowTitle(self.tr("Override readiness gates"))
        named(self, names.OVERRIDE_DIALOG, self.windowTitle())
        self.setMinimumWidth(560)
        listing = "\n".join(f"• {g.name}: {' '.join(g.reasons)}" for g in gates)
        self.gates = named(
            QLabel(
                self.tr(
                    "The episode will go on to the Procedure stage although these gates are "
                    "unmet. The override covers only them and stays in the history:\n%1"
                ).replace("%1", listing)
            ),
            names.OVERRIDE_GATES_LABEL,
            self.tr("Gates to override"),
        )
        self.gates.setWordWrap(True)
        self.gates.setStyleSheet(
            "background: #fff3cd; color: #533f03; border: 1px solid #e0c36c; padding: 6px;"
        )
        self.reason = named(QPlainTextEdit(), names.OVERRIDE_REASON_EDIT, self.tr("Reason"))
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(80)
        self.by = named(QLineEdit(), names.OVERRIDE_BY_EDIT, self.tr("Authorised by"))
        self.by.setMaxLength(NAME_MAX_LENGTH)
        self.errors = {
            "override_reason": error_label(names.OVERRIDE_REASON_ERROR),
            "override_by": error_label(names.OVERRIDE_BY_ERROR),
        }
        self.form_error = error_label(names.OVERRIDE_FORM_ERROR)
        form = QFormLayout()
        _form_rows(
            form,
            [
                (self.tr("&Reason (required):"), self.reason, self.errors["override_reason"]),
                (self.tr("&Authorised by:"), self.by, self.errors["override_by"]),
            ],
        )
        buttons = dialog_buttons(
            self, self.tr("&Override"), names.OVERRIDE_SAVE_BUTTON, names.OVERRIDE_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addWidget(self.gates)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(buttons)
        _tab_order([self.reason, self.by, *buttons.buttons()])
        self.reason.setFocus()

    @Slot()
    def _save(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            show_error(label, None)
        try:
            self.override_id = override_gates(
                self._ctx, self._episode_id, self.reason.toPlainText(), self.by.text()
            )
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.form_error), message)
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        episode_id: int,
        gates: tuple[GateView, ...],
        parent: QWidget | None = None,
    ) -> int | None:
        dialog = cls(ctx, episode_id, gates, parent)
        return dialog.override_id if dialog.exec() == QDialog.DialogCode.Accepted else None


class EventDialog(QDialog):
    """Note an intra-operative event or complication with the risk list's categories."""

    def __init__(self, ctx: ServiceContext, episode_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self.event_id: int | None = None
        self.setWindowTitle(self.tr("Intra-operative event"))
        named(self, names.EVENT_DIALOG, self.windowTitle())
        self.setMinimumWidth(560)
        self.at = datetime_edit(ctx, names.EVENT_AT_EDIT, self.tr("When"))
        self.at.setMaximumDateTime(to_qdatetime(ctx.now()))
        self.text = named(QPlainTextEdit(), names.EVENT_TEXT_EDIT, self.tr("What happened"))
        self.text.setTabChangesFocus(True)
        self.text.setFixedHeight(72)
        self.categories = named(
            QListWidget(), names.EVENT_CATEGORY_LIST, self.tr("Categories of the risk list")
        )
        for category in complication_categories(ctx):
            item = QListWidgetItem(category.name)
            item.setData(CATEGORY_KEY_ROLE, category.key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            if category.detail:
                item.setToolTip(category.detail)
            self.categories.addItem(item)
        self.errors = {
            "at": error_label(names.EVENT_AT_ERROR),
            "text": error_label(names.EVENT_TEXT_ERROR),
            "categories": error_label(names.EVENT_CATEGORY_ERROR),
        }
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        _form_rows(
            form,
            [
                (self.tr("&When:"), self.at, self.errors["at"]),
                (self.tr("&What happened:"), self.text, self.errors["text"]),
                (self.tr("&Categories (space ticks):"), self.categories, self.errors["categories"]),
            ],
        )
        buttons = dialog_buttons(
            self, self.tr("&Save event"), names.EVENT_SAVE_BUTTON, names.EVENT_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        _tab_order([self.at, self.text, self.categories, *buttons.buttons()])
        self.text.setFocus()
        self.resize(600, 520)

    def checked(self) -> frozenset[str]:
        keys = set()
        for row in range(self.categories.count()):
            item = self.categories.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                keys.add(str(item.data(CATEGORY_KEY_ROLE)))
        return frozenset(keys)

    @Slot()
    def _save(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        try:
            self.event_id = add_event(
                self._ctx,
                self._episode_id,
                EventDraft(
                    datetime_of(self.at, self._ctx), self.text.toPlainText(), self.checked()
                ),
            )
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.errors["text"]), message)
            return
        except DomainError as exc:
            show_error(self.errors["text"], str(exc))
            return
        self.accept()

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent: QWidget | None = None) -> bool:
        return cls(ctx, episode_id, parent).exec() == QDialog.DialogCode.Accepted


class ProcedureImplantDialog(ImplantDialog):
    """The implant dialog of the pump page, saving through the procedure service: the same
    checks and the same refill service, refused while a readiness gate blocks."""

    record = staticmethod(record_procedure_pump)
