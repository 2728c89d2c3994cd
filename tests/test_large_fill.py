"""Large faces are filled at twice the models' size by an optional second generator
(`inpainter_large.safetensors`): the engine loads it and sends it the large crops, the pipeline
chooses it per face by how large the photo shows the face, and everything else stays as it was."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch

from app.align import align_face, photo_scale, reframe_map, warp_mask_to_crop
from app.errors import UnmaskerError
from app.imageio import read_photo
from app.inference.engine import LARGE_INPAINTER_FILE, Unmasker
from app.inference.registry import make_generator
from app.inference.weights import save_model
from app.pipeline import LARGE_FILL_FROM, unmask_faces

from .conftest import EXAMPLE


def _with_large(tiny_models, tmp_path, size: int = 128, coarse: bool = False):
    """tiny_models plus a large generator; with `coarse`, one that refines the small generator's
    fill, beside a small generator that blanks its hole (as the shipped one does)."""
    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)
    torch.manual_seed(5)
    if coarse:
        small = make_generator("ganmasker", widths=(4, 8, 8, 16, 16), blank_hole=True)
        save_model(small, d / "inpainter.safetensors", input_size=64, trained=False)
    gen = make_generator("ganmasker", widths=(4, 8, 8, 16, 16), coarse_input=coarse)
    save_model(gen, d / LARGE_INPAINTER_FILE, input_size=size, trained=False)
    return d


def test_the_large_generator_is_loaded_and_gets_the_large_crops(tiny_models, tmp_path, rng):
    d = _with_large(tiny_models, tmp_path)
    with pytest.raises(Exception, match="not marked as trained"):  # it is checked like the others
        Unmasker.from_installed("cpu", directory=d)
    engine = Unmasker.from_installed("cpu", directory=d, allow_untrained=True)
    assert engine.size == 64 and engine.large_size == 128 and engine.fill_sizes == (64, 128)
    assert engine.cards["large inpainter"]["input_size"] == 128
    faces = rng.integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    hole = np.zeros((2, 128, 128), np.float32)
    hole[:, 70:120, 20:108] = 1
    out = engine.inpaint(faces, hole)
    with torch.inference_mode():
        x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 127.5 - 1
        direct = engine.large_generator(x, torch.from_numpy(hole)[:, None])
    direct = direct.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(out[hole > 0], direct[hole > 0])  # the large generator's fill
    assert np.array_equal(out[hole == 0], faces[hole == 0])  # and nothing outside the hole
    small = engine.inpaint(faces[:, ::2, ::2].copy(), hole[:, ::2, ::2].copy())  # 64 px: the models' own
    assert small.shape == (2, 64, 64, 3)
    with pytest.raises(UnmaskerError, match="64x64 or 128x128"):
        engine.inpaint(faces[:, :96, :96].copy(), hole[:, :96, :96].copy())
    with pytest.raises(UnmaskerError, match="64x64 faces"):  # stage 1 stays at the models' size
        engine.segment(faces)


def test_a_large_generator_no_larger_than_the_models_is_refused(tiny_models, tmp_path):
    d = _with_large(tiny_models, tmp_path, size=64)
    with pytest.raises(UnmaskerError, match="not a generator for large faces"):
        Unmasker.from_installed("cpu", directory=d, allow_untrained=True)


def test_a_map_carried_to_the_face_aligned_at_twice_the_size_is_the_same_region():
    photo = read_photo(EXAMPLE).pixels
    points = np.array([[300, 260], [380, 260], [340, 310], [310, 350], [370, 350]], np.float64)
    region = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(region, (340, 340), (70, 45), 0, 0, 360, 255, -1)
    a, b = align_face(photo, points, 128), align_face(photo, points, 256)
    carried = reframe_map(warp_mask_to_crop(region, a) > 0.5, a, b)
    direct = warp_mask_to_crop(region, b) > 0.5
    iou = (carried.astype(bool) & direct).sum() / (carried.astype(bool) | direct).sum()
    assert direct.mean() > 0.05 and iou > 0.95


def test_a_face_the_photo_shows_large_is_filled_at_the_large_size_and_a_small_one_is_not(
        finder, tiny_models, tmp_path):
    engine = Unmasker.from_installed("cpu", directory=_with_large(tiny_models, tmp_path), allow_untrained=True)
    photo = read_photo(EXAMPLE).pixels
    faces = finder.detect(photo)
    assert faces
    result = unmask_faces(photo, faces, engine)
    filled = [r for r in result.faces if r.unmasked]
    assert filled
    for r in filled:
        assert photo_scale(r.aligned) > LARGE_FILL_FROM  # a 64 px crop would be enlarged into this photo
        assert r.fill_aligned is not None and r.fill_aligned.size == 128 and r.filled.shape == (128, 128, 3)
    # Bit for bit beyond the fills' feathered edges.
    outside = cv2.dilate(result.photo_map, np.ones((25, 25), np.uint8)) == 0
    assert outside.mean() > 0.5 and np.array_equal(result.pixels[outside], photo[outside])
    assert not np.array_equal(result.pixels[result.photo_map > 0], photo[result.photo_map > 0])
    # The same photo shrunk until its faces are smaller than the crop: the models' own generator.
    scale = 0.85 / min(photo_scale(r.aligned) for r in filled)
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = finder.detect(small)
    result = unmask_faces(small, faces, engine)
    assert any(r.unmasked for r in result.faces)
    for r in (r for r in result.faces if r.unmasked):
        assert photo_scale(r.aligned) <= LARGE_FILL_FROM and r.fill_aligned is None and r.filled.shape == (64, 64, 3)


def test_a_refining_large_generator_is_given_the_small_ones_fill_and_never_the_masks_pixels(
        tiny_models, tmp_path, rng):
    """Coarse to fine (`app.inference.coarse`): the large generator's hole holds the small
    generator's fill of the shrunk face, enlarged; the same face under two different masks over
    the same region gets the same fill."""
    from app.inference.coarse import coarse_fill

    engine = Unmasker.from_installed("cpu", directory=_with_large(tiny_models, tmp_path, coarse=True),
                                     allow_untrained=True)
    face = rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    hole = np.zeros((1, 128, 128), np.float32)
    cv2.ellipse(hole[0], (64, 90), (40, 28), 0, 0, 360, 1, -1)
    blue, pleated = face.copy(), face.copy()
    blue[hole > 0] = (120, 170, 220)
    pleated[hole > 0] = rng.integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    a, b = engine.inpaint(blue, hole), engine.inpaint(pleated, hole)
    assert np.array_equal(a, b) and not np.array_equal(a[hole > 0], blue[hole > 0])
    # What the large generator was given: the small one's fill, enlarged, in the hole.
    with torch.inference_mode():
        x = torch.from_numpy(blue).permute(0, 3, 1, 2).float() / 127.5 - 1
        m = torch.from_numpy(hole)[:, None]
        given = coarse_fill(engine.generator, x, m, 64)
        small = engine.generator(torch.nn.functional.interpolate(x, size=(64, 64), mode="area"),
                                 (torch.nn.functional.interpolate(m, size=(64, 64), mode="area") > 0).float())
        direct = engine.large_generator(given, m)
    assert torch.equal(given[m.expand_as(given) < 0.5], x[m.expand_as(x) < 0.5])  # outside: the face
    up = torch.nn.functional.interpolate(small, size=(128, 128), mode="bilinear", align_corners=False)
    assert torch.allclose(given[:, :, 90, 64], up[:, :, 90, 64])  # inside: the small fill, enlarged
    direct = direct.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(a[hole > 0], direct[hole > 0])


def test_a_refining_large_generator_needs_a_small_one_that_never_sees_the_mask(tiny_models, tmp_path):
    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)  # tiny_models' small generator sees the hole's pixels
    save_model(make_generator("ganmasker", widths=(4, 8, 8, 16, 16), coarse_input=True), d / LARGE_INPAINTER_FILE,
               input_size=128, trained=False)
    with pytest.raises(UnmaskerError, match="refines the inpainter's fill"):
        Unmasker.from_installed("cpu", directory=d, allow_untrained=True)
    with pytest.raises(ValueError, match="exclude each other"):
        make_generator("ganmasker", widths=(4, 8, 8, 16, 16), coarse_input=True, blank_hole=True)
