"""Issue 9: both worklists read off the GUI thread through one `BackgroundQuery`: the refill
worklist's search, the pathway worklist's filters and header sorts; only the newest answer is
shown, the panel is `busy` (with a busy cursor) until then, and automation can wait for it."""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import Qt

from pathway_app.services import refill_views
from pathway_app.ui import background_query
from pathway_app.ui import worklist as worklist_module
from pathway_app.ui.background_query import BackgroundQuery
from pathway_app.ui.worklist import Column


def threads_calling(monkeypatch: Any, owner: Any, name: str) -> list[threading.Thread]:
    """Replace ``owner.name`` with a wrapper noting the thread of each call; those threads."""
    threads: list[threading.Thread] = []
    real = getattr(owner, name)

    def noting(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, noting)
    return threads


def refill_mrns(panel: Any) -> list[str]:
    return [panel.model.row_at(row).mrn for row in range(panel.model.rowCount())]


def test_only_the_newest_query_answers(qtbot) -> None:
    query = BackgroundQuery()
    answers: list[Any] = []
    query.finished.connect(answers.append)

    def slow() -> str:
        time.sleep(0.3)
        return "old"

    query.start(slow)
    query.start(lambda: "new")
    assert query.busy
    assert query.wait()
    qtbot.wait(400)  # the old answer arrives meanwhile and is dropped
    assert answers == ["new"]
    assert not query.busy


def test_an_error_is_handed_back_and_a_cancelled_query_is_dropped(qtbot) -> None:
    query = BackgroundQuery()
    errors: list[Exception] = []
    answers: list[Any] = []
    query.failed.connect(errors.append)
    query.finished.connect(answers.append)

    def broken() -> None:
        raise ValueError("no database")

    with qtbot.waitSignal(query.failed):
        query.start(broken)
    assert isinstance(errors[0], ValueError)
    query.start(lambda: "stale")
    query.cancel()
    assert not query.busy
    qtbot.wait(100)
    assert answers == []


def test_a_scheduled_query_reads_the_widgets_when_it_starts(qtbot) -> None:
    query = BackgroundQuery()
    prepared: list[str] = []
    text = ["first"]

    def prepare() -> Any:
        prepared.append(text[0])
        value = text[0]
        return lambda: value

    query.schedule(prepare, 50)
    text[0] = "second"
    query.schedule(prepare, 50)  # restarts the pause: one query, for the latest text
    with qtbot.waitSignal(query.finished) as blocker:
        pass
    assert blocker.args == ["second"] and prepared == ["second"]


def test_the_refill_search_runs_on_a_worker_thread(demo_ctx, make_window, qtbot, monkeypatch):
    panel = make_window(demo_ctx).refill_worklist
    threads = threads_calling(monkeypatch, refill_views.RefillWorklistPages, "count")
    assert refill_mrns(panel)
    qtbot.keyClicks(panel.search, "demo-1007")
    assert panel.busy
    with qtbot.waitSignal(panel.rows_loaded):
        pass
    assert not panel.busy
    assert set(refill_mrns(panel)) <= {"DEMO-1007"}
    assert threads and all(t is not threading.main_thread() for t in threads)
    panel.search.clear()
    assert panel.wait_until_idle()
    assert len(refill_mrns(panel)) > 1


def test_a_stale_refill_search_never_replaces_a_newer_one(
    demo_ctx, make_window, qtbot, monkeypatch
):
    panel = make_window(demo_ctx).refill_worklist
    real = refill_views.refill_worklist_pages

    def slow_for_old_text(ctx: Any, **kwargs: Any) -> Any:
        pages = real(ctx, **kwargs)
        if kwargs["search"] == "demo":
            count = pages.count

            def late() -> int:
                time.sleep(0.4)  # answers after the newer search
                return count()

            pages.count = late  # type: ignore[method-assign]
        return pages

    monkeypatch.setattr(refill_views, "refill_worklist_pages", slow_for_old_text)
    panel.search.setText("demo")
    qtbot.waitUntil(lambda: panel.background._pending != set())
    panel.search.setText("zzz-nobody")
    assert panel.wait_until_idle()
    qtbot.wait(600)
    assert refill_mrns(panel) == []
    assert panel.count_label.text() == "0 pump(s) shown"


def test_one_or_two_characters_search_at_once_in_both_panels(demo_ctx, make_window) -> None:
    window = make_window(demo_ctx)
    for panel in (window.worklist, window.refill_worklist):
        for text in ("d", "de", "demo"):
            panel.search.setText(text)
            assert panel.background._timer.interval() == background_query.SEARCH_DELAY_MS == 0
        assert panel.wait_until_idle()


