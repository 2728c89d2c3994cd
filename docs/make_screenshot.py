"""Takes docs/images/editor.png from the real app: the two-face example opened, its faces found
(the Faces list says the unmasked one will be left alone), stage 1's mask shown with the brush's
outline over its edge; then docs/images/example_result.png, the masked face before and after
unmasking with the shipped models, and the other face, untouched.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb python docs/make_screenshot.py
    QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py      # without an X server
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wait(app, condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the editor")
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    images = Path(argv[0]) if argv else ROOT / "docs" / "images"
    out = images / "editor.png"
    settings_dir = tempfile.mkdtemp(prefix="unmasker-shot-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Unmasker")
    app.setApplicationName("Unmasker")

    import cv2
    import numpy as np

    from PySide6.QtTest import QTest

    from app.imageio import Photo, write_photo
    from app.ui.main_window import MainWindow

    w = MainWindow()
    w.resize(1400, 860)
    w.show()
    if not w.open_path(ROOT / "resources" / "examples" / "two_faces_one_masked.jpg"):
        raise SystemExit(w.last_error)
    _wait(app, lambda: w.job is None and len(w.doc.faces) > 0, 120)
    if len(w.doc.faces) != 2 or [f.mask_found for f in w.doc.faces] != [True, False]:
        raise SystemExit(f"expected a masked face and an unmasked one, got {[f.mask_found for f in w.doc.faces]}")
    w.canvas.fit()
    w.set_tool("brush")
    w.set_brush_size(70)
    # The brush over the mask's right edge, as a retoucher would hold it to fix it.
    ys, xs = np.nonzero(w.doc.mask > 127)
    y = int(np.median(ys))
    x = int(xs[ys == y].max())
    vp = w.canvas.viewport()
    QTest.mouseMove(vp, w.canvas.mapFromScene(float(x), float(y)))
    for _ in range(20):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not w.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")
    w.unmask_action.trigger()
    _wait(app, lambda: w.job is None, 300)
    if w.doc.result is None:
        raise SystemExit("the unmask produced no result: " + w.last_error)
    tiles = []
    for face in w.doc.faces:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        pad = (x1 - x0) // 3
        y0, y1 = max(0, y0 - pad), min(w.doc.original.shape[0], y1 + pad)
        x0, x1 = max(0, x0 - pad), min(w.doc.original.shape[1], x1 + pad)
        tiles.append(np.concatenate([w.doc.original[y0:y1, x0:x1], w.doc.result[y0:y1, x0:x1]], axis=1))
    h = min(t.shape[0] for t in tiles)
    pair = np.concatenate([tiles[0][:h], np.full((h, 12, 3), 255, np.uint8), tiles[1][:h]], axis=1)
    pair = cv2.resize(pair, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)  # every pixel shown as 2x2
    write_photo(Photo(np.ascontiguousarray(pair)), images / "example_result.png", overwrite=True)
    print(f"wrote {images / 'example_result.png'}")
    w.doc.mark_exported()  # nothing to ask about on close
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
