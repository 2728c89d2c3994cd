"""Train stage 1 (M-Seg) or stage 2 (GANMasker / CARU2-Net generator with its discriminator).

    python -m training.train --config training/configs/segmenter_cpu.json [--out runs] [--steps N] [--seed S]
    torchrun --nproc_per_node 4 -m training.train --config training/configs/inpainter_paper.json

The run lives in `<out>/<name>/`: `config.json` (the full config), `last.pt` (models, optimizers,
schedulers, step and loss history, rewritten atomically every `checkpoint_every` steps; a rerun
resumes from it), `history.json`, `loss_curves.png`, and at the end `<stage>.safetensors` with its
model card. Under torchrun every process trains on its own batches (DistributedDataParallel, NCCL
on GPUs, gloo on CPUs); process 0 writes the files.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from app.fileutil import atomic_write_bytes
from app.inference.registry import count_parameters, make_network
from app.inference.weights import save_model
from training.config import TrainConfig, load_config
from training.discriminator import DiscriminatorConfig, PatchDiscriminator
from training.evaluate import detail_ratio
from training.losses import (dice_coefficient, lsgan_d_loss, lsgan_g_loss, reconstruction_loss,
                             segmentation_loss)
from training.plot import plot_curves


class PairData:
    """The arrays written by training.pairs, memory-mapped."""

    def __init__(self, root: str | Path, size: int, split: str) -> None:
        d = Path(root) / str(size)
        try:
            self.masked = np.load(d / f"{split}_masked.npy", mmap_mode="r")
            self.map = np.load(d / f"{split}_map.npy", mmap_mode="r")
        except FileNotFoundError as e:
            raise SystemExit(f"no {split} pairs at {size} px in {d}: build them with python -m training.pairs "
                             f"(or training.segdata for stage 1) ({e})")
        # Stage 1's data (training.segdata) has no targets: the map is all it learns.
        t = d / f"{split}_target.npy"
        self.target = np.load(t, mmap_mode="r") if t.exists() else None
        self.n = len(self.masked)

    def batch(self, idx: np.ndarray, flips: np.ndarray | None = None):
        """(masked, map, target) tensors: images (B, 3, S, S) in [-1, 1], map (B, 1, S, S) {0, 1}."""
        idx = np.sort(idx)  # memmap reads in file order
        m, k = self.masked[idx], self.map[idx]
        t = self.target[idx] if self.target is not None else m
        if flips is not None and flips.any():
            t, m, k = t.copy(), m.copy(), k.copy()
            t[flips], m[flips], k[flips] = t[flips, :, ::-1], m[flips, :, ::-1], k[flips, :, ::-1]

        def img(a):
            return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

        return img(m), torch.from_numpy(np.ascontiguousarray(k))[:, None].float(), img(t)


def setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def batch_indices(cfg: TrainConfig, n: int, step: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The step's batch for this process: a function of (seed, step, rank) only, so a resumed run
    sees exactly the batches an uninterrupted one would."""
    rng = np.random.default_rng([cfg.seed, step, rank])
    idx = rng.choice(n, size=min(cfg.batch_size, n), replace=False)
    flips = rng.random(len(idx)) < 0.5 if cfg.flip else np.zeros(len(idx), bool)
    return idx, flips


def grow_radii(cfg: TrainConfig, n: int, step: int, rank: int) -> np.ndarray:
    """How far (px) each map of the step's batch is grown (`map_grow`): like the batch itself, a
    function of (seed, step, rank) only, so a resumed run grows the same maps."""
    lo, hi = cfg.map_grow
    if hi == 0:
        return np.zeros(n, int)
    return np.random.default_rng([cfg.seed, step, rank, 1]).integers(lo, hi + 1, size=n)


def grow_maps(m: torch.Tensor, radii: np.ndarray) -> torch.Tensor:
    """(B, 1, N, N) binary maps on the CPU, each grown by its radius in pixels by the app's own
    `app.pipeline.grow_px`, so training sees the app's grown maps exactly."""
    from app.pipeline import grow_px

    out = m.clone()
    for i, r in enumerate(int(v) for v in radii):
        if r:
            out[i, 0] = torch.from_numpy(grow_px(m[i, 0].numpy(), r)).to(m.dtype)
    return out


