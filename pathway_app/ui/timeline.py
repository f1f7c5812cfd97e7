"""The episode's overview: everything that happened and is planned — milestones, the stay,
complications and red flags, follow-up items and refills — on one vertical time axis, with a
"today" line between past and future. Colour always comes with words (lane badge, state word)."""

from __future__ import annotations

from dataclasses import dataclass

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


def _lane_words() -> dict[str, str]:
    return {
        LANE_MILESTONE: tr("Timeline", "Pathway"),
        LANE_STAY: tr("Timeline", "Stay"),
        LANE_COMPLICATION: tr("Timeline", "Complication"),
        LANE_FOLLOWUP: tr("Timeline", "Follow-up"),
        LANE_REFILL: tr("Timeline", "Refill"),
    }


def _state_words() -> dict[str, str]:
    return {
        STATE_DONE: tr("Timeline", "done"),
        STATE_PLANNED: tr("Timeline", "planned"),
        STATE_OVERDUE: tr("Timeline", "OVERDUE"),
        STATE_MISSED: tr("Timeline", "MISSED"),
        STATE_OPEN: tr("Timeline", "open"),
        STATE_URGENT: tr("Timeline", "URGENT"),
        STATE_CANCELLED: tr("Timeline", "cancelled / skipped"),
        STATE_INFO: "",
    }


def lane_text(lane: str) -> str:
    return _lane_words().get(lane, lane)


def state_text(state: str) -> str:
    return _state_words().get(state, state)


@dataclass(frozen=True)
class _Row:
    """One event's words, worked out once per timeline rather than on every paint."""

    event: TimelineEvent
    date: str
    lane: str
    state: str

    @property
    def text(self) -> str:
        """The words of the row, as a screen reader or a tooltip says them."""
        parts = [self.date, self.lane, self.event.title]
        if self.state:
            parts.append(self.state)
        if self.event.detail:
            parts.append(self.event.detail)
        return " — ".join(parts)


def _row(
    event: TimelineEvent, lanes: dict[str, str] | None = None, states: dict[str, str] | None = None
) -> _Row:
    lanes = lanes if lanes is not None else _lane_words()
    states = states if states is not None else _state_words()
    return _Row(
        event,
        format_date(event.day),
        lanes.get(event.lane, event.lane),
        states.get(event.state, event.state),
    )


def event_text(event: TimelineEvent) -> str:
    """The words of one row, as a screen reader or a tooltip says them."""
    return _row(event).text


