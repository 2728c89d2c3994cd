"""Figures for docs/robustness.md: a 100-megapixel photo through the whole pipeline, and how fast
a decompression bomb is refused.

    python -m benchmarks.robustness [--megapixels 100]

The big photo is the shipped example enlarged to 10,000 x 10,000 and saved as JPEG in a temporary
folder; it is read, its face found, unmasked with the installed models (or, with --untrained,
the plumbing only) and written back as JPEG. Peak memory is the resident size above the level
before the run, sampled every 5 ms.
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path

import cv2

from app.errors import ImageReadError
from app.faces import make_face_finder
from app.imageio import read_photo, write_photo
from app.inference.engine import Unmasker
from app.paths import examples_dir
from app.pipeline import unmask_faces
from benchmarks.batch import PeakMemory


def png_bomb(path: Path, side: int) -> None:
    """A tiny PNG whose header claims side x side pixels (its data is a few bytes of zeros)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
                     + chunk(b"IEND", b""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--megapixels", type=float, default=100)
    ap.add_argument("--untrained", action="store_true", help="allow untrained models (plumbing only)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="unmasker-robust-"))
    try:
        bomb = tmp / "bomb.png"
        png_bomb(bomb, 50_000)
        t = time.perf_counter()
        try:
            read_photo(bomb)
            print("bomb: NOT refused")
        except ImageReadError as e:
            print(f"bomb ({bomb.stat().st_size} bytes claiming 50000x50000 = 2,500 MP): refused in "
                  f"{(time.perf_counter() - t) * 1000:.1f} ms: {e}")

        side = int((a.megapixels * 1e6) ** 0.5)
        src = cv2.imread(str(examples_dir() / "astronaut_masked.jpg"))
        big = tmp / "big.jpg"
        cv2.imwrite(str(big), cv2.resize(src, (side, side), interpolation=cv2.INTER_LINEAR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        del src
        engine = Unmasker.from_installed("cpu", allow_untrained=a.untrained)
        finder = make_face_finder()
        with PeakMemory() as mem:
            t = time.perf_counter()
            photo = read_photo(big)
            t_read = time.perf_counter() - t
            faces = finder.detect(photo.pixels)
            t_detect = time.perf_counter() - t - t_read
            result = unmask_faces(photo.pixels, faces, engine)
            photo.pixels = result.pixels
            del result
            write_photo(photo, tmp / "big_out.jpg")
            total = time.perf_counter() - t
        print(f"{side}x{side} ({side * side / 1e6:.0f} MP) JPEG: {len(faces)} face(s); read {t_read:.1f} s, "
              f"faces {t_detect:.1f} s, total {total:.1f} s; peak memory +{mem.above_mib:.0f} MiB "
              f"(the RGB pixels alone are {side * side * 3 / 2 ** 20:.0f} MiB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
