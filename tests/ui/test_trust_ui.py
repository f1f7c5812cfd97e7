"""Sign-in, first administrator, the workstation lock, the audit log and backups, driven
through their automation names."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from pathway_app.domain.records import PatientDraft
from pathway_app.domain.users import UserDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.services.users import (
    authenticate,
    create_first_administrator,
    create_user,
    seed_demo_users,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.dialogs.audit_dialog import AuditDialog
from pathway_app.ui.dialogs.patient_dialog import PatientDialog
from pathway_app.ui.sign_in import (
    FirstAdminDialog,
    SignInDialog,
    SignInRequest,
    apply,
    sign_in,
)

ADMIN_PW = "admin-password"
NURSE_PW = "nurse-password"


@pytest.fixture
def accounts(ctx: ServiceContext) -> ServiceContext:
    """The database with an administrator and a coordinator; `ctx` stays unsigned."""
    admin = create_first_administrator(
        ctx.db, ctx.clock, UserDraft("admin", "", "administrator", ADMIN_PW)
    )
    admin_ctx = replace(ctx, actor="admin", role=admin.role, user_id=admin.user_id)
    create_user(admin_ctx, UserDraft("nurse", "Nina", "coordinator", NURSE_PW))
    return ctx


def as_user(ctx: ServiceContext, username: str, password: str) -> ServiceContext:
    apply(ctx, authenticate(ctx.db, ctx.clock, username, password))
    return ctx


def child(root: QWidget, name: str):
    widget = root.findChild(QWidget, name)
    assert widget is not None, name
    return widget


def test_sign_in_dialog_says_wrong_then_signs_in(accounts, on_dialog, qtbot) -> None:
    def act(dialog: QWidget) -> None:
        child(dialog, names.SIGN_IN_PASSWORD_EDIT).setText("wrong")
        child(dialog, names.SIGN_IN_BUTTON).click()
        error = child(dialog, names.SIGN_IN_ERROR)
        assert error.isVisible()
        assert "user name or password is wrong" in error.text()
        assert child(dialog, names.SIGN_IN_PASSWORD_EDIT).text() == ""
        child(dialog, names.SIGN_IN_PASSWORD_EDIT).setText(NURSE_PW)
        child(dialog, names.SIGN_IN_BUTTON).click()

    on_dialog(names.SIGN_IN_DIALOG, act)
    signed = SignInDialog.ask(accounts, "nurse")
    assert signed is not None and signed.role == "coordinator"


def test_first_admin_dialog_checks_then_creates(ctx, on_dialog) -> None:
    def act(dialog: QWidget) -> None:
        child(dialog, names.FIRST_ADMIN_USER_EDIT).setText("boss")
        child(dialog, names.FIRST_ADMIN_PASSWORD_EDIT).setText("long-password")
        child(dialog, names.FIRST_ADMIN_CONFIRM_EDIT).setText("other-password")
        child(dialog, names.FIRST_ADMIN_CREATE_BUTTON).click()
        assert "differ" in child(dialog, names.FIRST_ADMIN_CONFIRM_ERROR).text()
        child(dialog, names.FIRST_ADMIN_CONFIRM_EDIT).setText("long-password")
        child(dialog, names.FIRST_ADMIN_CREATE_BUTTON).click()

    on_dialog(names.FIRST_ADMIN_DIALOG, act)
    signed = FirstAdminDialog.ask(ctx)
    assert signed is not None and (signed.username, signed.role) == ("boss", "administrator")


def test_sign_in_without_a_screen(accounts, ctx, db, template, catalogue, clock) -> None:
    assert sign_in(ctx, SignInRequest("nurse", "bad", interactive=False), None) == 6
    assert sign_in(ctx, SignInRequest("nurse", None, interactive=False), None) == 6
    assert sign_in(ctx, SignInRequest("nurse", NURSE_PW, interactive=False), None) is None
    assert (ctx.actor, ctx.role) == ("nurse", "coordinator")


def test_a_database_without_users_is_never_entered_silently(ctx) -> None:
    assert sign_in(ctx, SignInRequest("x", "y", interactive=False), None) == 6


def test_the_demo_signs_in_its_nurse(ctx, db) -> None:
    seed_demo_users(db, ctx.clock)
    assert sign_in(ctx, SignInRequest(demo=True, interactive=False), None) is None
    assert (ctx.actor, ctx.role) == ("nurse", "coordinator")


def test_ctrl_l_locks_hides_everything_and_unlocks_with_the_password(
    accounts, make_window, qtbot
) -> None:
    ctx = as_user(accounts, "nurse", NURSE_PW)
    register_patient(ctx, PatientDraft("L-1", "Lockwood", "Lena", date(1970, 1, 1)))
    window = make_window(ctx)
    trust = window.trust
    assert trust.lock_action.shortcut().toString() == "Ctrl+L"
    assert trust.lock_action.shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
    dialog = PatientDialog(ctx, window)
    dialog.show()
    qtbot.waitExposed(dialog)
    trust.lock_action.trigger()  # what Ctrl+L does (offscreen has no active window for keys)
    assert trust.locked
    assert trust.stack.currentWidget() is trust.lock_screen
    assert not window.worklist_tabs.isVisible() and not window.episode_view.isVisible()
    assert not dialog.isVisible()  # open dialogs leave the screen
    assert not any(w.isVisible() for w in QApplication.topLevelWidgets() if isinstance(w, QDialog))
    assert not window.menuBar().isEnabled()
    assert not trust.lock_action.isEnabled() and not trust.audit_action.isEnabled()
    lock = child(window, names.LOCK_SCREEN)
    assert "nurse" in child(lock, names.LOCK_MESSAGE_LABEL).text()
    child(lock, names.LOCK_PASSWORD_EDIT).setText("not it")
    child(lock, names.UNLOCK_BUTTON).click()
    assert trust.locked
    assert "wrong" in child(lock, names.LOCK_ERROR).text()
    qtbot.keyClicks(child(lock, names.LOCK_PASSWORD_EDIT), NURSE_PW)
    qtbot.keyClick(child(lock, names.LOCK_PASSWORD_EDIT), Qt.Key.Key_Return)
    assert not trust.locked
    assert window.worklist_tabs.isVisible()
    assert window.menuBar().isEnabled() and trust.audit_action.isEnabled()


def test_the_workstation_locks_after_the_idle_time(accounts, make_window, qtbot) -> None:
    window = make_window(as_user(accounts, "nurse", NURSE_PW))
    idle = window.trust.idle
    assert idle is not None
    assert idle.timer.interval() == 5 * 60 * 1000  # the default
    idle.timer.start(50)
    qtbot.waitUntil(lambda: window.trust.locked, timeout=2000)


def test_the_idle_time_is_configurable(accounts, make_window, monkeypatch) -> None:
    monkeypatch.setenv("PATHWAY_LOCK_MINUTES", "0")
    window = make_window(as_user(accounts, "nurse", NURSE_PW))
    assert window.trust.idle is None
    assert window.trust.lock_action.isEnabled()


def test_roles_decide_what_is_offered(accounts, make_window) -> None:
    nurse = make_window(as_user(accounts, "nurse", NURSE_PW))
    assert nurse.new_patient_button.isEnabled()
    assert not nurse.trust.users_action.isEnabled() and not nurse.trust.backup_action.isEnabled()
    admin_ctx = replace(accounts)
    admin = make_window(as_user(admin_ctx, "admin", ADMIN_PW))
    assert not admin.new_patient_button.isEnabled()
    assert admin.trust.users_action.isEnabled() and admin.trust.restore_action.isEnabled()


def test_audit_log_filters_and_exports_csv(accounts, qtbot, tmp_path: Path, monkeypatch) -> None:
    ctx = as_user(accounts, "nurse", NURSE_PW)
    first = register_patient(ctx, PatientDraft("A-1", "Ångström", "Åsa", date(1970, 1, 1)))
    register_patient(ctx, PatientDraft("A-2", "Other", "Olle", date(1970, 1, 1)))
    dialog = AuditDialog(ctx)
    qtbot.addWidget(dialog)
    assert "intact" in child(dialog, names.AUDIT_CHAIN_LABEL).text()
    patient = child(dialog, names.AUDIT_PATIENT_COMBO)
    patient.setCurrentIndex(patient.findData(first))
    dialog.reload()
    assert [r.mrn for r in dialog.rows] == ["A-1"]
    patient.setCurrentIndex(0)
    user = child(dialog, names.AUDIT_USER_COMBO)
    user.setCurrentIndex(user.findData("admin"))
    dialog.reload()
    assert {r.actor for r in dialog.rows} == {"admin"}
    user.setCurrentIndex(0)
    child(dialog, names.AUDIT_FROM_EDIT).setDate(
        child(dialog, names.AUDIT_FROM_EDIT).date().addYears(30)
    )
    dialog.reload()
    assert dialog.rows == []
    child(dialog, names.AUDIT_FROM_EDIT).setDate(child(dialog, names.AUDIT_FROM_EDIT).minimumDate())
    dialog.reload()
    target = tmp_path / "audit.csv"
    monkeypatch.setattr(dialog, "choose_export_file", lambda: target)
    child(dialog, names.AUDIT_EXPORT_BUTTON).click()
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0]["at_utc"].endswith("Z") and rows[0]["at_utc"][:4] == "2026"
    assert any(r["patient"] == "Ångström, Åsa" for r in rows)
    assert (target.stat().st_mode & 0o777) == 0o600


def test_back_up_and_restore_from_the_menu(accounts, make_window, monkeypatch, tmp_path) -> None:
    ctx = as_user(accounts, "admin", ADMIN_PW)
    window = make_window(ctx)
    monkeypatch.setattr("pathway_app.ui.trust.QMessageBox.information", lambda *a: None)
    backup = window.trust.back_up_now()
    assert backup is not None and backup.exists()
    monkeypatch.setattr(window.trust, "choose_backup", lambda: backup)
    monkeypatch.setattr(window.trust, "confirm_restore", lambda path: False)
    assert window.trust.restore() is None  # not confirmed: nothing happens
    monkeypatch.setattr(window.trust, "confirm_restore", lambda path: True)
    aside = window.trust.restore()
    assert aside is not None and aside.exists()
    assert not window.isVisible()  # the app closes: sign in again on the restored database


def test_automatic_backup_once_a_day(accounts, make_window, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    window = make_window(as_user(accounts, "nurse", NURSE_PW))
    t0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert window.trust.automatic_backup(t0) is not None
    assert window.trust.automatic_backup(t0 + timedelta(hours=3)) is None
    assert window.trust.automatic_backup(t0 + timedelta(hours=24)) is not None
