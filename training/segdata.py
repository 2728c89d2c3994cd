"""Stage 1's training data: masked faces, faces with no mask at all, and real label maps.

    python -m training.segdata --faces ../shared/data/faces --landmarks runs/landmarks.jsonl \
        --maskedfacenet ../shared/data/real_masked/maskedfacenet --size 128 --out runs/data_seg

Stage 1 must answer "no mask" as well as "this is the mask", and find the mask however it is worn.
Each row is one aligned face (the app's `align_face`) and its exact map; the kinds, drawn per row
by the row's own seed (so the set is rebuilt bit for bit):

- none: the face as it is, an empty map (a large share: unmasked faces must come back untouched);
- mask: a MaskTheFace template or a procedural mask (`training.pairs.make_pair`), worn over the
  nose or under it;
- low: the mask pulled down onto the chin or around the neck, the mouth left visible; the map is
  only the fabric;
- double: a second mask over the first (a cloth mask over a surgical one, ...), the map their union;
- extras on a mask: a trim along its edge, an exhalation valve, a transparent window over the
  mouth (the window is part of the mask: filled too), all inside the map;
- wide (only when the build asks for a share, `--wide`): the mask wraps round the cheek towards
  the ear, past the jaw line the other kinds stop at, its side in shade, often with a wide ear loop.

Real faces then come in (`--real-scenes`): the tuning halves of RMFD and facemaskdetection, real
masks with maps from the first release's segmenter and real unmasked people with empty maps
(`real_scene_rows`), so stage 1 learns what real fabric looks like, not only drawn masks.

MaskedFace-Net's tuning part (`training/real_split.json`; its held-out part is never read here)
adds real label maps (class 2 = mask), each photo several times with the alignment jittered, as the
face finder's points jitter on real photos.

Writes `<out>/<size>/{train,val}_masked.npy` (N, S, S, 3) uint8, `_map.npy` (N, S, S) uint8,
`_index.json`, and `contact_sheet.png`. No `_target` arrays: stage 1 does not need them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from app.align import align_face, warp_mask_to_crop, warp_mask_to_photo
from app.fileutil import atomic_write_bytes
from app.imageio import read_photo
from training.landmarks import load_cache
from training.masks import DEFAULT_MASK_DIR, draw_mask, random_style
from training.pairs import close_pair_arrays, contact_sheet, open_pair_arrays, pair_seed, save_png
from training.split import load_split, real_part, split_of
from training.templates import draw_template_mask, random_template_style

# Share of each kind among synthetic rows.
KINDS = (("none", 0.30), ("mask", 0.38), ("low", 0.12), ("double", 0.06), ("extras", 0.14))
MFN_VARIANTS = 6  # jittered alignments per MaskedFace-Net photo
SHEET_KINDS = (*(name for name, _ in KINDS), "wide", "maskedfacenet")  # the contact sheet's rows, in order


def _draw_any(crop: np.ndarray, p68: np.ndarray, rng: np.random.Generator, mask_dir: str):
    if rng.random() < 0.6:
        return draw_template_mask(crop, p68, random_template_style(rng), mask_dir)
    return draw_mask(crop, p68, random_style(rng))


def draw_low(crop: np.ndarray, p68: np.ndarray, rng: np.random.Generator, mask_dir: str):
    """A mask worn on the chin or around the neck: drawn as worn, then slid down the face by 25 to
    70 % of the nose-to-chin height, so the mouth shows above it. The map is only the fabric."""
    p = np.asarray(p68, np.float64)
    drop = (p[8] - p[30]) * rng.uniform(0.55, 1.5)
    style = random_style(rng)
    style.nose_cover = float(rng.uniform(-0.3, 0.2))
    style.straps = False
    shifted = p + drop
    shifted[:, 0] = p[:, 0] + (p[:, 0] - p[27:36, 0].mean()) * rng.uniform(-0.08, 0.02)  # a little narrower
    if rng.random() < 0.5:
        return draw_mask(crop, shifted, style)
    tstyle = random_template_style(rng)
    tstyle.nose_cover = float(rng.uniform(0.0, 0.5))
    return draw_template_mask(crop, shifted, tstyle, mask_dir)


def draw_double(crop: np.ndarray, p68: np.ndarray, rng: np.random.Generator, mask_dir: str):
    """Two masks, the outer one drawn over the inner; the map is every pixel either changed."""
    inner, m1 = _draw_any(crop, p68, rng, mask_dir)
    p = np.asarray(p68, np.float64)
    outer_pts = p + (p - p[27:36].mean(0)) * rng.uniform(-0.06, 0.03)  # the outer one a little smaller or larger
    style = random_template_style(rng)
    style.nose_cover = float(rng.uniform(0.2, 0.8))
    out, _ = draw_template_mask(inner, outer_pts, style, mask_dir)
    return out, (m1 | np.any(out != crop, axis=2)).astype(np.uint8)


def draw_wide(crop: np.ndarray, p68: np.ndarray, rng: np.random.Generator, mask_dir: str):
    """A mask that wraps round the cheek to the ear, as a real one does on the near side of a turned
    face (and a little on the far side), where the drawn kinds stop at the jaw line: the jaw points
    spread away from the nose (the wider half of the face by 12-45 % of its width, the other by up
    to 12 %), the fabric darkened towards the wrapped side as the face's shade darkens it, and half
    the time a wide ear loop of the same fabric running on towards the ear. The map is every pixel
    changed."""
    p = np.asarray(p68, np.float64).copy()
    axis = float(p[27:31, 0].mean())
    near_left = axis - p[0:8, 0].min() >= p[9:17, 0].max() - axis
    s_near, s_far = rng.uniform(0.12, 0.45), rng.uniform(0.0, 0.12)
    p[0:8, 0] += (p[0:8, 0] - axis) * (s_near if near_left else s_far)
    p[9:17, 0] += (p[9:17, 0] - axis) * (s_far if near_left else s_near)
    out, m = _draw_any(crop, p, rng, mask_dir)
    ys, xs = np.nonzero(m)
    if len(xs) < 30:
        return out, m
    side = -1.0 if near_left else 1.0
    edge = float(xs.min() if near_left else xs.max())
    xx = np.arange(crop.shape[1], dtype=np.float64)
    t = np.clip((xx - axis) * side / max(abs(edge - axis), 1.0), 0.0, 1.0) ** rng.uniform(0.7, 2.0)
    if rng.random() < 0.5:  # the ear loop: from the mask's upper side corner on towards the ear
        fabric = np.median(out[m > 0], axis=0)
        top = int(np.percentile(ys, 15))
        row = np.nonzero(m[top])[0]
        x0 = int(row.min() if near_left else row.max()) if len(row) else int(edge)
        jaw_top = p[1] if near_left else p[15]
        ear = jaw_top + (jaw_top - p[27]) * np.array([0.25, 0.0])  # a quarter further out, level with it
        thick = max(2, round(crop.shape[0] * rng.uniform(0.02, 0.05)))
        loop = out.copy()
        cv2.line(loop, (x0, top), (int(ear[0]), int(ear[1])), tuple(float(c) for c in fabric * 0.85), thick, cv2.LINE_AA)
        m = (m | np.any(loop != out, axis=2)).astype(np.uint8)
        out = loop
    shade = 1.0 - (1.0 - rng.uniform(0.25, 0.9)) * t  # 1 at the nose, darkest at the wrapped edge
    dark = np.clip(np.round(out.astype(np.float64) * shade[None, :, None]), 0, 255).astype(np.uint8)
    out = np.where(m[..., None] > 0, dark, out)
    return out, m.astype(np.uint8)


def add_extras(masked: np.ndarray, face: np.ndarray, m: np.ndarray, rng: np.random.Generator):
    """A trim along the mask's edge, a valve on a cheek and/or a clear window over the mouth, each
    inside (or on the edge of) the mask; the map grows by every pixel changed."""
    out = masked.copy()
    n = m.shape[0]
    ys, xs = np.nonzero(m)
    if len(ys) < 30:
        return out, m
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    w, h = x1 - x0, y1 - y0
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    did = False
    if rng.random() < 0.5:  # trim: a band of another colour along the outline
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colour, max(1, round(n * rng.uniform(0.01, 0.025))), cv2.LINE_AA)
        did = True
    if rng.random() < 0.5:  # valve: a disc with a ring, on one cheek
        cx = int(x0 + w * rng.choice([rng.uniform(0.18, 0.32), rng.uniform(0.68, 0.82)]))
        cy = int(y0 + h * rng.uniform(0.35, 0.6))
        r = max(2, int(w * rng.uniform(0.07, 0.12)))
        vc = tuple(int(v) for v in rng.integers(20, 236, 3))
        cv2.circle(out, (cx, cy), r, vc, -1, cv2.LINE_AA)
        cv2.circle(out, (cx, cy), max(1, r * 2 // 3), tuple(max(0, c - 50) for c in vc), max(1, r // 4), cv2.LINE_AA)
        did = True
    if not did or rng.random() < 0.3:  # window: the face shows through clear plastic, with a rim
        win = np.zeros_like(m)
        cx, cy = int(x0 + w * 0.5), int(y0 + h * rng.uniform(0.5, 0.62))
        cv2.ellipse(win, (cx, cy), (max(2, int(w * rng.uniform(0.2, 0.3))), max(2, int(h * rng.uniform(0.14, 0.22)))),
                    0, 0, 360, 1, -1)
        win &= m
        tint = np.array(rng.integers(180, 256, 3), np.float32)
        a = rng.uniform(0.1, 0.3)
        clear = face.astype(np.float32) * (1 - a) + tint * a
        out[win > 0] = clear[win > 0].astype(np.uint8)
        rim, _ = cv2.findContours(win.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, rim, -1, colour, 1, cv2.LINE_AA)
    grown = m | np.any(out != masked, axis=2)
    return out, grown.astype(np.uint8)


def make_seg_row(image: np.ndarray, points5, points68, size: int, rng: np.random.Generator,
                 mask_dir: str = str(DEFAULT_MASK_DIR), wide: float = 0.0) -> tuple[np.ndarray, np.ndarray, str]:
    """(input crop, map {0, 1}, kind) for one face photo. `wide`, a share of all rows taken out of
    the "mask" kind's, makes those rows "wide" (`draw_wide`); with 0 the rows are what they were
    before that kind existed, draw for draw."""
    aligned = align_face(image, np.asarray(points5, np.float64), size)
    p68 = aligned.to_crop(np.asarray(points68, np.float64))
    crop = aligned.crop
    u, kind = rng.random(), KINDS[-1][0]
    for name, share in KINDS:
        if u < share:
            kind = name
            break
        u -= share
    if kind == "mask" and u < wide:
        kind = "wide"
    if kind == "none":
        return crop, np.zeros(crop.shape[:2], np.uint8), kind
    if kind == "low":
        out, m = draw_low(crop, p68, rng, mask_dir)
    elif kind == "double":
        out, m = draw_double(crop, p68, rng, mask_dir)
    elif kind == "wide":
        out, m = draw_wide(crop, p68, rng, mask_dir)
    else:
        out, m = _draw_any(crop, p68, rng, mask_dir)
        if kind == "extras":
            out, m = add_extras(out, crop, m, rng)
    return out, m.astype(np.uint8), kind


def jittered(points5: np.ndarray, rng: np.random.Generator, amount: float = 0.04) -> np.ndarray:
    """The five points moved as a face finder's points move on a real photo: a shift, a small
    rotation and scale about the eyes' centre, and a little noise per point."""
    p = np.asarray(points5, np.float64)
    eye = np.linalg.norm(p[1] - p[0])
    c = p[:2].mean(0)
    a = rng.normal(0, 0.05)
    s = 1 + rng.normal(0, amount)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * s
    return (p - c) @ rot.T + c + rng.normal(0, amount * eye, 2) + rng.normal(0, amount * eye * 0.5, p.shape)


