"""The editor's main window: open a photo, see its faces and stage 1's mask, fix the mask with a
brush, unmask, compare, undo, export."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QGuiApplication, QImage, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (QApplication, QColorDialog, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMainWindow, QMessageBox, QProgressBar, QPushButton, QSlider,
                               QToolBar, QUndoView, QWidget)

from app import maskedit
from app.align import warp_mask_to_photo
from app.errors import UnmaskerError
from app.imageio import Photo, default_output_path, read_photo, write_photo
from app.pipeline import NO_MASK_TEXT
from app.ui.canvas import Canvas, contrasting_colour, local_files
from app.ui.icons import icon
from app.ui.worker import Job

log = logging.getLogger(__name__)
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
GUESS_NOTE = ("The filled-in face is a plausible guess made by a neural network, not the person's real "
              "face. Do not use it to identify anyone.")
MAX_RECENT = 8


class PatchCommand(QUndoCommand):
    """A mask edit; holds only the changed rectangle. The edit is already applied when pushed."""

    def __init__(self, window: "MainWindow", text: str, patch: maskedit.Patch) -> None:
        super().__init__(text)
        self.window, self.patch, self.first = window, patch, True

    def redo(self) -> None:
        if self.first:
            self.first = False
            return
        self.patch.apply(self.window.mask)
        self.window.canvas.refresh_mask(self.patch.rect)

    def undo(self) -> None:
        self.patch.apply(self.window.mask, undo=True)
        self.window.canvas.refresh_mask(self.patch.rect)


class FacesCommand(QUndoCommand):
    """Faces added or included/skipped, with the mask patch that came with them."""

    def __init__(self, window: "MainWindow", text: str, before: tuple, after: tuple,
                 patch: maskedit.Patch | None = None) -> None:
        super().__init__(text)
        self.window, self.before, self.after, self.patch = window, before, after, patch

    def _set(self, state: tuple, undo: bool) -> None:
        self.window.faces, self.window.included = list(state[0]), list(state[1])
        if self.patch is not None:
            self.patch.apply(self.window.mask, undo=undo)
            self.window.canvas.refresh_mask(self.patch.rect)
        self.window.faces_changed()

    def redo(self) -> None:
        self._set(self.after, undo=False)

    def undo(self) -> None:
        self._set(self.before, undo=True)


class ResultCommand(QUndoCommand):
    def __init__(self, window: "MainWindow", before, after) -> None:
        super().__init__("Unmask")
        self.window, self.before, self.after = window, before, after

    def redo(self) -> None:
        self.window.set_result(self.after)

    def undo(self) -> None:
        self.window.set_result(self.before)


class MainWindow(QMainWindow):
    def __init__(self, engine_factory=None, finder_factory=None) -> None:
        super().__init__()
        self.setWindowTitle("Unmasker")
        self.setAcceptDrops(True)
        self.settings = QSettings()
        self._engine_factory = engine_factory or _default_engine
        self._finder_factory = finder_factory or _default_finder
        self._engine = None
        self._finder = None
        self._load_lock = threading.Lock()
        self.job: Job | None = None
        self.path: Path | None = None
        self.photo: Photo | None = None
        self.original: np.ndarray | None = None
        self.mask = np.zeros((1, 1), np.uint8)
        self.faces: list = []
        self.included: list[bool] = []
        self.result: np.ndarray | None = None
        self.export_target: Path | None = None  # where "Open in editor" from a batch re-exports to
        self.batch_dialog = None
        self.undo = QUndoStack(self)
        self.exported_index = 0
        self.last_error = ""  # the last message shown in a dialog (tests read it)

        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.canvas.stroke_finished.connect(self._stroke_done)
        self.canvas.box_drawn.connect(self.add_face_box)
        self.canvas.files_dropped.connect(lambda files: self.open_path(files[0]))
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self._build_docks()
        self._build_actions()
        self._build_status()
        self._add_tooltips()
        self.undo.indexChanged.connect(lambda _i: self._update_title())  # every edit, also after an export
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        else:
            self.resize(1200, 800)
        self._update_enabled()

    # -- construction --------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.face_list = QListWidget()
        self.face_list.itemChanged.connect(self._face_item_changed)
        dock = QDockWidget("Faces", self)
        dock.setObjectName("faces")
        dock.setWidget(self.face_list)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.history = QUndoView(self.undo)
        dock2 = QDockWidget("History", self)
        dock2.setObjectName("history")
        dock2.setWidget(self.history)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock2)

    def _action(self, text: str, slot, shortcut=None, checkable=False, tip: str = "", icon_name: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        if tip:
            a.setStatusTip(tip)
        if icon_name:
            a.setIcon(icon(icon_name))
        self.addAction(a)
        return a

    def _add_tooltips(self) -> None:
        """Every action's tooltip: what it does, and its shortcut."""
        for a in self.actions():
            keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            what = a.statusTip() or a.text().replace("&", "").rstrip(".")
            a.setToolTip(f"{what} ({keys})" if keys else what)

    def _build_actions(self) -> None:
        S = QKeySequence.StandardKey
        self.open_action = self._action("&Open...", self.open_dialog, S.Open, icon_name="open",
                                        tip="Open a photo")
        self.paste_action = self._action("&Paste photo", self.paste, S.Paste)
        self.export_action = self._action("&Export...", self.export_dialog, "Ctrl+Shift+S", icon_name="export",
                                          tip="Export the unmasked photo beside the original")
        self.batch_action = self._action("&Batch...", self.show_batch, "Ctrl+B")
        self.quit_action = self._action("&Quit", self.close, S.Quit)
        self.undo_action = self.undo.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        self.detect_action = self._action("&Find faces again", self.detect, "Ctrl+D")
        self.unmask_action = self._action("&Unmask", self.unmask, "Ctrl+Return", icon_name="unmask",
                                          tip="Fill the masked part of every ticked face")
        self.cancel_action = self._action("&Cancel", self.cancel_job, "Esc")
        self.grow_action = self._action("&Grow mask", lambda: self.mask_op("Grow mask", 3), "Ctrl+]")
        self.shrink_action = self._action("&Shrink mask", lambda: self.mask_op("Shrink mask", -3), "Ctrl+[")
        self.clear_action = self._action("&Clear mask", lambda: self.mask_op("Clear mask", None), "Ctrl+Backspace")
        self.invert_action = self._action("&Invert mask within faces", lambda: self.mask_op("Invert mask", "invert"), "Ctrl+I")
        self.import_mask_action = self._action("Import mask...", self.import_mask)
        self.export_mask_action = self._action("Export mask...", self.export_mask)
        self.toggle_mask_action = self._action("Show &mask", self.toggle_mask, "M", checkable=True)
        self.toggle_mask_action.setChecked(True)
        self.zoom_in_action = self._action("Zoom &in", lambda: self.canvas.zoom_by(1.25), S.ZoomIn)
        # Ctrl+= as well: on most keyboards "+" needs Shift, and every photo editor takes Ctrl+=.
        self.zoom_in_action.setShortcuts([*QKeySequence.keyBindings(S.ZoomIn), QKeySequence("Ctrl+=")])
        self.zoom_out_action = self._action("Zoom &out", lambda: self.canvas.zoom_by(0.8), S.ZoomOut)
        self.fit_action = self._action("&Fit", self.canvas.fit, "Ctrl+0")
        self.actual_action = self._action("&100 %", lambda: self.canvas.set_zoom(1.0), "Ctrl+1")
        self.brush_action = self._action("&Brush", lambda: self.set_tool("brush"), "B", checkable=True,
                                         icon_name="brush", tip="Brush: paint what should be filled")
        self.eraser_action = self._action("&Eraser", lambda: self.set_tool("eraser"), "E", checkable=True,
                                          icon_name="eraser", tip="Eraser: take parts out of the mask")
        self.face_tool_action = self._action("&Draw a face box", lambda: self.set_tool("face"), "F", checkable=True,
                                             icon_name="face", tip="Draw a box around a face detection missed")
        self.pan_action = self._action("&Hand", lambda: self.set_tool("pan"), "H", checkable=True, icon_name="pan",
                                       tip="Hand: drag to move around the photo (or hold Space)")
        self.auto_colour_action = self._action("Mask colour: &automatic", self.set_auto_mask_colour, checkable=True,
                                               tip="Pick an overlay colour that stands out from the faces")
        self.auto_colour_action.setChecked(self.settings.value("mask/colour", "auto") == "auto")
        self.mask_colour_action = self._action("Mask &colour...", self.choose_mask_colour,
                                               tip="Choose the colour of the mask overlay")
        self.brush_action.setChecked(True)
        self._action("Smaller brush", lambda: self.set_brush_size(self.canvas.brush_size / 1.25), "[")
        self._action("Larger brush", lambda: self.set_brush_size(self.canvas.brush_size * 1.25), "]")
        about = self._action("About the filled-in faces", lambda: self._info("About the filled-in faces", GUESS_NOTE))

        m = self.menuBar().addMenu("&File")
        m.addAction(self.open_action)
        self.recent_menu = m.addMenu("Open &recent")
        self._fill_recent()
        m.addAction(self.paste_action)
        m.addSeparator()
        m.addAction(self.export_action)
        m.addAction(self.import_mask_action)
        m.addAction(self.export_mask_action)
        m.addSeparator()
        m.addAction(self.batch_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = self.menuBar().addMenu("&Edit")
        for a in (self.undo_action, self.redo_action, None, self.grow_action, self.shrink_action, self.clear_action,
                  self.invert_action):
            m.addSeparator() if a is None else m.addAction(a)
        m = self.menuBar().addMenu("&Photo")
        for a in (self.detect_action, self.unmask_action, self.cancel_action):
            m.addAction(a)
        m = self.menuBar().addMenu("&View")
        for a in (self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_action, self.toggle_mask_action,
                  self.mask_colour_action, self.auto_colour_action):
            m.addAction(a)
        m = self.menuBar().addMenu("&Help")
        m.addAction(about)

        tb = QToolBar("Tools", self)
        tb.setObjectName("tools")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.open_action, self.export_action, None, self.brush_action, self.eraser_action,
                  self.face_tool_action, self.pan_action, None):
            tb.addSeparator() if a is None else tb.addAction(a)
        tb.addWidget(QLabel(" Size "))
        self.size_slider = self._slider(2, 400, int(self.canvas.brush_size), self.set_brush_size,
                                        "Brush size in photo pixels ([ smaller, ] larger)")
        tb.addWidget(self.size_slider)
        tb.addWidget(QLabel(" Hardness "))
        self.hardness_slider = self._slider(0, 100, int(self.canvas.hardness * 100),
                                            lambda v: self.canvas.set_brush(hardness=v / 100),
                                            "Brush hardness: 100 % paints a sharp edge, less a soft one")
        tb.addWidget(self.hardness_slider)
        tb.addWidget(QLabel(" Opacity "))
        self.opacity_slider = self._slider(0, 100, 50, self.set_mask_opacity,
                                           "How strongly the mask overlay covers the photo (M hides it)")
        tb.addWidget(self.opacity_slider)
        tb.addSeparator()
        tb.addAction(self.unmask_action)
        self.compare_button = QPushButton("Hold to compare")
        self.compare_button.setToolTip("Hold to see the original photo (or hold \\)")
        self.compare_button.pressed.connect(lambda: self.compare(True))
        self.compare_button.released.connect(lambda: self.compare(False))
        tb.addWidget(self.compare_button)

    def _slider(self, lo: int, hi: int, value: int, slot, tip: str) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setToolTip(tip)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setFixedWidth(110)
        s.valueChanged.connect(slot)
        return s

    def _build_status(self) -> None:
        self.status_text = QLabel("Open a photo (Ctrl+O), drop one here, or paste one (Ctrl+V).")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(160)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the work in progress (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.cancel_button.setVisible(False)
        self.zoom_label = QLabel("")
        self.device_label = QLabel("")
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.progress)
        lay.addWidget(self.cancel_button)
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(w)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.statusBar().addPermanentWidget(self.device_label)

    # -- state ---------------------------------------------------------------------------
    def _update_title(self) -> None:
        if not shiboken6.isValid(self.undo):  # signals still arriving while the window is destroyed
            return
        name = self.path.name if self.path else ("pasted photo" if self.photo is not None else "")
        dirty = "*" if self.has_unexported_changes() else ""
        self.setWindowTitle(f"{name}{dirty} - Unmasker" if name else "Unmasker")

    def has_unexported_changes(self) -> bool:
        return self.photo is not None and self.undo.index() != self.exported_index

    def _update_enabled(self) -> None:
        has = self.photo is not None
        busy = self.job is not None
        for a in (self.export_action, self.detect_action, self.unmask_action, self.grow_action, self.shrink_action,
                  self.clear_action, self.invert_action, self.import_mask_action, self.export_mask_action):
            a.setEnabled(has and not busy)
        self.export_action.setEnabled(has and not busy and self.result is not None)
        self.cancel_action.setEnabled(busy)
        self.open_action.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        for name, a in (("brush", self.brush_action), ("eraser", self.eraser_action), ("face", self.face_tool_action),
                        ("pan", self.pan_action)):
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

    def update_mask_colour(self) -> None:
        """The overlay's colour: the user's choice, or (automatic) one that contrasts with the faces."""
        chosen = self.settings.value("mask/colour", "auto")
        if chosen != "auto" and QColor(chosen).isValid():
            c = QColor(chosen)
            self.canvas.set_mask_colour((c.red(), c.green(), c.blue()))
        elif self.original is not None:
            boxes = [tuple(float(v) for v in f.box) for f in self.faces]
            region = maskedit.face_region(self.original.shape[:2], boxes) if boxes else None
            self.canvas.set_mask_colour(contrasting_colour(self.original, region))

    def choose_mask_colour(self) -> None:
        r, g, b = self.canvas.mask_colour
        c = QColorDialog.getColor(QColor(r, g, b), self, "Mask overlay colour")
        if c.isValid():
            self.set_mask_colour_setting(c.name())

    def set_auto_mask_colour(self) -> None:
        self.set_mask_colour_setting("auto" if self.auto_colour_action.isChecked() else
                                     QColor(*self.canvas.mask_colour).name())

    def set_mask_colour_setting(self, value: str) -> None:
        """'auto' or a colour name such as '#30c8ff'; kept for the next photos and sessions."""
        self.settings.setValue("mask/colour", value)
        self.auto_colour_action.setChecked(value == "auto")
        self.update_mask_colour()

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
            self.compare(True)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            self.compare(False)
            return
        super().keyReleaseEvent(event)

    def _message(self, text: str) -> None:
        self.status_text.setText(text)

    def _error(self, title: str, text: str) -> None:
        self.last_error = text
        log.warning("%s: %s", title, text)
        if QApplication.platformName() == "offscreen":
            return  # no one to click it; tests read last_error
        QMessageBox.warning(self, title, text)

    def _info(self, title: str, text: str) -> None:
        if QApplication.platformName() != "offscreen":
            QMessageBox.information(self, title, text)

    # -- opening -------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = self.settings.value("paths/open", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start, PHOTO_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        if not self._confirm_discard():
            return False
        try:
            photo = read_photo(path)
        except UnmaskerError as e:
            self._error("Cannot open the photo", str(e))
            return False
        self.settings.setValue("paths/open", str(Path(path).parent))
        self._remember_recent(Path(path))
        self._load(photo, Path(path))
        return True

    def paste(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self._error("Nothing to paste", "The clipboard holds no image.")
            return
        if not self._confirm_discard():
            return
        img = image.convertToFormat(QImage.Format.Format_RGB888)
        w, h, stride = img.width(), img.height(), img.bytesPerLine()
        arr = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)[:, : w * 3]
        self._load(Photo(pixels=arr.reshape(h, w, 3).copy()), None)

    def _load(self, photo: Photo, path: Path | None) -> None:
        self.photo, self.path = photo, path
        self.original = photo.pixels
        self.mask = np.zeros(self.original.shape[:2], np.uint8)
        self.faces, self.included, self.result = [], [], None
        self.export_target = None
        self._initial_detection = True
        self.update_mask_colour()
        self.canvas.set_photo(self.original, self.mask)
        self.undo.clear()
        self.exported_index = 0
        self.faces_changed()
        self._update_title()
        self.detect()

    def _remember_recent(self, path: Path) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.value("recent", []) or []:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(Path(p)))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def dragEnterEvent(self, event) -> None:  # on the window's frame; the canvas takes its own drops
        if local_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = local_files(event)
        if files:
            self.open_path(files[0])

    def unexported_changes_box(self) -> tuple[QMessageBox, QPushButton, QPushButton]:
        """The question asked before unexported changes would be lost: Export first, Discard, and
        Cancel as the default (Enter and Esc lose nothing)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unexported changes",
                          "This photo has changes that were not exported.", parent=self)
        box.setInformativeText("Export them first, or discard them?")
        export = box.addButton("&Export...", QMessageBox.ButtonRole.AcceptRole)
        export.setEnabled(self.result is not None)
        if self.result is None:
            export.setToolTip("Nothing is unmasked yet: unmask first (Ctrl+Enter)")
        discard = box.addButton(QMessageBox.StandardButton.Discard)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        return box, export, discard

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
            event.ignore()
            return
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10000)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        event.accept()

    # -- model work ----------------------------------------------------------------------
    def engine(self):
        """The installed models, loaded once on first use (in a worker thread: the editor's job and
        the batch's thread may both ask at the same time, hence the lock)."""
        with self._load_lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    def finder(self):
        with self._load_lock:
            if self._finder is None:
                self._finder = self._finder_factory()
            return self._finder

    def _start(self, name: str, fn, done) -> None:
        if self.job is not None:
            return
        self.job = Job(name, fn, self)
        self.job.progress.connect(lambda what, f: (self._message(what.capitalize() + "..."),
                                                   self.progress.setValue(int(f * 100))))
        self.job.succeeded.connect(done)
        self.job.failed.connect(lambda msg: self._error("Unmasker", msg))
        self.job.cancelled.connect(lambda: self._message("Cancelled."))
        self.job.finished.connect(self._job_finished)
        self._update_enabled()
        self.job.start()

    def _job_finished(self) -> None:
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self._update_enabled()
        if self._engine is not None:
            from app.inference.device import describe_device

            self.device_label.setText(describe_device(self._engine.device))

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _segment_faces(self, faces, report) -> np.ndarray:
        """Stage 1 on the given faces (the pipeline's own `find_masks`, so the editor starts from the
        map `unmasker unmask` would fill), as one photo-space mask; each face's mask / no mask
        decision is kept on the face for the Faces list."""
        from app.pipeline import find_masks

        out = np.zeros(self.original.shape[:2], np.uint8)
        for face, fm in zip(faces, find_masks(self.original, faces, self.engine(), report)):
            face.mask_found = fm.has_mask
            if fm.has_mask:
                np.maximum(out, warp_mask_to_photo(fm.map, fm.aligned, out.shape), out=out)
        return out

    def detect(self) -> None:
        pixels = self.original
        if pixels is None:
            return

        def work(report):
            report("finding faces", 0.0)
            faces = self.finder().detect(pixels)
            try:
                mask = self._segment_faces(faces, report)
            except UnmaskerError as e:  # no model: faces still help, the user can paint the mask
                return faces, None, str(e)
            return faces, mask, ""

        self._start("finding faces", work, self._detected)

    def _detected(self, out) -> None:
        faces, mask, problem = out
        before = (list(self.faces), list(self.included))
        after = (faces, [True] * len(faces))
        patch = maskedit.diff_patch(self.mask, np.maximum(self.mask, mask)) if mask is not None else None
        cmd = FacesCommand(self, "Find faces again", before, after, patch)
        if self._initial_detection:  # what the photo opens with: the starting state, not an undo step
            self._initial_detection = False
            cmd.redo()
            self.update_mask_colour()  # (now that the faces are known)
        else:
            self.undo.push(cmd)
        if not faces:
            self._error("No face found", "No face was found in this photo (faces under 40 px are skipped). "
                        "Draw a face box by hand with the face tool (F).")
        elif problem:
            self._error("No mask found", problem)
        self._message(f"{len(faces)} face(s) found." if faces else "No face found.")

    def add_face_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        pixels = self.original
        if pixels is None:
            return

        def work(report):
            report("finding the face in the box", 0.0)
            face = self.finder().face_in_box(pixels, (x0, y0, x1, y1))
            return face, self._segment_faces([face], report)

        self._start("finding the face in the box", work, self._face_added)

    def _face_added(self, out) -> None:
        face, mask = out
        before = (list(self.faces), list(self.included))
        after = (self.faces + [face], self.included + [True])
        merged = np.maximum(self.mask, mask)
        patch = maskedit.diff_patch(self.mask, merged)
        self.undo.push(FacesCommand(self, "Add a face", before, after, patch))

    def faces_changed(self) -> None:
        self.face_list.blockSignals(True)
        self.face_list.clear()
        for i, (f, inc) in enumerate(zip(self.faces, self.included)):
            no_mask = getattr(f, "mask_found", None) is False
            text = f"Face {i + 1}" + (" (drawn)" if getattr(f, "manual", False) else "")
            item = QListWidgetItem(text + (f": {NO_MASK_TEXT}" if no_mask else ""))
            if no_mask:
                item.setToolTip("Stage 1 found no mask on this face, so it will not be changed. "
                                "Paint a mask on it with the brush (B) to fill it anyway.")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if inc else Qt.CheckState.Unchecked)
            self.face_list.addItem(item)
        self.face_list.blockSignals(False)
        self.canvas.set_faces([tuple(float(v) for v in f.box) for f in self.faces], self.included)
        self._update_enabled()

    def _face_item_changed(self, item: QListWidgetItem) -> None:
        i = self.face_list.row(item)
        inc = item.checkState() == Qt.CheckState.Checked
        if 0 <= i < len(self.included) and self.included[i] != inc:
            after = list(self.included)
            after[i] = inc
            self.undo.push(FacesCommand(self, ("Include" if inc else "Skip") + f" face {i + 1}",
                                        (list(self.faces), list(self.included)), (list(self.faces), after)))

    def unmask(self) -> None:
        if self.original is None or self.job is not None:
            return
        faces = [f for f, inc in zip(self.faces, self.included) if inc]
        if not faces:
            self._error("No face to unmask", "No face is selected. Find faces again, tick one, or draw a face box (F).")
            return
        if not (self.mask > 127).any():
            self._error("The mask is empty", "Paint the mask over what should be filled (brush, B), then unmask.")
            return
        pixels, mask = self.original, self.mask.copy()

        def work(report):
            from app.pipeline import unmask_faces

            result = unmask_faces(pixels, faces, self.engine(), mask_in=mask, progress=report)  # from the original
            return result.pixels, result.notes

        self._start("unmasking", work, self._unmasked)

    def _unmasked(self, out) -> None:
        pixels, notes = out
        self.undo.push(ResultCommand(self, self.result, pixels))
        self.show_mask(False)  # the result, not the mask over it (M shows it again)
        self._message("Done. " + " ".join(notes) + " Hold \\ or the compare button to see the original; "
                      "M shows the mask.")
        for n in notes:
            self._error("Unmasker", n[0].upper() + n[1:] + ".")

    def set_result(self, pixels: np.ndarray | None) -> None:
        self.result = pixels
        self.canvas.set_result(pixels)
        self._update_enabled()

    # -- mask operations -----------------------------------------------------------------
    def _stroke_done(self, patch: maskedit.Patch) -> None:
        self.undo.push(PatchCommand(self, "Erase" if self.canvas.tool == "eraser" else "Brush stroke", patch))

    def mask_op(self, name: str, what) -> None:
        if self.photo is None:
            return
        if what is None:
            patch = maskedit.clear(self.mask)
        elif what == "invert":
            boxes = [tuple(float(v) for v in f.box) for f, inc in zip(self.faces, self.included) if inc]
            if not boxes:
                self._error("No face", "Invert works within the faces, and none is selected.")
                return
            patch = maskedit.invert_within(self.mask, maskedit.face_region(self.mask.shape, boxes))
        else:
            patch = maskedit.grow(self.mask, int(what))
        if patch is not None:
            self.canvas.refresh_mask(patch.rect)
            self.undo.push(PatchCommand(self, name, patch))

    def import_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a mask (white = fill)", "", PHOTO_FILTER)
        if path:
            self.import_mask_from(Path(path))

    def import_mask_from(self, path: Path) -> bool:
        try:
            m = read_photo(path).pixels.max(axis=2)
        except UnmaskerError as e:
            self._error("Cannot import the mask", str(e))
            return False
        if m.shape != self.mask.shape:
            self._error("Cannot import the mask", f"The mask is {m.shape[1]}x{m.shape[0]} but the photo is "
                        f"{self.mask.shape[1]}x{self.mask.shape[0]}.")
            return False
        patch = maskedit.diff_patch(self.mask, m)
        if patch is not None:
            patch.apply(self.mask)
            self.canvas.refresh_mask(patch.rect)
            self.undo.push(PatchCommand(self, "Import mask", patch))
        return True

    def export_mask(self) -> None:
        base = self.path.with_name(self.path.stem + "_mask.png") if self.path else Path.home() / "mask.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export the mask", str(base), "PNG (*.png)")
        if path:
            self.export_mask_to(Path(path), overwrite=True)

    def export_mask_to(self, path: Path, overwrite: bool = False) -> bool:
        try:
            write_photo(Photo(pixels=np.repeat(self.mask[..., None], 3, axis=2)), path, overwrite=overwrite)
        except UnmaskerError as e:
            self._error("Cannot export the mask", str(e))
            return False
        return True

    # -- export --------------------------------------------------------------------------
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
            self.export_target = Path(output) if output else None

    def default_export_path(self) -> Path:
        if self.export_target is not None:
            return self.export_target
        if self.path is not None:
            return default_output_path(self.path)
        return Path(self.settings.value("paths/open", str(Path.home()))) / "pasted_unmasked.png"

    def export_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the unmasked photo", str(self.default_export_path()),
                                              "JPEG (*.jpg *.jpeg);;PNG (*.png);;WebP (*.webp);;TIFF (*.tif *.tiff)")
        if not path:
            return
        quality = None
        if Path(path).suffix.lower() in (".jpg", ".jpeg", ".webp"):
            from PySide6.QtWidgets import QInputDialog

            quality, ok = QInputDialog.getInt(self, "Export quality", "Quality (1-100):",
                                              int(self.settings.value("export/quality", 95)), 1, 100)
            if not ok:
                return
            self.settings.setValue("export/quality", quality)
        # The file dialog has already asked before replacing an existing file.
        self.export_to(Path(path), quality=quality, overwrite=True)

    def export_to(self, path: Path, quality: int | None = None, overwrite: bool = False) -> bool:
        if self.result is None or self.photo is None:
            return False
        quality = int(quality or self.settings.value("export/quality", 95))
        out = Photo(pixels=self.result, format=self.photo.format, exif=self.photo.exif,
                    icc_profile=self.photo.icc_profile, alpha=self.photo.alpha, source_mode=self.photo.source_mode,
                    path=self.photo.path)
        try:
            written = write_photo(out, path, quality=quality, overwrite=overwrite)
        except UnmaskerError as e:
            self._error("Cannot export", str(e))
            return False
        self.exported_index = self.undo.index()
        self._update_title()
        self._message(f"Exported to {written}.")
        return True


def _default_engine():
    from app.inference.engine import Unmasker

    return Unmasker.from_installed("auto")


def _default_finder():
    from app.faces import make_face_finder

    return make_face_finder("mtcnn")


def run(photos: list[str]) -> int:
    import os
    import sys

    from PySide6.QtGui import QIcon

    from app.paths import resources_dir

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Unmasker")
    app.setApplicationName("Unmasker")
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "unmasker.png")))
    # One window per photo given (or one empty window).
    windows = []
    for photo in photos or [None]:
        window = MainWindow()
        window.show()
        if photo is not None:
            QTimer.singleShot(0, lambda w=window, p=photo: w.open_path(Path(p)))
        windows.append(window)
    app._unmasker_windows = windows  # type: ignore[attr-defined]  # kept alive for the session
    if os.environ.get("UNMASKER_QUIT_AFTER_SHOW") == "1":  # start-up timing: quit once the window is up
        QTimer.singleShot(0, app.quit)
    return app.exec()
