"""Issue 9: start-up in two steps -- the refill worklist painted from a plain sqlite3 read, the
data layer loaded on a thread, then the sign-in recorded and the window completed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget
from sqlalchemy import select

from pathway_app.app import AppOptions
from pathway_app.cli import EXIT_DATABASE, EXIT_SIGN_IN
from pathway_app.domain.users import UserDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import refill_worklist_pages
from pathway_app.services.users import create_first_administrator, create_user
from pathway_app.storage.database import DatabaseOpenError
from pathway_app.storage.orm import AuditEntry
from pathway_app.ui import object_names as names
from pathway_app.ui import sign_in as sign_in_module
from pathway_app.ui import startup
from pathway_app.ui.startup import Start
from tests.conftest import FIXED_NOW

pytestmark = pytest.mark.sqlite_only

NURSE_PW = "nurse-password"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clinic(demo_ctx: ServiceContext) -> ServiceContext:
    """The demo clinic with an administrator and the coordinator "nurse"."""
    admin = create_first_administrator(
        demo_ctx.db, demo_ctx.clock, UserDraft("admin", "", "administrator", "admin-password")
    )
    admin_ctx = replace(demo_ctx, actor="admin", role=admin.role, user_id=admin.user_id)
    create_user(admin_ctx, UserDraft("nurse", "Nina", "coordinator", NURSE_PW))
    return demo_ctx


def options(db_path: Path, password: str = NURSE_PW) -> AppOptions:
    return AppOptions(
        database=str(db_path), now=FIXED_NOW, actor="nurse", user="nurse", password=password
    )


@pytest.fixture
def held_loader(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The loading thread waits for this event, so the first screen can be looked at."""
    release = threading.Event()
    real = startup._load_everything

    def held(opts: AppOptions) -> Any:
        release.wait(30)
        return real(opts)

    monkeypatch.setattr(startup, "_load_everything", held)
    return release


def signed_in_entries(ctx: ServiceContext, action: str) -> int:
    with ctx.db.reading() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        return len(entries)


def test_automation_start_paints_the_refill_worklist_then_completes_the_window(
    clinic: ServiceContext, db_path: Path, qtbot, held_loader: threading.Event
) -> None:
    start = Start(options(db_path), None)
    assert start.open() is None
    window = start.window
    assert window is not None
    qtbot.addWidget(window)
    panel = window.refill_worklist

    # The first screen: the same rows as the service reads, nothing that needs the data layer.
    expected = refill_worklist_pages(clinic, due_within_days=panel.days.value(), search="")
    total = expected.count()
    shown = panel.model.rowCount()
    assert total > 0 and shown == min(total, panel.model.page_size)
    assert panel.episode_ids() == [row.episode_id for row in expected.fetch(0, shown)]
    assert not window.ready and panel.busy
    assert window.findChild(QWidget, names.WORKLIST_PANEL) is None
    assert window.findChild(QWidget, names.EPISODE_VIEW) is None
    assert not window.new_patient_button.isEnabled()
    assert signed_in_entries(clinic, "user.signed_in") == 0  # recorded once loaded
    # Typed while opening: applied once the window is ready.
    qtbot.keyClicks(panel.search, "demo-1007")
    first_row = panel.episode_ids()[0]
    panel.table.selectRow(0)
    panel.open_selected()

    from pathway_app.services import users

    verifications: list[str] = []
    real = users._password_matches
    users_patch = pytest.MonkeyPatch()
    users_patch.setattr(
        users, "_password_matches", lambda *a: verifications.append("x") or real(*a)
    )
    held_loader.set()
    try:
        assert window.wait_until_ready(30_000)
    finally:
        users_patch.undo()
    assert verifications == []  # checked once, before the first paint; not hashed again
    assert window.ready and not panel.busy
    assert window.findChild(QWidget, names.WORKLIST_PANEL) is not None
    assert window.new_patient_button.isEnabled()
    assert "nurse" in window.user_label.text()
    assert signed_in_entries(clinic, "user.signed_in") == 1
    assert window.episode_view.episode is not None
    assert window.episode_view.episode.id == first_row  # the row opened while opening
    assert panel.wait_until_idle()
    mrns = {panel.model.row_at(r).mrn for r in range(panel.model.rowCount())}
    assert mrns <= {"DEMO-1007"}
    start.close()


