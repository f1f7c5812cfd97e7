"""Users (administrators): the accounts with their roles, adding one, changing a role,
deactivating or reactivating, and setting a new password. Accounts are never deleted: the
audit trail names them."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.domain.users import (
    DISPLAY_NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    Role,
    UserDraft,
)
from pathway_app.services.context import ServiceContext
from pathway_app.services.users import (
    UserView,
    create_user,
    list_users,
    reset_password,
    update_user,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, format_datetime, named, show_error

COLUMNS = ("User name", "Name", "Role", "Status", "Last sign-in")


def _role_combo(object_name: str, accessible: str) -> QComboBox:
    combo = named(QComboBox(), object_name, accessible)
    for role in Role:
        combo.addItem(role.label, role.value)
    return combo


def _password(object_name: str, accessible: str) -> QLineEdit:
    edit = named(QLineEdit(), object_name, accessible)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setMaxLength(PASSWORD_MAX_LENGTH)
    return edit


class UsersDialog(QDialog):
    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.users: list[UserView] = []
        self.setWindowTitle(self.tr("Users"))
        named(self, names.USERS_DIALOG, self.windowTitle())
        self.resize(820, 600)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table = named(QTableView(), names.USERS_TABLE, self.tr("Users"))
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        self.role = _role_combo(names.USERS_ROLE_COMBO, self.tr("Role of the selected user"))
        self.save_role = named(
            QPushButton(self.tr("Change &role")),
            names.USERS_SAVE_ROLE_BUTTON,
            self.tr("Change role"),
        )
        self.toggle_active = named(
            QPushButton(self.tr("&Deactivate")),
            names.USERS_TOGGLE_ACTIVE_BUTTON,
            self.tr("Deactivate or reactivate the selected user"),
        )
        self.reset_edit = _password(names.USERS_RESET_PASSWORD_EDIT, self.tr("New password"))
        self.reset_button = named(
            QPushButton(self.tr("Set &password")),
            names.USERS_RESET_PASSWORD_BUTTON,
            self.tr("Set the selected user's password"),
        )
        self.selected_box = selected = QGroupBox(self.tr("Selected user"))
        selected_form = QFormLayout(selected)
        role_row = QHBoxLayout()
        role_row.addWidget(self.role, 1)
        role_row.addWidget(self.save_role)
        selected_form.addRow(self.tr("Role:"), role_row)
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.reset_edit, 1)
        reset_row.addWidget(self.reset_button)
        selected_form.addRow(self.tr("New password:"), reset_row)
        selected_form.addRow("", self.toggle_active)

        self.new_name = named(QLineEdit(), names.USERS_NEW_NAME_EDIT, self.tr("New user name"))
        self.new_name.setMaxLength(USERNAME_MAX_LENGTH)
        self.new_display = named(
            QLineEdit(), names.USERS_NEW_DISPLAY_NAME_EDIT, self.tr("New user's full name")
        )
        self.new_display.setMaxLength(DISPLAY_NAME_MAX_LENGTH)
        self.new_role = _role_combo(names.USERS_NEW_ROLE_COMBO, self.tr("New user's role"))
        self.new_password = _password(names.USERS_NEW_PASSWORD_EDIT, self.tr("New user's password"))
        self.add_button = named(
            QPushButton(self.tr("&Add user")), names.USERS_ADD_BUTTON, self.tr("Add user")
        )
        add_box = QGroupBox(self.tr("Add a user"))
        add_form = QFormLayout(add_box)
        add_form.addRow(self.tr("User &name:"), self.new_name)
        add_form.addRow(self.tr("&Full name:"), self.new_display)
        add_form.addRow(self.tr("R&ole:"), self.new_role)
        add_form.addRow(self.tr("Pass&word:"), self.new_password)
        add_form.addRow("", self.add_button)

        self.error = error_label(names.USERS_ERROR)
        self.close_button = named(
            QPushButton(self.tr("&Close")), names.USERS_CLOSE_BUTTON, self.tr("Close")
        )
        note = QLabel(
            self.tr(
                "Coordinators record clinical work; viewers only read; administrators manage "
                "users and backups and record nothing clinical. Accounts are deactivated, never "
                "deleted, because the audit trail names them."
            )
        )
        note.setWordWrap(True)
        boxes = QHBoxLayout()
        boxes.addWidget(selected, 1)
        boxes.addWidget(add_box, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.error, 4)
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addLayout(boxes)
        layout.addLayout(bottom)

        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._selection())
        self.save_role.clicked.connect(self.change_role)
        self.toggle_active.clicked.connect(self.toggle)
        self.reset_button.clicked.connect(self.set_password)
        self.add_button.clicked.connect(self.add)
        self.close_button.clicked.connect(self.accept)
        self.reload()

    def reload(self, select_id: int | None = None) -> None:
        self.users = list_users(self._ctx)
        self.model.removeRows(0, self.model.rowCount())
        for user in self.users:
            self.model.appendRow(
                [
                    QStandardItem(text)
                    for text in (
                        user.username,
                        user.display_name,
                        Role(user.role).label,
                        self.tr("Active") if user.active else self.tr("Deactivated"),
                        format_datetime(user.last_sign_in_at),
                    )
                ]
            )
        row = next((i for i, u in enumerate(self.users) if u.id == select_id), 0)
        if self.users:
            self.table.selectRow(row)
        self._selection()

    def selected(self) -> UserView | None:
        index = self.table.currentIndex()
        return self.users[index.row()] if index.isValid() else None

    def _selection(self) -> None:
        user = self.selected()
        for widget in (self.role, self.save_role, self.toggle_active, self.reset_button):
            widget.setEnabled(user is not None)
        self.selected_box.setTitle(
            self.tr("Selected user: %1").replace("%1", user.username)
            if user is not None
            else self.tr("Selected user")
        )
        if user is not None:
            self.role.setCurrentIndex(self.role.findData(user.role))
            self.toggle_active.setText(
                self.tr("&Deactivate") if user.active else self.tr("Re&activate")
            )

    def _run(self, action: object) -> bool:
        show_error(self.error, None)
        try:
            action()  # type: ignore[operator]
        except DomainError as exc:
            show_error(self.error, str(exc))
            return False
        return True

    @Slot()
    def change_role(self) -> None:
        user = self.selected()
        if user is not None and self._run(
            lambda: update_user(
                self._ctx, user.id, role=self.role.currentData(), expected_version=user.version
            )
        ):
            self.reload(user.id)

    @Slot()
    def toggle(self) -> None:
        user = self.selected()
        if user is not None and self._run(
            lambda: update_user(
                self._ctx, user.id, active=not user.active, expected_version=user.version
            )
        ):
            self.reload(user.id)

    @Slot()
    def set_password(self) -> None:
        user = self.selected()
        if user is not None and self._run(
            lambda: reset_password(
                self._ctx, user.id, self.reset_edit.text(), expected_version=user.version
            )
        ):
            self.reset_edit.clear()
            self.reload(user.id)
            show_error(self.error, None)

    @Slot()
    def add(self) -> None:
        created: list[int] = []

        def create() -> None:
            created.append(
                create_user(
                    self._ctx,
                    UserDraft(
                        self.new_name.text(),
                        self.new_display.text(),
                        str(self.new_role.currentData()),
                        self.new_password.text(),
                    ),
                )
            )

        if self._run(create):
            for edit in (self.new_name, self.new_display, self.new_password):
                edit.clear()
            self.reload(created[0])

    @classmethod
    def show_for(cls, ctx: ServiceContext, parent: QWidget | None) -> None:
        cls(ctx, parent).exec()
