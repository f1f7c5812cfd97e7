"""The episode's overview: everything that happened and is planned — milestones, the stay,
complications and red flags, follow-up items and refills — on one vertical time axis, with a
"today" line between past and future. Colour always comes with words (lane badge, state word)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from pathway_app.services.context import ServiceContext
from pathway_app.services.followup_views import (
    LANE_COMPLICATION,
    LANE_FOLLOWUP,
    LANE_MILESTONE,
    LANE_REFILL,
    LANE_STAY,
    STATE_CANCELLED,
    STATE_DONE,
    STATE_INFO,
    STATE_MISSED,
    STATE_OPEN,
    STATE_OVERDUE,
    STATE_PLANNED,
    STATE_URGENT,
    Timeline,
    TimelineEvent,
    episode_timeline,
    followup_view,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_date, named, tr
from pathway_app.ui.episode_view import EpisodePage

STATE_COLOURS = {
    STATE_DONE: QColor("#198754"),
    STATE_PLANNED: QColor("#0d6efd"),
    STATE_OVERDUE: QColor("#d9480f"),
    STATE_MISSED: QColor("#b02a37"),
    STATE_OPEN: QColor("#b58100"),
    STATE_URGENT: QColor("#b02a37"),
    STATE_CANCELLED: QColor("#6c757d"),
    STATE_INFO: QColor("#343a40"),
}
LANE_COLOURS = {
    LANE_MILESTONE: QColor("#e2e3e5"),
    LANE_STAY: QColor("#cfe2ff"),
    LANE_COMPLICATION: QColor("#f8d7da"),
    LANE_FOLLOWUP: QColor("#d1e7dd"),
    LANE_REFILL: QColor("#fff3cd"),
}
# States drawn as a filled marker; the others are outlined (still to come).
FILLED = {STATE_DONE, STATE_MISSED, STATE_URGENT, STATE_INFO, STATE_OVERDUE}


def lane_text(lane: str) -> str:
    return {
        LANE_MILESTONE: tr("Timeline", "Pathway"),
        LANE_STAY: tr("Timeline", "Stay"),
        LANE_COMPLICATION: tr("Timeline", "Complication"),
        LANE_FOLLOWUP: tr("Timeline", "Follow-up"),
        LANE_REFILL: tr("Timeline", "Refill"),
    }.get(lane, lane)


def state_text(state: str) -> str:
    return {
        STATE_DONE: tr("Timeline", "done"),
        STATE_PLANNED: tr("Timeline", "planned"),
        STATE_OVERDUE: tr("Timeline", "OVERDUE"),
        STATE_MISSED: tr("Timeline", "MISSED"),
        STATE_OPEN: tr("Timeline", "open"),
        STATE_URGENT: tr("Timeline", "URGENT"),
        STATE_CANCELLED: tr("Timeline", "cancelled / skipped"),
        STATE_INFO: "",
    }.get(state, state)


def event_text(event: TimelineEvent) -> str:
    """The words of one row, as a screen reader or a tooltip says them."""
    parts = [format_date(event.day), lane_text(event.lane), event.title]
    if state_text(event.state):
        parts.append(state_text(event.state))
    if event.detail:
        parts.append(event.detail)
    return " — ".join(parts)


class TimelineChart(QWidget):
    """Paints a `Timeline`: one row per event, oldest at the top, a "today" line between the
    past and the future, and a legend of the states."""

    ROW = 40
    TOP = 40
    DATE_W = 104
    AXIS_X = 122
    BADGE_W = 104

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, names.TIMELINE_CHART, self.tr("Episode timeline"))
        self._timeline: Timeline | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumWidth(520)

    def set_timeline(self, timeline: Timeline | None) -> None:
        self._timeline = timeline
        lines = [event_text(e) for e in timeline.events] if timeline else []
        self.setAccessibleDescription("\n".join(lines))
        self.setToolTip("")
        self.updateGeometry()
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def _rows(self) -> list[TimelineEvent | None]:
        """Events with ``None`` where the today line goes."""
        if self._timeline is None:
            return []
        rows: list[TimelineEvent | None] = list(self._timeline.past)
        rows.append(None)
        rows.extend(self._timeline.future)
        return rows

    def today_y(self) -> int:
        """Top of the "today" line's row, to scroll it into view."""
        if self._timeline is None:
            return 0
        return self.TOP + len(self._timeline.past) * self.ROW

    def sizeHint(self) -> QSize:
        return QSize(720, self.TOP + max(1, len(self._rows())) * self.ROW + 16)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#ffffff"))
        base = QFont(self.font())
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.9)
        bold = QFont(base)
        bold.setBold(True)
        if self._timeline is None or not self._timeline.events:
            painter.setPen(QColor("#343a40"))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                self.tr("Nothing recorded or planned yet."),
            )
            return
        self._legend(painter, small)
        rows = self._rows()
        axis_top = self.TOP + 4
        axis_bottom = self.TOP + len(rows) * self.ROW - 8
        painter.setPen(QPen(QColor("#adb5bd"), 2))
        painter.drawLine(self.AXIS_X, axis_top, self.AXIS_X, axis_bottom)
        metrics = QFontMetrics(base)
        for index, item in enumerate(rows):
            y = self.TOP + index * self.ROW
            if item is None:
                self._today(painter, y, bold)
                continue
            self._event(painter, item, y, base, small, bold, metrics)
        painter.end()

    def _legend(self, painter: QPainter, font: QFont) -> None:
        painter.setFont(font)
        x = 8
        metrics = QFontMetrics(font)
        for state in (
            STATE_DONE,
            STATE_PLANNED,
            STATE_OVERDUE,
            STATE_MISSED,
            STATE_OPEN,
            STATE_URGENT,
            STATE_CANCELLED,
        ):
            colour = STATE_COLOURS[state]
            self._marker(painter, x + 6, 16, state, colour)
            painter.setPen(QColor("#212529"))
            text = state_text(state)
            painter.drawText(x + 16, 21, text)
            x += 30 + metrics.horizontalAdvance(text)

    def _today(self, painter: QPainter, y: int, font: QFont) -> None:
        assert self._timeline is not None
        middle = y + self.ROW // 2
        pen = QPen(QColor("#b02a37"), 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(8, middle, self.width() - 8, middle)
        painter.setFont(font)
        text = self.tr("Today %1").replace("%1", format_date(self._timeline.today))
        width = QFontMetrics(font).horizontalAdvance(text) + 16
        box = QRectF(self.AXIS_X + 16, middle - 11, width, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#b02a37"))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _marker(self, painter: QPainter, x: float, y: float, state: str, colour: QColor) -> None:
        painter.setPen(QPen(colour, 2))
        painter.setBrush(colour if state in FILLED else QColor("#ffffff"))
        if state in (STATE_URGENT, STATE_MISSED):
            painter.drawRect(QRectF(x - 6, y - 6, 12, 12))
        else:
            painter.drawEllipse(QRectF(x - 6, y - 6, 12, 12))

    def _event(
        self,
        painter: QPainter,
        item: TimelineEvent,
        y: int,
        base: QFont,
        small: QFont,
        bold: QFont,
        metrics: QFontMetrics,
    ) -> None:
        assert self._timeline is not None
        middle = y + self.ROW // 2
        future = item.day > self._timeline.today
        painter.setFont(base)
        painter.setPen(QColor("#212529") if not future else QColor("#495057"))
        painter.drawText(
            QRectF(8, y, self.DATE_W, self.ROW),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            format_date(item.day),
        )
        colour = STATE_COLOURS.get(item.state, QColor("#343a40"))
        self._marker(painter, self.AXIS_X, middle, item.state, colour)
        badge = QRectF(self.AXIS_X + 16, middle - 10, self.BADGE_W, 20)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LANE_COLOURS.get(item.lane, QColor("#e9ecef")))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("#212529"))
        painter.setFont(small)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, lane_text(item.lane))
        x = badge.right() + 10
        room = self.width() - x - 8
        words = state_text(item.state)
        state_w = QFontMetrics(bold).horizontalAdvance(words) + 12 if words else 0
        title_font = bold if item.state in (STATE_URGENT, STATE_MISSED) else base
        painter.setFont(title_font)
        painter.setPen(QColor("#212529"))
        title = QFontMetrics(title_font).elidedText(
            item.title, Qt.TextElideMode.ElideRight, int(room - state_w)
        )
        top_line = QRectF(x, y + 2, room - state_w, self.ROW / 2)
        painter.drawText(top_line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, title)
        if words:
            painter.setFont(bold)
            painter.setPen(colour)
            painter.drawText(
                QRectF(x + room - state_w, y + 2, state_w, self.ROW / 2),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                words,
            )
        if item.detail:
            painter.setFont(small)
            painter.setPen(QColor("#495057"))
            detail = QFontMetrics(small).elidedText(
                item.detail, Qt.TextElideMode.ElideRight, int(room)
            )
            painter.drawText(
                QRectF(x, y + self.ROW / 2 + 1, room, self.ROW / 2 - 2),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                detail,
            )


