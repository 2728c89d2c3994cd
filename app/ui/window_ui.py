"""The editor window's widgets, actions, menus and toolbar, built in one place (what a Qt Designer
form would generate): `setup_ui(window)` puts them on the window as attributes and connects them
to its slots. The window (`main_window.py`) holds the behaviour."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QPushButton, QProgressBar, QSlider,
                               QToolBar, QUndoView, QWidget)

from app.ui.icons import icon
from app.ui.panels import FaceList, OverlayColour

GUESS_NOTE = ("The filled-in face is a plausible guess made by a neural network, not the person's real "
              "face. Do not use it to identify anyone.")


def setup_ui(w) -> None:
    _build_docks(w)
    _build_actions(w)
    _build_status(w)
    _connect(w)
    for a in w.actions():  # every action's tooltip: what it does, and its shortcut
        keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        what = a.statusTip() or a.text().replace("&", "").rstrip(".")
        a.setToolTip(f"{what} ({keys})" if keys else what)


def _connect(w) -> None:
    """The canvas's and the model jobs' signals to the window."""
    c = w.canvas
    c.stroke_finished.connect(lambda patch: w.push(w.doc.stroke(patch, erase=c.tool == "eraser")))
    c.box_drawn.connect(w.add_face_box)
    c.files_dropped.connect(lambda files: w.open_path(files[0]))
    c.zoom_changed.connect(lambda z: w.zoom_label.setText(f"{z * 100:.0f} %"))
    w.jobs.progress.connect(lambda what, f: (w._message(what.capitalize() + "..."), w.progress.setValue(int(f * 100))))
    w.jobs.failed.connect(lambda msg: w._error("Unmasker", msg))
    w.jobs.cancelled.connect(lambda: w._message("Cancelled."))
    w.jobs.busy_changed.connect(w._busy_changed)


def _build_docks(w) -> None:
    w.face_list = FaceList()
    w.face_list.included_changed.connect(lambda row, on: w.push(w.doc.include(row, on)))
    for title, name, widget in (("Faces", "faces", w.face_list), ("History", "history", QUndoView(w.undo))):
        dock = QDockWidget(title, w)
        dock.setObjectName(name)
        dock.setWidget(widget)
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)


def _action(w, text: str, slot, shortcut=None, checkable=False, tip: str = "", icon_name: str = "") -> QAction:
    a = QAction(text, w)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    if tip:
        a.setStatusTip(tip)
    if icon_name:
        a.setIcon(icon(icon_name))
    w.addAction(a)
    return a


def _build_actions(w) -> None:
    S = QKeySequence.StandardKey
    c = w.canvas
    w.open_action = _action(w, "&Open...", w.open_dialog, S.Open, icon_name="open", tip="Open a photo")
    w.paste_action = _action(w, "&Paste photo", w.paste, S.Paste)
    w.export_action = _action(w, "&Export...", w.export_dialog, "Ctrl+Shift+S", icon_name="export",
                              tip="Export the unmasked photo beside the original")
    w.batch_action = _action(w, "&Batch...", w.show_batch, "Ctrl+B")
    w.quit_action = _action(w, "&Quit", w.close, S.Quit)
    w.undo_action = w.undo.createUndoAction(w, "&Undo")
    w.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
    w.redo_action = w.undo.createRedoAction(w, "&Redo")
    w.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
    w.detect_action = _action(w, "&Find faces again", w.detect, "Ctrl+D")
    w.unmask_action = _action(w, "&Unmask", w.unmask, "Ctrl+Return", icon_name="unmask",
                              tip="Fill the masked part of every ticked face")
    w.cancel_action = _action(w, "&Cancel", w.cancel_job, "Esc")
    w.grow_action = _action(w, "&Grow mask", lambda: w.mask_op("grow"), "Ctrl+]")
    w.shrink_action = _action(w, "&Shrink mask", lambda: w.mask_op("shrink"), "Ctrl+[")
    w.clear_action = _action(w, "&Clear mask", lambda: w.mask_op("clear"), "Ctrl+Backspace")
    w.invert_action = _action(w, "&Invert mask within faces", lambda: w.mask_op("invert"), "Ctrl+I")
    w.import_mask_action = _action(w, "Import mask...", w.import_mask)
    w.export_mask_action = _action(w, "Export mask...", w.export_mask)
    w.toggle_mask_action = _action(w, "Show &mask", w.toggle_mask, "M", checkable=True)
    w.toggle_mask_action.setChecked(True)
    w.zoom_in_action = _action(w, "Zoom &in", lambda: c.zoom_by(1.25), S.ZoomIn)
    # Ctrl+= as well: on most keyboards "+" needs Shift, and every photo editor takes Ctrl+=.
    w.zoom_in_action.setShortcuts([*QKeySequence.keyBindings(S.ZoomIn), QKeySequence("Ctrl+=")])
    w.zoom_out_action = _action(w, "Zoom &out", lambda: c.zoom_by(0.8), S.ZoomOut)
    w.fit_action = _action(w, "&Fit", c.fit, "Ctrl+0")
    w.actual_action = _action(w, "&100 %", lambda: c.set_zoom(1.0), "Ctrl+1")
    w.brush_action = _action(w, "&Brush", lambda: w.set_tool("brush"), "B", checkable=True, icon_name="brush",
                             tip="Brush: paint what should be filled")
    w.eraser_action = _action(w, "&Eraser", lambda: w.set_tool("eraser"), "E", checkable=True, icon_name="eraser",
                              tip="Eraser: take parts out of the mask")
    w.face_tool_action = _action(w, "&Draw a face box", lambda: w.set_tool("face"), "F", checkable=True,
                                 icon_name="face", tip="Draw a box around a face detection missed")
    w.pan_action = _action(w, "&Hand", lambda: w.set_tool("pan"), "H", checkable=True, icon_name="pan",
                           tip="Hand: drag to move around the photo (or hold Space)")
    w.tool_actions = {"brush": w.brush_action, "eraser": w.eraser_action, "face": w.face_tool_action,
                      "pan": w.pan_action}
    w.auto_colour_action = _action(w, "Mask colour: &automatic", lambda: w.overlay_colour.auto_toggled(),
                                   checkable=True, tip="Pick an overlay colour that stands out from the faces")
    w.overlay_colour = OverlayColour(c, w.settings, w.auto_colour_action)
    w.mask_colour_action = _action(w, "Mask &colour...", lambda: w.overlay_colour.choose(w),
                                   tip="Choose the colour of the mask overlay")
    w.brush_action.setChecked(True)
    _action(w, "Smaller brush", lambda: w.set_brush_size(c.brush_size / 1.25), "[")
    _action(w, "Larger brush", lambda: w.set_brush_size(c.brush_size * 1.25), "]")
    about = _action(w, "About the filled-in faces", lambda: w._info("About the filled-in faces", GUESS_NOTE))

    menus = {"&File": (w.open_action, "recent", w.paste_action, None, w.export_action, w.import_mask_action,
                       w.export_mask_action, None, w.batch_action, None, w.quit_action),
             "&Edit": (w.undo_action, w.redo_action, None, w.grow_action, w.shrink_action, w.clear_action,
                       w.invert_action),
             "&Photo": (w.detect_action, w.unmask_action, w.cancel_action),
             "&View": (w.zoom_in_action, w.zoom_out_action, w.fit_action, w.actual_action, w.toggle_mask_action,
                       w.mask_colour_action, w.auto_colour_action),
             "&Help": (about,)}
    for title, items in menus.items():
        m = w.menuBar().addMenu(title)
        for a in items:
            if a == "recent":
                w.recent_menu = m.addMenu("Open &recent")
                w._fill_recent()
            else:
                m.addSeparator() if a is None else m.addAction(a)

    tb = QToolBar("Tools", w)
    tb.setObjectName("tools")
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    w.addToolBar(tb)
    for a in (w.open_action, w.export_action, None, w.brush_action, w.eraser_action, w.face_tool_action, w.pan_action,
              None):
        tb.addSeparator() if a is None else tb.addAction(a)
    tb.addWidget(QLabel(" Size "))
    w.size_slider = _slider(2, 400, int(c.brush_size), w.set_brush_size,
                            "Brush size in photo pixels ([ smaller, ] larger)")
    tb.addWidget(w.size_slider)
    tb.addWidget(QLabel(" Hardness "))
    w.hardness_slider = _slider(0, 100, int(c.hardness * 100), lambda v: c.set_brush(hardness=v / 100),
                                "Brush hardness: 100 % paints a sharp edge, less a soft one")
    tb.addWidget(w.hardness_slider)
    tb.addWidget(QLabel(" Opacity "))
    w.opacity_slider = _slider(0, 100, 50, w.set_mask_opacity,
                               "How strongly the mask overlay covers the photo (M hides it)")
    tb.addWidget(w.opacity_slider)
    tb.addSeparator()
    tb.addAction(w.unmask_action)
    w.compare_button = QPushButton("Hold to compare")
    w.compare_button.setToolTip("Hold to see the original photo (or hold \\)")
    w.compare_button.pressed.connect(lambda: w.compare(True))
    w.compare_button.released.connect(lambda: w.compare(False))
    tb.addWidget(w.compare_button)


def _slider(lo: int, hi: int, value: int, slot, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setToolTip(tip)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setFixedWidth(110)
    s.valueChanged.connect(slot)
    return s


def _build_status(w) -> None:
    w.status_text = QLabel("Open a photo (Ctrl+O), drop one here, or paste one (Ctrl+V).")
    w.progress = QProgressBar()
    w.progress.setRange(0, 100)
    w.progress.setFixedWidth(160)
    w.progress.setVisible(False)
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setToolTip("Stop the work in progress (Esc)")
    w.cancel_button.clicked.connect(w.cancel_job)
    w.cancel_button.setVisible(False)
    w.zoom_label = QLabel("")
    w.device_label = QLabel("")
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(w.progress)
    lay.addWidget(w.cancel_button)
    w.statusBar().addWidget(w.status_text, 1)
    w.statusBar().addPermanentWidget(box)
    w.statusBar().addPermanentWidget(w.zoom_label)
    w.statusBar().addPermanentWidget(w.device_label)
