"""Signing in at start: the first-administrator dialog on a new database, the sign-in dialog,
and the automation path (``--user`` with ``$PATHWAY_PASSWORD``; the demo signs in its nurse).

Nobody sees patient data before this succeeds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.users import (
    DISPLAY_NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    Role,
    UserDraft,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import dialog_buttons, error_label, named, show_error

if TYPE_CHECKING:
    # Issue 9: the sign-in dialog shows while the data layer is still being imported.
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.users import SignedIn

LAST_USER_KEY = "signIn/lastUser"
DEMO_USER = "nurse"


@dataclass(frozen=True)
class SignInRequest:
    """user/password: from ``--user``/``$PATHWAY_USER`` and ``$PATHWAY_PASSWORD``.
    interactive: dialogs may be shown (False for ``--screenshot``)."""

    user: str | None = None
    password: str | None = None
    demo: bool = False
    interactive: bool = True


@dataclass(frozen=True)
class SignInTarget:
    """What the sign-in dialog needs: the database's name, and the check of a user name and
    password (records the sign-in; raises DomainError with the message to show)."""

    display_name: str
    authenticate: Callable[[str, str], SignedIn]


def target_of(ctx: ServiceContext) -> SignInTarget:
    from pathway_app.services.users import authenticate

    return SignInTarget(
        ctx.db.info.display_name,
        lambda user, password: authenticate(ctx.db, ctx.clock, user, password),
    )


def _title() -> str:
    return QGuiApplication.translate("SignIn", "Care Pathway Tracker")


def _password_edit(object_name: str, accessible: str) -> QLineEdit:
    edit = named(QLineEdit(), object_name, accessible)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setMaxLength(PASSWORD_MAX_LENGTH)
    return edit


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.25)
    font.setBold(True)
    label.setFont(font)
    return label


class SignInDialog(QDialog):
    """Attributes: signed_in after a successful sign-in."""

    def __init__(
        self,
        target: ServiceContext | SignInTarget,
        username: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._target = target if isinstance(target, SignInTarget) else target_of(target)
        self.signed_in: SignedIn | None = None
        self.setWindowTitle(self.tr("Sign in — Care Pathway Tracker"))
        named(self, names.SIGN_IN_DIALOG, self.tr("Sign in"))
        self.setMinimumWidth(420)
        self.user = named(QLineEdit(username), names.SIGN_IN_USER_EDIT, self.tr("User name"))
        self.user.setMaxLength(USERNAME_MAX_LENGTH)
        self.password = _password_edit(names.SIGN_IN_PASSWORD_EDIT, self.tr("Password"))
        self.error = error_label(names.SIGN_IN_ERROR)
        form = QFormLayout()
        form.addRow(self.tr("&User name:"), self.user)
        form.addRow(self.tr("&Password:"), self.password)
        form.addRow("", self.error)
        buttons = dialog_buttons(
            self, self.tr("&Sign in"), names.SIGN_IN_BUTTON, names.SIGN_IN_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._sign_in)
        layout = QVBoxLayout(self)
        layout.addWidget(_heading(self.tr("Care Pathway Tracker")))
        database = QLabel(self.tr("Database: %1").replace("%1", self._target.display_name))
        database.setWordWrap(True)
        database.setStyleSheet("color: palette(mid);")
        layout.addWidget(database)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(buttons)
        (self.password if username else self.user).setFocus()

    @Slot()
    def _sign_in(self) -> None:
        show_error(self.error, None)
        try:
            self.signed_in = self._target.authenticate(self.user.text(), self.password.text())
        except DomainError as exc:
            self.password.clear()
            self.password.setFocus()
            show_error(self.error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        target: ServiceContext | SignInTarget,
        username: str = "",
        parent: QWidget | None = None,
    ) -> SignedIn | None:
        dialog = cls(target, username, parent)
        dialog.exec()
        return dialog.signed_in


class FirstAdminDialog(QDialog):
    """Creates the first administrator of a new database (who is then signed in)."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.signed_in: SignedIn | None = None
        self.setWindowTitle(self.tr("First administrator — Care Pathway Tracker"))
        named(self, names.FIRST_ADMIN_DIALOG, self.tr("Create the first administrator"))
        self.setMinimumWidth(480)
        self.user = named(QLineEdit(), names.FIRST_ADMIN_USER_EDIT, self.tr("User name"))
        self.user.setMaxLength(USERNAME_MAX_LENGTH)
        self.display = named(QLineEdit(), names.FIRST_ADMIN_NAME_EDIT, self.tr("Full name"))
        self.display.setMaxLength(DISPLAY_NAME_MAX_LENGTH)
        self.password = _password_edit(names.FIRST_ADMIN_PASSWORD_EDIT, self.tr("Password"))
        self.confirm = _password_edit(names.FIRST_ADMIN_CONFIRM_EDIT, self.tr("Password again"))
        self.errors = {
            "username": error_label(names.FIRST_ADMIN_USER_ERROR),
            "display_name": error_label(names.FIRST_ADMIN_NAME_ERROR),
            "password": error_label(names.FIRST_ADMIN_PASSWORD_ERROR),
            "confirm": error_label(names.FIRST_ADMIN_CONFIRM_ERROR),
        }
        form = QFormLayout()
        for label, field, key in (
            (self.tr("&User name:"), self.user, "username"),
            (self.tr("&Full name:"), self.display, "display_name"),
            (self.tr("&Password:"), self.password, "password"),
            (self.tr("Password &again:"), self.confirm, "confirm"),
        ):
            form.addRow(label, field)
            form.addRow("", self.errors[key])
        buttons = dialog_buttons(
            self,
            self.tr("&Create administrator"),
            names.FIRST_ADMIN_CREATE_BUTTON,
            names.FIRST_ADMIN_CANCEL_BUTTON,
        )
        buttons.accepted.connect(self._create)
        intro = QLabel(
            self.tr(
                "This database has no users yet. Create the first administrator: they add the "
                "coordinators and viewers, and manage backups. An administrator does not record "
                "clinical work; a person who also coordinates care gets a coordinator account "
                "too.\n\nDatabase: %1"
            ).replace("%1", ctx.db.info.display_name)
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(_heading(self.tr("Welcome")))
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.user.setFocus()

    @Slot()
    def _create(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        if self.password.text() != self.confirm.text():
            show_error(self.errors["confirm"], self.tr("The two passwords differ."))
            return
        draft = UserDraft(
            self.user.text(), self.display.text(), Role.ADMINISTRATOR.value, self.password.text()
        )
        from pathway_app.services.users import create_first_administrator

        try:
            self.signed_in = create_first_administrator(self._ctx.db, self._ctx.clock, draft)
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.errors["username"]), message)
            return
        except DomainError as exc:
            show_error(self.errors["username"], str(exc))
            return
        self.accept()

    @classmethod
    def ask(cls, ctx: ServiceContext, parent: QWidget | None = None) -> SignedIn | None:
        dialog = cls(ctx, parent)
        dialog.exec()
        return dialog.signed_in


