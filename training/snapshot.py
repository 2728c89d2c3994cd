"""The network of a training run in progress, as a model file the app and the benchmarks load.

    python -m training.snapshot --run runs/inpainter_blank_cpu --out runs/candidate

Reads the run's `config.json` and `last.pt` (written atomically by training.train, so a run may
go on meanwhile) and writes `<stage>.safetensors` with a card that says it is a snapshot: the
step, images seen and wall time so far. With `--pair-with DIR`, the other stage's model is copied
from DIR (default: the shipped models), so `--out` is a complete models folder for
`python -m benchmarks.real_photos --models` and `training.evaluate --models`. A generator trained
at a larger size than the paired models' is written as their large generator
(`inpainter_large.safetensors`, for the faces the photo shows large), beside both of theirs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from app.inference.engine import INPAINTER_FILE, LARGE_INPAINTER_FILE, SEGMENTER_FILE
from app.inference.registry import count_parameters, make_network
from app.inference.weights import card_path, read_card, save_model
from app.paths import models_dir
from training.config import TrainConfig


def snapshot(run: Path, out: Path, pair_with: Path | None = None) -> Path:
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    role = "segmenter" if cfg.stage == "segmenter" else "generator"
    net = make_network(role, cfg.architecture, cfg.network)
    net.load_state_dict(state["ema"] if "ema" in state else state["models"]["net"])  # cfg.ema: the average
    history = json.loads(state["history"])
    vals = [h for h in history if any(k.startswith("val_") for k in h)]
    step = state["step"]
    from training.train import PairData, describe_hardware

    try:
        pairs = PairData(cfg.data, cfg.size, "train").n
    except (OSError, ValueError, KeyError):  # the run's data is not on this machine
        pairs = None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # as the run had it, for the hardware line
    out.mkdir(parents=True, exist_ok=True)
    src = pair_with or models_dir()
    name = SEGMENTER_FILE if cfg.stage == "segmenter" else INPAINTER_FILE
    if name == INPAINTER_FILE and cfg.size > read_card(src / INPAINTER_FILE)["input_size"]:
        name = LARGE_INPAINTER_FILE
    save_model(net.eval(), out / name, cfg.size, trained=True, training={
        "run": cfg.name, "config": cfg.to_dict(), "steps": step, "snapshot": True,
        "note": f"snapshot of a run in progress at step {step} of {cfg.steps}",
        "images_seen": step * cfg.batch_size, "train_pairs": pairs,
        "epochs": round(step * cfg.batch_size / pairs, 2) if pairs else None,
        "hardware": describe_hardware(torch.device("cpu")) + " (where the snapshot was taken)",
        "wall_s": round(state.get("wall_s", 0.0), 1),
        "last_validation": vals[-1] if vals else None, "generator_parameters": count_parameters(net)})
    for other in (SEGMENTER_FILE, INPAINTER_FILE):
        if other != name and not (out / other).exists():
            shutil.copy2(src / other, out / other)
            shutil.copy2(card_path(src / other), card_path(out / other))
    return out / name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a training run's folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pair-with", type=Path, help="where the other stage's model comes from (default: shipped)")
    a = ap.parse_args(argv)
    print(snapshot(a.run, a.out, a.pair_with))
    return 0


if __name__ == "__main__":
    sys.exit(main())
