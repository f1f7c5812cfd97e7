"""Issue 7: a connection lost mid-session shows a banner and retries; nothing typed is lost and
nothing is half-applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QDateEdit, QLabel, QLineEdit, QPushButton, QWidget
from sqlalchemy import create_engine, func, select, text

from pathway_app.domain.errors import ConnectionLost, StorageError
from pathway_app.services.context import ServiceContext
from pathway_app.storage import change_feed
from pathway_app.storage.database import Database, open_database
from pathway_app.storage.orm import AuditEntry, Patient
from pathway_app.ui import object_names as names
from pathway_app.ui.connection_banner import ConnectionBanner
from pathway_app.ui.dialogs import patient_dialog
from pathway_app.ui.live_refresh import LiveRefresh, Mode


def child(parent: QWidget, cls: type, name: str):  # type: ignore[no-untyped-def]
    widget = parent.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name}"
    return widget


def fill_patient(dialog: QWidget) -> None:
    child(dialog, QLineEdit, names.PATIENT_MRN_EDIT).setText("NET-1")
    child(dialog, QLineEdit, names.PATIENT_FAMILY_NAME_EDIT).setText("Nordin")
    child(dialog, QLineEdit, names.PATIENT_GIVEN_NAME_EDIT).setText("Astrid")
    child(dialog, QDateEdit, names.PATIENT_BIRTH_DATE_EDIT).setDate(QDate(1958, 3, 9))


def typed(dialog: QWidget) -> tuple[str, str, str, QDate]:
    return (
        child(dialog, QLineEdit, names.PATIENT_MRN_EDIT).text(),
        child(dialog, QLineEdit, names.PATIENT_FAMILY_NAME_EDIT).text(),
        child(dialog, QLineEdit, names.PATIENT_GIVEN_NAME_EDIT).text(),
        child(dialog, QDateEdit, names.PATIENT_BIRTH_DATE_EDIT).date(),
    )


TYPED = ("NET-1", "Nordin", "Astrid", QDate(1958, 3, 9))


# --- The banner and the refresh logic, with fakes (no server needed) --------------------------


def test_the_banner_counts_down_retries_and_hides_when_the_database_answers(qtbot):
    answers = [False, False, True]
    host = QWidget()
    qtbot.addWidget(host)
    banner = ConnectionBanner(lambda: answers.pop(0), retry_seconds=1, parent=host)
    host.show()
    assert not banner.isVisible()
    banner.report_lost()
    banner.report_lost()  # a second report of the same loss changes nothing
    assert banner.isVisible() and banner.is_lost
    assert "Trying again in 1 s" in banner.label.text()
    assert banner.label.accessibleDescription() == banner.label.text()
    qtbot.mouseClick(banner.retry_button, Qt.MouseButton.LeftButton)  # "Retry now": still down
    assert banner.is_pinging  # on a worker thread: the window stays usable meanwhile
    qtbot.waitUntil(lambda: not banner.is_pinging, timeout=2000)
    assert banner.isVisible() and "Tries so far: 1." in banner.label.text()
    with qtbot.waitSignal(banner.restored, timeout=4000):
        pass  # the countdown tries again by itself (down once more, then back)
    assert not banner.isVisible() and not banner.is_lost
    assert answers == []


class FakeListener:
    def __init__(self) -> None:
        self.lost = False
        self.closed = False

    def fileno(self) -> int | None:
        return None

    def drain(self) -> bool:
        if self.lost:
            raise change_feed.ListenerLost("gone")
        return False

    def close(self) -> None:
        self.closed = True


def test_a_lost_listener_shows_the_banner_and_the_way_back_refreshes(ctx, qtbot, monkeypatch):
    listeners: list[FakeListener] = []

    def open_listener(_engine):  # type: ignore[no-untyped-def]
        listeners.append(FakeListener())
        return listeners[-1]

    monkeypatch.setattr(change_feed, "open_listener", open_listener)
    refreshed: list[str] = []
    up = [False]
    banner = ConnectionBanner(lambda: up[0], retry_seconds=60)
    qtbot.addWidget(banner)

    def refresh_lists() -> None:
        refreshed.append("lists")

    live = LiveRefresh(ctx, banner, refresh_lists, lambda: None, poll_ms=20, debounce_ms=10)
    live.start()
    try:
        assert live.mode is Mode.POLL
        listeners[0].lost = True
        qtbot.waitUntil(lambda: banner.is_lost, timeout=2000)
        assert listeners[0].closed and live.listener is None
        live.refresh_now()
        assert refreshed == [], "no refresh is tried while the connection is lost"
        banner.retry_now()
        qtbot.waitUntil(lambda: not banner.is_pinging, timeout=2000)
        assert banner.is_lost  # still down
        up[0] = True
        with qtbot.waitSignal(banner.restored, timeout=2000):
            banner.retry_now()
        assert not banner.is_lost
        assert len(listeners) == 2 and live.listener is listeners[1]  # listening again
        assert refreshed == ["lists"]  # and what changed meanwhile is fetched
    finally:
        live.stop()


def test_a_failed_save_keeps_the_dialog_open_with_everything_typed(ctx, qtbot, monkeypatch):
    """Whatever the back end: the save failed as a whole, so the dialog stays with its fields."""

    def dropped(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionLost("The connection to the clinic database was lost. Nothing was saved.")

    monkeypatch.setattr(patient_dialog, "register_patient", dropped)
    dialog = patient_dialog.PatientDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    fill_patient(dialog)
    qtbot.mouseClick(
        child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    message = child(dialog, QLabel, names.PATIENT_FORM_ERROR)
    assert message.isVisible() and "Nothing was saved" in message.text()
    assert dialog.isVisible() and dialog.result() == 0
    assert typed(dialog) == TYPED
    with ctx.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0


# --- PostgreSQL: a real drop -------------------------------------------------------------------


@pytest.fixture
def pg_ctx(pg_url: str, template, catalogue, clock) -> Iterator[ServiceContext]:
    database: Database = open_database(pg_url)
    yield ServiceContext(database, template, catalogue, clock, "Nurse Tester")
    database.close()


@pytest.fixture
def server_switch(pg_ctx: ServiceContext) -> Iterator[tuple]:
    """(down, up): refuse every connection to the test database (and end the open ones), as a
    server restart or a network drop would; then let them in again."""
    from tests.pg_support import server_url

    admin = create_engine(server_url(), isolation_level="AUTOCOMMIT")
    name = pg_ctx.db.engine.url.database

    def down() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )

    def up() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    yield down, up
    up()
    admin.dispose()


def test_a_dropped_server_shows_the_banner_keeps_the_dialog_and_saves_once_back(
    pg_ctx, server_switch, make_window, on_dialog, qtbot
):
    down, up = server_switch
    window = make_window(pg_ctx)
    banner = child(window, QWidget, names.CONNECTION_BANNER)
    assert window.live_refresh.mode is Mode.NOTIFY
    assert not banner.isVisible()
    outcome: dict[str, object] = {}

    def while_the_server_is_down(dialog: QWidget) -> None:
        fill_patient(dialog)
        down()
        # The listening connection notices at once: the banner appears before any action.
        qtbot.waitUntil(banner.isVisible, timeout=5000)
        save = child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        outcome["message"] = child(dialog, QLabel, names.PATIENT_FORM_ERROR).text()
        outcome["still_open"] = dialog.isVisible()
        outcome["typed"] = typed(dialog)
        up()
        qtbot.mouseClick(
            child(window, QPushButton, names.CONNECTION_RETRY_BUTTON), Qt.MouseButton.LeftButton
        )
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5000)
        outcome["banner_after_retry"] = banner.isVisible()
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)  # the user saves again

    on_dialog(names.PATIENT_DIALOG, while_the_server_is_down)
    qtbot.mouseClick(
        child(window, QPushButton, names.NEW_PATIENT_BUTTON), Qt.MouseButton.LeftButton
    )

    assert "Nothing was saved" in str(outcome["message"])
    assert outcome["still_open"] is True
    assert outcome["typed"] == TYPED
    assert outcome["banner_after_retry"] is False
    assert window.live_refresh.listener is not None  # listening again
    with pg_ctx.db.reading() as session:
        mrns = session.scalars(select(Patient.mrn)).all()
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("patient.%"))
        ).all()
    assert mrns == ["NET-1"]  # saved once, by the second press, and nothing half-applied
    assert len(audited) == 1


def test_engine_reports_a_lost_connection_from_any_action(pg_ctx, server_switch, qtbot):
    down, _up = server_switch
    lost: list[int] = []
    remove = change_feed.on_connection_lost(pg_ctx.db.engine, lambda: lost.append(1))
    try:
        down()
        with pytest.raises(StorageError, match="Nothing was saved"), pg_ctx.db.reading() as s:
            s.execute(select(func.count()).select_from(Patient))
        assert lost
    finally:
        remove()


def test_the_episode_dialog_keeps_its_fields_too(ctx, qtbot, monkeypatch):
    from pathway_app.ui.dialogs import episode_dialog

    def dropped(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionLost("The connection to the clinic database was lost. Nothing was saved.")

    monkeypatch.setattr(episode_dialog, "open_episode", dropped)
    dialog = episode_dialog.EpisodeDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    child(dialog, QLineEdit, names.EPISODE_SURGEON_EDIT).setText("Dr Haas")
    qtbot.mouseClick(
        child(dialog, QPushButton, names.EPISODE_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    message = child(dialog, QLabel, names.EPISODE_FORM_ERROR)
    assert message.isVisible() and "Nothing was saved" in message.text()
    assert dialog.isVisible() and dialog.result() == 0
    assert child(dialog, QLineEdit, names.EPISODE_SURGEON_EDIT).text() == "Dr Haas"
