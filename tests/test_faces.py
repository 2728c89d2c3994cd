"""Face finding on real masked photos (../shared/data/real_masked) and on the shipped example."""
import numpy as np
import pytest

from app.errors import FaceError
from app.faces import FanFinder, fan_weights_dir, make_face_finder
from app.imageio import read_photo

from .conftest import EXAMPLE


def test_example_face_and_landmarks(finder):
    photo = read_photo(EXAMPLE)
    faces = finder.detect(photo.pixels)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.9 and f.points68.shape == (68, 2)
    left_eye, right_eye = f.points5[0], f.points5[1]
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 0.1 * f.width
    # jaw, chin and nose bridge points sit where a face has them
    chin, bridge = f.points68[8], f.points68[27]
    assert chin[1] > f.points5[3][1] > bridge[1]
    assert f.box[0] - 10 < f.points68[0][0] < f.points68[16][0] < f.box[2] + 10


def test_detection_on_real_masked_photos(rmfd_photos, finder):
    # Every 40th photo of the real-world masked face set: a fixed, spread-out sample.
    sample = rmfd_photos[::40]
    found = 0
    for path in sample:
        faces = finder.detect(read_photo(path).pixels)
        found += bool(faces)
        for f in faces:
            assert np.isfinite(f.points68).all() and f.width >= 40
    rate = found / len(sample)
    print(f"masked faces found in {found}/{len(sample)} real photos ({rate:.0%})")
    assert rate >= 0.45  # RMFD photos are at most 256 px; many faces are under the 40 px floor


def test_face_box_given_by_hand(finder):
    photo = read_photo(EXAMPLE)
    auto = finder.detect(photo.pixels)[0]
    x0, y0, x1, y1 = auto.box
    face = finder.face_in_box(photo.pixels, (x0 - 8, y0 - 5, x1 + 6, y1 + 9))
    assert face.manual
    assert np.abs(face.points5[:2] - auto.points5[:2]).max() < 0.08 * auto.width
    with pytest.raises(FaceError, match="too small or outside"):
        finder.face_in_box(photo.pixels, (5000, 5000, 5100, 5100))


def test_no_face_in_a_blank_photo(finder):
    assert finder.detect(np.full((300, 400, 3), 180, np.uint8)) == []


def test_tiny_faces_are_skipped(finder, caplog):
    import logging

    photo = read_photo(EXAMPLE)
    small = photo.pixels[::4, ::4].copy()  # the face becomes ~25 px
    with caplog.at_level(logging.INFO, logger="app.faces"):
        assert finder.detect(small) == []
    assert "under 40 px" in caplog.text  # skipped with a reason


def test_fan_engine_without_weights_says_so():
    if fan_weights_dir() is not None:
        pytest.skip("FAN weights are installed on this machine")
    with pytest.raises(FaceError, match="weights are not on this computer"):
        FanFinder()
    assert make_face_finder("auto").name == "mtcnn"
    with pytest.raises(FaceError, match="unknown face engine"):
        make_face_finder("haar")


def test_no_face_is_said_in_one_place_with_the_real_size_limit():
    from app.faces import MtcnnDlibFinder
    from app.pipeline import NoFaceFound, find_faces, unmask_photo

    sky = np.full((200, 300, 3), (90, 140, 200), np.uint8)
    finder = MtcnnDlibFinder(min_face=55)
    assert find_faces(sky, finder) == []
    with pytest.raises(NoFaceFound, match="faces under 55 px are skipped"):
        find_faces(sky, finder, required=True)
    result = unmask_photo(sky, finder, engine=None)  # (no face: the engine is never asked)
    assert np.array_equal(result.pixels, sky) and result.faces == []
