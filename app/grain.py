"""Texture and grain for a fill: the generator's face is made at the network's size (128 px) and
enlarged into faces of hundreds of pixels, so at 100 % it is smoother than the skin around it, like
an upscale pasted beside sharp eyes. This adds back the fine detail of the visible skin of that
same face, at the photo's full resolution: first the fill's own detail is brought up towards what
a real lower face holds (`restore_detail`, an unsharp mask of bounded strength), then the skin's
own texture copied from clean patches above the mask where there are some, else a faint grain
(FALLBACK_GRAIN).

Only pixels inside the fill change (faded in over the map's soft edge); a face whose skin is as
smooth as its fill gets nothing; the grain is seeded by the face's position, so a photo unmasked
twice comes out the same.
"""
from __future__ import annotations

import cv2
import numpy as np

GRAIN_SIGMA = 0.7  # px: the grain's blur, so it reads as skin texture and sensor noise, not pixel noise
BAND = 0.12  # the skin band's height above the mask, as a share of the mask's height


# The eyes' extent around each eye centre, as shares of the distance between the eye centres
# (an eye is about half that wide; with its lids and lashes, about a third as tall).
EYE_HALF_WIDTH, EYE_HALF_HEIGHT = 0.38, 0.2


def eye_regions(points5: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: an ellipse around each eye of a face (its five points, `app.faces.Face`),
    along the line through the eyes: lids and lashes, which are not skin."""
    out = np.zeros(shape, np.uint8)
    left, right = np.asarray(points5[0], float), np.asarray(points5[1], float)
    d = float(np.hypot(*(right - left)))
    if d < 1:
        return out > 0
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    axes = (max(1, round(EYE_HALF_WIDTH * d)), max(1, round(EYE_HALF_HEIGHT * d)))
    for c in (left, right):
        cv2.ellipse(out, (round(c[0]), round(c[1])), axes, angle, 0, 360, 1, -1)
    return out > 0


def skin_above(face_map: np.ndarray, band: float = BAND, avoid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the visible skin just above the mask (a band of `band` of the mask's height
    over its top edge, column by column, in the middle 60 % of its width, outside the map), less
    `avoid` where given (`eye_regions`: a mask worn up to the eyes has its lids and lashes there)."""
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
    out &= ~m
    return out & ~avoid if avoid is not None else out


# Grey levels (standard deviation) at most of the noise a fill gets where no clean skin gives
# texture (`add_grain`): chosen by eye on RMFD's tuning half, where 86 of 144 enlarged fills took
# that path; each of the 16 that got 3 grey levels or more was a speckled patch at 100 %, worse than
# the plain fill, and at 1.5 none was while a grainy photo's fill still is not plastic.
FALLBACK_GRAIN = 1.5
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
    return float(np.percentile(_local_rms(detail, 5)[region], FLAT_SHARE))


def _local_rms(detail: np.ndarray, k: int) -> np.ndarray:
    """The detail's RMS over the k x k window around each pixel."""
    # A box filter over floats can round a flat patch's sum a hair below zero.
    return np.sqrt(np.maximum(cv2.blur(detail * detail, (k, k)), 0.0))


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


# Detail the fill's own structure should have: a real lower face's fine detail (the Laplacian RMS
# of its nose, mouth and chin, where a mask would be) against the skin band just above the mask,
# measured by the real-photo benchmark on unmasked validation faces (`natural_reference`: 0.63 for
# masks 90 px and wider, 0.55 at 64-90 px). Before this the generator's fills held 0.27 (median
# over the filled faces of facemaskdetection's and RMFD's tuning halves): a blurred patch beside
# sharp eyes.
DETAIL_TARGET = 0.6
# The unsharp mask's strength at most. 3 was tried on RMFD's tuning half (64-90 px: 0.37 to 0.46
# of the skin's detail): at 100 % the cheeks came out mottled and the jaw's edge hard, an
# over-sharpened look, on the shipped example as on the scenes.
SHARPEN_MAX = 2.0
SHARPEN_SIGMA = (1.0, 3.0)  # px: the blur it undoes, half the enlargement, within these


def detail_rms(grey: np.ndarray, region: np.ndarray) -> float:
    """The RMS of `_detail` (the Laplacian) over `region`: how sharp a patch looks at 100 %, the
    measure the real-photo benchmark compares a fill and the skin above it by."""
    lap = _detail(grey)[region]
    return float(np.sqrt(np.mean(lap * lap))) if lap.size else 0.0


def restore_detail(result: np.ndarray, original: np.ndarray, face_map: np.ndarray, crop_width: int) -> np.ndarray:
    """`result` with the fill inside `face_map` (photo-space uint8 0..255) sharpened by the
    weakest unsharp mask that brings its detail (Laplacian RMS inside the fill, away from its
    edge) to DETAIL_TARGET of the skin band just above the mask in `original`, at most
    SHARPEN_MAX; the blur it undoes is half the fill's enlargement (the map's width in the photo
    over `crop_width`, its width in the network's crop), within SHARPEN_SIGMA. A fill already that
    detailed, or too small to measure, comes back as it is (the same array). Faded in over the
    map's soft edge; nothing outside the map changes."""
    any_map = face_map > 0
    rows, cols = np.nonzero(any_map.any(1))[0], np.nonzero(any_map.any(0))[0]
    if len(rows) == 0:
        return result
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    # The map's window, soft edge included, and room above it for the skin band (BAND of its
    # height and the gap): all that is read or written.
    win = (slice(max(0, top - int(0.2 * (bottom - top)) - 4), bottom), slice(int(cols[0]), int(cols[-1]) + 1))
    local = face_map[win]
    m = local > 127
    skin = skin_above(local)
    width = int(np.count_nonzero(m.any(0)))
    edge = max(2, round(0.06 * width))
    inner = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5) > edge
    if m.sum() < 50 or skin.sum() < 20 or inner.sum() < 20:
        return result
    reference = detail_rms(cv2.cvtColor(original[win], cv2.COLOR_RGB2GRAY).astype(np.float32), skin)
    fill = result[win].astype(np.float32)
    sigma = float(np.clip(0.5 * width / max(crop_width, 1), *SHARPEN_SIGMA))
    detail = fill - cv2.GaussianBlur(fill, (0, 0), sigma)
    # What the fill's brightness has, and what the unsharp mask adds to it (grey is linear in RGB).
    l0 = _detail(cv2.cvtColor(fill, cv2.COLOR_RGB2GRAY))[inner]
    l1 = _detail(cv2.cvtColor(detail, cv2.COLOR_RGB2GRAY))[inner]
    target = DETAIL_TARGET * reference
    if reference < 1e-3 or np.mean(l0 * l0) >= target ** 2:
        return result
    # The Laplacian is linear: the strength a with RMS(l0 + a l1) = target solves a quadratic.
    qa, qb, qc = float(np.mean(l1 * l1)), 2.0 * float(np.mean(l0 * l1)), float(np.mean(l0 * l0)) - target ** 2
    disc = qb * qb - 4.0 * qa * qc
    strength = SHARPEN_MAX if qa <= 1e-9 or disc < 0 else min(SHARPEN_MAX, (-qb + np.sqrt(disc)) / (2.0 * qa))
    if strength <= 0:
        return result
    weight = (local.astype(np.float32) / 255.0)[..., None]
    out = result.copy()
    out[win] = np.clip(np.round(fill + strength * detail * weight), 0, 255).astype(np.uint8)
    return out


