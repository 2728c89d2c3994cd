"""The real-photo benchmark: what the app does to real photos, through its own path.

    python -m benchmarks.real_photos --out runs/real [--models DIR] [--quick]
    python -m benchmarks.real_photos --out runs/real --calibrate    # the mask / no mask threshold

Every photo goes through `app.pipeline.unmask_photo`, the code `unmasker batch` runs (face
finding, stage 1, the mask / no mask decision, stage 2, paste-back). Sections:

- untouched: photos of people without masks (validation identities of ../shared/data/faces,
  CelebA and UTKFace), whose output must be the input, every pixel; and the unmasked people of
  the labelled real scenes (facemaskdetection, held-out part), none of whose box pixels may change
  (but where a masked neighbour's box overlaps theirs: that neighbour's fill may reach there).
- segmentation: MaskedFace-Net's label maps (held-out part), Dice of the photo-space map the app
  filled against the mask label, correctly (CWM) and incorrectly (IWM) worn apart; a face not
  found or judged unmasked counts as Dice 0.
- scenes: RMFD real scenes (held-out part): faces found, filled, judged to have no mask; a contact
  sheet of every face found, before and after, at a size where it can be judged.
- detection: face finding alone on facemaskdetection's scenes (every face there has a labelled
  box): masked faces found by size, faces found where no face is labelled, false faces on the
  face-free parts of the same photos (each scene's largest rectangle clear of every face box), and
  the time per scene; contact sheets of the misses and of the false faces. A face counts as found,
  and as filled, only where a detected box is framed on it (`framed_on`: of about the label's
  size, not a box on its eyes, whose fill would paint a small face over them); faces found only
  as such a part are counted apart. The masked faces *filled* by size (what a user gets) are in
  the labelled-scenes section.
- sharpness: Laplacian RMS inside the fill over that of the visible skin just above the mask
  (1.0 = as sharp), by the mask's width in the photo.

The held-out parts are recorded in training/real_split.json; the tuning parts are only used by
--calibrate and by stage 1's training. Writes OUT/metrics.json, OUT/report.md, contact sheets
(OUT/sheet_*.png), OUT/faces.json (each face's decision inputs) and OUT/fills.json (each filled
face's sharpness and tone gap, keyed by photo and box, which `benchmarks.compare_real` pairs across
two runs), and prints the report.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from app.align import warp_mask_to_photo
from app.faces import ENGINES, FaceFinder, _iou, box_side, centre_in, make_face_finder
from app.fileutil import atomic_write_bytes
from app.grain import detail_rms, eye_regions, skin_above
from app.imageio import read_photo
from app.inference.engine import Unmasker
from app.paths import models_dir
from app.pipeline import MIN_MASK_CONFIDENCE, MIN_MASK_FRACTION, UnmaskResult, unmask_photo
from training.evaluate import maskedfacenet_pair, scene_boxes
from training.masks import MaskStyle, mask_polygon

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE_BINS = ((0, 32, "<32 px"), (32, 64, "32-64 px"), (64, 10 ** 6, ">=64 px"))
WIDTH_BINS = ((0, 64, "<64 px"), (64, 90, "64-90 px"), (90, 10 ** 6, ">=90 px"))


# --- photo sets ---------------------------------------------------------------------------------

def unmasked_faces(faces_dir: Path, per_source: int, second_half: bool = False) -> list[Path]:
    """Validation identities' photos (never trained on), spread evenly over each source; with
    `second_half`, the photos between those (calibration never sees the benchmark's own)."""
    from training.split import load_split, split_of

    val = load_split()
    out = []
    for source in ("celeba", "utkface"):
        files = sorted(p for p in (faces_dir / source).rglob("*.jpg")
                       if split_of(p.relative_to(faces_dir).as_posix(), val) == "val")
        step = max(2, len(files) // per_source) if per_source else 1
        out += files[step // 2 if second_half else 0::step][:per_source or None]
    return out


def real_files(real_set: str, part: str, data: Path) -> list[Path]:
    from training.split import real_part

    root = data / "real_masked" / real_set
    files = sorted(p for p in root.rglob("*.jpg") if "images" in p.parts or real_set == "rmfd")
    return [p for p in files if part == "all" or real_part(real_set, p.relative_to(root).as_posix()) == part]


def labelled_scenes(data: Path, part: str, limit: int = 0) -> list[tuple[Path, list]]:
    """facemaskdetection's photos of this part that have their labels, each with them: a list of
    (label, box) for every face in the photo."""
    ann = data / "real_masked" / "facemaskdetection" / "annotations"
    files = real_files("facemaskdetection", part, data)[:limit or None]
    return [(p, scene_boxes(ann / f"{p.stem}.xml")) for p in files if (ann / f"{p.stem}.xml").exists()]


def size_bin(side: float) -> str:
    """The name of the SIZE_BINS bin a face of this short side falls in."""
    return next(n for lo, hi, n in SIZE_BINS if lo <= side < hi)


# --- measures -----------------------------------------------------------------------------------

def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred.astype(bool), truth.astype(bool)
    denom = int(p.sum()) + int(t.sum())
    return 1.0 if denom == 0 else float(2.0 * (p & t).sum() / denom)


def laplacian_rms(grey: np.ndarray, region: np.ndarray) -> float | None:
    return None if region.sum() < 20 else detail_rms(grey, region)


@dataclass
class FillRegions:
    """Where one face's fill and the skin above it are measured, in photo pixels."""
    inner: np.ndarray  # (H, W) bool: the fill shrunk away from its edge (the blend zone is neither)
    skin: np.ndarray  # (H, W) bool: `app.grain`'s band of skin above the mask's top edge
    top: int  # the map's first row
    height: int  # rows the map spans
    width: int  # columns the map spans: the mask's width in px
    edge: int  # how far `inner` is shrunk: 6 % of the width, at least 2 px


def fill_regions(face_map: np.ndarray, eyes: np.ndarray | None = None) -> FillRegions | None:
    """One face's photo-space map (uint8) -> its FillRegions (the skin band: 12 % of the mask's
    height, the middle 60 % of its width, less `eyes` where given: `app.grain.eye_regions`), or
    None for a map under 50 px."""
    m = face_map > 127
    ys, xs = np.nonzero(m)
    if len(ys) < 50:
        return None
    width = int(xs.max() + 1 - xs.min())
    edge = max(2, round(0.06 * width))
    inner = cv2.erode(m.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge + 1,) * 2)) > 0
    return FillRegions(inner, skin_above(face_map, avoid=eyes), int(ys.min()), int(ys.max() + 1 - ys.min()), width, edge)


def sharpness(out: np.ndarray, face_map: np.ndarray, eyes: np.ndarray | None = None) -> tuple[float, float] | None:
    """(Laplacian RMS ratio fill / skin just above the mask, mask width in px) for one face's
    photo-space map (uint8), or None where either region is too small to measure (`fill_regions`;
    `eyes`: what the skin band leaves out)."""
    r = fill_regions(face_map, eyes)
    return None if r is None else fill_sharpness(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32), r)


