"""The trained models that ship with the app, through the real pipeline on the example photo."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from app.imageio import read_photo
from app.paths import models_dir

from .conftest import EXAMPLE, ROOT

CARDS = {name: models_dir() / f"{name}.json" for name in ("segmenter", "inpainter")}


@pytest.fixture(scope="module")
def engine():
    from app.inference.engine import Unmasker

    if "UNMASKER_MODELS" in os.environ:
        pytest.skip("UNMASKER_MODELS points away from the shipped models")
    return Unmasker.from_installed("cpu")  # checks sha256, architecture and "trained": true


def test_cards_are_complete(engine):
    for name, path in CARDS.items():
        card = json.loads(path.read_text())
        assert card["trained"] is True and "non-commercial" in card["licence"]
        t = card["training"]
        assert t["steps"] > 0 and t["wall_s"] > 0 and t["hardware"] and t["epochs"] > 0
        assert card["metrics"]["evaluated_on"] and "split" in card["data"]
    seg = json.loads(CARDS["segmenter"].read_text())["metrics"]
    assert seg["synthetic"]["dice"] >= 0.97 and seg["maskedfacenet"]["dice"] >= 0.85
    inp = json.loads(CARDS["inpainter"].read_text())["metrics"]
    for base in ("telea", "ns"):
        assert inp["ours"]["psnr"] >= inp[base]["psnr"] + 3.0
        assert inp["ours"]["ssim"] > inp[base]["ssim"] and inp["ours"]["l1"] < inp[base]["l1"]


def test_the_example_is_unmasked(engine, finder):
    from app.pipeline import unmask_faces

    px = read_photo(EXAMPLE).pixels
    faces = finder.detect(px)
    result = unmask_faces(px, faces, engine)
    assert result.faces[0].unmasked
    # The drawn mask is light blue (120, 170, 220); stage 1 must cover it, and not the eyes.
    r, g, b = (px[..., i].astype(int) for i in range(3))
    blue = (b > r + 40) & (b > 150)
    face_box = faces[0].box.astype(int)
    near_face = np.zeros_like(blue)  # (the flag's and the badge's blue are no mask)
    near_face[face_box[1]: face_box[3] + 20, face_box[0] - 10: face_box[2] + 10] = True
    blue &= near_face
    blue[: int(faces[0].points5[:2, 1].max()) + 5] = False  # (nothing above the eyes counts)
    covered = result.photo_map[blue] > 127
    assert covered.mean() > 0.95
    eyes = faces[0].points5[:2].astype(int)
    assert all(result.photo_map[y, x] == 0 for x, y in eyes)
    # Filled with a face, not the mask: the region turns skin-coloured (red over blue).
    out = result.pixels
    region = result.photo_map > 200
    assert out[region][:, 0].mean() > out[region][:, 2].mean() + 10
    assert px[region][:, 2].mean() > px[region][:, 0].mean()
    assert face_box[2] > face_box[0]


def test_cli_main_command_and_self_test(engine, tmp_path):
    out = tmp_path / "astronaut_unmasked.jpg"
    r = subprocess.run([sys.executable, "-m", "app", "unmask", str(EXAMPLE), "-o", str(out)], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert read_photo(out).pixels.shape == read_photo(EXAMPLE).pixels.shape
    r = subprocess.run([sys.executable, "-m", "app", "--self-test"], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0 and "self-test passed" in r.stdout, r.stdout + r.stderr