def apply(ctx: ServiceContext, signed: SignedIn) -> None:
    """Make `signed` the acting user of `ctx`: recorded as who, role checked on every write."""
    ctx.actor = signed.username
    ctx.role = signed.role
    ctx.user_id = signed.user_id


def _fail(message: str) -> int:
    from pathway_app.cli import EXIT_SIGN_IN

    print(f"pathway-app: {message}", file=sys.stderr)
    return EXIT_SIGN_IN


def sign_in(ctx: ServiceContext, request: SignInRequest, settings: QSettings | None) -> int | None:
    """Sign someone in, or return the exit code when nobody could be (0: the user cancelled)."""
    from pathway_app.services.users import DEMO_PASSWORD, authenticate, has_users

    interactive = on_screen(request)
    user = request.user or (DEMO_USER if request.demo else None)
    password = request.password or (DEMO_PASSWORD if request.demo else None)
    if not has_users(ctx.db):
        if not interactive:
            return _fail(
                "this database has no users yet. Start the app on a screen to create the first "
                "administrator, or run: pathway-app create-admin --db "
                f"{ctx.db.info.display_name}"
            )
        signed = FirstAdminDialog.ask(ctx)
    elif user and password:
        try:
            signed = authenticate(ctx.db, ctx.clock, user, password)
        except DomainError as exc:
            return _fail(str(exc))
    elif not interactive:
        return _fail(
            "signing in needs a screen, or --user NAME (or $PATHWAY_USER) with $PATHWAY_PASSWORD."
        )
    else:
        signed = SignInDialog.ask(ctx, user or last_user(settings))
    if signed is None:
        return 0  # cancelled: nothing was opened, nothing to report
    apply(ctx, signed)
    if settings is not None:
        settings.setValue(LAST_USER_KEY, signed.username)
    return None


def last_user(settings: QSettings | None) -> str:
    return str(settings.value(LAST_USER_KEY, "")) if settings is not None else ""


def on_screen(request: SignInRequest) -> bool:
    """Whether dialogs can be shown (not for ``--screenshot``, not on an offscreen platform)."""
    return request.interactive and QGuiApplication.platformName() not in ("offscreen", "minimal")


__all__ = [
    "FirstAdminDialog",
    "SignInDialog",
    "SignInRequest",
    "SignInTarget",
    "apply",
    "last_user",
    "on_screen",
    "sign_in",
    "target_of",
]
