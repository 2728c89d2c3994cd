"""The editor's main window: the view and controller of one `Document` (app/document.py). It shows
the photo, its faces and stage 1's mask, turns the user's actions into the document's edits (on
the undo stack) and runs the model work (app/pipeline.py) in a worker thread. Widgets and actions
are built in `window_ui.py`."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication, QImage, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from app import document
from app.document import Document, Edit
from app.errors import UnmaskerError
from app.imageio import Photo, default_output_path, read_photo
from app.models import Models
from app.pipeline import no_face_text
from app.ui import dialogs
from app.ui.canvas import Canvas, local_files
from app.ui.window_ui import setup_ui
from app.ui.jobs import PhotoJobs

log = logging.getLogger(__name__)
MASK_OPS = {"grow": lambda d: d.grow_mask(3), "shrink": lambda d: d.grow_mask(-3), "clear": Document.clear_mask,
            "invert": Document.invert_mask}


class EditCommand(QUndoCommand):
    """One document edit on Qt's undo stack (and in the History list)."""

    def __init__(self, doc: Document, edit: Edit) -> None:
        super().__init__(edit.text)
        self.doc, self.edit = doc, edit

    def redo(self) -> None:
        self.doc.apply(self.edit)

    def undo(self) -> None:
        self.doc.revert(self.edit)


