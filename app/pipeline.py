"""The path of one photo: faces -> aligned crops -> stage 1 map -> stage 2 fill -> paste-back.

Qt-free; used by the CLI, the editor, batch and the tests alike.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from app.align import AlignedFace, align_face, paste_back, photo_scale, reframe_map, warp_mask_to_crop, warp_mask_to_photo
from app.errors import UnmaskerError
from app.faces import MIN_FACE_PX, Face, FaceFinder
from app.grain import add_grain, restore_detail
from app.tone import match_tone

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]  # (what is being done, fraction done)


class NoFaceFound(UnmaskerError):
    """No face in the photo (raised by `find_faces` only); the message gives the finder's size limit."""


def no_face_text(finder: FaceFinder, shape: tuple[int, ...] | None = None) -> str:
    """What every front end says when a photo (of this shape) has no face: the CLI, the batch
    report, the editor. The size limit is the real one for that photo: on a large photo, searched
    at a smaller scale, it is more than the finder's floor."""
    limit = getattr(finder, "min_face", MIN_FACE_PX)
    if shape is not None and hasattr(finder, "smallest_face"):
        limit = finder.smallest_face(shape)
    return f"no face found (faces under {limit} px are skipped)"


def clean_map(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Stage 1's probability map -> a clean binary map: threshold, drop specks, fill pinholes,
    keep the blobs that hold most of the mask, and give back the thin parts (straps, ear loops)
    that the opening cut but that are attached to those blobs."""
    raw = (prob > threshold).astype(np.uint8)
    n = raw.shape[0]
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, n // 64) | 1,) * 2)
    binary = cv2.morphologyEx(raw, cv2.MORPH_OPEN, k)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, k)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = 1 + np.nonzero(areas >= 0.1 * areas.max())[0]
        binary = np.isin(labels, keep).astype(np.uint8)
    if binary.any():
        _, raw_labels = cv2.connectedComponents(raw, connectivity=8)
        attached = np.unique(raw_labels[(binary > 0) & (raw > 0)])
        binary |= np.isin(raw_labels, attached[attached > 0]).astype(np.uint8)
    return binary.astype(np.float32)


@dataclass
class FaceResult:
    face: Face
    aligned: AlignedFace
    map: np.ndarray  # (N, N) float32 binary map used for the fill
    filled: np.ndarray  # (N, N, 3) uint8 crop after stage 2 (in `fill_aligned`'s frame where that is set)
    unmasked: bool = True  # False: stage 1 found no mask on this face, which was left as it was
    coverage: float = 0.0  # share of the crop stage 1's tidied map covers: the mask / no mask decision
    segmentation: np.ndarray | None = None  # stage 1's tidied map before the margin (None: as `map`)
    confidence: float = 0.0  # stage 1's mean probability inside its tidied map
    fill_aligned: AlignedFace | None = None  # the frame `filled` is in, where it is not `aligned`'s (a large face)

    @property
    def status(self) -> str:
        """What happened to this face, in the words the Faces list, the CLI and the batch use."""
        return "unmasked" if self.unmasked else NO_MASK_TEXT


@dataclass
class UnmaskResult:
    pixels: np.ndarray  # (H, W, 3) uint8, the photo with the faces filled
    photo_map: np.ndarray  # (H, W) uint8 0..255, all faces' maps in photo space
    faces: list[FaceResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "the GPU ran out of memory, ..."


def find_faces(pixels: np.ndarray, finder: FaceFinder, boxes=None, required: bool = False) -> list[Face]:
    """Detected faces, or the faces in the boxes the user drew (landmarks found inside them).
    With `required`, no face raises NoFaceFound."""
    faces = [finder.face_in_box(pixels, b) for b in boxes] if boxes else finder.detect(pixels)
    if required and not faces:
        raise NoFaceFound(no_face_text(finder, pixels.shape))
    return faces


# The mask / no mask decision: a face wears a mask when stage 1's tidied map covers at least
# MIN_MASK_FRACTION of its aligned crop and stage 1's mean probability inside that map reaches
# MIN_MASK_CONFIDENCE; otherwise it is left untouched. The confidence is calibrated with
# `python -m benchmarks.real_photos --calibrate` on the tuning halves of the real sets and unmasked
# validation faces the benchmark does not report (never on the held-out part): a false "mask"
# (a smile, a beard, a hand) is a small, unsure blob; a real one, even worn on the chin, is sure.
# The coverage floor is half the smallest map of a real mask the threshold fills there (0.034 of
# the crop, a MaskedFace-Net mask worn on the chin), floored to 0.005: a speck of "mask" on a bare
# face (a collar, a shadow; 0.011 on a held-out scene) stays below it.
MIN_MASK_FRACTION = 0.015
MIN_MASK_CONFIDENCE = 0.8
NO_MASK_TEXT = "no mask found, left untouched"
# Stage 1's map is grown by this share of the crop before filling, so the fill covers the mask's
# edge (MaskedFace-Net's tuning part: `python -m benchmarks.real_photos --calibrate`).
MASK_MARGIN = 2 / 128  # two crop pixels at 128 px: 99.96 % of the labelled mask covered (99.32 % with none)


@dataclass
class FaceMask:
    """Stage 1's answer for one face."""
    aligned: AlignedFace
    map: np.ndarray  # (N, N) float32 {0, 1}: what will be filled, the segmentation grown by the margin
    coverage: float  # share of the crop the tidied map covered, before the decision
    segmentation: np.ndarray | None = None  # the tidied map itself, before the margin (None: = map)
    confidence: float = 0.0  # stage 1's mean probability inside the tidied map

    @property
    def has_mask(self) -> bool:
        return bool(self.map.any())


def grow(m: np.ndarray, margin: float) -> np.ndarray:
    """A crop-space map grown by `margin` (a share of the crop's size): the filled region reaches
    over the mask's edge, where a trim, a seam or the edge's shadow would otherwise stay."""
    return grow_px(m, round(margin * m.shape[0]))


def grow_px(m: np.ndarray, r: int) -> np.ndarray:
    """A map dilated by `r` pixels with an elliptic kernel (what `grow` does; training grows its
    maps with it too, so the generator sees the app's grown maps exactly)."""
    if r <= 0 or not m.any():
        return m
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(m.astype(np.uint8), k).astype(np.float32)


def decide_map(prob: np.ndarray, min_mask_fraction: float = MIN_MASK_FRACTION, margin: float = MASK_MARGIN,
               min_mask_confidence: float = MIN_MASK_CONFIDENCE) -> tuple[np.ndarray, float, np.ndarray, float]:
    """Stage 1's probabilities for one crop to what gets filled: tidied (`clean_map`), emptied
    where the face wears no mask (coverage under `min_mask_fraction` or mean probability inside
    under `min_mask_confidence`), grown by `margin`. Returns (map to fill, coverage, tidied map,
    confidence), in FaceMask's field order. The app (`find_masks`) and `training.evaluate` both
    call it, so the synthetic figures are the app's own path."""
    m = clean_map(prob)
    coverage = float(m.mean())
    confidence = float(prob[m > 0].mean()) if m.any() else 0.0
    if coverage < min_mask_fraction or confidence < min_mask_confidence:
        m = np.zeros_like(m)
    return grow(m, margin), coverage, m, confidence


def find_masks(pixels: np.ndarray, faces: list[Face], engine, progress: Progress | None = None,
               batch_size: int = 8, min_mask_fraction: float = MIN_MASK_FRACTION,
               margin: float = MASK_MARGIN, min_mask_confidence: float = MIN_MASK_CONFIDENCE) -> list[FaceMask]:
    """Stage 1 for every face, the one place it runs (CLI, batch, editor): align, segment, tidy,
    and decide mask / no mask. A face whose tidied map covers less than `min_mask_fraction` of
    its crop, or whose mean probability inside it is under `min_mask_confidence`, wears no mask,
    and its map is emptied; a masked face's map is grown by `margin`. The decision is also kept on
    each face (`Face.mask_found`) for the lists that show it."""
    report = progress or (lambda _what, _done: None)
    aligned = [align_face(pixels, f.points5, engine.size) for f in faces]
    out: list[FaceMask] = []
    for i in range(0, len(aligned), batch_size):
        report("finding the masks", i / max(1, len(aligned)))
        chunk = aligned[i:i + batch_size]
        probs = engine.segment(np.stack([a.crop for a in chunk]))
        for a, p in zip(chunk, probs):
            out.append(FaceMask(a, *decide_map(p, min_mask_fraction, margin, min_mask_confidence)))
    for face, fm in zip(faces, out):
        face.mask_found = fm.has_mask
    return out


def segment_photo(pixels: np.ndarray, faces: list[Face], engine, progress: Progress | None = None) -> np.ndarray:
    """Stage 1 (`find_masks`) as one photo-space map, (H, W) uint8 0..255, of the faces judged to
    wear a mask: what the editor starts from, the map `unmasker unmask` would fill."""
    out = np.zeros(pixels.shape[:2], np.uint8)
    for fm in find_masks(pixels, faces, engine, progress):
        if fm.has_mask:
            np.maximum(out, warp_mask_to_photo(fm.map, fm.aligned, out.shape), out=out)
    return out


# A face is filled by the engine's large generator (where one is installed) when the photo shows
# it larger than the models' crop: each crop pixel would cover more than this many photo pixels.
LARGE_FILL_FROM = 1.0


def fill_frame(pixels: np.ndarray, face: Face, fm: FaceMask, engine,
               mask_in: np.ndarray | None = None) -> tuple[AlignedFace, np.ndarray]:
    """The crop a masked face is filled in and its map there: stage 1's own crop, or for a face
    the photo shows large, the same face aligned at the large generator's size (twice as fine)
    with the map carried over (or taken from the user's photo-space map, `mask_in`, directly)."""
    large = getattr(engine, "large_size", 0)
    if not large or photo_scale(fm.aligned) <= LARGE_FILL_FROM:
        return fm.aligned, fm.map
    a = align_face(pixels, face.points5, large)
    if mask_in is not None:
        return a, (warp_mask_to_crop(mask_in, a) > 0.5).astype(np.float32)
    return a, reframe_map(fm.map, fm.aligned, a)


def unmask_faces(pixels: np.ndarray, faces: list[Face], engine, mask_in: np.ndarray | None = None,
                 progress: Progress | None = None, batch_size: int = 8,
                 min_mask_confidence: float = MIN_MASK_CONFIDENCE, grain: bool = True,
                 margin: float = MASK_MARGIN, tone: bool = True, texture: bool = True) -> UnmaskResult:
    """Fill every masked face. `mask_in` (H, W) uint8 is a photo-space map the user drew or
    fixed; where given it replaces stage 1 for all faces. Faces stage 1 judges to wear no mask
    (`find_masks`) are left untouched. A face the photo shows larger than the models' crop is
    filled by the engine's large generator where one is installed (`fill_frame`). With `tone`,
    each fill's colour is matched to the skin at its edge (`app.tone`); with `grain`, its own
    detail is brought up to a real lower face's and it gets the fine detail of its face's visible
    skin back (`app.grain`: `restore_detail`, then that skin's own texture, or with `texture`
    False only grain). With no face, the photo comes back unchanged."""
    if not faces:
        return UnmaskResult(pixels=pixels.copy(), photo_map=np.zeros(pixels.shape[:2], np.uint8))
    report = progress or (lambda _what, _done: None)
    # Progress is the whole job's: finding the masks 0-30 %, filling 30-80 %, blending 80-100 %.
    if mask_in is None:
        masks = find_masks(pixels, faces, engine, lambda what, f: report(what, 0.3 * f), batch_size,
                           min_mask_confidence=min_mask_confidence, margin=margin)
    else:
        masks = []
        for f in faces:
            a = align_face(pixels, f.points5, engine.size)
            m = (warp_mask_to_crop(mask_in, a) > 0.5).astype(np.float32)
            masks.append(FaceMask(a, m, float(m.mean())))
    todo = [k for k, fm in enumerate(masks) if fm.has_mask]
    frames = {k: fill_frame(pixels, faces[k], masks[k], engine, mask_in) for k in todo}
    # Batches of one crop size each: large faces go to the large generator.
    todo.sort(key=lambda k: frames[k][0].size)
    filled: dict[int, np.ndarray] = {}
    for i in range(0, len(todo), batch_size):
        report("filling the faces", 0.3 + 0.5 * i / len(todo))
        for size in sorted({frames[k][0].size for k in todo[i:i + batch_size]}):
            ks = [k for k in todo[i:i + batch_size] if frames[k][0].size == size]
            crops, maps = [frames[k][0].crop for k in ks], [frames[k][1] for k in ks]
            done = engine.inpaint(np.stack(crops), np.stack(maps))
            if tone:
                done = [match_tone(d, c, m) for d, c, m in zip(done, crops, maps)]
            filled.update(zip(ks, done))
    out = pixels
    photo_map = np.zeros(pixels.shape[:2], np.uint8)
    results = []
    for k, (face, fm) in enumerate(zip(faces, masks)):
        report("blending into the photo", 0.8 + 0.2 * k / len(faces))
        if k not in filled:
            results.append(FaceResult(face=face, aligned=fm.aligned, map=fm.map, filled=fm.aligned.crop,
                                      unmasked=False, coverage=fm.coverage, confidence=fm.confidence))
            continue
        fill_aligned, fill_map = frames[k]
        out = paste_back(out, fill_aligned, filled[k], fill_map)
        face_map = warp_mask_to_photo(fill_map, fill_aligned, pixels.shape[:2])
        if grain:
            crop_width = int((fill_map > 0.5).any(0).sum())
            # The fill's own detail up to a real lower face's, then the skin's texture, this only
            # where the fill was enlarged (the map wider in the photo than in the crop).
            out = restore_detail(out, pixels, face_map, crop_width)
            out = add_grain(out, pixels, face_map, seed=k, min_width=crop_width, texture=texture)
        np.maximum(photo_map, face_map, out=photo_map)
        results.append(FaceResult(face=face, aligned=fm.aligned, map=fm.map, filled=filled[k], coverage=fm.coverage,
                                  segmentation=fm.segmentation, confidence=fm.confidence,
                                  fill_aligned=None if fill_aligned is fm.aligned else fill_aligned))
    out = _protect_unmasked(out, pixels, photo_map, faces, results)
    report("done", 1.0)
    notes = engine.take_notes() if hasattr(engine, "take_notes") else []
    return UnmaskResult(pixels=out if out is not pixels else pixels.copy(), photo_map=photo_map, faces=results,
                        notes=notes)


# A face left untouched owns its box grown by this share of its size on every side: a detector's
# box is tight on the eyes, nose and mouth, and the cheeks, jaw and chin around it are that
# person's too (on the real scenes a masked neighbour's feathered edge reached just past the box).
PROTECT_GROW = 0.2


def _protect_unmasked(out: np.ndarray, pixels: np.ndarray, photo_map: np.ndarray, faces: list[Face],
                      results: list[FaceResult]) -> np.ndarray:
    """A face left untouched stays untouched when a masked neighbour's fill (its feathered edge)
    reaches into its box grown by PROTECT_GROW: there the original pixels are put back, except
    inside the filled faces' own boxes, which are theirs. Works box by box, so a huge photo costs
    no photo-sized mask."""
    if out is pixels:
        return out
    h, w = pixels.shape[:2]

    def bounds(box, grow: float = 0.0) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = box
        gx, gy = grow * (x1 - x0), grow * (y1 - y0)
        return (max(0, int(x0 - gx)), max(0, int(y0 - gy)),
                min(w, int(np.ceil(x1 + gx))), min(h, int(np.ceil(y1 + gy))))

    filled = [bounds(f.box) for f, r in zip(faces, results) if r.unmasked]
    for f, r in zip(faces, results):
        if r.unmasked:
            continue
        x0, y0, x1, y1 = bounds(f.box, PROTECT_GROW)
        if x1 <= x0 or y1 <= y0:
            continue
        keep = np.ones((y1 - y0, x1 - x0), bool)
        for a0, b0, a1, b1 in filled:
            keep[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = False
        win = (slice(y0, y1), slice(x0, x1))
        out[win][keep] = pixels[win][keep]
        photo_map[win][keep] = 0
    return out


def unmask_photo(pixels: np.ndarray, finder: FaceFinder, engine, progress: Progress | None = None,
                 **options) -> UnmaskResult:
    """The whole automatic path for one photo, as `unmasker batch` runs it: find the faces, then
    unmask_faces (`options`: its grain, texture, tone, min_mask_confidence, margin). With no face found, the photo
    comes back unchanged with an empty face list."""
    return unmask_faces(pixels, find_faces(pixels, finder), engine, progress=progress, **options)