def fill_sharpness(grey: np.ndarray, r: FillRegions) -> tuple[float, float] | None:
    """`sharpness` on the photo's grey (float32) and the fill's regions."""
    fill, skin = laplacian_rms(grey, r.inner), laplacian_rms(grey, r.skin)
    if fill is None or skin is None or skin < 1e-3:
        return None
    return fill / skin, float(r.width)


def tone_gap(out: np.ndarray, face_map: np.ndarray, eyes: np.ndarray | None = None) -> tuple[float, float] | None:
    """(|dL|, |d(a, b)|) in CIELAB between the fill's top quarter (the nose and upper cheeks) and
    the visible skin just above the mask (`fill_regions`): the same skin on either side of the
    mask's top edge, so a pale, dark or tinted fill shows as a gap. None where either region is
    too small."""
    r = fill_regions(face_map, eyes)
    return None if r is None else fill_tone_gap(cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), r)


def fill_tone_gap(lab: np.ndarray, r: FillRegions) -> tuple[float, float] | None:
    """`tone_gap` on the photo in CIELAB (float32) and the fill's regions."""
    quarter = r.inner.copy()
    quarter[r.top + r.edge + r.height // 4:] = False
    if quarter.sum() < 20 or r.skin.sum() < 20:
        return None
    d = np.median(lab[quarter], axis=0) - np.median(lab[r.skin], axis=0)
    return float(abs(d[0])), float(np.hypot(d[1], d[2]))


def segmentation_map(result: UnmaskResult, shape: tuple[int, int]) -> np.ndarray:
    """Stage 1's segmentation of the filled faces in photo space (before the fill's margin)."""
    out = np.zeros(shape, np.uint8)
    for f in result.faces:
        if f.unmasked:
            seg = f.segmentation if f.segmentation is not None else f.map
            np.maximum(out, warp_mask_to_photo(seg, f.aligned, shape), out=out)
    return out


MARGINS = tuple(range(0, 9))  # crop pixels tried for the fill's margin


def margin_cover(f, truth: np.ndarray) -> list[float]:
    """For each margin in MARGINS: the share of the labelled mask (photo space, bool) that the
    segmentation grown by it covers, measured on the aligned crop."""
    from app.align import warp_mask_to_crop
    from app.pipeline import grow

    t = warp_mask_to_crop(truth.astype(np.uint8) * 255, f.aligned) > 0.5
    seg = f.segmentation if f.segmentation is not None else f.map
    n = seg.shape[0]
    return [float((grow(seg, r / n) > 0)[t].mean()) if t.any() else 1.0 for r in MARGINS]


def measure_fill(b: "Bench", out: np.ndarray, face_map: np.ndarray, points5: np.ndarray, what: str,
                 natural: bool = False, key: str = "") -> None:
    """One fill's sharpness and tone gap (or, `natural`, a real lower face's), against the skin
    above the mask less the eyes (a mask worn high has the lids and lashes in that band, which
    are not skin and outdo any face's detail), and, to compare with earlier figures, against the
    whole band, eyes and all."""
    sharp, tones = (b.natural_sharp, b.natural_tones) if natural else (b.sharp, b.tones)
    r = fill_regions(face_map)
    if r is None:
        return
    # The photo's grey and CIELAB and the fill's regions once for both bands.
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lab = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    skin_only = replace(r, skin=r.skin & ~eye_regions(points5, out.shape[:2]))
    row: dict = {"key": key, "set": what}
    for regions, band in ((skin_only, ""), (r, "with_eyes")):
        s, t = fill_sharpness(grey, regions), fill_tone_gap(lab, regions)
        suffix = "_" + band if band else ""
        if s is not None:
            sharp.append((s[0], s[1], what + ("/" + band if band else "")))
            row["width"], row["sharpness" + suffix] = s[1], s[0]
        if t is not None:
            tones.append((*t, band))
            row["dL" + suffix], row["dab" + suffix] = t
    if key and not natural:
        b.fills.append(row)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


# --- contact sheets -----------------------------------------------------------------------------

def face_tile(before: np.ndarray, after: np.ndarray, box, size: int = 160) -> np.ndarray:
    """Before | after around a face box, enlarged (nearest, so nothing is smoothed) or reduced to
    about `size` px high."""
    h, w = before.shape[:2]
    x0, y0, x1, y1 = box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.3 * max(x1 - x0, y1 - y0)
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    pair = np.concatenate([before[b:d, a:c], np.full((max(1, d - b), 2, 3), 255, np.uint8), after[b:d, a:c]], 1)
    scale = size / max(1, pair.shape[0])
    interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    return cv2.resize(pair, (max(1, round(pair.shape[1] * scale)), size), interpolation=interp)


def sheet(tiles: list[np.ndarray], width: int = 1800) -> np.ndarray | None:
    """Tiles packed left to right in rows."""
    if not tiles:
        return None
    rows, row, used = [], [], 0
    for t in tiles:
        t = np.pad(t, ((3, 3), (3, 3), (0, 0)), constant_values=40)
        if row and used + t.shape[1] > width:
            rows.append(row)
            row, used = [], 0
        row.append(t)
        used += t.shape[1]
    rows.append(row)
    h = max(t.shape[0] for r in rows for t in r)
    out = []
    for r in rows:
        line = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=40) for t in r], 1)
        out.append(np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=40))
    return np.concatenate(out, 0)


