"""Install a trained pair of models as the app's default, with complete model cards.

    python -m training.ship --segmenter runs/segmenter_cpu/segmenter.safetensors \
        --inpainter runs/inpainter_cpu/inpainter.safetensors --to resources/models
    python -m training.evaluate --faces ../shared/data/faces --only-validation --out runs/eval
    python -m training.ship --metrics runs/eval/metrics.json --to resources/models
    python -m benchmarks.real_photos --out runs/real
    python -m training.ship --real-metrics runs/real/metrics.json --to resources/models

The first call copies the weights and their training cards; the second adds the evaluation's
figures to both cards, the third the real-photo benchmark's. The weights file is never changed, so
its sha256 stays valid. A model fine-tuned from another (its config's `init`) keeps that model's
training record in its card, so the card says everything the weights went through.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from app.fileutil import atomic_write_bytes
from app.inference.engine import INPAINTER_FILE, LARGE_INPAINTER_FILE, SEGMENTER_FILE
from app.inference.weights import card_path, load_model, read_card
from training.split import REAL_SPLIT_FILE, SPLIT_FILE

LICENCE = ("Weights derived from CelebA and UTKFace photographs, which are licensed for non-commercial "
           "research only: these weights are for non-commercial research use. The code is MIT.")
DATA = {
    "faces": "CelebA img_align_celeba identities 0-169 (5,100 photos) and UTKFace aligned-cropped "
             "(9,000 photos), ../shared/data/faces",
    "masks": "MaskTheFace templates (21, warped by six anchors, recoloured or textured) and procedural "
             "surgical masks from the 68 landmarks; training/pairs.py",
    "split": f"by identity, {SPLIT_FILE.name} (every tenth CelebA identity and a tenth of UTKFace are validation)",
}
SEGMENTER_DATA = {
    **DATA,
    "masks": "training/segdata.py: 30 % faces with no mask (empty map); 38 % MaskTheFace templates or "
             "procedural masks worn over or under the nose; 12 % masks pulled down to the chin or the neck "
             "(mouth visible, map only on the fabric); 6 % two masks worn one over the other; 14 % masks with "
             "a trim, an exhalation valve or a clear window; plus MaskedFace-Net's tuning half (real label "
             "maps, 6 jittered alignments per photo) and, in the last run, real faces from the tuning halves "
             "of RMFD and facemaskdetection (masked ones mapped by the first release's segmenter, unmasked "
             "ones with empty maps, 6 jittered alignments each)",
    "real_split": f"{REAL_SPLIT_FILE.name}: half of MaskedFace-Net, facemaskdetection and RMFD is held out of "
                  "training and calibration; the real-photo benchmark reports that half",
}


def _write_card(path: Path, card: dict) -> None:
    atomic_write_bytes(card_path(path), (json.dumps(card, indent=2) + "\n").encode())


def _lineage(card: dict, depth: int = 0) -> dict | None:
    """The training record of the weights a run started from (its config's `init`), and of the
    ones those started from, and so on: everything the shipped weights went through."""
    init = card.get("training", {}).get("config", {}).get("init")
    if not init or depth > 8:
        return None
    start = read_card(Path(init))
    earlier = start.get("training", {}).get("fine_tuned_from") or _lineage(start, depth + 1)
    training = {k: v for k, v in start.get("training", {}).items() if k != "fine_tuned_from"}
    return {"file": str(init), "sha256": start.get("sha256"), "training": training, "fine_tuned_from": earlier}


def install(src: Path, dest: Path, role: str) -> dict:
    load_model(src, role=role)  # refuses a file whose card or hash does not match
    card = read_card(src)
    if card.get("trained") is not True:
        raise SystemExit(f"{src}: the card does not say the model was trained; not shipping it")
    lineage = _lineage(card)  # read before dest (often where the chain starts) is replaced
    if lineage:
        card["training"]["fine_tuned_from"] = lineage
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".safetensors.part")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    card.update({"file": dest.name, "data": SEGMENTER_DATA if role == "segmenter" else DATA, "licence": LICENCE})
    _write_card(dest, card)
    return card


def add_metrics(models: Path, metrics_path: Path) -> None:
    m = json.loads(metrics_path.read_text())
    common = {"evaluated_on": f"{m['n_images']} faces from {m['faces']}" +
              (" (validation identities only)" if m.get("only_validation") else ""),
              "size": m["size"], "seed": m["seed"]}
    seg_metrics = {**common, "synthetic": m["segmentation"], "maskedfacenet": m.get("maskedfacenet"),
                   "maskedfacenet_note": "all of MaskedFace-Net, on the aligned crop; its tuning half is in stage 1's "
                                         "training data: metrics.real_photos scores the held-out half alone"}
    inp_metrics = {**common, **{k: m[k] for k in ("ours", "ours_no_margin", "ours_true_map", "telea", "ns", "ours_enlarged") if k in m},
                   "papers_at_256": {"psnr": 31.3, "ssim": 0.957}, "model": m["model"]}
    large = models / LARGE_INPAINTER_FILE
    if large.exists() and m["size"] == read_card(large)["input_size"]:
        # An evaluation at the large generator's size is that generator's (stage 1 has its own at its size).
        card = read_card(large)
        card["metrics"] = inp_metrics
        _write_card(large, card)
        return
    for name, metrics in ((SEGMENTER_FILE, seg_metrics), (INPAINTER_FILE, inp_metrics)):
        path = models / name
        card = read_card(path)
        card["metrics"] = metrics
        _write_card(path, card)


def add_real_metrics(models: Path, metrics_path: Path) -> None:
    """The real-photo benchmark's figures, in both cards (stage 1 decides what is filled, stage 2
    how it looks)."""
    m = json.loads(metrics_path.read_text())
    sc = m["scenes"]
    real = {
        "command": m["command"],
        "face_engine": m.get("face_engine", "mtcnn"),
        "unmasked_photos_untouched": m["untouched"]["untouched_rate"],
        "unmasked_photos": m["untouched"]["photos"],
        "scenes_unmasked_people_32px_untouched": sc["unmasked_people_untouched_32px_and_over"],
        "maskedfacenet_dice_cwm": m["segmentation"]["CWM"]["dice"],
        "maskedfacenet_dice_iwm": m["segmentation"]["IWM"]["dice"],
        "scenes_masked_filled": {k: v["rate"] for k, v in sc["by_label_and_size"]["with_mask"].items()},
        "rmfd": {k: m["rmfd"][k] for k in ("photos", "faces_found", "faces_filled", "faces_judged_no_mask")},
        "fill_sharpness": {k: v["median_ratio"] for k, v in m["sharpness"].items()},
        "part": sc["part"],
    }
    if "with_eyes" in m:  # measured since the skin band leaves the eyes out; the whole band's figures beside
        real["fill_sharpness_measure"] = "fill over the skin band above the mask, the eyes left out"
        real["fill_sharpness_band_with_eyes"] = {k: v["median_ratio"] for k, v in m["with_eyes"]["sharpness"].items()}
    for name in (SEGMENTER_FILE, INPAINTER_FILE, LARGE_INPAINTER_FILE):
        path = models / name
        if not path.exists():
            continue
        card = read_card(path)
        card.setdefault("metrics", {})["real_photos"] = real
        _write_card(path, card)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segmenter", type=Path)
    ap.add_argument("--inpainter", type=Path)
    ap.add_argument("--large-inpainter", type=Path, help="a generator at a larger size, for large faces")
    ap.add_argument("--metrics", type=Path)
    ap.add_argument("--real-metrics", type=Path, help="the real-photo benchmark's metrics.json")
    ap.add_argument("--to", type=Path, required=True)
    args = ap.parse_args(argv)
    if not (args.segmenter or args.inpainter or args.large_inpainter or args.metrics or args.real_metrics):
        ap.error("nothing to do: pass --segmenter/--inpainter/--large-inpainter and/or --metrics")
    if args.segmenter:
        install(args.segmenter, args.to / SEGMENTER_FILE, "segmenter")
    if args.inpainter:
        install(args.inpainter, args.to / INPAINTER_FILE, "generator")
    if args.large_inpainter:
        install(args.large_inpainter, args.to / LARGE_INPAINTER_FILE, "generator")
    if args.metrics:
        add_metrics(args.to, args.metrics)
    if args.real_metrics:
        add_real_metrics(args.to, args.real_metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
