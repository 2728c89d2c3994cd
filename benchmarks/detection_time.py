"""Face finding time on a 24-megapixel photo: the default finder (BlazeFace + MTCNN) against the
first release's (MTCNN alone), in the same process, interleaved, median of the repeats.

    python -m benchmarks.detection_time [--repeats 5] [--scenes 60]

The photo is the repository's two-face example enlarged to 6000 x 4000 (faces of about 900 px),
so the figure includes dlib's landmarks on full-resolution faces, as a camera photo would. Its
faces are sure ones: the face verifier is never asked. With `--scenes N`, the default finder with
and without the verifier on N of facemaskdetection's tuning scenes (crowds, where weak boxes are
many), interleaved: the verifier's own cost.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import cv2

from app.faces import BlazeMtcnnFinder, MtcnnDlibFinder
from app.imageio import read_photo
from app.paths import examples_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenes", type=int, default=0, help="also time the verifier on this many real scenes")
    a = ap.parse_args(argv)
    small = read_photo(examples_dir() / "two_faces_one_masked.jpg").pixels
    photo = cv2.resize(small, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    finders = {"first release (MTCNN)": MtcnnDlibFinder(), "default (BlazeFace + MTCNN)": BlazeMtcnnFinder()}
    found = {k: len(f.detect(photo)) for k, f in finders.items()}  # warm-up (loads the models)
    times, _ = _interleaved(finders, [photo] * a.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["first release (MTCNN)"]
    print(f"24 MP photo ({photo.shape[1]}x{photo.shape[0]}), median of {a.repeats}:")
    for k, v in med.items():
        print(f"  {k}: {v * 1000:.0f} ms, {found[k]} faces, {v / base:.2f}x the first release")
    if a.scenes:
        scenes_with_and_without_the_verifier(a.scenes)
    return 0


def _interleaved(finders: dict, photos) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Each photo through every finder in turn: the seconds each took, and the faces each found."""
    times: dict[str, list[float]] = {k: [] for k in finders}
    faces = {k: 0 for k in finders}
    for px in photos:
        for name, f in finders.items():
            t = time.perf_counter()
            faces[name] += len(f.detect(px))
            times[name].append(time.perf_counter() - t)
    return times, faces


def scenes_with_and_without_the_verifier(n: int) -> None:
    from benchmarks.real_photos import DATA, labelled_scenes

    finders = {"without the verifier": BlazeMtcnnFinder(verify=False), "with it": BlazeMtcnnFinder()}
    times, faces = _interleaved(finders, (read_photo(p).pixels for p, _ in labelled_scenes(DATA, "tune", n)))
    base = sum(times["without the verifier"])
    print(f"{n} real scenes (facemaskdetection tuning part), total:")
    for k, v in times.items():
        print(f"  {k}: {sum(v):.1f} s, median {statistics.median(v) * 1000:.0f} ms per scene, {faces[k]} faces, "
              f"{sum(v) / base:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
