"""The worklist: one row per open episode, searchable, filterable and sortable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.progress import URGENCY, DueStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.views import (
    WorklistCursor,
    WorklistFilter,
    WorklistPage,
    WorklistRow,
    worklist_filter,
    worklist_order_indexed,
    worklist_page,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import (
    STATUS_COLOURS,
    fit_column,
    format_date,
    named,
    status_text,
    tr,
)
from pathway_app.ui.row_model import EPISODE_ID_ROLE, EpisodeTablePanel, PagedRowModel, RowSource

STATUS_ROLE = Qt.ItemDataRole.UserRole + 3

MAX_COLUMN_WIDTH = 170
# The first rows a search reads (a few screens); scrolling reads on, a page at a time.
SEARCH_FIRST_ROWS = 100
# Rows a scroll reads on the GUI thread: each page continues after the last row read (one index
# range), and 100 rows keep it within a frame (~12 ms at 100,000 episodes; 200 took ~23 ms).
SCROLL_PAGE_ROWS = 100
# Rows kept loaded across a refresh so the selection and scroll position usually survive it.
KEEP_LOADED_ROWS = 400
# Columns are sized from about a screenful of rows: each refresh reads these cells once more.
FIT_ROWS = 30


class Column(IntEnum):
    PATIENT = 0
    MRN = 1
    INDICATION = 2
    STAGE = 3
    NEXT_ACTION = 4
    DUE = 5
    STATUS = 6
    ALERTS = 7  # issue 6: urgent red flags and open complications
    OUTCOME = 8  # issue 10: change since baseline, ⚑ when flagged


def _headers() -> dict[Column, str]:
    return {
        Column.PATIENT: tr("Worklist", "Patient"),
        Column.MRN: tr("Worklist", "MRN"),
        Column.INDICATION: tr("Worklist", "Indication"),
        Column.STAGE: tr("Worklist", "Stage"),
        Column.NEXT_ACTION: tr("Worklist", "Next action"),
        Column.DUE: tr("Worklist", "Due"),
        Column.STATUS: tr("Worklist", "Status"),
        Column.ALERTS: tr("Worklist", "Alerts"),
        Column.OUTCOME: tr("Worklist", "Outcome"),  # issue 10
    }


# --- Issue 6: urgent red flags, missed follow-ups, complications, closed episodes ---------------
NEXT_ACTION_MIN_WIDTH = 180
URGENT_COLOUR = QColor("#dc3545")
CLOSED_COLOUR = QColor("#ced4da")
COMPLICATION_COLOUR = QColor("#ffe69c")


def row_status_key(row: WorklistRow) -> str:
    """The row's flag for automation (STATUS_ROLE): "urgent", "closed" or the due status."""
    if row.urgent:
        return "urgent"
    if row.closed:
        return "closed"
    return row.status.value


def next_action_text(row: WorklistRow) -> str:
    if row.urgent and row.urgent_summary:
        return row.urgent_summary  # the urgent item is what to do next
    if not row.next_action:
        return "—"
    if row.next_action_kind == "missed":
        return tr("Worklist", "Missed: %1").replace("%1", row.next_action)
    return row.next_action


def alerts_text(row: WorklistRow, *, full: bool = False) -> str:
    """Short in the cell ("⚠ URGENT · 1 compl."), complete in the tooltip (the red flags and
    the open complications, most severe first)."""
    parts = []
    if row.urgent:
        text = tr("Worklist", "⚠ URGENT")
        parts.append(f"{text}: {row.urgent_summary}" if full else text)
    if row.open_complications:
        if full:
            parts.append(
                tr("Worklist", "%1 open complication(s): %2")
                .replace("%1", str(row.open_complications))
                .replace("%2", row.complication_summary)
            )
        else:
            parts.append(tr("Worklist", "%1 compl.").replace("%1", str(row.open_complications)))
    return " · ".join(parts)


