"""Batch mode over a real album: real RMFD photos and the example, plus broken and odd files."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.batch import BatchOptions, BatchRunner, output_path
from app.imageio import read_photo

from .conftest import EXAMPLE, ROOT, RMFD, need_shared


@pytest.fixture(scope="module")
def engine(tiny_models):
    from app.inference.engine import Unmasker

    return Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def album(tmp_path) -> Path:
    """Real photos in two folders, and every kind of bad or odd file a real album holds."""
    need_shared()
    a = tmp_path / "album"
    (a / "party").mkdir(parents=True)
    (a / "astronaut.jpg").write_bytes(EXAMPLE.read_bytes())
    for i, p in enumerate(sorted(RMFD.glob("*/*.jpg"))[:4]):
        (a / ("party" if i % 2 else ".") / f"rmfd_{i}.jpg").write_bytes(p.read_bytes())
    good = EXAMPLE.read_bytes()
    (a / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (a / "notes.jpg").write_text("this is not a photo")
    (a / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(a / "dot.png")
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(a / "deep16.png")
    Image.open(EXAMPLE).convert("CMYK").save(a / "party" / "cmyk.jpg")
    rotated = Image.open(EXAMPLE).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera says: turn 90 degrees clockwise to view
    rotated.save(a / "party" / "rotated.jpg", exif=exif)
    (a / "party" / "readme.txt").write_text("album notes")
    return a


def _rows(report: Path) -> dict[str, dict]:
    return {r["input"]: r for r in csv.DictReader(io.StringIO(report.read_text()))}


def test_every_input_is_accounted_for_and_originals_are_untouched(engine, finder, album, tmp_path):
    before = _digest(album)
    out, report = tmp_path / "out", tmp_path / "report.csv"
    summary = BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, out, report)
    assert _digest(album) == before  # originals byte-identical
    rows = _rows(report)
    assert set(rows) == set(before)  # every input file has a row
    assert rows["astronaut.jpg"]["status"] == "unmasked" and rows["astronaut.jpg"]["faces_unmasked"] == "1"
    assert rows["party/rotated.jpg"]["status"] == "unmasked"  # EXIF-rotated: the face is found upright
    assert rows["party/cmyk.jpg"]["status"] == "unmasked"
    for bad in ("truncated.jpg", "notes.jpg", "empty.jpg"):
        assert rows[bad]["status"] == "error" and rows[bad]["error"], bad
    assert rows["party/readme.txt"]["status"] == "unsupported"
    assert rows["dot.png"]["status"] == "no_face" and rows["deep16.png"]["status"] == "no_face"
    # Outputs mirror the tree; photos without a face are copied through (default).
    assert (out / "party" / "rotated_unmasked.jpg").exists() and (out / "dot_unmasked.png").exists()
    assert (out / "dot_unmasked.png").read_bytes() == (album / "dot.png").read_bytes()
    result = read_photo(out / "astronaut_unmasked.jpg").pixels
    assert result.shape == read_photo(album / "astronaut.jpg").pixels.shape
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*"))
    assert summary.failed == 3 and "3 error" in summary.text()


def test_a_second_run_does_nothing_twice(engine, finder, album, tmp_path):
    out = tmp_path / "out"
    BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, out)
    statuses = {r.input: r.status for r in again.results}
    assert statuses["astronaut.jpg"] == "exists" and statuses["dot.png"] == "exists"
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten


def test_cancel_leaves_no_partial_files_and_the_rest_resumes(engine, finder, album, tmp_path):
    out = tmp_path / "out"
    cancel = threading.Event()

    def stop_after_first(result, n):
        if n == 1:
            cancel.set()

    first = BatchRunner(engine, finder, BatchOptions(recursive=True), cancel, stop_after_first).run(album, out)
    statuses = [r.status for r in first.results]
    assert statuses[0] != "cancelled" and "cancelled" in statuses
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*"))
    for p in out.rglob("*_unmasked.*"):
        read_photo(p)  # whatever was written is whole
    second = BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, out)
    done_first = {r.input for r in first.results if r.status in ("unmasked", "no_face", "no_mask")}
    assert all(r.status == "exists" for r in second.results if r.input in done_first)
    assert any(r.status == "unmasked" for r in second.results)


def test_a_cancelled_batch_started_again_keeps_what_each_photo_got(engine, finder, album, tmp_path):
    """Cancel, start again: the report is not overwritten with "exists" for the photos the first
    run did; each keeps its status (unmasked, no face, no mask) and its counts."""
    out, report = tmp_path / "out", tmp_path / "out" / "report.csv"
    cancel = threading.Event()
    first = BatchRunner(engine, finder, BatchOptions(recursive=True), cancel,
                        lambda r, n: cancel.set() if n == 3 else None).run(album, out, report)
    done = {r.input: r for r in first.results if r.status in ("unmasked", "no_face", "no_mask")}
    assert len(done) >= 2
    second = BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, out, report)
    rows = _rows(report)
    for name, r in done.items():
        assert rows[name]["status"] == r.status and "earlier run" in rows[name]["note"], rows[name]
        assert int(rows[name]["faces_found"]) == r.faces_found
    assert not any(r.status == "exists" for r in second.results)
    assert len(rows) == len(second.results) > len(done)


def test_a_failed_write_is_reported_and_the_batch_goes_on(engine, finder, album, tmp_path, monkeypatch):
    import app.batch as batch

    real = batch.atomic_write_bytes

    def full_disk(path, data):
        if "astronaut" in str(path):
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(batch, "atomic_write_bytes", full_disk)
    summary = BatchRunner(engine, finder, BatchOptions()).run(album, tmp_path / "out")
    rows = {r.input: r for r in summary.results}
    assert rows["astronaut.jpg"].status == "error" and "No space left" in rows["astronaut.jpg"].error
    assert not (tmp_path / "out" / "astronaut_unmasked.jpg").exists()
    assert rows["dot.png"].status == "no_face"  # the others went on


def test_options_skip_format_and_masks(engine, finder, album, tmp_path):
    out, masks = tmp_path / "out", tmp_path / "masks"
    opts = BatchOptions(no_face="skip", format="png", suffix="_x", masks_dir=masks)
    summary = BatchRunner(engine, finder, opts).run(album, out)
    rows = {r.input: r for r in summary.results}
    assert rows["dot.png"].status == "no_face" and rows["dot.png"].output == ""
    assert not (out / "dot_x.png").exists()
    assert (out / "astronaut_x.png").exists() and (masks / "astronaut_mask.png").exists()
    assert "party/rotated.jpg" not in rows  # not recursive
    assert output_path(Path("a/b.gif"), out, BatchOptions()) == out / "a" / "b_unmasked.png"  # GIF is read, not written


def test_two_inputs_never_share_an_output(engine, finder, tmp_path):
    from PIL import Image

    a = tmp_path / "in"
    a.mkdir()
    Image.open(EXAMPLE).save(a / "same.png")
    Image.open(EXAMPLE).save(a / "same.gif")
    summary = BatchRunner(engine, finder).run(a, tmp_path / "out")
    outputs = sorted(r.output for r in summary.results)
    assert outputs == ["same_unmasked-2.png", "same_unmasked.png"]
    assert all(r.status == "unmasked" for r in summary.results)


def test_output_inside_input_and_same_folder(engine, finder, album):
    with pytest.raises(Exception, match="must not be the input folder"):
        BatchRunner(engine, finder).run(album, album)
    summary = BatchRunner(engine, finder, BatchOptions(recursive=True)).run(album, album / "done")
    assert not any(r.input.startswith("done") for r in summary.results)


def test_cli_batch(tiny_models, album, tmp_path):
    env = {**os.environ, "UNMASKER_MODELS": str(tiny_models), "UNMASKER_ALLOW_UNTRAINED": "1"}
    r = subprocess.run([sys.executable, "-m", "app", "batch", str(album), str(tmp_path / "out"), "--recursive",
                        "--device", "cpu"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 1, r.stderr  # three broken files: something failed
    assert "error" in r.stdout and "unmasked" in r.stdout and "Traceback" not in r.stderr
    rows = _rows(tmp_path / "out" / "report.csv")
    assert len(rows) == len(_digest(album))


def test_a_killed_batch_leaves_nothing_half_written_and_resumes(tiny_models, album, tmp_path):
    """SIGKILL the batch process as soon as it reports its second file, then run it again."""
    import signal

    need_shared()
    for i, p in enumerate(sorted(RMFD.glob("*/*.jpg"))[4:16]):
        (album / f"more_{i}.jpg").write_bytes(p.read_bytes())
    out = tmp_path / "out"
    env = {**os.environ, "UNMASKER_MODELS": str(tiny_models), "UNMASKER_ALLOW_UNTRAINED": "1"}
    cmd = [sys.executable, "-m", "app", "batch", str(album), str(out), "--recursive", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    for line in proc.stderr:
        if line.startswith("[2]"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "report.csv").exists()  # it never got that far
    for p in out.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            read_photo(p)  # every output present is whole
    written_before = {p for p in out.rglob("*_unmasked.*") if not p.name.startswith(".")}
    assert written_before  # it was killed part-way, not before it began
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 1  # the broken files
    assert not [p for p in out.rglob(".*") if p.is_file()]  # temporary files of the killed run are gone
    rows = _rows(out / "report.csv")
    assert len(rows) == len(_digest(album))
    for p in written_before:
        rel = p.relative_to(out)
        row = next(r for r in rows.values() if r["output"] == str(rel))
        assert row["status"] == "exists"
