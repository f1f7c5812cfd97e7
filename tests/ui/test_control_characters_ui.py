"""A control character pasted into a dialog: the message from the domain shows next to the field,
the dialog stays open with what was typed, and nothing is saved (no UI code of its own)."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPlainTextEdit, QPushButton
from sqlalchemy import func, select

from pathway_app.services.context import ServiceContext
from pathway_app.storage.orm import AuditEntry, Patient
from pathway_app.storage.orm_followup import FollowUpEntry
from pathway_app.ui import object_names as names
from pathway_app.ui.common import to_qdate
from pathway_app.ui.dialogs.followup_dialogs import FollowUpAddDialog
from pathway_app.ui.dialogs.patient_dialog import PatientDialog
from tests.services.test_refill_service import make_episode
from tests.ui.test_main_flows import child, fill_patient


def rows(ctx: ServiceContext, model: type) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def paste(edit: QLineEdit | QPlainTextEdit, text: str) -> None:
    """Paste as a user would: a NUL usually arrives from another program's clipboard."""
    QApplication.clipboard().setText(text)
    edit.setFocus()
    edit.paste()


def test_patient_dialog_shows_the_message_by_the_field_and_keeps_the_text(
    ctx: ServiceContext, qtbot
) -> None:
    dialog = PatientDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    fill_patient(dialog, "C-1", "", "Anna", QDate(1960, 5, 17))
    family = child(dialog, QLineEdit, names.PATIENT_FAMILY_NAME_EDIT)
    paste(family, "Mül\x00ler")
    assert family.text() == "Mül\x00ler"

    qtbot.mouseClick(
        child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )

    error = child(dialog, QLabel, names.PATIENT_FAMILY_NAME_ERROR)
    assert error.isVisible()
    assert error.text().endswith("The family name contains a control character; remove it.")
    assert not child(dialog, QLabel, names.PATIENT_GIVEN_NAME_ERROR).isVisible()
    assert not child(dialog, QLabel, names.PATIENT_FORM_ERROR).isVisible()
    assert dialog.isVisible() and dialog.patient_id is None
    assert family.text() == "Mül\x00ler"
    assert child(dialog, QLineEdit, names.PATIENT_MRN_EDIT).text() == "C-1"
    assert rows(ctx, Patient) == 0

    family.setText("Müller")
    qtbot.mouseClick(
        child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    assert dialog.patient_id is not None
    assert rows(ctx, Patient) == 1


def test_follow_up_dialog_refuses_a_nul_in_the_notes_but_keeps_line_breaks(
    ctx: ServiceContext, qtbot
) -> None:
    episode_id = make_episode(ctx)
    audits = rows(ctx, AuditEntry)
    dialog = FollowUpAddDialog(ctx, episode_id)
    qtbot.addWidget(dialog)
    dialog.show()
    child(dialog, QLineEdit, names.FOLLOWUP_PURPOSE_EDIT).setText("Phone call")
    dialog.due.setDate(to_qdate(ctx.today() + timedelta(days=7)))
    notes = child(dialog, QPlainTextEdit, names.FOLLOWUP_NOTES_EDIT)
    paste(notes, "Ask about the headache\nand the \x00wound")
    typed = notes.toPlainText()
    assert "\x00" in typed

    save = child(dialog, QPushButton, names.FOLLOWUP_ADD_SAVE_BUTTON)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)

    error = child(dialog, QLabel, names.FOLLOWUP_NOTES_ERROR)
    assert error.isVisible()
    assert error.text().endswith("The note contains a control character; remove it.")
    assert not child(dialog, QLabel, names.FOLLOWUP_ADD_FORM_ERROR).isVisible()
    assert dialog.isVisible()
    assert notes.toPlainText() == typed
    assert rows(ctx, FollowUpEntry) == 0
    assert rows(ctx, AuditEntry) == audits

    notes.setPlainText(typed.replace("\x00", ""))
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    with ctx.db.reading() as session:
        stored = session.scalars(select(FollowUpEntry.notes)).one()
    assert stored == "Ask about the headache\nand the wound"


def test_restrictions_dialog_names_the_line_with_a_form_feed(ctx: ServiceContext, qtbot) -> None:
    """A form feed is not a line break here: the line holding it is refused by number (the
    dialog once split at it, so the service never saw it)."""
    from pathway_app.ui.dialogs.followup_dialogs import RestrictionsDialog
    from tests.test_control_characters_services import _admitted, _restrictions

    episode_id = _admitted(ctx)
    before = _restrictions(ctx, episode_id)
    dialog = RestrictionsDialog(ctx, episode_id, ctx.today() + timedelta(days=49), ["No lifting"])
    qtbot.addWidget(dialog)
    dialog.show()
    items = child(dialog, QPlainTextEdit, names.RESTRICTIONS_ITEMS_EDIT)
    items.setPlainText("No lifting\nNo bending\x0cNo driving")
    qtbot.mouseClick(
        child(dialog, QPushButton, names.RESTRICTIONS_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    error = child(dialog, QLabel, names.RESTRICTIONS_ITEMS_ERROR)
    assert error.isVisible()
    assert error.text().endswith("Line 2: the restriction contains a control character; remove it.")
    assert dialog.isVisible()
    assert _restrictions(ctx, episode_id) == before
