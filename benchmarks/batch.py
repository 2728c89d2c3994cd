"""Batch throughput: the pipelined batch against the same work in a plain loop, same process.

    python -m benchmarks.batch [--photos ../shared/data/real_masked/rmfd] [--limit 120] [--workers 2]

Both runs read every photo, find its faces, run both networks and write the result (JPEG) into a
fresh temporary folder, with the installed models and the same face finder, after a warm-up.
Prints photos per second, the ratio, and the peak resident memory above the starting point
during each run (sampled every 5 ms from /proc).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from app.batch import READABLE, BatchOptions, BatchRunner
from app.faces import make_face_finder
from app.fileutil import atomic_write_bytes
from app.imageio import encode_photo, read_photo
from app.inference.engine import Unmasker
from app.pipeline import unmask_faces

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_masked" / "rmfd"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak RSS above the level at entry, sampled in a thread."""

    def __enter__(self) -> "PeakMemory":
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def above_mib(self) -> float:
        return (self.peak - self.base) / 2 ** 20


def plain_loop(photos: list[Path], src: Path, out: Path, engine, finder) -> None:
    for p in photos:
        try:
            photo = read_photo(p)
        except Exception:
            continue
        faces = finder.detect(photo.pixels)
        if faces:
            photo.pixels = unmask_faces(photo.pixels, faces, engine).pixels
        dest = out / p.relative_to(src).with_suffix(".jpg")
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dest, encode_photo(photo, "JPEG"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    photos = sorted(p for p in a.photos.rglob("*") if p.suffix.lower() in READABLE)[: a.limit]
    if not photos:
        raise SystemExit(f"no photos under {a.photos}")
    # The batch reads a folder: give it exactly these photos, linked into a temporary tree.
    tmp = Path(tempfile.mkdtemp(prefix="unmasker-bench-"))
    try:
        src = tmp / "in"
        for p in photos:
            dest = src / p.relative_to(a.photos)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(p.resolve(), dest)
        engine = Unmasker.from_installed(a.device)
        finder = make_face_finder(device=str(engine.device))
        plain_loop(photos[:3], a.photos, tmp / "warm", engine, finder)  # warm-up: first calls, caches

        with PeakMemory() as mem_plain:
            t = time.perf_counter()
            plain_loop(photos, a.photos, tmp / "plain", engine, finder)
            plain_s = time.perf_counter() - t
        with PeakMemory() as mem_batch:
            t = time.perf_counter()
            summary = BatchRunner(engine, finder, BatchOptions(recursive=True, workers=a.workers,
                                                               format="jpg")).run(src, tmp / "batch")
            batch_s = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(photos)
    print(f"{n} photos from {a.photos} on {engine.device}, {engine.size} px models, {os.cpu_count()} CPU cores")
    print(f"plain loop : {n / plain_s:6.2f} photos/s ({plain_s:.1f} s), peak memory +{mem_plain.above_mib:.0f} MiB")
    print(f"batch      : {n / batch_s:6.2f} photos/s ({batch_s:.1f} s), peak memory +{mem_batch.above_mib:.0f} MiB, "
          f"workers {a.workers}")
    print(f"ratio      : {plain_s / batch_s:.2f}x")
    print(f"batch: {summary.text()}")


if __name__ == "__main__":
    main()
