"""The lazy paged table model of issue 9: one count and one page per refresh, more on scroll."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QTableView

from pathway_app.ui.row_model import (
    EPISODE_ID_ROLE,
    EpisodeTablePanel,
    PagedRowModel,
    RowSource,
)


@dataclass(frozen=True)
class Row:
    episode_id: int
    name: str


class NameModel(PagedRowModel):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__({0: "Name"}, **kwargs)

    def cell(self, row: Row, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == EPISODE_ID_ROLE:
            return row.episode_id
        return None


class CountingSource:
    """An in-memory result that records every call, like a query would be run."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.fetches: list[tuple[int, int]] = []
        self.counts = 0

    def count(self) -> int:
        self.counts += 1
        return len(self.rows)

    def fetch(self, offset: int, limit: int) -> list[Row]:
        self.fetches.append((offset, limit))
        return self.rows[offset : offset + limit]

    def position(self, episode_id: int) -> int | None:
        ids = [r.episode_id for r in self.rows]
        return ids.index(episode_id) if episode_id in ids else None

    def source(self, *, with_position: bool = True) -> RowSource:
        return RowSource(self.count, self.fetch, self.position if with_position else None)


def rows(n: int) -> list[Row]:
    return [Row(i + 1, f"Patient {i + 1:05d}") for i in range(n)]


