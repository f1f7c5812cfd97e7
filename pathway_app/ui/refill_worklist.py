"""The refill worklist: every open episode with a pump, most urgent first.

Levels and order come from the database (`services.refill_views.refill_worklist_pages`); the
table keeps that order and reads it a page at a time as the user scrolls (issue 9: one count
and one page per refresh, however many pumps the clinic follows). There is no header sorting:
the order is the clinical one. Colour marks the level, and the words say it too.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop, QLocale, Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pathway_app.storage.refill_rows import RefillLevel, RefillWorklistRow
from pathway_app.ui import object_names as names
from pathway_app.ui.common import fit_column, format_date, format_datetime, named, tr
from pathway_app.ui.row_model import EPISODE_ID_ROLE, EpisodeTablePanel, PagedRowModel, RowSource

if TYPE_CHECKING:
    # Issue 9: this panel is painted before the data layer is imported (see MainWindow), so
    # the service context and SQLAlchemy-backed reads are imported only when used.
    from pathway_app.services.context import ServiceContext
    from pathway_app.services.refill_views import RefillWorklistPages

LEVEL_ROLE = Qt.ItemDataRole.UserRole + 3
UNVERIFIED_MARK = "†"
MAX_DAYS = 365
MAX_COLUMN_WIDTH = 200


class RefillPages(Protocol):
    """A counted, ordered, offset-addressed read of the refill worklist: the service's
    `RefillWorklistPages`, or at start-up `storage.first_screen`'s read of the same rows."""

    def count(self) -> int: ...

    def fetch(self, offset: int, limit: int) -> list[RefillWorklistRow]: ...

    def position(self, episode_id: int) -> int | None: ...


LEVEL_COLOURS = {
    RefillLevel.URGENT: QColor("#f1aeb5"),
    RefillLevel.OVERDUE: QColor("#f5c2c7"),
    RefillLevel.DUE_SOON: QColor("#ffe69c"),
    RefillLevel.SCHEDULED: QColor("#d1e7dd"),
}


def level_text(level: RefillLevel | None) -> str:
    return (
        {
            RefillLevel.URGENT: tr("Refills", "URGENT"),
            RefillLevel.OVERDUE: tr("Refills", "Overdue"),
            RefillLevel.DUE_SOON: tr("Refills", "Due soon"),
            RefillLevel.SCHEDULED: tr("Refills", "Scheduled"),
        }.get(level, "")
        if level is not None
        else ""
    )


def number(value: float | None, digits: int = 2) -> str:
    """A number the local way, without trailing zeros."""
    if value is None:
        return "—"
    text = QLocale().toString(float(value), "f", digits)
    point = QLocale().decimalPoint()
    if point in text:
        text = text.rstrip("0").rstrip(point)
    return text


class Column(IntEnum):
    """The dates that decide the order come right after the patient, so they stay in view."""

    LEVEL = 0
    PATIENT = 1
    DUE = 2
    EMPTY = 3
    DRUG = 4
    DOSE = 5
    LAST = 6
    MRN = 7


def _headers() -> dict[Column, str]:
    return {
        Column.LEVEL: tr("Refills", "Level"),
        Column.PATIENT: tr("Refills", "Patient"),
        Column.MRN: tr("Refills", "MRN"),
        Column.DRUG: tr("Refills", "Drug"),
        Column.DOSE: tr("Refills", "Daily dose"),
        Column.LAST: tr("Refills", "Last refill"),
        Column.DUE: tr("Refills", "Next due"),
        Column.EMPTY: tr("Refills", "Empty by (worst case)"),
    }


