"""Where MTCNN puts its box and points relative to BlazeFace's, on faces both find: the constants
BLAZE_NOSE_SHIFT, BLAZE_MOUTH_CORNERS and BLAZE_BOX of app/faces.py.

    python -m benchmarks.blaze_calibration [--limit 400]

Unmasked faces (CelebA and UTKFace validation identities, so MTCNN's nose and mouth points are on
a real nose and mouth) are used; each face is measured in the frame of its eyes (origin mid-eye,
x along the eye line, y across it, one eye distance as the unit). Prints the medians.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from app.faces import BlazeFace, MtcnnDlibFinder, _eye_frame, _iou
from app.imageio import read_photo
from benchmarks.real_photos import DATA, unmasked_faces


def to_frame(points: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    o, ex, ey = _eye_frame(eyes)
    basis = np.stack([ex, ey], 1)  # columns
    return np.linalg.solve(basis, (points - o).T).T


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=200, help="photos per source")
    a = ap.parse_args(argv)
    mt, blaze = MtcnnDlibFinder(), BlazeFace(0.5)
    nose, corners, box = [], [], []
    for p in unmasked_faces(DATA / "faces", a.limit, second_half=True):
        rgb = read_photo(p).pixels
        small, scale = mt._search_copy(rgb)  # one copy for both detectors
        mb, mp, _ = mt._run_mtcnn(rgb, 0.7, (small, scale))
        bb, _, bp = blaze.detect(small)
        bb, bp = bb / scale, bp / scale
        for m_box, m_pts in zip(mb, mp):
            ious = [_iou(m_box, b) for b in bb]
            if not ious or max(ious) < 0.4:
                continue
            k = int(np.argmax(ious))
            eyes = bp[k][:2].astype(np.float64)
            if abs(eyes[1, 0] - eyes[0, 0]) < 4:
                continue
            nose.append(to_frame(m_pts[2:3], eyes)[0] - to_frame(bp[k][2:3], eyes)[0])
            corners.append(to_frame(m_pts[3:5], eyes) - to_frame(bp[k][3:4], eyes))
            w, h = bb[k][2] - bb[k][0], bb[k][3] - bb[k][1]
            box.append([((m_box[0] + m_box[2]) - (bb[k][0] + bb[k][2])) / 2 / w,
                        ((m_box[1] + m_box[3]) - (bb[k][1] + bb[k][3])) / 2 / h,
                        (m_box[2] - m_box[0]) / w, (m_box[3] - m_box[1]) / h])
    out = {"faces": len(box), "BLAZE_NOSE_SHIFT": np.median(nose, 0).round(3).tolist(),
           "BLAZE_MOUTH_CORNERS": np.median(corners, 0).round(3).tolist(),
           "BLAZE_BOX": np.median(box, 0).round(3).tolist(),
           "spread_iqr": {"nose": np.subtract(*np.percentile(nose, [75, 25], 0)).round(3).tolist(),
                          "box": np.subtract(*np.percentile(box, [75, 25], 0)).round(3).tolist()}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
