"""The two-stage engine: segment a face's mask, then inpaint it (MURF keeps everything else).

Faces are aligned N x N uint8 RGB crops, one (H, W, 3) array or a batch (B, H, W, 3); maps are
float32 in [0, 1], (H, W) or (B, H, W). The networks see faces in [-1, 1].
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from app.errors import ModelNotInstalled, UnmaskerError
from app.inference.coarse import coarse_fill
from app.inference.device import choose_device
from app.inference.weights import load_model
from app.paths import models_dir

log = logging.getLogger(__name__)
SEGMENTER_FILE = "segmenter.safetensors"
INPAINTER_FILE = "inpainter.safetensors"
# Optional: a generator that fills at twice the size, for faces the photo shows larger than the
# models' crop (`app.pipeline` chooses per face); without it every face is filled at `size`.
LARGE_INPAINTER_FILE = "inpainter_large.safetensors"


def _as_batch(faces: np.ndarray) -> tuple[np.ndarray, bool]:
    faces = np.asarray(faces)
    single = faces.ndim == 3
    batch = faces[None] if single else faces
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
        raise UnmaskerError(f"faces must be uint8 (H, W, 3) or (B, H, W, 3), got {faces.dtype} {faces.shape}")
    return batch, single


class Unmasker:
    def __init__(self, segmenter: torch.nn.Module, generator: torch.nn.Module, size: int,
                 device: torch.device | str = "cpu", large_generator: torch.nn.Module | None = None,
                 large_size: int = 0) -> None:
        self.device = torch.device(device)
        self.segmenter = segmenter.to(self.device).eval()
        self.generator = generator.to(self.device).eval()
        self.size = int(size)
        # The generator for large faces and its crop size (0: none, every face is filled at `size`).
        self.large_generator = large_generator.to(self.device).eval() if large_generator is not None else None
        self.large_size = int(large_size) if large_generator is not None else 0
        self.notes: list[str] = []  # things the user should be told (a fallback to the CPU); see take_notes

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    @property
    def fill_sizes(self) -> tuple[int, ...]:
        """The crop sizes `inpaint` takes: `size`, and `large_size` where a large generator is installed."""
        return (self.size, self.large_size) if self.large_size else (self.size,)

    def fill_networks(self, size: int) -> list[torch.nn.Module]:
        """The generators a face filled at `size` goes through, in order: the models' own, or the
        large one, after the models' own where it refines that one's fill (`coarse_input`)."""
        if size != self.large_size:
            return [self.generator]
        refines = getattr(self.large_generator.config, "coarse_input", False)
        return ([self.generator] if refines else []) + [self.large_generator]

    def _move(self, device: torch.device) -> None:
        self.segmenter.to(device)
        self.generator.to(device)
        if self.large_generator is not None:
            self.large_generator.to(device)

    def _run(self, fn):
        """fn(device) on the engine's device; when a GPU runs out of memory, that call is redone
        on the CPU (and the engine returns to the GPU for the next one), with a note saying so."""
        try:
            return fn(self.device)
        except torch.cuda.OutOfMemoryError:  # (torch.OutOfMemoryError since 2.5)
            if self.device.type == "cpu":
                raise UnmaskerError("out of memory: the photo is too large for this computer's memory") from None
        log.warning("the GPU ran out of memory; redoing this on the CPU")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        cpu = torch.device("cpu")
        self._move(cpu)
        try:
            result = fn(cpu)
        finally:
            self._move(self.device)
        note = "the GPU ran out of memory, so this photo was done on the CPU"
        if note not in self.notes:
            self.notes.append(note)
        return result

    @classmethod
    def from_files(cls, segmenter_path: str | Path, inpainter_path: str | Path,
                   device: str = "auto", large_inpainter_path: str | Path | None = None) -> "Unmasker":
        dev = choose_device(device) if device in ("auto", "cpu", "cuda") else torch.device(device)
        seg, seg_card = load_model(segmenter_path, role="segmenter")
        gen, gen_card = load_model(inpainter_path, role="generator")
        if seg_card["input_size"] != gen_card["input_size"]:
            raise UnmaskerError(
                f"the segmenter expects {seg_card['input_size']} px faces but the inpainter "
                f"{gen_card['input_size']} px; install a matching pair"
            )
        large, large_card = None, None
        if large_inpainter_path is not None:
            large, large_card = load_model(large_inpainter_path, role="generator")
            if large_card["input_size"] <= gen_card["input_size"]:
                raise UnmaskerError(
                    f"{Path(large_inpainter_path).name} fills {large_card['input_size']} px faces, not more than "
                    f"the inpainter's {gen_card['input_size']} px; it is not a generator for large faces"
                )
            if large_card["config"].get("coarse_input") and not gen_card["config"].get("blank_hole"):
                raise UnmaskerError(
                    f"{Path(large_inpainter_path).name} refines the inpainter's fill, but this inpainter sees the "
                    "mask's pixels; install the pair it was trained with"
                )
        engine = cls(seg, gen, gen_card["input_size"], dev, large, large_card["input_size"] if large_card else 0)
        engine.cards = {"segmenter": seg_card, "inpainter": gen_card}
        if large_card is not None:
            engine.cards["large inpainter"] = large_card
        return engine

    @classmethod
    def from_installed(cls, device: str = "auto", directory: Path | None = None,
                       allow_untrained: bool = False) -> "Unmasker":
        """The shipped models; ModelNotInstalled says plainly when there are none, or when their
        cards do not say they were trained (tests pass allow_untrained to exercise the plumbing)."""
        directory = directory or models_dir()
        seg, inp = directory / SEGMENTER_FILE, directory / INPAINTER_FILE
        missing = [p.name for p in (seg, inp) if not p.exists()]
        if missing:
            raise ModelNotInstalled(
                f"no trained model is installed ({', '.join(missing)} missing in {directory}); "
                "Unmasker will not fill faces with an untrained network"
            )
        large = directory / LARGE_INPAINTER_FILE
        engine = cls.from_files(seg, inp, device, large if large.exists() else None)
        untrained = [name for name, card in engine.cards.items() if card.get("trained") is not True]
        if untrained and not allow_untrained:
            raise ModelNotInstalled(
                f"no trained model is installed: the {' and '.join(untrained)} in {directory} "
                "is not marked as trained; Unmasker will not fill faces with an untrained network"
            )
        return engine

    def _to_tensor(self, batch: np.ndarray, device: torch.device) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        return t.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # (B, 3, H, W) in [-1, 1]

    def _check_size(self, batch: np.ndarray, sizes: tuple[int, ...] | None = None) -> None:
        sizes = sizes or (self.size,)
        if batch.shape[1] != batch.shape[2] or batch.shape[1] not in sizes:
            takes = " or ".join(f"{n}x{n}" for n in sizes)
            raise UnmaskerError(f"the models take {takes} faces, got {batch.shape[2]}x{batch.shape[1]}")

    def segment(self, faces: np.ndarray) -> np.ndarray:
        """Mask probability per pixel, float32 in [0, 1]."""
        batch, single = _as_batch(faces)
        self._check_size(batch)

        def run(device):
            with torch.inference_mode():
                logits = self.segmenter(self._to_tensor(batch, device))  # M-Seg returns logits
                return torch.sigmoid(logits)[:, 0].float().cpu().numpy()

        out = self._run(run)
        return out[0] if single else out

    def inpaint(self, faces: np.ndarray, maps: np.ndarray) -> np.ndarray:
        """Fill the map's region (MURF: pixels where the map is 0 come back unchanged). Crops of
        `large_size` go to the large generator, crops of `size` to the other."""
        batch, single = _as_batch(faces)
        self._check_size(batch, self.fill_sizes)
        *coarse, generator = self.fill_networks(batch.shape[1])
        maps = np.asarray(maps, dtype=np.float32)
        maps = maps[None] if maps.ndim == 2 else maps
        if maps.shape != batch.shape[:3]:
            raise UnmaskerError(f"map shape {maps.shape} does not match faces {batch.shape[:3]}")

        def run(device):
            with torch.inference_mode():
                m = torch.from_numpy(np.clip(maps, 0, 1)).to(device)[:, None]
                x = self._to_tensor(batch, device)
                if coarse:  # the large generator refines the small one's fill
                    x = coarse_fill(self.generator, x, (m >= 0.5).float(), self.size)
                out = generator(x, m)
                out = out.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
                return out.permute(0, 2, 3, 1).cpu().numpy()

        result = self._run(run)
        # Exactly the input where the map is 0, whatever rounding did.
        keep = (maps <= 0)[..., None]
        result = np.where(keep, batch, result)
        return result[0] if single else result
