"""Unmask a whole album: every photo under a folder, into a mirrored output tree.

A reader pool decodes photos ahead of the model, the calling thread finds faces and runs the
networks, and a writer pool encodes and writes results, so decoding, the model and encoding
overlap. Queues are bounded (a few photos in flight), so memory stays flat on huge folders.

Nothing is ever written next to the inputs; outputs are written atomically, and an output that
already exists is skipped unless `overwrite`, so a stopped batch resumes where it stopped. Every
input file gets a row in the report: unmasked, no face, no mask, exists, error (with the reason),
unsupported, or cancelled (files not reached before a cancel are not listed).
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator


from app.errors import UnmaskerError
from app.fileutil import atomic_write_bytes
from app.imageio import FORMATS, Photo, encode_mask, encode_photo, format_for, read_photo
from app.pipeline import NO_MASK_TEXT, no_face_text, unmask_photo

log = logging.getLogger(__name__)

READABLE = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jfif"}
STATUSES = ("unmasked", "no_face", "no_mask", "exists", "error", "unsupported", "cancelled")
DONE = ("unmasked", "no_face", "no_mask")  # a photo with one of these has its output written
REPORT_FIELDS = ("input", "output", "status", "faces_found", "faces_unmasked", "seconds", "error", "note")


@dataclass
class BatchOptions:
    recursive: bool = False
    suffix: str = "_unmasked"
    format: str = "same"  # "same", "jpg" or "png"
    workers: int = 2  # reader and writer threads each
    masks_dir: Path | None = None  # also save each photo's mask map (PNG, white = filled) here
    overwrite: bool = False
    no_face: str = "copy"  # photos with no face or no mask: "copy" them through, or "skip"
    quality: int = 95
    prefetch: int = 4  # photos decoded ahead of the model

    def __post_init__(self) -> None:
        if self.format not in ("same", "jpg", "png"):
            raise ValueError(f"format must be same, jpg or png, not {self.format!r}")
        if self.no_face not in ("copy", "skip"):
            raise ValueError(f"no_face must be copy or skip, not {self.no_face!r}")
        self.workers = max(1, int(self.workers))


@dataclass
class ItemResult:
    input: str  # relative to the input folder
    output: str = ""  # relative to the output folder, "" when nothing was written
    status: str = "error"
    faces_found: int = 0
    faces_unmasked: int = 0
    seconds: float = 0.0
    error: str = ""
    note: str = ""  # e.g. a fallback from the GPU to the CPU, or why no face was found


@dataclass
class BatchSummary:
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> int:
        return self.count("error")

    def text(self) -> str:
        parts = [f"{self.count(s)} {s.replace('_', ' ')}" for s in STATUSES if self.count(s)]
        n = len(self.results)
        rate = n / self.seconds if self.seconds > 0 else 0.0
        return f"{n} files in {self.seconds:.1f} s ({rate:.2f}/s): " + (", ".join(parts) or "nothing to do")


def list_inputs(in_dir: Path, recursive: bool, exclude: Path | None = None) -> Iterator[Path]:
    """Files under in_dir in a stable order, lazily (huge folders are not listed up front).
    Hidden files and the output folder (when it lies inside the input) are left out."""
    in_dir = Path(in_dir)
    exclude = exclude.resolve() if exclude else None
    for root, dirs, files in os.walk(in_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and
                         (exclude is None or (Path(root) / d).resolve() != exclude)) if recursive else []
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


# The temporary files of app.fileutil.atomic_writer: ".NAME.RANDOM.part". A batch killed in the
# middle of a write leaves one behind (never a half-written output); the next run removes them.
_STALE_PART = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part$")


def remove_stale_parts(out_dir: Path) -> int:
    n = 0
    for root, _dirs, files in os.walk(out_dir):
        for name in files:
            if _STALE_PART.match(name):
                try:
                    os.unlink(os.path.join(root, name))
                    n += 1
                except OSError:
                    pass
    return n


def output_path(rel: Path, out_dir: Path, options: BatchOptions) -> Path:
    ext = rel.suffix.lower()
    if options.format != "same":
        ext = "." + options.format
    elif ext not in FORMATS:  # e.g. .gif or .jfif in, which we do not write: PNG keeps every pixel
        ext = ".png"
    return out_dir / rel.parent / f"{rel.stem}{options.suffix}{ext}"


class BatchRunner:
    """Runs one batch. `on_result` is called (from the calling thread) after each file, with the
    result and the number of files done so far; `cancel` stops it between photos."""

    def __init__(self, engine, finder, options: BatchOptions | None = None,
                 cancel: threading.Event | None = None,
                 on_result: Callable[[ItemResult, int], None] | None = None) -> None:
        self.engine, self.finder = engine, finder
        self.options = options or BatchOptions()
        self.cancel = cancel or threading.Event()
        self.on_result = on_result or (lambda _r, _n: None)

    def run(self, in_dir: str | os.PathLike, out_dir: str | os.PathLike, report: Path | None = None) -> BatchSummary:
        in_dir, out_dir = Path(in_dir), Path(out_dir)
        if not in_dir.is_dir():
            raise UnmaskerError(f"{in_dir} is not a folder")
        if out_dir.resolve() == in_dir.resolve():
            raise UnmaskerError("the output folder must not be the input folder: originals are never touched")
        out_dir.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_parts(out_dir)
        if stale:
            log.info("removed %d temporary file(s) left by an interrupted batch", stale)
        opts = self.options
        summary = BatchSummary()
        # What each photo got in an earlier run into this folder: a photo whose output exists keeps
        # that (unmasked, no face, no mask) in the list and the report, rather than just "exists".
        earlier = read_report(report) if report is not None else {}
        t0 = time.perf_counter()
        readers = ThreadPoolExecutor(opts.workers, thread_name_prefix="batch-read")
        writers = ThreadPoolExecutor(opts.workers, thread_name_prefix="batch-write")
        pending_reads: deque[tuple[Path, Path, Path, Future | None, float]] = deque()
        pending_writes: deque[tuple[ItemResult, Future]] = deque()

        def finish(r: ItemResult) -> None:
            summary.results.append(r)
            self.on_result(r, len(summary.results))

        def drain_writes(block: bool) -> None:
            while pending_writes and (block or pending_writes[0][1].done() or len(pending_writes) > 2 * opts.workers):
                r, fut = pending_writes.popleft()
                try:
                    fut.result()
                except Exception as e:  # a full disk, a read-only folder: reported, the batch goes on
                    r.status, r.output, r.error = "error", "", f"could not write the result: {e}"
                finish(r)

        inputs = list_inputs(in_dir, opts.recursive, exclude=out_dir if _inside(out_dir, in_dir) else None)
        claimed: set[Path] = set()  # outputs given to an input in this run
        try:
            exhausted = False
            while True:
                # Keep a few photos decoding ahead of the model.
                while not exhausted and not self.cancel.is_set() and len(pending_reads) < opts.prefetch:
                    path = next(inputs, None)
                    if path is None:
                        exhausted = True
                        break
                    rel = path.relative_to(in_dir)
                    out = output_path(rel, out_dir, opts)
                    k = 2
                    while out in claimed:  # a.gif and a.png would both become a_unmasked.png
                        out = out.with_name(f"{rel.stem}{opts.suffix}-{k}{out.suffix}")
                        k += 1
                    claimed.add(out)
                    start = time.perf_counter()
                    if path.suffix.lower() not in READABLE:
                        pending_reads.append((path, rel, out, None, start))
                    elif out.exists() and not opts.overwrite:
                        pending_reads.append((path, rel, out, None, start))
                    else:
                        pending_reads.append((path, rel, out, readers.submit(read_photo, path), start))
                if not pending_reads:
                    break
                path, rel, out, fut, start = pending_reads.popleft()
                if self.cancel.is_set():
                    if fut is not None:
                        fut.cancel()
                    finish(ItemResult(str(rel), status="cancelled"))
                    continue
                r = ItemResult(str(rel))
                if path.suffix.lower() not in READABLE:
                    r.status, r.error = "unsupported", f"not a photo type Unmasker reads ({path.suffix or 'no extension'})"
                    finish(r)
                    continue
                if fut is None:
                    r.status, r.output = "exists", str(out.relative_to(out_dir))
                    before = earlier.get(r.input)
                    if before is not None and before.get("status") in DONE and before.get("output") == r.output:
                        r.status, r.note = before["status"], _earlier(before.get("note", ""))
                        r.faces_found = int(before.get("faces_found") or 0)
                        r.faces_unmasked = int(before.get("faces_unmasked") or 0)
                    finish(r)
                    continue
                write = self._process(fut, path, out, out_dir, rel, r)
                r.seconds = round(time.perf_counter() - start, 3)
                if write is None:
                    finish(r)
                else:
                    pending_writes.append((r, writers.submit(write)))
                drain_writes(block=False)
            drain_writes(block=True)
        finally:
            readers.shutdown(wait=True, cancel_futures=True)
            writers.shutdown(wait=True)
        summary.seconds = time.perf_counter() - t0
        if report is not None:
            write_report(summary, report)
        return summary

    def _process(self, fut: Future, path: Path, out: Path, out_dir: Path, rel: Path, r: ItemResult):
        """Run the model on one decoded photo; returns the write to do (or None) and fills r."""
        opts = self.options
        try:
            photo: Photo = fut.result()
            result = unmask_photo(photo.pixels, self.finder, self.engine)
            r.faces_found = len(result.faces)
            r.faces_unmasked = sum(f.unmasked for f in result.faces)
            notes = list(result.notes)
            if r.faces_found and r.faces_unmasked < r.faces_found:
                left = [str(k + 1) for k, f in enumerate(result.faces) if not f.unmasked]
                notes.append(f"face{'s' if len(left) > 1 else ''} {', '.join(left)}: {NO_MASK_TEXT}")
            if not result.faces:
                notes.append(no_face_text(self.finder, photo.pixels.shape))
            r.note = "; ".join(notes)
        except (UnmaskerError, OSError, ValueError) as e:
            r.status, r.error = "error", str(e)
            return None
        except MemoryError:
            r.status, r.error = "error", "out of memory on this photo"
            return None
        except Exception as e:  # a bug or a library's surprise on one file must not end the album
            log.exception("unexpected error on %s", path)
            r.status, r.error = "error", f"unexpected error: {type(e).__name__}: {e}"
            return None
        if r.faces_unmasked == 0:
            r.status = "no_face" if r.faces_found == 0 else "no_mask"
            if opts.no_face == "skip":
                return None
            r.output = str(out.relative_to(out_dir))
            return lambda: _write_copy(path, photo, out, opts)
        r.status, r.output = "unmasked", str(out.relative_to(out_dir))
        photo.pixels = result.pixels
        photo_map = result.photo_map
        mask_out = opts.masks_dir / rel.parent / f"{rel.stem}_mask.png" if opts.masks_dir else None

        def write() -> None:
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(out, encode_photo(photo, format_for(out), opts.quality))
            if mask_out is not None:
                mask_out.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(mask_out, encode_mask(photo_map))

        return write


def _write_copy(src: Path, photo: Photo, out: Path, opts: BatchOptions) -> None:
    """A photo with nothing to unmask: its own bytes when the format is unchanged, else re-encoded."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == src.suffix.lower():
        atomic_write_bytes(out, src.read_bytes())
    else:
        atomic_write_bytes(out, encode_photo(photo, format_for(out), opts.quality))


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


EARLIER = "done in an earlier run"


def _earlier(note: str) -> str:
    return note if EARLIER in note else "; ".join(n for n in (note, EARLIER) if n)


def read_report(path: Path) -> dict[str, dict]:
    """An earlier report's rows by input; {} when there is none or it cannot be read."""
    try:
        with open(path, newline="") as f:
            return {row["input"]: row for row in csv.DictReader(f) if row.get("input")}
    except (OSError, csv.Error, UnicodeDecodeError, KeyError):
        return {}


def write_report(summary: BatchSummary, path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REPORT_FIELDS)
    w.writeheader()
    for r in summary.results:
        w.writerow(asdict(r))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue().encode())