# Skin texture by example. Noise of the right strength is still noise: at 100 % a fill that gets
# it reads as a grainy patch, not as skin. The same face's visible skin holds the real thing
# (pores, fine lines, the sensor's noise and the JPEG's), at the photo's own resolution, so the
# fill gets that: the finest detail of the flattest patches above the mask, laid over the fill in
# overlapping, windowed patches, as strong as those patches are.
TEXTURE_PATCH = 0.12  # the patches' side, as a share of the mask's width (8 to 32 px)
TEXTURE_REACH = 0.6  # the skin window's height above the mask, as a share of the mask's height
TEXTURE_FLAT = 50  # percent: patches of skin whose detail is at most this percentile are sources
SKIN_DL, SKIN_DAB = 15.0, 8.0  # CIELAB: a source pixel's colour this close to the skin just above the mask
# The detail a fill lacks is what a blur takes away: an enlargement by k keeps nothing finer than a
# wavelength of 2k photo px, about what a Gaussian of k / pi px removes (1 to 4 px).
DETAIL_PER_ENLARGEMENT, DETAIL_SIGMA = 0.32, (1.0, 4.0)


def detail_sigma(enlargement: float) -> float:
    return float(np.clip(DETAIL_PER_ENLARGEMENT * enlargement, *DETAIL_SIGMA))


