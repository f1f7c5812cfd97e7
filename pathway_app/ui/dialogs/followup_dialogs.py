"""Dialogs of the hospital stay and follow-up pages. Each validates through its service on
save and shows every problem next to its field (a problem with no field goes to the form's
own error label); nothing is written while anything is wrong. Each has a classmethod ``ask``
that tests can patch."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.followup import CLOSE_KIND_LABELS, STATUS_LABELS, FollowUpStatus
from pathway_app.domain.records import NAME_MAX_LENGTH
from pathway_app.domain.recovery import Complication
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import (
    PlanProposal,
    accept_plan,
    add_followup,
    change_followup_status,
    close_episode,
    log_complication,
    move_followup,
    raise_red_flags,
    resolve_missed_item,
    resolve_red_flag,
    update_complication,
)
from pathway_app.services.followup_views import ComplicationView, FollowUpItemView
from pathway_app.services.stay import (
    DischargeResult,
    add_monitoring_note,
    discharge,
    record_admission,
    record_wound_care,
    set_restrictions,
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

FieldKeys = str | tuple[str, ...]
# The plan dialog names its row date editors planDueEdit0, planDueEdit1, … (docs/automation.md).
PLAN_DUE_EDIT_PREFIX = "planDueEdit"


def _datetime_edit(ctx: ServiceContext, object_name: str, accessible: str, value: datetime | None):
    now = to_qdatetime(ctx.now())
    edit = named(QDateTimeEdit(to_qdatetime(value) if value else now), object_name, accessible)
    edit.setCalendarPopup(True)
    edit.setMaximumDateTime(now)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    return edit


def read_datetime(edit: QDateTimeEdit, ctx: ServiceContext) -> datetime:
    return datetime.fromtimestamp(edit.dateTime().toMSecsSinceEpoch() / 1000, tz=ctx.now().tzinfo)


def _date_edit(object_name: str, accessible: str, value: date | None) -> QDateEdit:
    edit = blank_date_edit(object_name, accessible)
    if value is not None:
        edit.setDate(to_qdate(value))
    return edit


def read_date(edit: QDateEdit) -> date | None:
    value = date_or_none(edit)
    return from_qdate(value) if value is not None else None


def _text_edit(object_name: str, accessible: str, height: int = 64) -> QPlainTextEdit:
    edit = named(QPlainTextEdit(), object_name, accessible)
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(height)
    return edit


class FormDialog(QDialog):
    """A dialog with a form, one error label per field, a form-level error label and
    save/cancel buttons. Subclasses add fields with `field` and implement `save`."""

    def __init__(
        self,
        ctx: ServiceContext,
        parent: QWidget | None,
        *,
        object_name: str,
        title: str,
        intro: str = "",
        form_error: str,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.setWindowTitle(title)
        named(self, object_name, title)
        self.setMinimumWidth(520)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.errors: dict[str, QLabel] = {}
        self.form_error = error_label(form_error)
        self._order: list[QWidget] = []
        self._layout = QVBoxLayout(self)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.intro.setVisible(bool(intro))
        self._layout.addWidget(self.intro)
        self._layout.addLayout(self.form)

    def field(
        self, keys: FieldKeys, label_text: str, widget: QWidget, error_name: str | None = None
    ) -> QWidget:
        """Add a labelled field (the label is the widget's buddy) with its error label."""
        label = QLabel(label_text)
        label.setBuddy(widget)
        label.setWordWrap(True)
        self.form.addRow(label, widget)
        if error_name is not None:
            error = error_label(error_name)
            self.form.addRow("", error)
            for key in (keys,) if isinstance(keys, str) else keys:
                self.errors[key] = error
        self._order.append(widget)
        return widget

    def finish(self, save_text: str, save_name: str, cancel_name: str) -> None:
        buttons = QDialogButtonBox()
        self.save_button = named(
            buttons.addButton(save_text, QDialogButtonBox.ButtonRole.AcceptRole),
            save_name,
            save_text.replace("&", ""),
        )
        named(
            buttons.addButton(self.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole),
            cancel_name,
            self.tr("Cancel"),
        )
        self.save_button.setDefault(True)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        self._layout.addWidget(self.form_error)
        self._layout.addWidget(buttons)
        order = [*self._order, *buttons.buttons()]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        if self._order:
            self._order[0].setFocus()

    def save(self) -> None:
        raise NotImplementedError

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            show_error(self.errors.get(key, self.form_error), message)

    @Slot()
    def _save(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            show_error(label, None)
        try:
            self.save()
        except ValidationError as exc:
            self.show_errors(dict(exc.field_errors))
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def run(cls, dialog: FormDialog) -> bool:
        return dialog.exec() == QDialog.DialogCode.Accepted


# --- hospital stay ----------------------------------------------------------------------------


class AdmissionDialog(FormDialog):
    def __init__(
        self, ctx: ServiceContext, episode_id: int, current: datetime | None, parent=None
    ) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.ADMISSION_DIALOG,
            title=tr("Followup", "Admission to the ward"),
            intro=tr(
                "Followup",
                "When the patient was admitted. Days of stay are counted as midnights in hospital.",
            ),
            form_error=names.ADMISSION_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.at = _datetime_edit(ctx, names.ADMISSION_AT_EDIT, self.tr("Admitted at"), current)
        self.field("admitted_at", self.tr("&Admitted at:"), self.at, names.ADMISSION_AT_ERROR)
        self.finish(self.tr("&Save"), names.ADMISSION_SAVE_BUTTON, names.ADMISSION_CANCEL_BUTTON)

    def save(self) -> None:
        record_admission(self._ctx, self._episode_id, read_datetime(self.at, self._ctx))

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, current: datetime | None, parent=None):
        return cls.run(cls(ctx, episode_id, current, parent))


class DischargeDialog(FormDialog):
    """Discharge; while checklist items are open it says which and asks for a reason."""

    def __init__(
        self, ctx: ServiceContext, episode_id: int, open_items: Sequence[str], parent=None
    ) -> None:
        if open_items:
            intro = tr("Followup", "Discharge is blocked: %1 checklist item(s) open:").replace(
                "%1", str(len(open_items))
            ) + "".join(f"\n • {name}" for name in open_items)
            intro += "\n" + tr(
                "Followup",
                "Complete them on the Hospital stay page, or give a reason to discharge anyway.",
            )
        else:
            intro = tr("Followup", "The discharge checklist is complete.")
        super().__init__(
            ctx,
            parent,
            object_name=names.DISCHARGE_DIALOG,
            title=tr("Followup", "Discharge"),
            intro=intro,
            form_error=names.DISCHARGE_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.result_info: DischargeResult | None = None
        self.at = _datetime_edit(ctx, names.DISCHARGE_AT_EDIT, self.tr("Discharged at"), None)
        self.field("discharged_at", self.tr("&Discharged at:"), self.at, names.DISCHARGE_AT_ERROR)
        self.reason = _text_edit(
            names.DISCHARGE_OVERRIDE_REASON_EDIT, self.tr("Reason to discharge with items open")
        )
        self.field(
            "override_reason",
            self.tr("&Reason to discharge with items open:"),
            self.reason,
            names.DISCHARGE_OVERRIDE_REASON_ERROR,
        )
        if not open_items:
            self.reason.setEnabled(False)
        self.finish(
            self.tr("&Discharge"), names.DISCHARGE_SAVE_BUTTON, names.DISCHARGE_CANCEL_BUTTON
        )

    def save(self) -> None:
        self.result_info = discharge(
            self._ctx,
            self._episode_id,
            read_datetime(self.at, self._ctx),
            self.reason.toPlainText(),
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, open_items: Sequence[str], parent=None):
        return cls.run(cls(ctx, episode_id, open_items, parent))


class RestrictionsDialog(FormDialog):
    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        end_on: date | None,
        items: Sequence[str],
        parent=None,
    ) -> None:
        config = ctx.recovery.restrictions
        super().__init__(
            ctx,
            parent,
            object_name=names.RESTRICTIONS_DIALOG,
            title=tr("Followup", "Activity restrictions"),
            intro=tr(
                "Followup",
                "The restrictions apply up to and including the last day. Usual window: "
                "%1-%2 weeks after the operation (proposed: %3 weeks, clinic default).",
            )
            .replace("%1", str(config.window_min_weeks))
            .replace("%2", str(config.window_max_weeks))
            .replace("%3", str(config.default_weeks)),
            form_error=names.RESTRICTIONS_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.warning: str | None = None
        self.end = _date_edit(names.RESTRICTIONS_END_EDIT, self.tr("Last day"), end_on)
        self.field(
            "restrictions_end_on", self.tr("&Last day:"), self.end, names.RESTRICTIONS_END_ERROR
        )
        self.items = _text_edit(
            names.RESTRICTIONS_ITEMS_EDIT, self.tr("Restrictions, one per line"), 110
        )
        self.items.setPlainText("\n".join(items))
        self.field(
            "restrictions",
            self.tr("&Restrictions (one per line):"),
            self.items,
            names.RESTRICTIONS_ITEMS_ERROR,
        )
        self.finish(
            self.tr("&Save"), names.RESTRICTIONS_SAVE_BUTTON, names.RESTRICTIONS_CANCEL_BUTTON
        )

    def save(self) -> None:
        self.warning = set_restrictions(
            self._ctx,
            self._episode_id,
            read_date(self.end),
            # Only real line breaks split: splitlines() would also split at form feeds and
            # other control characters, hiding them from the service's check.
            self.items.toPlainText().split("\n"),
        )

    @classmethod
    def ask(cls, ctx, episode_id: int, end_on: date | None, items: Sequence[str], parent=None):
        return cls.run(cls(ctx, episode_id, end_on, items, parent))


class WoundCareDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, episode_id: int, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.WOUND_CARE_DIALOG,
            title=tr("Followup", "Wound care instructions given"),
            form_error=names.WOUND_CARE_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.by = named(QLineEdit(ctx.actor), names.WOUND_CARE_BY_EDIT, self.tr("Given by"))
        self.by.setMaxLength(NAME_MAX_LENGTH)
        self.field("given_by", self.tr("&Given by:"), self.by, names.WOUND_CARE_BY_ERROR)
        self.at = _datetime_edit(ctx, names.WOUND_CARE_AT_EDIT, self.tr("Given at"), None)
        self.field("given_at", self.tr("Given &at:"), self.at, names.WOUND_CARE_AT_ERROR)
        self.notes = _text_edit(names.WOUND_CARE_NOTES_EDIT, self.tr("Notes"))
        self.field("notes", self.tr("&Notes:"), self.notes, names.WOUND_CARE_NOTES_ERROR)
        self.finish(self.tr("&Save"), names.WOUND_CARE_SAVE_BUTTON, names.WOUND_CARE_CANCEL_BUTTON)

    def save(self) -> None:
        record_wound_care(
            self._ctx,
            self._episode_id,
            self.by.text(),
            read_datetime(self.at, self._ctx),
            self.notes.toPlainText(),
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent=None) -> bool:
        return cls.run(cls(ctx, episode_id, parent))


class MonitoringNoteDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, episode_id: int, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.MONITORING_NOTE_DIALOG,
            title=tr("Followup", "Post-operative monitoring note"),
            intro=tr("Followup", "What was watched: CSF leak, the wound, pump operation."),
            form_error=names.MONITORING_NOTE_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.at = _datetime_edit(ctx, names.MONITORING_NOTE_AT_EDIT, self.tr("Note time"), None)
        self.field("at", self.tr("&Time:"), self.at, names.MONITORING_NOTE_AT_ERROR)
        self.text = _text_edit(names.MONITORING_NOTE_TEXT_EDIT, self.tr("Note"), 110)
        self.field(
            ("text", "author"), self.tr("&Note:"), self.text, names.MONITORING_NOTE_TEXT_ERROR
        )
        self.finish(
            self.tr("&Add note"),
            names.MONITORING_NOTE_SAVE_BUTTON,
            names.MONITORING_NOTE_CANCEL_BUTTON,
        )

    def save(self) -> None:
        add_monitoring_note(
            self._ctx, self._episode_id, read_datetime(self.at, self._ctx), self.text.toPlainText()
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent=None) -> bool:
        return cls.run(cls(ctx, episode_id, parent))


# --- the follow-up plan -----------------------------------------------------------------------


class PlanDialog(QDialog):
    """The plan proposed on discharge: untick an item to leave it out, change a date to move
    it; accepting stores the plan. The next refill comes from the refill engine."""

    def __init__(self, ctx: ServiceContext, proposal: PlanProposal, parent=None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._proposal = proposal
        self.item_ids: list[int] = []
        title = self.tr("Follow-up plan")
        self.setWindowTitle(title)
        named(self, names.PLAN_DIALOG, title)
        self.setMinimumSize(720, 460)
        intro = QLabel(
            self.tr(
                "Proposed from the operation on %1. Untick what this patient does not need "
                "and change a date to move it. Items marked † use unverified or clinic-default "
                "intervals from recovery.toml."
            ).replace("%1", format_date(proposal.operation_on))
        )
        intro.setWordWrap(True)
        refill = (
            self.tr("Refill visits come from the refill engine: next refill due %1.").replace(
                "%1", format_datetime(proposal.refill_due_at)
            )
            if proposal.refill_due_at
            else self.tr(
                "Refill visits come from the refill engine once the implant and initial fill "
                "are recorded (Pump and refills page)."
            )
        )
        self.refill_label = named(QLabel(refill), names.PLAN_REFILL_LABEL, self.tr("Next refill"))
        self.refill_label.setWordWrap(True)
        self.table = named(QTableWidget(), names.PLAN_ITEMS_TABLE, self.tr("Proposed items"))
        self.table.setColumnCount(3)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Keep · purpose"), self.tr("Due"), self.tr("Notes")]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setRowCount(len(proposal.items))
        self.date_edits: list[QDateEdit] = []
        for row, item in enumerate(proposal.items):
            text = item.purpose
            if item.series_id is not None:
                size = sum(1 for i in proposal.items if i.series_id == item.series_id)
                text += self.tr(" (%1 of %2)").replace("%1", str((item.occurrence or 0) + 1))
                text = text.replace("%2", str(size))
            if item.key in proposal.marks:
                text += " †"
            cell = QTableWidgetItem(text)
            cell.setFlags(cell.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
            cell.setCheckState(Qt.CheckState.Checked)
            mark = proposal.marks.get(item.key)
            cell.setToolTip(self.tr("Interval: %1").replace("%1", mark) if mark else "")
            self.table.setItem(row, 0, cell)
            edit = named(
                QDateEdit(to_qdate(item.due_on)),
                f"{PLAN_DUE_EDIT_PREFIX}{row}",
                self.tr("Due date of %1").replace("%1", text),
            )
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            self.table.setCellWidget(row, 1, edit)
            self.date_edits.append(edit)
            window = (
                self.tr("from %1").replace("%1", format_date(item.window_opens_on))
                if item.window_opens_on
                else ""
            )
            note = QTableWidgetItem(window)
            note.setFlags(note.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 2, note)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.items_error = error_label(names.PLAN_ITEMS_ERROR)
        buttons = QDialogButtonBox()
        self.accept_button = named(
            buttons.addButton(self.tr("&Accept plan"), QDialogButtonBox.ButtonRole.AcceptRole),
            names.PLAN_ACCEPT_BUTTON,
            self.tr("Accept plan"),
        )
        named(
            buttons.addButton(self.tr("Not now"), QDialogButtonBox.ButtonRole.RejectRole),
            names.PLAN_CANCEL_BUTTON,
            self.tr("Not now"),
        )
        self.accept_button.setDefault(True)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        label = QLabel(self.tr("&Items:"))
        label.setBuddy(self.table)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.refill_label)
        layout.addWidget(label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.items_error)
        layout.addWidget(buttons)
        QWidget.setTabOrder(self.table, self.accept_button)
        self.table.setFocus()

    def chosen(self) -> list[Any]:
        result = []
        for row, item in enumerate(self._proposal.items):
            cell = self.table.item(row, 0)
            if cell is not None and cell.checkState() == Qt.CheckState.Checked:
                result.append(replace(item, due_on=from_qdate(self.date_edits[row].date())))
        return result

    @Slot()
    def _save(self) -> None:
        show_error(self.items_error, None)
        try:
            self.item_ids = accept_plan(self._ctx, self._proposal.episode_id, self.chosen())
        except DomainError as exc:
            message = (
                "\n".join(exc.field_errors.values())
                if isinstance(exc, ValidationError)
                else str(exc)
            )
            show_error(self.items_error, message)
            return
        self.accept()

    @classmethod
    def ask(cls, ctx: ServiceContext, proposal: PlanProposal, parent=None) -> bool:
        return cls(ctx, proposal, parent).exec() == QDialog.DialogCode.Accepted


class FollowUpAddDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, episode_id: int, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.FOLLOWUP_ADD_DIALOG,
            title=tr("Followup", "Add a follow-up"),
            form_error=names.FOLLOWUP_ADD_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.purpose = named(QLineEdit(), names.FOLLOWUP_PURPOSE_EDIT, self.tr("Purpose"))
        self.purpose.setMaxLength(NAME_MAX_LENGTH)
        self.field("purpose", self.tr("&Purpose:"), self.purpose, names.FOLLOWUP_PURPOSE_ERROR)
        self.due = _date_edit(names.FOLLOWUP_DUE_EDIT, self.tr("Due date"), ctx.today())
        self.field("due_on", self.tr("&Due:"), self.due, names.FOLLOWUP_DUE_ERROR)
        self.notes = _text_edit(names.FOLLOWUP_NOTES_EDIT, self.tr("Notes"))
        self.field("notes", self.tr("&Notes:"), self.notes, names.FOLLOWUP_NOTES_ERROR)
        self.repeat = named(
            QCheckBox(self.tr("&Repeats")), names.FOLLOWUP_REPEAT_CHECK, self.tr("Repeats")
        )
        self.field("repeat", self.tr("Series:"), self.repeat)
        self.every = named(QSpinBox(), names.FOLLOWUP_EVERY_SPIN, self.tr("Every N months"))
        self.every.setRange(1, 60)
        self.every.setValue(6)
        self.every.setSuffix(self.tr(" month(s)"))
        self.field("every_months", self.tr("&Every:"), self.every, names.FOLLOWUP_EVERY_ERROR)
        self.count = named(QSpinBox(), names.FOLLOWUP_COUNT_SPIN, self.tr("Number of visits"))
        self.count.setRange(1, 240)
        self.count.setValue(4)
        self.field("count", self.tr("&Times:"), self.count, names.FOLLOWUP_COUNT_ERROR)
        self.repeat.toggled.connect(self._repeat_changed)
        self._repeat_changed(False)
        self.finish(
            self.tr("&Add"), names.FOLLOWUP_ADD_SAVE_BUTTON, names.FOLLOWUP_ADD_CANCEL_BUTTON
        )

    @Slot(bool)
    def _repeat_changed(self, on: bool) -> None:
        self.every.setEnabled(on)
        self.count.setEnabled(on)

    def save(self) -> None:
        repeat = self.repeat.isChecked()
        add_followup(
            self._ctx,
            self._episode_id,
            self.purpose.text(),
            read_date(self.due),
            notes=self.notes.toPlainText(),
            every_months=self.every.value() if repeat else None,
            count=self.count.value() if repeat else None,
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent=None) -> bool:
        return cls.run(cls(ctx, episode_id, parent))


class FollowUpMoveDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, item: FollowUpItemView, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.FOLLOWUP_MOVE_DIALOG,
            title=tr("Followup", "Move follow-up"),
            intro=tr("Followup", "%1, due %2")
            .replace("%1", item.purpose)
            .replace("%2", format_date(item.due_on)),
            form_error=names.FOLLOWUP_MOVE_FORM_ERROR,
        )
        self._item = item
        self.date = _date_edit(names.FOLLOWUP_MOVE_DATE_EDIT, self.tr("New due date"), item.due_on)
        self.field("due_on", self.tr("&New due date:"), self.date, names.FOLLOWUP_MOVE_DATE_ERROR)
        self.series = named(
            QCheckBox(self.tr("Move this and all &following occurrences")),
            names.FOLLOWUP_MOVE_SERIES_CHECK,
            self.tr("Move the whole series from here"),
        )
        self.series.setEnabled(item.series_id is not None)
        self.field("series", self.tr("Series:"), self.series)
        self.finish(
            self.tr("&Move"), names.FOLLOWUP_MOVE_SAVE_BUTTON, names.FOLLOWUP_MOVE_CANCEL_BUTTON
        )

    def save(self) -> None:
        move_followup(
            self._ctx, self._item.id, read_date(self.date), whole_series=self.series.isChecked()
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, item: FollowUpItemView, parent=None) -> bool:
        return cls.run(cls(ctx, item, parent))


class FollowUpStatusDialog(FormDialog):
    """Change an item's status; a missed item is resolved instead (reason always required)."""

    def __init__(self, ctx: ServiceContext, item: FollowUpItemView, parent=None) -> None:
        missed = item.status is FollowUpStatus.MISSED
        super().__init__(
            ctx,
            parent,
            object_name=names.FOLLOWUP_STATUS_DIALOG,
            title=tr("Followup", "Resolve missed follow-up")
            if missed
            else tr("Followup", "Change follow-up status"),
            intro=(
                tr("Followup", "%1 was due %2 and was missed. Say what happened.")
                if missed
                else tr("Followup", "%1, due %2.")
            )
            .replace("%1", item.purpose)
            .replace("%2", format_date(item.due_on)),
            form_error=names.FOLLOWUP_STATUS_FORM_ERROR,
        )
        self._missed = missed
        self._item = item
        self.status = named(QComboBox(), names.FOLLOWUP_STATUS_COMBO, self.tr("New status"))
        choices = (
            (FollowUpStatus.DONE, FollowUpStatus.BOOKED, FollowUpStatus.PLANNED)
            if self._missed
            else (
                FollowUpStatus.BOOKED,
                FollowUpStatus.PLANNED,
                FollowUpStatus.DONE,
                FollowUpStatus.MISSED,
            )
        )
        for status in (*choices, FollowUpStatus.CANCELLED):
            if status != item.status:
                self.status.addItem(self.tr(STATUS_LABELS[status]), status.value)
        self.field("status", self.tr("&Status:"), self.status)
        self.reason = _text_edit(names.FOLLOWUP_STATUS_REASON_EDIT, self.tr("Reason"))
        self.field(
            ("reason", "cancel_reason"),
            self.tr("&Reason:"),
            self.reason,
            names.FOLLOWUP_STATUS_REASON_ERROR,
        )
        self.done_at = _datetime_edit(
            ctx, names.FOLLOWUP_STATUS_DONE_AT_EDIT, self.tr("Done at"), None
        )
        self.field(
            "done_at", self.tr("&Done at:"), self.done_at, names.FOLLOWUP_STATUS_DONE_AT_ERROR
        )
        self.new_due = _date_edit(
            names.FOLLOWUP_STATUS_NEW_DUE_EDIT, self.tr("New due date"), ctx.today()
        )
        self.field(
            "new_due_on",
            self.tr("&New due date:"),
            self.new_due,
            names.FOLLOWUP_STATUS_NEW_DUE_ERROR,
        )
        self.status.currentIndexChanged.connect(self._status_changed)
        self._status_changed()
        self.finish(
            self.tr("&Save"), names.FOLLOWUP_STATUS_SAVE_BUTTON, names.FOLLOWUP_STATUS_CANCEL_BUTTON
        )

    @Slot()
    def _status_changed(self) -> None:
        status = FollowUpStatus(self.status.currentData())
        self.done_at.setEnabled(status is FollowUpStatus.DONE)
        self.new_due.setEnabled(
            self._missed and status in (FollowUpStatus.PLANNED, FollowUpStatus.BOOKED)
        )
        self.reason.setEnabled(self._missed or status is FollowUpStatus.CANCELLED)

    def save(self) -> None:
        status = FollowUpStatus(self.status.currentData())
        done_at = read_datetime(self.done_at, self._ctx)
        if self._missed:
            resolve_missed_item(
                self._ctx,
                self._item.id,
                status,
                self.reason.toPlainText(),
                done_at=done_at if status is FollowUpStatus.DONE else None,
                new_due_on=read_date(self.new_due),
            )
        else:
            change_followup_status(
                self._ctx,
                self._item.id,
                status,
                reason=self.reason.toPlainText(),
                done_at=done_at if status is FollowUpStatus.DONE else None,
            )

    @classmethod
    def ask(cls, ctx: ServiceContext, item: FollowUpItemView, parent=None) -> bool:
        return cls.run(cls(ctx, item, parent))


# --- complications, red flags, closing --------------------------------------------------------


class ComplicationDialog(FormDialog):
    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        existing: ComplicationView | None = None,
        parent=None,
    ) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.COMPLICATION_DIALOG,
            title=tr("Followup", "Update complication")
            if existing
            else self.tr("Log a complication"),
            form_error=names.COMPLICATION_FORM_ERROR,
        )
        self._episode_id = episode_id
        self._existing = existing
        config = ctx.recovery
        self.category = named(QComboBox(), names.COMPLICATION_CATEGORY_COMBO, self.tr("Category"))
        self.category.addItem("", "")
        for category in config.complications:
            self.category.addItem(category.name, category.key)
            self.category.setItemData(
                self.category.count() - 1, category.detail, Qt.ItemDataRole.ToolTipRole
            )
        self.field(
            "category", self.tr("&Category:"), self.category, names.COMPLICATION_CATEGORY_ERROR
        )
        self.onset = _date_edit(
            names.COMPLICATION_ONSET_EDIT,
            self.tr("Onset date"),
            existing.onset_on if existing else ctx.today(),
        )
        self.field("onset_on", self.tr("&Onset:"), self.onset, names.COMPLICATION_ONSET_ERROR)
        self.severity = named(QComboBox(), names.COMPLICATION_SEVERITY_COMBO, self.tr("Severity"))
        self.severity.addItem("", "")
        for severity in config.severities:
            self.severity.addItem(severity.name, severity.key)
        self.field(
            "severity", self.tr("&Severity:"), self.severity, names.COMPLICATION_SEVERITY_ERROR
        )
        self.detail = _text_edit(names.COMPLICATION_DETAIL_EDIT, self.tr("Description"), 52)
        self.field(
            "detail",
            self.tr("D&escription (required for Other):"),
            self.detail,
            names.COMPLICATION_DETAIL_ERROR,
        )
        self.action = _text_edit(names.COMPLICATION_ACTION_EDIT, self.tr("Action taken"), 52)
        self.field(
            "action_taken", self.tr("&Action taken:"), self.action, names.COMPLICATION_ACTION_ERROR
        )
        self.resolved = _date_edit(
            names.COMPLICATION_RESOLVED_EDIT,
            self.tr("Resolved date (blank while open)"),
            existing.resolved_on if existing else None,
        )
        self.field(
            "resolved_on",
            self.tr("&Resolved (blank while open):"),
            self.resolved,
            names.COMPLICATION_RESOLVED_ERROR,
        )
        if existing is not None:
            self.category.setCurrentIndex(max(0, self.category.findData(existing.category)))
            self.severity.setCurrentIndex(max(0, self.severity.findData(existing.severity)))
            self.detail.setPlainText(existing.detail)
            self.action.setPlainText(existing.action_taken)
        self.finish(
            self.tr("&Save"), names.COMPLICATION_SAVE_BUTTON, names.COMPLICATION_CANCEL_BUTTON
        )

    def save(self) -> None:
        entry = Complication(
            category=self.category.currentData() or "",
            onset_on=read_date(self.onset),
            severity=self.severity.currentData() or "",
            action_taken=self.action.toPlainText(),
            resolved_on=read_date(self.resolved),
            detail=self.detail.toPlainText(),
        )
        if self._existing is None:
            log_complication(self._ctx, self._episode_id, entry)
        else:
            update_complication(self._ctx, self._existing.id, entry)

    @classmethod
    def ask(cls, ctx, episode_id: int, existing: ComplicationView | None = None, parent=None):
        return cls.run(cls(ctx, episode_id, existing, parent))


