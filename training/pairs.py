"""Synthetic masked/unmasked training pairs.

    python -m training.pairs --faces ../shared/data/faces --landmarks runs/landmarks.jsonl \
        --size 128 --variants 2 --seed 0 --out runs/data

For each face photo with landmarks (see `training.landmarks`) and each variant: the face aligned
by the app's own `align_face`, a mask drawn on it (a MaskTheFace template or a procedural mask),
and the exact binary map of the pixels the mask changed. Every pair has its own seed made from the
run's seed, the photo's path and the variant number, so the dataset is rebuilt bit for bit and
does not depend on the order photos are visited in.

Writes, per split (train / val, by identity: `training/split.json`):
`<out>/<size>/<split>_target.npy`, `_masked.npy` (N, S, S, 3) uint8, `_map.npy` (N, S, S) uint8,
`_index.json` (path and variant of each row), and `<out>/<size>/contact_sheet.png`.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.align import align_face
from app.fileutil import atomic_write_bytes
from app.imageio import read_photo
from training.landmarks import load_cache
from training.masks import DEFAULT_MASK_DIR, draw_mask, random_style
from training.split import load_split, split_of
from training.templates import draw_template_mask, random_template_style

TEMPLATE_SHARE = 0.6  # the rest are procedural masks


@dataclass
class Pair:
    target: np.ndarray  # (S, S, 3) uint8, the face without a mask
    masked: np.ndarray  # (S, S, 3) uint8
    map: np.ndarray  # (S, S) uint8 {0, 1}
    kind: str  # "template" or "procedural"


def pair_seed(seed: int, path: str, variant: int) -> int:
    return zlib.crc32(f"{seed}:{path}:{variant}".encode())


def make_pair(image: np.ndarray, points5: np.ndarray, points68: np.ndarray, size: int,
              rng: np.random.Generator, mask_dir: str = str(DEFAULT_MASK_DIR)) -> Pair:
    """One pair from a photo and its landmarks, all randomness from rng."""
    aligned = align_face(image, np.asarray(points5, np.float64), size)
    p68 = aligned.to_crop(np.asarray(points68, np.float64))
    if rng.random() < TEMPLATE_SHARE:
        masked, m = draw_template_mask(aligned.crop, p68, random_template_style(rng), mask_dir)
        kind = "template"
    else:
        masked, m = draw_mask(aligned.crop, p68, random_style(rng))
        kind = "procedural"
    return Pair(aligned.crop, masked, m, kind)


def contact_sheet(rows: list[tuple[np.ndarray, ...]], cell: int = 128) -> np.ndarray:
    """Rows of images side by side (RGB uint8, or 2-D maps shown white on black), one row each."""
    out = []
    for row in rows:
        cells = []
        for im in row:
            if im.ndim == 2:
                im = np.repeat((im > 0).astype(np.uint8)[..., None] * 255 if im.max() <= 1 else im[..., None], 3, 2)
            if im.shape[0] != cell:
                im = cv2.resize(im, (cell, cell), interpolation=cv2.INTER_AREA)
            cells.append(np.pad(im, ((1, 1), (1, 1), (0, 0)), constant_values=255))
        out.append(np.concatenate(cells, 1))
    return np.concatenate(out, 0)


def save_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def open_pair_arrays(dest: Path, split: str, n: int, size: int,
                     keys: tuple[str, ...] = ("target", "masked", "map")) -> dict[str, np.ndarray]:
    """The split's arrays for n pairs (target and masked images, the map; stage 1's set has no
    target), written as `.npy.part` memmaps (close_pair_arrays puts them in place)."""
    return {k: np.lib.format.open_memmap(dest / f"{split}_{k}.npy.part", mode="w+", dtype=np.uint8,
                                         shape=(n, size, size, 3) if k != "map" else (n, size, size))
            for k in keys}


def close_pair_arrays(dest: Path, split: str, arrays: dict[str, np.ndarray]) -> None:
    """Flush open_pair_arrays' files and move each into place, so a reader never sees half of one."""
    for k in list(arrays):
        a = arrays.pop(k)
        a.flush()
        del a
        (dest / f"{split}_{k}.npy.part").replace(dest / f"{split}_{k}.npy")


