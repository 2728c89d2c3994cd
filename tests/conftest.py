"""Shared fixtures: the real photos in ../shared/data (never copied into the repo) and tiny models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RMFD = SHARED_DATA / "real_masked" / "rmfd"
EXAMPLE = ROOT / "resources" / "examples" / "astronaut_masked.jpg"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def need_shared() -> None:
    if not RMFD.is_dir():
        pytest.skip(f"the shared face data is not at {SHARED_DATA}")


@pytest.fixture(scope="session")
def rmfd_photos() -> list[Path]:
    need_shared()
    return sorted(RMFD.glob("*/*.jpg"))


@pytest.fixture(scope="session")
def finder():
    from app.faces import make_face_finder

    return make_face_finder()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """An untrained segmenter + inpainter pair at 64 px: exercises the plumbing only."""
    import torch

    from app.inference.registry import make_generator, make_segmenter
    from app.inference.weights import save_model

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models")
    seg = make_segmenter("mseg", widths=(4, 8, 8, 8, 8))
    gen = make_generator("caru2net", level1=(8, 4), level2=(8, 4), bottleneck=(8, 4))
    # Push the segmenter's output up so the untrained map covers most of the face, surely enough
    # (mean probability over the mask / no mask decision's threshold) to be filled.
    with torch.no_grad():
        seg.head[1].bias.fill_(2.0)
    save_model(seg, d / "segmenter.safetensors", input_size=64, trained=False)
    save_model(gen, d / "inpainter.safetensors", input_size=64, trained=False)
    return d


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