def lr_lambda(cfg: TrainConfig):
    """The rate's factor at a step. The milestones are read from cfg.steps at each call, so a run
    whose length is fitted to a time budget (`--time-budget`) cuts its rate at the same fractions."""
    return lambda step: cfg.lr_gamma ** sum(step >= int(f * cfg.steps) for f in cfg.lr_milestones)


# A time budget is fitted after this many steps of the invocation (the first few are slow: kernel
# choice, caches), from the rate measured over the steps since the first WARMUP_STEPS // 4.
WARMUP_STEPS = 40


class TimeBudget:
    """`seconds` for one invocation's training loop (--time-budget), from `start_step`."""

    def __init__(self, seconds: float, start_step: int, device: torch.device) -> None:
        self.seconds, self.start_step, self.device = seconds, start_step, device
        self.t0, self.t_warm, self.fitted, self.ran_out = time.time(), 0.0, False, False
        self.rate = 0.0

    def check(self, step: int, planned: int) -> tuple[int, bool]:
        """After `step`: the steps to plan the run for (fitted once, after the warm-up, never more
        than `planned`) and whether the time is spent."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # the step's kernels are done: the clock is honest
        now, done = time.time(), step - self.start_step
        if done == WARMUP_STEPS // 4:
            self.t_warm = now
        if not self.fitted and done >= WARMUP_STEPS:
            self.rate = (done - WARMUP_STEPS // 4) / max(now - self.t_warm, 1e-9)
            planned = max(step, min(planned, step + int(self.rate * max(self.seconds - (now - self.t0), 0.0))))
            self.fitted = True
        return planned, now - self.t0 > self.seconds


class Progress:
    """A one-line progress bar with the latest losses (a line per update when not on a terminal)."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.total, self.start, self.enabled = total, start, enabled
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, losses: dict[str, float]) -> None:
        if not self.enabled:
            return
        done = step - self.start
        rate = done / max(time.time() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        bar = "#" * int(30 * step / self.total)
        text = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        line = f"[{bar:<30}] {step}/{self.total} {rate:.2f} it/s eta {eta / 60:.1f} min {text}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def write_config(run: Path, cfg: TrainConfig) -> None:
    atomic_write_bytes(run / "config.json", (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())


def as_saved(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images mapped to 0-255 and rounded as they would be saved (still float)."""
    return x.add(1).mul(127.5).round().clamp(0, 255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image, on [-1, 1] images mapped to 0-255 and rounded as they would be saved."""
    mse = (as_saved(a) - as_saved(b)).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(255.0 ** 2 / mse)


def to_uint8(*images: torch.Tensor) -> list[np.ndarray]:
    """(3, H, W) images in [-1, 1] as (H, W, 3) uint8, rounded as they would be saved."""
    return [as_saved(x).byte().permute(1, 2, 0).cpu().numpy() for x in images]


@torch.no_grad()
def validate(cfg: TrainConfig, model: nn.Module, val: PairData, device: torch.device,
             prepare=None) -> dict[str, float]:
    """The mean validation score over cfg.val_images; `prepare(masked, map)` is what the batch
    goes through before the network (the coarse fill a refining generator is given)."""
    model = _unwrap(model)
    was = model.training
    model.eval()
    n = min(cfg.val_images, val.n)
    scores: list[float] = []
    details: list[float] = []
    for s in range(0, n, 16):
        masked, m, target = (t.to(device) for t in val.batch(np.arange(s, min(n, s + 16))))
        if prepare is not None:
            masked = prepare(masked, m)
        if cfg.stage == "segmenter":
            prob = torch.sigmoid(model(masked))
            scores += dice_coefficient((prob > 0.5).float(), m, eps=1e-6).tolist()
        else:
            fake = model(masked, m)
            scores += psnr(fake, target).tolist()
            details += [detail_ratio(*to_uint8(a, b), k) for a, b, k in zip(fake, target, m[:, 0].cpu().numpy())]
    model.train(was)
    if not scores:
        return {}
    if cfg.stage == "segmenter":
        return {"val_dice": float(np.mean(scores))}
    return {"val_psnr": float(np.mean(scores)), "val_detail": float(np.median(details))}


def train(cfg: TrainConfig, out: Path, stop_after: int = 0, time_budget: float = 0.0) -> Path | None:
    """Train to cfg.steps (or pause after `stop_after` steps with a checkpoint, keeping the
    schedule of the full run); return the exported weights, or None when paused.

    With `time_budget` (seconds of this invocation's training loop), the run is shortened to the
    steps that fit: after WARMUP_STEPS its rate is measured and cfg.steps set to what the rest of
    the budget allows (never more than configured; the rate milestones follow), and should it
    still run past the budget it ends there, the schedule left as planned. Either way it finishes
    and exports; its card says the steps it made, the steps planned and whether time ran out.
    For a rented machine held for a fixed time."""
    rank, world, device = setup_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if time_budget and world > 1:
        raise SystemExit("--time-budget fits one process's run; with several, give --steps instead")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    torch.manual_seed(cfg.seed)
    run = out / cfg.name
    main_proc = rank == 0
    if main_proc:
        run.mkdir(parents=True, exist_ok=True)
        write_config(run, cfg)

    role = "segmenter" if cfg.stage == "segmenter" else "generator"
    net = make_network(role, cfg.architecture, cfg.network).to(device)
    models: dict[str, nn.Module] = {"net": net}
    if cfg.stage == "inpainter":
        dcfg = DiscriminatorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.discriminator.items()})
        models["disc"] = PatchDiscriminator(dcfg).to(device)
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas) for k, m in models.items()}
    scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg)) for k, o in opts.items()}

    step, history, wall = 0, [], 0.0
    ckpt = run / "last.pt"
    if cfg.init and not ckpt.exists():
        # Fine-tune: start from shipped weights of the same architecture (strictly loaded).
        from app.inference.weights import load_model

        start, card = load_model(cfg.init, role=role)
        net.load_state_dict(start.state_dict())
        if main_proc:
            print(f"starting {cfg.name} from {cfg.init} ({card.get('training', {}).get('steps', '?')} steps)",
                  file=sys.stderr)
    prepare = None  # what a batch goes through before the network: the coarse fill, for a refining generator
    if cfg.coarse:
        from app.inference.coarse import coarse_fill
        from app.inference.weights import load_model

        if not cfg.network.get("coarse_input"):
            raise SystemExit(f"{cfg.name}: 'coarse' is set but the network's config has no coarse_input")
        small, small_card = load_model(cfg.coarse, role="generator", map_location=device)
        small.requires_grad_(False)

        def prepare(masked: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                return coarse_fill(small, masked, m, small_card["input_size"]).float()
    elif cfg.network.get("coarse_input"):
        raise SystemExit(f"{cfg.name}: the network refines a coarse fill, but the config names no 'coarse' generator")
    if cfg.channels_last:
        for m in models.values():
            m.to(memory_format=torch.channels_last)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        for k, m in models.items():
            m.load_state_dict(state["models"][k])
            opts[k].load_state_dict(state["opts"][k])
            scheds[k].load_state_dict(state["scheds"][k])
        step, history, wall = state["step"], json.loads(state["history"]), state.get("wall_s", 0.0)
        if main_proc:
            print(f"resuming {cfg.name} from step {step}", file=sys.stderr)
    # The average of the weights (cfg.ema): validated, checkpointed and exported instead of the raw
    # weights. Its decay ramps up from a fine-tune's start, (1 + n) / (10 + n) over the steps n it
    # has averaged, so early steps are not frozen in.
    ema = ema_steps = None
    if cfg.ema > 0:
        ema = copy.deepcopy(net).eval()
        ema.requires_grad_(False)
        ema_steps = 0
        if ckpt.exists() and "ema" in state:
            ema.load_state_dict(state["ema"])
            ema_steps = state["ema_steps"]  # written with it
    if world > 1:
        models = {k: nn.parallel.DistributedDataParallel(m, device_ids=[device.index] if device.type == "cuda" else None)
                  for k, m in models.items()}
    for m in models.values():
        m.train()

    perceptual = None
    if cfg.stage == "inpainter" and cfg.loss_weights.get("per", 0):
        from training.perceptual import PerceptualLoss

        perceptual = PerceptualLoss(cfg.perceptual_layers, cfg.perceptual_size).to(device)
    style = None
    if cfg.stage == "inpainter" and cfg.loss_weights.get("style", 0):
        from training.perceptual import StyleLoss

        style = StyleLoss(cfg.style_layers, cfg.style_size).to(device)
    data = PairData(cfg.data, cfg.size, "train")
    val = PairData(cfg.data, cfg.size, "val") if main_proc else None
    w = cfg.loss_weights
    progress = Progress(cfg.steps, step, main_proc)
    sums: dict[str, float] = {}
    t_last = time.time()

    def autocast():
        # bf16 autocast for the networks' forward: 1.5x on a CPU with AVX-512 BF16 (and on GPUs);
        # the losses are computed in fp32.
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)

    def checkpoint() -> None:
        nonlocal t_last, wall
        wall += time.time() - t_last
        t_last = time.time()
        if not main_proc:
            return
        history.append({"step": step, "wall_s": round(wall, 1),
                        **validate(cfg, ema if ema is not None else models["net"], val, device, prepare)})
        state = {"step": step, "wall_s": wall, "history": json.dumps(history),
                 "models": {k: _unwrap(m).state_dict() for k, m in models.items()},
                 "opts": {k: o.state_dict() for k, o in opts.items()},
                 "scheds": {k: s.state_dict() for k, s in scheds.items()}}
        if ema is not None:
            state["ema"], state["ema_steps"] = ema.state_dict(), ema_steps
        save_checkpoint(ckpt, state)
        atomic_write_bytes(run / "history.json", json.dumps(history, indent=0).encode())
        plot_curves(history, run / "loss_curves.png", title=cfg.name)

    def load(s: int):
        """Step s's batch on the CPU (run on a thread while the step before it trains)."""
        idx, flips = batch_indices(cfg, data.n, s, rank)
        masked, m, target = data.batch(idx, flips)
        if cfg.stage == "inpainter" and cfg.map_grow[1]:
            m = grow_maps(m, grow_radii(cfg, len(idx), s, rank))
        if cfg.stage == "segmenter" and cfg.occluders:
            from training.occluders import occlude_batch

            masked, m = occlude_batch(masked, m, cfg.occluders, np.random.default_rng([cfg.seed, s, rank, 2]),
                                      cfg.occluders_bare_only)
        if device.type == "cuda":
            masked, m, target = (t.pin_memory() for t in (masked, m, target))
        return masked, m, target

    def last_step() -> int:  # where this invocation stops: the run's end, or the pause
        return min(cfg.steps, stop_after) if stop_after else cfg.steps

    end = last_step()
    budget = TimeBudget(time_budget, step, device) if time_budget else None
    loader = ThreadPoolExecutor(1)
    pending = loader.submit(load, step)
    while step < end:
        masked, m, target = pending.result()
        pending = loader.submit(load, step + 1)
        masked, m, target = (t.to(device, non_blocking=True) for t in (masked, m, target))
        if prepare is not None:
            masked = prepare(masked, m)
        if cfg.channels_last:
            masked, m, target = (t.contiguous(memory_format=torch.channels_last) for t in (masked, m, target))
        logs: dict[str, float] = {}
        if cfg.stage == "segmenter":
            with autocast():
                logits = models["net"](masked)  # M-Seg returns logits: the same call under DDP
            loss, logs = segmentation_loss(logits.float(), m)
            opts["net"].zero_grad(set_to_none=True)
            loss.backward()
            opts["net"].step()
            logs["loss"] = loss.item()
        else:
            gen, disc = models["net"], models["disc"]
            with autocast():
                fake = gen(masked, m).float()  # MURF-fused output
            # Discriminator step: real faces towards 0.9, generated towards 0.1.
            _requires_grad(disc, True)
            opts["disc"].zero_grad(set_to_none=True)
            with autocast():
                d_out = disc(torch.cat([target, fake.detach()])).float()  # one forward: DDP wants one per backward
            l_d = lsgan_d_loss(d_out[: len(target)], d_out[len(target):])
            l_d.backward()
            opts["disc"].step()
            # Generator step, the discriminator frozen (no gradients computed for its weights).
            _requires_grad(disc, False)
            opts["net"].zero_grad(set_to_none=True)
            with autocast():
                l_g_adv = lsgan_g_loss(disc(fake).float())
                l_g_per = (perceptual(fake, target).float() if perceptual is not None
                           else torch.zeros((), device=device))
                # The fill as the app pastes it: the true face outside the map.
                l_g_sty = (style(target + m * (fake - target), target).float() if style is not None
                           else torch.zeros((), device=device))
            l_g_rec = reconstruction_loss(fake, target)
            l_g = (w.get("adv", 1.0) * l_g_adv + w.get("rec", 100.0) * l_g_rec + w.get("per", 10.0) * l_g_per
                   + w.get("style", 0.0) * l_g_sty)
            l_g.backward()
            opts["net"].step()
            logs = {"g": l_g.item(), "d": l_d.item(), "adv": l_g_adv.item(), "rec": l_g_rec.item(),
                    "per": l_g_per.item(), **({"style": l_g_sty.item()} if style is not None else {})}
        for s in scheds.values():
            s.step()
        if ema is not None:
            ema_steps += 1
            update_ema(ema, _unwrap(models["net"]), min(cfg.ema, (1 + ema_steps) / (10 + ema_steps)))
        step += 1
        if not all(math.isfinite(v) for v in logs.values()):
            raise SystemExit(f"step {step}: a loss is not finite ({logs}); resume from the last checkpoint "
                             "with a lower learning rate")
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        if step % cfg.log_every == 0 or step == cfg.steps:
            n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            means = {k: v / n for k, v in sums.items()}
            sums = {}
            if main_proc:
                history.append({"step": step, **{k: round(v, 5) for k, v in means.items()},
                                "lr": scheds["net"].get_last_lr()[0]})
            progress.update(step, means)
        if budget is not None:
            was_fitted = budget.fitted
            cfg.steps, spent = budget.check(step, cfg.steps)  # the rate milestones follow cfg.steps
            if budget.fitted and not was_fitted:
                end = progress.total = last_step()
                if main_proc:
                    print(f"time budget {time_budget:.0f} s: {budget.rate:.2f} steps/s, the run ends at step "
                          f"{cfg.steps}", file=sys.stderr)
            if spent and step < end:
                end, budget.ran_out = step, True  # finish here; cfg.steps stays the plan the schedule followed
                if main_proc:
                    print(f"time budget spent at step {step}: finishing", file=sys.stderr)
        if step % cfg.checkpoint_every == 0 or step == end:
            checkpoint()
    loader.shutdown(cancel_futures=True)
    progress.close()
    if step < cfg.steps and not (budget and budget.ran_out):
        if dist.is_initialized():
            dist.destroy_process_group()
        return None

    result = run / f"{cfg.stage}.safetensors"
    if main_proc:
        if time_budget:  # the run's length was fitted: its config says the steps it planned
            write_config(run, cfg)
        net = (ema if ema is not None else _unwrap(models["net"])).cpu().eval()
        vals = [h for h in history if any(k.startswith("val_") for k in h)]
        save_model(net, result, cfg.size, trained=True, training={
            "run": cfg.name, "config": cfg.to_dict(), "steps": step,
            "images_seen": step * cfg.batch_size * world, "epochs": round(step * cfg.batch_size * world / data.n, 2),
            "train_pairs": data.n, "wall_s": round(wall, 1), "processes": world,
            "hardware": describe_hardware(device), "last_validation": vals[-1] if vals else None,
            **({"time_budget": {"seconds": time_budget, "planned_steps": cfg.steps, "ran_out": budget.ran_out}}
               if budget else {}),
            "generator_parameters": count_parameters(net),
        })
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * net, parameters and float buffers; other buffers copied."""
    for a, b in zip(ema.parameters(), net.parameters()):
        a.lerp_(b.detach(), 1.0 - decay)
    for a, b in zip(ema.buffers(), net.buffers()):
        if a.is_floating_point():
            a.lerp_(b, 1.0 - decay)
        else:
            a.copy_(b)


def _requires_grad(model: nn.Module, on: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(on)


def describe_hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads ({os.cpu_count()} cores)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--steps", type=int, help="override the config's step count")
    ap.add_argument("--seed", type=int, help="override the config's seed")
    ap.add_argument("--data", help="override the config's data folder")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="pause with a checkpoint after this many steps (the schedule stays the full run's)")
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="seconds for this invocation's training: the run is shortened to the steps that fit "
                         "(its rate measured after a warm-up), then finishes and exports")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, steps=args.steps, seed=args.seed, data=args.data, threads=args.threads)
    path = train(cfg, args.out, args.stop_after, args.time_budget)
    if int(os.environ.get("RANK", "0")) == 0:
        print(path or "paused; rerun the same command without --stop-after to go on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
