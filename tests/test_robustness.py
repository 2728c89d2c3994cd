"""Robustness: hostile and odd inputs, bad weights, failing disks, GPU memory, never writing originals."""
from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from app.errors import ImageReadError, ImageWriteError, UnmaskerError
from app.imageio import read_photo, write_photo

from .conftest import EXAMPLE, ROOT

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _photo_bytes(fmt: str, size=(48, 40)) -> bytes:
    y, x = np.mgrid[0:size[1], 0:size[0]]
    img = Image.fromarray(np.stack([x * 5, y * 6, (x + y) * 3], -1).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


SEEDS = {fmt: _photo_bytes(fmt) for fmt in ("JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP")}


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(sorted(SEEDS)), cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=12), ext=st.sampled_from([".jpg", ".png", ".webp", ".tif", ".gif"]))
def test_fuzz_read_photo_gives_a_photo_or_a_plain_error(tmp_path_factory, fmt, cut, flips, ext):
    """Truncated and corrupted files of every format, under any extension: a photo or
    ImageReadError, never another exception or a hang (hypothesis' deadline)."""
    data = bytearray(SEEDS[fmt])
    data = data[: max(0, int(len(data) * cut))] if cut < 0.98 else data
    for where, value in flips:
        if data:
            data[min(len(data) - 1, int(where * len(data)))] = value
    path = tmp_path_factory.mktemp("fuzz") / f"f{ext}"
    path.write_bytes(bytes(data))
    try:
        photo = read_photo(path)
    except ImageReadError as e:
        assert str(e) and "Traceback" not in str(e)
        return
    assert photo.pixels.dtype == np.uint8 and photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), kind=st.sampled_from(["noise", "flat", "stripes"]),
       seed=st.integers(0, 2 ** 16))
def test_fuzz_face_pipeline_on_any_pixels(finder, tiny_engine, h, w, kind, seed):
    """Any image into face finding and the whole pipeline: faces and a result, or a plain error."""
    from app.pipeline import unmask_faces

    rng = np.random.default_rng(seed)
    if kind == "noise":
        px = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == "flat":
        px = np.full((h, w, 3), rng.integers(0, 256), np.uint8)
    else:
        px = ((np.arange(w) // 3 % 2) * 255).astype(np.uint8)[None, :, None].repeat(h, 0).repeat(3, 2)
    faces = finder.detect(px)
    result = unmask_faces(px, faces, tiny_engine)
    assert result.pixels.shape == px.shape
    if not faces:  # no face: the photo comes back as it was
        assert np.array_equal(result.pixels, px) and not result.faces


@pytest.fixture(scope="module")
def tiny_engine(tiny_models):
    from app.inference.engine import Unmasker

    return Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_exif_orientations(tmp_path, orientation):
    """A photo stored sideways or mirrored with the matching EXIF tag reads upright."""
    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:10, :20] = (255, 0, 0)  # a red block at the top left, as the viewer should see it
    img = Image.fromarray(upright)
    # What a camera stores for each orientation: the inverse of what the tag tells the viewer to do.
    store = {1: [], 2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
             4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE],
             6: [Image.Transpose.ROTATE_90], 7: [Image.Transpose.TRANSVERSE], 8: [Image.Transpose.ROTATE_270]}
    for t in store[orientation]:
        img = img.transpose(t)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(tmp_path / "o.png", exif=exif)
    px = read_photo(tmp_path / "o.png").pixels
    assert px.shape == (40, 60, 3)
    assert tuple(px[2, 2]) == (255, 0, 0) and tuple(px[-2, -2]) == (0, 0, 0)


