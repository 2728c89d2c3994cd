"""The editor through real widgets and real mouse events (pytest-qt, offscreen)."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtTest import QTest

from app.imageio import read_photo

from .conftest import EXAMPLE, SHARED_DATA, need_shared

PHOTO = SHARED_DATA / "real_masked" / "maskedfacenet" / "CWM" / "images" / "00002.jpg"


@pytest.fixture
def window(qtbot, tmp_path, tiny_models, finder):
    from app.inference.engine import Unmasker
    from app.ui.main_window import MainWindow

    need_shared()
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
    qtbot.waitUntil(lambda: w.job is None and len(w.faces) > 0, timeout=60000)


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
    assert len(w.faces) == 1 and w.face_list.count() == 1
    x0, y0, x1, y1 = (float(v) for v in w.faces[0].box)
    w.mask_op("Clear mask", None)  # (the untrained test segmenter marks most of the face)
    start = w.mask.copy()
    w.canvas.set_zoom(0.5)
    w.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)
    w.set_tool("brush")
    w.set_brush_size(60)
    w.hardness_slider.setValue(100)
    y = y0 + 0.2 * (y1 - y0)  # across the forehead: not mask before
    _drag(w, [(x0 + 40, y), ((x0 + x1) / 2, y), (x1 - 40, y)])
    painted = w.mask.copy()
    assert painted[int(y), int((x0 + x1) / 2)] == 255 and not np.array_equal(painted, start)
    assert w.undo.count() == 2 and w.undo.text(1) == "Brush stroke"
    # The stroke stored only its patch, far smaller than the photo's mask.
    assert w.undo.command(1).patch.nbytes < 0.5 * start.nbytes
    w.set_tool("eraser")
    _drag(w, [((x0 + x1) / 2, y), ((x0 + x1) / 2 + 30, y)])
    erased = w.mask.copy()
    assert erased[int(y), int((x0 + x1) / 2) + 10] == 0
    w.undo_action.trigger()
    assert np.array_equal(w.mask, painted)
    w.undo_action.trigger()
    assert np.array_equal(w.mask, start)
    w.redo_action.trigger()
    w.redo_action.trigger()
    assert np.array_equal(w.mask, erased)
    # The overlay shows the mask that is there now.
    assert w.canvas.overlay.argb[int(y), int((x0 + x1) / 2) + 10, 3] == 0
    assert w.canvas.overlay.argb[int(y), int(x0 + 45), 3] > 0
    assert w.has_unexported_changes()


def test_unmask_on_the_worker_export_keeps_the_rest_of_the_photo(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    w.mask_op("Clear mask", None)
    x0, y0, x1, y1 = (float(v) for v in w.faces[0].box)
    w.canvas.set_zoom(0.5)
    w.set_brush_size(80)
    w.hardness_slider.setValue(100)
    ym = y0 + 0.75 * (y1 - y0)
    _drag(w, [(x0 + 80, ym), (x1 - 80, ym)])
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
    assert w.job is not None and w.job is not main_thread and w.job.isRunning() or w.result is not None
    qtbot.waitUntil(lambda: w.job is None, timeout=120000)
    timer.stop()
    assert w.result is not None and w.undo.text(w.undo.count() - 1) == "Unmask"
    assert not w.canvas.overlay.isVisible()  # the result shows, not the mask over it
    w.set_tool("brush")
    assert w.canvas.overlay.isVisible() and w.toggle_mask_action.isChecked()  # back to see what is painted
    assert max(gaps) < 0.1, f"the event loop was blocked for {max(gaps) * 1000:.0f} ms"
    assert "CPU" in w.device_label.text()
    out = tmp_path / "export.png"
    assert w.export_to(out)
    assert not w.has_unexported_changes()
    original, exported = read_photo(PHOTO).pixels, read_photo(out).pixels
    # The fill is blended over a feathered edge a few crop pixels wide (a 64 px test model's crop
    # pixel is ~12 photo pixels here): everything beyond 8 crop pixels is the original, bit for bit.
    p5 = w.faces[0].points5
    crop_px = np.linalg.norm(p5[1] - p5[0]) / (0.25 * 64)
    r = int(8 * crop_px)
    near = cv2.dilate((w.mask > 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    assert near.mean() < 0.5
    assert np.array_equal(exported[~near], original[~near])  # beyond the mask's edge: the original
    assert not np.array_equal(exported[w.mask > 127], original[w.mask > 127])
    # Undo takes the result away; compare shows the original while held.
    w.compare(True)
    assert w.canvas.result_item.opacity() == 0.0
    w.compare(False)
    w.undo_action.trigger()
    assert w.result is None


def test_cancel_stops_the_unmask(qtbot, window):
    w = window
    _open(qtbot, w)
    w.unmask()
    w.cancel_job()
    qtbot.waitUntil(lambda: w.job is None, timeout=60000)
    assert w.result is None and w.status_text.text() == "Cancelled."


def test_face_box_drawn_by_hand_is_undoable(qtbot, window):
    w = window
    _open(qtbot, w)
    x0, y0, x1, y1 = (float(v) for v in w.faces[0].box)
    w.canvas.set_zoom(0.5)
    w.set_tool("face")
    _drag(w, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    qtbot.waitUntil(lambda: w.job is None and len(w.faces) == 2, timeout=60000)
    assert w.faces[1].manual and w.face_list.count() == 2
    w.face_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert w.included == [False, True]
    w.undo_action.trigger()
    assert w.included == [True, True]
    w.undo_action.trigger()
    assert len(w.faces) == 1


def test_mask_operations_and_mask_files(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    start = w.mask.copy()
    for name, what in (("Grow mask", 3), ("Shrink mask", -6), ("Invert mask", "invert"), ("Clear mask", None)):
        before = w.mask.copy()
        w.mask_op(name, what)
        assert not np.array_equal(w.mask, before), name
    assert not w.mask.any()
    for _ in range(4):
        w.undo_action.trigger()
    assert np.array_equal(w.mask, start)
    assert w.export_mask_to(tmp_path / "m.png")
    w.mask_op("Clear mask", None)
    assert w.import_mask_from(tmp_path / "m.png")
    assert np.array_equal(w.mask, start)
    assert not w.import_mask_from(EXAMPLE) and "but the photo is" in w.last_error


def test_settings_recent_files_and_plain_errors(qtbot, window, tmp_path):
    w = window
    _open(qtbot, w)
    assert QSettings().value("recent")[0] == str(PHOTO)
    assert w.default_export_path().name == "00002_unmasked.jpg"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    assert not w.open_path(bad)
    assert "not an image" in w.last_error and w.path == PHOTO  # the open photo is kept
    w.close()
    assert QSettings().value("window/geometry") is not None


def test_no_face_found_says_what_to_do(qtbot, window, tmp_path):
    from PIL import Image

    w = window
    Image.new("RGB", (300, 200), (90, 140, 200)).save(tmp_path / "sky.png")
    assert w.open_path(tmp_path / "sky.png")
    qtbot.waitUntil(lambda: w.job is None, timeout=60000)
    assert w.faces == [] and "Draw a face box" in w.last_error


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
    qtbot.waitUntil(lambda: w.job is None and len(w.faces) > 0, timeout=60000)
    assert w.path is None and w.original.shape == read_photo(EXAMPLE).pixels.shape
    assert w.default_export_path().name == "pasted_unmasked.png"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(PHOTO))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    w.dropEvent(drop)
    qtbot.waitUntil(lambda: w.job is None and w.path == PHOTO, timeout=60000)


def test_batch_from_the_window(qtbot, window, tmp_path):
    from .conftest import RMFD

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
    qtbot.waitUntil(lambda: w.job is None and w.path == album / "astronaut.jpg", timeout=60000)
    assert w.default_export_path() == tmp_path / "out" / "astronaut_unmasked.jpg"
    # A second start over the same folders resumes: nothing is redone.
    qtbot.mouseClick(d.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.thread is None, timeout=120000)
    assert rows["astronaut.jpg"].status == "unmasked"
    assert {r.input: r.status for r in d.results}["astronaut.jpg"] == "exists"


def test_batch_cancel_from_the_window(qtbot, window, tmp_path):
    from .conftest import RMFD

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
