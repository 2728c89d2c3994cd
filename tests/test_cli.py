"""The `unmasker` command end to end, as a user runs it (a real process)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app import __version__
from app.imageio import read_photo

from .conftest import EXAMPLE, ROOT


def run(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_version_and_info():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"unmasker {__version__}"
    r = run("info")
    assert r.returncode == 0
    assert "device: CPU" in r.stdout and "face engines: blaze (BlazeFace + MTCNN, the default)" in r.stdout
    assert "segmenter.safetensors" in r.stdout


def test_unmask_says_plainly_that_no_trained_model_is_installed(tmp_path):
    r = run("unmask", EXAMPLE, "-o", tmp_path / "out.jpg", env_extra={"UNMASKER_MODELS": str(tmp_path)})
    assert r.returncode == 4
    assert "no trained model is installed" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.jpg").exists()


def test_untrained_models_are_refused_too(tiny_models, tmp_path):
    r = run("unmask", EXAMPLE, "-o", tmp_path / "out.png", env_extra={"UNMASKER_MODELS": str(tiny_models)})
    assert r.returncode == 4 and "not marked as trained" in r.stderr


@pytest.fixture
def plumbing(tiny_models):
    return {"UNMASKER_MODELS": str(tiny_models), "UNMASKER_ALLOW_UNTRAINED": "1"}


def test_unmask_end_to_end(plumbing, tmp_path):
    src = tmp_path / "astronaut.jpg"
    src.write_bytes(EXAMPLE.read_bytes())
    original = src.read_bytes()
    out, map_out = tmp_path / "out.png", tmp_path / "map.png"
    r = run("unmask", src, "-o", out, "--mask-out", map_out, "--device", "cpu", env_extra=plumbing)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    assert "found 1 face(s)" in r.stderr and "plausible guess" in r.stderr
    assert src.read_bytes() == original  # the original is never touched
    before, after = read_photo(src).pixels, read_photo(out).pixels
    photo_map = np.asarray(Image.open(map_out).convert("L"))
    assert after.shape == before.shape and photo_map.shape == before.shape[:2]
    changed = np.any(after != before, axis=-1)
    assert changed.any()
    # Pixels far from the mask map are bit-identical to the original.
    reach = cv2.dilate((photo_map > 0).astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    assert not (changed & ~reach).any()
    # Refuses to replace an existing output without --overwrite.
    r = run("unmask", src, "-o", out, env_extra=plumbing)
    assert r.returncode == 2 and "already exists" in r.stderr


def test_unmask_with_a_mask_map_and_a_box(plumbing, tmp_path):
    photo = read_photo(EXAMPLE)
    h, w = photo.pixels.shape[:2]
    m = np.zeros((h, w), np.uint8)
    m[120:170, 190:250] = 255  # the lower face of the example
    Image.fromarray(m).save(tmp_path / "map.png")
    out = tmp_path / "out.png"
    r = run("unmask", EXAMPLE, "-o", out, "--mask-in", tmp_path / "map.png", "--box", "170,55,270,175",
            env_extra=plumbing)
    assert r.returncode == 0, r.stderr
    changed = np.any(read_photo(out).pixels != photo.pixels, axis=-1)
    ys, xs = np.nonzero(changed)
    assert changed.any() and ys.min() >= 100 and ys.max() <= 190 and xs.min() >= 170 and xs.max() <= 270
    # a map of the wrong size is refused in words
    Image.fromarray(m[:100]).save(tmp_path / "bad.png")
    r = run("unmask", EXAMPLE, "-o", tmp_path / "o2.png", "--mask-in", tmp_path / "bad.png", env_extra=plumbing)
    assert r.returncode == 1 and "must match the photo" in r.stderr


def test_unmask_errors_are_plain(plumbing, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank)
    r = run("unmask", blank, "-o", tmp_path / "o.png", env_extra=plumbing)
    assert r.returncode == 3 and "no face found" in r.stderr
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    r = run("unmask", bad, "-o", tmp_path / "o.png", env_extra=plumbing)
    assert r.returncode == 1 and "not an image" in r.stderr and "Traceback" not in r.stderr
    r = run("unmask", EXAMPLE, "--box", "1,2,3", env_extra=plumbing)
    assert r.returncode == 2 and "X0,Y0,X1,Y1" in r.stderr
    assert sorted(tmp_path.iterdir()) == sorted([blank, bad])  # nothing half-written


def test_faces_command_draws_landmarks(tmp_path):
    r = run("faces", EXAMPLE, "-o", tmp_path / "f.png")
    assert r.returncode == 0 and r.stdout.startswith("face 1: box")
    drawn = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    assert drawn.shape == read_photo(EXAMPLE).pixels.shape
    assert (drawn == (64, 255, 64)).all(-1).sum() > 100  # the green landmark dots


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("unmasker")
    assert exe.exists()
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and __version__ in r.stdout
