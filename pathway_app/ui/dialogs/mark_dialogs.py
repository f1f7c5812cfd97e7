"""Mark a milestone done (when, with an optional note) or skipped (with a reason)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.services.context import ServiceContext
from pathway_app.services.milestones import mark_done, mark_skipped
from pathway_app.ui import object_names as names
from pathway_app.ui.common import dialog_buttons, error_label, named, show_error, to_qdatetime


class DoneDialog(QDialog):
    def __init__(
        self,
        ctx: ServiceContext,
        milestone_id: int,
        milestone_name: str,
        parent: QWidget | None,
        expected_version: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._milestone_id = milestone_id
        self._expected_version = expected_version
        self.setWindowTitle(self.tr("Mark done"))
        named(self, names.DONE_DIALOG, self.windowTitle())
        self.setMinimumWidth(440)
        now = to_qdatetime(ctx.now())
        self.when = named(QDateTimeEdit(now), names.DONE_AT_EDIT, self.tr("Done at"))
        self.when.setCalendarPopup(True)
        self.when.setMaximumDateTime(now)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.note = named(QPlainTextEdit(), names.DONE_NOTE_EDIT, self.tr("Note"))
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(70)
        self.when_error = error_label(names.DONE_AT_ERROR)
        form = QFormLayout()
        form.addRow(self.tr("&Done at:"), self.when)
        form.addRow("", self.when_error)
        form.addRow(self.tr("&Note (optional):"), self.note)
        buttons = dialog_buttons(
            self, self.tr("&Mark done"), names.DONE_SAVE_BUTTON, names.DONE_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        title = QLabel(milestone_name)
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: bold;")
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.when.setFocus()

    def done_at(self) -> datetime:
        return datetime.fromtimestamp(
            self.when.dateTime().toMSecsSinceEpoch() / 1000, tz=self._ctx.now().tzinfo
        )

    @Slot()
    def _save(self) -> None:
        show_error(self.when_error, None)
        try:
            mark_done(
                self._ctx,
                self._milestone_id,
                done_at=self.done_at(),
                note=self.note.toPlainText(),
                expected_version=self._expected_version,
            )
        except ValidationError as exc:
            show_error(self.when_error, str(exc))
            return
        except DomainError as exc:
            show_error(self.when_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        milestone_id: int,
        milestone_name: str,
        parent: QWidget | None,
        expected_version: int | None = None,
    ) -> bool:
        """Show the dialog; True when the milestone was marked."""
        dialog = cls(ctx, milestone_id, milestone_name, parent, expected_version)
        return dialog.exec() == QDialog.DialogCode.Accepted


class SkipDialog(QDialog):
    def __init__(
        self,
        ctx: ServiceContext,
        milestone_id: int,
        milestone_name: str,
        parent: QWidget | None,
        expected_version: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._milestone_id = milestone_id
        self._expected_version = expected_version
        self.setWindowTitle(self.tr("Skip milestone"))
        named(self, names.SKIP_DIALOG, self.windowTitle())
        self.setMinimumWidth(440)
        self.reason = named(QPlainTextEdit(), names.SKIP_REASON_EDIT, self.tr("Reason"))
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(90)
        self.reason_error = error_label(names.SKIP_REASON_ERROR)
        form = QFormLayout()
        form.addRow(self.tr("&Reason:"), self.reason)
        form.addRow("", self.reason_error)
        buttons = dialog_buttons(
            self, self.tr("&Skip"), names.SKIP_SAVE_BUTTON, names.SKIP_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        title = QLabel(milestone_name)
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: bold;")
        layout.addWidget(title)
        layout.addWidget(QLabel(self.tr("Say why this milestone is not needed for this patient.")))
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.reason.setFocus()

    @Slot()
    def _save(self) -> None:
        show_error(self.reason_error, None)
        try:
            mark_skipped(
                self._ctx,
                self._milestone_id,
                self.reason.toPlainText(),
                expected_version=self._expected_version,
            )
        except DomainError as exc:
            show_error(self.reason_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        milestone_id: int,
        milestone_name: str,
        parent: QWidget | None,
        expected_version: int | None = None,
    ) -> bool:
        """Show the dialog; True when the milestone was skipped."""
        dialog = cls(ctx, milestone_id, milestone_name, parent, expected_version)
        return dialog.exec() == QDialog.DialogCode.Accepted
