"""Read-only table models over frozen row records, shared by the worklists.

`RowTableModel` holds a list given whole (`set_rows`). `PagedRowModel` (issue 9) reads its
rows a page at a time from a `RowSource` (a count and an ordered, offset-addressed fetch), so a
worklist of 100,000 episodes costs one count and one page on every refresh, and the rest only
as the user scrolls. Subclasses of either say what each header reads and what a cell holds for
a role (`cell`); index checking, resets and row access live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QWidget,
)

from pathway_app.ui.background_query import BackgroundQuery, search_delay_ms
from pathway_app.ui.common import named

Index = QModelIndex | QPersistentModelIndex
# Every worklist row carries its episode id under this role (a documented automation API).
EPISODE_ID_ROLE = Qt.ItemDataRole.UserRole + 2
# Rows read per page: a few screens, so scrolling rarely waits, yet one page stays a few ms.
PAGE_SIZE = 200


class RowTableModel(QAbstractTableModel):
    """Attributes:
    headers: column number -> header text.
    """

    def __init__(self, headers: Mapping[int, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headers = dict(headers)
        self._rows: list[Any] = []

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> Any:
        return self._rows[row]

    def loaded_rows(self) -> Sequence[Any]:
        """The rows the model holds now, in order (for a paged model: the pages read so far)."""
        return self._rows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers.get(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self.headers):
            return None
        return self.cell(self._rows[index.row()], index.column(), role)

    def cell(self, row: Any, column: int, role: int) -> Any:
        """What the cell of `row` in `column` holds for `role` (None when nothing)."""
        raise NotImplementedError


@dataclass(frozen=True)
class RowSource:
    """Where a `PagedRowModel` reads its rows: one ordered result, addressed by position.

    Attributes:
        count: the number of rows in the whole result (what a panel shows as "N shown").
        fetch: ``fetch(offset, limit)`` -> rows ``offset .. offset + limit - 1`` of the result,
            in order (fewer at the end). Each call may open its own session.
        position: optional; ``position(episode_id)`` -> the row number of that episode in the
            result, or None when it is not in it. Lets `EpisodeTablePanel.select_episode` find
            an episode beyond the pages read so far (the model then reads up to it).

    Build a new source whenever the filters or the sort change; the model never caches a
    source's answers across `reload`.
    """

    count: Callable[[], int]
    fetch: Callable[[int, int], Sequence[Any]]
    position: Callable[[int], int | None] | None = None
    # True when a further page costs more than a frame (an order no index serves): scrolling
    # then reads it on a worker thread and the rows appear when read. ``fetch`` must then be
    # safe to call from another thread.
    background: bool = False


class PagedRowModel(RowTableModel):
    """A `RowTableModel` that reads its rows from a `RowSource` a page at a time.

    - `set_source(source)` / `reload()`: reset, count the result, read the first page only.
      `show_first_page(source, rows, total)` shows a first page counted and read elsewhere.
    - Qt's views call `canFetchMore`/`fetchMore` as the user scrolls to the end of what is
      loaded; each call reads one more page (`page_size` rows).
    - `rowCount()` is the number of rows loaded; `total()` is the number in the whole result
      (the "N shown" a panel reports through its ``rows_loaded`` signal).
    - `load_through(row)` reads pages until ``row`` is loaded; `row_of_episode(id)` finds an
      episode's row (loading up to it when the source has a ``position`` and it is at most
      `max_jump` rows beyond those loaded).
    - Sorting: with the view's sorting enabled, a header click calls `sort`, which records the
      column and order in `sort_column`/`sort_order` and emits `sort_requested`; the panel
      builds a source ordered that way (in SQL) and calls `set_source`. Columns a source cannot
      order by are left out of `sortable_columns` and ignored.
    - `set_rows(rows)` still works: a fixed list (no source), as in `RowTableModel`.

    Pages are asked for by offset; both worklists' sources continue the page after the one
    just read from its last row (keyset pagination: row 50,000 costs what row 200 does), and
    skip rows only for a jump. Every refresh (`reload`) starts over.
    """

    sort_requested = Signal(int, Qt.SortOrder)
    # How many rows beyond those loaded `row_of_episode` will read to reach an episode: enough
    # for the top of any real worklist, while an episode 30,000 rows down (one just refilled,
    # now scheduled) is not worth a second of reading -- it is then simply not selected.
    max_jump = 2000

    def __init__(
        self,
        headers: Mapping[int, str],
        parent: QWidget | None = None,
        *,
        page_size: int = PAGE_SIZE,
        sortable_columns: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(headers, parent)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.sortable_columns = sortable_columns
        self.sort_column = -1
        self.sort_order = Qt.SortOrder.AscendingOrder
        self._source: RowSource | None = None
        self._total = 0
        # Further pages of a `RowSource.background` source: the reader, and where the page
        # being read starts (None: none is being read).
        self._page_reader: BackgroundQuery | None = None
        self._reading_from: int | None = None

    @property
    def source(self) -> RowSource | None:
        return self._source

    def total(self) -> int:
        """Rows in the whole result, loaded or not."""
        return self._total

    def set_source(self, source: RowSource, *, minimum_rows: int = 0) -> int:
        """Read from ``source`` from now on: reset, count, read the first page (or enough
        pages for ``minimum_rows``, e.g. to keep the user's scroll position). Returns the
        total."""
        self._drop_page_read()
        self.beginResetModel()
        self._source = source
        self._total = max(0, int(source.count()))
        wanted = min(self._total, max(self.page_size, minimum_rows))
        self._rows = list(source.fetch(0, wanted)) if wanted else []
        if len(self._rows) < wanted:
            # The result shrank between the count and the fetch: believe the rows.
            self._total = len(self._rows)
        self.endResetModel()
        return self._total

    def show_first_page(self, source: RowSource, rows: Sequence[Any], total: int) -> None:
        """Show a first page and its count read elsewhere (e.g. by a worker thread), with the
        source for the pages after it: the GUI thread only swaps the rows in."""
        self._drop_page_read()
        self.beginResetModel()
        self._source = source
        self._rows = list(rows)
        self._total = max(total, len(self._rows))
        self.endResetModel()

    def reload(self, *, minimum_rows: int = 0) -> int:
        """Re-count and re-read the first page of the current source; returns the total."""
        if self._source is None:
            return len(self._rows)
        return self.set_source(self._source, minimum_rows=minimum_rows)

    def set_rows(self, rows: Sequence[Any]) -> None:
        self._drop_page_read()
        self._source = None
        self._total = len(rows)
        super().set_rows(rows)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return (
            not parent.isValid()
            and self._source is not None
            and self._reading_from is None
            and len(self._rows) < self._total
        )

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        source = self._source
        assert source is not None
        start = len(self._rows)
        limit = min(self.page_size, self._total - start)
        if source.background:
            if self._page_reader is None:
                self._page_reader = BackgroundQuery(self)
                self._page_reader.finished.connect(self._page_read)
                self._page_reader.failed.connect(self._page_failed)
            self._reading_from = start
            self._page_reader.start(lambda: (source, start, list(source.fetch(start, limit))))
            return
        self._append(start, list(source.fetch(start, limit)))

    def _append(self, start: int, page: list[Any]) -> None:
        if not page:
            # Rows were removed since the count: stop offering more.
            self._total = start
            return
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    @Slot(object)
    def _page_read(self, answer: tuple[RowSource, int, list[Any]]) -> None:
        source, start, page = answer
        self._reading_from = None
        if source is self._source and start == len(self._rows):
            self._append(start, page)

    @Slot(object)
    def _page_failed(self, error: Exception) -> None:
        self._reading_from = None
        raise error  # on the GUI thread: the application's error hook reports it

    def _drop_page_read(self) -> None:
        """Whatever page is being read is not wanted any more (the rows were reset, or are
        being read here at once)."""
        if self._reading_from is not None:
            assert self._page_reader is not None
            self._page_reader.cancel()
            self._reading_from = None

    def reading_page(self) -> bool:
        """True while a further page is being read on a worker thread."""
        return self._reading_from is not None

    def load_through(self, row: int) -> bool:
        """Read pages until ``row`` is loaded; False when the result has fewer rows."""
        if row < len(self._rows):
            return True
        if self._source is None or row >= self._total:
            return False
        self._drop_page_read()  # read here, in one go, instead
        start = len(self._rows)
        # One read for the whole gap, rounded up to a page.
        wanted = min(self._total - start, -(-(row + 1 - start) // self.page_size) * self.page_size)
        rows = list(self._source.fetch(start, wanted))
        if rows:
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        if len(rows) < wanted:
            self._total = len(self._rows)
        return row < len(self._rows)

    def row_of_episode(self, episode_id: int) -> int | None:
        """The row of ``episode_id``: among the loaded rows, else through the source's
        ``position`` (reading pages up to it, at most `max_jump` rows). None when it is not in
        the result or further down than that."""
        for number, row in enumerate(self._rows):
            if self._episode_id(row) == episode_id:
                return number
        if self._source is None or self._source.position is None:
            return None
        position = self._source.position(episode_id)
        if position is None or position >= len(self._rows) + self.max_jump:
            return None
        if not self.load_through(position):
            return None
        # The result may have moved since the count; trust only a row that really matches.
        if self._episode_id(self._rows[position]) == episode_id:
            return position
        return None

    def _episode_id(self, row: Any) -> Any:
        # Through the cell's EPISODE_ID_ROLE, the same contract the panels and automation use.
        return self.cell(row, 0, EPISODE_ID_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if column not in self.sortable_columns:
            return
        self.sort_column, self.sort_order = column, order
        self.sort_requested.emit(column, order)


class EpisodeTablePanel(QWidget):
    """A worklist panel whose `table` rows are episodes: selecting, re-selecting after a reload,
    and opening one (Enter, the platform's activation click, or the Open button).

    Subclasses create `self.table` and connect its `activated` signal to `_open_index`.
    """

    episode_opened = Signal(int)
    # The number of rows matching the filters (all of them, loaded or not).
    rows_loaded = Signal(int)
    table: QTableView
    # Reads the count and first page off the GUI thread (issue 9): `_read_in_background`.
    background: BackgroundQuery
    search: QLineEdit

    def reload(self) -> None:
        """Count and read the first page now, on this thread (subclasses)."""
        raise NotImplementedError

    def _search_query(self) -> Callable[[], Any]:
        """Read the widgets (GUI thread) and return the read for the search box's text, to
        run on a worker thread; its answer goes to the ``on_read`` of `_read_in_background`."""
        raise NotImplementedError

    def _make_table(self, model: QAbstractTableModel, object_name: str, accessible: str) -> None:
        """`table`: whole rows, one at a time, read-only, no row numbers; activating a row
        (Enter, the platform's double- or single-click) opens its episode."""
        self.table = named(QTableView(), object_name, accessible)
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.activated.connect(self._open_index)

    def _make_search(self, object_name: str, accessible: str, placeholder: str) -> None:
        self.search = named(QLineEdit(), object_name, accessible)
        self.search.setPlaceholderText(placeholder)
        self.search.setClearButtonEnabled(True)

    def _make_open_button(self, text: str, object_name: str, accessible: str) -> QPushButton:
        button = named(QPushButton(text), object_name, accessible)
        button.clicked.connect(self.open_selected)
        return button

    def _read_in_background(self, on_read: Callable[[Any], None]) -> None:
        """Make `background`: typing searches on a worker thread (`_search_query`), a pause
        first for one or two characters; ``on_read`` shows the newest answer; Enter reloads
        at once; an error is raised again by `reload` here (it reaches the error hook)."""
        self.background = BackgroundQuery(self)
        self.background.finished.connect(on_read)
        self.background.failed.connect(self._read_failed)
        self.background.busy_changed.connect(self._show_busy)
        self.search.textChanged.connect(self._search_changed)
        self.search.returnPressed.connect(self.reload)

    @Slot(str)
    def _search_changed(self, text: str) -> None:
        self.background.schedule(self._search_query, search_delay_ms(text))

    @Slot(object)
    def _read_failed(self, _error: Exception) -> None:
        self.reload()  # the same query on this thread: any error reaches the error hook

    @property
    def busy(self) -> bool:
        """True while the panel waits for rows from a worker thread (a search, a filter or a
        sort just changed): the rows shown are not yet those of the current filters."""
        return self.background.busy

    def wait_until_idle(self, timeout_ms: int = 5000) -> bool:
        """Run the event loop until the panel shows the rows of its current filters (or the
        timeout); True when it does. For automation; ``rows_loaded`` is the signal."""
        return self.background.wait(timeout_ms)

    def _show_busy(self, busy: bool) -> None:
        # The cue that rows are coming (the view keeps scrolling and answering meanwhile).
        if busy:
            self.table.viewport().setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.table.viewport().unsetCursor()

    def selected_episode_id(self) -> int | None:
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        return int(indexes[0].data(EPISODE_ID_ROLE))

    def select_episode(self, episode_id: int) -> bool:
        model = self.table.model()
        if isinstance(model, PagedRowModel):
            # Looks beyond the loaded pages when the source can say where the episode is.
            row = model.row_of_episode(episode_id)
            if row is None:
                return False
            self.table.selectRow(row)
            self.table.scrollTo(model.index(row, 0))
            return True
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(EPISODE_ID_ROLE) == episode_id:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return True
        return False

    @Slot()
    def open_selected(self) -> None:
        episode_id = self.selected_episode_id()
        if episode_id is not None:
            self.episode_opened.emit(episode_id)

    @Slot(QModelIndex)
    def _open_index(self, index: QModelIndex) -> None:
        self.episode_opened.emit(int(index.data(EPISODE_ID_ROLE)))