class OverviewPage(EpisodePage):
    """The episode's overview tab: what needs attention now, then the whole timeline."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        named(self, names.OVERVIEW_PAGE, self.tr("Overview"))
        self.summary = named(
            QLabel(), names.OVERVIEW_SUMMARY_LABEL, self.tr("What needs attention")
        )
        self.summary.setWordWrap(True)
        self.summary.setMargin(6)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = TimelineChart()
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.chart)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        label = QLabel(self.tr("&Timeline (past above the red line, planned below):"))
        label.setBuddy(self.chart)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(label)
        layout.addWidget(self.scroll_area, 1)

    def load(self, episode_id: int) -> None:
        timeline = episode_timeline(self._ctx, episode_id)
        self.chart.set_timeline(timeline)
        view = followup_view(self._ctx, episode_id)
        lines = []
        for flag in view.open_red_flags:
            lines.append(self.tr("⚠ URGENT — %1").replace("%1", flag.title))
        for item in view.missed:
            lines.append(
                self.tr("✗ Missed — %1 (due %2)")
                .replace("%1", item.purpose)
                .replace("%2", format_date(item.due_on))
            )
        open_complications = [c for c in view.complications if c.resolved_on is None]
        for c in open_complications:
            lines.append(
                self.tr("● Open complication — %1 (%2)")
                .replace("%1", c.category_name)
                .replace("%2", c.severity_name)
            )
        if view.closure is not None:
            lines.insert(
                0,
                self.tr("Closed: %1 — %2")
                .replace("%1", view.closure.label)
                .replace("%2", view.closure.text),
            )
        if not lines:
            lines.append(self.tr("Nothing needs attention now."))
        text = "\n".join(lines)
        self.summary.setText(text)
        self.summary.setAccessibleDescription(text)
        alert = bool(view.open_red_flags or view.missed)
        self.summary.setStyleSheet(
            "background: #f8d7da; color: #58151c; border-radius: 3px;"
            if alert
            else "background: #e9ecef; color: #212529; border-radius: 3px;"
        )
        # Open on "now": a few past rows above the today line, the plan below it.
        QTimer.singleShot(0, self._scroll_to_today)

    def _scroll_to_today(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(max(0, self.chart.today_y() - 5 * TimelineChart.ROW))
