"""The episode's "Hospital stay" and "Follow-up" pages.

Hospital stay: admission, length of stay (flagged beyond the expected stay), the discharge
checklist (ticking writes at once), activity restrictions until their end date, wound care
instructions, monitoring notes and the discharge. Follow-up: the plan and items (missed ones
first and red), the next refill from the refill engine, the complication log, red flags and
closing the episode.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.domain.followup import STATUS_LABELS, FollowUpStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import propose_followup_plan
from pathway_app.services.followup_views import (
    ComplicationView,
    FollowUpItemView,
    FollowUpView,
    RedFlagView,
    StayView,
    followup_view,
    stay_view,
)
from pathway_app.services.stay import set_checklist_item
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_date, format_datetime, named, tr
from pathway_app.ui.dialogs.followup_dialogs import (
    AdmissionDialog,
    CloseEpisodeDialog,
    ComplicationDialog,
    DischargeDialog,
    FollowUpAddDialog,
    FollowUpMoveDialog,
    FollowUpStatusDialog,
    MonitoringNoteDialog,
    PlanDialog,
    RedFlagDialog,
    ResolveRedFlagDialog,
    RestrictionsDialog,
    WoundCareDialog,
)
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.prompts import show_problem

ID_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
ALERT_STYLE = "background: #f8d7da; color: #58151c; border-radius: 3px;"
OK_STYLE = "background: #d1e7dd; color: #0a3622; border-radius: 3px;"
INFO_STYLE = "background: #e9ecef; color: #212529; border-radius: 3px;"
STATUS_COLOURS = {
    FollowUpStatus.MISSED: QColor("#f5c2c7"),
    FollowUpStatus.BOOKED: QColor("#cfe2ff"),
    FollowUpStatus.PLANNED: QColor("#e2e3e5"),
    FollowUpStatus.DONE: QColor("#d1e7dd"),
    FollowUpStatus.CANCELLED: QColor("#e9ecef"),
}


def _button(text: str, object_name: str, accessible: str) -> QPushButton:
    return named(QPushButton(text), object_name, accessible)


def _labelled(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(widget)
    return label


class StayPage(EpisodePage):
    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id: int | None = None
        self._view: StayView | None = None
        self._loading = False
        named(self, names.STAY_PAGE, self.tr("Hospital stay"))
        self.status = named(QLabel(), names.STAY_STATUS_LABEL, self.tr("Stay"))
        self.status.setWordWrap(True)
        self.status.setMargin(6)
        self.admit_button = _button(
            self.tr("Record &admission…"), names.STAY_ADMIT_BUTTON, self.tr("Record the admission")
        )
        self.note_button = _button(
            self.tr("Monitoring &note…"), names.STAY_NOTE_BUTTON, self.tr("Add a monitoring note")
        )
        self.wound_button = _button(
            self.tr("&Wound care given…"),
            names.STAY_WOUND_CARE_BUTTON,
            self.tr("Record the wound care instructions"),
        )
        self.restrictions_button = _button(
            self.tr("&Restrictions…"),
            names.STAY_RESTRICTIONS_BUTTON,
            self.tr("Change the activity restrictions"),
        )
        self.discharge_button = _button(
            self.tr("&Discharge…"), names.STAY_DISCHARGE_BUTTON, self.tr("Discharge the patient")
        )
        self.admit_button.clicked.connect(self.admit)
        self.note_button.clicked.connect(self.add_note)
        self.wound_button.clicked.connect(self.wound_care)
        self.restrictions_button.clicked.connect(self.restrictions)
        self.discharge_button.clicked.connect(self.discharge)
        self.checklist = named(QListWidget(), names.STAY_CHECKLIST, self.tr("Discharge checklist"))
        self.checklist.setSpacing(1)
        self.checklist.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.checklist.itemChanged.connect(self._ticked)
        self.restrictions_label = named(
            QLabel(), names.STAY_RESTRICTIONS_LABEL, self.tr("Activity restrictions")
        )
        self.wound_label = named(QLabel(), names.STAY_WOUND_CARE_LABEL, self.tr("Wound care"))
        for label in (self.restrictions_label, self.wound_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.restrictions_label.setMargin(6)
        self.notes = named(QListWidget(), names.STAY_NOTES_LIST, self.tr("Monitoring notes"))
        self.notes.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (
            self.admit_button,
            self.note_button,
            self.wound_button,
            self.restrictions_button,
            self.discharge_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addWidget(_labelled(self.tr("Discharge &checklist:"), self.checklist))
        layout.addWidget(self.checklist)
        layout.addWidget(self.restrictions_label)
        layout.addWidget(self.wound_label)
        layout.addWidget(_labelled(self.tr("Monitoring n&otes:"), self.notes))
        layout.addWidget(self.notes, 1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        order = [
            self.admit_button,
            self.note_button,
            self.wound_button,
            self.restrictions_button,
            self.discharge_button,
            self.checklist,
            self.notes,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    @property
    def view(self) -> StayView | None:
        return self._view

    def load(self, episode_id: int) -> None:
        self._episode_id = episode_id
        self._view = view = stay_view(self._ctx, episode_id)
        open_ = view.is_open
        in_hospital = view.admitted and not view.discharged
        self.admit_button.setText(
            self.tr("Correct &admission…") if view.admitted else self.tr("Record &admission…")
        )
        self.admit_button.setEnabled(open_ and not view.discharged)
        for button in (self.note_button, self.wound_button, self.restrictions_button):
            button.setEnabled(open_ and view.admitted)
        self.discharge_button.setEnabled(open_ and in_hospital)

        if not view.admitted:
            text = self.tr("Not admitted yet. Expected stay: %1 (%2).")
            text = text.replace("%1", view.expected).replace("%2", view.expected_mark or "—")
            style = INFO_STYLE
        else:
            if view.discharged:
                text = self.tr("Admitted %1 · discharged %2 by %3 · %4 day(s) (expected %5)")
                text = (
                    text.replace("%1", format_datetime(view.admitted_at))
                    .replace("%2", format_datetime(view.discharged_at))
                    .replace("%3", view.discharged_by or "—")
                )
            else:
                text = self.tr("In hospital since %1 · day %4 (expected %5)")
                text = text.replace("%1", format_datetime(view.admitted_at))
            text = text.replace("%4", str(view.days)).replace("%5", view.expected)
            if view.expected_mark:
                text += self.tr(" — %1").replace("%1", view.expected_mark)
            if view.flag:
                text += "\n⚠ " + view.flag
            if view.discharge_overridden:
                text += "\n" + self.tr("Discharged with checklist items open: %1").replace(
                    "%1", view.discharge_override_reason
                )
            style = ALERT_STYLE if view.flag else (OK_STYLE if view.discharged else INFO_STYLE)
        self.status.setText(text)
        self.status.setStyleSheet(style)
        self.status.setAccessibleDescription(text)

        self._loading = True
        self.checklist.clear()
        for item in view.checklist:
            text = item.name
            if item.ticked:
                text += self.tr(" — ticked by %1, %2").replace("%1", item.ticked_by or "")
                text = text.replace("%2", format_datetime(item.ticked_at))
            row = QListWidgetItem(text)
            row.setData(KEY_ROLE, item.key)
            flags = row.flags() | Qt.ItemFlag.ItemIsUserCheckable
            if not (open_ and in_hospital):
                flags &= ~Qt.ItemFlag.ItemIsEnabled
            row.setFlags(flags)
            row.setCheckState(Qt.CheckState.Checked if item.ticked else Qt.CheckState.Unchecked)
            row.setToolTip(item.detail)
            self.checklist.addItem(row)
        self._loading = False
        rows = max(1, len(view.checklist))
        self.checklist.setFixedHeight(
            (self.checklist.sizeHintForRow(0) + 2 * self.checklist.spacing()) * rows
            + 2 * self.checklist.frameWidth()
            + 6
        )

        if view.restrictions_end_on is None:
            self.restrictions_label.setText(self.tr("Activity restrictions: set on admission."))
            self.restrictions_label.setStyleSheet(INFO_STYLE)
        elif view.restrictions_active:
            lines = "".join(f"\n • {r}" for r in view.restrictions)
            text = self.tr("Activity restrictions until %1 (inclusive):").replace(
                "%1", format_date(view.restrictions_end_on)
            )
            if view.restrictions_warning:
                text += "\n⚠ " + view.restrictions_warning
            self.restrictions_label.setText(text + lines)
            self.restrictions_label.setStyleSheet(
                "background: #fff3cd; color: #533f03; border-radius: 3px;"
            )
        else:
            self.restrictions_label.setText(
                self.tr("Activity restrictions ended %1.").replace(
                    "%1", format_date(view.restrictions_end_on)
                )
            )
            self.restrictions_label.setStyleSheet(INFO_STYLE)
        if view.wound_care_given_at is not None:
            wound = self.tr("Wound care instructions given by %1, %2").replace(
                "%1", view.wound_care_given_by or "—"
            )
            wound = wound.replace("%2", format_datetime(view.wound_care_given_at))
            if view.wound_care_notes:
                wound += f" — {view.wound_care_notes}"
        else:
            wound = self.tr("Wound care instructions: not recorded yet.")
        self.wound_label.setText(wound)
        self.notes.clear()
        for note in view.notes:
            self.notes.addItem(f"{format_datetime(note.at)} — {note.author}: {note.text}")

    def _reload(self) -> None:
        assert self._episode_id is not None
        self.load(self._episode_id)
        self.changed.emit(self._episode_id)

    @Slot(QListWidgetItem)
    def _ticked(self, item: QListWidgetItem) -> None:
        if self._loading or self._episode_id is None:
            return
        try:
            set_checklist_item(
                self._ctx,
                self._episode_id,
                item.data(KEY_ROLE),
                item.checkState() == Qt.CheckState.Checked,
            )
        except DomainError as exc:
            show_problem(self, self.tr("Cannot change the checklist"), str(exc))
        # Rebuilt after this signal returns: the item that emitted it is deleted by a rebuild.
        QTimer.singleShot(0, self._reload)

    @Slot()
    def admit(self) -> None:
        if self._episode_id is None or self._view is None:
            return
        if AdmissionDialog.ask(self._ctx, self._episode_id, self._view.admitted_at, self):
            self._reload()

    @Slot()
    def add_note(self) -> None:
        if self._episode_id is not None and MonitoringNoteDialog.ask(
            self._ctx, self._episode_id, self
        ):
            self._reload()

    @Slot()
    def wound_care(self) -> None:
        if self._episode_id is not None and WoundCareDialog.ask(self._ctx, self._episode_id, self):
            self._reload()

    @Slot()
    def restrictions(self) -> None:
        if self._episode_id is None or self._view is None:
            return
        view = self._view
        if RestrictionsDialog.ask(
            self._ctx,
            self._episode_id,
            view.restrictions_end_on,
            view.restrictions or view.default_restrictions,
            self,
        ):
            self._reload()

    @Slot()
    def discharge(self) -> None:
        if self._episode_id is None or self._view is None:
            return
        if not DischargeDialog.ask(self._ctx, self._episode_id, self._view.open_items, self):
            return
        self._reload()
        # On discharge the app proposes the follow-up plan.
        proposal = propose_followup_plan(self._ctx, self._episode_id)
        if not proposal.already_accepted and PlanDialog.ask(self._ctx, proposal, self):
            self._reload()


def item_status_text(item: FollowUpItemView) -> str:
    text = tr("Followup", STATUS_LABELS[item.status])
    if item.status is FollowUpStatus.CANCELLED and item.cancel_reason:
        text += f": {item.cancel_reason}"
    if item.status is FollowUpStatus.DONE and item.done_at is not None:
        text += f" {format_datetime(item.done_at)}"
    if item.missed_on is not None and item.status is not FollowUpStatus.MISSED:
        text += " " + tr("Followup", "(missed %1)").replace("%1", format_date(item.missed_on))
    return text


class FollowUpPage(EpisodePage):
    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id: int | None = None
        self._view: FollowUpView | None = None
        named(self, names.FOLLOWUP_PAGE, self.tr("Follow-up"))
        self.summary = named(QLabel(), names.FOLLOWUP_SUMMARY_LABEL, self.tr("Follow-up summary"))
        self.summary.setWordWrap(True)
        self.summary.setMargin(6)
        self.items = named(QTreeWidget(), names.FOLLOWUP_ITEMS_TREE, self.tr("Follow-up items"))
        self.items.setRootIsDecorated(False)
        self.items.setColumnCount(4)
        self.items.setHeaderLabels(
            [self.tr("Purpose"), self.tr("Due"), self.tr("Status"), self.tr("Notes")]
        )
        header = self.items.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.items.currentItemChanged.connect(self._update_buttons)
        self.items.itemActivated.connect(lambda *_: self.change_status())
        self.plan_button = _button(
            self.tr("Propose &plan…"), names.FOLLOWUP_PLAN_BUTTON, self.tr("Propose the plan")
        )
        self.add_button = _button(
            self.tr("&Add…"), names.FOLLOWUP_ADD_BUTTON, self.tr("Add a follow-up item")
        )
        self.move_button = _button(
            self.tr("&Move…"), names.FOLLOWUP_MOVE_BUTTON, self.tr("Move the selected item")
        )
        self.status_button = _button(
            self.tr("&Status…"),
            names.FOLLOWUP_STATUS_BUTTON,
            self.tr("Change the status of the selected item"),
        )
        self.plan_button.clicked.connect(self.propose_plan)
        self.add_button.clicked.connect(self.add_item)
        self.move_button.clicked.connect(self.move_item)
        self.status_button.clicked.connect(self.change_status)

        self.complications = named(
            QTreeWidget(), names.COMPLICATION_LIST, self.tr("Complication log")
        )
        self.complications.setRootIsDecorated(False)
        self.complications.setColumnCount(5)
        self.complications.setHeaderLabels(
            [
                self.tr("Complication"),
                self.tr("Onset"),
                self.tr("Severity"),
                self.tr("Action taken"),
                self.tr("Resolved"),
            ]
        )
        self.complications.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.complications.header().setStretchLastSection(False)
        self.complications.currentItemChanged.connect(self._update_buttons)
        self.complication_add = _button(
            self.tr("&Log complication…"),
            names.COMPLICATION_ADD_BUTTON,
            self.tr("Log a complication"),
        )
        self.complication_edit = _button(
            self.tr("&Update…"),
            names.COMPLICATION_EDIT_BUTTON,
            self.tr("Update the selected complication"),
        )
        self.complication_add.clicked.connect(self.log_complication)
        self.complication_edit.clicked.connect(self.edit_complication)

        self.flags = named(QListWidget(), names.RED_FLAG_REPORT_LIST, self.tr("Red flags"))
        self.flags.setWordWrap(True)
        self.flags.currentItemChanged.connect(self._update_buttons)
        self.flag_button = _button(
            self.tr("Red &flags (call)…"),
            names.RED_FLAG_TICK_BUTTON,
            self.tr("Tick red-flag symptoms during a call"),
        )
        self.flag_resolve = _button(
            self.tr("Res&olve urgent item…"),
            names.RED_FLAG_RESOLVE_BUTTON,
            self.tr("Resolve the selected urgent item"),
        )
        self.flag_button.clicked.connect(self.tick_red_flags)
        self.flag_resolve.clicked.connect(self.resolve_flag)
        self.close_button = _button(
            self.tr("&Close episode…"), names.CLOSE_EPISODE_BUTTON, self.tr("Close the episode")
        )
        self.close_button.clicked.connect(self.close_episode)

        item_buttons = QHBoxLayout()
        for button in (self.plan_button, self.add_button, self.move_button, self.status_button):
            item_buttons.addWidget(button)
        item_buttons.addStretch(1)
        item_buttons.addWidget(self.close_button)
        plan_box = QGroupBox(self.tr("Follow-up plan"))
        plan_layout = QVBoxLayout(plan_box)
        plan_layout.addWidget(_labelled(self.tr("&Items:"), self.items))
        plan_layout.addWidget(self.items, 1)
        plan_layout.addLayout(item_buttons)
        complication_box = QGroupBox(self.tr("Complications"))
        complication_layout = QVBoxLayout(complication_box)
        complication_layout.addWidget(_labelled(self.tr("Complication lo&g:"), self.complications))
        complication_layout.addWidget(self.complications)
        row = QHBoxLayout()
        row.addWidget(self.complication_add)
        row.addWidget(self.complication_edit)
        row.addStretch(1)
        complication_layout.addLayout(row)
        flag_box = QGroupBox(self.tr("Red flags"))
        flag_layout = QVBoxLayout(flag_box)
        flag_layout.addWidget(_labelled(self.tr("Red-flag &reports:"), self.flags))
        flag_layout.addWidget(self.flags)
        row = QHBoxLayout()
        row.addWidget(self.flag_button)
        row.addWidget(self.flag_resolve)
        row.addStretch(1)
        flag_layout.addLayout(row)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.summary)
        layout.addWidget(plan_box, 3)
        layout.addWidget(complication_box, 2)
        layout.addWidget(flag_box, 1)
        self.items.setMinimumHeight(180)
        self.complications.setMinimumHeight(90)
        self.flags.setMinimumHeight(60)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        order = [
            self.items,
            self.plan_button,
            self.add_button,
            self.move_button,
            self.status_button,
            self.close_button,
            self.complications,
            self.complication_add,
            self.complication_edit,
            self.flags,
            self.flag_button,
            self.flag_resolve,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    @property
    def view(self) -> FollowUpView | None:
        return self._view

    def load(self, episode_id: int) -> None:
        self._episode_id = episode_id
        self._view = view = followup_view(self._ctx, episode_id)
        lines = []
        if view.closure is not None:
            lines.append(
                self.tr("Episode closed %1 by %2: %3 — %4")
                .replace("%1", format_datetime(view.closure.closed_at))
                .replace("%2", view.closure.closed_by)
                .replace("%3", view.closure.label)
                .replace("%4", view.closure.text)
            )
        if view.refill_due_at is not None:
            lines.append(
                self.tr("Next refill due %1 (refill engine; see Pump and refills).").replace(
                    "%1", format_datetime(view.refill_due_at)
                )
            )
        else:
            lines.append(self.tr("No refill date yet: record the implant and initial fill."))
        if view.missed:
            lines.append(
                self.tr("✗ %1 missed item(s): resolve each with a reason.").replace(
                    "%1", str(len(view.missed))
                )
            )
        if view.open_red_flags:
            lines.append(
                self.tr("⚠ URGENT: %1").replace(
                    "%1", "; ".join(f.title for f in view.open_red_flags)
                )
            )
        if not view.plan_accepted and view.is_open:
            lines.append(
                self.tr("No plan accepted yet: it is proposed on discharge, or use Propose plan.")
            )
        text = "\n".join(lines)
        self.summary.setText(text)
        self.summary.setAccessibleDescription(text)
        self.summary.setStyleSheet(
            ALERT_STYLE if view.missed or view.open_red_flags else INFO_STYLE
        )

        selected = self.selected_item_id()
        self.items.clear()
        ordered = sorted(
            view.items, key=lambda i: (i.status is not FollowUpStatus.MISSED, i.due_on, i.id)
        )
        for item in ordered:
            purpose = item.purpose
            if item.series_size:
                purpose += self.tr(" (%1 of %2)").replace("%1", str((item.occurrence or 0) + 1))
                purpose = purpose.replace("%2", str(item.series_size))
            row = QTreeWidgetItem(
                [purpose, format_date(item.due_on), item_status_text(item), item.notes]
            )
            row.setData(0, ID_ROLE, item.id)
            colour = STATUS_COLOURS.get(item.status)
            if colour is not None:
                row.setBackground(2, QBrush(colour))
                row.setForeground(2, QBrush(QColor("#000000")))
            if item.status is FollowUpStatus.MISSED:
                font = row.font(0)
                font.setBold(True)
                for column in range(4):
                    row.setFont(column, font)
            tip = [purpose]
            if item.window_opens_on:
                tip.append(
                    self.tr("Window opens %1").replace("%1", format_date(item.window_opens_on))
                )
            if item.resolution:
                tip.append(self.tr("Resolution: %1").replace("%1", item.resolution))
            row.setToolTip(0, "\n".join(tip))
            self.items.addTopLevelItem(row)
        for column in (1, 2):
            self.items.resizeColumnToContents(column)
        first = self.items.topLevelItem(0)
        if not (selected is not None and self.select_item(selected)) and first is not None:
            self.items.setCurrentItem(first)

        self.complications.clear()
        for c in view.complications:
            name = c.category_name + (f" — {c.detail}" if c.detail else "")
            row = QTreeWidgetItem(
                [
                    name,
                    format_date(c.onset_on),
                    c.severity_name,
                    c.action_taken,
                    format_date(c.resolved_on) if c.resolved_on else self.tr("open"),
                ]
            )
            row.setData(0, ID_ROLE, c.id)
            if c.resolved_on is None:
                row.setBackground(4, QBrush(QColor("#ffe69c")))
                row.setForeground(4, QBrush(QColor("#000000")))
            self.complications.addTopLevelItem(row)
        for column in (1, 2, 4):
            self.complications.resizeColumnToContents(column)

        self.flags.clear()
        for f in view.red_flags:
            if f.resolved_at is None:
                text = self.tr("⚠ URGENT %1 — %2 (by %3)%4")
                text = text.replace("%4", f": {f.note}" if f.note else "")
            else:
                text = self.tr("✓ %1 — %2 (by %3); resolved: %4").replace("%4", f.resolution)
            text = (
                text.replace("%1", format_datetime(f.raised_at))
                .replace("%2", f.title)
                .replace("%3", f.raised_by)
            )
            row_item = QListWidgetItem(text)
            row_item.setData(ID_ROLE, f.id)
            if f.resolved_at is None:
                row_item.setBackground(QBrush(QColor("#f5c2c7")))
                row_item.setForeground(QBrush(QColor("#000000")))
            self.flags.addItem(row_item)
        self._update_buttons()

    # --- selection ------------------------------------------------------------------------

    def selected_item_id(self) -> int | None:
        current = self.items.currentItem()
        return current.data(0, ID_ROLE) if current is not None else None

    def selected_item(self) -> FollowUpItemView | None:
        item_id = self.selected_item_id()
        if self._view is None or item_id is None:
            return None
        return next((i for i in self._view.items if i.id == item_id), None)

    def select_item(self, item_id: int) -> bool:
        for index in range(self.items.topLevelItemCount()):
            row = self.items.topLevelItem(index)
            if row is not None and row.data(0, ID_ROLE) == item_id:
                self.items.setCurrentItem(row)
                return True
        return False

    def _selected_complication(self) -> ComplicationView | None:
        current = self.complications.currentItem()
        if current is None or self._view is None:
            return None
        wanted = current.data(0, ID_ROLE)
        return next((c for c in self._view.complications if c.id == wanted), None)

    def _selected_flag(self) -> RedFlagView | None:
        current = self.flags.currentItem()
        if current is None or self._view is None:
            return None
        wanted = current.data(ID_ROLE)
        return next((f for f in self._view.red_flags if f.id == wanted), None)

    @Slot()
    def _update_buttons(self) -> None:
        view = self._view
        open_ = view is not None and view.is_open
        item = self.selected_item()
        self.plan_button.setEnabled(open_ and view is not None and not view.plan_accepted)
        self.add_button.setEnabled(open_)
        self.move_button.setEnabled(open_ and item is not None and item.is_open)
        self.status_button.setEnabled(
            open_
            and item is not None
            and item.status not in (FollowUpStatus.DONE, FollowUpStatus.CANCELLED)
        )
        self.status_button.setText(
            self.tr("Re&solve missed…")
            if item is not None and item.status is FollowUpStatus.MISSED
            else self.tr("&Status…")
        )
        self.complication_add.setEnabled(open_)
        self.complication_edit.setEnabled(open_ and self._selected_complication() is not None)
        self.flag_button.setEnabled(open_)
        flag = self._selected_flag()
        self.flag_resolve.setEnabled(open_ and flag is not None and flag.resolved_at is None)
        self.close_button.setEnabled(open_)

    # --- actions --------------------------------------------------------------------------

    def _reload(self) -> None:
        assert self._episode_id is not None
        self.load(self._episode_id)
        self.changed.emit(self._episode_id)

    @Slot()
    def propose_plan(self) -> None:
        if self._episode_id is None:
            return
        try:
            proposal = propose_followup_plan(self._ctx, self._episode_id)
        except DomainError as exc:
            show_problem(self, self.tr("Cannot propose the plan"), str(exc))
            return
        if PlanDialog.ask(self._ctx, proposal, self):
            self._reload()

    @Slot()
    def add_item(self) -> None:
        if self._episode_id is not None and FollowUpAddDialog.ask(
            self._ctx, self._episode_id, self
        ):
            self._reload()

    @Slot()
    def move_item(self) -> None:
        item = self.selected_item()
        if item is not None and item.is_open and FollowUpMoveDialog.ask(self._ctx, item, self):
            self._reload()
            self.select_item(item.id)

    @Slot()
    def change_status(self) -> None:
        item = self.selected_item()
        if item is None or item.status in (FollowUpStatus.DONE, FollowUpStatus.CANCELLED):
            return
        if FollowUpStatusDialog.ask(self._ctx, item, self):
            self._reload()
            self.select_item(item.id)

    @Slot()
    def log_complication(self) -> None:
        if self._episode_id is not None and ComplicationDialog.ask(
            self._ctx, self._episode_id, None, self
        ):
            self._reload()

    @Slot()
    def edit_complication(self) -> None:
        entry = self._selected_complication()
        if (
            entry is not None
            and self._episode_id is not None
            and ComplicationDialog.ask(self._ctx, self._episode_id, entry, self)
        ):
            self._reload()

    @Slot()
    def tick_red_flags(self) -> None:
        if self._episode_id is not None and RedFlagDialog.ask(self._ctx, self._episode_id, self):
            self._reload()

    @Slot()
    def resolve_flag(self) -> None:
        flag = self._selected_flag()
        if (
            flag is not None
            and flag.resolved_at is None
            and ResolveRedFlagDialog.ask(self._ctx, flag.id, flag.title, self)
        ):
            self._reload()

    @Slot()
    def close_episode(self) -> None:
        if self._episode_id is not None and CloseEpisodeDialog.ask(
            self._ctx, self._episode_id, self
        ):
            self._reload()
