"""What the fill gets after stage 2: grain matched to the face's skin, and a margin over the mask's edge."""
from __future__ import annotations

import cv2
import numpy as np

from app.grain import (DETAIL_TARGET, FALLBACK_GRAIN, MAX_GRAIN, SHARPEN_MAX, _detail, _flat_level, add_grain,
                        detail_rms, restore_detail, skin_above)
from app.pipeline import grow


def _strength(detail: np.ndarray) -> float:
    """A grain's standard deviation from its detail: 1.4826 times the median absolute value."""
    return 1.4826 * float(np.median(np.abs(detail)))


def _face(rng, grain: float = 2.5):
    """A 300 px 'face': skin with a fine grain everywhere, and a smooth fill where the mask was."""
    texture = cv2.GaussianBlur(rng.normal(0, grain, (300, 300)).astype(np.float32), (0, 0), 0.8)
    skin = np.clip(170 + texture[..., None] + np.zeros((1, 1, 3)), 0, 255).astype(np.uint8)
    face_map = np.zeros((300, 300), np.uint8)
    cv2.ellipse(face_map, (150, 200), (100, 70), 0, 0, 360, 255, -1)
    face_map = cv2.GaussianBlur(face_map, (0, 0), 2)  # the warped map's soft edge
    filled = skin.copy()
    filled[face_map > 0] = (175, 160, 150)  # the generator's smooth face
    return skin, filled, face_map


