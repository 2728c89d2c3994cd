"""How the editor's canvas keeps up on a 24-megapixel photo (offscreen Qt, this machine's CPU).

    QT_QPA_PLATFORM=offscreen python -m benchmarks.canvas [--megapixels 24]

Opens a 6000 x 4000 photo in the real window (face finding off: this measures the canvas), then
prints the time to show it, to repaint the whole view at "fit" and at 100 %, to pan, to zoom,
and how many brush dabs per second a stroke gets with the overlay kept up to date, and the undo
patch size of a stroke, against the size of the whole mask.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app import maskedit
    from app.imageio import Photo
    from app.paths import examples_dir
    from app.ui.canvas import Tool
    from app.ui.main_window import MainWindow

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--megapixels", type=float, default=24)
    a = ap.parse_args()
    w_px = int((a.megapixels * 1e6 * 1.5) ** 0.5)
    h_px = int(w_px / 1.5)
    src = cv2.cvtColor(cv2.imread(str(examples_dir() / "astronaut_masked.jpg")), cv2.COLOR_BGR2RGB)
    pixels = cv2.resize(src, (w_px, h_px), interpolation=cv2.INTER_LINEAR)

    app = QApplication.instance() or QApplication([])

    class NoFaces:
        def detect(self, _px):
            return []

    win = MainWindow(engine_factory=lambda: None, finder_factory=NoFaces)
    win.resize(1600, 1000)
    win.show()
    app.processEvents()

    def timed(fn, repeats=5):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            app.processEvents()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    t = time.perf_counter()
    win._load(Photo(pixels=pixels), None)
    while win.job is not None:
        app.processEvents()
    app.processEvents()
    open_ms = (time.perf_counter() - t) * 1000
    view = win.canvas.viewport()
    fit_ms = timed(lambda: view.repaint())
    win.canvas.set_zoom(1.0)
    win.canvas.centerOn(w_px / 2, h_px / 2)
    full_ms = timed(lambda: view.repaint())
    bar = win.canvas.horizontalScrollBar()
    pan_ms = timed(lambda: (bar.setValue(bar.value() + 40), view.repaint()), repeats=20)
    zoom_ms = timed(lambda: (win.canvas.zoom_by(1.25), view.repaint(), win.canvas.zoom_by(0.8), view.repaint()))
    # A brush stroke across the middle: dabs with the overlay refreshed, as a mouse drag does.
    win.canvas.set_brush(size=60)
    before = win.mask.copy()
    pts = maskedit.stroke_points((w_px * 0.3, h_px * 0.5), (w_px * 0.7, h_px * 0.5), 30)
    brush = win.canvas._handlers[Tool.BRUSH]
    t = time.perf_counter()
    for x, y in pts:
        brush.dab(x, y)
    app.processEvents()
    view.repaint()
    stroke_s = time.perf_counter() - t
    t = time.perf_counter()
    patch = maskedit.diff_patch(before, win.mask)
    diff_ms = (time.perf_counter() - t) * 1000
    print(f"{w_px}x{h_px} ({w_px * h_px / 1e6:.0f} MP) photo, view {view.width()}x{view.height()}, "
          f"{os.cpu_count()} CPU cores, Qt platform {app.platformName()}")
    print(f"open and show       : {open_ms:7.0f} ms")
    print(f"repaint at fit      : {fit_ms:7.1f} ms")
    print(f"repaint at 100 %    : {full_ms:7.1f} ms")
    print(f"pan 40 px + repaint : {pan_ms:7.1f} ms")
    print(f"zoom in and out     : {zoom_ms:7.1f} ms")
    print(f"brush               : {len(pts) / stroke_s:7.0f} dabs/s ({len(pts)} dabs of 60 px in {stroke_s * 1000:.0f} ms)")
    print(f"stroke undo patch   : {patch.nbytes / 2 ** 20:7.2f} MiB (whole mask {before.nbytes / 2 ** 20:.1f} MiB), "
          f"found in {diff_ms:.0f} ms")
    win.close()


if __name__ == "__main__":
    main()
