"""The path of one photo: faces -> aligned crops -> stage 1 map -> stage 2 fill -> paste-back.

Qt-free; used by the CLI, the editor, batch and the tests alike.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from app.align import AlignedFace, align_face, paste_back, warp_mask_to_crop, warp_mask_to_photo
from app.errors import UnmaskerError
from app.faces import Face, FaceFinder

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]  # (what is being done, fraction done)


class NoFaceFound(UnmaskerError):
    pass


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
    filled: np.ndarray  # (N, N, 3) uint8 crop after stage 2
    unmasked: bool = True  # False: stage 1 found no mask on this face, which was left as it was


@dataclass
class UnmaskResult:
    pixels: np.ndarray  # (H, W, 3) uint8, the photo with the faces filled
    photo_map: np.ndarray  # (H, W) uint8 0..255, all faces' maps in photo space
    faces: list[FaceResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "the GPU ran out of memory, ..."


def find_faces(pixels: np.ndarray, finder: FaceFinder, boxes=None) -> list[Face]:
    """Detected faces, or the faces in the boxes the user drew (landmarks found inside them)."""
    if boxes:
        return [finder.face_in_box(pixels, b) for b in boxes]
    return finder.detect(pixels)


MIN_MASK_FRACTION = 0.01  # a face whose map covers less of its crop wears no mask


def unmask_faces(pixels: np.ndarray, faces: list[Face], engine, mask_in: np.ndarray | None = None,
                 progress: Progress | None = None, batch_size: int = 8,
                 min_mask_fraction: float = MIN_MASK_FRACTION) -> UnmaskResult:
    """Fill every masked face. `mask_in` (H, W) uint8 is a photo-space map the user drew or
    fixed; where given it replaces stage 1 for all faces. Faces whose stage 1 map covers less than
    `min_mask_fraction` of the crop wear no mask and are left untouched."""
    if not faces:
        raise NoFaceFound("no face was found in the photo; draw a face box by hand")
    report = progress or (lambda _what, _done: None)
    aligned = [align_face(pixels, f.points5, engine.size) for f in faces]
    crops = np.stack([a.crop for a in aligned])
    maps = np.empty(crops.shape[:3], np.float32)
    for i in range(0, len(crops), batch_size):
        report("finding the masks", i / len(crops))
        if mask_in is None:
            probs = engine.segment(crops[i:i + batch_size])
            maps[i:i + batch_size] = [clean_map(p) for p in probs]
        else:
            maps[i:i + batch_size] = [(warp_mask_to_crop(mask_in, a) > 0.5).astype(np.float32) for a in aligned[i:i + batch_size]]
    filled = np.empty_like(crops)
    for i in range(0, len(crops), batch_size):
        report("filling the faces", i / len(crops))
        filled[i:i + batch_size] = engine.inpaint(crops[i:i + batch_size], maps[i:i + batch_size])
    out = pixels
    photo_map = np.zeros(pixels.shape[:2], np.uint8)
    results = []
    for k, (face, a, m, f) in enumerate(zip(faces, aligned, maps, filled)):
        report("blending into the photo", k / len(faces))
        if mask_in is None and m.mean() < min_mask_fraction:
            results.append(FaceResult(face=face, aligned=a, map=np.zeros_like(m), filled=a.crop, unmasked=False))
            continue
        out = paste_back(out, a, f, m)
        np.maximum(photo_map, warp_mask_to_photo(m, a, pixels.shape[:2]), out=photo_map)
        results.append(FaceResult(face=face, aligned=a, map=m, filled=f))
    report("done", 1.0)
    notes = engine.take_notes() if hasattr(engine, "take_notes") else []
    return UnmaskResult(pixels=out if out is not pixels else pixels.copy(), photo_map=photo_map, faces=results,
                        notes=notes)
