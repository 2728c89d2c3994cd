"""Run configurations: one JSON file per run (`training/configs/`), read into a dataclass and saved
beside the run's checkpoints, so every checkpoint says exactly how it was made."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("segmenter", "inpainter")


@dataclass
class TrainConfig:
    name: str
    stage: str  # "segmenter" (stage 1) or "inpainter" (stage 2)
    architecture: str  # "mseg" for the segmenter; "ganmasker" or "caru2net" for the inpainter
    network: dict[str, Any] = field(default_factory=dict)  # the architecture's config (widths, ...)
    discriminator: dict[str, Any] = field(default_factory=dict)  # inpainter only
    data: str = "runs/data"  # built by training.pairs; <data>/<size>/{train,val}_*.npy
    size: int = 128
    batch_size: int = 16
    steps: int = 10000
    lr: float = 1e-3  # both papers: Adam, 1e-3, step decay
    lr_milestones: tuple[float, ...] = (0.6, 0.85)  # fractions of `steps` where the rate is cut
    lr_gamma: float = 0.1
    betas: tuple[float, float] = (0.5, 0.999)
    loss_weights: dict[str, float] = field(default_factory=lambda: {"adv": 1.0, "rec": 100.0, "per": 10.0})
    perceptual_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
    perceptual_size: int = 0  # 0: VGG19 sees the full image; else it is resized to this first
    # The style loss (loss_weights["style"], 0 or absent: off): Gram matrices of these VGG19
    # layers, of the fill pasted into the true face against the true face (training.perceptual.StyleLoss)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1")
    style_size: int = 0  # 0: at the training size (the fine detail it is for lives there)
    flip: bool = True  # random horizontal flips
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    val_images: int = 64  # validation images scored at each checkpoint
    threads: int = 0  # torch CPU threads per process (0: torch's default)
    init: str = ""  # weights (.safetensors) to start from when there is no checkpoint: fine-tuning
    # A smaller generator (.safetensors) whose enlarged fill this one refines (its network config
    # `coarse_input`; app.inference.coarse): frozen, run on every batch before the network.
    coarse: str = ""
    bf16: bool = False  # bf16 autocast for the networks' forward passes
    channels_last: bool = False  # NHWC tensors: faster convolutions on CPUs
    ema: float = 0.0  # > 0: keep an exponential moving average of the network's weights with this
    # decay; it is what is validated, snapshotted and exported (the raw weights go on training)
    # Inpainter: each training map grown by a radius drawn from [lo, hi] px (at `size`) with the
    # app's elliptic kernel (app.pipeline.grow), so the generator learns to fill the region the app
    # gives it, stage 1's map grown by MASK_MARGIN, and not only a mask's exact outline. (0, 0): off.
    map_grow: tuple[int, int] = (0, 0)
    # Segmenter: drawn hair over the mouth on this share of each batch's rows, taken out of their
    # maps (training.occluders). 0: off.
    occluders: float = 0.0
    occluders_bare_only: bool = False  # only over rows without a mask

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {self.stage!r}")
        self.lr_milestones = tuple(float(v) for v in self.lr_milestones)
        self.betas = tuple(float(v) for v in self.betas)
        self.perceptual_layers = tuple(self.perceptual_layers)
        self.style_layers = tuple(self.style_layers)
        self.map_grow = tuple(int(v) for v in self.map_grow)
        if len(self.map_grow) != 2 or not 0 <= self.map_grow[0] <= self.map_grow[1]:
            raise ValueError(f"map_grow must be [lo, hi] with 0 <= lo <= hi, not {list(self.map_grow)}")
        if not 0.0 <= self.occluders <= 1.0:
            raise ValueError(f"occluders is a share of each batch's rows, 0 to 1, not {self.occluders}")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    d = json.loads(Path(path).read_text())
    d.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(d)
