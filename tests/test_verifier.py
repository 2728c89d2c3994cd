"""The face verifier: its crop, the shipped network on real scenes, its training, and a missing file."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, need_shared


def test_the_crop_is_the_boxs_surroundings_at_any_scale():
    """The crop is CONTEXT times the box around its centre, whatever the photo's scale: a face
    box in a photo and in the same photo 8 times larger (the shrinking path) give the same crop;
    outside the photo is black."""
    import cv2

    from app.inference.verifier import CONTEXT, SIZE, crop_around

    small = np.zeros((120, 160, 3), np.uint8)
    small[40:80, 60:100] = (200, 30, 30)  # the "face": a red square
    box = np.array([60, 40, 100, 80], np.float32)
    crop = crop_around(small, box)
    assert crop.shape == (SIZE, SIZE, 3)
    inner = int(round(SIZE * (1 - 1 / CONTEXT) / 2))  # the box's edge in the crop
    assert (crop[inner + 2:-inner - 2, inner + 2:-inner - 2] == (200, 30, 30)).all()
    assert (crop[:inner - 2] == 0).all() and (crop[:, :inner - 2] == 0).all()
    big = cv2.resize(small, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    assert np.abs(crop_around(big, box * 8).astype(int) - crop.astype(int)).mean() < 8
    edge = crop_around(small, np.array([-20, -20, 20, 20], np.float32))  # a box over the corner
    assert edge.shape == (SIZE, SIZE, 3) and (edge[:SIZE // 3, :SIZE // 3] == 0).all()


@pytest.fixture(scope="module")
def verifier():
    from app.faces import _verifier

    v = _verifier()
    assert v.net is not None, "the shipped verifier's weights load"
    return v


def test_the_shipped_verifier_tells_masked_faces_from_face_free_parts_of_real_scenes(verifier):
    """On the tuning scenes kept for its threshold (never trained on): most labelled masked faces
    of 32 px and over pass, and no square of a scene's face-free part does."""
    from app.imageio import read_photo
    from benchmarks.real_photos import background_crop, labelled_scenes
    from training.verifier import is_calibration_scene

    need_shared()
    scenes = [s for s in labelled_scenes(SHARED_DATA, "tune") if is_calibration_scene(s[0].name)][:30]
    rng = np.random.default_rng(0)
    faces, empty = [], []
    for path, labelled in scenes:
        px = read_photo(path).pixels
        faces += [verifier.probability(px, b) for label, b in labelled
                  if label != "without_mask" and min(b[2] - b[0], b[3] - b[1]) >= 32]
        bg = background_crop(px, labelled)
        if bg is not None:
            h, w = bg.shape[:2]
            for _ in range(4):
                side = rng.uniform(24, min(h, w) / 1.2)
                x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
                empty.append(verifier.probability(np.ascontiguousarray(bg), [x, y, x + side, y + side]))
    assert len(faces) >= 20 and len(empty) >= 40
    assert np.mean(np.array(faces) >= verifier.threshold) > 0.7
    assert max(empty) < verifier.threshold


def test_without_its_weights_the_verifier_confirms_nothing_and_says_why(tmp_path, caplog):
    from app.faces import FaceVerifier

    with caplog.at_level(logging.WARNING):
        v = FaceVerifier(tmp_path / "verifier.safetensors")
    assert v.net is None and not v.confirms(np.zeros((64, 64, 3), np.uint8), [8, 8, 56, 56])
    assert "missing" in caplog.text
    (tmp_path / "verifier.safetensors").write_bytes(b"not a model")
    (tmp_path / "verifier.json").write_text("{}")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        v = FaceVerifier(tmp_path / "verifier.safetensors")
    assert v.net is None and "cannot be used" in caplog.text


def test_training_a_verifier_writes_weights_the_finder_loads(tmp_path, monkeypatch):
    """`python -m training.verifier` on a few scenes: crops of both kinds, read from the tuning
    parts only, a network and a card with its threshold, which FaceVerifier loads."""
    import json

    import app.imageio
    from app.faces import FaceVerifier
    from training.split import real_part
    from training.verifier import main

    need_shared()
    read, real_read = [], app.imageio.read_photo
    monkeypatch.setattr(app.imageio, "read_photo", lambda p, *a, **k: read.append(p) or real_read(p, *a, **k))
    assert main(["--out", str(tmp_path), "--limit", "20", "--epochs", "1"]) == 0
    real = (SHARED_DATA / "real_masked").resolve()
    parts = set()
    for p in read:
        rel = Path(p).resolve().relative_to(real)  # <set>/<path in the set>
        parts.add(real_part(rel.parts[0], rel.relative_to(rel.parts[0]).as_posix()))
    assert len(read) > 20 and parts == {"tune"}
    data = np.load(tmp_path / "data.npz")
    assert set(np.unique(data["labels"])) == {0, 1} and data["crops"].shape[1:] == (48, 48, 3)
    info = json.loads((tmp_path / "log.json").read_text())
    v = FaceVerifier(tmp_path / "verifier.safetensors")
    assert v.net is not None and v.threshold == info["threshold"]
