"""The toolbar's icons, drawn with QPainter: no image files to ship or to lose in a bundle, sharp
at any screen scale, and in one plain style."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

INK = QColor(60, 60, 60)
ACCENT = QColor(255, 40, 90)


def _draw(name: str, p: QPainter) -> None:
    pen = QPen(INK, 2.2)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    if name == "open":  # a folder
        path = QPainterPath()
        path.moveTo(3, 7)
        path.lineTo(10, 7)
        path.lineTo(12, 9)
        path.lineTo(21, 9)
        path.lineTo(21, 19)
        path.lineTo(3, 19)
        path.closeSubpath()
        p.drawPath(path)
    elif name == "export":  # an arrow out of a tray
        p.drawLine(12, 3, 12, 14)
        p.drawLine(8, 7, 12, 3)
        p.drawLine(16, 7, 12, 3)
        p.drawPolyline([QPointF(4, 13), QPointF(4, 20), QPointF(20, 20), QPointF(20, 13)])
    elif name == "brush":  # a filled dab
        p.setBrush(ACCENT)
        p.drawEllipse(QPointF(12, 12), 7, 7)
    elif name == "eraser":  # an empty dab, crossed
        p.drawEllipse(QPointF(12, 12), 7, 7)
        p.drawLine(7, 17, 17, 7)
    elif name == "face":  # a box around a face
        p.setPen(QPen(QColor(80, 200, 110), 2.2))
        p.drawRect(QRectF(4, 4, 16, 16))
        p.setPen(pen)
        p.drawEllipse(QPointF(12, 12), 4.5, 5.5)
    elif name == "pan":  # four arrows
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            tip = QPointF(12 + 8 * dx, 12 + 8 * dy)
            p.drawLine(QPointF(12, 12), tip)
            p.drawLine(tip, tip - QPointF(3 * dx + 3 * dy, 3 * dy + 3 * dx))
            p.drawLine(tip, tip - QPointF(3 * dx - 3 * dy, 3 * dy - 3 * dx))
    elif name == "unmask":  # a face with the lower half filled in
        p.drawEllipse(QPointF(12, 12), 7.5, 9)
        p.setBrush(ACCENT)
        p.drawChord(QRectF(4.5, 3, 15, 18), 180 * 16, 180 * 16)
    else:
        raise KeyError(f"no icon named {name!r}")


def icon(name: str) -> QIcon:
    out = QIcon()
    for scale in (1, 2):  # crisp on high-DPI screens
        pm = QPixmap(24 * scale, 24 * scale)
        pm.setDevicePixelRatio(scale)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        _draw(name, p)
        p.end()
        out.addPixmap(pm)
    return out