def test_grain_matches_the_skin_above_the_mask_and_touches_nothing_else(rng):
    original, filled, face_map = _face(rng)
    out = add_grain(filled, original, face_map, seed=3)
    inside = cv2.erode((face_map > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    skin = _strength(_detail(grey(original))[skin_above(face_map)])
    got = _strength(_detail(grey(out))[inside])
    assert _strength(_detail(grey(filled))[inside]) < 0.1 * skin  # the fill was smooth
    assert 0.8 * skin < got < 1.25 * skin
    assert np.array_equal(out[face_map == 0], filled[face_map == 0])  # outside the fill: bit for bit
    assert np.array_equal(out, add_grain(filled, original, face_map, seed=3))  # the same twice
    # A fill narrower than the network's crop was made finer than the photo: no grain.
    assert add_grain(filled, original, face_map, min_width=256) is filled
    # A fill already as detailed as the skin gets nothing.
    assert add_grain(original, original, face_map) is original
    # Above the mask hair or lashes, not skin: the grain stays within MAX_GRAIN, never a noise patch.
    rough, smooth, face_map = _face(rng, grain=80.0)
    assert _strength(_detail(grey(rough))[skin_above(face_map)]) > 3 * MAX_GRAIN
    out = add_grain(smooth, rough, face_map, seed=1)
    assert _strength(_detail(grey(out))[inside]) < 1.2 * MAX_GRAIN


def test_grain_is_read_from_the_flat_skin_not_from_lashes_or_a_glasses_frame(rng):
    """A band above the mask of which more than half is structure (lashes, a brow, a glasses
    frame) holds far more detail than its skin: the grain added is the skin's, not a noise patch
    as strong as the structure."""
    original, filled, face_map = _face(rng)
    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    band = skin_above(face_map)
    ys = np.nonzero(band.any(1))[0]
    rough = band.copy()
    rough[ys[0] + int(0.4 * len(ys)):] = False  # the band's top 40 % ...
    rough[:, 170:] |= band[:, 170:]  # ... and its right third: structure
    framed = original.astype(np.float32)
    framed[rough] += rng.normal(0, 40, (int(rough.sum()), 1))
    framed = np.clip(framed, 0, 255).astype(np.uint8)
    inside = cv2.erode((face_map > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    def rms(im, region):
        return float(np.sqrt(np.mean(_detail(grey(im))[region] ** 2)))

    plain = rms(add_grain(filled, original, face_map, seed=3), inside)
    got = rms(add_grain(filled, framed, face_map, seed=3), inside)
    assert rms(framed, band) > 5 * plain  # the structure dominates the band
    assert got < 1.5 * plain  # ... but not the grain (the median over the band gave 6x)
    assert _flat_level(_detail(grey(framed)), band) < 2 * _flat_level(_detail(grey(original)), band)


def _streaked_face(rng):
    """`_face` whose skin has a texture of fine horizontal lines (noise blurred along x only),
    and dark hair of upright strands over the forehead, down to just above the mask's band."""
    original, filled, face_map = _face(rng, grain=0.0)
    lines = cv2.GaussianBlur(rng.normal(0, 6, (300, 300)).astype(np.float32), (0, 0), sigmaX=4, sigmaY=0.6)
    skin = original.astype(np.float32) + lines[..., None]
    hair = cv2.GaussianBlur(rng.normal(0, 6, (300, 300)).astype(np.float32), (0, 0), sigmaX=0.6, sigmaY=4)
    skin[:75] = 40 + hair[:75, :, None]  # as fine and as strong as the skin's lines, but dark and upright
    return np.clip(np.round(skin), 0, 255).astype(np.uint8), filled, face_map


def _orientation(grey: np.ndarray, region: np.ndarray) -> float:
    """Vertical over horizontal gradient energy: above 1 for horizontal lines, about 1 for noise."""
    gy, gx = np.gradient(grey)
    return float(np.mean(gy[region] ** 2) / np.mean(gx[region] ** 2))


def test_the_fill_gets_the_skins_own_texture_not_noise_and_not_the_hair(rng):
    """Where the skin above the mask gives clean patches, the fill gets that skin's texture: its
    fine lines run the way the skin's do (noise would run every way), it is about as strong,
    it brings no hair (nothing dark), it leaves the fill's colour and everything outside the map
    alone, and it is the same twice."""
    original, filled, face_map = _streaked_face(rng)
    out = add_grain(filled, original, face_map, seed=3)
    noise = add_grain(filled, original, face_map, seed=3, texture=False)
    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    inside = cv2.erode((face_map > 127).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    band = skin_above(face_map)
    assert _orientation(grey(original), band) > 4
    assert _orientation(grey(out), inside) > 4  # the skin's lines, not the hair's strands ...
    assert _orientation(grey(noise), inside) < 1.5  # ... where noise of that strength has none
    skin_level, got = np.std(grey(original)[band]), np.std(grey(out)[inside])
    assert 0.6 * skin_level < got < 1.4 * skin_level
    assert abs(grey(out)[inside].mean() - grey(filled)[inside].mean()) < 1.0
    assert np.array_equal(out[face_map == 0], filled[face_map == 0])
    assert np.array_equal(out, add_grain(filled, original, face_map, seed=3))
    # A fill narrower in the photo than in the network's crop was not enlarged: nothing added.
    assert add_grain(filled, original, face_map, min_width=256) is filled


def test_no_clean_skin_above_the_mask_means_a_faint_grain_not_a_noise_patch(rng):
    """A fringe of dark hair down to just above the mask leaves no patch of clean skin to copy
    texture from: the fill gets at most FALLBACK_GRAIN grey levels of noise (noise as strong as the
    hair and lids it was read off was a speckled patch on real photos), while the comparison
    option `texture=False` still adds that full strength."""
    original, filled, face_map = _face(rng, grain=15.0)
    band = skin_above(face_map)
    top = int(np.nonzero(band.any(1))[0].min())
    hair = cv2.GaussianBlur(rng.normal(0, 6, (300, 300)).astype(np.float32), (0, 0), 0.6)
    original = original.astype(np.float32)
    original[:top] = 40 + hair[:top, :, None]  # dark, fine strands down to the band's top
    original = np.clip(np.round(original), 0, 255).astype(np.uint8)
    assert band.sum() >= 30  # there is a band to measure, but no patch of skin fits in it
    inside = cv2.erode((face_map > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0

    def added(out):
        return float(np.std((out.astype(np.float32) - filled)[inside]))

    faint = added(add_grain(filled, original, face_map, seed=3))
    full = added(add_grain(filled, original, face_map, seed=3, texture=False))
    assert 0.5 < faint <= FALLBACK_GRAIN + 0.3  # rounding to whole grey levels adds a little
    assert full > 2 * FALLBACK_GRAIN


def _lower_face(rng):
    """`_face` with a sharp lower face under the map (a mouth, nostrils, the lips' shading), and
    the fill the generator gives, enlarged into the photo: that face blurred, as soft as an upscale."""
    original, _, face_map = _face(rng, grain=5.0)
    truth = original.astype(np.float32)
    cv2.ellipse(truth, (150, 215), (45, 9), 0, 0, 360, (120, 70, 70), -1)  # lips
    cv2.line(truth, (108, 215), (192, 215), (60, 30, 30), 2)  # where they meet
    for x in (135, 165):
        cv2.circle(truth, (x, 165), 5, (90, 60, 50), -1)  # nostrils
    truth = np.clip(np.round(truth), 0, 255).astype(np.uint8)
    fill = cv2.GaussianBlur(truth, (0, 0), 3.0)
    filled = np.where(face_map[..., None] > 0, fill, original)
    return original, truth, filled, face_map


def test_a_soft_fill_is_brought_up_to_a_real_lower_faces_detail(rng):
    """A fill as soft as an upscale is sharpened until its detail (Laplacian RMS away from its
    edge) is DETAIL_TARGET of the skin's just above the mask, what real lower faces hold: closer to
    the sharp face it stands for, nothing outside the map touched, and a fill already that
    detailed left as it is."""
    original, truth, filled, face_map = _lower_face(rng)
    m = face_map > 127
    inner = cv2.erode(m.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))) > 0
    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    skin = detail_rms(grey(original), skin_above(face_map))

    out = restore_detail(filled, original, face_map, crop_width=50)  # enlarged 4x: a 2 px blur undone
    before, after = detail_rms(grey(filled), inner) / skin, detail_rms(grey(out), inner) / skin
    assert before < 0.7 * DETAIL_TARGET
    assert abs(after - DETAIL_TARGET) < 0.05
    assert np.array_equal(out[face_map == 0], filled[face_map == 0])  # outside the fill: bit for bit
    lips = cv2.dilate(((truth != original).any(-1)).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    err = lambda im: float(np.abs(im[lips].astype(np.float32) - truth[lips]).mean())  # noqa: E731
    assert err(out) < 0.93 * err(filled)  # the mouth and nostrils come closer to the sharp face's

    # The face itself is as detailed as a real one: nothing to do.
    assert restore_detail(truth, original, face_map, crop_width=50) is truth
    # A fill with next to no structure to bring out is sharpened at most SHARPEN_MAX, no more.
    flat = np.where(face_map[..., None] > 0, cv2.GaussianBlur(truth, (0, 0), 12.0), original).astype(np.uint8)
    strong = restore_detail(flat, original, face_map, crop_width=50)
    blur = cv2.GaussianBlur(flat.astype(np.float32), (0, 0), 2.0)
    most = np.clip(np.round(flat + SHARPEN_MAX * (flat - blur)), 0, 255)
    assert np.abs(strong.astype(np.float32) - flat)[inner].max() <= np.abs(most - flat)[inner].max() + 1


def test_skin_band_lies_just_above_the_mask():
    face_map = np.zeros((200, 200), np.uint8)
    face_map[100:180, 40:160] = 255
    band = skin_above(face_map)
    ys, xs = np.nonzero(band)
    assert ys.max() < 100 and ys.min() >= 100 - 0.12 * 80 - 0.03 * 80 - 2
    assert xs.min() >= 40 + 0.2 * 120 - 1 and xs.max() <= 160 - 0.2 * 120


def test_the_margin_grows_the_map_over_the_mask_edge():
    m = np.zeros((128, 128), np.float32)
    m[60:100, 30:98] = 1
    g = grow(m, 3 / 128)
    assert g[m > 0].all() and g.sum() > m.sum()
    assert g[57, 64] == 1 and g[56, 64] == 0  # three crop pixels beyond the edge, no more
    assert grow(m, 0.0) is m


def test_stage_1s_decision_empties_an_unsure_or_tiny_map_and_grows_a_sure_one():
    """`decide_map` is what the app (find_masks) and the synthetic evaluation fill: a sure map of
    a mask is grown by the margin, a small or unsure one is emptied (the face left alone)."""
    from app.pipeline import MASK_MARGIN, MIN_MASK_FRACTION, decide_map

    prob = np.zeros((128, 128), np.float32)
    prob[60:100, 30:98] = 0.97
    fill, coverage, tidied, confidence = decide_map(prob)
    assert abs(coverage - tidied.mean()) < 1e-9 and confidence > 0.95
    assert tidied[60:100, 30:98].all() and not tidied[:58].any()
    assert np.array_equal(fill, grow(tidied, MASK_MARGIN)) and fill.sum() > tidied.sum()
    unsure = np.where(prob > 0, 0.6, 0).astype(np.float32)
    fill, coverage, tidied, confidence = decide_map(unsure)
    assert coverage > MIN_MASK_FRACTION and 0.55 < confidence < 0.65
    assert not fill.any() and not tidied.any()
    speck = np.zeros_like(prob)
    speck[80:86, 60:66] = 0.99  # 0.2 % of the crop
    assert not decide_map(speck)[0].any()


def test_a_face_left_alone_stays_so_beside_a_filled_neighbour(rng):
    """A masked neighbour's fill that reaches into an unmasked face's box, or just past it onto the
    cheek and jaw around it, is taken back there, but not inside the masked face's own box where
    the two overlap."""
    from app.faces import Face
    from app.pipeline import FaceResult, _protect_unmasked

    pixels = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    out = pixels.copy()
    out[40:185, 20:230] = 0  # the masked face's fill and its feathered edge, spilling right and down
    photo_map = np.zeros((200, 300), np.uint8)
    photo_map[40:185, 20:230] = 255
    masked, plain = Face(np.array([10, 30, 130, 170], np.float32), np.zeros((5, 2))), \
        Face(np.array([120, 30, 260, 170], np.float32), np.zeros((5, 2)))
    results = [FaceResult(masked, None, None, None, unmasked=True), FaceResult(plain, None, None, None, unmasked=False)]
    got = _protect_unmasked(out, pixels, photo_map, [masked, plain], results)
    assert np.array_equal(got[30:170, 130:260], pixels[30:170, 130:260])  # the unmasked face, as it was
    assert not photo_map[30:170, 130:260].any()
    # ... and the band around its box (PROTECT_GROW of its size: 28 px each side here), under its jaw.
    assert np.array_equal(got[170:185, 92:230], pixels[170:185, 92:230])
    assert (got[170:185, 20:90] == 0).all()  # beyond that band the neighbour's fill stays
    assert (got[40:160, 120:130] == 0).all()  # the overlap is the masked face's own
    assert (got[40:160, 20:120] == 0).all()