# Header columns the database can sort by (issue 9: the model pages, so sorting is in SQL).
SORT_KEYS: dict[Column, str] = {
    Column.PATIENT: "patient",
    Column.MRN: "mrn",
    Column.INDICATION: "indication",
    Column.STAGE: "stage",
    Column.NEXT_ACTION: "next_action",
    Column.DUE: "due",
    Column.STATUS: "urgency",
}


class WorklistModel(PagedRowModel):
    """Rows of `WorklistRow`, read a page at a time; the database filters and sorts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            {int(c): text for c, text in _headers().items()},
            parent,
            page_size=SCROLL_PAGE_ROWS,
            sortable_columns=frozenset(int(c) for c in SORT_KEYS),
        )
        self.sort_column = int(Column.STATUS)

    def row_at(self, row: int) -> WorklistRow:
        return super().row_at(row)

    def cell(self, row: WorklistRow, column_number: int, role: int) -> Any:
        column = Column(column_number)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == EPISODE_ID_ROLE:
            return row.episode_id
        if role == STATUS_ROLE:
            return row_status_key(row)
        if column is Column.STATUS:
            if role == Qt.ItemDataRole.BackgroundRole:
                if row.urgent:
                    return URGENT_COLOUR
                if row.closed:
                    return CLOSED_COLOUR
                return STATUS_COLOURS.get(row.status)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#ffffff") if row.urgent else QColor("#000000")
        if column is Column.ALERTS and (row.urgent or row.open_complications):
            if role == Qt.ItemDataRole.BackgroundRole:
                return URGENT_COLOUR if row.urgent else COMPLICATION_COLOUR
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#ffffff") if row.urgent else QColor("#000000")
        if (
            column is Column.NEXT_ACTION
            and row.next_action_kind == "missed"
            and role == Qt.ItemDataRole.ForegroundRole
        ):
            return QColor("#842029")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is Column.ALERTS:
                return alerts_text(row, full=True)
            if column is Column.OUTCOME and row.outcome_flag:  # issue 10
                return f"{row.outcome_summary}\n⚑ {row.outcome_flag}"
            return self._display(row, column)
        return None

    @staticmethod
    def _display(row: WorklistRow, column: Column) -> str:
        match column:
            case Column.PATIENT:
                return row.patient_name
            case Column.MRN:
                return row.mrn
            case Column.INDICATION:
                return row.indication
            case Column.STAGE:
                return row.stage_name
            case Column.NEXT_ACTION:
                return next_action_text(row)
            case Column.DUE:
                return format_date(row.next_due_on)
            case Column.STATUS:
                if row.urgent:
                    return tr("Worklist", "URGENT")
                if row.closed:
                    return tr("Worklist", "Closed")
                return status_text(row.status)
            case Column.ALERTS:
                return alerts_text(row)
            case Column.OUTCOME:  # issue 10: the tooltip adds why it is flagged
                return ("⚑ " if row.outcome_flag else "") + row.outcome_summary


class WorklistPanel(EpisodeTablePanel):
    """Search box, stage and status filters, and the table. Emits `episode_opened(id)`."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        named(self, names.WORKLIST_PANEL, self.tr("Worklist"))
        self._make_search(
            names.WORKLIST_SEARCH,
            self.tr("Search by name or MRN"),
            self.tr("Search name or MRN…"),
        )
        self.stage_filter = named(QComboBox(), names.WORKLIST_STAGE_FILTER, self.tr("Stage"))
        self.stage_filter.addItem(self.tr("All stages"), None)
        for stage in ctx.template.stages:
            self.stage_filter.addItem(stage.name, stage.key)
        self.status_filter = named(QComboBox(), names.WORKLIST_STATUS_FILTER, self.tr("Status"))
        self.status_filter.addItem(self.tr("All statuses"), None)
        for status in URGENCY:
            self.status_filter.addItem(status_text(status), status.value)

        self.model = WorklistModel(self)
        self._make_table(self.model, names.WORKLIST_TABLE, self.tr("Worklist"))
        # Issue 9: a header click asks the model to sort, which asks us for rows in that order.
        self.model.sort_requested.connect(self._sort_changed)
        self._blocking_sort = True  # the initial sort indicator below needs no query
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder)
        self._blocking_sort = False
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.NEXT_ACTION, QHeaderView.ResizeMode.Stretch)
        self.open_button = self._make_open_button(
            self.tr("&Open episode"),
            names.WORKLIST_OPEN_BUTTON,
            self.tr("Open the selected episode"),
        )

        # Issue 9: typing, the filters and header sorts read on a worker thread; only the
        # newest answer is shown (`busy` until then).
        # What the rows shown were read with (automation and the benchmark wait on its search).
        self.shown_filter = worklist_filter(ctx)
        self._read_in_background(self._page_read)
        self.stage_filter.currentIndexChanged.connect(self.refresh_in_background)
        self.status_filter.currentIndexChanged.connect(self.refresh_in_background)
        # Issue 6: closed episodes leave the worklist but stay findable.
        self.show_closed = named(
            QCheckBox(self.tr("Show c&losed")),
            names.WORKLIST_SHOW_CLOSED_CHECK,
            self.tr("Also show closed episodes"),
        )
        self.show_closed.toggled.connect(self.refresh_in_background)

        filters = QHBoxLayout()
        search_label = QLabel(self.tr("&Search:"))
        search_label.setBuddy(self.search)
        stage_label = QLabel(self.tr("S&tage:"))
        stage_label.setBuddy(self.stage_filter)
        status_label = QLabel(self.tr("Stat&us:"))
        status_label.setBuddy(self.status_filter)
        filters.addWidget(search_label)
        filters.addWidget(self.search, 2)
        filters.addWidget(stage_label)
        filters.addWidget(self.stage_filter, 1)
        filters.addWidget(status_label)
        filters.addWidget(self.status_filter, 1)
        filters.addWidget(self.show_closed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        bottom = QHBoxLayout()
        self.count_label = QLabel()
        bottom.addWidget(self.count_label)
        bottom.addStretch(1)
        bottom.addWidget(self.open_button)
        layout.addLayout(bottom)
        for first, second in (
            (self.search, self.stage_filter),
            (self.stage_filter, self.status_filter),
            (self.status_filter, self.show_closed),
            (self.show_closed, self.table),
            (self.table, self.open_button),
        ):
            QWidget.setTabOrder(first, second)

    def current_filter(self) -> WorklistFilter:
        """The filters and sort the panel shows now, with today's date."""
        status = self.status_filter.currentData()
        order = self.model.sort_order
        return worklist_filter(
            self._ctx,
            search=self.search.text(),
            stage=self.stage_filter.currentData(),
            status=DueStatus(status) if status else None,
            include_closed=self.show_closed.isChecked(),
            sort=SORT_KEYS.get(Column(self.model.sort_column), "urgency"),
            descending=order == Qt.SortOrder.DescendingOrder,
        )

    def _source(self, where: WorklistFilter, cursor: WorklistCursor | None = None) -> RowSource:
        """The rows for ``where``; each page continues after the previous one's last row
        (``cursor``: where the first page, read elsewhere, ended), so scrolling deep down
        costs no more per page than the top."""
        ctx = self._ctx
        last = [cursor]

        def count() -> int:
            return worklist_page(ctx, where, limit=0).total

        def fetch(offset: int, limit: int) -> tuple[WorklistRow, ...]:
            if offset == 0:
                last[0] = None  # a reload starts over
            page = worklist_page(
                ctx, where, offset=offset, limit=limit, with_total=False, after=last[0]
            )
            last[0] = page.cursor or last[0]
            return page.rows

        # Deep pages of the sorts worklist_order_indexed() does not vouch for (by patient:
        # 50-130 ms a page at 100,000 episodes) are read on a worker thread; they appear
        # when read.
        return RowSource(count=count, fetch=fetch, background=not worklist_order_indexed(where))

    @Slot()
    def reload(self) -> None:
        """Query the database with the current filters, keeping the selected episode selected.

        Synchronous (automation and the refresh call it, then read the rows): one count and
        the first page, whatever the clinic's size. Any read still running is discarded."""
        self.background.cancel()
        selected = self.selected_episode_id()
        keep = min(self.model.rowCount(), KEEP_LOADED_ROWS)
        where = self.current_filter()
        total = self.model.set_source(self._source(where), minimum_rows=keep)
        self._rows_shown(where, total, selected)

    @Slot()
    def refresh_in_background(self) -> None:
        """Read the count and first page for the current filters and sort on a worker thread
        (a filter or a header changed: tens to hundreds of ms at 100,000 episodes); the panel
        is `busy` until they are shown."""
        self.background.start(self._first_page_query(self.current_filter(), fit=True))

    @Slot(int, Qt.SortOrder)
    def _sort_changed(self, _column: int, _order: Qt.SortOrder) -> None:
        if not self._blocking_sort:
            self.refresh_in_background()

    def _search_query(self) -> Callable[[], _FirstPage]:
        # Column widths stay as they are while typing (no jumping; fewer cells read).
        return self._first_page_query(self.current_filter(), fit=False)

    def _first_page_query(self, where: WorklistFilter, *, fit: bool) -> Callable[[], _FirstPage]:
        ctx = self._ctx

        def read() -> _FirstPage:  # on a worker thread
            return _FirstPage(where, worklist_page(ctx, where, limit=SEARCH_FIRST_ROWS), fit)

        return read

    @Slot(object)
    def _page_read(self, answer: _FirstPage) -> None:
        selected = self.selected_episode_id()
        source = self._source(answer.where, answer.page.cursor)
        self.model.show_first_page(source, answer.page.rows, answer.page.total)
        self._rows_shown(answer.where, answer.page.total, selected, fit=answer.fit)

    def _rows_shown(
        self, where: WorklistFilter, total: int, selected: int | None, *, fit: bool = True
    ) -> None:
        """Size the columns from the first rows, count, and re-select after new rows."""
        self.shown_filter = where
        if fit:
            self._fit_columns()
        self.count_label.setText(self.tr("%n episode(s) shown", "", total))
        if selected is not None:
            self.select_episode(selected)
        self.rows_loaded.emit(total)

    def _fit_columns(self) -> None:
        for column in (
            Column.PATIENT,
            Column.MRN,
            Column.INDICATION,
            Column.STAGE,
            Column.DUE,
            Column.STATUS,
            Column.ALERTS,
            Column.OUTCOME,  # issue 10
        ):
            fit_column(self.table, column, FIT_ROWS)  # issue 9: from the first rows only
            # Long indications are cut with an ellipsis so the next action keeps its room.
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), MAX_COLUMN_WIDTH))
        # Issue 6: the alerts stay compact (the tooltip has them in full) and the indication
        # gives way, so the next action keeps a readable width.
        self.table.setColumnWidth(Column.ALERTS, min(self.table.columnWidth(Column.ALERTS), 110))
        room = self.table.viewport().width() - sum(
            self.table.columnWidth(c) for c in Column if c is not Column.NEXT_ACTION
        )
        if room < NEXT_ACTION_MIN_WIDTH:
            narrower = self.table.columnWidth(Column.INDICATION) - (NEXT_ACTION_MIN_WIDTH - room)
            self.table.setColumnWidth(Column.INDICATION, max(110, narrower))


@dataclass(frozen=True)
class _FirstPage:
    """A first page and count read on a worker thread, with the filters it was read with."""

    where: WorklistFilter
    page: WorklistPage
    fit: bool
