"""Register a patient."""

from __future__ import annotations

from PySide6.QtCore import QDate, Slot
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.records import MRN_MAX_LENGTH, NAME_MAX_LENGTH, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, from_qdate, named, show_error, to_qdate

# QDateEdit always holds a date; its minimum stands for "not entered yet" and shows blank,
# so a forgotten birth date is caught instead of saved as a default.
UNSET_DATE = QDate(1899, 12, 31)


def blank_date_edit(object_name: str, accessible_name: str) -> QDateEdit:
    edit = named(QDateEdit(), object_name, accessible_name)
    edit.setCalendarPopup(True)
    edit.setMinimumDate(UNSET_DATE)
    edit.setSpecialValueText(" ")
    edit.setDate(UNSET_DATE)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


def date_or_none(edit: QDateEdit) -> QDate | None:
    return None if edit.date() == UNSET_DATE else edit.date()


class PatientDialog(QDialog):
    """Attributes:
    patient_id: the new patient's id after a successful save.
    """

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.patient_id: int | None = None
        self.setWindowTitle(self.tr("Register a patient"))
        named(self, names.PATIENT_DIALOG, self.windowTitle())
        self.setMinimumWidth(460)

        self.mrn = named(QLineEdit(), names.PATIENT_MRN_EDIT, self.tr("Medical record number"))
        self.mrn.setMaxLength(MRN_MAX_LENGTH)
        self.family = named(QLineEdit(), names.PATIENT_FAMILY_NAME_EDIT, self.tr("Family name"))
        self.family.setMaxLength(NAME_MAX_LENGTH)
        self.given = named(QLineEdit(), names.PATIENT_GIVEN_NAME_EDIT, self.tr("Given name"))
        self.given.setMaxLength(NAME_MAX_LENGTH)
        self.birth = blank_date_edit(names.PATIENT_BIRTH_DATE_EDIT, self.tr("Date of birth"))
        self.birth.setMaximumDate(to_qdate(ctx.today()))
        self.birth.setToolTip(self.tr("Type the date as year-month-day, or pick it."))

        self.errors = {
            "mrn": error_label(names.PATIENT_MRN_ERROR),
            "family_name": error_label(names.PATIENT_FAMILY_NAME_ERROR),
            "given_name": error_label(names.PATIENT_GIVEN_NAME_ERROR),
            "birth_date": error_label(names.PATIENT_BIRTH_DATE_ERROR),
        }
        # Issue 7: what the database refused (a lost connection, busy): nothing was saved and
        # everything typed stays, so Save can simply be pressed again.
        self.form_error = error_label(names.PATIENT_FORM_ERROR)
        form = QFormLayout()
        for label, field, key in (
            (self.tr("&MRN:"), self.mrn, "mrn"),
            (self.tr("&Family name:"), self.family, "family_name"),
            (self.tr("&Given name:"), self.given, "given_name"),
            (self.tr("Date of &birth:"), self.birth, "birth_date"),
        ):
            form.addRow(label, field)
            form.addRow("", self.errors[key])

        buttons = QDialogButtonBox()
        self.save_button = named(
            buttons.addButton(self.tr("&Save"), QDialogButtonBox.ButtonRole.AcceptRole),
            names.PATIENT_SAVE_BUTTON,
            self.tr("Save patient"),
        )
        self.cancel_button = named(
            buttons.addButton(self.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole),
            names.PATIENT_CANCEL_BUTTON,
            self.tr("Cancel"),
        )
        self.save_button.setDefault(True)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("All fields are required. The MRN must be unique."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(buttons)
        for first, second in (
            (self.mrn, self.family),
            (self.family, self.given),
            (self.given, self.birth),
            (self.birth, self.save_button),
            (self.save_button, self.cancel_button),
        ):
            QWidget.setTabOrder(first, second)
        self.mrn.setFocus()

    def draft(self) -> PatientDraft:
        birth = date_or_none(self.birth)
        return PatientDraft(
            mrn=self.mrn.text(),
            family_name=self.family.text(),
            given_name=self.given.text(),
            birth_date=from_qdate(birth) if birth is not None else None,
        )

    @Slot()
    def _save(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            show_error(label, None)
        try:
            self.patient_id = register_patient(self._ctx, self.draft())
        except ValidationError as exc:
            for field, message in exc.field_errors.items():
                show_error(self.errors.get(field, self.errors["mrn"]), message)
            first = next(iter(exc.field_errors))
            {
                "mrn": self.mrn,
                "family_name": self.family,
                "given_name": self.given,
                "birth_date": self.birth,
            }.get(first, self.mrn).setFocus()
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(cls, ctx: ServiceContext, parent: QWidget | None = None) -> int | None:
        """Show the dialog; return the new patient's id, or None when cancelled."""
        dialog = cls(ctx, parent)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.patient_id
        return None
