"""M-Seg, GANMasker stage 1 (Mahmoud et al., Sensors 2023, section 3.1).

A U-Net-style autoencoder that maps a masked face to the probability that each pixel belongs to
the face mask. Five encoder blocks (3x3 conv, BN, ReLU, CBAM, max-pool) and five decoder blocks
(up-sample, 3x3 conv, BN, ReLU; the last: up-sample, 1x1 conv, BN, sigmoid) joined by skip
connections. The paper gives no channel widths; the default doubles from 32 as U-Net does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from app.inference.attention import CBAM


@dataclass
class MSegConfig:
    in_channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)  # one per encoder block; depth = len
    cbam_reduction: int = 16

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) < 2:
            raise ValueError("M-Seg needs at least two encoder blocks")


class SeBlock(nn.Module):
    """Segmentation encoder block: conv 3x3, BN, ReLU, CBAM. Pooling is done by the caller so the
    pre-pool features can feed the skip connection."""

    def __init__(self, cin: int, cout: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            CBAM(cout, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SdBlock(nn.Module):
    """Segmentation decoder block: up-sample x2, concatenate the skip, conv 3x3, BN, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], dim=1))


class MSeg(nn.Module):
    """(B, 3, H, W) face in [-1, 1] -> (B, 1, H, W) mask logits. H, W divisible by 2**depth."""

    def __init__(self, config: MSegConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MSegConfig()
        w = cfg.widths
        self.encoder = nn.ModuleList(
            SeBlock(cin, cout, cfg.cbam_reduction) for cin, cout in zip((cfg.in_channels, *w[:-1]), w)
        )
        # Decoder block for level i (deepest first): the up-sampled deeper map (w[i] channels) meets
        # encoder block i's pre-pool output (w[i]) and leaves with w[i-1] channels.
        self.decoder = nn.ModuleList(SdBlock(2 * w[i], w[i - 1]) for i in reversed(range(1, len(w))))
        # Last block: up-sample, meet encoder block 0, 1x1 conv, BN (the sigmoid is the engine's).
        self.head = nn.Sequential(nn.Conv2d(2 * w[0], 1, 1, bias=False), nn.BatchNorm2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, H, W); the probability is their sigmoid, taken by the engine, so training
        (one process or DDP) puts the loss on the logits the network returns."""
        skips = []
        for block in self.encoder:  # block i: (B, w[i], H/2^i, W/2^i), then pool
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)  # five pools in all: the bottom is H/32
        for block, skip in zip(self.decoder, reversed(skips[1:])):
            x = block(x, skip)
        x = F.interpolate(x, size=skips[0].shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([x, skips[0]], dim=1))  # (B, 1, H, W)
