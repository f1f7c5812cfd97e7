"""Users: the first administrator, signing in, checking a password to unlock, and managing
accounts (administrators only).

Passwords are hashed with argon2id (argon2-cffi) and never stored, logged or audited in clear.
A failed sign-in says "the user name or password is wrong" whether or not the user exists, and
takes as long either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pathway_app.domain.clock import Clock
from pathway_app.domain.errors import DomainError, InvalidTransition, NotFound, ValidationError
from pathway_app.domain.users import (
    Permission,
    Role,
    UserDraft,
    parse_role,
    username_key,
    validate_display_name,
    validate_password,
    validate_user,
)
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo
from pathway_app.storage.database import Database
from pathway_app.storage.orm_trust import User

WRONG_CREDENTIALS = "The user name or password is wrong."
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("nurse", "Demo Nurse", Role.COORDINATOR),
    ("admin", "Demo Administrator", Role.ADMINISTRATOR),
    ("viewer", "Demo Viewer", Role.VIEWER),
)


class SignInFailed(DomainError):
    """Wrong user name or password, or a deactivated account (the message never says which)."""


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    last_sign_in_at: datetime | None
    version: int


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so both answers take as long.
    return _hasher().hash("not a password of anyone")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _snapshot(user: User) -> dict[str, Any]:
    # Never the password or its hash.
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "active": user.active,
    }


def _audit(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    user: User,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    repo.add_audit(
        session,
        at=at,
        actor=actor,
        action=action,
        entity="user",
        entity_id=user.id,
        old=old,
        new=new,
    )


def _by_name(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username_key == username_key(username))).first()


def _signed_in(user: User) -> SignedIn:
    return SignedIn(user.id, user.username, user.display_name, user.role)


def has_users(db: Database) -> bool:
    with db.reading() as session:
        return (session.scalar(select(func.count()).select_from(User)) or 0) > 0


def _add_user(session: Session, draft: UserDraft, at: datetime, actor: str) -> User:
    if _by_name(session, draft.username) is not None:
        raise ValidationError({"username": f"The user name {draft.username} is taken."})
    user = User(
        username=draft.username,
        username_key=username_key(draft.username),
        display_name=draft.display_name,
        role=draft.role,
        password_hash=hash_password(draft.password),
        active=True,
        created_at=at,
        created_by=actor,
        password_changed_at=at,
    )
    session.add(user)
    session.flush()
    return user


def create_first_administrator(db: Database, clock: Clock, draft: UserDraft) -> SignedIn:
    """On a database without users, create the first administrator (who is then signed in).

    Raises:
        ValidationError: a field is wrong.
        InvalidTransition: the database already has users.
    """
    clean = validate_user(
        UserDraft(draft.username, draft.display_name, "administrator", draft.password)
    )
    with db.writing(Permission.OWN_ACCOUNT.value) as session:
        if session.scalar(select(func.count()).select_from(User)):
            raise InvalidTransition(
                "This database already has users; ask an administrator for an account."
            )
        user = _add_user(session, clean, clock.now(), clean.username)
        _audit(session, clock.now(), clean.username, "user.created", user, new=_snapshot(user))
        return _signed_in(user)


def authenticate(db: Database, clock: Clock, username: str, password: str) -> SignedIn:
    """Check a user name and password; record the sign-in.

    Raises:
        SignInFailed: with the same message whether the user is unknown, deactivated, or the
            password is wrong.
    """
    with db.reading() as session:
        user = _by_name(session, username)
        stored = user.password_hash if user is not None else _dummy_hash()
        user_id = user.id if user is not None else None
        active = user is not None and user.active
    matches = _password_matches(stored, password)
    now = clock.now()
    with db.writing(Permission.OWN_ACCOUNT.value) as session:
        if user_id is None:
            raise SignInFailed(WRONG_CREDENTIALS)
        user = session.get(User, user_id)
        if user is None:
            raise SignInFailed(WRONG_CREDENTIALS)
        if not (matches and active):
            # A failed attempt on a real account is recorded (not the password typed).
            _audit(session, now, user.username, "user.sign_in_failed", user)
        else:
            if _hasher().check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.last_sign_in_at = now
            _audit(session, now, user.username, "user.signed_in", user)
            return _signed_in(user)
    raise SignInFailed(WRONG_CREDENTIALS)


def record_verified_sign_in(
    db: Database, clock: Clock, username: str, password: str, verified_hash: str
) -> SignedIn:
    """Record the sign-in of a password the caller has just verified against `verified_hash`,
    the account's stored hash when it read it (the first screen at start-up, which checks the
    password before the data layer is loaded). argon2 is deliberately costly (~0.13 s and
    64 MiB), so it is not run twice for one sign-in.

    When the account changed since (another hash: the password was reset; deactivated), this
    is `authenticate`: the password is verified again and a failure recorded.

    Raises:
        SignInFailed: as `authenticate`.
    """
    now = clock.now()
    with db.writing(Permission.OWN_ACCOUNT.value) as session:
        user = _by_name(session, username)
        if user is not None and user.active and user.password_hash == verified_hash:
            if _hasher().check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.last_sign_in_at = now
            _audit(session, now, user.username, "user.signed_in", user)
            return _signed_in(user)
    return authenticate(db, clock, username, password)


def check_password(ctx: ServiceContext, password: str) -> bool:
    """True when `password` is the signed-in user's (to unlock the workstation)."""
    if ctx.user_id is None:
        return False
    with ctx.db.reading() as session:
        user = session.get(User, ctx.user_id)
        stored = user.password_hash if user is not None and user.active else _dummy_hash()
        known = user is not None and user.active
    return _password_matches(stored, password) and known