def test_animated_webp_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ((0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], lossless=True)
    px = read_photo(tmp_path / "a.webp").pixels
    assert tuple(px[5, 5]) == (0, 0, 255)


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif"), ("JPEG", ".jpg")])
def test_truncated_files_of_each_format(tmp_path, fmt, ext):
    data = _photo_bytes(fmt, (300, 200))
    (tmp_path / f"t{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="t" + ext.replace(".", r"\.")):
        read_photo(tmp_path / f"t{ext}")


def test_wrong_extension_is_read_by_content(tmp_path):
    (tmp_path / "really_png.jpg").write_bytes(SEEDS["PNG"])
    assert read_photo(tmp_path / "really_png.jpg").pixels.shape == (40, 48, 3)


def test_face_at_the_border_and_many_faces(finder, tiny_engine):
    from app.pipeline import unmask_faces

    px = read_photo(EXAMPLE).pixels
    face = finder.detect(px)[0]
    x0, y0, x1, y1 = (int(v) for v in face.box)
    # The face touching the left edge of the photo: the aligned crop mirrors what is missing.
    edge = np.ascontiguousarray(px[:, x0 + (x1 - x0) // 10:])
    faces = finder.detect(edge)
    assert len(faces) == 1
    result = unmask_faces(edge, faces, tiny_engine)
    assert result.pixels.shape == edge.shape
    # A quarter of it cut off: detection misses it; a box drawn by hand still gets landmarks.
    cut = np.ascontiguousarray(px[:, x0 + (x1 - x0) // 4:])
    shift = x0 + (x1 - x0) // 4
    manual = finder.face_in_box(cut, (0, y0, x1 - shift, y1))
    assert unmask_faces(cut, [manual], tiny_engine).pixels.shape == cut.shape
    # Twenty faces in one photo.
    tile = px[max(0, y0 - 40):y1 + 40, max(0, x0 - 40):x1 + 40]
    crowd = np.concatenate([np.concatenate([tile] * 5, 1)] * 4, 0)
    faces = finder.detect(crowd)
    assert len(faces) == 20
    result = unmask_faces(crowd, faces, tiny_engine)
    assert len(result.faces) == 20


def test_source_never_uses_unsafe_loading():
    """No pickle of code: every torch.load passes weights_only=True; no pickle.load anywhere."""
    offenders = []
    for p in list((ROOT / "app").rglob("*.py")) + list((ROOT / "training").rglob("*.py")) + \
            list((ROOT / "benchmarks").rglob("*.py")):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{p.relative_to(ROOT)}:{n}")
            if "pickle.load(" in line or "pickle.loads(" in line:
                offenders.append(f"{p.relative_to(ROOT)}:{n}")
    assert offenders == []


def test_read_only_output_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ImageWriteError):
            write_photo(read_photo(EXAMPLE), ro / "out.jpg")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_read_only_file_system_is_a_clear_error(tmp_path, monkeypatch):
    """A read-only volume (simulated: as root, permissions alone do not stop writes)."""
    import app.fileutil as fu

    def read_only(*_a, **_k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(fu.tempfile, "mkstemp", read_only)
    with pytest.raises(ImageWriteError, match="Read-only file system"):
        write_photo(read_photo(EXAMPLE), tmp_path / "out.jpg")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_a_clear_error(tmp_path):
    """Writing where a folder cannot be created (a file stands in the way), as root too."""
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(ImageWriteError):
        write_photo(read_photo(EXAMPLE), tmp_path / "blocker" / "out.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_gpu_out_of_memory_falls_back_to_the_cpu_and_says_so(tiny_engine, finder, monkeypatch):
    from app.pipeline import unmask_faces

    engine = tiny_engine
    moves = []
    monkeypatch.setattr(engine, "_move", lambda d: moves.append(d.type))
    monkeypatch.setattr(engine, "device", torch.device("cuda"))  # as if the models were on a GPU

    def work(device):
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return f"done on the {device.type}"

    assert engine._run(work) == "done on the cpu"
    assert moves == ["cpu", "cuda"]  # redone on the CPU, then back to the GPU for the next photo
    # The note reaches the photo's result (and so the CLI, the batch report and the editor).
    monkeypatch.setattr(engine, "device", torch.device("cpu"))
    px = read_photo(EXAMPLE).pixels
    result = unmask_faces(px, finder.detect(px), engine)
    assert result.notes == ["the GPU ran out of memory, so this photo was done on the CPU"]
    assert engine.take_notes() == []


def test_device_benchmark_finds_faces_once_then_runs_the_app_path_from_them(tmp_path, finder):
    """benchmarks.devices, as on a lent GPU machine but with the CPU twice: the faces saved in a JSON
    (no face finder needed there) come back as the finder's own faces, each device's result is
    compared with the first's, and nothing away from the faces changes."""
    import json

    from benchmarks import devices

    faces_json = tmp_path / "faces.json"
    devices.main([str(EXAMPLE), "--save-faces", str(faces_json)])
    found = json.loads(faces_json.read_text())
    assert [len(p["faces"]) for p in found["photos"]] == [1]
    own = finder.detect(read_photo(EXAMPLE).pixels)[0]
    back = devices.face_from_json(found["photos"][0]["faces"][0])
    for name in ("box", "points5", "points68"):
        assert np.array_equal(getattr(back, name), np.asarray(getattr(own, name), np.float32)), name
    devices.main(["--faces", str(faces_json), "--devices", "cpu,cpu", "--scales", "1,2", "--repeats", "1",
                  "--out", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "devices.json").read_text())
    rows = report["results"]["cpu"]
    assert [(r["scale"], r["size"], r["filled"]) for r in rows] == [(1.0, [512, 512], 1), (2.0, [1024, 1024], 1)]
    assert all(r["outside_unchanged"] and r["median_ms"] > 0 for r in rows)
    assert all(r["vs_cpu"]["max_abs"] == 0 for r in rows)  # the same device gives the same pixels


def test_cpu_out_of_memory_is_a_plain_error(tiny_models, monkeypatch):
    from app.inference.engine import Unmasker

    engine = Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")

    def boom(*_a):
        raise torch.cuda.OutOfMemoryError("out of memory")

    monkeypatch.setattr(engine.segmenter, "forward", boom)
    with pytest.raises(UnmaskerError, match="out of memory"):
        engine.segment(np.zeros((64, 64, 3), np.uint8))


def test_originals_are_never_opened_for_writing(tiny_models, tmp_path):
    """An audit hook watches every open() while the CLI unmasks a photo and a batch runs."""
    import subprocess

    album = tmp_path / "album"
    album.mkdir()
    (album / "a.jpg").write_bytes(EXAMPLE.read_bytes())
    (album / "broken.jpg").write_bytes(EXAMPLE.read_bytes()[:5000])
    script = f"""
import sys
album = {str(album)!r}
bad = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(album):
        mode, flags = args[1], args[2]
        if (mode and any(c in mode for c in "wax+")) or (flags & 3):
            bad.append((args[0], mode, flags))
sys.addaudithook(hook)
from app.cli import main
main(["unmask", album + "/a.jpg", "-o", {str(tmp_path / "one.jpg")!r}])
main(["batch", album, {str(tmp_path / "out")!r}])
print("BAD", bad)
"""
    env = {**os.environ, "UNMASKER_MODELS": str(tiny_models), "UNMASKER_ALLOW_UNTRAINED": "1"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "BAD []" in r.stdout, r.stdout
    assert (tmp_path / "one.jpg").exists() and (tmp_path / "out" / "a_unmasked.jpg").exists()
