"""The editor through real widgets and real mouse events (pytest-qt, offscreen)."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.imageio import read_photo

from .conftest import EXAMPLE, need_shared

# The repository's own examples, so these tests never skip: one masked face, and two faces.
PHOTO = EXAMPLE
TWO_FACES = EXAMPLE.with_name("two_faces_one_masked.jpg")


@pytest.fixture
def window(qtbot, tmp_path, tiny_models, finder):
    from app.inference.engine import Unmasker
    from app.ui.main_window import MainWindow

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    engine = Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")
    w = MainWindow(engine_factory=lambda: engine, finder_factory=lambda: finder)
    qtbot.addWidget(w)
    w.resize(1000, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def _open(qtbot, w, path=PHOTO):
    assert w.open_path(path)
    qtbot.waitUntil(lambda: w.job is None and len(w.doc.faces) > 0, timeout=60000)


def _drag(w, points, button=Qt.MouseButton.LeftButton):
    """Press, move through and release at image coordinates, as a user's mouse would."""
    vp = w.canvas.viewport()
    pos = [w.canvas.mapFromScene(x, y) for x, y in points]
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, pos[0])
    for p in pos[1:]:
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, pos[-1])


def test_open_detect_paint_erase_undo_redo(qtbot, window):
    w = window
    _open(qtbot, w)
    assert len(w.doc.faces) == 1 and w.face_list.count() == 1
    x0, y0, x1, y1 = (float(v) for v in w.doc.faces[0].box)
    w.mask_op("clear")  # (the untrained test segmenter marks most of the face)
    start = w.doc.mask.copy()
    w.canvas.set_zoom(0.5)
    w.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)
    w.set_tool("brush")
    w.set_brush_size(60)
    w.hardness_slider.setValue(100)
    y = y0 + 0.2 * (y1 - y0)  # across the forehead: not mask before
    _drag(w, [(x0 + 40, y), ((x0 + x1) / 2, y), (x1 - 40, y)])
    painted = w.doc.mask.copy()
    assert painted[int(y), int((x0 + x1) / 2)] == 255 and not np.array_equal(painted, start)
    assert w.undo.count() == 2 and w.undo.text(1) == "Brush stroke"
    # The stroke stored only its patch, far smaller than the photo's mask.
    assert w.undo.command(1).edit.patch.nbytes < 0.5 * start.nbytes
    w.set_tool("eraser")
    _drag(w, [((x0 + x1) / 2, y), ((x0 + x1) / 2 + 30, y)])
    erased = w.doc.mask.copy()
    assert erased[int(y), int((x0 + x1) / 2) + 10] == 0
    w.undo_action.trigger()
    assert np.array_equal(w.doc.mask, painted)
    w.undo_action.trigger()
    assert np.array_equal(w.doc.mask, start)
    w.redo_action.trigger()
    w.redo_action.trigger()
    assert np.array_equal(w.doc.mask, erased)
    # The overlay shows the mask that is there now.
    assert w.canvas.overlay.argb[int(y), int((x0 + x1) / 2) + 10, 3] == 0
    assert w.canvas.overlay.argb[int(y), int(x0 + 15), 3] > 0  # painted by the first dab, never erased
    assert w.has_unexported_changes()