def _high_pass(grey: np.ndarray, sigma: float) -> np.ndarray:
    return grey - cv2.GaussianBlur(grey, (0, 0), sigma)


def _texture_sources(grey: np.ndarray, skin: np.ndarray, patch: int, sigma: float) -> np.ndarray | None:
    """(K, patch, patch) float32: the high-pass detail of the flattest skin patches of `grey`
    lying wholly inside `skin` (on a half-patch grid), or None where there are fewer than 4. The
    flattest TEXTURE_FLAT percent: above that a patch holds lashes, a brow, the nose's edge or a
    glasses frame, structure that would print itself over the fill."""
    detail = _high_pass(grey, sigma)
    step = max(2, patch // 2)
    inside = cv2.erode(skin.astype(np.uint8), np.ones((patch, patch), np.uint8), anchor=(0, 0),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ys, xs = np.nonzero(inside[: grey.shape[0] - patch + 1: step, : grey.shape[1] - patch + 1: step])
    if len(ys) < 4:
        return None
    ys, xs = ys * step, xs * step
    patches = np.stack([detail[y:y + patch, x:x + patch] for y, x in zip(ys, xs)])
    patches -= patches.mean(axis=(1, 2), keepdims=True)
    rms = np.sqrt((patches ** 2).mean(axis=(1, 2)))
    keep = rms <= np.percentile(rms, TEXTURE_FLAT)
    return patches[keep] if keep.sum() >= 4 else None


def _quilt(sources: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A (H, W) detail field made of `sources` laid at random on a half-patch grid (each flipped
    or not), blended by Hann windows and normalised so it is as strong as one patch everywhere
    (the patches are independent, so their weights add in quadrature)."""
    patch = sources.shape[1]
    step = patch // 2
    h, w = shape
    win = np.outer(np.hanning(patch + 2)[1:-1], np.hanning(patch + 2)[1:-1]).astype(np.float32)
    acc = np.zeros((h + 2 * patch, w + 2 * patch), np.float32)
    weight = np.zeros_like(acc)
    for y in range(0, h + patch, step):
        for x in range(0, w + patch, step):
            p = sources[rng.integers(len(sources))]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            acc[y:y + patch, x:x + patch] += win * p
            weight[y:y + patch, x:x + patch] += win * win
    field = acc / np.sqrt(np.maximum(weight, 1e-6))
    return field[patch // 2: patch // 2 + h, patch // 2: patch // 2 + w]


def skin_texture(original: np.ndarray, face_map: np.ndarray, bounds: tuple[int, int, int, int],
                 rng: np.random.Generator, sigma: float = DETAIL_SIGMA[1]) -> np.ndarray | None:
    """(y1 - y0, x1 - x0) float32: a detail field for the map's window `bounds` (rows y0:y1,
    columns x0:x1) made from the visible skin above the mask (`_texture_sources` over
    `skin_above`'s band, TEXTURE_REACH of the mask's height tall, kept half a patch off the map), or
    None where that skin is too small or too busy to give four clean patches."""
    y0, y1, x0, x1 = bounds
    patch = int(np.clip(round(TEXTURE_PATCH * (x1 - x0)), 8, 32))
    sy0 = max(0, y0 - int(TEXTURE_REACH * (y1 - y0)) - patch)
    grey = cv2.cvtColor(original[sy0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    local = face_map[sy0:y1, x0:x1]
    near = cv2.dilate((local > 0).astype(np.uint8), np.ones((patch // 2 + 1,) * 2, np.uint8))
    skin = skin_above(local, TEXTURE_REACH) & (near == 0)
    band = skin_above(local)
    if band.sum() < 30:
        return None
    lab = cv2.cvtColor(original[sy0:y1, x0:x1].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    d = lab - np.median(lab[band], axis=0)  # against the skin just above the mask: hair, brows, eyes are off
    skin &= (np.abs(d[..., 0]) < SKIN_DL) & (np.hypot(d[..., 1], d[..., 2]) < SKIN_DAB)
    sources = _texture_sources(grey, skin, patch, sigma)
    if sources is None:
        return None
    return _quilt(sources, (y1 - y0, x1 - x0), rng)


def add_grain(result: np.ndarray, original: np.ndarray, face_map: np.ndarray, seed: int = 0,
              min_width: int = 0, texture: bool = True) -> np.ndarray:
    """`result` with the face's own skin texture added inside `face_map` (photo-space uint8
    0..255, this face's fill): `skin_texture`'s patches of the visible skin above the mask, only
    the detail the enlargement took away (`detail_sigma`), as strong as those patches less what
    the fill already has, capped at MAX_GRAIN. Where the skin above is too small or busy to give
    clean patches (or `texture` is False, to compare), grain: noise so that the fill's fine detail
    (the Laplacian of its brightness) where it is flattest has the strength of the flattest skin
    just above the mask in `original`, and no more than the photo holds around the face
    (`_photo_grain`: where a mask reaches up to the eyes, the band above it is lids and lashes).
    As a fallback (`texture` True) that noise is held to FALLBACK_GRAIN grey levels: the only
    measure left there is lids, lashes, hair and JPEG blocks, and noise of their strength reads as
    dirt on the cheeks at 100 %.
    Only where the fill was enlarged into the photo: a mask narrower in the photo than its
    `min_width` px in the network's crop got a fill made at a finer scale than the photo's, which
    grain would only spoil. Returns `result` itself when nothing is to be added."""
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
    rng = np.random.default_rng(seed)
    sigma = detail_sigma((x1 - x0) / max(min_width, 1))
    field = skin_texture(original, face_map, (y0, y1, x0, x1), rng, sigma) if texture else None
    if field is not None:  # the skin's own texture, as strong as its flat patches, less what the fill has
        fill = (slice(y0, y1), slice(x0, x1))
        have = _patch_level(_high_pass(grey_r[y0 - sy0:], sigma), inside[fill], field.shape)
        target = _patch_level(field, np.ones(field.shape, bool), field.shape)
        field *= np.sqrt(max(target ** 2 - have ** 2, 0.0)) / max(target, 1e-6)
        level = _flat_level(_detail(field), np.ones(field.shape, bool))
        if level > MAX_GRAIN:
            field *= MAX_GRAIN / level
        if level < 0.5:
            return result
        win = fill
    else:  # no clean skin to copy: noise as strong as the skin's flattest part (faint unless asked for)
        target = min(_flat_level(_detail(grey_o), skin[win]), _photo_grain(original, face_map, (y0, y1, x0, x1)))
        have = _flat_level(_detail(grey_r), inside[win])
        add = min(np.sqrt(max(target ** 2 - have ** 2, 0.0)), MAX_GRAIN)
        if add < 0.5:  # too faint to see
            return result
        field = cv2.GaussianBlur(rng.standard_normal(grey_o.shape).astype(np.float32), (0, 0), GRAIN_SIGMA)
        field *= add / max(_flat_level(_detail(field), np.ones(field.shape, bool)), 1e-6)  # as strong as `add`
        if texture:  # a fallback: read off lids, lashes or JPEG blocks, noise that strong is a dirty patch
            field *= min(1.0, FALLBACK_GRAIN / max(float(field.std()), 1e-6))
    weight = face_map[win].astype(np.float32) / 255.0  # the map's soft edge fades the grain in
    out = result.copy()
    region = out[win].astype(np.float32) + (field * weight)[..., None]
    touched = weight > 0
    out[win][touched] = np.clip(np.round(region[touched]), 0, 255).astype(np.uint8)
    return out


def _patch_level(detail: np.ndarray, region: np.ndarray, shape) -> float:
    """The median over `region` of the detail's local RMS over windows of a tenth of `shape`'s
    width: the texture's typical strength, not its structure's (a fill's lips and nostrils)."""
    k = max(3, shape[1] // 10)
    return float(np.median(_local_rms(detail, k)[region])) if region.any() else 0.0
