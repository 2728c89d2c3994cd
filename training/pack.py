"""Inpainter training pairs carried to a machine that has no `../shared` (a rented GPU).

    python -m training.pack pack --faces ../shared/data/faces --landmarks runs/landmarks.jsonl \
        --size 256 --photos 5000 --val-photos 96 --out runs/pack256
    python -m training.pack unpack runs/pack256 --out runs/data      # there: runs/data/256/...

A pack holds the chosen face photos as they are (their original bytes), each one's five points,
and the exact map of every pair `training.pairs` would draw on it (same code, same seeds), packed
one bit a pixel. That is all a generator that blanks its hole needs: the face outside the map is
the photo's, and no pixel inside the map reaches the network (`blank_hole`, or `coarse_fill`
before a refiner), so the drawn mask itself is not carried: `unpack` writes it as mid-grey. A
pack of 5,000 photos at 256 px is about 30 MB where the pairs themselves are 4.6 GB.

`unpack` writes the arrays `training.pairs` writes (`<out>/<size>/<split>_target.npy`, `_masked`,
`_map`, `_index.json`), so `training.train --data <out>` reads them unchanged.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from app.align import align_face
from app.fileutil import atomic_write_bytes
from app.imageio import read_photo
from training.landmarks import load_cache
from training.pairs import close_pair_arrays, make_pair, open_pair_arrays, pair_seed
from training.split import load_split, split_of

BLANK = 128  # the uint8 grey a blanked hole is written as (the network blanks it to 0 anyway)


def choose_photos(cache: dict[str, dict | None], photos: int, val_photos: int, seed: int) -> dict[str, list[str]]:
    """A reproducible random choice of photos with landmarks, per split (training.split)."""
    split = load_split()
    paths = {"train": [], "val": []}
    for p in sorted(p for p, f in cache.items() if f is not None):
        paths[split_of(p, split)].append(p)
    rng = np.random.default_rng(seed)
    out = {}
    for s, want in (("train", photos), ("val", val_photos)):
        have = paths[s]
        pick = rng.choice(len(have), size=min(want, len(have)), replace=False) if want else np.arange(len(have))
        out[s] = [have[i] for i in sorted(pick)]
    return out


def pack(faces: Path, landmarks: Path, size: int, photos: int, val_photos: int, variants: int, seed: int,
         out: Path) -> dict[str, int]:
    cache = load_cache(landmarks)
    chosen = choose_photos(cache, photos, val_photos, seed)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"size": size, "seed": seed, "variants": variants, "points5": {}, "rows": {}}
    counts = {}
    for s, paths in chosen.items():
        rows, maps = [], []
        for path in paths:
            face = cache[path]
            image = read_photo(faces / path).pixels
            for v in range(variants if s == "train" else 1):
                pair = make_pair(image, face["points5"], face["points68"], size,
                                 np.random.default_rng(pair_seed(seed, path, v)))
                rows.append([path, v])
                maps.append(np.packbits(pair.map.astype(bool), axis=-1))
            dest = out / "faces" / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(faces / path, dest)
            meta["points5"][path] = face["points5"]
        meta["rows"][s] = rows
        buf = out / f"{s}_maps.npz"
        np.savez_compressed(buf, maps=np.stack(maps) if maps else np.zeros((0, size, size // 8), np.uint8))
        counts[s] = len(rows)
    atomic_write_bytes(out / "pack.json", json.dumps(meta).encode())
    return counts


def _target(args: tuple[str, list, int]) -> np.ndarray:
    path, points5, size = args
    return align_face(read_photo(path).pixels, np.asarray(points5, np.float64), size).crop


def unpack(src: Path, out: Path, workers: int = 0, size: int = 0) -> dict[str, int]:
    """The pack's pairs at its size, or at `size`: the faces aligned at that size and the maps
    resized (a pixel is in the hole where at least half of it was), so one pack serves a run at
    each size."""
    meta = json.loads((src / "pack.json").read_text())
    packed = meta["size"]
    size = size or packed
    dest = out / str(size)
    dest.mkdir(parents=True, exist_ok=True)
    counts = {}
    with ProcessPoolExecutor(max_workers=workers or None) as pool:
        for s, rows in meta["rows"].items():
            paths = sorted({p for p, _ in rows})
            targets = dict(zip(paths, pool.map(_target, [(str(src / "faces" / p), meta["points5"][p], size) for p in paths],
                                               chunksize=16)))
            with np.load(src / f"{s}_maps.npz") as z:
                maps = np.unpackbits(z["maps"], axis=-1)[..., :packed].astype(np.uint8)
            if size != packed:
                maps = np.stack([cv2.resize(k.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) >= 0.5
                                 for k in maps]).astype(np.uint8) if len(maps) else np.zeros((0, size, size), np.uint8)
            n = len(rows)
            arrays = open_pair_arrays(dest, s, n, size)
            for i, (p, _) in enumerate(rows):
                t = targets[p]
                arrays["target"][i] = t
                arrays["masked"][i] = np.where(maps[i][..., None] > 0, np.uint8(BLANK), t)
                arrays["map"][i] = maps[i]
            close_pair_arrays(dest, s, arrays)
            index = {"size": size, "seed": meta["seed"], "variants": meta["variants"], "rows": rows,
                     "from_pack": str(src), "maps_drawn_at": packed}
            atomic_write_bytes(dest / f"{s}_index.json", json.dumps(index).encode())
            counts[s] = n
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="choose photos and draw their maps into a pack")
    p.add_argument("--faces", type=Path, required=True)
    p.add_argument("--landmarks", type=Path, required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--photos", type=int, default=5000, help="training photos (0: all)")
    p.add_argument("--val-photos", type=int, default=96, help="validation photos (0: all)")
    p.add_argument("--variants", type=int, default=2, help="masks drawn per training photo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    u = sub.add_parser("unpack", help="write a pack's pairs as training.pairs does")
    u.add_argument("pack", type=Path)
    u.add_argument("--out", type=Path, required=True)
    u.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    u.add_argument("--size", type=int, default=0, help="unpack at this size instead of the pack's")
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        counts = pack(args.faces, args.landmarks, args.size, args.photos, args.val_photos, args.variants, args.seed,
                      args.out)
    else:
        if not (args.pack / "pack.json").exists():
            raise SystemExit(f"{args.pack}: not a pack (no pack.json); make one with python -m training.pack pack")
        counts = unpack(args.pack, args.out, args.workers, args.size)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
