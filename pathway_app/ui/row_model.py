"""A read-only table model over a list of frozen row records, shared by the worklists.

Subclasses say how many columns there are, what each header reads, and what a cell holds for
a role (`cell`); index checking, resets and row access live here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import QTableView, QWidget

Index = QModelIndex | QPersistentModelIndex
# Every worklist row carries its episode id under this role (a documented automation API).
EPISODE_ID_ROLE = Qt.ItemDataRole.UserRole + 2


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


class EpisodeTablePanel(QWidget):
    """A worklist panel whose `table` rows are episodes: selecting, re-selecting after a reload,
    and opening one (Enter, the platform's activation click, or the Open button).

    Subclasses create `self.table` and connect its `activated` signal to `_open_index`.
    """

    episode_opened = Signal(int)
    rows_loaded = Signal(int)
    table: QTableView

    def selected_episode_id(self) -> int | None:
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        return int(indexes[0].data(EPISODE_ID_ROLE))

    def select_episode(self, episode_id: int) -> bool:
        model = self.table.model()
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
