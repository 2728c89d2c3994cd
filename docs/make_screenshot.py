"""Takes docs/images/editor.png from the real app: the example photo opened, its face found,
unmasked with the shipped models, the result shown; and docs/images/example_result.png, the
face before and after, cut from that same result.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py
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

    from app.imageio import Photo, write_photo
    from app.ui.main_window import MainWindow

    w = MainWindow()
    w.resize(1280, 820)
    w.show()
    if not w.open_path(ROOT / "resources" / "examples" / "astronaut_masked.jpg"):
        raise SystemExit(w.last_error)
    _wait(app, lambda: w.job is None and len(w.faces) > 0, 120)
    w.unmask_action.trigger()
    _wait(app, lambda: w.job is None, 300)
    if w.result is None:
        raise SystemExit("the unmask produced no result: " + w.last_error)
    w.canvas.fit()
    for _ in range(20):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not w.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")
    x0, y0, x1, y1 = (int(v) for v in w.faces[0].box)
    pad = (x1 - x0) // 3
    y0, y1 = max(0, y0 - pad), min(w.original.shape[0], y1 + pad)
    x0, x1 = max(0, x0 - pad), min(w.original.shape[1], x1 + pad)
    pair = np.concatenate([w.original[y0:y1, x0:x1], w.result[y0:y1, x0:x1]], axis=1)
    pair = cv2.resize(pair, None, fx=2, fy=2, interpolation=cv2.INTER_LANCZOS4)
    write_photo(Photo(np.ascontiguousarray(pair)), images / "example_result.png", overwrite=True)
    print(f"wrote {images / 'example_result.png'}")
    w.exported_index = w.undo.index()  # nothing to ask about on close
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