def test_unmask_on_the_worker_export_keeps_the_rest_of_the_photo(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    w.mask_op("clear")
    x0, y0, x1, y1 = (float(v) for v in w.doc.faces[0].box)
    w.canvas.set_zoom(0.5)
    w.set_brush_size(80)
    w.hardness_slider.setValue(100)
    ym = y0 + 0.75 * (y1 - y0)
    _drag(w, [(x0 + 80, ym), (x1 - 80, ym)])
    engine = w.engine()
    real_inpaint = engine.inpaint

    def slow_inpaint(*args, **kwargs):
        # The test models fill in a few ms; a fill as slow as a real one makes a blocked event loop show.
        time.sleep(0.8)
        return real_inpaint(*args, **kwargs)

    engine.inpaint = slow_inpaint
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    main_thread = w.thread()
    w.unmask_action.trigger()
    assert w.job is not None and w.job is not main_thread and w.job.isRunning() or w.doc.result is not None
    qtbot.waitUntil(lambda: w.job is None, timeout=120000)
    timer.stop()
    assert w.doc.result is not None and w.undo.text(w.undo.count() - 1) == "Unmask"
    assert not w.canvas.overlay.isVisible()  # the result shows, not the mask over it
    w.set_tool("brush")
    assert w.canvas.overlay.isVisible() and w.toggle_mask_action.isChecked()  # back to see what is painted
    # The loop kept turning through the 0.8 s fill: a fill on the GUI thread would stop it that long.
    assert len(gaps) >= 20 and max(gaps) < 0.4, f"the event loop was blocked for {max(gaps) * 1000:.0f} ms"
    assert "CPU" in w.device_label.text()
    out = tmp_path / "export.png"
    assert w.export_to(out)
    assert not w.has_unexported_changes()
    original, exported = read_photo(PHOTO).pixels, read_photo(out).pixels
    # The fill is blended over a feathered edge a few crop pixels wide (a 64 px test model's crop
    # pixel is ~12 photo pixels here): everything beyond 8 crop pixels is the original, bit for bit.
    p5 = w.doc.faces[0].points5
    crop_px = np.linalg.norm(p5[1] - p5[0]) / (0.25 * 64)
    r = int(8 * crop_px)
    near = cv2.dilate((w.doc.mask > 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    assert near.mean() < 0.5
    assert np.array_equal(exported[~near], original[~near])  # beyond the mask's edge: the original
    assert not np.array_equal(exported[w.doc.mask > 127], original[w.doc.mask > 127])
    # Undo takes the result away; compare shows the original while held.
    w.compare(True)
    assert w.canvas.result_item.opacity() == 0.0
    w.compare(False)
    w.undo_action.trigger()
    assert w.doc.result is None


def test_cancel_stops_the_unmask(qtbot, window):
    w = window
    _open(qtbot, w)
    w.unmask()
    w.cancel_job()
    qtbot.waitUntil(lambda: w.job is None, timeout=60000)
    assert w.doc.result is None and w.status_text.text() == "Cancelled."


def test_face_box_drawn_by_hand_is_undoable(qtbot, window):
    w = window
    _open(qtbot, w)
    x0, y0, x1, y1 = (float(v) for v in w.doc.faces[0].box)
    w.canvas.set_zoom(0.5)
    w.set_tool("face")
    _drag(w, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    qtbot.waitUntil(lambda: w.job is None and len(w.doc.faces) == 2, timeout=60000)
    assert w.doc.faces[1].manual and w.face_list.count() == 2
    w.face_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert w.doc.included == [False, True]
    w.undo_action.trigger()
    assert w.doc.included == [True, True]
    w.undo_action.trigger()
    assert len(w.doc.faces) == 1


def test_mask_operations_and_mask_files(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    start = w.doc.mask.copy()
    for name in ("grow", "shrink", "shrink", "shrink", "invert", "clear"):
        before = w.doc.mask.copy()
        w.mask_op(name)
        assert not np.array_equal(w.doc.mask, before), name
    assert not w.doc.mask.any()
    for _ in range(6):
        w.undo_action.trigger()
    assert np.array_equal(w.doc.mask, start)
    assert w.export_mask_to(tmp_path / "m.png")
    w.mask_op("clear")
    assert w.import_mask_from(tmp_path / "m.png")
    assert np.array_equal(w.doc.mask, start)
    assert not w.import_mask_from(TWO_FACES) and "but the photo is" in w.last_error


def test_settings_recent_files_and_plain_errors(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    assert QSettings().value("recent")[0] == str(PHOTO)
    assert w.default_export_path().name == f"{PHOTO.stem}_unmasked.jpg"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    assert not w.open_path(bad)
    assert "not an image" in w.last_error and w.doc is not None and w.doc.path == PHOTO  # the open photo is kept
    w.close()
    assert QSettings().value("window/geometry") is not None


def test_no_face_found_says_what_to_do(qtbot, window, tmp_path):
    from PIL import Image

    w = window
    Image.new("RGB", (300, 200), (90, 140, 200)).save(tmp_path / "sky.png")
    assert w.open_path(tmp_path / "sky.png")
    qtbot.waitUntil(lambda: w.job is None, timeout=60000)
    assert w.doc.faces == [] and "Draw a face box" in w.last_error
    assert f"under {w.finder().min_face} px" in w.last_error  # the finder's real limit, as the CLI says it


def test_command_line_opens_the_editor_for_photos():
    from app.__main__ import wants_editor

    assert wants_editor([]) and wants_editor([str(EXAMPLE)])
    assert not wants_editor(["batch", "a", "b"]) and not wants_editor(["--version"])
    assert not wants_editor(["no-such-file.jpg"])


def test_paste_and_drop_open_photos(qtbot, window):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent, QGuiApplication, QImage

    w = window
    QGuiApplication.clipboard().setImage(QImage(str(EXAMPLE)))
    w.paste()
    qtbot.waitUntil(lambda: w.job is None and len(w.doc.faces) > 0, timeout=60000)
    assert w.doc.path is None and w.doc.original.shape == read_photo(EXAMPLE).pixels.shape
    assert w.default_export_path().name == "pasted_unmasked.png"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(TWO_FACES))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    w.dropEvent(drop)
    qtbot.waitUntil(lambda: w.job is None and w.doc is not None and w.doc.path == TWO_FACES, timeout=60000)


def test_batch_from_the_window(qtbot, window, tmp_path):
    from .conftest import RMFD

    need_shared()

    w = window
    album = tmp_path / "album"
    (album / "sub").mkdir(parents=True)
    (album / "astronaut.jpg").write_bytes(EXAMPLE.read_bytes())
    for i, p in enumerate(sorted(RMFD.glob("*/*.jpg"))[:3]):
        (album / "sub" / f"r{i}.jpg").write_bytes(p.read_bytes())
    (album / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    w.batch_action.trigger()
    d = w.batch_dialog
    assert d.isVisible()
    d.in_edit.setText(str(album))
    d.out_edit.setText(str(tmp_path / "out"))
    d.recursive.setChecked(True)
    qtbot.mouseClick(d.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.thread is None, timeout=120000)
    assert d.summary is not None and len(d.results) == d.list.count() == 5
    assert d.progress.value() == d.progress.maximum() == 5
    rows = {r.input: r for r in d.results}
    assert rows["broken.jpg"].status == "error" and rows["astronaut.jpg"].status == "unmasked"
    item = next(d.list.item(i) for i in range(d.list.count()) if d.list.item(i).text().startswith("astronaut"))
    assert not item.icon().isNull()  # thumbnail of the result
    assert (tmp_path / "out" / "report.csv").exists()
    # Open a result in the editor: the original opens, and export offers the batch's output.
    d.list.setCurrentItem(item)
    qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.job is None and w.doc is not None and w.doc.path == album / "astronaut.jpg", timeout=60000)
    assert w.default_export_path() == tmp_path / "out" / "astronaut_unmasked.jpg"
    # A second start over the same folders resumes: nothing is redone, and the list and the report
    # keep what each photo got in the first run.
    written = (tmp_path / "out" / "astronaut_unmasked.jpg").stat().st_mtime_ns
    qtbot.mouseClick(d.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.thread is None, timeout=120000)
    assert (tmp_path / "out" / "astronaut_unmasked.jpg").stat().st_mtime_ns == written
    again = {r.input: r for r in d.results}["astronaut.jpg"]
    assert again.status == "unmasked" and "earlier run" in again.note
    assert any(d.list.item(i).text().startswith("astronaut.jpg: unmasked") for i in range(d.list.count()))
    assert "earlier run" in (tmp_path / "out" / "report.csv").read_text()


def test_batch_cancel_from_the_window(qtbot, window, tmp_path):
    from .conftest import RMFD

    need_shared()

    w = window
    album = tmp_path / "album"
    album.mkdir()
    for i, p in enumerate(sorted(RMFD.glob("*/*.jpg"))[:12]):
        (album / f"r{i}.jpg").write_bytes(p.read_bytes())
    w.show_batch()
    d = w.batch_dialog
    d.in_edit.setText(str(album))
    d.out_edit.setText(str(tmp_path / "out"))
    d.start()
    qtbot.waitUntil(lambda: len(d.results) >= 1, timeout=60000)
    qtbot.mouseClick(d.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.thread is None, timeout=60000)
    statuses = [r.status for r in d.results]
    assert "cancelled" in statuses and statuses.count("unmasked") + statuses.count("no_face") < 12
    assert not [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]
    d.in_edit.setText(str(tmp_path / "nowhere"))
    d.start()
    assert "is not a folder" in d.error


# --- what a retoucher hit (issue: the handling a retoucher expects) -----------------------------

def _wheel(w, pos, clicks=1):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    vp = w.canvas.viewport()
    ev = QWheelEvent(QPointF(pos), QPointF(vp.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * clicks),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def test_wheel_zooms_at_the_cursor_and_ctrl_equal_zooms_in(qtbot, window):
    w = window
    _open(qtbot, w)
    w.canvas.set_zoom(2.0)  # larger than the view, so it can scroll
    vp = w.canvas.viewport()
    cursor = QPoint(vp.width() // 4, vp.height() // 3)  # away from the centre and the top-left corner
    QTest.mouseMove(vp, QPoint(vp.width() - 5, vp.height() - 5))  # the mouse was last seen elsewhere
    before = w.canvas.mapToScene(cursor)
    _wheel(w, cursor, 2)
    assert w.canvas.zoom == pytest.approx(2.0 * 1.25 ** 2, rel=1e-3)
    after = w.canvas.mapToScene(cursor)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2, (before, after)
    z = w.canvas.zoom
    w.activateWindow()
    QTest.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert w.canvas.zoom == pytest.approx(z * 1.25, rel=1e-3)


def test_brush_outline_follows_the_cursor_size_and_zoom(qtbot, window):
    w = window
    _open(qtbot, w, EXAMPLE)
    w.set_tool("brush")
    w.set_brush_size(60)
    w.hardness_slider.setValue(50)
    w.canvas.set_zoom(2.0)
    vp = w.canvas.viewport()
    spot = QPoint(vp.width() // 2, vp.height() // 2)
    QTest.mouseMove(vp, spot)
    centre, r, inner = w.canvas.brush_outline()
    at = w.canvas.mapToScene(spot)
    assert abs(centre.x() - at.x()) < 1 and abs(centre.y() - at.y()) < 1
    assert r == pytest.approx(30) and inner == pytest.approx(15)
    assert w.canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    # Drawn, at the zoom: 30 photo pixels at 200 % is 60 screen pixels from the cursor.
    shown = vp.grab().toImage()
    w.set_tool("pan")
    assert w.canvas.brush_outline() is None
    hidden = vp.grab().toImage()
    ring = [QPoint(spot.x() + dx, spot.y()) for dx in range(57, 64)]
    assert any(shown.pixelColor(p) != hidden.pixelColor(p) for p in ring)
    inside = QPoint(spot.x() + 45, spot.y())  # between the hardness ring and the outline: the photo
    assert shown.pixelColor(inside) == hidden.pixelColor(inside)


def test_a_photo_dropped_on_the_photo_area_opens(qtbot, window):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    w = window
    _open(qtbot, w, EXAMPLE)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(TWO_FACES))])
    vp = w.canvas.viewport()
    enter = QDragEnterEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    qtbot.waitUntil(lambda: w.job is None and w.doc is not None and w.doc.path == TWO_FACES, timeout=60000)


def test_edits_after_an_export_mark_the_title_again(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    x0, y0, x1, y1 = (float(v) for v in w.doc.faces[0].box)
    w.unmask_action.trigger()
    qtbot.waitUntil(lambda: w.job is None and w.doc.result is not None, timeout=120000)
    assert "*" in w.windowTitle()
    assert w.export_to(tmp_path / "first.png")
    assert "*" not in w.windowTitle()
    w.set_tool("eraser")  # (the untrained test segmenter marks most of the face: erase some of it)
    w.canvas.set_zoom(0.5)
    w.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)
    _drag(w, [(x0 + 0.3 * (x1 - x0), y0 + 0.6 * (y1 - y0)), (x0 + 0.7 * (x1 - x0), y0 + 0.6 * (y1 - y0))])
    assert w.has_unexported_changes() and "*" in w.windowTitle()
    w.undo_action.trigger()  # back to what was exported
    assert "*" not in w.windowTitle()


def test_closing_with_unexported_changes_offers_export_first_and_cancels_by_default(qtbot, window):
    from PySide6.QtWidgets import QMessageBox

    w = window
    _open(qtbot, w)
    w.unmask_action.trigger()
    qtbot.waitUntil(lambda: w.job is None and w.doc.result is not None, timeout=120000)
    box, export, discard = w.unexported_changes_box()
    buttons = box.buttons()
    assert buttons[0] is export and export.isEnabled() and "Export" in export.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert discard is box.button(QMessageBox.StandardButton.Discard)


def test_mask_overlay_colour_is_chosen_or_contrasts_with_the_faces(qtbot, window):
    from app.ui.canvas import CONTRASTING, contrasting_colour

    pink = np.full((60, 60, 3), (255, 60, 100), np.uint8)
    assert contrasting_colour(pink) != CONTRASTING[0]  # never pink on pink
    green = np.full((60, 60, 3), (40, 210, 70), np.uint8)
    assert contrasting_colour(green) == CONTRASTING[0]
    w = window
    _open(qtbot, w)
    w.overlay_colour.set("#30c8ff")
    assert w.canvas.overlay.colour == (0x30, 0xC8, 0xFF) and not w.auto_colour_action.isChecked()
    assert w.settings.value("mask/colour") == "#30c8ff"
    w.mask_op("clear")
    w.mask_op("invert")  # the faces fully masked: the overlay shows the colour
    x0, y0, x1, y1 = (int(v) for v in w.doc.faces[0].box)
    bgra = w.canvas.overlay.argb[(y0 + y1) // 2, (x0 + x1) // 2]
    assert tuple(bgra[:3][::-1]) == (0x30, 0xC8, 0xFF) and bgra[3] > 0
    w.auto_colour_action.trigger()
    assert w.settings.value("mask/colour") == "auto"
    region = np.zeros(w.doc.original.shape[:2], bool)
    region[y0:y1, x0:x1] = True
    assert w.canvas.overlay.colour in CONTRASTING


def test_progress_moves_on_while_blending(tiny_models, finder):
    from app.inference.engine import Unmasker
    from app.pipeline import unmask_faces

    engine = Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")
    px = read_photo(EXAMPLE).pixels
    seen = []
    unmask_faces(px, finder.detect(px), engine, progress=lambda what, f: seen.append((what, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(f >= 0.8 for what, f in seen if what.startswith("blending"))
    assert any(0.3 <= f < 0.8 for what, f in seen if what.startswith("filling"))


def test_toolbar_has_icons_and_every_control_a_tooltip(qtbot, window):
    from PySide6.QtWidgets import QToolBar, QWidgetAction

    w = window
    tb = w.findChild(QToolBar, "tools")
    actions = [a for a in tb.actions() if a.text() and not isinstance(a, QWidgetAction)]
    assert len(actions) >= 7
    for a in actions:
        keys = a.shortcut().toString()
        assert a.toolTip() and (not keys or keys in a.toolTip()), (a.text(), a.toolTip())
        img = a.icon().pixmap(24, 24).toImage()
        assert not a.icon().isNull() and any(img.pixelColor(x, 12).alpha() > 0 for x in range(24)), a.text()
    for s in (w.size_slider, w.hardness_slider, w.opacity_slider, w.compare_button):
        assert s.toolTip()
    assert "(B)" in w.brush_action.toolTip() and "Ctrl+Return" in w.unmask_action.toolTip()


def test_the_models_load_once_when_two_threads_ask_together(qtbot, tmp_path, tiny_models, finder):
    import threading

    from app.inference.engine import Unmasker
    from app.ui.main_window import MainWindow

    loads = []

    def slow_factory():
        loads.append(1)
        time.sleep(0.2)  # as long as reading the weights takes
        return Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    w = MainWindow(engine_factory=slow_factory, finder_factory=lambda: finder)
    qtbot.addWidget(w)
    got = []
    threads = [threading.Thread(target=lambda: got.append(w.engine())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(got) == 3 and all(e is got[0] for e in got)