class MainWindow(QMainWindow):
    def __init__(self, engine_factory=None, finder_factory=None) -> None:
        super().__init__()
        self.setWindowTitle("Unmasker")
        self.setAcceptDrops(True)
        self.settings = QSettings()
        self.models = Models(engine_factory, finder_factory)
        self.jobs = PhotoJobs(self.models, self)
        self.doc: Document | None = None
        self.batch_dialog = None
        self.undo = QUndoStack(self)
        self.last_error = ""  # the last message shown in a dialog (tests read it)

        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        setup_ui(self)
        self.undo.indexChanged.connect(lambda _i: self._update_title())  # every edit, also after an export
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        else:
            self.resize(1200, 800)
        self._update_enabled()

    # -- the document --------------------------------------------------------------------
    def push(self, edit: Edit | None) -> None:
        if edit is not None:
            self.undo.push(EditCommand(self.doc, edit))

    def _doc_changed(self, what: str, rect) -> None:
        if what == document.MASK:
            self.canvas.refresh_mask(rect)
        elif what == document.FACES:
            self.faces_changed()
        elif what == document.RESULT:
            self.canvas.set_result(self.doc.result)
            self._update_enabled()

    def _update_title(self) -> None:
        if not shiboken6.isValid(self.undo):  # signals still arriving while the window is destroyed
            return
        d = self.doc
        name = "" if d is None else d.path.name if d.path else "pasted photo"
        dirty = "*" if self.has_unexported_changes() else ""
        self.setWindowTitle(f"{name}{dirty} - Unmasker" if name else "Unmasker")

    def has_unexported_changes(self) -> bool:
        return self.doc is not None and self.doc.has_unexported_changes

    def _update_enabled(self) -> None:
        has, busy = self.doc is not None, self.job is not None
        for a in (self.export_action, self.detect_action, self.unmask_action, self.grow_action, self.shrink_action,
                  self.clear_action, self.invert_action, self.import_mask_action, self.export_mask_action):
            a.setEnabled(has and not busy)
        self.export_action.setEnabled(has and not busy and self.doc.result is not None)
        self.cancel_action.setEnabled(busy)
        self.open_action.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    # -- view ----------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        for name, a in self.tool_actions.items():
            a.setChecked(name == tool)
        if tool in ("brush", "eraser"):
            self.show_mask(True)  # painting a mask you cannot see helps nobody

    def set_brush_size(self, size: float) -> None:
        self.canvas.set_brush(size=float(np.clip(size, 2, 400)))
        if self.size_slider.value() != int(self.canvas.brush_size):
            self.size_slider.blockSignals(True)
            self.size_slider.setValue(int(self.canvas.brush_size))
            self.size_slider.blockSignals(False)

    def set_mask_opacity(self, value: int) -> None:
        if self.canvas.overlay is not None:
            self.canvas.overlay.set_opacity_level(value / 100)

    def toggle_mask(self) -> None:
        if self.canvas.overlay is not None:
            self.canvas.overlay.setVisible(self.toggle_mask_action.isChecked())

    def show_mask(self, on: bool) -> None:
        self.toggle_mask_action.setChecked(on)
        self.toggle_mask()

    def compare(self, on: bool) -> None:
        """While on, the original photo shows instead of the result (and the mask hides)."""
        self.canvas.show_original(on)
        if self.canvas.overlay is not None:
            self.canvas.overlay.setVisible(not on and self.toggle_mask_action.isChecked())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            return self.compare(True)
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            return self.compare(False)
        super().keyReleaseEvent(event)

    def _message(self, text: str) -> None:
        self.status_text.setText(text)

    def _error(self, title: str, text: str) -> None:
        self.last_error = text
        log.warning("%s: %s", title, text)
        if QApplication.platformName() != "offscreen":  # offscreen: no one to click it; tests read last_error
            QMessageBox.warning(self, title, text)

    def _info(self, title: str, text: str) -> None:
        if QApplication.platformName() != "offscreen":
            QMessageBox.information(self, title, text)

    def faces_changed(self) -> None:
        d = self.doc
        self.face_list.show_faces(d.faces if d else [], d.included if d else [])
        self.canvas.set_faces(d.boxes() if d else [], d.included if d else [])
        self._update_enabled()

    # -- opening and closing -------------------------------------------------------------
    def open_dialog(self) -> None:
        path = dialogs.ask_photo(self, "Open a photo", self.settings.value("paths/open", str(Path.home())))
        if path:
            self.open_path(path)

    def open_path(self, path: Path) -> bool:
        if not self._confirm_discard():
            return False
        try:
            photo = read_photo(path)
        except UnmaskerError as e:
            self._error("Cannot open the photo", str(e))
            return False
        self.settings.setValue("paths/open", str(Path(path).parent))
        dialogs.remember_recent(self.settings, Path(path))
        self._fill_recent()
        self._load(photo, Path(path))
        return True

    def paste(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            return self._error("Nothing to paste", "The clipboard holds no image.")
        if not self._confirm_discard():
            return
        img = image.convertToFormat(QImage.Format.Format_RGB888)
        w, h, stride = img.width(), img.height(), img.bytesPerLine()
        arr = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)[:, : w * 3]
        self._load(Photo(pixels=arr.reshape(h, w, 3).copy()), None)

    def _load(self, photo: Photo, path: Path | None) -> None:
        self.undo.clear()
        self.doc = Document(photo, path)
        self.doc.listeners.append(self._doc_changed)
        self.overlay_colour.update(self.doc)
        self.canvas.set_photo(self.doc.original, self.doc.mask)
        self.faces_changed()
        self._update_title()
        self.detect(initial=True)

    def _fill_recent(self) -> None:
        dialogs.fill_recent(self.recent_menu, self.settings, self.open_path)

    def dragEnterEvent(self, event) -> None:  # on the window's frame; the canvas takes its own drops
        if local_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = local_files(event)
        if files:
            self.open_path(files[0])

    def unexported_changes_box(self):
        return dialogs.unexported_changes_box(self, self.doc is not None and self.doc.result is not None)

    def _confirm_discard(self) -> bool:
        if not self.has_unexported_changes() or QApplication.platformName() == "offscreen":
            return True
        box, export, discard = self.unexported_changes_box()
        box.exec()
        if box.clickedButton() is export:
            self.export_dialog()
            return not self.has_unexported_changes()  # exported: go on; the export dialog cancelled: stay
        return box.clickedButton() is discard

    def closeEvent(self, event) -> None:
        if not self._confirm_discard():
            return event.ignore()
        self.jobs.stop()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        event.accept()

    # -- model work ----------------------------------------------------------------------
    def engine(self):
        return self.models.engine()

    def finder(self):
        return self.models.finder()

    @property
    def job(self):
        """The model work under way, or None."""
        return self.jobs.job

    def _busy_changed(self, busy: bool) -> None:
        self._update_enabled()
        if not busy and self.models.loaded_engine is not None:
            from app.inference.device import describe_device

            self.device_label.setText(describe_device(self.models.loaded_engine.device))

    def cancel_job(self) -> None:
        self.jobs.cancel()

    def _for(self, done):
        """A job's answer applies to the photo it was asked for, if that is still open."""
        doc = self.doc
        return lambda out: done(out) if doc is self.doc else None

    def detect(self, initial: bool = False) -> None:
        """Find the faces and stage 1's masks. What a photo opens with is its starting state, not
        an undo step."""
        if self.doc is not None:
            self.jobs.find_faces(self.doc.original, self._for(lambda out: self._detected(out, initial)))

    def _detected(self, out, initial: bool) -> None:
        faces, mask, problem = out
        edit = self.doc.found_faces(faces, mask)
        if initial:
            self.doc.apply(edit, record=False)
            self.overlay_colour.update(self.doc)  # (now that the faces are known)
        else:
            self.push(edit)
        if not faces:
            self._error("No face found", f"{no_face_text(self.finder(), self.doc.original.shape).capitalize()}. "
                        "Draw a face box by hand with the face tool (F).")
        elif problem:
            self._error("No mask found", problem)
        self._message(f"{len(faces)} face(s) found." if faces else "No face found.")

    def add_face_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.doc is not None:
            self.jobs.face_in_box(self.doc.original, (x0, y0, x1, y1),
                                  self._for(lambda out: self.push(self.doc.added_face(*out))))

    def unmask(self) -> None:
        if self.doc is None or self.job is not None:
            return
        faces = self.doc.selected_faces()
        if not faces:
            return self._error("No face to unmask",
                               "No face is selected. Find faces again, tick one, or draw a face box (F).")
        if not (self.doc.mask > 127).any():
            return self._error("The mask is empty", "Paint the mask over what should be filled (brush, B), then unmask.")
        self.jobs.unmask(self.doc.original, faces, self.doc.mask.copy(), self._for(self._unmasked))

    def _unmasked(self, out) -> None:
        pixels, notes = out
        self.push(self.doc.unmasked(pixels))
        self.show_mask(False)  # the result, not the mask over it (M shows it again)
        self._message("Done. " + " ".join(notes) + " Hold \\ or the compare button to see the original; "
                      "M shows the mask.")
        for n in notes:
            self._error("Unmasker", n[0].upper() + n[1:] + ".")

    # -- mask operations and files -------------------------------------------------------
    def mask_op(self, name: str) -> None:
        """grow, shrink, clear or invert (within the ticked faces)."""
        if self.doc is not None:
            try:
                self.push(MASK_OPS[name](self.doc))
            except UnmaskerError as e:
                self._error("No face", str(e))

    def import_mask(self) -> None:
        path = dialogs.ask_photo(self, "Import a mask (white = fill)", str(self.doc.path.parent if self.doc.path else ""))
        if path:
            self.import_mask_from(path)

    def import_mask_from(self, path: Path) -> bool:
        try:
            self.push(self.doc.import_mask(path))
        except UnmaskerError as e:
            self._error("Cannot import the mask", str(e))
            return False
        return True

    def export_mask(self) -> None:
        base = self.doc.path.with_name(self.doc.path.stem + "_mask.png") if self.doc.path else Path.home() / "mask.png"
        path = dialogs.ask_save(self, "Export the mask", base)
        if path:
            self.export_mask_to(path, overwrite=True)

    def export_mask_to(self, path: Path, overwrite: bool = False) -> bool:
        try:
            self.doc.export_mask(path, overwrite=overwrite)
        except UnmaskerError as e:
            self._error("Cannot export the mask", str(e))
            return False
        return True

    # -- batch and export ----------------------------------------------------------------
    def show_batch(self) -> None:
        from app.ui.batch_dialog import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self)
            self.batch_dialog.open_in_editor.connect(self.open_batch_result)
        self.batch_dialog.show()
        self.batch_dialog.raise_()

    def open_batch_result(self, source: str, output: str) -> None:
        """A batch result to fix by hand: the original opens, and Export offers the batch's output."""
        if self.open_path(Path(source)):
            self.doc.export_target = Path(output) if output else None

    def default_export_path(self) -> Path:
        if self.doc.export_target is not None:
            return self.doc.export_target
        if self.doc.path is not None:
            return default_output_path(self.doc.path)
        return Path(self.settings.value("paths/open", str(Path.home()))) / "pasted_unmasked.png"

    def export_dialog(self) -> None:
        if self.doc is None or self.doc.result is None:
            return
        answer = dialogs.ask_export(self, self.default_export_path(), self.settings)
        if answer is not None:
            self.export_to(*answer, overwrite=True)  # the file dialog asked before replacing

    def export_to(self, path: Path, quality: int | None = None, overwrite: bool = False) -> bool:
        if self.doc is None or self.doc.result is None:
            return False
        try:
            written = self.doc.export(path, int(quality or self.settings.value("export/quality", 95)), overwrite)
        except UnmaskerError as e:
            self._error("Cannot export", str(e))
            return False
        self._update_title()
        self._message(f"Exported to {written}.")
        return True

