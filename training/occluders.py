"""Hair in front of the mouth: occluders for stage 1's training rows.

In crowded real scenes a bare face's mouth is often hidden by someone in front of it: the back of
a head, a neighbour's hair. Stage 1 has seen bare mouths and masked ones, never a mouth hidden
by something else, so it maps such hair as a mask and the app fills a face that wears none. `occlude_batch` lays a drawn mass of hair over a
share of a batch's rows (a head coming up from below or from a side, or a falling lock), never
over the eyes and always over the mouth's centre, and takes what it hides out of the row's map:
hair is not a mask, whatever is under it.

The hair is drawn, not cut from photos: a shape (an ellipse for a head, a thick curve for a lock)
of one hair colour, filled with a few hundred strands that follow the shape (radial from a crown
for a head, along the curve for a lock), lighter and darker than the base, shaded darker towards
the edge, softened by a small blur so it matches crops enlarged from small faces.

Tried, not shipped: both fine-tunes with it (`training/configs/segmenter_hair*_cpu.json`) doubted
real masks, and one a bare face, more than they learned hair (docs/training.md, "drawn hair").
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from app.align import TEMPLATE

# Hair colours (RGB): black, dark brown, brown, auburn, blond, light blond, grey.
HAIR = np.array([[22, 18, 16], [55, 38, 28], [95, 66, 44], [115, 55, 32], [180, 150, 100], [215, 195, 150],
                 [150, 148, 145]], np.float32)
MOUTH = TEMPLATE[3:5].mean(0)  # (x, y) in the unit crop
EYES = TEMPLATE[0:2]


def _shape(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A head (ellipse) or a lock (thick curve) over the mouth's centre and off both eyes:
    (mask uint8 {0, 1}, flow angle per pixel (radians)); both empty if no draw fits."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    mx, my = (MOUTH * size).astype(int)
    eyes = (EYES * size).astype(int)
    for _ in range(200):
        m = np.zeros((size, size), np.uint8)
        if rng.random() < 0.7:
            rx, ry = rng.uniform(0.22, 0.5), rng.uniform(0.25, 0.55)
            side = rng.choice([-1.0, 1.0])
            if rng.random() < 0.5:  # from below
                cx = MOUTH[0] + rng.uniform(-0.35, 0.35)
                cy = MOUTH[1] + ry - rng.uniform(0.0, 0.12)
            else:  # from a side
                cx = MOUTH[0] + side * (rx - rng.uniform(0.02, 0.15))
                cy = MOUTH[1] + rng.uniform(-0.05, 0.35)
            ang = rng.uniform(-30, 30)
            cv2.ellipse(m, (int(cx * size), int(cy * size)), (int(rx * size), int(ry * size)), ang, 0, 360, 1, -1)
            crown = (cx + rng.uniform(-0.1, 0.1), cy - ry * rng.uniform(0.3, 0.9))
            flow = np.arctan2(yy - crown[1], xx - crown[0])
        else:
            side = rng.choice([-1.0, 1.0])
            p0 = np.array([MOUTH[0] + side * rng.uniform(0.1, 0.45), rng.uniform(-0.1, 0.45)])
            p2 = np.array([MOUTH[0] + side * rng.uniform(-0.35, 0.15), rng.uniform(0.85, 1.1)])
            p1 = MOUTH + rng.uniform(-0.08, 0.08, 2)
            t = np.linspace(0, 1, 40)[:, None]
            curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
            width = rng.uniform(0.1, 0.28)
            cv2.polylines(m, [np.round(curve * size).astype(np.int32)], False, 1, max(2, int(width * size)))
            d = np.gradient(curve, axis=0)
            # Flow: the direction of the curve's nearest point.
            near = np.argmin((xx[..., None] - curve[:, 0]) ** 2 + (yy[..., None] - curve[:, 1]) ** 2, axis=-1)
            flow = np.arctan2(d[near, 1], d[near, 0])
        if m[min(my, size - 1), mx] and not any(m[ey, ex] for ex, ey in eyes):
            return m, flow.astype(np.float32)
    return np.zeros((size, size), np.uint8), np.zeros((size, size), np.float32)


def draw_hair(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One occluder: (RGB float32 0..255, alpha float32 0..1), alpha > 0.5 where it hides."""
    m, flow = _shape(size, rng)
    if not m.any():
        return np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32)
    base = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.75, 1.2)
    img = np.empty((size, size, 3), np.float32)
    img[:] = base
    ys, xs = np.nonzero(m)
    for _ in range(int(rng.integers(150, 400))):
        k = rng.integers(len(ys))
        x, y = float(xs[k]), float(ys[k])
        pts = [(x, y)]
        for _ in range(int(rng.integers(4, 14))):
            a = flow[min(int(y), size - 1), min(int(x), size - 1)] + rng.normal(0, 0.15)
            x, y = x + 2.0 * np.cos(a), y + 2.0 * np.sin(a)
            pts.append((x, y))
        colour = np.clip(base * rng.uniform(0.7, 1.35) + rng.normal(0, 5), 0, 255)
        cv2.polylines(img, [np.round(np.array(pts)).astype(np.int32)], False, colour.tolist(), 1, cv2.LINE_AA)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    shade = 0.65 + 0.35 * np.clip(inside / max(1.0, 0.25 * inside.max()), 0, 1)
    img *= shade[..., None]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
    alpha = cv2.GaussianBlur(m.astype(np.float32), (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(img, 0, 255), alpha


def occlude_batch(masked: torch.Tensor, m: torch.Tensor, share: float, rng: np.random.Generator,
                  bare_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Hair over `share` of the rows of a stage 1 batch (images (B, 3, S, S) in [-1, 1], maps
    (B, 1, S, S) {0, 1}), or with `bare_only` of its rows without a mask (empty maps) only: what
    the hair hides leaves the map. Returns new tensors."""
    pick = rng.random(len(masked)) < share
    if bare_only:
        pick &= (m.flatten(1).amax(1) == 0).numpy()
    if not pick.any():
        return masked, m
    masked, m = masked.clone(), m.clone()
    size = masked.shape[-1]
    for i in np.nonzero(pick)[0]:
        hair, alpha = draw_hair(size, rng)
        a = torch.from_numpy(alpha)
        h = torch.from_numpy(hair).permute(2, 0, 1).div(127.5).sub(1.0)
        masked[i] = masked[i] * (1 - a) + h * a
        m[i, 0] = m[i, 0] * (a <= 0.5).to(m.dtype)
    return masked, m
