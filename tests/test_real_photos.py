"""Real photos: unmasked faces come back untouched, the mask / no mask decision is shown where the
user looks (CLI, batch report, Faces list), stage 1's training data, and the real-photo benchmark."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.imageio import read_photo
from app.pipeline import NO_MASK_TEXT, unmask_photo

from .conftest import EXAMPLE, ROOT, SHARED_DATA, need_shared

FACES = SHARED_DATA / "faces"
MFN = SHARED_DATA / "real_masked" / "maskedfacenet"


@pytest.fixture(scope="module")
def shipped():
    from app.inference.engine import Unmasker

    if "UNMASKER_MODELS" in os.environ:
        pytest.skip("UNMASKER_MODELS points away from the shipped models")
    return Unmasker.from_installed("cpu")


def _validation_photos(n_per_source: int) -> list[Path]:
    need_shared()
    from benchmarks.real_photos import unmasked_faces

    return unmasked_faces(FACES, n_per_source)


def test_unmasked_faces_come_back_untouched(shipped, finder):
    """People without a mask (identities training never saw): every pixel of the output is the
    input's, and each face found is reported as left untouched."""
    photos = _validation_photos(8)
    assert len(photos) == 16
    judged = 0
    for p in photos:
        px = read_photo(p).pixels
        result = unmask_photo(px, finder, shipped)
        assert np.array_equal(result.pixels, px), f"{p.name}: an unmasked face was changed"
        assert not result.photo_map.any()
        judged += len(result.faces)
        assert all(f.status == NO_MASK_TEXT for f in result.faces)
    assert judged >= 14  # the faces were found and judged, not missed


def test_real_masks_are_still_found_and_filled(shipped, finder):
    """The decision does not cost the masked faces: the example and MaskedFace-Net photos of the
    held-out part (both ways of wearing) are filled, over most of the labelled mask."""
    need_shared()
    from benchmarks.real_photos import dice, real_files
    from training.evaluate import maskedfacenet_pair

    px = read_photo(EXAMPLE).pixels
    assert unmask_photo(px, finder, shipped).faces[0].unmasked
    for kind in ("CWM", "IWM"):
        files = [p for p in real_files("maskedfacenet", "holdout", SHARED_DATA) if p.parts[-3] == kind][:2]
        for p in files:
            px, label = maskedfacenet_pair(p)
            result = unmask_photo(px, finder, shipped)
            assert any(f.unmasked for f in result.faces), p
            assert dice(result.photo_map > 127, label == 2) > 0.85, p


