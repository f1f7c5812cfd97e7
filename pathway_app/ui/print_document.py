"""Issue 8: paginated printing of an HTML `QTextDocument` with a running header and page
numbers, to a PDF (`QPdfWriter`) or to any `QPagedPaintDevice` such as a `QPrinter` chosen in
the print dialog. Used by the pathway summary and the refill card. `page_image` paints one page
the same way into an image (previews and tests)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QFont,
    QFontMetricsF,
    QImage,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPaintDevice,
    QPainter,
    QPdfWriter,
    QTextDocument,
)

PDF_RESOLUTION = 300  # dots per inch of the PDF's layout; text stays vector text


@dataclass(frozen=True)
class Furniture:
    """What every page repeats: the header's two sides and the footer's left side."""

    header_left: str
    header_right: str
    footer_left: str


def new_pdf_writer(
    buffer: QBuffer,
    title: str,
    *,
    size: QPageSize.PageSizeId = QPageSize.PageSizeId.A4,
    margin_mm: float = 14,
) -> QPdfWriter:
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION)
    writer.setTitle(title)
    writer.setCreator("Care Pathway Tracker")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(size),
            QPageLayout.Orientation.Portrait,
            QMarginsF(margin_mm, margin_mm * 0.8, margin_mm, margin_mm * 0.8),
            QPageLayout.Unit.Millimeter,
        )
    )
    return writer


class _Pager:
    """Lays the document out for a body of `width` x `height` device pixels."""

    def __init__(self, document: QTextDocument, device: QPaintDevice, width: float, height: float):
        self.document = document
        self.width = width
        self.height = height
        document.documentLayout().setPaintDevice(device)
        self.small = QFont(document.defaultFont())
        self.small.setPointSizeF(7.5)
        # Measured for the device without painting on it: beginning a painter on a PDF writer
        # starts the file, so a second painter would write a second PDF into the same buffer.
        self.line = QFontMetricsF(self.small, device).height()
        self.band = self.line * 2.2
        self.body = height - 2 * self.band
        document.setPageSize(QSizeF(width, self.body))
        self.pages = max(1, document.pageCount())

    def paint(self, painter: QPainter, index: int, furniture: Furniture) -> None:
        width, line = self.width, self.line
        painter.setFont(self.small)
        painter.setPen(Qt.GlobalColor.black)
        painter.drawText(
            QRectF(0, 0, width, line), Qt.AlignmentFlag.AlignLeft, furniture.header_left
        )
        painter.drawText(
            QRectF(0, 0, width, line), Qt.AlignmentFlag.AlignRight, furniture.header_right
        )
        painter.drawLine(0, int(line * 1.4), int(width), int(line * 1.4))
        bottom = self.height - line
        painter.drawLine(0, int(bottom - line * 0.4), int(width), int(bottom - line * 0.4))
        painter.drawText(
            QRectF(0, bottom, width, line), Qt.AlignmentFlag.AlignLeft, furniture.footer_left
        )
        painter.drawText(
            QRectF(0, bottom, width, line),
            Qt.AlignmentFlag.AlignRight,
            f"Page {index + 1} of {self.pages}",
        )
        painter.save()
        painter.translate(0, self.band - index * self.body)
        self.document.drawContents(painter, QRectF(0, index * self.body, width, self.body))
        painter.restore()


def print_document(document: QTextDocument, device: QPagedPaintDevice, furniture: Furniture) -> int:
    """Lay `document` out on the device's printable area, one page after another, each with
    the header and "Page n of N". Returns the number of pages."""
    area = QRectF(device.pageLayout().paintRectPixels(device.logicalDpiX()))
    pager = _Pager(document, device, area.width(), area.height())
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("The printer or PDF file could not be opened for painting.")
    try:
        for index in range(pager.pages):
            if index:
                device.newPage()
            pager.paint(painter, index, furniture)
        return pager.pages
    finally:
        painter.end()


def page_image(
    document: QTextDocument,
    furniture: Furniture,
    index: int = 0,
    *,
    size: QPageSize.PageSizeId = QPageSize.PageSizeId.A4,
    dpi: int = 100,
    margin_mm: float = 14,
) -> QImage:
    """Page `index` painted as on paper into a white image of the page at `dpi`."""
    layout = QPageLayout(
        QPageSize(size),
        QPageLayout.Orientation.Portrait,
        QMarginsF(margin_mm, margin_mm * 0.8, margin_mm, margin_mm * 0.8),
        QPageLayout.Unit.Millimeter,
    )
    full = layout.fullRectPixels(dpi)
    paint = QRectF(layout.paintRectPixels(dpi))
    image = QImage(full.width(), full.height(), QImage.Format.Format_RGB32)
    image.setDotsPerMeterX(round(dpi / 0.0254))
    image.setDotsPerMeterY(round(dpi / 0.0254))
    image.fill(Qt.GlobalColor.white)
    pager = _Pager(document, image, paint.width(), paint.height())
    painter = QPainter(image)
    try:
        painter.translate(paint.topLeft())
        pager.paint(painter, min(index, pager.pages - 1), furniture)
    finally:
        painter.end()
    return image


def pdf_bytes(
    document: QTextDocument,
    title: str,
    furniture: Furniture,
    *,
    size: QPageSize.PageSizeId = QPageSize.PageSizeId.A4,
    margin_mm: float = 14,
) -> tuple[bytes, int]:
    """The document as PDF bytes, and its page count."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = new_pdf_writer(buffer, title, size=size, margin_mm=margin_mm)
    pages = print_document(document, writer, furniture)
    del writer  # flushes the PDF into the buffer
    buffer.close()
    return bytes(data.data()), pages
