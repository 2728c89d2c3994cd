"""The fill's tone (app.tone): a fill paler, darker or tinted against the skin around it is brought
back towards that skin; what is already right stays so; nothing outside the fill changes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.align import align_face
from app.imageio import read_photo
from app.tone import MAX_SHIFT, match_tone
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def bare_face(finder):
    """The unmasked face of the shipped two-face example, aligned at 128 px, and a mask-shaped
    region over its nose, mouth and chin."""
    px = read_photo(EXAMPLE.with_name("two_faces_one_masked.jpg")).pixels
    face = max(finder.detect(px), key=lambda f: f.box[0])  # the right-hand face wears no mask
    crop = align_face(px, face.points5, 128).crop
    region = np.zeros((128, 128), np.float32)
    cv2.ellipse(region, (64, 88), (40, 34), 0, 0, 360, 1.0, -1)
    return crop, region


def _shifted(crop: np.ndarray, region: np.ndarray, dlab) -> np.ndarray:
    """The true face with its colour off by `dlab` inside the region: a fill of the right face in
    the wrong tone."""
    lab = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab) + np.float32(dlab)
    off = np.clip(np.round(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0), 0, 255).astype(np.uint8)
    out = crop.copy()
    out[region > 0.5] = off[region > 0.5]
    return out


def _error(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[region > 0.5].mean())


@pytest.mark.parametrize("dlab", [(15, 0, 0), (-15, 0, 0), (0, -8, 6)], ids=["pale", "dark", "tinted"])
def test_a_fill_off_in_tone_comes_back_towards_the_skin(bare_face, dlab):
    crop, region = bare_face
    fill = _shifted(crop, region, dlab)
    out = match_tone(fill, crop, region)
    assert _error(out, crop, region) < 0.4 * _error(fill, crop, region)
    assert np.array_equal(out[region <= 0.5], fill[region <= 0.5])  # outside the fill, bit for bit


def test_a_fill_in_the_right_tone_is_left_nearly_as_it_is(bare_face):
    crop, region = bare_face
    assert _error(match_tone(crop, crop, region), crop, region) < 2.0


def test_no_shift_beyond_the_cap_and_none_without_skin_at_the_edge(bare_face):
    crop, region = bare_face
    fill = _shifted(crop, region, (60, 0, 0))  # a white patch: wrong in another way than tone
    out = match_tone(fill, crop, region)
    lab = lambda im: cv2.cvtColor(im.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)  # noqa: E731
    moved = np.abs(lab(out) - lab(fill))[region > 0.5]
    assert moved[:, 0].max() <= MAX_SHIFT[0] + 1.0
    # A region that covers the whole crop has no edge to read the skin from: unchanged.
    assert match_tone(fill, crop, np.ones_like(region)) is fill
