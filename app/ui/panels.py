"""The editor's side panels and the mask overlay's colour, each a small view of the document."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QListWidget, QListWidgetItem

from app import maskedit
from app.pipeline import NO_MASK_TEXT
from app.ui.canvas import contrasting_colour

NO_MASK_TIP = ("Stage 1 found no mask on this face, so it will not be changed. "
               "Paint a mask on it with the brush (B) to fill it anyway.")


class FaceList(QListWidget):
    """One row a face, ticked when included; stage 1's "no mask found" shows on its row.
    Signal: included_changed(row, ticked) when the user ticks or unticks a face."""

    included_changed = Signal(int, bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.itemChanged.connect(lambda item: self.included_changed.emit(
            self.row(item), item.checkState() == Qt.CheckState.Checked))

    def show_faces(self, faces: list, included: list[bool]) -> None:
        self.blockSignals(True)
        self.clear()
        for i, (f, inc) in enumerate(zip(faces, included)):
            no_mask = f.mask_found is False
            item = QListWidgetItem(f"Face {i + 1}" + (" (drawn)" if f.manual else "")
                                   + (f": {NO_MASK_TEXT}" if no_mask else ""))
            if no_mask:
                item.setToolTip(NO_MASK_TIP)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if inc else Qt.CheckState.Unchecked)
            self.addItem(item)
        self.blockSignals(False)


class OverlayColour:
    """The mask overlay's colour: the user's choice, kept in the settings ("mask/colour": 'auto' or
    a colour name such as '#30c8ff'), or, when automatic, one that contrasts with the faces."""

    def __init__(self, canvas, settings, auto_action) -> None:
        self.canvas, self.settings, self.auto_action = canvas, settings, auto_action
        self.auto_action.setChecked(self.settings.value("mask/colour", "auto") == "auto")
        self.doc = None

    def update(self, doc=None) -> None:
        self.doc = doc or self.doc
        chosen = self.settings.value("mask/colour", "auto")
        if chosen != "auto" and QColor(chosen).isValid():
            c = QColor(chosen)
            self.canvas.set_mask_colour((c.red(), c.green(), c.blue()))
        elif self.doc is not None:
            boxes = self.doc.boxes()
            region = maskedit.face_region(self.doc.mask.shape, boxes) if boxes else None
            self.canvas.set_mask_colour(contrasting_colour(self.doc.original, region))

    def choose(self, parent) -> None:
        c = QColorDialog.getColor(QColor(*self.canvas.mask_colour), parent, "Mask overlay colour")
        if c.isValid():
            self.set(c.name())

    def auto_toggled(self) -> None:
        self.set("auto" if self.auto_action.isChecked() else QColor(*self.canvas.mask_colour).name())

    def set(self, value: str) -> None:
        self.settings.setValue("mask/colour", value)
        self.auto_action.setChecked(value == "auto")
        self.update()
