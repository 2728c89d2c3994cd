"""Coarse to fine for large faces: a generator at the models' size fills the face shrunk to that
size; its fill, enlarged, goes into the hole of the large crop, and the large generator (its config
`coarse_input`) adds the detail. The engine and the training loop both call `coarse_fill`, so the
large generator is trained on exactly what it is given in the app.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def coarse_fill(small_generator: torch.nn.Module, faces: torch.Tensor, maps: torch.Tensor, small_size: int) -> torch.Tensor:
    """`faces` (B, 3, N, N) in [-1, 1] with their holes (`maps` (B, 1, N, N), binary) holding
    `small_generator`'s fill of the faces shrunk to `small_size`, enlarged back (bilinear). The
    small map is every small pixel the hole touches, and the small generator must blank its hole
    (its config `blank_hole`), so no pixel of the mask reaches the fill."""
    n = faces.shape[-1]
    small = F.interpolate(faces, size=(small_size, small_size), mode="area")
    small_map = (F.interpolate(maps, size=(small_size, small_size), mode="area") > 0).to(faces.dtype)
    filled = small_generator(small, small_map)
    up = F.interpolate(filled.to(faces.dtype), size=(n, n), mode="bilinear", align_corners=False)
    return torch.where(maps >= 0.5, up, faces)
