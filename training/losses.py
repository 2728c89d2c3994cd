"""Losses and metrics of both papers: BCE + Dice for the segmenter (GANMasker 3.3.1); LSGAN with
label smoothing (M2UNet), and the reconstruction loss 0.5 SmoothL1 + 0.5 (1 - SSIM), for the
inpainter. Images are in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_coefficient(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice per image, (B,)."""
    p, t = prob.flatten(1), target.flatten(1)
    return (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE over every pixel, plus soft Dice over the faces that wear a mask. A face with no mask
    (an empty map) is left to the BCE: its per-image Dice, 1 / (sum of probabilities + 1), would
    only reach 1 with every probability at zero, and would drown the masked faces' Dice."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    masked = target.flatten(1).amax(1) > 0
    if masked.any():
        dice = 1 - dice_coefficient(torch.sigmoid(logits[masked]), target[masked]).mean()
    else:
        dice = logits.new_zeros(())
    return bce + dice, {"bce": bce.item(), "dice_loss": dice.item()}


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004, Gaussian 11x11 window, valid region) per image, (B,)."""
    c = a.shape[1]
    w = _gaussian_window(size, sigma, c, a.device, a.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    saa = F.conv2d(a * a, w, groups=c) - mu_a ** 2
    sbb = F.conv2d(b * b, w, groups=c) - mu_b ** 2
    sab = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.flatten(1).mean(1)


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * F.smooth_l1_loss(output, target) + 0.5 * (1 - ssim(output, target).mean())


REAL_LABEL, FAKE_LABEL = 0.9, 0.1  # M2UNet's smoothed LSGAN targets


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (((d_real - REAL_LABEL) ** 2).mean() + ((d_fake - FAKE_LABEL) ** 2).mean())


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return ((d_fake - REAL_LABEL) ** 2).mean()
