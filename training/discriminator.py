"""The spectral-norm PatchGAN discriminator of M2UNet (section 3.3): five 4x4 convolutions with
strides 2, 2, 2, 1, 1 and channels 64, 128, 256, 512, 1, LeakyReLU 0.2 between them; one score
per overlapping patch. `widths` scales the channels for smaller runs."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class DiscriminatorConfig:
    in_channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256, 512)
    strides: tuple[int, ...] = (2, 2, 2, 1, 1)


class PatchDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiscriminatorConfig()
        chans = (cfg.in_channels, *cfg.widths, 1)
        layers: list[nn.Module] = []
        for i, (cin, cout, s) in enumerate(zip(chans[:-1], chans[1:], cfg.strides)):
            layers.append(spectral_norm(nn.Conv2d(cin, cout, 4, stride=s, padding=1)))
            if i < len(cfg.strides) - 1:
                layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
