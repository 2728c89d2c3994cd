"""Tone for a fill: the generator's face, made without seeing the hole, can come out paler, darker
or of another tint than the skin around it (a white mask's face pale, a dark one's grey). This
shifts the fill's colour, as a whole, towards the visible skin it meets at its edge.

In the aligned crop, every pixel on the fill's edge is paired with the photo's pixel just
outside it; their difference (in CIELAB) is a sample of how far off the fill is there. Pairs
where the outside is not the same surface (hair, background, a collar beside the jaw: far apart
in colour) count little; only the upper part of the edge is used, where the fill meets the
cheeks and the nose (under the chin it meets the neck or the background, rightly different).
The fill is shifted by the weighted median of those differences, one shift for the whole fill
(a field that varied along the edge followed the nostrils and the jaw's shading instead of the
tone), and capped: a fill off by more than that is wrong in another way that a colour shift would
not mend. Pixels outside the map do not change.
"""
from __future__ import annotations

import cv2
import numpy as np

EDGE = 0.025  # the rings either side of the fill's edge, as a share of the crop (3 px at 128)
UPPER = 0.6  # the share of the fill's height, from its top, whose edge is used
SIMILAR = 12.0  # Lab units: a pair this far apart counts e^-0.5 as much as an identical one
MAX_SHIFT = np.array([20.0, 10.0, 10.0], np.float32)  # at most this much in L, a, b


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def tone_shift(filled: np.ndarray, crop: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """(3,) float32 Lab correction to add to `filled` inside `region` (N, N bool): the weighted
    median of the differences across the region's upper edge; None where there are too few
    pairs to tell."""
    n = crop.shape[0]
    r = max(1, round(EDGE * n))
    m = region.astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    ys = np.nonzero(region.any(1))[0]
    upper = np.zeros_like(region)
    upper[: ys[0] + int(UPPER * (ys[-1] + 1 - ys[0])) + 1] = True
    inner = region & ~(cv2.erode(m, k) > 0) & upper
    if inner.sum() < 10:
        return None
    lab_f, lab_c = _lab(filled), _lab(crop)
    # Each inner pixel's partner: the nearest pixel outside the region (the distance transform
    # labels every pixel with its nearest zero pixel, the outside's pixels each their own).
    _, labels = cv2.distanceTransformWithLabels(m, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    oy, ox = np.nonzero(~region)
    out_idx = np.zeros(labels.max() + 1, np.int64)
    out_idx[labels[oy, ox]] = oy * n + ox
    iy, ix = np.nonzero(inner)
    partner = out_idx[labels[iy, ix]]
    diff = lab_c.reshape(-1, 3)[partner] - lab_f[iy, ix]
    dist = np.sqrt((diff ** 2).sum(1))
    weight = np.exp(-0.5 * (dist / SIMILAR) ** 2)
    if weight.sum() < 5:
        return None
    shift = np.array([_weighted_median(diff[:, c], weight) for c in range(3)], np.float32)
    return np.clip(shift, -MAX_SHIFT, MAX_SHIFT)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def match_tone(filled: np.ndarray, crop: np.ndarray, fill_map: np.ndarray) -> np.ndarray:
    """`filled` (N, N, 3) uint8, the generator's crop, with its colour inside `fill_map` (N, N,
    > 0.5: the region that was filled) shifted towards the skin `crop` shows around it. Outside
    the map `filled` comes back bit for bit; with too little skin at the edge, unchanged."""
    region = np.asarray(fill_map) > 0.5
    if not region.any() or region.all():
        return filled
    shift = tone_shift(filled, crop, region)
    if shift is None:
        return filled
    lab = _lab(filled) + shift
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    fixed = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    out = filled.copy()
    out[region] = fixed[region]
    return out