class RefillWorklistModel(PagedRowModel):
    """Rows of `RefillWorklistRow`, in the order the database gave them, read page by page."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__({int(c): text for c, text in _headers().items()}, parent)

    def row_at(self, row: int) -> RefillWorklistRow:
        return super().row_at(row)

    def cell(self, row: RefillWorklistRow, column_number: int, role: int) -> Any:
        column = Column(column_number)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == EPISODE_ID_ROLE:
            return row.episode_id
        if role == LEVEL_ROLE:
            return row.level.value
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if column is Column.LEVEL:
            if role == Qt.ItemDataRole.BackgroundRole:
                return LEVEL_COLOURS.get(row.level)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#000000")
        return None

    @staticmethod
    def _display(row: RefillWorklistRow, column: Column) -> str:
        match column:
            case Column.LEVEL:
                return level_text(row.level)
            case Column.PATIENT:
                return row.patient_name
            case Column.MRN:
                return row.mrn
            case Column.DRUG:
                risk = tr("Refills", " ⚠ withdrawal") if row.dangerous_withdrawal else ""
                return row.drug_name + risk
            case Column.DOSE:
                return f"{number(row.daily_dose)} {row.dose_unit}"
            case Column.LAST:
                return format_date(row.last_fill_at.date() if row.last_fill_at else None)
            case Column.DUE:
                mark = f" {UNVERIFIED_MARK}" if row.unverified else ""
                return format_date(row.due_on) + mark
            case Column.EMPTY:
                return format_datetime(row.empty_by_worst_at)

    @staticmethod
    def _tooltip(row: RefillWorklistRow, column: Column) -> str:
        if column is Column.DUE and row.unverified:
            return tr("Refills", "This date rests on unverified catalogue defaults: %1").replace(
                "%1", ", ".join(row.unverified)
            )
        if column is Column.DRUG and row.dangerous_withdrawal:
            return tr("Refills", "Running dry causes a dangerous withdrawal syndrome.")
        if column is Column.DOSE:
            return (
                tr("Refills", "%1 %2 at %3")
                .replace("%1", number(row.concentration, 3))
                .replace("%2", row.concentration_unit)
                .replace("%3", row.pump_name)
            )
        return RefillWorklistModel._display(row, column)


class RefillWorklistPanel(EpisodeTablePanel):
    """Search, the "due within N days" window and the table. Emits `episode_opened(id)`.

    Made with a service context, it reads through the services. Made without one (issue 9: at
    start-up, before the data layer is imported) it shows the rows `show_opening` is given and
    is `busy` until `attach` hands it the context; what was typed meanwhile is then applied.
    """

    def __init__(
        self,
        ctx: ServiceContext | None,
        parent: QWidget | None = None,
        *,
        due_soon_days: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        if due_soon_days is None:
            if ctx is None:
                raise ValueError("a refill worklist without a context needs due_soon_days")
            due_soon_days = ctx.template.parameter("due_soon_days")
        named(self, names.REFILL_WORKLIST_PANEL, self.tr("Refill worklist"))
        self._make_search(
            names.REFILL_WORKLIST_SEARCH,
            self.tr("Search refills by name or MRN"),
            self.tr("Search name or MRN…"),
        )
        self.days = named(
            QSpinBox(), names.REFILL_WORKLIST_DAYS_SPIN, self.tr("Due within this many days")
        )
        self.days.setRange(0, MAX_DAYS)
        self.days.setValue(due_soon_days)
        self.days.setSuffix(self.tr(" days"))

        self.model = RefillWorklistModel(self)
        self._make_table(self.model, names.REFILL_WORKLIST_TABLE, self.tr("Refill worklist"))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.open_button = self._make_open_button(
            self.tr("&Open episode"),
            names.REFILL_WORKLIST_OPEN_BUTTON,
            self.tr("Open the selected patient's episode"),
        )
        self.count_label = named(
            QLabel(), names.REFILL_WORKLIST_COUNT_LABEL, self.tr("Refill rows shown")
        )
        legend = QLabel(
            self.tr(
                "Order: urgent (reservoir may run dry within the buffer), overdue, due within "
                "the window, scheduled; drugs with dangerous withdrawal first in each level. "
                "%1 = date rests on unverified catalogue defaults."
            ).replace("%1", UNVERIFIED_MARK)
        )
        legend.setWordWrap(True)

        # Issue 9: typing searches on a worker thread; only the newest search's rows are shown.
        self._read_in_background(self._pages_read)
        self.days.valueChanged.connect(self._days_changed)

        filters = QHBoxLayout()
        search_label = QLabel(self.tr("Sea&rch:"))
        search_label.setBuddy(self.search)
        days_label = QLabel(self.tr("Due &within:"))
        days_label.setBuddy(self.days)
        filters.addWidget(search_label)
        filters.addWidget(self.search, 2)
        filters.addWidget(days_label)
        filters.addWidget(self.days)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(legend)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label)
        bottom.addStretch(1)
        bottom.addWidget(self.open_button)
        layout.addLayout(bottom)
        QWidget.setTabOrder(self.search, self.days)
        QWidget.setTabOrder(self.days, self.table)
        QWidget.setTabOrder(self.table, self.open_button)

    @property
    def attached(self) -> bool:
        """False while the panel shows start-up rows and has no service context yet."""
        return self._ctx is not None

    def show_opening(self, pages: RefillPages) -> None:
        """Show the first page of `pages` before the context exists (start-up)."""
        # No busy cursor: the window says it is opening (and the first one costs 15 ms).
        self._show(pages, pages.count())

    def attach(self, ctx: ServiceContext) -> None:
        """Read through `ctx` from now on; the rows are read again, with whatever search and
        window were typed meanwhile."""
        self._ctx = ctx
        self.reload()
        self._show_busy(self.background.busy)

    @property
    def busy(self) -> bool:
        return not self.attached or self.background.busy

    def wait_until_idle(self, timeout_ms: int = 5000) -> bool:
        if not self.attached and not self._wait_for_attach(timeout_ms):
            return False
        return self.background.wait(timeout_ms)

    def _wait_for_attach(self, timeout_ms: int) -> bool:
        deadline = QDeadlineTimer(timeout_ms)
        while not self.attached and not deadline.hasExpired():
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return self.attached

    @Slot(str)
    def _search_changed(self, text: str) -> None:
        if self.attached:
            super()._search_changed(text)

    @Slot()
    def _days_changed(self) -> None:
        # Like typing: read on a worker thread (a count and a page: tens of ms at 100,000).
        if self.attached:
            self.background.schedule(self._search_query, 0)

    @Slot()
    def reload(self) -> None:
        """Count and read the first page again, keeping the selected episode selected (read up
        to its row if it has moved further down). Synchronous: the rows are there when it
        returns; any search still running is discarded. Before `attach`, nothing to do."""
        if not self.attached:
            return
        self.background.cancel()
        pages = self._pages(self.search.text())
        total = pages.count()
        self._show(pages, total)

    def _pages(self, search: str) -> RefillWorklistPages:
        from pathway_app.services.refill_views import refill_worklist_pages

        assert self._ctx is not None
        return refill_worklist_pages(
            self._ctx,
            due_within_days=self.days.value(),
            search=search,
            first_page=self.model.page_size,
        )

    def _search_query(self) -> Callable[[], tuple[RefillWorklistPages, int]]:
        pages = self._pages(self.search.text())  # reads the widgets here, on the GUI thread

        def read() -> tuple[RefillWorklistPages, int]:  # on a worker thread
            return pages, pages.count()  # the count reads the first page too

        return read

    @Slot(object)
    def _pages_read(self, answer: tuple[RefillWorklistPages, int]) -> None:
        pages, total = answer
        # Column widths stay as they are while typing (no jumping; fewer cells read).
        self._show(pages, total, fit=False)

    def _show(self, pages: RefillPages, total: int, *, fit: bool = True) -> None:
        """Show a counted result's first page (already read), then size, count, re-select."""
        selected = self.selected_episode_id()
        source = RowSource(pages.count, pages.fetch, pages.position)
        self.model.show_first_page(source, pages.fetch(0, min(total, self.model.page_size)), total)
        if fit:
            for column in Column:
                fit_column(self.table, column)  # issue 9: from the first rows only
            for column in (Column.PATIENT, Column.DRUG):
                # Long names are cut with an ellipsis so the dates keep their room.
                width = min(self.table.columnWidth(column), MAX_COLUMN_WIDTH)
                self.table.setColumnWidth(column, width)
        self.count_label.setText(self.tr("%n pump(s) shown", "", total))
        if selected is not None:
            self.select_episode(selected)
        self.rows_loaded.emit(total)

    def episode_ids(self) -> list[int]:
        """The episodes of the rows read so far, in order."""
        return [self.model.row_at(row).episode_id for row in range(self.model.rowCount())]
