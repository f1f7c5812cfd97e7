"""The reservoir chart: volume in the pump over time since implant, drawn with QPainter.

Each fill is a dot at the volume after filling; from it the expected decline at nominal flow
(solid) and at worst-case flow (dashed) runs to the next fill; measured residuals are hollow
squares; the reserve is a dotted line, today and the next due date are vertical markers. Every
series differs by line style or marker shape as well as colour, and a legend names them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from pathway_app.services.refill_views import ReservoirSeries
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_date, named

NOMINAL = QColor("#1f5fa8")
WORST = QColor("#b3261e")
FILL = QColor("#1b6e3a")
RESIDUAL = QColor("#6b3fa0")
RESERVE = QColor("#8a6d00")
TODAY = QColor("#333333")
GRID = QColor("#d9d9d9")


class ReservoirChart(QWidget):
    """Shows a `ReservoirSeries`; an accessible description summarises it in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, names.RESERVOIR_CHART, self.tr("Reservoir chart"))
        self._series: ReservoirSeries | None = None
        self.setMinimumSize(360, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def sizeHint(self) -> QSize:
        return QSize(560, 280)

    def set_series(self, series: ReservoirSeries | None) -> None:
        self._series = series
        if series is None:
            self.setAccessibleDescription(self.tr("No pump recorded."))
        else:
            self.setAccessibleDescription(
                self.tr("%1 fills since %2; reservoir %3 mL, reserve %4 mL; next due %5.")
                .replace("%1", str(len(series.fills)))
                .replace("%2", format_date(series.start.date()))
                .replace("%3", f"{series.reservoir_ml:g}")
                .replace("%4", f"{series.reserve_ml:g}")
                .replace("%5", format_date(series.due_at.date() if series.due_at else None))
            )
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        series = self._series
        if series is None:
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("No pump recorded yet.")
            )
            return
        metrics = painter.fontMetrics()
        line = metrics.height()
        legend_height = line + 8
        left = metrics.horizontalAdvance("00 mL") + 12
        plot = QRectF(left, 8 + legend_height, self.width() - left - 12, 0)
        plot.setBottom(self.height() - 2 * line - 10)
        if plot.width() < 40 or plot.height() < 40:
            return
        span = (series.end - series.start) / timedelta(days=1) or 1.0
        top_ml = series.reservoir_ml * 1.05

        def x(at: datetime) -> float:
            return plot.left() + (at - series.start) / timedelta(days=1) / span * plot.width()

        def y(ml: float) -> float:
            return plot.bottom() - ml / top_ml * plot.height()

        text_pen = QPen(self.palette().text().color())
        # Axes and grid: volume every 5 or 10 mL, dates at about six evenly spaced days.
        step = 5.0 if series.reservoir_ml <= 30 else 10.0
        ml = 0.0
        while ml <= series.reservoir_ml + 0.01:
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(plot.left(), y(ml)), QPointF(plot.right(), y(ml)))
            painter.setPen(text_pen)
            painter.drawText(
                QRectF(0, y(ml) - line / 2, left - 6, line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self.tr("%1 mL").replace("%1", f"{ml:g}"),
            )
            ml += step
        label_width = metrics.horizontalAdvance(format_date(series.start.date())) + 16
        ticks = max(2, min(7, int(plot.width() // label_width)))
        for index in range(ticks):
            at = series.start + timedelta(days=span * index / (ticks - 1))
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(x(at), plot.top()), QPointF(x(at), plot.bottom()))
            painter.setPen(text_pen)
            text = format_date(at.date())
            width = metrics.horizontalAdvance(text)
            left_edge = min(max(x(at) - width / 2, 0), self.width() - width)
            painter.drawText(QPointF(left_edge, plot.bottom() + line + 2), text)
        painter.setPen(QPen(self.palette().text().color(), 1))
        painter.drawRect(plot)

        # Reserve line (dotted) and the reservoir size.
        painter.setPen(QPen(RESERVE, 1.5, Qt.PenStyle.DotLine))
        painter.drawLine(
            QPointF(plot.left(), y(series.reserve_ml)), QPointF(plot.right(), y(series.reserve_ml))
        )

        for lines, colour, style in (
            (series.worst_case, WORST, Qt.PenStyle.DashLine),
            (series.nominal, NOMINAL, Qt.PenStyle.SolidLine),
        ):
            painter.setPen(QPen(colour, 2, style))
            for chart_line in lines:
                painter.drawPolyline(QPolygonF([QPointF(x(t), y(v)) for t, v in chart_line.points]))

        painter.setPen(QPen(FILL, 1))
        painter.setBrush(FILL)
        for at, volume in series.fills:
            painter.drawEllipse(QPointF(x(at), y(volume)), 4, 4)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(RESIDUAL, 2))
        for at, volume in series.residuals:
            painter.drawRect(QRectF(x(at) - 4, y(volume) - 4, 8, 8))

        small = QFont(painter.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.9))
        painter.setFont(small)
        markers: list[tuple[datetime | None, QColor, str, Qt.PenStyle]] = [
            (series.now, TODAY, self.tr("Today"), Qt.PenStyle.SolidLine),
            (series.due_at, WORST, self.tr("Due"), Qt.PenStyle.DashDotLine),
        ]
        for when, colour, text, style in markers:
            if when is None or not series.start <= when <= series.end:
                continue
            painter.setPen(QPen(colour, 1.5, style))
            painter.drawLine(QPointF(x(when), plot.top()), QPointF(x(when), plot.bottom()))
            painter.drawText(QPointF(x(when) + 3, plot.top() + line), text)
        painter.setFont(self.font())

        # Legend: a sample of each series followed by its name, wrapped to the width.
        entries = (
            (self.tr("Fill"), "dot", FILL, Qt.PenStyle.SolidLine),
            (self.tr("Nominal flow"), "line", NOMINAL, Qt.PenStyle.SolidLine),
            (self.tr("Worst case"), "line", WORST, Qt.PenStyle.DashLine),
            (self.tr("Measured residual"), "square", RESIDUAL, Qt.PenStyle.SolidLine),
            (self.tr("Reserve"), "line", RESERVE, Qt.PenStyle.DotLine),
        )
        cursor = plot.left()
        base = 8 + line * 0.75
        for text, shape, colour, style in entries:
            width = 22 + metrics.horizontalAdvance(text) + 14
            if cursor + width > self.width():
                break
            middle = base - line * 0.3
            if shape == "dot":
                painter.setPen(QPen(colour, 1))
                painter.setBrush(colour)
                painter.drawEllipse(QPointF(cursor + 9, middle), 4, 4)
                painter.setBrush(Qt.BrushStyle.NoBrush)
            elif shape == "square":
                painter.setPen(QPen(colour, 2))
                painter.drawRect(QRectF(cursor + 5, middle - 4, 8, 8))
            else:
                painter.setPen(QPen(colour, 2, style))
                painter.drawLine(QPointF(cursor, middle), QPointF(cursor + 18, middle))
            painter.setPen(text_pen)
            painter.drawText(QPointF(cursor + 22, base), text)
            cursor += width
