"""Small helpers every screen uses: naming widgets for automation, showing dates the local
way, the status flag's words and colours, and the error labels dialogs put next to fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QLocale, Qt, QTimeZone
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableView, QWidget

from pathway_app.domain.progress import DueStatus

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, accessible_name: str) -> W:
    """Give a widget its automation name and the name a screen reader speaks."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible_name)
    return widget


def tr(context: str, text: str) -> str:
    return QCoreApplication.translate(context, text)


def to_qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def from_qdate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def to_qdatetime(value: datetime) -> QDateTime:
    """An aware datetime as a QDateTime in the workstation's time zone."""
    secs = int(value.timestamp() * 1000)
    return QDateTime.fromMSecsSinceEpoch(secs, QTimeZone.systemTimeZone())


def _locale_is_unset(locale: QLocale) -> bool:
    # The "C" locale (no LANG on the workstation) has no real date format; ISO 8601 reads
    # unambiguously everywhere.
    return locale.language() == QLocale.Language.C


def format_date(value: date | None) -> str:
    if value is None:
        return "—"
    locale = QLocale()
    if _locale_is_unset(locale):
        return value.isoformat()
    return locale.toString(to_qdate(value), QLocale.FormatType.ShortFormat)


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    locale = QLocale()
    if _locale_is_unset(locale):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    return locale.toString(to_qdatetime(value), QLocale.FormatType.ShortFormat)


def status_text(status: DueStatus | None) -> str:
    texts = {
        DueStatus.OVERDUE: tr("Status", "Overdue"),
        DueStatus.DUE_SOON: tr("Status", "Due soon"),
        DueStatus.ON_TRACK: tr("Status", "On track"),
        DueStatus.NO_DATE: tr("Status", "No date"),
    }
    return texts.get(status, "") if status is not None else ""


# Background colours that keep black text readable; the words carry the meaning too.
STATUS_COLOURS = {
    DueStatus.OVERDUE: QColor("#f5c2c7"),
    DueStatus.DUE_SOON: QColor("#ffe69c"),
    DueStatus.ON_TRACK: QColor("#d1e7dd"),
    DueStatus.NO_DATE: QColor("#e2e3e5"),
}


def error_label(object_name: str) -> QLabel:
    """A hidden label under a field that shows the field's validation message."""
    label = QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setStyleSheet("color: #a4161a;")
    label.setVisible(False)
    return label


def show_error(label: QLabel, message: str | None) -> None:
    label.setText(f"⚠ {message}" if message else "")
    label.setAccessibleName(message or "")
    label.setVisible(bool(message))


# Issue 9: columns are sized from the first rows only. QTableView.resizeColumnToContents reads
# every row while the table is hidden (at start-up), which takes seconds with 100,000 rows.
FIT_SAMPLE_ROWS = 64
_CELL_PADDING = 16


def fit_column(table: QTableView, column: int, rows: int = FIT_SAMPLE_ROWS) -> None:
    """Set the column's width to its header and the text of its first ``rows`` rows."""
    model = table.model()
    if model is None:
        return
    metrics = table.fontMetrics()
    width = table.horizontalHeader().sectionSizeHint(column)
    for row in range(min(rows, model.rowCount())):
        text = model.index(row, column).data(Qt.ItemDataRole.DisplayRole)
        if text:
            width = max(width, metrics.horizontalAdvance(str(text)) + _CELL_PADDING)
    table.setColumnWidth(column, width)


def dialog_buttons(
    dialog: QDialog, save_text: str, save_name: str, cancel_name: str
) -> QDialogButtonBox:
    """A dialog's Save (default) and Cancel buttons, named for automation; Cancel rejects.

    The caller connects ``accepted`` to its own save, which validates before closing.
    """
    buttons = QDialogButtonBox()
    save = named(
        buttons.addButton(save_text, QDialogButtonBox.ButtonRole.AcceptRole),
        save_name,
        save_text.replace("&", ""),
    )
    named(
        buttons.addButton(dialog.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole),
        cancel_name,
        dialog.tr("Cancel"),
    )
    save.setDefault(True)
    buttons.rejected.connect(dialog.reject)
    return buttons
