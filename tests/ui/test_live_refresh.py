"""Issue 7: a change made in one app instance appears in another's worklist by itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialog

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done
from pathway_app.services.patients import register_patient
from pathway_app.services.views import episode_view
from pathway_app.storage import change_feed
from pathway_app.storage.database import Database, open_database
from pathway_app.ui.connection_banner import ConnectionBanner
from pathway_app.ui.live_refresh import LiveRefresh, Mode
from pathway_app.ui.main_window import MainWindow


def add_episode(ctx: ServiceContext, mrn: str) -> int:
    patient_id = register_patient(ctx, PatientDraft(mrn, "Lindgren", "Eva", date(1961, 5, 4)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient_id=patient_id,
            indication="spasticity-spinal",
            drug="baclofen",
            pump_model="isomed-8472-20-05",
            planned_procedure_on=date(2026, 12, 20),
            surgeon="Dr Haas",
            setting="hospital-or",
        ),
    )


def shown_episodes(window: MainWindow) -> list[int]:
    model = window.worklist.model
    return [model.row_at(row).episode_id for row in range(model.rowCount())]


@pytest.fixture
def two_contexts(
    request: pytest.FixtureRequest, template, catalogue, clock
) -> Iterator[tuple[ServiceContext, ServiceContext]]:
    """Two app instances' contexts on one database: `request.param` is "sqlite" or "pg"."""
    if request.param == "pg":
        url = request.getfixturevalue("pg_url")
    else:
        url = str(request.getfixturevalue("db_path"))
    databases: list[Database] = [open_database(url), open_database(url)]
    yield tuple(  # type: ignore[misc]
        ServiceContext(database, template, catalogue, clock, "Nurse Tester")
        for database in databases
    )
    for database in databases:
        database.close()


@pytest.mark.parametrize("two_contexts", ["pg", "sqlite"], indirect=True)
def test_a_write_in_one_window_appears_in_the_other_without_refresh(
    two_contexts, make_window, qtbot, monkeypatch
):
    first_ctx, second_ctx = two_contexts
    first, second = make_window(first_ctx), make_window(second_ctx)
    expected = Mode.NOTIFY if first_ctx.db.engine.dialect.name == "postgresql" else Mode.POLL
    for window in (first, second):  # the status bar says why when notifications are off
        assert window.live_refresh.mode is expected, window.statusBar().currentMessage()
    second.live_refresh.set_poll_interval(200)  # SQLite: every 2 s in the app
    # Pressing Refresh would hide a broken live refresh: make sure nothing calls it.
    monkeypatch.setattr(MainWindow, "refresh", lambda self: pytest.fail("refresh() was called"))
    assert shown_episodes(second) == []

    episode_id = add_episode(first_ctx, "LIVE-1")  # the write through the first instance
    qtbot.waitUntil(lambda: shown_episodes(second) == [episode_id], timeout=5000)

    # The open episode follows too (no dialog is open).
    second.open_episode(episode_id)
    history_before = len(second.episode_view.episode.history)
    milestone = episode_view(first_ctx, episode_id).stages[0].milestones[0]
    mark_done(first_ctx, milestone.id, note="Done on the other workstation")

    def episode_caught_up() -> None:
        modal = QApplication.activeModalWidget()
        assert len(second.episode_view.episode.history) > history_before, f"modal: {modal!r}"

    qtbot.waitUntil(episode_caught_up, timeout=5000)


def test_without_notifications_the_worklists_refresh_periodically(
    ctx, db_path: Path, template, catalogue, clock, make_window, qtbot, monkeypatch
):
    def unavailable(_engine):  # type: ignore[no-untyped-def]
        raise change_feed.NotificationsUnavailable("Changes cannot be listened for (test).")

    monkeypatch.setattr(change_feed, "open_listener", unavailable)
    monkeypatch.setenv("PATHWAY_REFRESH_SECONDS", "0.2")
    window = make_window(ctx)
    assert window.live_refresh.mode is Mode.PERIODIC
    assert "cannot be listened for" in window.statusBar().currentMessage()
    other = open_database(str(db_path))
    try:
        other_ctx = ServiceContext(other, template, catalogue, clock, "Nurse Tester")
        episode_id = add_episode(other_ctx, "LIVE-2")
        qtbot.waitUntil(lambda: shown_episodes(window) == [episode_id], timeout=3000)
    finally:
        other.close()


class Calls:
    def __init__(self) -> None:
        self.lists = 0
        self.episode = 0

    def refresh_lists(self) -> None:
        self.lists += 1

    def refresh_episode(self) -> None:
        self.episode += 1


def test_a_burst_of_changes_is_one_refresh_and_the_episode_waits_for_an_open_dialog(
    ctx, db_path: Path, qtbot
):
    calls = Calls()
    banner = ConnectionBanner(lambda: True)
    qtbot.addWidget(banner)
    live = LiveRefresh(
        ctx, banner, calls.refresh_lists, calls.refresh_episode, poll_ms=50, debounce_ms=150
    )
    live.start()
    try:
        assert live.mode is Mode.POLL
        other = open_database(str(db_path))
        try:
            for mrn in ("B-1", "B-2", "B-3"):
                register_patient(
                    ServiceContext(other, ctx.template, ctx.catalogue, ctx.clock, "Other"),
                    PatientDraft(mrn, "Berg", "Ola", date(1970, 1, 1)),
                )
        finally:
            other.close()
        with qtbot.waitSignal(live.refreshed, timeout=3000):
            pass
        qtbot.wait(300)
        assert calls.lists == 1  # three commits within the debounce: one reload
        assert calls.episode == 1

        dialog = QDialog()
        qtbot.addWidget(dialog)
        dialog.setModal(True)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.isVisible())
        live.refresh_now()
        assert calls.lists == 2
        qtbot.wait(400)
        assert calls.episode == 1, "the open episode is not reloaded under a modal dialog"
        dialog.close()
        qtbot.waitUntil(lambda: calls.episode == 2, timeout=2000)
    finally:
        live.stop()


def test_entries_typed_into_an_episode_page_are_never_overwritten(
    ctx, db_path: Path, make_window, qtbot
):
    episode_id = add_episode(ctx, "LIVE-3")
    window = make_window(ctx)
    window.live_refresh.set_poll_interval(100)
    window.open_episode(episode_id)
    window.episode_view.tabs.setCurrentWidget(window.preparation_page)
    edit = window.preparation_page.trial_drug
    assert edit.isEnabled()
    edit.setFocus()
    qtbot.keyClicks(edit, "Baclofen 50 mcg")  # typed, not saved
    history_before = len(window.episode_view.episode.history)

    other = open_database(str(db_path))
    try:
        other_ctx = ServiceContext(other, ctx.template, ctx.catalogue, ctx.clock, "Other")
        milestone = episode_view(other_ctx, episode_id).stages[0].milestones[0]
        mark_done(other_ctx, milestone.id, note="Done on the other workstation")
        add_episode(other_ctx, "LIVE-4")
    finally:
        other.close()
    qtbot.waitUntil(lambda: len(shown_episodes(window)) == 2, timeout=3000)  # lists follow
    qtbot.wait(500)
    assert edit.text() == "Baclofen 50 mcg", "the live refresh kept what was typed"
    assert len(window.episode_view.episode.history) == history_before

    window.episode_view.changed.emit(episode_id)  # the page saved its entries
    qtbot.waitUntil(lambda: len(window.episode_view.episode.history) > history_before, timeout=3000)
