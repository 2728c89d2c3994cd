"""Face alignment to a canonical frame, and seamless paste-back into the full photo.

`align_face` is the one function that frames faces, used by the app at run time and by
`training/` to build the training pairs, so the networks see the same framing in both.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Canonical positions of the five points in a unit square (x right, y down): eye centres, nose
# tip, mouth corners. FFHQ-like spacing (eyes a quarter of the width apart) lifted a little so
# that the chin, which a mask covers, stays well inside the crop.
TEMPLATE = np.array(
    [[0.375, 0.40], [0.625, 0.40], [0.500, 0.53], [0.405, 0.65], [0.595, 0.65]], dtype=np.float64
)
# Eyes are visible above a mask; nose and mouth are the detector's guess under it, so they count less.
TEMPLATE_WEIGHTS = np.array([1.0, 1.0, 0.5, 0.5, 0.5])


@dataclass
class AlignedFace:
    crop: np.ndarray  # (N, N, 3) uint8
    matrix: np.ndarray  # (2, 3) float64, photo pixel -> crop pixel

    @property
    def size(self) -> int:
        return self.crop.shape[0]

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo coordinates (K, 2) -> crop coordinates."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, shift) mapping src to dst
    (Umeyama 1991 without reflection). Returns a 2x3 matrix."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    s, d = src - mu_s, dst - mu_d
    cov = (d * w[:, None]).T @ s
    u, sig, vt = np.linalg.svd(cov)
    e = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ e @ vt
    var = (w * (s ** 2).sum(1)).sum()
    scale = (sig * np.diag(e)).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def alignment_matrix(points5: np.ndarray, size: int) -> np.ndarray:
    return similarity_transform(points5, TEMPLATE * size, TEMPLATE_WEIGHTS)


def align_face(image: np.ndarray, points5: np.ndarray, size: int) -> AlignedFace:
    """The N x N canonical crop of the face with these five points. Outside the photo the crop
    mirrors the photo's border, so a face at the edge still gets a plausible frame."""
    m = alignment_matrix(points5, size)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if _scale(m) < 0.5 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)
    return AlignedFace(crop=crop, matrix=m)


def _scale(m: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def blend_alpha(region: np.ndarray, dilate: int, feather: int) -> np.ndarray:
    """Binary region (N, N) -> float alpha: dilated, then feathered outward with a blur, so the
    whole region stays at full weight and the edge fades over `feather` pixels."""
    a = region.astype(np.uint8)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        a = cv2.dilate(a, k)
    a = a.astype(np.float32)
    if feather > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * feather + 1, 2 * feather + 1))
        soft = cv2.GaussianBlur(cv2.dilate(a, k), (0, 0), feather / 2.0)
        a = np.maximum(a, np.where(soft >= 1.0 / 255.0, soft, 0.0))  # ~1 inside, fading to 0 outside
    return np.clip(a, 0.0, 1.0)


def paste_back(image: np.ndarray, aligned: AlignedFace, result: np.ndarray, mask: np.ndarray,
               dilate: int | None = None, feather: int | None = None) -> np.ndarray:
    """A copy of `image` with the changed, masked part of `result` (an N x N crop in the frame of
    `aligned`) warped back and blended in. Pixels the blend does not reach are bit-identical to
    the input; only the pixels the network changed (dilated and feathered) are touched, so pasting
    back an unchanged crop gives back the photo exactly."""
    n = aligned.size
    dilate = max(1, round(n * 0.012)) if dilate is None else dilate
    feather = max(2, round(n * 0.03)) if feather is None else feather
    changed = np.any(result != aligned.crop, axis=-1)
    region = (np.asarray(mask) > 0.5) & changed
    out = image.copy()
    if not region.any():
        return out
    alpha = blend_alpha(region, dilate, feather)
    # Photo-space box of the alpha's footprint, so big photos are only touched where needed.
    ys, xs = np.nonzero(alpha > 0)
    corners = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 2, ys.min() - 1],
                        [xs.min() - 1, ys.max() + 2], [xs.max() + 2, ys.max() + 2]], dtype=np.float64)
    inv = cv2.invertAffineTransform(aligned.matrix)
    pc = corners @ inv[:, :2].T + inv[:, 2]
    h, w = image.shape[:2]
    x0, y0 = max(0, int(np.floor(pc[:, 0].min())) - 1), max(0, int(np.floor(pc[:, 1].min())) - 1)
    x1, y1 = min(w, int(np.ceil(pc[:, 0].max())) + 2), min(h, int(np.ceil(pc[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return out
    # Crop matrix for the ROI: ROI pixel (u, v) is photo pixel (u + x0, v + y0).
    m = aligned.matrix.copy()
    m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    size = (x1 - x0, y1 - y0)
    back = cv2.warpAffine(result, m, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    a = np.clip(a, 0.0, 1.0)[..., None]
    roi = out[y0:y1, x0:x1]
    blended = np.round(a * back.astype(np.float32) + (1.0 - a) * roi.astype(np.float32)).astype(np.uint8)
    out[y0:y1, x0:x1] = np.where(a > 0, blended, roi)
    return out


def warp_mask_to_photo(mask: np.ndarray, aligned: AlignedFace, shape: tuple[int, int]) -> np.ndarray:
    """A crop-space map (N, N) in [0, 1] as a photo-space uint8 map (H, W) in 0..255."""
    m8 = np.clip(np.asarray(mask, np.float32) * 255.0, 0, 255).astype(np.uint8)
    return cv2.warpAffine(m8, aligned.matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def reframe_map(mask: np.ndarray, src: AlignedFace, dst: AlignedFace) -> np.ndarray:
    """A binary crop-space map in `src`'s frame -> the same region in `dst`'s frame (another crop
    of the same photo, e.g. the same face aligned at twice the size), float32 {0, 1}."""
    a = np.vstack([dst.matrix, [0.0, 0.0, 1.0]]) @ np.linalg.inv(np.vstack([src.matrix, [0.0, 0.0, 1.0]]))
    m = cv2.warpAffine(np.asarray(mask, np.float32), a[:2], (dst.size, dst.size), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return (m > 0.5).astype(np.float32)


def photo_scale(aligned: AlignedFace) -> float:
    """Photo pixels per crop pixel: over 1, the crop is enlarged when it is pasted back."""
    return 1.0 / _scale(aligned.matrix)


def warp_mask_to_crop(photo_mask: np.ndarray, aligned: AlignedFace) -> np.ndarray:
    """A photo-space map (H, W) uint8 0..255 -> crop-space float map (N, N) in [0, 1]."""
    n = aligned.size
    return cv2.warpAffine(photo_mask, aligned.matrix, (n, n), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32) / 255.0