def maskedfacenet_rows(root: Path, size: int, seed: int, variants: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The tuning part's photos with their real label maps, aligned with jitter."""
    from app.faces import MtcnnDlibFinder
    from training.evaluate import maskedfacenet_pair
    from training.landmarks import central_face

    finder = MtcnnDlibFinder()
    rows = []
    for img_path in sorted(root.glob("*/images/*.jpg")):
        rel = img_path.relative_to(root).as_posix()
        if real_part("maskedfacenet", rel) != "tune":
            continue
        pair = maskedfacenet_pair(img_path)
        if pair is None:
            continue
        photo, label = pair
        face = central_face(finder.detect(photo), photo.shape)
        if face is None:
            continue
        truth = (label == 2).astype(np.uint8) * 255
        for v in range(variants):
            rng = np.random.default_rng(pair_seed(seed, "mfn:" + rel, v))
            p5 = face.points5 if v == 0 else jittered(face.points5, rng)
            aligned = align_face(photo, p5, size)
            m = (warp_mask_to_crop(truth, aligned) > 0.5).astype(np.uint8)
            rows.append((aligned.crop, m, "maskedfacenet"))
    return rows


def real_scene_rows(real_masked: Path, labeller, size: int, seed: int, variants: int,
                    min_coverage: float = 0.05) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Real masked faces, and real unmasked people, from the tuning halves of RMFD and
    facemaskdetection: what the synthetic masks are not. Their maps come from `labeller` (the
    first release's segmenter, which finds real masks well but also "finds" one on every face):
    a face is a positive only where the photo's labels say it wears a mask (facemaskdetection's
    with_mask and mask_weared_incorrect boxes; RMFD, a set of masked people) and the labeller's
    map covers at least `min_coverage` of the crop; facemaskdetection's without_mask people are
    negatives with an empty map, whatever the labeller says. Each face is aligned `variants` times,
    jittered after the first."""
    from app.faces import MtcnnDlibFinder
    from app.pipeline import clean_map
    from training.evaluate import scene_boxes

    finder = MtcnnDlibFinder()
    rows: list[tuple[np.ndarray, np.ndarray, str]] = []

    def add(photo, face, rel, truth_masked: bool):
        base = align_face(photo, face.points5, size)
        m = clean_map(labeller.segment(base.crop)) if truth_masked else np.zeros((size, size), np.float32)
        if truth_masked and m.mean() < min_coverage:
            return  # the labeller missed it: no label is better than a wrong one
        for v in range(variants):
            rng = np.random.default_rng(pair_seed(seed, "real:" + rel, v))
            a = base if v == 0 else align_face(photo, jittered(face.points5, rng), size)
            mv = m if v == 0 else (warp_mask_to_crop(warp_mask_to_photo(m, base, photo.shape[:2]), a) > 0.5)
            rows.append((a.crop, mv.astype(np.uint8), "real_masked" if truth_masked else "real_unmasked"))

    for set_name in ("rmfd", "facemaskdetection"):
        root = real_masked / set_name
        files = sorted(root.rglob("*.jpg"))
        for p in files:
            rel = p.relative_to(root).as_posix()
            if real_part(set_name, rel) != "tune":
                continue
            photo = read_photo(p).pixels
            faces = finder.detect(photo)
            if set_name == "rmfd":
                for k, f in enumerate(faces):
                    add(photo, f, f"{rel}:{k}", True)
                continue
            xml = root / "annotations" / f"{p.stem}.xml"
            if not xml.exists():
                continue
            boxes = scene_boxes(xml)
            for k, f in enumerate(faces):
                cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
                label = next((lab for lab, b in boxes if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]), None)
                if label is not None:  # a face no box holds is left out: its truth is unknown
                    add(photo, f, f"{rel}:{k}", label != "without_mask")
    return rows


def append_rows(dest: Path, rows: list[tuple[np.ndarray, np.ndarray, str]], note: str) -> dict[str, int]:
    """Add rows to an existing training set (`dest` = <out>/<size>), rewriting its arrays whole."""
    masked = np.load(dest / "train_masked.npy", mmap_mode="r")
    maps = np.load(dest / "train_map.npy", mmap_mode="r")
    index = json.loads((dest / "train_index.json").read_text())
    n0, n = len(masked), len(masked) + len(rows)
    arrays = open_pair_arrays(dest, "train", n, masked.shape[1], keys=("masked", "map"))
    new_m, new_k = arrays["masked"], arrays["map"]
    new_m[:n0], new_k[:n0] = masked, maps
    for i, (crop, m, kind) in enumerate(rows, start=n0):
        new_m[i], new_k[i] = crop, m
        index["kinds"].append(kind)
    del new_m, new_k, masked, maps
    close_pair_arrays(dest, "train", arrays)
    index["kind_counts"] = {k: index["kinds"].count(k) for k in sorted(set(index["kinds"]))}
    index.setdefault("appended", []).append(note)
    atomic_write_bytes(dest / "train_index.json", json.dumps(index).encode())
    return index["kind_counts"]


def build(faces: Path, landmarks: Path, size: int, variants: int, seed: int, out: Path, mfn: Path | None,
          limit: int = 0, wide: float = 0.0) -> dict[str, int]:
    cache = load_cache(landmarks)
    split = load_split()
    items = sorted((p, f) for p, f in cache.items() if f is not None)
    if limit:
        items = items[:limit]
    todo: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for path, _ in items:
        s = split_of(path, split)
        todo[s] += [(path, v) for v in range(variants if s == "train" else 1)]
    extra = maskedfacenet_rows(mfn, size, seed, MFN_VARIANTS) if mfn else []
    if limit:
        extra = extra[:limit]
    dest = out / str(size)
    dest.mkdir(parents=True, exist_ok=True)
    counts, sheet = {}, []
    for s, rows in todo.items():
        n = len(rows) + (len(extra) if s == "train" else 0)
        counts[s] = n
        arrays = open_pair_arrays(dest, s, n, size, keys=("masked", "map"))
        masked, maps = arrays["masked"], arrays["map"]
        kinds, photo_path, image = [], None, None
        for i, (path, v) in enumerate(rows):
            if path != photo_path:
                photo_path, image = path, read_photo(faces / path).pixels
            f = cache[path]
            rng = np.random.default_rng(pair_seed(seed, "seg:" + path, v))
            masked[i], maps[i], kind = make_seg_row(image, f["points5"], f["points68"], size, rng, wide=wide)
            kinds.append(kind)
            if (i + 1) % 2000 == 0:
                print(f"{s}: {i + 1}/{n}", file=sys.stderr)
        if s == "train":
            for j, (crop, m, kind) in enumerate(extra, start=len(rows)):
                masked[j], maps[j] = crop, m
                kinds.append(kind)
        del masked, maps
        close_pair_arrays(dest, s, arrays)
        index = {"size": size, "seed": seed, "variants": variants, "wide": wide, "rows": [[p, v] for p, v in rows],
                 "maskedfacenet_rows": len(extra) if s == "train" else 0, "kinds": kinds,
                 "kind_counts": {k: kinds.count(k) for k in sorted(set(kinds))}}
        atomic_write_bytes(dest / f"{s}_index.json", json.dumps(index).encode())
        if s == "train" and n:
            mk, mp = np.load(dest / "train_masked.npy", mmap_mode="r"), np.load(dest / "train_map.npy", mmap_mode="r")
            for kind in SHEET_KINDS:
                where = [i for i, k in enumerate(kinds) if k == kind][:4]
                sheet += [(mk[i], mp[i]) for i in where]
    if sheet:
        rows4 = [sum(sheet[k:k + 4], ()) for k in range(0, len(sheet) - 3, 4)]
        save_png(dest / "contact_sheet.png", contact_sheet(rows4, cell=max(size, 128)))
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--landmarks", type=Path, required=True)
    ap.add_argument("--maskedfacenet", type=Path, help="add the tuning part's real label maps")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--variants", type=int, default=2, help="rows per training photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--wide", type=float, default=0.0,
                    help="share of rows whose mask wraps round the cheek to the ear (taken out of the plain masks' %.2f)"
                    % dict(KINDS)["mask"])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--real-scenes", type=Path, metavar="REAL_MASKED",
                    help="instead: add the tuning halves of RMFD and facemaskdetection to the set in --out")
    ap.add_argument("--labeller", type=Path, help="models folder whose segmenter labels the real masked faces")
    ap.add_argument("--real-variants", type=int, default=6, help="jittered alignments per real face")
    a = ap.parse_args(argv)
    if a.real_scenes:
        from app.inference.engine import Unmasker

        if a.labeller is None:
            ap.error("--real-scenes needs --labeller")
        labeller = Unmasker.from_installed("cpu", a.labeller)
        rows = real_scene_rows(a.real_scenes, labeller, a.size, a.seed, variants=a.real_variants)
        print(json.dumps(append_rows(a.out / str(a.size), rows, f"real scenes labelled by {a.labeller}")))
        return 0
    print(json.dumps(build(a.faces, a.landmarks, a.size, a.variants, a.seed, a.out, a.maskedfacenet, a.limit, a.wide)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