def test_cli_and_batch_say_no_mask_found(shipped, tmp_path):
    photo = _validation_photos(1)[0]
    album = tmp_path / "album"
    album.mkdir()
    (album / "plain.jpg").write_bytes(photo.read_bytes())
    (album / "masked.jpg").write_bytes(EXAMPLE.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "UNMASKER_MODELS"}
    out = subprocess.run([sys.executable, "-m", "app", "unmask", str(album / "plain.jpg"), "-o", str(tmp_path / "o.jpg")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"face 1: {NO_MASK_TEXT}" in out.stderr
    run = subprocess.run([sys.executable, "-m", "app", "batch", str(album), str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = {r["input"]: r for r in csv.DictReader((tmp_path / "out" / "report.csv").open())}
    assert rows["plain.jpg"]["status"] == "no_mask" and NO_MASK_TEXT in rows["plain.jpg"]["note"]
    assert rows["masked.jpg"]["status"] == "unmasked" and rows["masked.jpg"]["faces_unmasked"] == "1"
    # Left untouched means the same bytes: a photo with nothing to unmask is copied, not re-encoded.
    assert (tmp_path / "out" / "plain_unmasked.jpg").read_bytes() == photo.read_bytes()


def test_the_faces_list_shows_a_face_with_no_mask(qtbot, tmp_path, shipped, finder):
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    w = MainWindow(engine_factory=lambda: shipped, finder_factory=lambda: finder)
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(_validation_photos(1)[0])
    qtbot.waitUntil(lambda: w.job is None and len(w.doc.faces) > 0, timeout=60000)
    item = w.face_list.item(0)
    assert NO_MASK_TEXT in item.text() and "brush" in item.toolTip()
    assert not (w.doc.mask > 0).any()  # nothing offered for filling
    # The user may still paint a mask on that face, and then it is filled.
    f = w.doc.faces[0]
    x0, y0, x1, y1 = (float(v) for v in f.box)
    w.doc.mask[int(y0 + 0.6 * (y1 - y0)):int(y1), int(x0 + 0.2 * (x1 - x0)):int(x1 - 0.2 * (x1 - x0))] = 255
    w.unmask_action.trigger()
    qtbot.waitUntil(lambda: w.job is None and w.doc.result is not None, timeout=60000)
    assert not np.array_equal(w.doc.result[w.doc.mask > 127], w.doc.original[w.doc.mask > 127])
    assert w.open_path(EXAMPLE)
    qtbot.waitUntil(lambda: w.job is None and len(w.doc.faces) > 0 and w.doc is not None and w.doc.path == EXAMPLE, timeout=60000)
    assert NO_MASK_TEXT not in w.face_list.item(0).text() and (w.doc.mask > 127).any()


# --- stage 1's training data ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def example_face(finder):
    px = read_photo(EXAMPLE).pixels
    (face,) = finder.detect(px)
    return px, face


def test_stage1_rows_of_every_kind(example_face):
    """Negatives are the face itself with an empty map; a mask worn low leaves the mouth visible and
    outside the map; every pixel a drawing changed is in the map."""
    need_shared()  # the mask templates are in ../shared/data
    from app.align import align_face
    from training.segdata import make_seg_row

    px, face = example_face
    plain = align_face(px, face.points5, 128)
    mouth = plain.to_crop(face.points68[48:68]).round().astype(int)
    seen = {}
    for seed in range(60):
        crop, m, kind = make_seg_row(px, face.points5, face.points68, 128, np.random.default_rng(seed))
        seen[kind] = seen.get(kind, 0) + 1
        changed = np.any(crop != plain.crop, axis=2)
        assert not (changed & (m == 0)).any(), f"{kind}: a drawn pixel is outside the map"
        if kind == "none":
            assert not m.any() and np.array_equal(crop, plain.crop)
        elif kind != "low":  # (a mask slid down to the neck may leave the crop almost entirely)
            assert m.mean() > 0.01
        if kind == "low":
            inside = [m[y, x] for x, y in mouth if 0 <= x < 128 and 0 <= y < 128]
            assert np.mean(inside) < 0.2, "a mask worn on the chin must leave the mouth out of the map"
    assert set(seen) == {"none", "mask", "low", "double", "extras"}
    assert 0.15 < seen["none"] / 60 < 0.5


def test_stage1_wide_rows_wrap_past_the_jaw_and_are_off_unless_asked(example_face):
    """`wide` rows: the mask reaches past the jaw line on the face's wider side (real masks wrap
    round to the ear there; the drawn kinds stop at it), every changed pixel in the map; with no
    share asked for, the rows are exactly the rows built before the kind existed."""
    need_shared()
    from app.align import align_face
    from training.segdata import make_seg_row

    px, face = example_face
    plain = align_face(px, face.points5, 128)
    jaw = plain.to_crop(face.points68[0:17])

    def reach(m):  # how far the map passes the jaw line, on its further side, between jaw points 3 and 5
        xs = np.nonzero(m[int(jaw[3, 1]):int(jaw[5, 1]) + 1])[1]
        return max(jaw[3:6, 0].min() - xs.min(), xs.max() - jaw[11:14, 0].max())

    wide, plain_masks = [], []
    for seed in range(80):
        crop, m, kind = make_seg_row(px, face.points5, face.points68, 128, np.random.default_rng(seed), wide=0.38)
        again = make_seg_row(px, face.points5, face.points68, 128, np.random.default_rng(seed))
        if kind != "wide":
            assert kind == again[2] and np.array_equal(crop, again[0]) and np.array_equal(m, again[1])
            continue
        assert again[2] == "mask"  # the wide rows are taken out of the plain masks' share
        assert not (np.any(crop != plain.crop, axis=2) & (m == 0)).any()
        wide.append(reach(m))
        plain_masks.append(reach(again[1]))
    assert len(wide) > 10
    assert np.median(wide) > np.median(plain_masks) + 4, f"wide {wide} against plain {plain_masks}"


def test_maskedfacenet_rows_never_read_the_held_out_part(tmp_path):
    """Only the tuning part of MaskedFace-Net may train stage 1."""
    need_shared()
    from training.segdata import maskedfacenet_rows
    from training.split import is_held_out, load_real_split, real_part

    held = load_real_split()["maskedfacenet"]
    cwm = sorted((MFN / "CWM" / "images").glob("*.jpg"))
    rel = [p.relative_to(MFN).as_posix() for p in cwm]
    assert all(is_held_out("maskedfacenet", r) == (r in held) for r in rel)  # the record follows its rule
    a = next(p for p, r in zip(cwm, rel) if real_part("maskedfacenet", r) == "holdout")
    b = next(p for p, r in zip(cwm, rel) if real_part("maskedfacenet", r) == "tune")
    root = tmp_path / "mfn"
    for p in (a, b):
        for sub, name in (("images", p.name), ("masks", f"{p.stem}_gt.png")):
            (root / "CWM" / sub).mkdir(parents=True, exist_ok=True)
            (root / "CWM" / sub / name).write_bytes((p.parent.parent / sub / name).read_bytes())
    rows = maskedfacenet_rows(root, 128, 0, 3)
    assert len(rows) == 3  # the tuning photo's three alignments, none of the held-out one
    assert all(kind == "maskedfacenet" and m.mean() > 0.1 for _, m, kind in rows)
    assert all(crop.shape == (128, 128, 3) for crop, _, _ in rows)


# --- the benchmark ------------------------------------------------------------------------------

def test_sharpness_ratio_measures_a_soft_fill():
    from benchmarks.real_photos import sharpness

    rng = np.random.default_rng(0)
    skin = np.clip(150 + rng.normal(0, 20, (200, 200, 3)), 0, 255).astype(np.uint8)
    m = np.zeros((200, 200), np.uint8)
    cv2.ellipse(m, (100, 130), (60, 40), 0, 0, 360, 255, -1)
    ratio, width = sharpness(skin, m)
    assert 0.8 < ratio < 1.25 and 115 <= width <= 125
    soft = skin.copy()
    soft[m > 0] = cv2.GaussianBlur(skin, (0, 0), 3)[m > 0]
    assert sharpness(soft, m)[0] < 0.3


def test_the_skin_above_a_mask_worn_up_to_the_eyes_leaves_the_eyes_out():
    """A mask worn high has the eyes in the band just above it: their lids and lashes outdo any
    skin's detail and darken its tone. Left out (`eye_regions` around the face's eye points), the
    band is skin again and a fill as textured and as bright as that skin measures so."""
    from app.grain import eye_regions
    from benchmarks.real_photos import sharpness, tone_gap

    rng = np.random.default_rng(0)
    skin = np.clip(np.array([190, 150, 130]) + rng.normal(0, 6, (200, 200, 3)), 0, 255).astype(np.uint8)
    m = np.zeros((200, 200), np.uint8)
    cv2.ellipse(m, (100, 130), (60, 40), 0, 0, 360, 255, -1)  # its top edge at row 90
    points5 = np.array([[75, 82], [125, 82], [100, 115], [85, 140], [115, 140]], np.float32)
    face = skin.copy()
    for x in (75, 125):  # shaded lids and dark lashes and irises just above the mask
        cv2.ellipse(face, (x, 82), (16, 8), 0, 0, 360, (120, 90, 80), -1)
        cv2.ellipse(face, (x, 82), (12, 4), 0, 0, 360, (30, 25, 20), 1)
        cv2.circle(face, (x, 82), 4, (30, 25, 20), -1)
    eyes = eye_regions(points5, m.shape)
    assert eyes[82, 75] and eyes[82, 125] and not eyes[82, 100] and not eyes[130, 100]
    ratio_all, _ = sharpness(face, m)
    ratio_skin, _ = sharpness(face, m, eyes)
    assert ratio_all < 0.6 and 0.8 < ratio_skin < 1.25
    d_all, d_skin = tone_gap(face, m)[0], tone_gap(face, m, eyes)[0]
    assert d_skin < 1.0 and d_all > 10


def test_a_face_counts_as_found_only_where_a_box_is_framed_on_it():
    """The benchmark's detection and filled counts: a box of about the labelled face's size on it
    counts; a box on the eyes of that face (found_in, but a third of its size) does not, nor does
    one of twice its size; a box beside it is not even found_in."""
    from benchmarks.real_photos import found_in, framed_on

    label = [243, 85, 308, 147]  # a masked man's face under a cap (facemaskdetection, held out)
    assert framed_on([240, 80, 312, 152], label)
    eyes = [248, 80, 275, 117]  # what both detectors once agreed on there
    assert found_in(eyes, label) and not framed_on(eyes, label)
    assert not framed_on([210, 50, 345, 185], label)
    assert not found_in([320, 85, 380, 147], label)


def test_tone_gap_measures_a_pale_or_tinted_fill():
    from benchmarks.real_photos import tone_gap

    rng = np.random.default_rng(0)
    skin = np.clip(np.array([190, 150, 130]) + rng.normal(0, 4, (200, 200, 3)), 0, 255).astype(np.uint8)
    m = np.zeros((200, 200), np.uint8)
    cv2.ellipse(m, (100, 130), (60, 40), 0, 0, 360, 255, -1)
    d_l, d_ab = tone_gap(skin, m)
    assert d_l < 1.0 and d_ab < 1.0  # the same skin either side of the mask's top edge
    lab = cv2.cvtColor(skin.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    off = lab + np.float32([12, 0, 6])  # the fill paler and yellower
    pale = skin.copy()
    pale[m > 0] = np.clip(np.round(cv2.cvtColor(off, cv2.COLOR_Lab2RGB) * 255), 0, 255).astype(np.uint8)[m > 0]
    d_l, d_ab = tone_gap(pale, m)
    assert 10 < d_l < 14 and 4.5 < d_ab < 7.5
    assert tone_gap(skin, np.zeros_like(m)) is None  # no fill, nothing to measure


def test_benchmark_runs_the_app_path_and_writes_its_report(tmp_path):
    need_shared()
    from benchmarks.real_photos import main

    assert main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["untouched"]["photos"] == 12 and 0 <= m["untouched"]["untouched_rate"] <= 1
    assert m["segmentation"]["part"] == "holdout" and m["segmentation"]["CWM"]["photos"] > 0
    assert m["rmfd"]["photos"] == 6 and set(m["sharpness"]) == {"<64 px", "64-90 px", ">=90 px"}
    assert "MaskedFace-Net Dice" in (tmp_path / "report.md").read_text()
    for name in m["sheets"]:
        img = cv2.imread(str(tmp_path / name))
        assert img is not None and img.shape[1] == 1800
    # Each filled face's measures, keyed by photo and box, for benchmarks.compare_real.
    fills = json.loads((tmp_path / "fills.json").read_text())
    assert fills and len({f["key"] for f in fills}) == len(fills)
    assert all("@" in f["key"] and f["set"] in ("facemaskdetection", "maskedfacenet", "rmfd") for f in fills)
    assert sum("sharpness" in f for f in fills) == sum(v["faces"] for v in m["sharpness"].values())


def test_two_benchmark_runs_compared_face_by_face(tmp_path, capsys):
    """benchmarks.compare_real pairs two runs' fills: a run against itself differs nowhere; a run
    whose fills are all twice as sharp and one CIELAB unit further in tone is B better in sharpness
    (log2 ratio 1 exactly) and A better in tone; runs with no face in common are an error."""
    from benchmarks.compare_real import compare, main

    rng = np.random.default_rng(0)
    rows = [{"key": f"p{i}.jpg@0,0,{w},{w}", "set": "rmfd", "width": float(w), "sharpness": float(s),
             "dL": float(t), "dab": float(t / 2)}
            for i, (w, s, t) in enumerate(zip(rng.uniform(30, 200, 60), rng.uniform(0.5, 2, 60), rng.uniform(1, 9, 60)))]
    for name, rs in (("a", rows), ("b", [dict(r, sharpness=2 * r["sharpness"], dL=r["dL"] + 1) for r in rows]),
                     ("other", [dict(r, key="x" + r["key"]) for r in rows])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "fills.json").write_text(json.dumps(rs))
    same = compare(tmp_path / "a", tmp_path / "a")
    assert same["paired"] == 60
    assert all(r is None or (r["mean_diff"] == 0 and not r["differs"])
               for by in same["measures"].values() for r in by.values())
    c = compare(tmp_path / "a", tmp_path / "b")
    assert c["measures"]["sharpness"]["all"]["mean_diff"] == pytest.approx(1.0)
    assert c["measures"]["sharpness"]["all"]["differs"] and c["measures"]["dL"]["all"]["differs"]
    assert c["measures"]["dab"]["all"]["mean_diff"] == 0
    assert sum(r["faces"] for n, r in c["measures"]["sharpness"].items() if n != "all") == 60
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c.md")]) == 0
    text = (tmp_path / "c.md").read_text()
    assert "| fill sharpness / skin above, eyes left out | all | 60 |" in text and "B better" in text
    assert "A better" in text  # the tone gap grew
    assert main([str(tmp_path / "a"), str(tmp_path / "other")]) == 1
    with pytest.raises(SystemExit, match="not found"):
        compare(tmp_path / "a", tmp_path / "missing")


def test_calibration_puts_the_threshold_between_unmasked_and_masked_faces():
    from benchmarks.real_photos import calibrate

    rng = np.random.default_rng(0)
    # Unmasked faces: mostly no map at all, some unsure blobs; masked faces: sure maps, one missed.
    neg = [{"truth": "no_mask", "coverage": 0.0, "confidence": 0.0}] * 400 + \
          [{"truth": "without_mask", "coverage": c, "confidence": p}
           for c, p in zip(rng.uniform(0.02, 0.09, 10), rng.uniform(0.6, 0.88, 10))]
    pos = [{"truth": "IWM", "coverage": c, "confidence": p}
           for c, p in zip(rng.uniform(0.03, 0.3, 300), rng.uniform(0.94, 1.0, 300))]
    pos.append({"truth": "CWM", "coverage": 0.0, "confidence": 0.0})
    c = calibrate(neg + pos)
    t = c["chosen"]["threshold"]
    assert 0.88 <= t <= 0.94 and c["chosen"]["negatives_untouched"] == 1.0
    assert c["chosen"]["positives_filled"] == pytest.approx(300 / 301)
    # The coverage floor: half the smallest map of a masked face the threshold fills, to 0.005.
    smallest = min(p["coverage"] for p in pos if p["coverage"] > 0)
    assert c["smallest_filled_mask_coverage"] == pytest.approx(smallest)
    assert c["min_mask_fraction"] == pytest.approx(np.floor(smallest / 2 / 0.005) * 0.005)
    assert 0 < c["min_mask_fraction"] <= smallest / 2


def test_real_scene_rows_follow_the_labels_and_skip_the_held_out_half(tmp_path, tiny_models, finder):
    """RMFD faces are positives (labelled by the given segmenter), facemaskdetection's boxes say
    which faces are masked, its unmasked people get empty maps, and no held-out photo is read."""
    from app.inference.engine import Unmasker
    from training.segdata import real_scene_rows
    from training.split import load_real_split

    root = tmp_path / "real_masked"
    (root / "rmfd" / "0000").mkdir(parents=True)
    (root / "rmfd" / "0000" / "tune_photo.jpg").write_bytes(EXAMPLE.read_bytes())
    held = sorted(load_real_split()["rmfd"])[0]
    (root / "rmfd" / held).parent.mkdir(parents=True, exist_ok=True)
    (root / "rmfd" / held).write_bytes(EXAMPLE.read_bytes())
    two = EXAMPLE.with_name("two_faces_one_masked.jpg")
    (root / "facemaskdetection" / "images").mkdir(parents=True)
    (root / "facemaskdetection" / "annotations").mkdir(parents=True)
    (root / "facemaskdetection" / "images" / "scene.jpg").write_bytes(two.read_bytes())
    boxes = [("with_mask", (0, 0, 512, 512)), ("without_mask", (512, 0, 1024, 512))]
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in boxes)
    (root / "facemaskdetection" / "annotations" / "scene.xml").write_text(f"<annotation>{objs}</annotation>")
    labeller = Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")
    rows = real_scene_rows(root, labeller, 64, 0, variants=2)
    kinds = [k for _, _, k in rows]
    assert kinds.count("real_masked") == 4 and kinds.count("real_unmasked") == 2  # not 6 masked: held out
    assert all(m.any() for _, m, k in rows if k == "real_masked")
    assert not any(m.any() for _, m, k in rows if k == "real_unmasked")


def test_the_reference_measures_a_real_lower_face_and_drops_when_it_is_blurred(finder, tmp_path):
    """The benchmark's reference: an unmasked face's own nose, mouth and chin (inside a drawn
    mask's outline), against its skin above, by the fill's measures; blurring that lower face, as
    a soft fill is, drops its sharpness."""
    from benchmarks.real_photos import REFERENCE_MASK, Bench, natural_reference
    from training.masks import mask_polygon

    photos = _validation_photos(2)
    b = Bench(engine=None, finder=finder, out=tmp_path)
    soft = Bench(engine=None, finder=finder, out=tmp_path)
    for p in photos:
        px = read_photo(p).pixels
        faces = finder.detect(px)
        natural_reference(b, px, faces)
        blurred = px.copy()
        for f in faces:
            m = np.zeros(px.shape[:2], np.uint8)
            cv2.fillPoly(m, [np.round(mask_polygon(f.points68, REFERENCE_MASK)).astype(np.int32)], 255)
            blurred[m > 0] = cv2.GaussianBlur(px, (0, 0), 2.5)[m > 0]
        natural_reference(soft, blurred, faces)
    assert len(b.natural_sharp) >= 3 and len(b.natural_tones) >= 3
    sharp, blurred_sharp = np.median([s[0] for s in b.natural_sharp]), np.median([s[0] for s in soft.natural_sharp])
    assert 0.4 < sharp < 2.0 and blurred_sharp < 0.5 * sharp
    assert all(0 <= d_l < 30 and 0 <= d_ab < 20 for d_l, d_ab, _ in b.natural_tones)
    # each face measured twice: against the skin less the eyes, and the whole band
    assert sorted({t[2] for t in b.natural_tones}) == ["", "with_eyes"]
