"""MaskTheFace-style masks: the template cut-outs warped onto a face by six anchor points.

MaskTheFace (Anwar & Raychowdhury 2020) gives each transparent template six anchors in
`masks.cfg`: a, b, c along the top edge (left cheek, nose bridge, right cheek) and d, e, f along the
bottom (left jaw, chin, right jaw). We match them to points derived from the 68 landmarks, fit a
homography, and warp the template onto the face; the view (front, left, right) follows the head's
yaw. The fabric is then kept, recoloured with a solid colour, or replaced by one of the textures,
always shaded by the template's own folds. Everything random comes from the caller's generator.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from training.masks import DEFAULT_MASK_DIR

ANCHORS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
# Sections of masks.cfg that are not masks (MaskTheFace's "empty" and "inpaint" helpers).
NOT_MASKS = ("empty", "inpaint")


@dataclass(frozen=True)
class Template:
    name: str  # e.g. "surgical_blue_left"
    kind: str  # e.g. "surgical_blue"
    view: str  # "front", "left", "right"
    rgba: np.ndarray  # (H, W, 4) uint8
    anchors: np.ndarray  # (6, 2) float32, template pixels, order a..f


@lru_cache(maxsize=4)
def load_templates(mask_dir: str = str(DEFAULT_MASK_DIR)) -> tuple[Template, ...]:
    """The templates listed in masks.cfg whose PNG is present."""
    root = Path(mask_dir)
    cfg = configparser.ConfigParser()
    if not cfg.read(root / "masks.cfg"):
        raise FileNotFoundError(f"no masks.cfg in {root}")
    out = []
    for name in cfg.sections():
        kind, view = name, "front"
        for side in ("left", "right"):
            if name.endswith("_" + side):
                kind, view = name[: -len(side) - 1], side
        if kind in NOT_MASKS:
            continue
        sec = cfg[name]
        png = root.parent / sec["template"]  # paths in masks.cfg start at "masks/"
        if not png.exists():
            png = root / "templates" / Path(sec["template"]).name
        if not png.exists():
            continue
        bgra = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
            continue
        rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
        anchors = np.array([[float(v) for v in sec[a].split(",")] for a in ANCHORS], np.float32)
        out.append(Template(name, kind, view, rgba, anchors))
    if not out:
        raise FileNotFoundError(f"no usable mask templates in {root}")
    return tuple(out)


@lru_cache(maxsize=4)
def load_textures(mask_dir: str = str(DEFAULT_MASK_DIR)) -> tuple[np.ndarray, ...]:
    """The fabric textures as RGB uint8 arrays, in a stable order."""
    files = sorted(p for p in (Path(mask_dir) / "textures").rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    out = []
    for p in files:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is not None:
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return tuple(out)


def yaw_ratio(p68: np.ndarray) -> float:
    """Nose tip to left jaw over nose tip to right jaw (image left/right): 1 for a frontal face,
    below 1 when the face turns towards the image's left."""
    p = np.asarray(p68, np.float64)
    left = np.linalg.norm(p[30] - p[2])
    right = np.linalg.norm(p[30] - p[14])
    return float(left / max(right, 1e-6))


def view_for(p68: np.ndarray, threshold: float = 0.6) -> str:
    r = yaw_ratio(p68)
    if r < threshold:
        return "left"
    if r > 1 / threshold:
        return "right"
    return "front"


def face_anchors(p68: np.ndarray, nose_cover: float, chin_drop: float) -> np.ndarray:
    """Six face points matching a..f: nose_cover 0 puts the top edge at the nose tip, 1 at the
    bridge; chin_drop moves the bottom below the chin by that fraction of the face height."""
    p = np.asarray(p68, np.float64)
    top = p[27] + (p[30] - p[27]) * (1.0 - nose_cover)
    face_h = np.linalg.norm(p[8] - p[27])
    down = (p[8] - p[27]) / max(face_h, 1e-6)
    # Jaw points at the height of the top edge: along the jaw contour, from p0 (level with the
    # eyes) towards p3 (level with the mouth).
    t = float(np.clip(1.0 - nose_cover, 0.0, 1.0))
    a = p[1] + (p[2] - p[1]) * t
    c = p[15] + (p[14] - p[15]) * t
    d, f = p[5], p[11]
    e = p[8] + down * chin_drop * face_h
    return np.array([a, top, c, d, e, f], np.float32)