def test_a_source_is_counted_once_and_only_the_first_page_is_read(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    assert model.set_source(data.source()) == 1000
    assert (model.rowCount(), model.total(), data.counts, data.fetches) == (
        100,
        1000,
        1,
        [(0, 100)],
    )
    assert model.index(99, 0).data() == "Patient 00100"
    assert model.index(100, 0).data() is None
    assert model.canFetchMore(QModelIndex())


def test_fetch_more_reads_the_next_page_until_the_end(qtbot) -> None:
    data = CountingSource(rows(250))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert inserted == [(100, 199), (200, 249)]
    assert data.fetches == [(0, 100), (100, 100), (200, 50)]
    assert not model.canFetchMore(QModelIndex())
    assert [model.row_at(r).episode_id for r in (0, 249)] == [1, 250]


def test_a_view_reads_pages_as_it_scrolls_to_the_end(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(300, 300)
    view.show()
    qtbot.waitExposed(view)
    assert model.rowCount() == 100
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > 100)
    assert model.rowCount() < 1000


def test_reload_recounts_and_starts_over_and_a_shrunk_result_is_believed(qtbot) -> None:
    data = CountingSource(rows(300))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    model.fetchMore(QModelIndex())
    data.rows = rows(150)
    assert model.reload() == 150
    assert model.rowCount() == 100
    # Rows removed between the count and the next page: no more pages are offered.
    data.rows = rows(100)
    model.fetchMore(QModelIndex())
    assert (model.rowCount(), model.total(), model.canFetchMore(QModelIndex())) == (100, 100, False)


def test_reload_can_keep_the_rows_the_user_had_scrolled_to(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    model.reload(minimum_rows=350)
    assert model.rowCount() == 350
    assert data.fetches[-1] == (0, 350)


def test_an_empty_source_reads_nothing(qtbot) -> None:
    data = CountingSource([])
    model = NameModel()
    assert model.set_source(data.source()) == 0
    assert data.fetches == []
    assert not model.canFetchMore(QModelIndex())


def test_a_page_read_elsewhere_is_shown_and_continued_from_its_source(qtbot) -> None:
    data = CountingSource(rows(300))
    model = NameModel(page_size=100)
    model.show_first_page(data.source(), data.rows[:100], 300)
    assert (model.rowCount(), model.total(), data.counts, data.fetches) == (100, 300, 0, [])
    model.fetchMore(QModelIndex())
    assert data.fetches == [(100, 100)]
    assert model.row_at(150).episode_id == 151


def test_set_rows_still_holds_a_fixed_list(qtbot) -> None:
    model = NameModel()
    model.set_rows(rows(3))
    assert (model.rowCount(), model.total(), model.canFetchMore(QModelIndex())) == (3, 3, False)
    assert model.reload() == 3


def test_load_through_reads_the_gap_in_whole_pages(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    assert model.load_through(420)
    assert data.fetches[-1] == (100, 400)
    assert model.rowCount() == 500
    assert not model.load_through(1000)


def test_row_of_episode_finds_an_episode_beyond_the_loaded_pages(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    assert model.row_of_episode(5) == 4
    assert model.row_of_episode(777) == 776
    assert model.rowCount() == 800
    assert model.row_of_episode(5000) is None
    model.max_jump = 100
    assert model.row_of_episode(950) is None  # further than max_jump below row 800
    assert model.rowCount() == 800
    assert model.row_of_episode(880) == 879
    without = NameModel(page_size=100)
    without.set_source(data.source(with_position=False))
    assert without.row_of_episode(777) is None
    assert without.row_of_episode(50) == 49


class Panel(EpisodeTablePanel):
    def __init__(self, model: PagedRowModel) -> None:
        super().__init__()
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)


def test_a_panel_selects_an_episode_beyond_the_first_page(qtbot) -> None:
    data = CountingSource(rows(1000))
    model = NameModel(page_size=100)
    model.set_source(data.source())
    panel = Panel(model)
    qtbot.addWidget(panel)
    assert panel.select_episode(640)
    assert panel.selected_episode_id() == 640
    assert not panel.select_episode(99999)


def test_sorting_asks_the_panel_for_a_new_source_and_ignores_other_columns(qtbot) -> None:
    model = NameModel(sortable_columns=frozenset({0}))
    asked: list[tuple[int, Qt.SortOrder]] = []
    model.sort_requested.connect(lambda column, order: asked.append((column, order)))
    model.sort(0, Qt.SortOrder.DescendingOrder)
    model.sort(3, Qt.SortOrder.AscendingOrder)
    assert asked == [(0, Qt.SortOrder.DescendingOrder)]
    assert (model.sort_column, model.sort_order) == (0, Qt.SortOrder.DescendingOrder)


def test_a_page_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="page_size"):
        NameModel(page_size=0)


# --- The refill worklist panel on a clinic of a few hundred pumps ---------------------------


def test_the_refill_worklist_reads_a_page_then_more_as_it_scrolls(ctx, qtbot) -> None:
    from pathway_app.services.refill_views import refill_worklist
    from pathway_app.ui.refill_worklist import RefillWorklistPanel
    from tests.storage.test_refill_worklist_scale import _seed

    _seed(ctx.db)
    everything = [r.episode_id for r in refill_worklist(ctx)]
    panel = RefillWorklistPanel(ctx)
    qtbot.addWidget(panel)
    panel.model.page_size = 50
    panel.resize(900, 400)
    panel.show()
    qtbot.waitExposed(panel)
    counts: list[int] = []
    panel.rows_loaded.connect(counts.append)
    panel.reload()
    # One page read, the whole list counted (the label and the signal say the total).
    assert panel.model.rowCount() == 50
    assert counts == [len(everything)]
    assert str(len(everything)) in panel.count_label.text()
    assert panel.episode_ids() == everything[:50]
    panel.table.scrollToBottom()
    qtbot.waitUntil(lambda: panel.model.rowCount() > 50)
    assert panel.episode_ids() == everything[: panel.model.rowCount()]
    # Selecting an episode further down reads up to it; a reload keeps it selected.
    target = everything[170]
    assert panel.select_episode(target)
    assert panel.selected_episode_id() == target
    panel.reload()
    assert panel.selected_episode_id() == target
    assert panel.model.rowCount() >= 171
    # A search counts and shows only the matching patients.
    panel.search.setText("Öztürk")
    panel.reload()
    assert 0 < panel.model.total() < len(everything)
    assert all(
        "Öztürk" in panel.model.row_at(r).patient_name for r in range(panel.model.rowCount())
    )
