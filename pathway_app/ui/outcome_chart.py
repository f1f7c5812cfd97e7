"""The outcome chart (issue 10): the score over time with the intrathecal daily dose beside it,
drawn with QPainter, from baseline (or the first fill) to today.

Readable without a legend: each axis is titled in its series' colour (score on the left, IT
dose on the right), every score point carries its value, the dose line carries its value at
each change, refills are small triangles labelled "R" on the time axis and dose changes are
dashed vertical lines labelled "dose ↑" / "dose ↓". Series differ by line style and marker
shape as well as colour.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from pathway_app.domain.outcomes import ASHWORTH_GRADES
from pathway_app.services.outcomes import OutcomeChartSeries
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_date, named

SCORE = QColor("#1f5fa8")
DOSE = QColor("#1b6e3a")
CHANGE = QColor("#a04000")
REFILL = QColor("#555555")
TODAY = QColor("#333333")
GRID = QColor("#d9d9d9")


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def nice_step(top: float, steps: int = 4) -> float:
    """A round axis step (1, 2, 2.5 or 5 × 10^k) so that ``steps`` steps reach ``top``."""
    raw = max(top, 1e-9) / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


class OutcomeChart(QWidget):
    """Shows an `OutcomeChartSeries`; the accessible description summarises it in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, names.OUTCOME_CHART, self.tr("Outcome chart"))
        self._series: OutcomeChartSeries | None = None
        self._today: date | None = None
        self.setMinimumSize(420, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def sizeHint(self) -> QSize:
        return QSize(640, 300)

    def score_title(self) -> str:
        if self._series is not None and self._series.score_kind == "spasticity":
            return self.tr("Spasticity (Modified Ashworth)")
        return self.tr("Pain (NRS 0–10)")

    def dose_title(self) -> str:
        series = self._series
        if series is None or not series.it_doses:
            return ""
        return (
            self.tr("IT dose %1 (%2)")
            .replace("%1", series.it_drug.split(" (")[0])
            .replace("%2", series.it_unit)
        )

    def set_series(self, series: OutcomeChartSeries | None, today: date) -> None:
        self._series = series
        self._today = today
        if series is None or (not series.scores and not series.it_doses):
            self.setAccessibleDescription(self.tr("No outcome or dose recorded yet."))
        else:
            self.setAccessibleDescription(
                self.tr("%1 score(s) and %2 fill(s) from %3 to %4; %5 dose change(s).")
                .replace("%1", str(len(series.scores)))
                .replace("%2", str(len(series.it_doses)))
                .replace("%3", format_date(series.start))
                .replace("%4", format_date(series.end))
                .replace("%5", str(len(series.dose_changes)))
            )
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        series = self._series
        if series is None or (not series.scores and not series.it_doses):
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                self.tr("No outcome or dose recorded yet."),
            )
            return
        metrics = painter.fontMetrics()
        line = metrics.height()
        spastic = series.score_kind == "spasticity"
        left = metrics.horizontalAdvance("10") + 14
        max_dose = max((d for _, d in series.it_doses), default=0.0)
        dose_step = nice_step(max_dose * 1.2 if max_dose > 0 else 1.0)
        top_dose = dose_step * 4
        right = metrics.horizontalAdvance(_number(top_dose)) + 14 if series.it_doses else 12
        plot = QRectF(left, 10 + 2 * line, self.width() - left - right, 0)
        plot.setBottom(self.height() - 2 * line - 12)
        if plot.width() < 60 or plot.height() < 50:
            return
        span = max((series.end - series.start).days, 1)
        top_score = float(len(ASHWORTH_GRADES) - 1) if spastic else 10.0

        def x_day(day: date) -> float:
            return plot.left() + (day - series.start).days / span * plot.width()

        def x_at(at: datetime) -> float:
            return x_day(at.date())

        def y_score(value: float) -> float:
            return plot.bottom() - value / top_score * plot.height()

        def y_dose(value: float) -> float:
            return plot.bottom() - value / top_dose * plot.height()

        text_pen = QPen(self.palette().text().color())
        # Left axis: the score scale, with a grid line per step.
        steps = range(len(ASHWORTH_GRADES)) if spastic else range(0, 11, 2)
        for value in steps:
            y = y_score(float(value))
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(QPen(SCORE))
            text = ASHWORTH_GRADES[value] if spastic else str(value)
            painter.drawText(
                QRectF(0, y - line / 2, left - 6, line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                text,
            )
        # Right axis: the dose scale (four steps).
        if series.it_doses:
            for index in range(5):
                tick = dose_step * index
                painter.setPen(QPen(DOSE))
                painter.drawText(
                    QRectF(plot.right() + 4, y_dose(tick) - line / 2, right - 4, line),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    _number(tick),
                )
        # Axis titles in the series' colours: these are the legend.
        bold = QFont(painter.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QPen(SCORE))
        painter.drawText(QPointF(4, 6 + line), "● " + self.score_title())
        dose_title = self.dose_title()
        if dose_title:
            width = painter.fontMetrics().horizontalAdvance("— " + dose_title)
            painter.setPen(QPen(DOSE))
            painter.drawText(QPointF(self.width() - width - 6, 6 + line), "— " + dose_title)
        painter.setFont(self.font())
        # Time axis: about six evenly spaced dates.
        label_width = metrics.horizontalAdvance(format_date(series.start)) + 16
        ticks = max(2, min(7, int(plot.width() // label_width)))
        for index in range(ticks):
            day = date.fromordinal(series.start.toordinal() + round(span * index / (ticks - 1)))
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(x_day(day), plot.top()), QPointF(x_day(day), plot.bottom()))
            painter.setPen(text_pen)
            text = format_date(day)
            width = metrics.horizontalAdvance(text)
            edge = min(max(x_day(day) - width / 2, 0), self.width() - width)
            painter.drawText(QPointF(edge, plot.bottom() + 2 * line + 4), text)
        painter.setPen(QPen(self.palette().text().color(), 1))
        painter.drawRect(plot)

        small = QFont(painter.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        # Dose changes (dashed verticals) and refills (triangles on the time axis).
        painter.setFont(small)
        for at in series.dose_changes:
            painter.setPen(QPen(CHANGE, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x_at(at), plot.top()), QPointF(x_at(at), plot.bottom()))
        label_room = painter.fontMetrics().horizontalAdvance("R") + 10
        last_label = -math.inf
        for at in series.refills:
            cx, cy = x_at(at), plot.bottom() + line * 0.7
            painter.setPen(QPen(REFILL, 1))
            painter.setBrush(REFILL)
            painter.drawPolygon(
                QPolygonF([QPointF(cx, cy - 5), QPointF(cx - 4, cy + 2), QPointF(cx + 4, cy + 2)])
            )
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if cx - last_label >= 3 * label_room:  # frequent refills: label every few only
                painter.drawText(QPointF(cx + 5, cy + 3), self.tr("R"))
                last_label = cx
        # The IT dose as a step line from each fill to the next (and on to today).
        if series.it_doses:
            painter.setPen(QPen(DOSE, 2.5, Qt.PenStyle.SolidLine))
            points: list[QPointF] = []
            doses = list(series.it_doses)
            for index, (at, dose) in enumerate(doses):
                end = doses[index + 1][0].date() if index + 1 < len(doses) else series.end
                points += [QPointF(x_at(at), y_dose(dose)), QPointF(x_day(end), y_dose(dose))]
            painter.drawPolyline(QPolygonF(points))
            previous: float | None = None
            for at, dose in doses:
                if previous is None or abs(dose - previous) > 1e-9:
                    label = _number(dose)
                    if previous is not None:
                        label = ("↑ " if dose > previous else "↓ ") + label
                    painter.setPen(QPen(CHANGE if previous is not None else DOSE))
                    painter.drawText(QPointF(x_at(at) + 3, y_dose(dose) - 4), label)
                previous = dose
        # The score: a solid line with a filled dot and the value at each visit.
        if series.scores:
            painter.setPen(QPen(SCORE, 2))
            painter.drawPolyline(
                QPolygonF([QPointF(x_day(d), y_score(v)) for d, v in series.scores])
            )
            painter.setBrush(SCORE)
            for day, score in series.scores:
                point = QPointF(x_day(day), y_score(score))
                painter.drawEllipse(point, 4.5, 4.5)
                text = ASHWORTH_GRADES[int(score)] if spastic else f"{score:g}"
                width = painter.fontMetrics().horizontalAdvance(text)
                left_edge = min(max(point.x() - width / 2, plot.left() + 3), plot.right() - width)
                painter.drawText(QPointF(left_edge, point.y() - 8), text)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        # Today.
        if self._today is not None and series.start <= self._today <= series.end:
            painter.setPen(QPen(TODAY, 1, Qt.PenStyle.DotLine))
            xt = x_day(self._today)
            painter.drawLine(QPointF(xt, plot.top()), QPointF(xt, plot.bottom()))
            text = self.tr("Today")
            width = painter.fontMetrics().horizontalAdvance(text)
            painter.drawText(
                QPointF(min(xt + 3, plot.right() - width - 2), plot.bottom() - 4), text
            )
        # A key for the two marks that have no axis of their own.
        if series.dose_changes or series.refills:
            key = self.tr("▲R refill    ¦ dose change (↑/↓ new dose)")
            painter.setPen(text_pen)
            width = painter.fontMetrics().horizontalAdvance(key)
            painter.drawText(QPointF(plot.right() - width, plot.top() - 4), key)
        painter.setFont(self.font())