def test_the_first_screen_imports_no_data_layer(clinic: ServiceContext, db_path: Path) -> None:
    """Checked in a fresh interpreter: what is imported when the loading thread starts is
    what the first paint cost."""
    script = f"""
import json, sys
from datetime import datetime
from pathway_app.app import AppOptions
from pathway_app.ui import sign_in as sign_in_module
from pathway_app.ui import startup
seen = {{}}
real = startup.ContextLoader.start
def spy(self):
    seen.setdefault("sqlalchemy", "sqlalchemy" in sys.modules)
    seen.setdefault("pages", "pathway_app.ui.episode_view" in sys.modules)
    real(self)
startup.ContextLoader.start = spy
from PySide6.QtWidgets import QApplication
app = QApplication([])
start = startup.Start(AppOptions(database={str(db_path)!r}, now=datetime.fromisoformat(
    {FIXED_NOW.isoformat()!r}), actor="nurse", user="nurse", password={NURSE_PW!r}), None)
assert start.open() is None
rows = start.window.refill_worklist.model.rowCount()
ready = start.window.wait_until_ready(60000)
print(json.dumps({{**seen, "rows": rows, "ready": ready}}))
start.close()
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"sqlalchemy": False, "pages": False, "rows": seen["rows"], "ready": True}
    assert seen["rows"] > 0


def test_a_wrong_password_takes_the_full_path_and_is_recorded(
    clinic: ServiceContext, db_path: Path, qtbot
) -> None:
    start = Start(options(db_path, password="wrong"), None)
    assert start.open() == EXIT_SIGN_IN
    assert start.window is None
    assert signed_in_entries(clinic, "user.sign_in_failed") == 1
    start.close()


def test_a_load_that_fails_after_the_first_paint_ends_with_its_exit_code(
    clinic: ServiceContext, db_path: Path, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_options: AppOptions) -> Any:
        raise DatabaseOpenError("The database is damaged (test).")

    monkeypatch.setattr(startup, "build_context", broken)
    start = Start(options(db_path), None)
    assert start.open() is None
    assert start.window is not None
    qtbot.addWidget(start.window)
    with qtbot.waitSignal(start.failed, timeout=30_000) as failed:
        pass
    assert failed.args == [EXIT_DATABASE]
    assert start.exit_code == EXIT_DATABASE
    assert not start.window.isVisible() and not start.window.ready
    start.close()


def test_on_a_screen_the_sign_in_dialog_comes_before_the_loading(
    clinic: ServiceContext, db_path: Path, qtbot, on_dialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_in_module, "on_screen", lambda _request: True)
    start = Start(AppOptions(database=str(db_path), now=FIXED_NOW), None)
    loaded_when_shown: list[bool] = []

    def sign_in(dialog: QWidget) -> None:
        loaded_when_shown.append(start.ctx is not None)
        dialog.findChild(QWidget, names.SIGN_IN_USER_EDIT).setText("nurse")
        dialog.findChild(QWidget, names.SIGN_IN_PASSWORD_EDIT).setText(NURSE_PW)
        dialog.findChild(QWidget, names.SIGN_IN_BUTTON).click()

    on_dialog(names.SIGN_IN_DIALOG, sign_in)
    assert start.open() is None
    assert loaded_when_shown == [False]
    window = start.window
    assert window is not None
    qtbot.addWidget(window)
    assert window.ready and start.ctx is not None and start.ctx.actor == "nurse"
    assert signed_in_entries(clinic, "user.signed_in") == 1
    start.close()


def test_a_sign_in_refused_once_loaded_closes_the_window(
    clinic: ServiceContext, db_path: Path, qtbot, held_loader: threading.Event
) -> None:
    """The account is deactivated between the first screen's check and the recorded sign-in:
    the window goes, with the sign-in exit code, and the refusal is recorded."""
    from pathway_app.services.users import authenticate, list_users, update_user

    admin = authenticate(clinic.db, clinic.clock, "admin", "admin-password")
    admin_ctx = replace(clinic, actor=admin.username, role=admin.role, user_id=admin.user_id)
    start = Start(options(db_path), None)
    assert start.open() is None
    assert start.window is not None
    qtbot.addWidget(start.window)
    nurse = next(u for u in list_users(admin_ctx) if u.username == "nurse")
    update_user(admin_ctx, nurse.id, active=False, expected_version=nurse.version)
    with qtbot.waitSignal(start.failed, timeout=30_000) as failed:
        held_loader.set()
    assert failed.args == [EXIT_SIGN_IN]
    assert not start.window.isVisible() and not start.window.ready
    assert signed_in_entries(clinic, "user.sign_in_failed") == 1
    start.close()
