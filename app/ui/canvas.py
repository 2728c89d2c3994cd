"""The canvas: the photo at full resolution, the result layer, the editable mask overlay and the
face boxes, with zoom and pan. Brush strokes edit the document's mask through app.maskedit and
end as one undo step each."""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

from app import maskedit

MASK_COLOUR = (255, 40, 90)  # the overlay's default colour
# Overlay colours offered when the default would not stand out from the photo.
CONTRASTING = ((255, 40, 90), (40, 220, 60), (30, 200, 255), (255, 220, 0), (60, 60, 255))


def contrasting_colour(pixels: np.ndarray, region: np.ndarray | None = None) -> tuple[int, int, int]:
    """The overlay colour, among CONTRASTING, farthest from the photo's colours in `region` (a bool
    map, e.g. the faces; the whole photo when None): a pink mask gets a green overlay."""
    sample = pixels[region] if region is not None and region.any() else pixels.reshape(-1, 3)
    sample = sample[:: max(1, len(sample) // 20000)].astype(np.float32)
    # The share of sampled pixels close to each candidate: the one the photo least resembles wins.
    near = [float((np.linalg.norm(sample - np.array(c, np.float32), axis=1) < 90).mean()) for c in CONTRASTING]
    return CONTRASTING[int(np.argmin(near))]


def local_files(event) -> list[Path]:
    """The local files a drag or drop carries (none for text, web links, ...)."""
    md = event.mimeData()
    return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()] if md.hasUrls() else []


def qimage_rgb(pixels: np.ndarray) -> QImage:
    """A QImage sharing an (H, W, 3) uint8 array (kept alive on the image object)."""
    pixels = np.ascontiguousarray(pixels)
    img = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format.Format_RGB888)
    img._keep = pixels  # type: ignore[attr-defined]
    return img


class ImageItem(QGraphicsItem):
    """Draws a QImage, only the exposed part: cheap on a 24-megapixel photo."""

    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.image = image
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def set_image(self, image: QImage) -> None:
        self.prepareGeometryChange()
        self.image = image
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.image.width(), self.image.height())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        r = option.exposedRect.toAlignedRect().intersected(self.image.rect())
        if not r.isEmpty():
            painter.drawImage(r.topLeft(), self.image, r)


class MaskOverlay(ImageItem):
    """The mask as a translucent colour; updated region by region as the brush moves."""

    def __init__(self, mask: np.ndarray, opacity: float = 0.5, colour: tuple[int, int, int] = MASK_COLOUR) -> None:
        h, w = mask.shape
        self.argb = np.zeros((h, w, 4), np.uint8)  # BGRA in memory = Format_ARGB32 on little-endian
        img = QImage(self.argb.data, w, h, self.argb.strides[0], QImage.Format.Format_ARGB32)
        super().__init__(img)
        self.mask = mask
        self.alpha = opacity
        self.set_colour(colour)

    def set_colour(self, colour: tuple[int, int, int]) -> None:
        self.colour = tuple(int(c) for c in colour)
        self.argb[..., 0], self.argb[..., 1], self.argb[..., 2] = self.colour[2], self.colour[1], self.colour[0]
        self.refresh()

    def set_opacity_level(self, opacity: float) -> None:
        self.alpha = float(np.clip(opacity, 0, 1))
        self.refresh()

    def refresh(self, rect: tuple[int, int, int, int] | None = None) -> None:
        x, y, w, h = rect or (0, 0, self.mask.shape[1], self.mask.shape[0])
        region = self.mask[y:y + h, x:x + w]
        self.argb[y:y + h, x:x + w, 3] = (region.astype(np.float32) * self.alpha).astype(np.uint8)
        # ARGB32 is not premultiplied: colour channels stay as they are.
        self.update(QRectF(x, y, w, h))


class Tool(str, Enum):
    """The canvas's tools; each has one handler object for press, move and release."""
    BRUSH = "brush"
    ERASER = "eraser"
    FACE = "face"
    PAN = "pan"


