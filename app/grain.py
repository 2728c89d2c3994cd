"""Grain for a fill: the generator's face is made at the network's size (128 px) and enlarged into
faces of hundreds of pixels, so at 100 % it is smoother than the skin around it, like an upscale
pasted beside sharp eyes. This adds back fine grain whose strength matches the visible skin of that
same face, measured in the photo at full resolution, just above the mask.

Only pixels inside the fill change (faded in over the map's soft edge); a face whose skin is as
smooth as its fill gets nothing; the grain is seeded by the face's position, so a photo unmasked
twice comes out the same.
"""
from __future__ import annotations

import cv2
import numpy as np

GRAIN_SIGMA = 0.7  # px: the grain's blur, so it reads as skin texture and sensor noise, not pixel noise
BAND = 0.12  # the skin band's height above the mask, as a share of the mask's height


def skin_above(face_map: np.ndarray, band: float = BAND) -> np.ndarray:
    """(H, W) bool: the visible skin just above the mask (a band of `band` of the mask's height
    over its top edge, column by column, in the middle 60 % of its width, outside the map)."""
    m = face_map > 127
    ys, xs = np.nonzero(m)
    out = np.zeros_like(m)
    if len(ys) == 0:
        return out
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    width, height = x1 - x0, y1 - y0
    band_h, gap = max(3, round(band * height)), max(1, round(0.03 * height))
    cols = np.nonzero(m[:, x0:x1].any(0))[0] + x0
    cols = cols[(cols >= x0 + 0.2 * width) & (cols < x1 - 0.2 * width)]
    tops = np.argmax(m[:, cols], axis=0)
    for x, top in zip(cols, tops):
        out[max(0, top - gap - band_h):max(0, top - gap), x] = True
    return out & ~m


MAX_GRAIN = 40.0  # Laplacian strength at most (its 3x3 kernel: about 5 grey levels of grain): hair is not skin


def _detail(grey: np.ndarray) -> np.ndarray:
    """The finest detail: the Laplacian, what makes a patch look sharp or soft at 100 %."""
    return cv2.Laplacian(grey, cv2.CV_32F, ksize=3)


FLAT_SHARE = 20  # percent: the grain is read where the skin is flattest (this share of it)


def _flat_level(detail: np.ndarray, region: np.ndarray) -> float:
    """The grain's strength in `region`: the local RMS of the detail over 5 x 5 px, at the
    FLAT_SHARE-th percentile. What the skin's flattest parts hold is its grain (sensor noise,
    pores); the rest is structure (lashes, a brow, a glasses frame, the mask's edge), which a
    median over the band would count as grain and turn into a noise patch."""
    local = np.sqrt(cv2.blur(detail * detail, (5, 5)))
    return float(np.percentile(local[region], FLAT_SHARE))


def _photo_grain(original: np.ndarray, face_map: np.ndarray, bounds: tuple[int, int, int, int]) -> float:
    """The grain of the photo around the face: `_flat_level` over the window of one mask height
    above the mask and a quarter of its width to either side, outside the map (`bounds`: the
    map's rows y0:y1 and columns x0:x1). Its flattest parts (forehead, cheeks, a wall behind)
    hold the sensor's noise and the JPEG's, which no skin in this photo can be smoother than."""
    my0, my1, mx0, mx1 = bounds
    w = face_map.shape[1]
    mh, mw = my1 - my0, mx1 - mx0
    y0, y1 = max(0, my0 - mh), my1
    x0, x1 = max(0, mx0 - mw // 4), min(w, mx1 + mw // 4)
    around = face_map[y0:y1, x0:x1] == 0
    grey = cv2.cvtColor(original[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    return _flat_level(_detail(grey), around) if around.sum() >= 30 else float("inf")


def add_grain(result: np.ndarray, original: np.ndarray, face_map: np.ndarray, seed: int = 0,
              min_width: int = 0) -> np.ndarray:
    """`result` with grain added inside `face_map` (photo-space uint8 0..255, this face's fill):
    enough that the fill's fine detail (the Laplacian of its brightness) where it is flattest has
    the strength of the flattest skin just above the mask in `original`, and no more than the
    photo holds around the face (`_photo_grain`: where a mask reaches up to the eyes, the band
    above it is lids and lashes), capped at MAX_GRAIN. Only where the fill was enlarged into the
    photo: a mask narrower than `min_width` px (the network's crop size) got a fill made at a
    finer scale than the photo's, which grain would only spoil. Returns `result` itself when
    nothing is to be added."""
    cols = np.nonzero((face_map > 127).any(0))[0]
    if len(cols) == 0 or cols[-1] + 1 - cols[0] < min_width:
        return result
    skin = skin_above(face_map)
    inside = cv2.erode((face_map > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if skin.sum() < 30 or inside.sum() < 30:
        return result
    ys, xs = np.nonzero(face_map > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sy0 = min(y0, int(np.nonzero(skin.any(1))[0].min()))
    win = (slice(sy0, y1), slice(x0, x1))  # only the face's own window of the photo is touched
    grey_o = cv2.cvtColor(original[win], cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_r = cv2.cvtColor(result[win], cv2.COLOR_RGB2GRAY).astype(np.float32)
    target = min(_flat_level(_detail(grey_o), skin[win]), _photo_grain(original, face_map, (y0, y1, x0, x1)))
    have = _flat_level(_detail(grey_r), inside[win])
    add = min(np.sqrt(max(target ** 2 - have ** 2, 0.0)), MAX_GRAIN)
    if add < 0.5:  # too faint to see
        return result
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal(grey_o.shape).astype(np.float32), (0, 0), GRAIN_SIGMA)
    noise *= add / max(_flat_level(_detail(noise), np.ones(noise.shape, bool)), 1e-6)  # as strong as `add`
    weight = face_map[win].astype(np.float32) / 255.0  # the map's soft edge fades the grain in
    out = result.copy()
    region = out[win].astype(np.float32) + (noise * weight)[..., None]
    touched = weight > 0
    out[win][touched] = np.clip(np.round(region[touched]), 0, 255).astype(np.uint8)
    return out
