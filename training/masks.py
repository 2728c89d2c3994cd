"""Procedural face masks drawn from the 68 iBUG landmarks, with the exact binary map.

Surgical-style masks: the outline runs from the nose bridge across the cheeks along the jaw line
to under the chin; height (how much of the nose is covered), colour, pleats and straps vary with
the random generator, so a dataset built with a fixed seed is rebuilt bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# MaskTheFace's templates and textures, in the shared data folder beside the project.
DEFAULT_MASK_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mask_templates" / "masks"

SURGICAL_COLOURS = [(222, 232, 240), (120, 170, 220), (150, 205, 190), (245, 245, 245), (40, 40, 45), (230, 200, 210)]


@dataclass
class MaskStyle:
    colour: tuple[int, int, int]
    nose_cover: float  # 1: mask top at the bridge between the eyes, 0: at the nose tip, < 0: below it (worn low)
    chin_drop: float  # how far below the chin the mask reaches, in face heights
    pleats: int
    straps: bool


def random_style(rng: np.random.Generator) -> MaskStyle:
    base = SURGICAL_COLOURS[rng.integers(len(SURGICAL_COLOURS))]
    jitter = rng.integers(-15, 16, size=3)
    colour = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter))
    return MaskStyle(colour=colour, nose_cover=float(rng.uniform(-0.3, 0.9)),
                     chin_drop=float(rng.uniform(0.02, 0.08)), pleats=int(rng.integers(0, 4)),
                     straps=bool(rng.random() < 0.7))


def mask_polygon(p68: np.ndarray, style: MaskStyle) -> np.ndarray:
    """The mask outline in image coordinates, (K, 2) float32."""
    p = np.asarray(p68, np.float64)
    bridge, tip = p[27], p[30]
    top_y_at = bridge + (tip - bridge) * (1.0 - style.nose_cover)  # top centre of the mask
    face_h = np.linalg.norm(p[8] - p[27])
    down = (p[8] - p[27]) / max(face_h, 1e-6)
    # Sides: jaw points from the level of the mask top down to the chin, pushed a little outwards.
    centre = p[27:36].mean(0)
    jaw = p[0:17].copy()
    jaw = centre + (jaw - centre) * 1.04
    left, right = jaw[1:8], jaw[9:16][::-1]  # both from the top down
    chin = p[8] + down * style.chin_drop * face_h
    top_left = jaw[1] + (top_y_at - p[27]) * 0.15
    top_right = jaw[15] + (top_y_at - p[27]) * 0.15
    poly = [top_y_at, top_y_at * 0.4 + top_right * 0.6, top_right, *right, chin, *left[::-1], top_left,
            (top_y_at * 0.4 + top_left * 0.6)]
    return np.asarray(poly, np.float32)


def draw_mask(image: np.ndarray, p68: np.ndarray, style: MaskStyle) -> tuple[np.ndarray, np.ndarray]:
    """(masked image, binary map uint8 {0, 1}) for one face."""
    h, w = image.shape[:2]
    poly = mask_polygon(p68, style)
    shift = 4  # sub-pixel polygon edges
    pts = np.round(poly * (1 << shift)).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    out = image.copy()
    # Fabric: the colour shaded by the face's own light (smoothed luminance), plus pleats.
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    light = cv2.GaussianBlur(grey, (0, 0), max(1.0, 0.02 * max(h, w)))
    ys, xs = np.nonzero(mask)
    shade = 0.75 + 0.25 * (light / max(float(light[ys, xs].mean()), 1.0))
    fabric = np.clip(np.array(style.colour, np.float32)[None, None] * shade[..., None], 0, 255)
    if style.pleats:  # darker horizontal folds
        folds = np.ones((h, w), np.float32)
        p = np.asarray(p68, np.float64)
        top_y, chin_y, x0, x1 = poly[0][1], p[8][1], p[2][0], p[14][0]
        width = max(1, round(0.004 * max(h, w)))
        for k in range(1, style.pleats + 1):
            y = top_y + (chin_y - top_y) * k / (style.pleats + 1.5)
            cv2.line(folds, (int(x0), int(y)), (int(x1), int(y + 0.03 * (x1 - x0))), 0.8, width, cv2.LINE_AA)
        fabric *= folds[..., None]
    out[mask > 0] = fabric[mask > 0].astype(np.uint8)
    if style.straps:
        p = np.asarray(p68, np.float64)
        for a, b in ((poly[2], p[16] + (p[16] - p[0]) * 0.05), (poly[-2], p[0] + (p[0] - p[16]) * 0.05)):
            cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), tuple(int(c * 0.9) for c in style.colour),
                     max(1, round(0.006 * max(h, w))), cv2.LINE_AA)
            strap = np.zeros_like(mask)
            cv2.line(strap, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, max(1, round(0.006 * max(h, w))), cv2.LINE_AA)
            mask |= strap
    # The map is exact: every pixel the drawing changed (anti-aliased strap edges included).
    mask |= np.any(out != image, axis=2).astype(np.uint8)
    return out, mask