class Canvas(QGraphicsView):
    """Signals: stroke_finished(Patch) after a brush or eraser stroke; box_drawn(x0, y0, x1, y1)
    after a face box is drawn with the face tool; zoom_changed(factor)."""

    stroke_finished = Signal(object)
    box_drawn = Signal(float, float, float, float)
    zoom_changed = Signal(float)
    files_dropped = Signal(list)  # [Path]: photos dropped on the canvas

    TOOLS = tuple(t.value for t in Tool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.tool = Tool.BRUSH
        self._handlers = {Tool.BRUSH: PaintHandler(self, erase=False), Tool.ERASER: PaintHandler(self, erase=True),
                          Tool.FACE: BoxHandler(self), Tool.PAN: PanHandler()}
        self._active: PaintHandler | BoxHandler | PanHandler | None = None  # the handler of the drag under way
        self.brush_size = 30.0
        self.hardness = 0.8
        self.photo_item: ImageItem | None = None
        self.result_item: ImageItem | None = None
        self.overlay: MaskOverlay | None = None
        self.face_items: list[QGraphicsRectItem] = []
        self._space = False
        self._panning: QPointF | None = None
        self._hover: QPointF | None = None  # the cursor in scene coordinates, for the brush outline
        self.mask_colour = MASK_COLOUR
        self.setAcceptDrops(True)
        self.viewport().setMouseTracking(True)  # the outline follows the cursor without a button down

    # -- content -------------------------------------------------------------------------
    def set_photo(self, pixels: np.ndarray, mask: np.ndarray) -> None:
        self.scene().clear()
        self.face_items = []
        self.photo_item = ImageItem(qimage_rgb(pixels))
        self.scene().addItem(self.photo_item)
        self.result_item = ImageItem(qimage_rgb(pixels))
        self.result_item.setVisible(False)
        self.scene().addItem(self.result_item)
        self.overlay = MaskOverlay(mask, colour=self.mask_colour)
        self.scene().addItem(self.overlay)
        self.setSceneRect(QRectF(0, 0, pixels.shape[1], pixels.shape[0]))
        self.fit()

    def set_result(self, pixels: np.ndarray | None) -> None:
        if self.result_item is None:
            return
        if pixels is None:
            self.result_item.setVisible(False)
        else:
            self.result_item.set_image(qimage_rgb(pixels))
            self.result_item.setVisible(True)

    def show_original(self, on: bool) -> None:
        """Compare: hide the result layer (and the mask) while on."""
        if self.result_item is not None and self.result_item.image is not None:
            self.result_item.setOpacity(0.0 if on else 1.0)

    def set_faces(self, boxes: list[tuple[float, float, float, float]], included: list[bool]) -> None:
        for item in self.face_items:
            self.scene().removeItem(item)
        self.face_items = []
        for (x0, y0, x1, y1), inc in zip(boxes, included):
            item = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            pen = QPen(QColor(80, 220, 120) if inc else QColor(160, 160, 160), 0)
            pen.setCosmetic(True)
            pen.setWidth(2)
            if not inc:
                pen.setStyle(Qt.PenStyle.DashLine)
            item.setPen(pen)
            item.setZValue(10)
            self.scene().addItem(item)
            self.face_items.append(item)

    def refresh_mask(self, rect=None) -> None:
        if self.overlay is not None:
            self.overlay.refresh(rect)

    # -- zoom and pan --------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = float(np.clip(factor, 0.01, 32.0))
        self.setTransform(self.transform().fromScale(factor, factor))
        self.zoom_changed.emit(factor)

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom * step)

    def fit(self) -> None:
        if self.photo_item is not None:
            self.fitInView(self.photo_item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def set_mask_colour(self, colour: tuple[int, int, int]) -> None:
        self.mask_colour = tuple(int(c) for c in colour)
        if self.overlay is not None:
            self.overlay.set_colour(self.mask_colour)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom about the point under the cursor: it stays under the cursor."""
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        at = event.position()
        fixed = self.mapToScene(at.toPoint())
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.zoom_by(1.25 ** steps)
        self.setTransformationAnchor(anchor)
        # Scroll so that `fixed` is under the cursor again.
        centre = QPointF(self.viewport().width() / 2, self.viewport().height() / 2)
        self.centerOn(fixed - (at - centre) / self.zoom)
        self.viewport().update()

    # -- the brush outline ---------------------------------------------------------------
    def brush_outline(self) -> tuple[QPointF, float, float] | None:
        """(centre in scene coordinates, radius, hardness radius) of the outline drawn at the
        cursor for the brush and the eraser, or None when it is not shown."""
        if self._hover is None or self.tool not in (Tool.BRUSH, Tool.ERASER) or self.overlay is None or self._space:
            return None
        r = self.brush_size / 2
        return self._hover, r, r * self.hardness

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        outline = self.brush_outline()
        if outline is None:
            return
        c, r, inner = outline
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for colour, width in ((QColor(0, 0, 0, 200), 3), (QColor(255, 255, 255, 230), 1)):  # visible on any photo
            pen = QPen(colour, width)
            pen.setCosmetic(True)  # the same line width at any zoom; the circle itself follows the zoom
            painter.setPen(pen)
            painter.drawEllipse(c, r, r)
        if 0 < inner < r:  # where the brush stops being full strength
            pen = QPen(QColor(255, 255, 255, 160), 1, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawEllipse(c, inner, inner)

    def _set_hover(self, pos: QPointF | None) -> None:
        old = self.brush_outline()
        self._hover = pos
        new = self.brush_outline()
        for o in (old, new):  # repaint only around the old and the new outline
            if o is not None:
                pad = o[1] + 4 / max(self.zoom, 1e-3)
                self.scene().update(QRectF(o[0].x() - pad, o[0].y() - pad, 2 * pad, 2 * pad))
        cursor = Qt.CursorShape.CrossCursor if new is not None else None
        if cursor is None:
            self.viewport().unsetCursor()
        else:
            self.viewport().setCursor(cursor)

    def set_tool(self, tool: str | Tool) -> None:
        self.tool = Tool(tool)
        self._set_hover(self._hover)

    def set_brush(self, size: float | None = None, hardness: float | None = None) -> None:
        if size is not None:
            self.brush_size = float(size)
        if hardness is not None:
            self.hardness = float(hardness)
        self._set_hover(self._hover)

    def leaveEvent(self, event) -> None:
        self._set_hover(None)
        super().leaveEvent(event)

    # -- dropping photos -----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if local_files(event):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # the scene has no drop targets: accept over the whole view
        if local_files(event):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        files = local_files(event)
        if files:
            event.acceptProposedAction()
            self.files_dropped.emit(files)
        else:
            super().dropEvent(event)

    # -- input ---------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._set_hover(self._hover)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            self._set_hover(self._hover)
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton and
                                                             (self._space or self.tool == Tool.PAN)):
            self._panning = event.position()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.overlay is not None:
            self._active = self._handlers[self.tool]
            self._active.press(self.mapToScene(event.position().toPoint()))

    def mouseMoveEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        self._set_hover(pos)
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
        elif self._active is not None:
            self._active.move(pos)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning is not None:
            self._panning = None
        elif self._active is not None:
            active, self._active = self._active, None
            active.release(self.mapToScene(event.position().toPoint()))


class PaintHandler:
    """Brush and eraser: dabs along the drag; on release, the changed patch as one undo step."""

    def __init__(self, canvas: Canvas, erase: bool) -> None:
        self.canvas, self.erase = canvas, erase
        self.before: np.ndarray | None = None
        self.last: tuple[float, float] | None = None

    def dab(self, x: float, y: float) -> None:
        c = self.canvas
        rect = maskedit.dab(c.overlay.mask, x, y, c.brush_size / 2, c.hardness, erase=self.erase)
        if rect is not None:
            c.overlay.refresh(rect)

    def press(self, pos: QPointF) -> None:
        self.before = self.canvas.overlay.mask.copy()
        self.last = (pos.x(), pos.y())
        self.dab(*self.last)

    def move(self, pos: QPointF) -> None:
        p = (pos.x(), pos.y())
        for q in maskedit.stroke_points(self.last, p, self.canvas.brush_size / 2):
            self.dab(*q)
        self.last = p

    def release(self, pos: QPointF) -> None:
        before, self.before, self.last = self.before, None, None
        patch = maskedit.diff_patch(before, self.canvas.overlay.mask)
        if patch is not None:
            self.canvas.stroke_finished.emit(patch)


class BoxHandler:
    """The face tool: drag a box; on release, box_drawn if it is at least 8 px each way."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.start: QPointF | None = None
        self.item: QGraphicsRectItem | None = None

    def press(self, pos: QPointF) -> None:
        self.start = pos
        self.item = QGraphicsRectItem()
        pen = QPen(QColor(255, 200, 0), 0)
        pen.setCosmetic(True)
        pen.setWidth(2)
        self.item.setPen(pen)
        self.canvas.scene().addItem(self.item)

    def move(self, pos: QPointF) -> None:
        self.item.setRect(QRectF(self.start, pos).normalized())

    def release(self, pos: QPointF) -> None:
        r = self.item.rect()
        self.canvas.scene().removeItem(self.item)
        self.start, self.item = None, None
        if r.width() >= 8 and r.height() >= 8:
            self.canvas.box_drawn.emit(r.left(), r.top(), r.right(), r.bottom())


class PanHandler:
    """The hand: the canvas pans for any tool with Space or the middle button; nothing else to do."""

    def press(self, pos: QPointF) -> None: ...

    def move(self, pos: QPointF) -> None: ...

    def release(self, pos: QPointF) -> None: ...