def _photo_pairs(job: tuple[str, str, dict, list[int], int, int, str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """Every variant's pair of one photo (a worker's unit: the photo is read once)."""
    faces, path, face, variants, size, seed, mask_dir = job
    image = read_photo(Path(faces) / path).pixels
    out = []
    for v in variants:
        pair = make_pair(image, face["points5"], face["points68"], size, np.random.default_rng(pair_seed(seed, path, v)),
                         mask_dir)
        out.append((pair.target, pair.masked, pair.map, pair.kind))
    return out


def build(faces: Path, landmarks: Path, size: int, variants: int, seed: int, out: Path,
          limit: int = 0, val_variants: int = 1, workers: int = 1,
          mask_dir: Path = DEFAULT_MASK_DIR) -> dict[str, int]:
    """The pairs of every photo with landmarks. `workers` > 1 draws them in that many processes
    (a rented GPU machine's cores); the arrays are the same bit for bit, since each pair's
    randomness is its own seed's."""
    cache = load_cache(landmarks)
    split = load_split()
    items = sorted((p, f) for p, f in cache.items() if f is not None)
    if limit:
        items = items[:limit]
    rows: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for path, _ in items:
        s = split_of(path, split)
        for v in range(variants if s == "train" else val_variants):
            rows[s].append((path, v))
    dest = out / str(size)
    dest.mkdir(parents=True, exist_ok=True)
    counts = {}
    sheet = []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for s, todo in rows.items():
            n = len(todo)
            counts[s] = n
            arrays = open_pair_arrays(dest, s, n, size)
            kinds = []
            jobs: dict[str, list[int]] = {}
            for path, v in todo:
                jobs.setdefault(path, []).append(v)
            work = [(str(faces), path, cache[path], vs, size, seed, str(mask_dir)) for path, vs in jobs.items()]
            results = pool.map(_photo_pairs, work, chunksize=8) if pool else map(_photo_pairs, work)
            i = 0
            for pairs in results:
                for target, masked, m, kind in pairs:
                    arrays["target"][i], arrays["masked"][i], arrays["map"][i] = target, masked, m
                    kinds.append(kind)
                    i += 1
                    if i % 2000 == 0:
                        print(f"{s}: {i}/{n}", file=sys.stderr)
            close_pair_arrays(dest, s, arrays)
            index = {"size": size, "seed": seed, "variants": variants, "rows": [[p, v] for p, v in todo], "kinds": kinds}
            atomic_write_bytes(dest / f"{s}_index.json", json.dumps(index).encode())
            if s == "train" and n:
                target = np.load(dest / "train_target.npy", mmap_mode="r")
                masked = np.load(dest / "train_masked.npy", mmap_mode="r")
                maps = np.load(dest / "train_map.npy", mmap_mode="r")
                for i in np.random.default_rng(seed).choice(n, size=min(n, 24), replace=False):
                    sheet.append((masked[i], maps[i], target[i]))
    finally:
        if pool:
            pool.shutdown()
    if sheet:
        # Three pairs per row: input, map, target.
        rows3 = [sum(sheet[k:k + 3], ()) for k in range(0, len(sheet) - 2, 3)]
        save_png(dest / "contact_sheet.png", contact_sheet(rows3, cell=max(size, 128)))
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--landmarks", type=Path, required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--variants", type=int, default=2, help="masks drawn per training photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="processes drawing the pairs (the result is the same)")
    ap.add_argument("--mask-dir", type=Path, default=DEFAULT_MASK_DIR, help="MaskTheFace's mask templates")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    counts = build(args.faces, args.landmarks, args.size, args.variants, args.seed, args.out, args.limit,
                   workers=args.workers, mask_dir=args.mask_dir)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