class RedFlagDialog(FormDialog):
    """The red-flag reference list to tick during a call; each ticked symptom becomes an urgent
    worklist item."""

    def __init__(self, ctx: ServiceContext, episode_id: int, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.RED_FLAG_DIALOG,
            title=tr("Followup", "Red-flag symptoms"),
            intro=tr(
                "Followup",
                "Tick what the patient reports. Each ticked symptom becomes an URGENT item on "
                "the worklist until someone resolves it.",
            ),
            form_error=names.RED_FLAG_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.flags = named(QListWidget(), names.RED_FLAG_LIST, self.tr("Red-flag symptoms"))
        for flag in ctx.recovery.red_flags:
            text = flag.name + (f" — {flag.detail}" if flag.detail else "")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, flag.key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(flag.source)
            self.flags.addItem(item)
        self.flags.setWordWrap(True)
        self.flags.setMinimumHeight(260)
        self.flags.itemActivated.connect(self._toggle)
        self.field("red_flags", self.tr("&Symptoms:"), self.flags, names.RED_FLAG_LIST_ERROR)
        self.note = _text_edit(names.RED_FLAG_NOTE_EDIT, self.tr("Note from the call"))
        self.field("note", self.tr("&Note:"), self.note, names.RED_FLAG_NOTE_ERROR)
        self.setMinimumWidth(640)
        self.finish(
            self.tr("&Raise urgent item(s)"),
            names.RED_FLAG_SAVE_BUTTON,
            names.RED_FLAG_CANCEL_BUTTON,
        )

    @Slot(QListWidgetItem)
    def _toggle(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    def ticked(self) -> list[str]:
        return [
            self.flags.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.flags.count())
            if self.flags.item(i).checkState() == Qt.CheckState.Checked
        ]

    def save(self) -> None:
        raise_red_flags(self._ctx, self._episode_id, self.ticked(), self.note.toPlainText())

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent=None) -> bool:
        return cls.run(cls(ctx, episode_id, parent))


class ResolveRedFlagDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, report_id: int, title: str, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.RESOLVE_RED_FLAG_DIALOG,
            title=tr("Followup", "Resolve urgent item"),
            intro=title,
            form_error=names.RESOLVE_RED_FLAG_FORM_ERROR,
        )
        self._report_id = report_id
        self.text = _text_edit(names.RESOLVE_RED_FLAG_EDIT, self.tr("What was done"))
        self.field(
            "resolution", self.tr("&What was done:"), self.text, names.RESOLVE_RED_FLAG_ERROR
        )
        self.finish(
            self.tr("&Resolve"),
            names.RESOLVE_RED_FLAG_SAVE_BUTTON,
            names.RESOLVE_RED_FLAG_CANCEL_BUTTON,
        )

    def save(self) -> None:
        resolve_red_flag(self._ctx, self._report_id, self.text.toPlainText())

    @classmethod
    def ask(cls, ctx: ServiceContext, report_id: int, title: str, parent=None) -> bool:
        return cls.run(cls(ctx, report_id, title, parent))


class CloseEpisodeDialog(FormDialog):
    def __init__(self, ctx: ServiceContext, episode_id: int, parent=None) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.CLOSE_EPISODE_DIALOG,
            title=tr("Followup", "Close episode"),
            intro=tr(
                "Followup",
                "A closed episode leaves the worklists; open follow-up items are cancelled "
                "with this reason. It stays searchable with “Show closed” on the pathway "
                "worklist.",
            ),
            form_error=names.CLOSE_EPISODE_FORM_ERROR,
        )
        self._episode_id = episode_id
        self.kind = named(QComboBox(), names.CLOSE_EPISODE_KIND_COMBO, self.tr("Why"))
        self.kind.addItem("", "")
        for kind, label in CLOSE_KIND_LABELS.items():
            self.kind.addItem(self.tr(label), kind.value)
        self.field("kind", self.tr("&Why:"), self.kind, names.CLOSE_EPISODE_KIND_ERROR)
        self.text = _text_edit(names.CLOSE_EPISODE_TEXT_EDIT, self.tr("Explanation"))
        self.field("text", self.tr("&Explanation:"), self.text, names.CLOSE_EPISODE_TEXT_ERROR)
        self.finish(
            self.tr("&Close episode"),
            names.CLOSE_EPISODE_SAVE_BUTTON,
            names.CLOSE_EPISODE_CANCEL_BUTTON,
        )

    def save(self) -> None:
        close_episode(
            self._ctx, self._episode_id, self.kind.currentData() or "", self.text.toPlainText()
        )

    @classmethod
    def ask(cls, ctx: ServiceContext, episode_id: int, parent=None) -> bool:
        return cls.run(cls(ctx, episode_id, parent))


ALL_DIALOGS: tuple[Callable[..., QDialog], ...] = (
    AdmissionDialog,
    DischargeDialog,
    RestrictionsDialog,
    WoundCareDialog,
    MonitoringNoteDialog,
    PlanDialog,
    FollowUpAddDialog,
    FollowUpMoveDialog,
    FollowUpStatusDialog,
    ComplicationDialog,
    RedFlagDialog,
    ResolveRedFlagDialog,
    CloseEpisodeDialog,
)