def save_sheets(out: Path, name: str, tiles: list[np.ndarray], per_page: int = 60) -> list[str]:
    from training.pairs import save_png

    names = []
    for k in range(0, len(tiles), per_page):
        img = sheet(tiles[k:k + per_page])
        fname = f"sheet_{name}_{k // per_page + 1:02d}.png"
        save_png(out / fname, img)
        names.append(fname)
    return names


# --- sections -----------------------------------------------------------------------------------

@dataclass
class Bench:
    engine: Unmasker
    finder: FaceFinder
    out: Path
    # (ratio, width, set), the set's name + "/with_eyes" for the band with the eyes (`measure_fill`)
    sharp: list[tuple[float, float, str]] = field(default_factory=list)
    tones: list[tuple[float, float, str]] = field(default_factory=list)  # (|dL|, |dab|, "" or "with_eyes")
    # The same two measures on unmasked faces as they are (`natural_reference`): what a real lower face scores.
    natural_sharp: list[tuple[float, float, str]] = field(default_factory=list)
    natural_tones: list[tuple[float, float, str]] = field(default_factory=list)
    coverages: list[dict] = field(default_factory=list)  # per face: coverage and what it truly is
    fills: list[dict] = field(default_factory=list)  # per filled face, keyed by photo and box: its measures
    seconds: dict[str, float] = field(default_factory=dict)
    grain: bool = True
    texture: bool = True
    tone: bool = True
    min_mask_confidence: float | None = None  # None: the app's MIN_MASK_CONFIDENCE
    margin: float | None = None  # None: the app's MASK_MARGIN
    margins: list[list[float]] | None = None  # with --calibrate: margin_cover per MaskedFace-Net face

    def run(self, pixels: np.ndarray) -> UnmaskResult:
        overrides = {k: v for k, v in (("min_mask_confidence", self.min_mask_confidence), ("margin", self.margin))
                     if v is not None}
        return unmask_photo(pixels, self.finder, self.engine, grain=self.grain, texture=self.texture, tone=self.tone,
                            **overrides)

    def measure_sharpness(self, result: UnmaskResult, pixels_shape, what: str, photo: Path | None = None) -> None:
        for f in result.faces:
            if f.unmasked:
                key = f"{what}:{photo.name}@{','.join(str(int(round(v))) for v in f.face.box)}" if photo else ""
                measure_fill(self, result.pixels, warp_mask_to_photo(f.map, f.aligned, pixels_shape[:2]),
                             f.face.points5, what, key=key)


# A surgical mask worn over the nose (`training.masks`'s outline, from the face's 68 points): where
# the reference measures a real lower face.
REFERENCE_MASK = MaskStyle(colour=(0, 0, 0), nose_cover=0.6, chin_drop=0.05, pleats=0, straps=False)


def natural_reference(b: Bench, pixels: np.ndarray, faces) -> None:
    """The fill's sharpness and tone measures on a face without a mask, nothing filled: a mask's
    outline is drawn from its points and the face's own nose, mouth and chin inside it are measured
    against its skin above, as a fill is. What a real lower face scores is what a fill should."""
    for f in faces:
        if f.points68 is None:
            continue
        m = np.zeros(pixels.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(mask_polygon(f.points68, REFERENCE_MASK)).astype(np.int32)], 255)
        measure_fill(b, pixels, m, f.points5, "unmasked", natural=True)


