"""Detection rate of the face finder on the real masked photos in ../shared/data/real_masked.

    python -m benchmarks.detect_real_masked [--engine default|mtcnn] [--limit N]

Prints, per set, the share of photos with at least one face found (faces of the finder's size floor
and more, and of any size) and the time per photo. RMFD photos are whole scenes of at most
256 px; MaskedFace-Net photos are 1024 px single faces.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from app.faces import make_face_finder
from app.imageio import read_photo

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_masked"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="default")
    ap.add_argument("--limit", type=int, default=0, help="photos per set (0: all)")
    ap.add_argument("--data", type=Path, default=DATA)
    a = ap.parse_args()
    finder = make_face_finder(a.engine)
    floor = finder.min_face  # the app's floor; the finder itself keeps every size here
    finder.min_face = 0
    sets = {
        "rmfd": sorted((a.data / "rmfd").glob("*/*.jpg")),
        "maskedfacenet": sorted((a.data / "maskedfacenet").glob("*/images/*")),
    }
    for name, paths in sets.items():
        if a.limit:
            paths = paths[:: max(1, len(paths) // a.limit)][: a.limit]
        any_size = big = faces_total = 0
        times = []
        for p in paths:
            pixels = read_photo(p).pixels
            t = time.perf_counter()
            faces = finder.detect(pixels)
            times.append(time.perf_counter() - t)
            kept = [f for f in faces if min(f.width, f.height) >= floor]
            any_size += bool(faces)
            big += bool(kept)
            faces_total += len(kept)
        n = len(paths)
        print(f"{name}: {n} photos; a face found in {any_size / n:.1%} (any size), "
              f"{big / n:.1%} (>= {floor} px, {faces_total} faces); "
              f"median {statistics.median(times) * 1000:.0f} ms per photo on this machine")


if __name__ == "__main__":
    main()
