"""Train the face verifier (app/inference/verifier.py): the second opinion on weak BlazeFace boxes.

    python -m training.verifier --out runs/verifier [--data ../shared/data] [--threads 1]

Data, all from the tuning parts of the real sets (training/real_split.json; the held-out parts
are never read):
- faces: every labelled face of facemaskdetection's tuning scenes (masked, unmasked, worn
  wrongly) of MIN_SIDE px and over, cropped around its label box (and, for training, three times
  with the box jittered) and around each BlazeFace box framed on it (scores down to 0.05);
  MaskedFace-Net's tuning faces, shrunk to scene sizes and cropped around BlazeFace's box.
- not faces: BlazeFace's boxes (scores 0.05 and over) on the face-free part of each scene (the
  benchmark's `background_crop`) and elsewhere in the scene, clear of the faces or beside and on
  them but not framed on one (half a face, an ear, the back of a head); random squares of the
  face-free part.
A part of the scenes (`is_calibration_scene`: 128 of 288) is kept out of training to choose the threshold: just over the
highest probability of any not-a-face box there that the finder would ask about (BlazeFace's
score from CONFIRM_BLAZE_THRESHOLD to under its threshold), so it adds no false face there.
Writes OUT/verifier.safetensors and its card, OUT/data.npz, OUT/log.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAINED_ON = ("facemaskdetection's tuning scenes but those kept to choose the threshold (160 of 288; "
              "the other 128 chose it) and MaskedFace-Net's tuning faces; the held-out parts were never read")
MIN_SIDE = 20  # labelled faces under this (px) are too small to learn from


def _jitter(box: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    side = max(box[2] - box[0], box[3] - box[1])
    s = np.exp(rng.uniform(-amount, amount))
    cx, cy = (box[0] + box[2]) / 2 + rng.uniform(-amount, amount) * side, (box[1] + box[3]) / 2 + rng.uniform(-amount, amount) * side
    w, h = (box[2] - box[0]) * s, (box[3] - box[1]) * s
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def is_calibration_scene(name: str) -> bool:
    """The tuning scenes kept out of training, to choose the threshold: by a hash of the name
    (128 of facemaskdetection's 288 tuning scenes)."""
    return zlib.crc32(f"verifier:{name}".encode()) % 4 == 0


def collect(data: Path, limit: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """Crops (N, SIZE, SIZE, 3), labels (1 face, 0 not), BlazeFace score (-1 for a jittered
    label box or a random square), calibration flag, and the kind of each crop."""
    from app.faces import BLAZE_THRESHOLD, BlazeMtcnnFinder, _eyes_level, _iou, box_from_blaze
    from app.imageio import read_photo
    from app.inference.verifier import crop_around
    from benchmarks.real_photos import background_crop, framed_on, grown_box, labelled_scenes
    from training.split import real_part

    rng = np.random.default_rng(seed)
    finder = BlazeMtcnnFinder()
    crops, labels, scores, calib, kinds = [], [], [], [], []

    def add(img, box, label, score, cal, kind):
        crops.append(crop_around(img, box))
        labels.append(label)
        scores.append(score)
        calib.append(cal)
        kinds.append(kind)

    def candidates(img):
        small, scale = finder._search_copy(img)
        out = []
        for b, s, p in zip(*finder.blaze.detect(small, 0.05)):
            if _eyes_level(p):
                out.append((box_from_blaze(b / scale), float(s)))
        return out

    scenes = labelled_scenes(data, "tune", limit)
    t = time.perf_counter()
    for n, (path, labelled) in enumerate(scenes):
        img = read_photo(path).pixels
        cal = is_calibration_scene(path.name)
        for label, box in labelled:
            if min(box[2] - box[0], box[3] - box[1]) < MIN_SIDE:
                continue
            kind = "unmasked" if label == "without_mask" else "masked"
            add(img, box, 1, -1.0, cal, kind + "_label")
            if not cal:
                for _ in range(3):
                    add(img, _jitter(box, rng, 0.12), 1, -1.0, cal, kind + "_label")
        grown = [grown_box(lb) for _, lb in labelled]
        for box, s in candidates(img):
            if min(box[2] - box[0], box[3] - box[1]) < MIN_SIDE:
                continue
            on = [(lab, lb) for lab, lb in labelled if framed_on(box, lb)]
            if on:
                add(img, box, 1, s, cal, ("unmasked" if on[0][0] == "without_mask" else "masked") + "_box")
            elif s < BLAZE_THRESHOLD:  # (the labels miss a few faces in crowds: sure boxes are left out)
                near = any(_iou(box, g) > 0 for g in grown)
                # beside or on a face but not framed on it: a part of it (half a face, a cheek),
                # an ear, the back of a head; a face framed there would be filled wrongly
                add(img, box, 0, s, cal, "near" if near else "outside")
        bg = background_crop(img, labelled)
        if bg is not None:
            bg = np.ascontiguousarray(bg)
            for box, s in candidates(bg):
                if min(box[2] - box[0], box[3] - box[1]) >= MIN_SIDE:
                    add(bg, box, 0, s, cal, "background")
            h, w = bg.shape[:2]
            for _ in range(8):
                side = rng.uniform(MIN_SIDE, min(h, w) / 1.2)
                x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
                add(bg, np.array([x, y, x + side, y + side], np.float32), 0, -1.0, cal, "background_random")
        if n % 25 == 0:
            log.info("scenes %d/%d, %d crops, %.0f s", n, len(scenes), len(crops), time.perf_counter() - t)

    # MaskedFace-Net's tuning faces, shrunk to the sizes faces have in scenes.
    root = data / "real_masked" / "maskedfacenet"
    files = [p for p in sorted(root.rglob("*.jpg")) if "images" in p.parts
             and real_part("maskedfacenet", p.relative_to(root).as_posix()) == "tune"][:limit * 2 or None]
    for path in files:
        img = read_photo(path).pixels
        k = rng.uniform(96, 480) / img.shape[0]  # FFHQ's framing: the face is about half the photo
        small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        found = sorted(candidates(small), key=lambda c: -c[1])
        if found and found[0][1] >= 0.3:
            add(small, found[0][0], 1, found[0][1], False, "maskedfacenet")
    log.info("collected %d crops (%d faces) in %.0f s", len(crops), sum(labels), time.perf_counter() - t)
    return {"crops": np.stack(crops), "labels": np.array(labels, np.int64), "scores": np.array(scores, np.float32),
            "calibration": np.array(calib, bool), "kinds": np.array(kinds)}


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror, brightness, contrast and a little noise on a batch of uint8 crops."""
    x = x.astype(np.float32)
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip, :, ::-1]
    gain = rng.uniform(0.7, 1.3, (len(x), 1, 1, 1))
    bias = rng.uniform(-25, 25, (len(x), 1, 1, 1))
    mean = x.mean((1, 2, 3), keepdims=True)
    x = (x - mean) * gain + mean + bias
    x += rng.normal(0, 1, x.shape) * rng.uniform(0, 6, (len(x), 1, 1, 1))
    return np.clip(x, 0, 255).astype(np.uint8)


def train(d: dict[str, np.ndarray], epochs: int = 30, batch: int = 64, seed: int = 0, threads: int = 1):
    """Train on the crops not kept for calibration; return the network (eval mode) and a log."""
    import torch

    from app.inference.verifier import FaceVerifierNet, to_tensor

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    tr = np.flatnonzero(~d["calibration"])
    x, y = d["crops"][tr], d["labels"][tr]
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        raise ValueError(f"nothing to learn from: {len(pos)} faces and {len(neg)} not-faces outside the "
                         "calibration scenes (use more scenes)")
    net = FaceVerifierNet()
    steps = epochs * max(1, len(tr) // batch)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    t, losses = time.perf_counter(), []
    net.train()
    for step in range(steps):
        # balanced batches: as many faces as not-faces
        idx = np.concatenate([rng.choice(pos, batch // 2), rng.choice(neg, batch // 2)])
        xb = to_tensor(_augment(x[idx], rng))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), torch.from_numpy(y[idx]).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 200 == 0:
            log.info("step %d/%d loss %.3f %.0f s", step, steps, np.mean(losses[-200:]), time.perf_counter() - t)
    net.eval()
    return net, {"steps": steps, "batch": batch, "epochs": epochs, "train_crops": int(len(tr)),
                 "train_faces": int(len(pos)), "seconds": round(time.perf_counter() - t),
                 "final_loss": round(float(np.mean(losses[-200:])), 4)}


def predict(net, crops: np.ndarray, batch: int = 256) -> np.ndarray:
    """The face probability of each crop."""
    import torch

    from app.inference.verifier import to_tensor

    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.append(torch.sigmoid(net(to_tensor(crops[i:i + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def calibrate(d: dict[str, np.ndarray], p: np.ndarray, low: float, high: float) -> dict:
    """The threshold: just over the highest probability of any not-a-face BlazeFace box of the
    calibration scenes scoring from `low` to under `high` (the boxes the finder asks it about);
    and how many of their faces, and of their labelled faces, it keeps."""
    cal = d["calibration"]
    boxes = cal & (d["scores"] >= low) & (d["scores"] < high)
    neg = boxes & (d["labels"] == 0)
    threshold = float(min(0.99, max([0.5, *(p[neg] + 1e-3)])))
    faces = boxes & (d["labels"] == 1)
    labels = cal & (d["scores"] < 0) & (d["labels"] == 1)
    return {"threshold": round(threshold, 4), "calibration_negatives": int(neg.sum()),
            "calibration_faces": int(faces.sum()), "faces_kept": int((p[faces] >= threshold).sum()),
            "labelled_faces": int(labels.sum()), "labelled_faces_kept": int((p[labels] >= threshold).sum())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=0, help="only this many scenes (a quick check)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from app.faces import BLAZE_THRESHOLD, CONFIRM_BLAZE_THRESHOLD
    from app.inference.verifier import SIZE
    from app.inference.weights import save_model

    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "data.npz"
    if cache.exists():
        d = dict(np.load(cache))
    else:
        d = collect(args.data, args.limit, args.seed)
        np.savez_compressed(cache, **d)
    net, info = train(d, args.epochs, seed=args.seed, threads=args.threads)
    p = predict(net, d["crops"])
    cal = calibrate(d, p, CONFIRM_BLAZE_THRESHOLD, BLAZE_THRESHOLD)
    info.update(cal)
    info["data"] = {k: int(v) for k, v in zip(*np.unique(d["kinds"], return_counts=True))}
    save_model(net, args.out / "verifier.safetensors", SIZE, threshold=cal["threshold"],
               trained_on=TRAINED_ON,
               training=info)
    (args.out / "log.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