def section_untouched(b: Bench, faces_dir: Path, per_source: int, second_half: bool = False) -> dict:
    t = time.perf_counter()
    files = unmasked_faces(faces_dir, per_source, second_half)
    rows = {"celeba": [0, 0, 0], "utkface": [0, 0, 0]}  # photos, untouched, faces found
    tiles = []
    for p in files:
        px = read_photo(p).pixels
        r = b.run(px)
        natural_reference(b, px, [f.face for f in r.faces])
        src = p.relative_to(faces_dir).parts[0]
        same = np.array_equal(r.pixels, px)
        rows[src][0] += 1
        rows[src][1] += same
        rows[src][2] += bool(r.faces)
        for f in r.faces:
            b.coverages.append({"set": "faces", "truth": "no_mask", "coverage": f.coverage, "confidence": f.confidence})
        if not same:
            ch = changed(r.pixels, px)
            ys, xs = np.nonzero(ch)
            tiles.append(face_tile(px, r.pixels, (xs.min(), ys.min(), xs.max(), ys.max())))
    b.seconds["untouched"] = time.perf_counter() - t
    n = sum(v[0] for v in rows.values())
    return {"photos": n, "untouched": sum(v[1] for v in rows.values()),
            "untouched_rate": sum(v[1] for v in rows.values()) / max(1, n),
            "by_source": {k: {"photos": v[0], "untouched": v[1], "face_found": v[2]} for k, v in rows.items()},
            "sheets": save_sheets(b.out, "unmasked_changed", tiles)}


def section_scenes_labelled(b: Bench, data: Path, part: str, limit: int = 0) -> dict:
    """facemaskdetection: unmasked people left alone, masked people filled (by size)."""
    t = time.perf_counter()
    scenes = labelled_scenes(data, part, limit)
    stats = {lab: {name: [0, 0] for *_, name in SIZE_BINS}
             for lab in ("with_mask", "without_mask", "mask_weared_incorrect")}  # [boxes, filled or untouched]
    photos_filled = 0
    miss_tiles, wrong_tiles = [], []
    for p, labelled in scenes:
        px = read_photo(p).pixels
        r = b.run(px)
        ch = changed(r.pixels, px)
        photos_filled += int(ch.any())
        b.measure_sharpness(r, px.shape, "facemaskdetection", p)
        # Where a masked person's box overlaps an unmasked one's, their fill may rightly reach in:
        # an unmasked person's pixels are those of their box outside every masked person's box.
        masked_boxes = np.zeros(ch.shape, bool)
        for label, box in labelled:
            if label != "without_mask":
                x0, y0, x1, y1 = np.round(box).astype(int)
                masked_boxes[max(0, y0):y1 + 1, max(0, x0):x1 + 1] = True
        for label, box in labelled:
            x0, y0, x1, y1 = np.round(box).astype(int)
            side = min(x1 - x0, y1 - y0)
            name = size_bin(side)
            inside = ch[max(0, y0):y1 + 1, max(0, x0):x1 + 1]
            s = stats.setdefault(label, {n: [0, 0] for *_, n in SIZE_BINS})[name]
            s[0] += 1
            if label == "without_mask":
                inside = inside & ~masked_boxes[max(0, y0):y1 + 1, max(0, x0):x1 + 1]
                s[1] += int(not inside.any())
                if inside.any() and side >= 32:
                    wrong_tiles.append(face_tile(px, r.pixels, box))
            else:
                # Filled: its pixels changed, by a fill framed on this face (not a part of it).
                filled = bool(inside.size and inside.mean() > 0.05) and any(
                    f.unmasked and framed_on(f.face.box, box) for f in r.faces)
                s[1] += filled
                if not filled and side >= 32:
                    miss_tiles.append(face_tile(px, r.pixels, box, size=120))
            for f in r.faces:  # the decision's inputs, labelled by the box the face falls in
                cx, cy = (f.face.box[0] + f.face.box[2]) / 2, (f.face.box[1] + f.face.box[3]) / 2
                if x0 <= cx <= x1 and y0 <= cy <= y1:
                    b.coverages.append({"set": f"facemaskdetection:{part}", "truth": label, "coverage": f.coverage, "confidence": f.confidence})
    b.seconds["facemaskdetection"] = time.perf_counter() - t

    def rate(label: str, lo: int) -> tuple[float | None, int]:
        tot = sum(v[0] for (l, h, n) in SIZE_BINS for k, v in stats[label].items() if k == n and l >= lo)
        ok = sum(v[1] for (l, h, n) in SIZE_BINS for k, v in stats[label].items() if k == n and l >= lo)
        return (ok / tot if tot else None), tot

    return {"part": part, "photos": len(scenes), "photos_with_a_face_filled": photos_filled,
            "unmasked_people_untouched_32px_and_over": rate("without_mask", 32)[0],
            "unmasked_people_32px_and_over": rate("without_mask", 32)[1],
            "by_label_and_size": {lab: {n: {"boxes": v[0], "ok": v[1], "rate": (v[1] / v[0] if v[0] else None)}
                                        for n, v in d.items()} for lab, d in stats.items()},
            "sheets_unmasked_changed": save_sheets(b.out, "scenes_unmasked_changed", wrong_tiles),
            "sheets_masked_missed": save_sheets(b.out, "scenes_masked_missed", miss_tiles, per_page=120)}


def grown_box(b) -> np.ndarray:
    """A face box grown by 40 % and 10 px each way: the room a face's hair, ears and neck take."""
    mx, my = 0.4 * (b[2] - b[0]) + 10, 0.4 * (b[3] - b[1]) + 10
    return np.array([b[0] - mx, b[1] - my, b[2] + mx, b[3] + my])


