"""The audit log: every write, who and when, old and new values; filtered by patient, user
and date; exported to CSV; with the state of the hash chain."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Qt, QTimer, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.services.audit_log import (
    DEFAULT_LIMIT,
    AuditRow,
    audit_actors,
    audit_patients,
    audit_rows,
    export_csv,
    verify,
)
from pathway_app.services.context import ServiceContext
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_datetime, from_qdate, named, tr

ANY_DATE = QDate(2000, 1, 1)
COLUMNS = ("When", "User", "Action", "Record", "Patient", "Changes")


def _date_filter(object_name: str, accessible: str, today: QDate) -> QDateEdit:
    edit = named(QDateEdit(), object_name, accessible)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(ANY_DATE)
    edit.setMaximumDate(today.addYears(1))
    edit.setSpecialValueText(tr("AuditDialog", "Any"))  # shown while the date is the minimum
    edit.setDate(ANY_DATE)
    return edit


class AuditDialog(QDialog):
    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.rows: list[AuditRow] = []
        self.setWindowTitle(self.tr("Audit log"))
        named(self, names.AUDIT_DIALOG, self.windowTitle())
        self.resize(1100, 640)
        today = QDate.currentDate()

        self.patient = named(QComboBox(), names.AUDIT_PATIENT_COMBO, self.tr("Patient"))
        self.patient.setEditable(True)
        self.patient.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.patient.addItem(self.tr("All patients"), None)
        for patient_id, label in audit_patients(ctx):
            self.patient.addItem(label, patient_id)
        completer = self.patient.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.user = named(QComboBox(), names.AUDIT_USER_COMBO, self.tr("User"))
        self.user.addItem(self.tr("All users"), None)
        for actor in audit_actors(ctx):
            self.user.addItem(actor, actor)
        self.since = _date_filter(names.AUDIT_FROM_EDIT, self.tr("From date"), today)
        self.until = _date_filter(names.AUDIT_TO_EDIT, self.tr("To date"), today)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table = named(QTableView(), names.AUDIT_TABLE, self.tr("Audit entries"))
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((130, 110, 170, 110, 220)):
            self.table.setColumnWidth(column, width)
        self.count = named(QLabel(), names.AUDIT_COUNT_LABEL, self.tr("Entries shown"))
        self.chain = named(QLabel(), names.AUDIT_CHAIN_LABEL, self.tr("Hash chain"))
        self.chain.setWordWrap(True)
        self.export_button = named(
            QPushButton(self.tr("&Export CSV…")), names.AUDIT_EXPORT_BUTTON, self.tr("Export CSV")
        )
        self.close_button = named(
            QPushButton(self.tr("&Close")), names.AUDIT_CLOSE_BUTTON, self.tr("Close")
        )
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.accept)

        filters = QGridLayout()
        for column, (caption, widget) in enumerate(
            (
                (self.tr("&Patient:"), self.patient),
                (self.tr("&User:"), self.user),
                (self.tr("&From:"), self.since),
                (self.tr("&To:"), self.until),
            )
        ):
            buddy = QLabel(caption)
            buddy.setBuddy(widget)
            filters.addWidget(buddy, 0, column * 2)
            filters.addWidget(widget, 0, column * 2 + 1)
        filters.setColumnStretch(1, 3)
        filters.setColumnStretch(3, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.chain)
        layout.addLayout(bottom)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(200)
        self._reload_timer.timeout.connect(self.reload)
        self.patient.currentIndexChanged.connect(self._reload_timer.start)
        self.user.currentIndexChanged.connect(self._reload_timer.start)
        self.since.dateChanged.connect(self._reload_timer.start)
        self.until.dateChanged.connect(self._reload_timer.start)
        self.reload()
        self.check_chain()

    def _date(self, edit: QDateEdit) -> date | None:
        return None if edit.date() == ANY_DATE else from_qdate(edit.date())

    @Slot()
    def reload(self) -> None:
        patient_id = self.patient.currentData() if self.patient.currentIndex() > 0 else None
        self.rows = audit_rows(
            self._ctx,
            patient_id=patient_id,
            actor=self.user.currentData(),
            since=self._date(self.since),
            until=self._date(self.until),
        )
        self.model.removeRows(0, self.model.rowCount())
        for row in self.rows:
            record = f"{row.entity} {row.entity_id}" if row.entity_id else row.entity
            patient = f"{row.patient_name} ({row.mrn})" if row.patient_name else ""
            items = [
                QStandardItem(text)
                for text in (
                    format_datetime(row.at),
                    row.actor,
                    row.action,
                    record,
                    patient,
                    row.changes.replace("\n", "; "),
                )
            ]
            for item in items:
                item.setToolTip(item.text())
            items[-1].setToolTip(row.changes)  # one change per line
            self.model.appendRow(items)
        text = self.tr("%n entries shown, newest first.", "", len(self.rows))
        if len(self.rows) >= DEFAULT_LIMIT:
            text += " " + self.tr("Only the newest %1 are shown: narrow the filters.").replace(
                "%1", str(DEFAULT_LIMIT)
            )
        self.count.setText(text)

    @Slot()
    def check_chain(self) -> None:
        report = verify(self._ctx)
        if report.ok:
            self.chain.setText(
                self.tr("✓ The audit trail's hash chain is intact (%1 entries checked).").replace(
                    "%1", str(report.checked)
                )
            )
            self.chain.setStyleSheet("color: #0f5132;")
        else:
            self.chain.setText(
                self.tr(
                    "⚠ The audit trail was changed outside the app: the chain breaks at entry "
                    "%1 (%2). Tell the clinic's IT contact; keep the database and its backups."
                )
                .replace("%1", str(report.first_broken_id))
                .replace("%2", report.problem)
            )
            self.chain.setStyleSheet("color: #a4161a; font-weight: bold;")

    def choose_export_file(self) -> Path | None:
        """Ask where to save the CSV (tests patch this)."""
        chosen, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export the audit log"), "audit-log.csv", self.tr("CSV files (*.csv)")
        )
        return Path(chosen) if chosen else None

    @Slot()
    def export(self) -> Path | None:
        target = self.choose_export_file()
        if target is None:
            return None
        try:
            count = export_csv(self._ctx, self.rows, target)
        except (OSError, DomainError) as exc:
            QMessageBox.warning(self, self.tr("Export failed"), str(exc))
            return None
        self.count.setText(
            self.tr("%1 entries exported to %2.")
            .replace("%1", str(count))
            .replace("%2", str(target))
        )
        return target

    @classmethod
    def show_for(cls, ctx: ServiceContext, parent: QWidget | None) -> None:
        cls(ctx, parent).exec()
