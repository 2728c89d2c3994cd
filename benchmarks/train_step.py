"""Where stage 2's training step spends its time, and what bf16 and channels_last give, measured
in one process on the same batches.

    python -m benchmarks.train_step [--config training/configs/inpainter_blank_cpu.json] [--steps 6]

Prints images per second for: the generator's forward and backward alone; the whole GAN step
(data, generator, discriminator, VGG19 perceptual loss) in fp32 as it was (the discriminator's
weight gradients computed in the generator's step too), with the discriminator frozen for the
generator's step, and that with bf16 autocast and channels_last; then each part's share.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from app.inference.registry import make_network
from training.config import load_config
from training.discriminator import DiscriminatorConfig, PatchDiscriminator
from training.losses import lsgan_d_loss, lsgan_g_loss, reconstruction_loss
from training.perceptual import PerceptualLoss
from training.train import PairData, batch_indices


def _timed(fn, steps: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("training/configs/inpainter_blank_cpu.json"))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    cfg = load_config(a.config)
    if a.threads:
        torch.set_num_threads(a.threads)
    data = PairData(cfg.data, cfg.size, "train")
    idx, flips = batch_indices(cfg, data.n, 0, 0)
    masked, m, target = data.batch(idx, flips)
    b = len(idx)
    dcfg = DiscriminatorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.discriminator.items()})
    per = PerceptualLoss(cfg.perceptual_layers, cfg.perceptual_size)
    results = {}
    parts: dict[str, float] = {}
    runs = (("fp32, discriminator not frozen (before)", False, False, False), ("fp32", False, False, True),
            ("bf16 + channels_last", True, True, True))
    for name, bf16, cl, freeze in runs:
        torch.manual_seed(0)
        gen = make_network("generator", cfg.architecture, cfg.network)
        disc = PatchDiscriminator(dcfg)
        fmt = torch.channels_last if cl else torch.contiguous_format
        gen, disc = gen.to(memory_format=fmt), disc.to(memory_format=fmt)
        x, mm, t = (v.contiguous(memory_format=fmt) for v in (masked, m, target))
        og, od = torch.optim.Adam(gen.parameters()), torch.optim.Adam(disc.parameters())

        def ac():
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

        def gen_only():
            og.zero_grad()
            with ac():
                out = gen(x, mm).float()
            reconstruction_loss(out, t).backward()
            og.step()

        def step(clock: dict | None = None):
            marks = [time.perf_counter()]

            def mark(key):
                marks.append(time.perf_counter())
                if clock is not None:
                    clock[key] = clock.get(key, 0.0) + marks[-1] - marks[-2]

            xb, mb, tb = (v.contiguous(memory_format=fmt) for v in data.batch(idx, flips))
            mark("data")
            with ac():
                fake = gen(xb, mb).float()
            mark("generator forward")
            for p in disc.parameters():
                p.requires_grad_(True)
            od.zero_grad()
            with ac():
                d = disc(torch.cat([tb, fake.detach()])).float()
            lsgan_d_loss(d[:b], d[b:]).backward()
            od.step()
            mark("discriminator step")
            for p in disc.parameters():
                p.requires_grad_(not freeze)
            og.zero_grad()
            with ac():
                adv = lsgan_g_loss(disc(fake).float())
            mark("discriminator on the fake")
            with ac():
                pl = per(fake, tb).float()
            mark("VGG19 perceptual")
            loss = adv + 100 * reconstruction_loss(fake, tb) + 10 * pl
            loss.backward()
            og.step()
            mark("generator backward + step")

        if freeze:
            results[f"generator alone, {name}"] = b / _timed(gen_only, a.steps)
        results[f"whole GAN step, {name}"] = b / _timed(step, a.steps)
        clock: dict[str, float] = {}
        for _ in range(a.steps):
            step(clock)
        parts[name] = clock
    print(f"{cfg.name}: batch {b} at {cfg.size} px, {torch.get_num_threads()} threads")
    for k, v in results.items():
        print(f"  {k:<40} {v:6.1f} images/s")
    for name, clock in parts.items():
        total = sum(clock.values())
        print(f"  share of the step, {name}: " + ", ".join(f"{k} {v / total:.0%}" for k, v in clock.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