@dataclass
class TemplateStyle:
    template: int  # index into the templates of the chosen view
    fill: str  # "original", "colour", "texture"
    colour: tuple[int, int, int]
    texture: int
    texture_scale: float
    nose_cover: float
    chin_drop: float
    opacity: float


def random_template_style(rng: np.random.Generator) -> TemplateStyle:
    u = rng.random()
    fill = "original" if u < 0.4 else "colour" if u < 0.75 else "texture"
    return TemplateStyle(
        template=int(rng.integers(1 << 30)), fill=fill,
        colour=tuple(int(v) for v in rng.integers(0, 256, size=3)), texture=int(rng.integers(1 << 30)),
        texture_scale=float(rng.uniform(0.25, 0.8)), nose_cover=float(rng.uniform(0.3, 0.9)),
        chin_drop=float(rng.uniform(0.0, 0.08)), opacity=float(rng.uniform(0.9, 1.0)),
    )


def _shading(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The template's folds and edges as a brightness factor around 1."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    inside = grey[alpha > 128]
    ref = float(np.percentile(inside, 75)) if inside.size else 255.0
    return np.clip(grey / max(ref, 1.0), 0.2, 1.3)


def fabric(t: Template, style: TemplateStyle, textures: tuple[np.ndarray, ...]) -> np.ndarray:
    """The template's RGB after recolouring, (H, W, 3) float32."""
    rgb = t.rgba[..., :3].astype(np.float32)
    if style.fill == "original" or (style.fill == "texture" and not textures):
        return rgb
    shade = _shading(t.rgba[..., :3], t.rgba[..., 3])[..., None]
    h, w = rgb.shape[:2]
    if style.fill == "colour":
        return np.clip(np.array(style.colour, np.float32) * shade, 0, 255)
    tex = textures[style.texture % len(textures)]
    tile_w = max(8, int(w * style.texture_scale))
    tile = cv2.resize(tex, (tile_w, max(8, int(tex.shape[0] * tile_w / tex.shape[1]))), interpolation=cv2.INTER_AREA)
    reps = (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1)
    tiled = np.tile(tile, reps)[:h, :w].astype(np.float32)
    return np.clip(tiled * shade, 0, 255)


def draw_template_mask(image: np.ndarray, p68: np.ndarray, style: TemplateStyle,
                       mask_dir: str = str(DEFAULT_MASK_DIR)) -> tuple[np.ndarray, np.ndarray]:
    """(masked image, binary map uint8 {0, 1}): every pixel the mask changes is 1 in the map."""
    h, w = image.shape[:2]
    view = view_for(p68)
    candidates = [t for t in load_templates(mask_dir) if t.view == view]
    t = candidates[style.template % len(candidates)]
    dst = face_anchors(p68, style.nose_cover, style.chin_drop)
    hom, _ = cv2.findHomography(t.anchors, dst, 0)
    if hom is None:  # degenerate landmarks: fall back to the affine fit of the same points
        hom = np.vstack([cv2.estimateAffine2D(t.anchors, dst)[0], [0, 0, 1]])
    colour = fabric(t, style, load_textures(mask_dir))
    warped = cv2.warpPerspective(colour, hom, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpPerspective(t.rgba[..., 3].astype(np.float32) / 255.0, hom, (w, h), flags=cv2.INTER_LINEAR,
                                borderValue=0)
    alpha = np.clip(alpha, 0, 1) * style.opacity
    # Light the fabric like the face: the smoothed brightness of the skin it covers.
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    light = cv2.GaussianBlur(grey, (0, 0), max(1.0, 0.04 * max(h, w)))
    covered = alpha > 0.5
    if covered.any():
        light = 0.8 + 0.2 * light / max(float(light[covered].mean()), 1.0)
        warped *= light[..., None]
    out = image.astype(np.float32) * (1 - alpha[..., None]) + np.clip(warped, 0, 255) * alpha[..., None]
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    changed = np.any(out != image, axis=2)
    mask = (changed & (alpha > 0)).astype(np.uint8)
    return out, mask
