"""GANMasker stage-2 generator (Mahmoud et al., Sensors 2023, section 3.2.1, Figures 2-3b).

Encoder: five residual-attention Ge blocks (the last without max-pool). Bottleneck: four dilated
blocks (BN, dilated 3x3 conv, LeakyReLU) with dilation 2, 4, 8, 16. Decoder: five blocks like
M-Seg's decoder but with LeakyReLU, the first without up-sampling, with skip connections. Input is
the masked face plus its map (4 channels, face in [-1, 1]); tanh output; MURF is applied by
`forward` so nothing outside the map can change. The paper gives no widths; the default doubles
from 32 like M-Seg.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from app.inference.attention import CBAM
from app.inference.murf import murf


@dataclass
class GANMaskerConfig:
    in_channels: int = 4  # masked face (3) + mask map (1)
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)  # one per Ge block
    dilations: tuple[int, ...] = (2, 4, 8, 16)
    cbam_reduction: int = 16
    negative_slope: float = 0.2
    # Blank the hole before the network sees it (LaMa's way): the fill then cannot depend on what
    # the mask looks like (its folds, colour, print). False only for weights trained seeing it.
    blank_hole: bool = False
    # The hole holds a smaller generator's fill, enlarged (`app.inference.coarse.coarse_fill`,
    # which the engine and the training loop run before this network): it adds the detail the
    # enlargement lacks. That fill never saw the mask's pixels, so neither does this network.
    coarse_input: bool = False

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        self.dilations = tuple(int(d) for d in self.dilations)
        if len(self.widths) < 2:
            raise ValueError("the generator needs at least two encoder blocks")
        if self.coarse_input and self.blank_hole:
            raise ValueError("a generator refining a coarse fill sees it: coarse_input and blank_hole exclude each other")


class GeBlock(nn.Module):
    """Residual attention block: (conv 3x3, BN, LReLU, conv 3x3, BN) -> CBAM, plus a 1x1 shortcut,
    then LReLU. Pooling is left to the caller (the last block has none)."""

    def __init__(self, cin: int, cout: int, reduction: int, slope: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            CBAM(cout, reduction),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1, bias=False)
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class DilatedBlock(nn.Module):
    """BN, dilated 3x3 conv, LeakyReLU; residual so the dilated stack keeps the local signal."""

    def __init__(self, channels: int, dilation: int, slope: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.LeakyReLU(slope, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GdBlock(nn.Module):
    """Decoder block: optional up-sample to the skip's size, concatenate, conv 3x3, BN, LReLU."""

    def __init__(self, cin: int, cout: int, slope: float, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(slope, inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], dim=1))


class GANMaskerGenerator(nn.Module):
    """(B, 3, H, W) masked face in [-1, 1] + (B, 1, H, W) map -> (B, 3, H, W) fused face.

    H and W must be divisible by 2**(depth-1) (16 by default)."""

    def __init__(self, config: GANMaskerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GANMaskerConfig()
        w, s = cfg.widths, cfg.negative_slope
        self.encoder = nn.ModuleList(
            GeBlock(cin, cout, cfg.cbam_reduction, s) for cin, cout in zip((cfg.in_channels, *w[:-1]), w)
        )
        self.bottleneck = nn.Sequential(*(DilatedBlock(w[-1], d, s) for d in cfg.dilations))
        # Decoder level i (deepest first) meets encoder block i's output; the first does not
        # up-sample because the last Ge block was not pooled.
        self.decoder = nn.ModuleList(
            GdBlock(2 * w[i], w[max(i - 1, 0)], s, upsample=i != len(w) - 1) for i in reversed(range(len(w)))
        )
        self.to_rgb = nn.Conv2d(w[0], 3, 1)

    def generate(self, masked_face: torch.Tensor, mask_map: torch.Tensor) -> torch.Tensor:
        """The raw generator output before MURF, (B, 3, H, W) in [-1, 1]."""
        if self.config.blank_hole:
            masked_face = masked_face * (mask_map < 0.5)  # 0 (mid-grey) wherever the map is set
        x = torch.cat([masked_face, mask_map], dim=1)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            skips.append(x)
            if i < len(self.encoder) - 1:
                x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)  # (B, w[-1], H/16, W/16)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return torch.tanh(self.to_rgb(x))

    def forward(self, masked_face: torch.Tensor, mask_map: torch.Tensor) -> torch.Tensor:
        return murf(self.generate(masked_face, mask_map), masked_face, mask_map)
