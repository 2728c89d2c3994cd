"""Install a trained pair of models as the app's default, with complete model cards.

    python -m training.ship --segmenter runs/segmenter_cpu/segmenter.safetensors \
        --inpainter runs/inpainter_cpu/inpainter.safetensors --to resources/models
    python -m training.evaluate --faces ../shared/data/faces --only-validation --out runs/eval
    python -m training.ship --metrics runs/eval/metrics.json --to resources/models

The first call copies the weights and their training cards; the second adds the evaluation's
figures to both cards. The weights file is never changed, so its sha256 stays valid.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from app.fileutil import atomic_write_bytes
from app.inference.engine import INPAINTER_FILE, SEGMENTER_FILE
from app.inference.weights import card_path, load_model, read_card
from training.split import SPLIT_FILE

LICENCE = ("Weights derived from CelebA and UTKFace photographs, which are licensed for non-commercial "
           "research only: these weights are for non-commercial research use. The code is MIT.")
DATA = {
    "faces": "CelebA img_align_celeba identities 0-169 (5,100 photos) and UTKFace aligned-cropped "
             "(9,000 photos), ../shared/data/faces",
    "masks": "MaskTheFace templates (21, warped by six anchors, recoloured or textured) and procedural "
             "surgical masks from the 68 landmarks; training/pairs.py",
    "split": f"by identity, {SPLIT_FILE.name} (every tenth CelebA identity and a tenth of UTKFace are validation)",
}


def _write_card(path: Path, card: dict) -> None:
    atomic_write_bytes(card_path(path), (json.dumps(card, indent=2) + "\n").encode())


def install(src: Path, dest: Path, role: str) -> dict:
    load_model(src, role=role)  # refuses a file whose card or hash does not match
    card = read_card(src)
    if card.get("trained") is not True:
        raise SystemExit(f"{src}: the card does not say the model was trained; not shipping it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".safetensors.part")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    card.update({"file": dest.name, "data": DATA, "licence": LICENCE})
    _write_card(dest, card)
    return card


def add_metrics(models: Path, metrics_path: Path) -> None:
    m = json.loads(metrics_path.read_text())
    common = {"evaluated_on": f"{m['n_images']} faces from {m['faces']}" +
              (" (validation identities only)" if m.get("only_validation") else ""),
              "size": m["size"], "seed": m["seed"]}
    seg_metrics = {**common, "synthetic": m["segmentation"], "maskedfacenet": m.get("maskedfacenet")}
    inp_metrics = {**common, **{k: m[k] for k in ("ours", "ours_true_map", "telea", "ns")},
                   "papers_at_256": {"psnr": 31.3, "ssim": 0.957}, "model": m["model"]}
    for name, metrics in ((SEGMENTER_FILE, seg_metrics), (INPAINTER_FILE, inp_metrics)):
        path = models / name
        card = read_card(path)
        card["metrics"] = metrics
        _write_card(path, card)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segmenter", type=Path)
    ap.add_argument("--inpainter", type=Path)
    ap.add_argument("--metrics", type=Path)
    ap.add_argument("--to", type=Path, required=True)
    args = ap.parse_args(argv)
    if not (args.segmenter or args.inpainter or args.metrics):
        ap.error("nothing to do: pass --segmenter/--inpainter and/or --metrics")
    if args.segmenter:
        install(args.segmenter, args.to / SEGMENTER_FILE, "segmenter")
    if args.inpainter:
        install(args.inpainter, args.to / INPAINTER_FILE, "generator")
    if args.metrics:
        add_metrics(args.to, args.metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
