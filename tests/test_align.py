"""Alignment to the template and paste-back on real photos: exact outside, seamless inside."""
import cv2
import numpy as np
import pytest

from app.align import TEMPLATE, align_face, paste_back, warp_mask_to_crop, warp_mask_to_photo
from app.imageio import read_photo

from .conftest import EXAMPLE


@pytest.fixture(scope="module")
def example(finder):
    photo = read_photo(EXAMPLE)
    faces = finder.detect(photo.pixels)
    assert len(faces) == 1
    return photo.pixels, faces[0]


@pytest.mark.parametrize("size", [128, 256])
def test_points_land_on_the_template(example, size):
    pixels, face = example
    aligned = align_face(pixels, face.points5, size)
    assert aligned.crop.shape == (size, size, 3)
    eyes = aligned.to_crop(face.points5[:2])
    assert np.abs(eyes - TEMPLATE[:2] * size).max() < 0.05 * size
    # the whole face (68 points, chin included) is inside the crop
    p = aligned.to_crop(face.points68)
    assert p.min() > 0 and p.max() < size


def test_unchanged_crop_gives_back_the_photo_exactly(example):
    pixels, face = example
    aligned = align_face(pixels, face.points5, 256)
    full_mask = np.ones((256, 256), np.float32)
    out = paste_back(pixels, aligned, aligned.crop.copy(), full_mask)
    assert np.array_equal(out, pixels)


def test_only_the_masked_region_changes_and_without_a_seam(example):
    pixels, face = example
    aligned = align_face(pixels, face.points5, 256)
    mask = np.zeros((256, 256), np.float32)
    mask[150:230, 70:190] = 1
    result = aligned.crop.copy()
    result[mask > 0] = (200, 40, 40)
    out = paste_back(pixels, aligned, result, mask)
    changed = np.any(out != pixels, axis=-1)
    footprint = warp_mask_to_photo(np.ones((256, 256)), aligned, pixels.shape[:2]) > 0
    assert changed.any()
    assert not (changed & ~footprint).any()  # nothing outside the crop's reach moved
    # Every changed pixel lies within the dilated, feathered mask, well inside the crop square:
    near = warp_mask_to_photo(_grow(mask, 20), aligned, pixels.shape[:2])
    assert not (changed & (near == 0)).any()
    # The core of the region is fully replaced ...
    core = warp_mask_to_photo(_shrink(mask, 6), aligned, pixels.shape[:2]) == 255
    assert np.abs(out[core].astype(int) - (200, 40, 40)).max() <= 2
    # ... and the edge fades: no hard step between neighbouring pixels around the region.
    ring = changed & ~core
    assert ring.sum() > 0
    a = np.abs(out.astype(int) - pixels.astype(int)).sum(-1) / 3
    step = np.abs(np.diff(a, axis=1))[ring[:, 1:]]
    assert np.percentile(step, 95) < 60


def _grow(m, r):
    return cv2.dilate(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(np.float32)


def _shrink(m, r):
    return cv2.erode(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(np.float32)


def test_map_round_trip_between_photo_and_crop(example):
    pixels, face = example
    aligned = align_face(pixels, face.points5, 128)
    m = np.zeros((128, 128), np.float32)
    m[70:110, 30:100] = 1
    back = warp_mask_to_crop(warp_mask_to_photo(m, aligned, pixels.shape[:2]), aligned) > 0.5
    assert (back == (m > 0.5)).mean() > 0.97


def test_real_photo_outside_mask_bit_identical(rmfd_photos, finder):
    photo = read_photo(rmfd_photos[0])
    faces = finder.detect(photo.pixels)
    assert faces
    aligned = align_face(photo.pixels, faces[0].points5, 128)
    mask = np.zeros((128, 128), np.float32)
    mask[75:120, 30:98] = 1
    result = aligned.crop.copy()
    result[mask > 0] = 255 - result[mask > 0]
    out = paste_back(photo.pixels, aligned, result, mask)
    region = warp_mask_to_photo(_grow(mask, 12), aligned, photo.pixels.shape[:2]) > 0
    assert np.array_equal(out[~region], photo.pixels[~region])
    assert (out[region] != photo.pixels[region]).any()


def test_clean_map_keeps_attached_straps_and_drops_specks():
    from app.pipeline import clean_map

    prob = np.zeros((128, 128), np.float32)
    cv2.ellipse(prob, (64, 80), (35, 25), 0, 0, 360, 0.9, -1)  # the mask
    cv2.line(prob, (30, 76), (8, 40), 0.9, 1)  # an ear loop, one pixel wide, attached
    prob[100:102, 60:62] = 0.1  # a pinhole inside
    prob[10:12, 100:102] = 0.9  # a speck far away
    out = clean_map(prob)
    assert out.dtype == np.float32 and set(np.unique(out)) <= {0.0, 1.0}
    assert out[80, 64] == 1 and out[100, 60] == 1  # the blob, pinhole filled
    assert out[58, 19] == 1 or out[58, 20] == 1  # the strap survives the opening
    assert out[10:12, 100:102].sum() == 0  # the speck does not
    assert clean_map(np.zeros((64, 64), np.float32)).sum() == 0
