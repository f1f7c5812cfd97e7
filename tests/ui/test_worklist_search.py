"""Issue 9: the pathway worklist pages its rows, searches off the GUI thread, and keeps only
the newest search's answer."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from PySide6.QtCore import Qt

from pathway_app.services import views
from pathway_app.ui import background_query
from pathway_app.ui import worklist as worklist_module
from pathway_app.ui.worklist import Column, WorklistPanel


def panel_of(window: Any) -> WorklistPanel:
    return window.worklist


def shown_mrns(panel: WorklistPanel) -> list[str]:
    return [panel.model.row_at(row).mrn for row in range(panel.model.rowCount())]


def test_typing_searches_on_a_worker_thread(demo_ctx, make_window, qtbot, monkeypatch) -> None:
    panel = panel_of(make_window(demo_ctx))
    threads: list[threading.Thread] = []
    real = worklist_module.worklist_page

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(worklist_module, "worklist_page", spy)
    qtbot.keyClicks(panel.search, "demo-1007")
    qtbot.waitUntil(lambda: panel.shown_filter.search == "demo-1007")
    assert shown_mrns(panel) == ["DEMO-1007"]
    assert panel.count_label.text() == "1 episode(s) shown"
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_a_stale_search_never_replaces_a_newer_one(
    demo_ctx, make_window, qtbot, monkeypatch
) -> None:
    panel = panel_of(make_window(demo_ctx))
    real = worklist_module.worklist_page

    def slow_for_old_text(ctx: Any, where: Any, **kwargs: Any) -> Any:
        if where.search == "demo":
            time.sleep(0.4)  # answers after the newer search
        return real(ctx, where, **kwargs)

    monkeypatch.setattr(worklist_module, "worklist_page", slow_for_old_text)
    panel.search.setText("demo")
    qtbot.waitUntil(lambda: panel.background._pending != set())  # the old search runs
    panel.search.setText("demo-1007")
    qtbot.waitUntil(lambda: panel.shown_filter.search == "demo-1007")
    qtbot.wait(600)  # the old answer arrives meanwhile and is ignored
    assert panel.shown_filter.search == "demo-1007"
    assert shown_mrns(panel) == ["DEMO-1007"]


def test_short_searches_start_at_once_and_match_the_start_of_a_word(demo_ctx, make_window) -> None:
    """One or two characters read their own index (migration 0009): no pause in the typing is
    waited for, and they find the patients with a word of the name or MRN starting so."""
    panel = panel_of(make_window(demo_ctx))
    rows = views.worklist(demo_ctx)
    assert any("e" in row.patient_name and not starts_a_word(row, "e") for row in rows)
    for text in ("e", "Da", "dU"):
        panel.search.setText(text)
        assert panel.background._timer.interval() == background_query.SEARCH_DELAY_MS == 0
        assert panel.busy
        assert panel.wait_until_idle()
        assert panel.shown_filter.search == text
        expected = {row.mrn for row in rows if starts_a_word(row, text)}
        assert expected and set(shown_mrns(panel)) == expected, text
        assert panel.count_label.text() == f"{len(expected)} episode(s) shown"


def starts_a_word(row: Any, text: str) -> bool:
    words = re.split(r"[\W_]+", f"{row.patient_name} {row.mrn}".casefold())
    return any(word.startswith(text.casefold()) for word in words)


def test_reload_is_synchronous_and_reads_one_page(demo_ctx, make_window) -> None:
    panel = panel_of(make_window(demo_ctx))
    total = len(views.worklist(demo_ctx))
    panel.model.page_size = 5
    panel.model.set_rows([])  # (a reload keeps as many rows as were loaded, up to a limit)
    panel.reload()
    assert panel.model.rowCount() == 5
    assert panel.model.total() == total
    assert panel.count_label.text() == f"{total} episode(s) shown"
    panel.search.setText("demo-1007")
    panel.reload()  # no waiting: the rows are there when it returns
    assert shown_mrns(panel) == ["DEMO-1007"]


def test_scrolling_reads_further_pages_in_the_worklist_order(demo_ctx, make_window) -> None:
    panel = panel_of(make_window(demo_ctx))
    expected = [row.episode_id for row in views.worklist(demo_ctx)]
    panel.model.page_size = 4
    panel.model.set_rows([])
    panel.reload()
    while panel.model.canFetchMore():
        panel.model.fetchMore()
    ids = [panel.model.row_at(row).episode_id for row in range(panel.model.rowCount())]
    assert ids == expected


def test_selection_survives_a_reload(demo_ctx, make_window) -> None:
    panel = panel_of(make_window(demo_ctx))
    episode_id = panel.model.row_at(3).episode_id
    assert panel.select_episode(episode_id)
    panel.reload()
    assert panel.selected_episode_id() == episode_id


def test_header_sort_is_done_by_the_database(demo_ctx, make_window, qtbot) -> None:
    panel = panel_of(make_window(demo_ctx))
    with qtbot.waitSignal(panel.rows_loaded):  # a header sort reads on a worker thread
        panel.table.sortByColumn(Column.MRN, Qt.SortOrder.DescendingOrder)
    assert not panel.busy
    mrns = shown_mrns(panel)
    assert mrns == sorted(mrns, reverse=True)
    assert panel.shown_filter.sort == "mrn" and panel.shown_filter.descending
    panel.table.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder)
    assert panel.wait_until_idle()
    assert [r.episode_id for r in (panel.model.row_at(i) for i in range(5))] == [
        r.episode_id for r in views.worklist(demo_ctx)[:5]
    ]
