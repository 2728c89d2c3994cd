"""MURF, masked-unmasked region fusion (GANMasker section 3.2.1; used by M2UNet too).

output = map * generated + (1 - map) * input: pixels outside the mask come from the input,
untouched, so the generator can only change what the map marks.
"""
from __future__ import annotations

import torch


def murf(generated: torch.Tensor, masked_face: torch.Tensor, mask_map: torch.Tensor) -> torch.Tensor:
    """generated, masked_face: (B, 3, H, W); mask_map: (B, 1, H, W) in [0, 1]."""
    return mask_map * generated + (1.0 - mask_map) * masked_face