def background_crop(px: np.ndarray, labelled, min_side: int = 96, step: int = 16) -> np.ndarray | None:
    """The largest rectangle of a labelled scene (every face has a box) that stays clear of every
    face box grown by 40 % and 10 px (`grown_box`): a real photo without a face, for counting
    false faces. None where no such rectangle of `min_side` fits."""
    h, w = px.shape[:2]
    occupied = np.zeros((h, w), bool)
    for _, b in labelled:
        g = grown_box(b)
        occupied[max(0, int(g[1])):int(g[3]), max(0, int(g[0])):int(g[2])] = True
    ii = np.pad(occupied.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best = None
    for y0 in range(0, h - min_side + 1, step):
        for x0 in range(0, w - min_side + 1, step):
            for y1 in range(h, y0 + min_side - 1, -step):
                for x1 in range(w, x0 + min_side - 1, -step):
                    if best and (y1 - y0) * (x1 - x0) <= best[0]:
                        break
                    if ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0] == 0:
                        best = ((y1 - y0) * (x1 - x0), y0, y1, x0, x1)
                        break
    return None if best is None else px[best[1]:best[2], best[3]:best[4]]


def found_in(face_box, label_box) -> bool:
    """A detected face is the labelled one: its centre inside the label, and some overlap."""
    return centre_in(face_box, label_box) and _iou(face_box, label_box) > 0.2


# A face found is framed on the labelled one when its longer side is this share of the label's
# (on the tuning half the detector's boxes of labelled faces ran 0.69 to 1.33 of them); a smaller
# box inside the face is a part of it (the eyes and brows), whose fill lands on the eyes.
FRAMED = (0.6, 1.7)


def framed_on(face_box, label_box) -> bool:
    """`found_in`, and of the label's size (FRAMED): the face's framing, not a part of it."""
    return found_in(face_box, label_box) and FRAMED[0] <= box_side(face_box) / max(box_side(label_box), 1e-6) <= FRAMED[1]


def section_detection(b: Bench, data: Path, part: str, limit: int = 0) -> dict:
    """Face finding alone on facemaskdetection's scenes: masked faces found by size, faces found
    where the labels have none, and false faces on face-free parts of the same photos."""
    t = time.perf_counter()
    scenes = labelled_scenes(data, part, limit)
    found = {n: [0, 0] for *_, n in SIZE_BINS}  # masked faces (worn or worn wrongly): boxes, found
    unlabelled, negatives, false_faces, misframed, seconds = 0, 0, 0, 0, []
    miss_tiles, false_tiles = [], []
    for p, labelled in scenes:
        px = read_photo(p).pixels
        t1 = time.perf_counter()
        faces = b.finder.detect(px)
        seconds.append(time.perf_counter() - t1)
        unlabelled += sum(not any(found_in(f.box, box) or _iou(f.box, box) > 0.2 for _, box in labelled) for f in faces)
        for label, box in labelled:
            if label == "without_mask":
                continue
            side = min(box[2] - box[0], box[3] - box[1])
            name = size_bin(side)
            hit = any(framed_on(f.box, box) for f in faces)
            misframed += not hit and any(found_in(f.box, box) for f in faces)
            found[name][0] += 1
            found[name][1] += hit
            if not hit and side >= 32:
                miss_tiles.append(face_tile(px, px, box, size=120))
        bg = background_crop(px, labelled)
        if bg is not None:
            negatives += 1
            false = b.finder.detect(np.ascontiguousarray(bg))
            false_faces += len(false)
            false_tiles += [face_tile(bg, bg, f.box, size=120) for f in false]
    b.seconds["detection"] = time.perf_counter() - t
    return {"part": part, "photos": len(scenes),
            "masked_faces_found_by_size": {n: {"boxes": v[0], "found": v[1], "rate": v[1] / v[0] if v[0] else None}
                                           for n, v in found.items()},
            "faces_found_where_no_face_is_labelled": unlabelled,
            "masked_faces_found_only_misframed": misframed,
            "photos_without_faces": negatives, "false_faces": false_faces,
            "false_faces_per_100_photos_without_faces": 100 * false_faces / max(1, negatives),
            "median_ms_per_scene": 1000 * float(np.median(seconds)) if seconds else None,
            "sheets_missed": save_sheets(b.out, "detection_missed", miss_tiles, per_page=120),
            "sheets_false_faces": save_sheets(b.out, "detection_false_faces", false_tiles)}