class TimelineChart(QWidget):
    """Paints a `Timeline`: one row per event, oldest at the top, a "today" line between the
    past and the future, and a legend of the states.

    A ten-year episode has hundreds of rows inside a scroll area: a paint draws only the rows
    in the exposed rectangle, from words worked out once in `set_timeline`."""

    ROW = 40
    TOP = 40
    DATE_W = 104
    AXIS_X = 122
    BADGE_W = 104

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, names.TIMELINE_CHART, self.tr("Episode timeline"))
        self._timeline: Timeline | None = None
        self._rows: list[_Row | None] = []  # ``None`` where the today line goes
        self._past_count = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumWidth(520)

    def set_timeline(self, timeline: Timeline | None) -> None:
        self._timeline = timeline
        self._rows = []
        if timeline is not None:
            lanes, states = _lane_words(), _state_words()
            past = [e for e in timeline.events if e.day <= timeline.today]
            future = [e for e in timeline.events if e.day > timeline.today]
            self._past_count = len(past)
            self._rows = [_row(e, lanes, states) for e in past]
            self._rows.append(None)
            self._rows.extend(_row(e, lanes, states) for e in future)
        lines = [row.text for row in self._rows if row is not None]
        self.setAccessibleDescription("\n".join(lines))
        self.setToolTip("")
        self.updateGeometry()
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def today_y(self) -> int:
        """Top of the "today" line's row, to scroll it into view."""
        if self._timeline is None:
            return 0
        return self.TOP + self._past_count * self.ROW

    def sizeHint(self) -> QSize:
        return QSize(720, self.TOP + max(1, len(self._rows)) * self.ROW + 16)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        exposed = event.rect()
        painter.fillRect(exposed, QColor("#ffffff"))
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
        if exposed.top() < self.TOP:
            self._legend(painter, small)
        rows = self._rows
        axis_top = self.TOP + 4
        axis_bottom = self.TOP + len(rows) * self.ROW - 8
        painter.setPen(QPen(QColor("#adb5bd"), 2))
        painter.drawLine(self.AXIS_X, axis_top, self.AXIS_X, axis_bottom)
        fonts = _Fonts(base, small, bold)
        # Only the rows that touch the exposed rectangle (the scroll area's visible part).
        first = max(0, (exposed.top() - self.TOP) // self.ROW)
        last = min(len(rows) - 1, (exposed.bottom() - self.TOP) // self.ROW)
        for index in range(first, last + 1):
            y = self.TOP + index * self.ROW
            item = rows[index]
            if item is None:
                self._today(painter, y, bold)
                continue
            self._event(painter, item, y, fonts)
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

    def _event(self, painter: QPainter, row: _Row, y: int, fonts: _Fonts) -> None:
        assert self._timeline is not None
        item = row.event
        middle = y + self.ROW // 2
        future = item.day > self._timeline.today
        painter.setFont(fonts.base)
        painter.setPen(QColor("#212529") if not future else QColor("#495057"))
        painter.drawText(QRectF(8, y, self.DATE_W, self.ROW), _RIGHT_MIDDLE, row.date)
        colour = STATE_COLOURS.get(item.state, QColor("#343a40"))
        self._marker(painter, self.AXIS_X, middle, item.state, colour)
        badge = QRectF(self.AXIS_X + 16, middle - 10, self.BADGE_W, 20)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LANE_COLOURS.get(item.lane, QColor("#e9ecef")))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("#212529"))
        painter.setFont(fonts.small)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, row.lane)
        x = badge.right() + 10
        room = self.width() - x - 8
        words = row.state
        state_w = fonts.bold_metrics.horizontalAdvance(words) + 12 if words else 0
        strong = item.state in (STATE_URGENT, STATE_MISSED)
        painter.setFont(fonts.bold if strong else fonts.base)
        painter.setPen(QColor("#212529"))
        title = (fonts.bold_metrics if strong else fonts.base_metrics).elidedText(
            item.title, Qt.TextElideMode.ElideRight, int(room - state_w)
        )
        top_line = QRectF(x, y + 2, room - state_w, self.ROW / 2)
        painter.drawText(top_line, _LEFT_BOTTOM, title)
        if words:
            painter.setFont(fonts.bold)
            painter.setPen(colour)
            painter.drawText(
                QRectF(x + room - state_w, y + 2, state_w, self.ROW / 2), _RIGHT_BOTTOM, words
            )
        if item.detail:
            painter.setFont(fonts.small)
            painter.setPen(QColor("#495057"))
            detail = fonts.small_metrics.elidedText(
                item.detail, Qt.TextElideMode.ElideRight, int(room)
            )
            painter.drawText(
                QRectF(x, y + self.ROW / 2 + 1, room, self.ROW / 2 - 2), _LEFT_TOP, detail
            )


_RIGHT_MIDDLE = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
_LEFT_BOTTOM = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom
_RIGHT_BOTTOM = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom
_LEFT_TOP = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop


class _Fonts:
    """The fonts of one paint and their metrics, made once per paint rather than per row."""

    def __init__(self, base: QFont, small: QFont, bold: QFont) -> None:
        self.base, self.small, self.bold = base, small, bold
        self.base_metrics = QFontMetrics(base)
        self.small_metrics = QFontMetrics(small)
        self.bold_metrics = QFontMetrics(bold)


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
        view = followup_view(self._ctx, episode_id)
        self.chart.set_timeline(episode_timeline(self._ctx, episode_id, view))
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