def test_a_filter_change_reads_off_the_gui_thread_and_can_be_waited_for(
    demo_ctx, make_window, qtbot, monkeypatch
) -> None:
    panel = make_window(demo_ctx).worklist
    threads = threads_calling(monkeypatch, worklist_module, "worklist_page")
    with qtbot.waitSignal(panel.rows_loaded):
        panel.stage_filter.setCurrentIndex(panel.stage_filter.findData("preparation"))
        assert panel.busy
        assert panel.table.viewport().cursor().shape() == Qt.CursorShape.BusyCursor
    assert not panel.busy
    assert panel.table.viewport().cursor().shape() != Qt.CursorShape.BusyCursor
    assert panel.shown_filter.stage == "preparation"
    assert threads and threading.main_thread() not in threads
    panel.show_closed.setChecked(True)
    assert panel.wait_until_idle()
    assert panel.shown_filter.include_closed


def test_a_reload_discards_a_header_sort_still_running(demo_ctx, make_window, qtbot) -> None:
    panel = make_window(demo_ctx).worklist
    panel.table.sortByColumn(Column.MRN, Qt.SortOrder.AscendingOrder)
    assert panel.busy
    panel.reload()  # synchronous: the rows are those of the current filters at once
    assert not panel.busy
    assert panel.shown_filter.sort == "mrn"
    mrns = [panel.model.row_at(row).mrn for row in range(panel.model.rowCount())]
    qtbot.wait(200)  # the sort's own answer is stale and never shown
    assert [panel.model.row_at(row).mrn for row in range(panel.model.rowCount())] == mrns
    assert mrns == sorted(mrns)


def test_deep_pages_of_an_unindexed_sort_are_read_on_a_worker_thread(
    demo_ctx, make_window, qtbot
) -> None:
    panel = make_window(demo_ctx).worklist
    with qtbot.waitSignal(panel.rows_loaded):
        panel.table.sortByColumn(Column.PATIENT, Qt.SortOrder.AscendingOrder)
    model = panel.model
    model.page_size = 5
    panel.reload()
    assert model.source is not None and model.source.background
    while model.canFetchMore():
        loaded = model.rowCount()
        model.fetchMore()
        assert model.reading_page() and not model.canFetchMore()
        qtbot.waitUntil(lambda n=loaded: model.rowCount() > n)
    names = [model.row_at(row).patient_name for row in range(model.rowCount())]
    assert model.rowCount() == model.total()
    assert [n.split(", ")[0].casefold() for n in names] == sorted(
        n.split(", ")[0].casefold() for n in names
    )


def test_a_reload_drops_a_page_still_being_read(demo_ctx, make_window, qtbot) -> None:
    panel = make_window(demo_ctx).worklist
    with qtbot.waitSignal(panel.rows_loaded):
        panel.table.sortByColumn(Column.INDICATION, Qt.SortOrder.AscendingOrder)
    panel.model.page_size = 5
    panel.model.set_rows([])
    panel.reload()
    panel.model.fetchMore()
    assert panel.model.reading_page()
    panel.reload()  # starts over: the page being read belongs to the old rows
    assert not panel.model.reading_page()
    qtbot.wait(300)  # (the view itself reads on until its viewport is full)
    ids = [panel.model.row_at(row).episode_id for row in range(panel.model.rowCount())]
    page = worklist_module.worklist_page(demo_ctx, panel.shown_filter, limit=len(ids))
    assert ids == [row.episode_id for row in page.rows]  # no stale page, none twice


def test_the_refill_window_is_read_on_a_worker_thread(demo_ctx, make_window, qtbot, monkeypatch):
    panel = make_window(demo_ctx).refill_worklist
    threads = threads_calling(monkeypatch, refill_views.RefillWorklistPages, "count")
    for days in (0, 90):
        threads.clear()
        with qtbot.waitSignal(panel.rows_loaded):
            panel.days.setValue(days)
            assert panel.busy
        assert threads and all(t is not threading.main_thread() for t in threads)
        expected = refill_views.refill_worklist_pages(demo_ctx, due_within_days=days, search="")
        rows = [panel.model.row_at(r) for r in range(panel.model.rowCount())]
        assert rows == expected.fetch(0, len(rows))
        assert panel.model.total() == expected.count()
    levels = {row.level for row in rows}
    assert refill_views.RefillLevel.DUE_SOON in levels
