"""CARU2-Net, the M2UNet stage-2 generator (M2UNet, Mathematics 2026, section 3.2).

A U2-Net of Conv-Attention Residual U-blocks: CAR blocks (3x3 conv, BN, ReLU, channel attention,
residual shortcut) nested into CARU-7 / CARU-6 (U-blocks with 6 / 5 encoder CAR layers and
max-pooling, a dilation-2 CAR at the bottom, mirrored decoder with up-sampling, the input CAR's
output added to the result) and CARU-4 (no pooling; dilations 1, 2, 4, a dilation-8 centre, then
4, 2, 1). The outer U: CARU-7, pool, CARU-6, pool, CARU-4 bottleneck, up, CARU-6, up, CARU-7, then a
3x3 conv and tanh. Input: masked face + map (4 channels); MURF is applied in `forward`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from app.inference.attention import ChannelAttention
from app.inference.murf import murf


@dataclass
class CARU2NetConfig:
    in_channels: int = 4
    # (out, mid) channels of the outer stages: level 1 (CARU-7), level 2 (CARU-6), bottleneck
    # (CARU-4). The paper gives no widths; these give 3.12 M parameters and
    # 38.5 GMACs at 256x256, next to its 3.17 M and 42.53 G (docs/networks.md).
    level1: tuple[int, int] = (64, 36)
    level2: tuple[int, int] = (128, 40)
    bottleneck: tuple[int, int] = (256, 64)
    depth1: int = 7  # CARU-L height of the outer level 1 (7 in the paper)
    depth2: int = 6
    attention_reduction: int = 8

    def __post_init__(self) -> None:
        self.level1 = tuple(int(c) for c in self.level1)
        self.level2 = tuple(int(c) for c in self.level2)
        self.bottleneck = tuple(int(c) for c in self.bottleneck)
        if min(self.depth1, self.depth2) < 3:
            raise ValueError("CARU blocks need a height of at least 3")


class CAR(nn.Module):
    """Conv-Attention Residual block: conv 3x3 (dilated), BN, ReLU, channel attention, + shortcut."""

    def __init__(self, cin: int, cout: int, dilation: int = 1, reduction: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            ChannelAttention(cout, reduction),
        )
        self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class CARU(nn.Module):
    """CARU-L: input CAR, L-1 encoder CARs with L-2 max-pools between them, a dilation-2 CAR at the
    bottom, L-1 decoder CARs on (up-sampled deeper, skip) concatenations, plus the input CAR."""

    def __init__(self, height: int, cin: int, mid: int, cout: int, reduction: int) -> None:
        super().__init__()
        self.cin_block = CAR(cin, cout, reduction=reduction)
        self.enc = nn.ModuleList(CAR(cout if i == 0 else mid, mid, reduction=reduction) for i in range(height - 1))
        self.bottom = CAR(mid, mid, dilation=2, reduction=reduction)
        self.dec = nn.ModuleList(
            CAR(2 * mid, cout if i == height - 2 else mid, reduction=reduction) for i in range(height - 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xin = self.cin_block(x)
        h, skips = xin, []
        for i, block in enumerate(self.enc):
            if i > 0:
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = block(h)
            skips.append(h)
        h = self.bottom(h)
        for i, (block, skip) in enumerate(zip(self.dec, reversed(skips))):
            if i > 0:
                h = _up_to(h, skip)
            h = block(torch.cat([h, skip], dim=1))
        return h + xin


class CARU4F(nn.Module):
    """CARU-4 (bottleneck): no pooling; dilations 1, 2, 4, centre 8, then 4, 2, 1 with skips."""

    def __init__(self, cin: int, mid: int, cout: int, reduction: int) -> None:
        super().__init__()
        self.cin_block = CAR(cin, cout, reduction=reduction)
        self.enc = nn.ModuleList(
            CAR(cout if i == 0 else mid, mid, dilation=d, reduction=reduction) for i, d in enumerate((1, 2, 4))
        )
        self.centre = CAR(mid, mid, dilation=8, reduction=reduction)
        self.dec = nn.ModuleList(
            CAR(2 * mid, cout if d == 1 else mid, dilation=d, reduction=reduction) for d in (4, 2, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xin = self.cin_block(x)
        h, skips = xin, []
        for block in self.enc:
            h = block(h)
            skips.append(h)
        h = self.centre(h)
        for block, skip in zip(self.dec, reversed(skips)):
            h = block(torch.cat([h, skip], dim=1))
        return h + xin


class CARU2Net(nn.Module):
    """(B, 3, H, W) masked face in [-1, 1] + (B, 1, H, W) map -> (B, 3, H, W) fused face."""

    def __init__(self, config: CARU2NetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CARU2NetConfig()
        (c1, m1), (c2, m2), (c3, m3) = cfg.level1, cfg.level2, cfg.bottleneck
        r = cfg.attention_reduction
        self.en1 = CARU(cfg.depth1, cfg.in_channels, m1, c1, r)  # (B, c1, H, W)
        self.en2 = CARU(cfg.depth2, c1, m2, c2, r)  # (B, c2, H/2, W/2)
        self.bott = CARU4F(c2, m3, c3, r)  # (B, c3, H/4, W/4)
        self.de2 = CARU(cfg.depth2, c3 + c2, m2, c2, r)  # (B, c2, H/2, W/2)
        self.de1 = CARU(cfg.depth1, c2 + c1, m1, c1, r)  # (B, c1, H, W)
        self.to_rgb = nn.Conv2d(c1, 3, 3, padding=1)

    def generate(self, masked_face: torch.Tensor, mask_map: torch.Tensor) -> torch.Tensor:
        """The raw generator output before MURF, (B, 3, H, W) in [-1, 1]."""
        x = torch.cat([masked_face, mask_map], dim=1)
        e1 = self.en1(x)
        e2 = self.en2(F.max_pool2d(e1, 2, ceil_mode=True))
        b = self.bott(F.max_pool2d(e2, 2, ceil_mode=True))
        d2 = self.de2(torch.cat([_up_to(b, e2), e2], dim=1))
        d1 = self.de1(torch.cat([_up_to(d2, e1), e1], dim=1))
        return torch.tanh(self.to_rgb(d1))

    def forward(self, masked_face: torch.Tensor, mask_map: torch.Tensor) -> torch.Tensor:
        return murf(self.generate(masked_face, mask_map), masked_face, mask_map)
