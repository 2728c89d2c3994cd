"""Editing a photo-space mask: brush and eraser strokes, grow, shrink, clear, invert within the
faces, each returning the patch it changed so undo stores only that. Qt-free: the editor calls
it, the tests call it directly.

The mask is (H, W) uint8, 0 = keep, 255 = fill; soft brush edges give values between (the fill
uses > 127).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Patch:
    """The rectangle [y0:y1, x0:x1] of a mask before and after an edit."""
    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes

    def apply(self, mask: np.ndarray, undo: bool = False) -> None:
        src = self.before if undo else self.after
        mask[self.y0:self.y0 + src.shape[0], self.x0:self.x0 + src.shape[1]] = src

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the patch."""
        return self.x0, self.y0, self.before.shape[1], self.before.shape[0]


def diff_patch(before: np.ndarray, after: np.ndarray) -> Patch | None:
    """The smallest patch that turns `before` into `after`; None when they are equal."""
    changed = before != after
    rows, cols = np.any(changed, axis=1), np.any(changed, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.argmax(rows), len(rows) - np.argmax(rows[::-1])
    x0, x1 = np.argmax(cols), len(cols) - np.argmax(cols[::-1])
    return Patch(int(y0), int(x0), before[y0:y1, x0:x1].copy(), after[y0:y1, x0:x1].copy())


def dab(mask: np.ndarray, x: float, y: float, radius: float, hardness: float, erase: bool) -> tuple[int, int, int, int] | None:
    """Stamp one round brush dab in place; returns the (x, y, w, h) it touched. Hardness 1 gives a
    hard edge; lower values fade the outer part of the radius."""
    h, w = mask.shape
    r = max(0.5, float(radius))
    x0, y0 = max(0, int(np.floor(x - r))), max(0, int(np.floor(y - r)))
    x1, y1 = min(w, int(np.ceil(x + r)) + 1), min(h, int(np.ceil(y + r)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.sqrt((xx - x) ** 2 + (yy - y) ** 2) / r
    hard = float(np.clip(hardness, 0.0, 1.0))
    if hard >= 0.999:
        strength = (d <= 1.0).astype(np.float32)
    else:
        strength = np.clip((1.0 - d) / max(1.0 - hard, 1e-3), 0.0, 1.0).astype(np.float32)
    region = mask[y0:y1, x0:x1]
    level = np.round(strength * 255).astype(np.uint8)
    if erase:
        np.minimum(region, 255 - level, out=region)
    else:
        np.maximum(region, level, out=region)
    return x0, y0, x1 - x0, y1 - y0


def stroke_points(p0: tuple[float, float], p1: tuple[float, float], radius: float) -> list[tuple[float, float]]:
    """Dab centres from p0 to p1, a quarter radius apart, so a fast drag leaves no gaps."""
    (ax, ay), (bx, by) = p0, p1
    dist = float(np.hypot(bx - ax, by - ay))
    n = max(1, int(np.ceil(dist / max(0.25 * radius, 0.5))))
    return [(ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(1, n + 1)]


def grow(mask: np.ndarray, pixels: int) -> Patch | None:
    """Grow (pixels > 0) or shrink (pixels < 0) the mask by that many pixels."""
    if pixels == 0:
        return None
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1,) * 2)
    after = cv2.dilate(mask, k) if pixels > 0 else cv2.erode(mask, k)
    patch = diff_patch(mask, after)
    if patch:
        patch.apply(mask)
    return patch


def clear(mask: np.ndarray) -> Patch | None:
    patch = diff_patch(mask, np.zeros_like(mask))
    if patch:
        patch.apply(mask)
    return patch


def face_region(shape: tuple[int, int], boxes: list, margin: float = 0.15) -> np.ndarray:
    """(H, W) bool: the faces' boxes, widened by `margin` of their size."""
    region = np.zeros(shape, bool)
    h, w = shape
    for x0, y0, x1, y1 in boxes:
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        region[max(0, int(y0 - my)):min(h, int(np.ceil(y1 + my))), max(0, int(x0 - mx)):min(w, int(np.ceil(x1 + mx)))] = True
    return region


def invert_within(mask: np.ndarray, region: np.ndarray) -> Patch | None:
    """Invert the mask inside `region` (the faces); outside it nothing changes."""
    after = mask.copy()
    after[region] = 255 - after[region]
    patch = diff_patch(mask, after)
    if patch:
        patch.apply(mask)
    return patch
