"""Users, roles and what each role may do; the rules for user names and passwords.

Roles are deliberately separate (least privilege): a coordinator does everything clinical, a
viewer reads only, an administrator manages users, settings and backups but records nothing
clinical. A person who needs two roles gets two accounts, so the audit trail says in which
capacity they acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pathway_app.domain.errors import PermissionDenied, ValidationError
from pathway_app.domain.text import control_character_message, has_control_character

USERNAME_MAX_LENGTH = 64
DISPLAY_NAME_MAX_LENGTH = 100
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256


class Role(StrEnum):
    COORDINATOR = "coordinator"
    VIEWER = "viewer"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return {
            Role.COORDINATOR: "Coordinator",
            Role.VIEWER: "Viewer (read only)",
            Role.ADMINISTRATOR: "Administrator",
        }[self]


class Permission(StrEnum):
    """What a write is for; `ServiceContext` checks it before every transaction."""

    CLINICAL = "clinical"  # patients, episodes, milestones, refills, …
    USERS = "users"  # create users, change roles, reset passwords, deactivate
    BACKUPS = "backups"  # back up now, restore
    SETTINGS = "settings"  # lock time, backup folder and count
    OWN_ACCOUNT = "own_account"  # sign-in records, changing one's own password


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COORDINATOR: frozenset({Permission.CLINICAL, Permission.OWN_ACCOUNT}),
    Role.VIEWER: frozenset({Permission.OWN_ACCOUNT}),
    Role.ADMINISTRATOR: frozenset(
        {Permission.USERS, Permission.BACKUPS, Permission.SETTINGS, Permission.OWN_ACCOUNT}
    ),
}

DENIED_MESSAGES = {
    Permission.CLINICAL: "Your role ({role}) cannot change clinical records. Nothing was saved.",
    Permission.USERS: "Only an administrator can manage users. Nothing was saved.",
    Permission.BACKUPS: "Only an administrator can back up or restore the database.",
    Permission.SETTINGS: "Only an administrator can change the settings. Nothing was saved.",
    Permission.OWN_ACCOUNT: "You are not signed in.",
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            {"role": "Choose a role: coordinator, viewer or administrator."}
        ) from None


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(role: str, permission: Permission) -> None:
    """Raise `PermissionDenied` with a readable message unless `role` may do `permission`."""
    if not allowed(role, permission):
        label = Role(role).label.lower() if role in set(Role) else role
        raise PermissionDenied(DENIED_MESSAGES[permission].format(role=label))


@dataclass(frozen=True)
class UserDraft:
    username: str
    display_name: str
    role: str
    password: str


def username_key(username: str) -> str:
    """What makes two user names the same: trimmed and case-folded ("Anna" is "anna")."""
    return username.strip().casefold()


def validate_username(username: str, errors: dict[str, str]) -> str:
    name = username.strip()
    if not name:
        errors["username"] = "Enter a user name."
    elif len(name) > USERNAME_MAX_LENGTH:
        errors["username"] = f"Keep the user name under {USERNAME_MAX_LENGTH} characters."
    elif has_control_character(name):
        errors["username"] = control_character_message("user name")
    elif any(ch.isspace() for ch in name):
        errors["username"] = "A user name has no spaces."
    return name


def validate_password(password: str, errors: dict[str, str], field: str = "password") -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        errors[field] = f"Use at least {PASSWORD_MIN_LENGTH} characters."
    elif len(password) > PASSWORD_MAX_LENGTH:
        errors[field] = f"Use at most {PASSWORD_MAX_LENGTH} characters."
    elif password.strip() == "":
        errors[field] = "A password cannot be only spaces."
    elif "\x00" in password:
        errors[field] = "The password contains a control character."


def validate_display_name(display_name: str, errors: dict[str, str]) -> str:
    """The trimmed display name (empty is allowed: the caller decides what stands in for it)."""
    display = display_name.strip()
    if len(display) > DISPLAY_NAME_MAX_LENGTH:
        errors["display_name"] = f"Keep the name under {DISPLAY_NAME_MAX_LENGTH} characters."
    elif has_control_character(display):
        errors["display_name"] = control_character_message("display name")
    return display


def validate_user(draft: UserDraft) -> UserDraft:
    """Trimmed draft, or `ValidationError` with one message per field."""
    errors: dict[str, str] = {}
    username = validate_username(draft.username, errors)
    display = validate_display_name(draft.display_name, errors) or username
    try:
        role = parse_role(draft.role)
    except ValidationError as exc:
        errors.update(exc.field_errors)
        role = Role.VIEWER
    validate_password(draft.password, errors)
    if errors:
        raise ValidationError(errors)
    return UserDraft(username, display, role.value, draft.password)
