"""Users and roles: the first administrator, signing in without revealing whether a user
exists, argon2 hashes only, roles enforced on every write, the last administrator kept."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pathway_app.domain.errors import (
    ConcurrentEdit,
    InvalidTransition,
    PermissionDenied,
    ValidationError,
)
from pathway_app.domain.records import PatientDraft
from pathway_app.domain.users import UserDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.services.users import (
    SignInFailed,
    authenticate,
    check_password,
    create_first_administrator,
    create_user,
    has_users,
    list_users,
    record_verified_sign_in,
    reset_password,
    update_user,
)
from pathway_app.storage.orm import AuditEntry, Patient

ADMIN_PASSWORD = "correct horse battery"
NURSE_PASSWORD = "nurse-password-1"


@pytest.fixture
def admin(ctx: ServiceContext) -> ServiceContext:
    signed = create_first_administrator(
        ctx.db, ctx.clock, UserDraft("Admin", "Ada Admin", "administrator", ADMIN_PASSWORD)
    )
    return replace(ctx, actor=signed.username, role=signed.role, user_id=signed.user_id)


@pytest.fixture
def nurse(admin: ServiceContext) -> ServiceContext:
    create_user(admin, UserDraft("nurse", "Nina Nurse", "coordinator", NURSE_PASSWORD))
    signed = authenticate(admin.db, admin.clock, "nurse", NURSE_PASSWORD)
    return replace(admin, actor=signed.username, role=signed.role, user_id=signed.user_id)


def count(ctx: ServiceContext, model: type) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_first_administrator_only_once(admin: ServiceContext) -> None:
    assert has_users(admin.db)
    with pytest.raises(InvalidTransition):
        create_first_administrator(
            admin.db, admin.clock, UserDraft("second", "", "administrator", ADMIN_PASSWORD)
        )


def test_passwords_are_stored_as_argon2_hashes_only(admin: ServiceContext, db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        (stored,) = raw.execute("SELECT password_hash FROM users").fetchone()
        dump = "\n".join(raw.iterdump())
    finally:
        raw.close()
    assert stored.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in dump


def test_wrong_password_and_unknown_user_get_the_same_message(nurse: ServiceContext) -> None:
    messages = []
    for user, password in (("nurse", "wrong password"), ("nobody", NURSE_PASSWORD)):
        with pytest.raises(SignInFailed) as info:
            authenticate(nurse.db, nurse.clock, user, password)
        messages.append(str(info.value))
    assert messages[0] == messages[1] == "The user name or password is wrong."


def test_sign_in_ignores_case_and_spaces_of_the_user_name(nurse: ServiceContext) -> None:
    assert authenticate(nurse.db, nurse.clock, "  NURSE ", NURSE_PASSWORD).username == "nurse"


def test_sign_ins_are_audited_without_the_password(nurse: ServiceContext) -> None:
    with pytest.raises(SignInFailed):
        authenticate(nurse.db, nurse.clock, "nurse", "guess-one")
    with nurse.db.reading() as session:
        rows = session.execute(select(AuditEntry.action, AuditEntry.detail)).all()
    actions = [action for action, _ in rows]
    assert "user.signed_in" in actions and "user.sign_in_failed" in actions
    text = " ".join(detail for _, detail in rows)
    assert "guess-one" not in text and NURSE_PASSWORD not in text


def test_deactivated_users_cannot_sign_in_or_unlock(admin: ServiceContext, nurse) -> None:
    users = {u.username: u for u in list_users(admin)}
    update_user(admin, users["nurse"].id, active=False, expected_version=users["nurse"].version)
    with pytest.raises(SignInFailed, match="user name or password is wrong"):
        authenticate(admin.db, admin.clock, "nurse", NURSE_PASSWORD)
    assert not check_password(nurse, NURSE_PASSWORD)


def test_check_password_unlocks_only_with_the_right_one(nurse: ServiceContext) -> None:
    assert check_password(nurse, NURSE_PASSWORD)
    assert not check_password(nurse, ADMIN_PASSWORD)
    assert not check_password(replace(nurse, user_id=None), NURSE_PASSWORD)


def test_a_viewer_cannot_write_and_nothing_is_written(admin: ServiceContext) -> None:
    create_user(admin, UserDraft("vic", "", "viewer", "viewer-password"))
    signed = authenticate(admin.db, admin.clock, "vic", "viewer-password")
    viewer = replace(admin, actor=signed.username, role=signed.role, user_id=signed.user_id)
    audit_before = count(viewer, AuditEntry)
    with pytest.raises(PermissionDenied, match=r"viewer.*cannot change clinical records"):
        register_patient(viewer, PatientDraft("V-1", "View", "Only", date(1970, 1, 1)))
    assert count(viewer, Patient) == 0
    assert count(viewer, AuditEntry) == audit_before


def test_an_administrator_records_nothing_clinical(admin: ServiceContext) -> None:
    with pytest.raises(PermissionDenied):
        register_patient(admin, PatientDraft("A-1", "Admin", "Clinical", date(1970, 1, 1)))


def test_only_administrators_manage_users(nurse: ServiceContext) -> None:
    with pytest.raises(PermissionDenied, match="Only an administrator"):
        create_user(nurse, UserDraft("x", "", "viewer", "some-password"))


def test_the_default_context_is_a_coordinator(ctx: ServiceContext) -> None:
    register_patient(ctx, PatientDraft("D-1", "Default", "Role", date(1970, 1, 1)))
    assert count(ctx, Patient) == 1


def test_the_last_administrator_is_kept(admin: ServiceContext) -> None:
    me = next(u for u in list_users(admin) if u.username == "Admin")
    with pytest.raises(InvalidTransition, match="no administrator left"):
        update_user(admin, me.id, role="viewer")
    with pytest.raises(InvalidTransition, match="no administrator left"):
        update_user(admin, me.id, active=False)


def test_user_names_are_unique_whatever_the_case(admin: ServiceContext) -> None:
    create_user(admin, UserDraft("Bea", "", "viewer", "bea-password"))
    with pytest.raises(ValidationError) as info:
        create_user(admin, UserDraft("bea", "", "coordinator", "bea-password"))
    assert "username" in info.value.field_errors


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (UserDraft("", "", "viewer", "long-enough"), "username"),
        (UserDraft("has space", "", "viewer", "long-enough"), "username"),
        (UserDraft("x" * 65, "", "viewer", "long-enough"), "username"),
        (UserDraft("ok", "", "superuser", "long-enough"), "role"),
        (UserDraft("ok", "", "viewer", "short"), "password"),
        (UserDraft("ok", "", "viewer", " " * 12), "password"),
        (UserDraft("ok", "line\nbreak", "viewer", "long-enough"), "display_name"),
    ],
)
def test_bad_user_drafts_are_refused_per_field(admin: ServiceContext, draft, field) -> None:
    with pytest.raises(ValidationError) as info:
        create_user(admin, draft)
    assert field in info.value.field_errors


def test_a_stale_user_edit_is_refused(admin: ServiceContext, nurse: ServiceContext) -> None:
    seen = next(u for u in list_users(admin) if u.username == "nurse")
    update_user(admin, seen.id, display_name="Nina N.", expected_version=seen.version)
    with pytest.raises(ConcurrentEdit):
        update_user(admin, seen.id, role="viewer", expected_version=seen.version)
    assert next(u for u in list_users(admin) if u.username == "nurse").role == "coordinator"


def test_reset_password_changes_it_and_audits_no_secret(
    admin: ServiceContext, nurse: ServiceContext
) -> None:
    seen = next(u for u in list_users(admin) if u.username == "nurse")
    reset_password(admin, seen.id, "brand-new-pass")
    assert check_password(nurse, "brand-new-pass")
    assert not check_password(nurse, NURSE_PASSWORD)
    with admin.db.reading() as session:
        details = " ".join(session.scalars(select(AuditEntry.detail)).all())
    assert "brand-new-pass" not in details


# --- Issue 9: a sign-in checked at start-up is recorded without hashing again ----------------


def stored_hash(ctx: ServiceContext, username: str) -> str:
    from pathway_app.storage.orm_trust import User

    with ctx.db.reading() as session:
        return session.scalars(select(User.password_hash).where(User.username == username)).one()


def actions(ctx: ServiceContext) -> list[str]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_verified_sign_in_is_recorded_without_verifying_again(
    nurse: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathway_app.services import users

    verified = stored_hash(nurse, "nurse")
    before = actions(nurse).count("user.signed_in")
    calls: list[str] = []
    monkeypatch.setattr(users, "_password_matches", lambda *a: calls.append("verify") or True)
    signed = record_verified_sign_in(nurse.db, nurse.clock, " NURSE", NURSE_PASSWORD, verified)
    assert signed.username == "nurse" and signed.role == "coordinator"
    assert calls == []
    assert actions(nurse).count("user.signed_in") == before + 1


def test_a_verified_sign_in_of_a_changed_account_is_checked_again(
    admin: ServiceContext, nurse: ServiceContext
) -> None:
    """The password was reset, or the account deactivated, after the start-up check read the
    hash: the sign-in goes through `authenticate`, which refuses and records the attempt."""
    verified = stored_hash(nurse, "nurse")
    seen = next(u for u in list_users(admin) if u.username == "nurse")
    reset_password(admin, seen.id, "brand-new-pass")
    with pytest.raises(SignInFailed):
        record_verified_sign_in(nurse.db, nurse.clock, "nurse", NURSE_PASSWORD, verified)
    assert actions(nurse)[-1] == "user.sign_in_failed"

    fresh = stored_hash(nurse, "nurse")
    seen = next(u for u in list_users(admin) if u.username == "nurse")
    update_user(admin, seen.id, active=False, expected_version=seen.version)
    with pytest.raises(SignInFailed):
        record_verified_sign_in(nurse.db, nurse.clock, "nurse", "brand-new-pass", fresh)
    assert actions(nurse)[-1] == "user.sign_in_failed"
