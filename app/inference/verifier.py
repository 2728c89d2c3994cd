"""A small face / not-a-face classifier for the crop around a weak detector box.

BlazeFace scores many masked faces under its threshold, beside as many boxes on things that are
not faces (a sign, a knee, a pattern); MTCNN confirms some of the faces. This network is a second
opinion on the rest: it sees the box's surroundings (CONTEXT times its side, at SIZE px) and says
whether a whole face is framed there. Trained by `python -m training.verifier`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

SIZE = 48  # the crop's side, px
CONTEXT = 1.5  # the crop's side over the face box's


@dataclass(frozen=True)
class FaceVerifierConfig:
    widths: tuple[int, ...] = (24, 48, 96, 128)
    dropout: float = 0.2


class FaceVerifierNet(nn.Module):
    """Four conv stages (two 3x3 convolutions each, batch norm, ReLU, 2x2 pooling between them),
    global average and max pooling, one linear logit."""

    def __init__(self, config: FaceVerifierConfig = FaceVerifierConfig()) -> None:
        super().__init__()
        self.config = config
        layers, c = [], 3
        for i, w in enumerate(config.widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, SIZE, SIZE) in [-1, 1] -> (N,) logits."""
        f = self.features(x)
        f = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return self.head(self.drop(f))[:, 0]


def crop_around(rgb: np.ndarray, box, size: int = SIZE, context: float = CONTEXT) -> np.ndarray:
    """The square of `context` times the box's longer side around its centre, at `size` px
    (uint8 RGB); what lies outside the photo is black."""
    import cv2

    side = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0) * context
    x0, y0 = (box[0] + box[2]) / 2 - side / 2, (box[1] + box[3]) / 2 - side / 2  # the square's corner
    k = size / side
    if k >= 0.5:  # x' = k * (x - x0): an affine warp does the crop, the scale and the padding at once
        m = np.array([[k, 0, -k * x0], [0, k, -k * y0]], np.float32)
        return cv2.warpAffine(np.ascontiguousarray(rgb), m, (size, size), flags=cv2.INTER_LINEAR,
                              borderValue=(0, 0, 0))
    # warpAffine does not average: the photo's part of the square is first shrunk to twice the size
    px0, py0 = int(max(0, x0)), int(max(0, y0))
    px1, py1 = int(min(rgb.shape[1], x0 + side + 1)), int(min(rgb.shape[0], y0 + side + 1))
    if px1 - px0 < 2 or py1 - py0 < 2:
        return np.zeros((size, size, 3), np.uint8)
    f = 2 * k
    region = cv2.resize(np.ascontiguousarray(rgb[py0:py1, px0:px1]), None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    m = np.array([[0.5, 0, 0.5 * f * (px0 - x0)], [0, 0.5, 0.5 * f * (py0 - y0)]], np.float32)
    return cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N, SIZE, SIZE, 3) uint8 -> the network's input."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