def list_users(ctx: ServiceContext) -> list[UserView]:
    with ctx.db.reading() as session:
        users = session.scalars(select(User).order_by(User.username_key)).all()
        return [
            UserView(
                u.id, u.username, u.display_name, u.role, u.active, u.last_sign_in_at, u.version
            )
            for u in users
        ]


def create_user(ctx: ServiceContext, draft: UserDraft) -> int:
    """Create an account (administrators only)."""
    ctx.require(Permission.USERS)
    clean = validate_user(draft)
    with ctx.db.writing(Permission.USERS.value) as session:
        user = _add_user(session, clean, ctx.now(), ctx.actor)
        _audit(session, ctx.now(), ctx.actor, "user.created", user, new=_snapshot(user))
        return user.id


def _editable(session: Session, user_id: int, expected_version: int | None) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That user no longer exists.")
    repo.check_version(user.version, expected_version)
    return user


def _other_active_administrators(session: Session, user_id: int) -> int:
    query = select(func.count()).where(
        User.role == Role.ADMINISTRATOR.value, User.active.is_(True), User.id != user_id
    )
    return session.scalar(query) or 0


def update_user(
    ctx: ServiceContext,
    user_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    display_name: str | None = None,
    expected_version: int | None = None,
) -> None:
    """Change an account's role, name or whether it may sign in (administrators only).

    The last active administrator cannot be demoted or deactivated. Accounts are never deleted:
    the audit trail names them.
    """
    ctx.require(Permission.USERS)
    new_role = parse_role(role).value if role is not None else None
    name: str | None = None
    if display_name is not None:
        errors: dict[str, str] = {}
        name = validate_display_name(display_name, errors)
        # validate_display_name lets a new account go without (its user name stands in);
        # renaming an account to nothing is refused.
        if not name and not errors:
            errors["display_name"] = "Enter the display name."
        if errors:
            raise ValidationError(errors)
    with ctx.db.writing(Permission.USERS.value) as session:
        user = _editable(session, user_id, expected_version)
        old = _snapshot(user)
        losing_admin = user.role == Role.ADMINISTRATOR.value and (
            (new_role is not None and new_role != Role.ADMINISTRATOR.value) or active is False
        )
        if losing_admin and _other_active_administrators(session, user.id) == 0:
            raise InvalidTransition(
                "The clinic would have no administrator left. Make someone else an "
                "administrator first."
            )
        if new_role is not None:
            user.role = new_role
        if active is not None:
            user.active = active
        if name is not None:
            user.display_name = name
        if _snapshot(user) != old:
            _audit(session, ctx.now(), ctx.actor, "user.changed", user, old, _snapshot(user))


def reset_password(
    ctx: ServiceContext, user_id: int, new_password: str, *, expected_version: int | None = None
) -> None:
    """Set another user's password (administrators only); the audit says it changed, not to
    what."""
    ctx.require(Permission.USERS)
    errors: dict[str, str] = {}
    validate_password(new_password, errors)
    if errors:
        raise ValidationError(errors)
    with ctx.db.writing(Permission.USERS.value) as session:
        user = _editable(session, user_id, expected_version)
        user.password_hash = hash_password(new_password)
        user.password_changed_at = ctx.now()
        _audit(
            session, ctx.now(), ctx.actor, "user.password_reset", user, new={"password": "reset"}
        )


def change_own_password(ctx: ServiceContext, current: str, new_password: str) -> None:
    errors: dict[str, str] = {}
    validate_password(new_password, errors, "new_password")
    if not check_password(ctx, current):
        errors["current_password"] = "The current password is wrong."
    if errors:
        raise ValidationError(errors)
    assert ctx.user_id is not None
    with ctx.db.writing(Permission.OWN_ACCOUNT.value) as session:
        user = _editable(session, ctx.user_id, None)
        user.password_hash = hash_password(new_password)
        user.password_changed_at = ctx.now()
        _audit(
            session,
            ctx.now(),
            ctx.actor,
            "user.password_changed",
            user,
            new={"password": "changed"},
        )


def seed_demo_users(db: Database, clock: Clock) -> None:
    """The demo clinic's accounts, all with the documented `DEMO_PASSWORD`."""
    with db.writing(Permission.USERS.value) as session:
        for username, display, role in DEMO_USERS:
            if _by_name(session, username) is None:
                draft = UserDraft(username, display, role.value, DEMO_PASSWORD)
                user = _add_user(session, draft, clock.now(), "demo")
                _audit(session, clock.now(), "demo", "user.created", user, new=_snapshot(user))
