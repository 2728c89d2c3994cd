"""Loss curves to PNG with OpenCV (no plotting library needed): one panel per logged quantity."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.fileutil import atomic_write_bytes

PANEL_W, PANEL_H, MARGIN = 360, 200, 40


def _panel(name: str, steps: list[float], values: list[float]) -> np.ndarray:
    img = np.full((PANEL_H, PANEL_W, 3), 255, np.uint8)
    x0, y0, x1, y1 = MARGIN + 10, 22, PANEL_W - 10, PANEL_H - 28
    cv2.rectangle(img, (x0, y0), (x1, y1), (180, 180, 180), 1)
    cv2.putText(img, name, (x0, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if not values:
        return img
    v = np.asarray(values, np.float64)
    s = np.asarray(steps, np.float64)
    lo, hi = float(np.min(v)), float(np.max(v))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    smax = max(float(s.max()), 1.0)
    xs = x0 + (s / smax) * (x1 - x0)
    ys = y1 - (v - lo) / (hi - lo) * (y1 - y0)
    pts = np.stack([xs, ys], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (200, 80, 30), 1, cv2.LINE_AA)
    if len(pts) < 30:
        for p in pts:
            cv2.circle(img, tuple(int(c) for c in p), 2, (200, 80, 30), -1, cv2.LINE_AA)
    for val, y in ((hi, y0), (lo, y1)):
        cv2.putText(img, f"{val:.3g}", (2, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, f"step {int(smax)}", (x1 - 70, PANEL_H - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (60, 60, 60), 1,
                cv2.LINE_AA)
    return img


def plot_curves(history: list[dict], path: Path, title: str = "", cols: int = 3) -> None:
    """Every numeric key of the history entries (but step, wall time and learning rate) as a curve."""
    keys: list[str] = []
    for h in history:
        keys += [k for k, v in h.items() if k not in ("step", "wall_s", "lr") and isinstance(v, (int, float))
                 and k not in keys]
    panels = [_panel(k, [h["step"] for h in history if k in h], [h[k] for h in history if k in h]) for k in keys]
    if not panels:
        panels = [_panel("no data yet", [], [])]
    while len(panels) % cols:
        panels.append(np.full_like(panels[0], 255))
    grid = np.concatenate([np.concatenate(panels[i:i + cols], 1) for i in range(0, len(panels), cols)], 0)
    head = np.full((28, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", np.concatenate([head, grid], 0))
    if ok:
        atomic_write_bytes(path, buf.tobytes())
