"""The main window's trust features: the workstation lock (after an idle time and on Ctrl+L),
the Tools menu (audit log, users, backups) and the automatic daily backup.

`TrustController` attaches to a built `MainWindow`: it puts the window's content and a lock
screen in a stack, adds its menu entries, and watches the application's input to lock after
the idle time. While locked, no patient data is on screen: the content is swapped out, open
dialogs are closed (nothing in them was saved) and every menu action is disabled.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.domain.users import Permission, Role
from pathway_app.services.context import ServiceContext
from pathway_app.services.users import check_password
from pathway_app.storage import repository as repo
from pathway_app.storage.backup import (
    DEFAULT_KEEP,
    NOT_A_FILE_MESSAGE,
    BackupError,
    backup_database,
    default_backup_folder,
    latest_backup_age,
    restore_backup,
)
from pathway_app.storage.database import DatabaseOpenError, _sqlite_path, open_database
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, named, show_error

LOCK_MINUTES_ENV = "PATHWAY_LOCK_MINUTES"
LOCK_MINUTES_KEY = "lock/idleMinutes"
BACKUP_FOLDER_KEY = "backup/folder"
BACKUP_KEEP_KEY = "backup/keep"
BACKUP_AUTOMATIC_KEY = "backup/automatic"
DEFAULT_LOCK_MINUTES = 5
MAX_LOCK_MINUTES = 240
AUTOMATIC_BACKUP_EVERY = timedelta(hours=24)
BACKUP_CHECK_MS = 60 * 60 * 1000  # hourly
INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


def _int_setting(settings: QSettings | None, key: str, default: int) -> int:
    if settings is None:
        return default
    try:
        return int(str(settings.value(key, default)))
    except ValueError:
        return default


def lock_minutes(settings: QSettings | None) -> int:
    """Idle minutes before the lock: ``$PATHWAY_LOCK_MINUTES``, else ``lock/idleMinutes`` in
    settings.ini, else 5. 0 turns the idle lock off (Ctrl+L still locks)."""
    text = os.environ.get(LOCK_MINUTES_ENV)
    if text is not None and text.strip().isdigit():
        minutes = int(text)
    else:
        minutes = _int_setting(settings, LOCK_MINUTES_KEY, DEFAULT_LOCK_MINUTES)
    return max(0, min(minutes, MAX_LOCK_MINUTES))


class LockScreen(QWidget):
    """What the main window shows while locked: who is signed in and a password field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, names.LOCK_SCREEN, self.tr("Workstation locked"))
        self.setAutoFillBackground(True)
        title = QLabel(self.tr("Care Pathway Tracker is locked"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = named(QLabel(), names.LOCK_MESSAGE_LABEL, self.tr("Who is signed in"))
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.password = named(QLineEdit(), names.LOCK_PASSWORD_EDIT, self.tr("Password"))
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(self.tr("Password"))
        self.password.setMinimumWidth(260)
        self.unlock_button = named(
            QPushButton(self.tr("&Unlock")), names.UNLOCK_BUTTON, self.tr("Unlock")
        )
        self.unlock_button.setDefault(True)
        self.error = error_label(names.LOCK_ERROR)
        self.error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.quit_button = named(
            QPushButton(self.tr("&Quit the app")),
            names.LOCK_QUIT_BUTTON,
            self.tr("Quit the app (another user signs in at the next start)"),
        )
        label = QLabel(self.tr("&Password:"))
        label.setBuddy(self.password)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(label)
        row.addWidget(self.password)
        row.addWidget(self.unlock_button)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.addStretch(2)
        box.addWidget(title)
        box.addSpacing(12)
        box.addWidget(self.message)
        box.addSpacing(12)
        box.addLayout(row)
        box.addWidget(self.error)
        box.addStretch(3)
        quit_row = QHBoxLayout()
        quit_row.addStretch(1)
        quit_row.addWidget(self.quit_button)
        box.addLayout(quit_row)


class IdleWatcher(QObject):
    """Restarts a single-shot timer on every keyboard, mouse or touch input of the app."""

    def __init__(self, minutes: int, on_idle: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(minutes * 60 * 1000)
        self.timer.timeout.connect(on_idle)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in INPUT_EVENTS and self.timer.isActive():
            self.timer.start()
        return False


class TrustController(QObject):
    """Attributes:
    locked: whether the lock screen is showing.
    lock_screen: the lock screen widget.
    stack: the window's central stack (content, lock screen).
    """

    def __init__(
        self, window: QMainWindow, ctx: ServiceContext, settings: QSettings | None
    ) -> None:
        super().__init__(window)
        self._window = window
        self._ctx = ctx
        self._settings = settings
        self.locked = False
        self._disabled_actions: list[QAction] = []
        self._backup_failure: str | None = None

        content = window.takeCentralWidget()
        assert content is not None
        self.lock_screen = LockScreen()
        self.stack = QStackedWidget()
        self.stack.addWidget(content)
        self.stack.addWidget(self.lock_screen)
        window.setCentralWidget(self.stack)
        self.lock_screen.unlock_button.clicked.connect(self.try_unlock)
        self.lock_screen.password.returnPressed.connect(self.try_unlock)
        self.lock_screen.quit_button.clicked.connect(window.close)

        self.lock_action = QAction(self.tr("&Lock workstation"), window)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        # From any window of the app, an open dialog included.
        self.lock_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.lock_action.triggered.connect(self.lock)
        self.lock_action.setEnabled(ctx.user_id is not None)
        self.audit_action = QAction(self.tr("&Audit log…"), window)
        self.audit_action.triggered.connect(self.show_audit)
        self.users_action = QAction(self.tr("&Users…"), window)
        self.users_action.triggered.connect(self.show_users)
        self.backup_action = QAction(self.tr("&Back up now"), window)
        self.backup_action.triggered.connect(self.back_up_now)
        self.restore_action = QAction(self.tr("&Restore from backup…"), window)
        self.restore_action.triggered.connect(self.restore)
        self._add_menus()
        self.apply_role()

        minutes = lock_minutes(settings)
        self.idle: IdleWatcher | None = None
        if minutes > 0 and ctx.user_id is not None:
            self.idle = IdleWatcher(minutes, self.lock, self)
        self._backup_timer = QTimer(self)
        self._backup_timer.setInterval(BACKUP_CHECK_MS)
        self._backup_timer.timeout.connect(self.automatic_backup)

    # --- menus and roles ------------------------------------------------------------------

    def _add_menus(self) -> None:
        bar = self._window.menuBar()
        actions = bar.actions()
        file_menu = actions[0].menu() if actions else None
        if isinstance(file_menu, QMenu) and file_menu.actions():
            quit_action = file_menu.actions()[-1]
            file_menu.insertAction(quit_action, self.lock_action)
            file_menu.insertSeparator(quit_action)
        else:
            self._window.addAction(self.lock_action)
        tools = QMenu(self.tr("&Tools"), self._window)
        tools.addAction(self.audit_action)
        tools.addAction(self.users_action)
        tools.addSeparator()
        tools.addAction(self.backup_action)
        tools.addAction(self.restore_action)
        if actions:
            bar.insertMenu(actions[-1], tools)  # before Help
        else:
            bar.addMenu(tools)

    def database_file(self) -> Path | None:
        return _sqlite_path(self._ctx.db.info.url)

    def apply_role(self) -> None:
        """Show only what the signed-in role may use; the services refuse the rest anyway."""
        admin = self._ctx.can(Permission.USERS)
        has_file = self.database_file() is not None
        self.users_action.setEnabled(admin)
        self.backup_action.setEnabled(self._ctx.can(Permission.BACKUPS) and has_file)
        self.restore_action.setEnabled(self._ctx.can(Permission.BACKUPS) and has_file)
        if not has_file:
            # Issue 7: a shared PostgreSQL database is backed up on its server.
            why = self.tr(
                "This is a shared database server: back it up there with pg_dump (see "
                "'Shared clinic database' in the README)."
            )
            for action in (self.backup_action, self.restore_action):
                action.setStatusTip(why)
                action.setToolTip(why)
        clinical = self._ctx.can(Permission.CLINICAL)
        for name in ("new_patient_button", "new_episode_button"):
            button = getattr(self._window, name, None)
            if isinstance(button, QPushButton):
                button.setEnabled(clinical)
        if self._ctx.role != Role.COORDINATOR.value:
            for action in self._window.findChildren(QAction):
                if action.text().replace("&", "").startswith("New "):
                    action.setEnabled(clinical)

    # --- the lock -------------------------------------------------------------------------

    @Slot()
    def lock(self) -> None:
        if self.locked or self._ctx.user_id is None:
            return
        self.locked = True
        popup = QApplication.activePopupWidget()
        while popup is not None:
            popup.close()
            popup = QApplication.activePopupWidget()
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()  # nothing in an open dialog is saved; its data leaves the screen
        self._disabled_actions = [a for a in self._window.findChildren(QAction) if a.isEnabled()]
        for action in self._disabled_actions:
            action.setEnabled(False)
        self._window.menuBar().setEnabled(False)
        self._window.statusBar().clearMessage()
        self.stack.setCurrentWidget(self.lock_screen)
        self.lock_screen.message.setText(
            self.tr("Signed in as %1. Patient data is hidden until you unlock.").replace(
                "%1", self._ctx.actor
            )
        )
        self.lock_screen.password.clear()
        show_error(self.lock_screen.error, None)
        self.lock_screen.password.setFocus()
        if self.idle is not None:
            self.idle.timer.stop()

    @Slot()
    def try_unlock(self) -> bool:
        if not self.locked:
            return True
        password = self.lock_screen.password.text()
        self.lock_screen.password.clear()
        if not check_password(self._ctx, password):
            show_error(self.lock_screen.error, self.tr("The password is wrong."))
            self.lock_screen.password.setFocus()
            return False
        self.locked = False
        for action in self._disabled_actions:
            action.setEnabled(True)
        self._disabled_actions = []
        self._window.menuBar().setEnabled(True)
        self.stack.setCurrentIndex(0)
        if self.idle is not None:
            self.idle.timer.start()
        refresh = getattr(self._window, "refresh", None)
        if callable(refresh):
            refresh()  # others may have written meanwhile
        return True

    # --- audit and users ------------------------------------------------------------------

    @Slot()
    def show_audit(self) -> None:
        from pathway_app.ui.dialogs.audit_dialog import AuditDialog

        AuditDialog.show_for(self._ctx, self._window)

    @Slot()
    def show_users(self) -> None:
        from pathway_app.ui.dialogs.users_dialog import UsersDialog

        UsersDialog.show_for(self._ctx, self._window)

    # --- backups --------------------------------------------------------------------------

    def backup_folder(self) -> Path | None:
        database = self.database_file()
        if database is None:
            return None
        configured = str(self._settings.value(BACKUP_FOLDER_KEY, "")) if self._settings else ""
        return Path(configured).expanduser() if configured else default_backup_folder(database)

    def backup_keep(self) -> int:
        return max(1, _int_setting(self._settings, BACKUP_KEEP_KEY, DEFAULT_KEEP))

    def _problem(self, title: str, text: str) -> None:
        QMessageBox.warning(self._window, title, text)

    @Slot()
    def back_up_now(self) -> Path | None:
        database, folder = self.database_file(), self.backup_folder()
        try:
            self._ctx.require(Permission.BACKUPS)
            if database is None or folder is None:
                raise BackupError(NOT_A_FILE_MESSAGE)
            target = backup_database(database, folder, keep=self.backup_keep())
            with self._ctx.db.writing(Permission.BACKUPS.value) as session:
                repo.add_audit(
                    session,
                    at=self._ctx.now(),
                    actor=self._ctx.actor,
                    action="database.backed_up",
                    entity="database",
                    entity_id=0,
                    new={"backup": str(target)},
                )
        except (BackupError, DomainError) as exc:
            self._problem(self.tr("Backup failed"), str(exc))
            return None
        self._window.statusBar().showMessage(
            self.tr("Backed up to %1").replace("%1", str(target)), 10000
        )
        return target

    def choose_backup(self) -> Path | None:
        """Ask which backup to restore (tests patch this)."""
        folder = self.backup_folder()
        chosen, _ = QFileDialog.getOpenFileName(
            self._window,
            self.tr("Restore from backup"),
            str(folder) if folder else "",
            self.tr("Backups (*.sqlite3)"),
        )
        return Path(chosen) if chosen else None

    def confirm_restore(self, backup: Path) -> bool:
        """Ask for confirmation (tests patch this)."""
        answer = QMessageBox.question(
            self._window,
            self.tr("Restore from backup"),
            self.tr(
                "Replace the whole database by the backup %1?\n\nEverything recorded since that "
                "backup will no longer be in the database (the current database is kept aside "
                "as a file next to it). The app closes afterwards; start it again and sign in."
            ).replace("%1", backup.name),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def restore(self) -> Path | None:
        """Restore a chosen backup after confirmation; returns where the replaced file is."""
        database = self.database_file()
        try:
            self._ctx.require(Permission.BACKUPS)
        except DomainError as exc:
            self._problem(self.tr("Restore"), str(exc))
            return None
        if database is None:
            return None
        backup = self.choose_backup()
        if backup is None or not self.confirm_restore(backup):
            return None
        try:
            aside = restore_backup(backup, database)
            open_database(str(database)).close()  # an older backup is migrated now
            with self._ctx.db.writing(Permission.BACKUPS.value) as session:
                repo.add_audit(
                    session,
                    at=self._ctx.now(),
                    actor=self._ctx.actor,
                    action="database.restored",
                    entity="database",
                    entity_id=0,
                    new={"backup": str(backup), "replaced_database_kept_at": str(aside)},
                )
        except (BackupError, DatabaseOpenError, DomainError) as exc:
            self._problem(self.tr("Restore failed"), str(exc))
            return None
        QMessageBox.information(
            self._window,
            self.tr("Restored"),
            self.tr(
                "The database was restored from %1. The replaced database is kept at %2.\n\n"
                "The app closes now; start it again and sign in."
            )
            .replace("%1", backup.name)
            .replace("%2", str(aside)),
        )
        # The accounts in the restored database may differ: nobody stays signed in.
        self._window.close()
        return aside

    def start_automatic_backup(self) -> None:
        """Back up once a day while the app runs: checked now and every hour."""
        if self._settings is not None and str(
            self._settings.value(BACKUP_AUTOMATIC_KEY, "true")
        ).lower() in ("false", "0", "no"):
            return
        QTimer.singleShot(5000, self.automatic_backup)
        self._backup_timer.start()

    @Slot()
    def automatic_backup(self, now: datetime | None = None) -> Path | None:
        database, folder = self.database_file(), self.backup_folder()
        if database is None or folder is None:
            return None
        moment = now or datetime.now(UTC)
        age = latest_backup_age(database, folder, moment)
        if age is not None and age < AUTOMATIC_BACKUP_EVERY - timedelta(minutes=30):
            return None
        try:
            target = backup_database(database, folder, keep=self.backup_keep(), now=moment)
        except BackupError as exc:
            if self._backup_failure != str(exc):
                print(f"pathway-app: automatic backup failed: {exc}", file=sys.stderr)
            self._backup_failure = str(exc)
            self._window.statusBar().showMessage(
                self.tr("The automatic backup failed: %1").replace("%1", str(exc))
            )
            return None
        self._backup_failure = None
        return target