def section_segmentation(b: Bench, data: Path, part: str, limit: int = 0) -> dict:
    """MaskedFace-Net in photo space: the map the app filled against the label map's mask."""
    t = time.perf_counter()
    rows: dict[str, list[float]] = {"CWM": [], "IWM": []}
    missed = {"CWM": 0, "IWM": 0}
    tiles = []
    root = data / "real_masked" / "maskedfacenet"
    files = real_files("maskedfacenet", part, data)
    for p in files[:limit // 2 or None] + files[::-1][:limit // 2] if limit else files:  # CWM and IWM
        kind = p.relative_to(root).parts[0]
        pair = maskedfacenet_pair(p)
        if pair is None:
            continue
        px, label = pair
        r = b.run(px)
        truth = label == 2
        d = dice(segmentation_map(r, px.shape[:2]) > 127, truth)
        if b.margins is not None and r.faces:
            f = max(r.faces, key=lambda f: f.face.width)
            if f.unmasked:
                b.margins.append(margin_cover(f, truth))
        rows[kind].append(d)
        missed[kind] += not any(f.unmasked for f in r.faces)
        if r.faces:  # one person per photo: the largest face is theirs, any other a false face
            f = max(r.faces, key=lambda f: f.face.width)
            b.coverages.append({"set": f"maskedfacenet:{part}", "truth": kind, "coverage": f.coverage, "confidence": f.confidence})
        b.measure_sharpness(r, px.shape, "maskedfacenet", p)
        if len(tiles) < 24:
            ys, xs = np.nonzero(truth)
            if len(ys):
                over = px.copy()
                over[r.photo_map > 127] = (0.5 * over[r.photo_map > 127] + [0, 127, 0]).astype(np.uint8)
                edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
                over[edge] = (255, 0, 255)
                tiles.append(face_tile(over, r.pixels, (xs.min(), ys.min(), xs.max(), ys.max()), size=240))
    b.seconds["maskedfacenet"] = time.perf_counter() - t
    return {"part": part, **{k: {"photos": len(v), "dice": float(np.mean(v)) if v else None,
                                 "no_face_filled": missed[k]} for k, v in rows.items()},
            "sheets": save_sheets(b.out, "maskedfacenet", tiles, per_page=24)}


def section_rmfd(b: Bench, data: Path, part: str, limit: int) -> dict:
    t = time.perf_counter()
    files = real_files("rmfd", part, data)
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    found = filled = no_mask = photos_filled = 0
    tiles = []
    for p in files:
        px = read_photo(p).pixels
        r = b.run(px)
        found += len(r.faces)
        filled += sum(f.unmasked for f in r.faces)
        no_mask += sum(not f.unmasked for f in r.faces)
        photos_filled += any(f.unmasked for f in r.faces)
        for f in r.faces:
            b.coverages.append({"set": "rmfd", "truth": "unknown", "coverage": f.coverage, "confidence": f.confidence})
            tiles.append(face_tile(px, r.pixels, f.face.box, size=200))
        b.measure_sharpness(r, px.shape, "rmfd", p)
    b.seconds["rmfd"] = time.perf_counter() - t
    return {"part": part, "photos": len(files), "faces_found": found, "faces_filled": filled, "faces_judged_no_mask": no_mask,
            "photos_with_a_face_filled": photos_filled, "sheets": save_sheets(b.out, "rmfd_faces", tiles, per_page=40)}


def sharpness_table(samples: list[tuple[float, float, str]], with_eyes: bool = False) -> dict:
    """Median ratio by mask width, against the skin band less the eyes or (`with_eyes`) all of it."""
    out = {}
    samples = [x for x in samples if x[2].endswith("/with_eyes") == with_eyes]
    for lo, hi, name in WIDTH_BINS:
        v = [r for r, w, _ in samples if lo <= w < hi]
        out[name] = {"faces": len(v), "median_ratio": float(np.median(v)) if v else None}
    return out


def tone_table(tones: list[tuple[float, float, str]], with_eyes: bool = False) -> dict:
    tones = [t for t in tones if (t[2] == "with_eyes") == with_eyes]
    return {"faces": len(tones), "median_dL": float(np.median([t[0] for t in tones])) if tones else None,
            "median_dab": float(np.median([t[1] for t in tones])) if tones else None}


# --- calibration --------------------------------------------------------------------------------

def calibrate(faces: list[dict]) -> dict:
    """The mask / no mask decision's confidence threshold, from the tuning part. A face is masked
    when stage 1's tidied map covers at least MIN_MASK_FRACTION of the crop and its mean
    probability there reaches the threshold. The plateau: thresholds that leave at least 99.5 % of
    the unmasked faces untouched and fill within half a point of the most masked faces; the
    choice: its middle, so that neither the unmasked faces' highest confidence nor the masked
    faces' lowest sits at the edge of the decision."""
    def score(c):
        return c["confidence"] if c["coverage"] >= MIN_MASK_FRACTION else 0.0

    neg = np.array([score(c) for c in faces if c["truth"] in ("no_mask", "without_mask")])
    pos = np.array([score(c) for c in faces if c["truth"] in ("CWM", "IWM", "with_mask", "mask_weared_incorrect")])
    cands = np.round(np.arange(0.5, 0.995, 0.005), 3)
    rows = [{"threshold": float(t), "negatives_untouched": float(np.mean(neg < t)) if len(neg) else 1.0,
             "positives_filled": float(np.mean(pos >= t)) if len(pos) else 0.0} for t in cands]
    ok = [r for r in rows if r["negatives_untouched"] >= 0.995] or [max(rows, key=lambda r: r["negatives_untouched"])]
    best = max(r["positives_filled"] for r in ok)
    plateau = [r["threshold"] for r in ok if r["positives_filled"] >= best - 0.005]
    middle = (min(plateau) + max(plateau)) / 2
    chosen = min((r for r in ok if r["threshold"] in plateau), key=lambda r: abs(r["threshold"] - middle))
    # The coverage floor: half the smallest map of a real mask the chosen threshold fills (floored
    # to 0.005), so that no real mask, even one worn on the chin, is near it, while a stray speck
    # of "mask" on a bare face (a collar, a shadow) is below it.
    cov = np.array([c["coverage"] for c in faces if c["truth"] in ("CWM", "IWM", "with_mask", "mask_weared_incorrect")
                    and c["coverage"] > 0 and c["confidence"] >= chosen["threshold"]])
    fraction = float(np.floor(cov.min() / 2 / 0.005) * 0.005) if len(cov) else None
    return {"negatives": len(neg), "positives": len(pos), "chosen": chosen, "plateau": [min(plateau), max(plateau)],
            "min_mask_fraction": fraction, "smallest_filled_mask_coverage": float(cov.min()) if len(cov) else None,
            "current": min(rows, key=lambda r: abs(r["threshold"] - MIN_MASK_CONFIDENCE)),
            "negative_score_max": float(neg.max()) if len(neg) else None,
            "positive_score_p1_p5": [float(v) for v in np.percentile(pos, [1, 5])] if len(pos) else None}


# --- report -------------------------------------------------------------------------------------

def pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def report(m: dict) -> str:
    u, s, sc, rm = m["untouched"], m["segmentation"], m["scenes"], m["rmfd"]
    sizes = " and ".join(f"{n} px" for n in m.get("fill_sizes", []))
    lines = [f"# Real-photo benchmark ({m['models']}" + (f", fills at {sizes}" if sizes else "") +
             f", face engine {m['face_engine']})", "",
             f"Reproduce: `{m['command']}`; {m['seconds']:.0f} s on this machine.", "",
             "| measure | value |", "|---|---|",
             f"| unmasked photos left untouched (every pixel), CelebA + UTKFace validation | "
             f"{pct(u['untouched_rate'])} ({u['untouched']}/{u['photos']}) |",
             f"| unmasked people of 32 px and over untouched, real scenes ({sc['part']}) | "
             f"{pct(sc['unmasked_people_untouched_32px_and_over'])} of {sc['unmasked_people_32px_and_over']} |",
             f"| MaskedFace-Net Dice, correctly worn ({s['part']}) | "
             f"{s['CWM']['dice']:.3f} ({s['CWM']['photos']} photos, {s['CWM']['no_face_filled']} not filled) |",
             f"| MaskedFace-Net Dice, incorrectly worn ({s['part']}) | "
             f"{s['IWM']['dice']:.3f} ({s['IWM']['photos']} photos, {s['IWM']['no_face_filled']} not filled) |"]
    for name, v in sc["by_label_and_size"]["with_mask"].items():
        lines.append(f"| masked faces filled, real scenes, {name} | {pct(v['rate'])} of {v['boxes']} |")
    d = m["detection"]
    for name, v in d["masked_faces_found_by_size"].items():
        lines.append(f"| masked faces found (detection alone), real scenes, {name} | {pct(v['rate'])} of {v['boxes']} |")
    lines += [f"| false faces per 100 photos without faces ({d['photos_without_faces']} face-free parts of the scenes) | "
              f"{d['false_faces_per_100_photos_without_faces']:.1f} ({d['false_faces']}) |",
              f"| faces found where the scenes' labels have none | {d['faces_found_where_no_face_is_labelled']} in {d['photos']} photos |",
              f"| masked faces found only misframed (a box under {FRAMED[0]:.0%} of the face's size: a part of it; or over {FRAMED[1]:.0%}) | "
              f"{d.get('masked_faces_found_only_misframed', 'n/a')} |",
              f"| face finding time per scene (median) | {d['median_ms_per_scene']:.0f} ms |"]
    lines += [f"| real scenes with a face filled ({sc['part']}) | {sc['photos_with_a_face_filled']}/{sc['photos']} |",
              f"| RMFD scenes ({rm['part']}): faces found / filled / judged unmasked | {rm['faces_found']} / {rm['faces_filled']} / "
              f"{rm['faces_judged_no_mask']} in {rm['photos']} photos ({rm['photos_with_a_face_filled']} with a face filled) |"]
    for part, where in ((m, "skin above, eyes left out"), (m.get("with_eyes") or {}, "the band above, eyes and all")):
        for name, v in (part.get("sharpness") or {}).items():
            r = "n/a" if v["median_ratio"] is None else f"{v['median_ratio']:.2f}"
            lines.append(f"| fill sharpness / {where}, mask {name} wide | {r} ({v['faces']} faces) |")
        tg = part.get("tone_gap") or {}
        if tg.get("faces"):
            lines.append(f"| tone gap, fill's top quarter vs {where} (CIELAB median abs dL / d(a,b)) | "
                         f"{tg['median_dL']:.1f} / {tg['median_dab']:.1f} ({tg['faces']} faces) |")
        ref = part.get("natural_reference") or {}
        for name, v in (ref.get("sharpness") or {}).items():
            if v["median_ratio"] is not None:
                lines.append(f"| reference, unmasked faces as they are: lower face sharpness / {where}, {name} wide | "
                             f"{v['median_ratio']:.2f} ({v['faces']} faces) |")
        rt = ref.get("tone_gap") or {}
        if rt.get("faces"):
            lines.append(f"| reference, unmasked faces as they are: tone gap vs {where} | {rt['median_dL']:.1f} / "
                         f"{rt['median_dab']:.1f} ({rt['faces']} faces) |")
    lines += ["", "Contact sheets: " + ", ".join(m["sheets"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/real"))
    ap.add_argument("--models", type=Path, default=None, help="a folder with segmenter and inpainter (default: shipped)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--unmasked", type=int, default=150, help="unmasked photos per source (CelebA, UTKFace)")
    ap.add_argument("--rmfd", type=int, default=300, help="RMFD scenes (spread over the set; 0: all)")
    ap.add_argument("--part", default="holdout", choices=("holdout", "tune", "all"),
                    help="which part of the labelled real sets to score (report the held-out one)")
    ap.add_argument("--calibrate", action="store_true",
                    help="score the tuning part and print the mask / no mask threshold it supports")
    ap.add_argument("--quick", action="store_true", help="a few photos per set, to check the plumbing")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-grain", action="store_true", help="fills without app.grain's texture or grain (to compare)")
    ap.add_argument("--no-texture", action="store_true", help="fills with grain (noise) instead of the skin's own texture")
    ap.add_argument("--no-tone", action="store_true", help="fills without app.tone's colour match (to compare)")
    ap.add_argument("--min-mask-confidence", type=float, help="try another mask / no mask threshold")
    ap.add_argument("--margin", type=float, help="try another fill margin (a share of the crop)")
    ap.add_argument("--face-engine", default="default", choices=ENGINES, help="the face finder (app.faces)")
    ap.add_argument("--confirm-threshold", type=float,
                    help="try another BlazeFace score from which MTCNN may confirm a face (app.faces)")
    ap.add_argument("--no-confirm", action="store_true",
                    help="BlazeFace's faces only at its own threshold and size, not also where MTCNN confirms a weaker one")
    ap.add_argument("--no-verifier", action="store_true",
                    help="weak BlazeFace faces confirmed by MTCNN only, not also by the face verifier (to compare)")
    ap.add_argument("--first-release", action="store_true",
                    help="the first release's path: MTCNN alone, no grain, no tone match, no margin, no confidence threshold")
    a = ap.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.quick:
        a.unmasked, a.rmfd = 6, 6
    if a.first_release:
        a.no_grain, a.no_tone, a.margin, a.min_mask_confidence, a.face_engine = True, True, 0.0, 0.0, "mtcnn"
    part = "tune" if a.calibrate else a.part
    a.out.mkdir(parents=True, exist_ok=True)
    for old in a.out.glob("sheet_*.png"):
        old.unlink()
    engine = Unmasker.from_installed("cpu", a.models or models_dir())
    finder = make_face_finder(a.face_engine)
    if a.confirm_threshold is not None and hasattr(finder, "confirm_threshold"):
        finder.confirm_threshold = a.confirm_threshold
    if a.no_confirm and hasattr(finder, "confirm"):
        finder.confirm, finder.min_face = False, finder.single_min_face
    if a.no_verifier and hasattr(finder, "verify"):
        finder.verify = False
    b = Bench(engine=engine, finder=finder, out=a.out, grain=not a.no_grain, texture=not a.no_texture, tone=not a.no_tone,
              min_mask_confidence=a.min_mask_confidence, margin=a.margin,
              margins=[] if a.calibrate else None)
    t0 = time.perf_counter()
    m: dict = {"models": str(a.models or "shipped models"), "fill_sizes": list(engine.fill_sizes),
               "grain": b.grain, "texture": b.texture, "tone": b.tone, "face_engine": b.finder.name, "confirm_threshold": getattr(b.finder, "confirm_threshold", None),
               "verifier": getattr(b.finder, "verify", None),
               "min_mask_confidence": MIN_MASK_CONFIDENCE if a.min_mask_confidence is None else a.min_mask_confidence,
               "command": "python -m benchmarks.real_photos " + " ".join(argv if argv is not None else sys.argv[1:])}
    m["untouched"] = section_untouched(b, a.data / "faces", a.unmasked, second_half=a.calibrate)
    few = 6 if a.quick else 0
    m["detection"] = section_detection(b, a.data, part, few)
    m["scenes"] = section_scenes_labelled(b, a.data, part, few)
    m["segmentation"] = section_segmentation(b, a.data, part, few)
    m["rmfd"] = section_rmfd(b, a.data, part, a.rmfd)
    m["sharpness"] = sharpness_table(b.sharp)
    m["tone_gap"] = tone_table(b.tones)
    m["natural_reference"] = {"sharpness": sharpness_table(b.natural_sharp), "tone_gap": tone_table(b.natural_tones)}
    # The same against the whole band, the eyes in it, as measured before the eyes were left out.
    m["with_eyes"] = {"sharpness": sharpness_table(b.sharp, True), "tone_gap": tone_table(b.tones, True),
                      "natural_reference": {"sharpness": sharpness_table(b.natural_sharp, True),
                                            "tone_gap": tone_table(b.natural_tones, True)}}
    m["seconds"] = time.perf_counter() - t0
    m["section_seconds"] = {k: round(v, 1) for k, v in b.seconds.items()}
    m["sheets"] = sorted(p.name for p in a.out.glob("sheet_*.png"))
    if a.calibrate:
        m["calibration"] = calibrate(b.coverages)
        cover = np.mean(b.margins, axis=0) if b.margins else []
        m["calibration"]["margin"] = {"crop_px": list(MARGINS), "labelled_mask_covered": [float(c) for c in cover],
                                      "size": engine.size}
    atomic_write_bytes(a.out / "metrics.json", json.dumps(m, indent=1).encode())
    atomic_write_bytes(a.out / "faces.json", json.dumps(b.coverages).encode())
    atomic_write_bytes(a.out / "fills.json", json.dumps(b.fills).encode())  # benchmarks.compare_real
    text = report(m)
    atomic_write_bytes(a.out / "report.md", text.encode())
    print(text)
    if a.calibrate:
        print(json.dumps(m["calibration"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
