"""The `unmasker` command line: unmask a photo, draw the faces found, show what is installed."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from app import __version__
from app.errors import ModelNotInstalled, UnmaskerError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_FACE, EXIT_NO_MODEL = 0, 1, 2, 3, 4
ALLOW_UNTRAINED_ENV = "UNMASKER_ALLOW_UNTRAINED"  # tests only: run the pipeline on untrained nets


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"a face box is X0,Y0,X1,Y1 in pixels, not {text!r}")
    return vals  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    from app.faces import ENGINES

    p = argparse.ArgumentParser(prog="unmasker", description="Remove face masks from photos.")
    p.add_argument("--version", action="version", version=f"unmasker {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command")

    u = sub.add_parser("unmask", help="unmask every face in a photo")
    u.add_argument("photo", type=Path)
    u.add_argument("-o", "--output", type=Path, help="output file (default: NAME_unmasked.EXT beside the photo)")
    u.add_argument("--mask-out", type=Path, metavar="MAP.png", help="also save the mask map used (white = filled)")
    u.add_argument("--mask-in", type=Path, metavar="MAP.png", help="use this mask map instead of stage 1's")
    u.add_argument("--box", type=_box, action="append", metavar="X0,Y0,X1,Y1",
                   help="a face box drawn by hand (repeatable); skips detection")
    u.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    u.add_argument("--face-engine", default="default", choices=ENGINES)
    u.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    u.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists (never the photo)")

    f = sub.add_parser("faces", help="find the faces in a photo and draw them with their landmarks")
    f.add_argument("photo", type=Path)
    f.add_argument("-o", "--output", type=Path, required=True, help="PNG/JPEG with boxes and landmarks drawn")
    f.add_argument("--face-engine", default="default", choices=ENGINES)
    f.add_argument("--overwrite", action="store_true")

    b = sub.add_parser("batch", help="unmask every photo in a folder into a mirrored output folder")
    b.add_argument("in_dir", type=Path)
    b.add_argument("out_dir", type=Path)
    b.add_argument("--recursive", action="store_true", help="include subfolders (the output mirrors them)")
    b.add_argument("--suffix", default="_unmasked", help="added to each output name (default _unmasked)")
    b.add_argument("--format", default="same", choices=("same", "jpg", "png"))
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    b.add_argument("--workers", type=int, default=2, help="reader and writer threads (default 2)")
    b.add_argument("--masks-dir", type=Path, help="also save each photo's mask map here")
    b.add_argument("--report", type=Path, help="CSV with a row per input file (default OUT_DIR/report.csv)")
    b.add_argument("--no-face", default="copy", choices=("copy", "skip"),
                   help="photos with no face or no mask: copy them to the output, or skip them")
    b.add_argument("--face-engine", default="default", choices=ENGINES)
    b.add_argument("--quality", type=int, default=95)
    b.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")

    sub.add_parser("info", help="version, compute device, face engine and installed models")
    t = sub.add_parser("self-test", help="check this installation offline: models, face finder, one photo")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return p


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress(what: str, done: float) -> None:
    _say(f"  {what} ({done:.0%})" if 0 < done < 1 else f"  {what}")


def cmd_unmask(a: argparse.Namespace) -> int:
    from app.faces import make_face_finder
    from app.imageio import default_output_path, read_mask, read_photo, write_mask, write_photo
    from app.inference.engine import Unmasker
    from app.pipeline import NoFaceFound, find_faces, unmask_faces

    t0 = time.perf_counter()
    output = a.output or default_output_path(a.photo)
    if output.exists() and not a.overwrite:
        _say(f"error: {output} already exists (use --overwrite to replace it)")
        return EXIT_USAGE
    engine = Unmasker.from_installed(a.device, allow_untrained=os.environ.get(ALLOW_UNTRAINED_ENV) == "1")
    _say(f"reading {a.photo}")
    photo = read_photo(a.photo)
    mask_in = None
    if a.mask_in:
        mask_in = read_mask(a.mask_in, photo.size)
    _say("finding faces")
    try:
        faces = find_faces(photo.pixels, make_face_finder(a.face_engine, str(engine.device)), a.box, required=True)
    except NoFaceFound as e:
        raise NoFaceFound(f"{a.photo.name}: {e}; give one with --box X0,Y0,X1,Y1") from None
    _say(f"found {len(faces)} face(s); unmasking on {engine.device}")
    result = unmask_faces(photo.pixels, faces, engine, mask_in=mask_in, progress=_progress)
    for k, f in enumerate(result.faces, 1):
        if not f.unmasked:
            _say(f"face {k}: {f.status}")
    for note in result.notes:
        _say(f"note: {note}")
    photo.pixels = result.pixels
    write_photo(photo, output, quality=a.quality, overwrite=a.overwrite)
    if a.mask_out:
        write_mask(result.photo_map, a.mask_out, overwrite=a.overwrite)
        _say(f"mask map written to {a.mask_out}")
    print(output)
    _say(f"done in {time.perf_counter() - t0:.1f} s; the filled faces are a plausible guess, not the real faces")
    return EXIT_OK


def cmd_batch(a: argparse.Namespace) -> int:
    import signal
    import threading

    from app.batch import BatchOptions, BatchRunner
    from app.faces import make_face_finder
    from app.inference.engine import Unmasker

    engine = Unmasker.from_installed(a.device, allow_untrained=os.environ.get(ALLOW_UNTRAINED_ENV) == "1")
    options = BatchOptions(recursive=a.recursive, suffix=a.suffix, format=a.format, workers=a.workers,
                           masks_dir=a.masks_dir, overwrite=a.overwrite, no_face=a.no_face, quality=a.quality)
    cancel = threading.Event()

    def on_interrupt(_sig, _frame):  # Ctrl+C: finish the photo in hand, write nothing half-done
        if cancel.is_set():
            raise KeyboardInterrupt
        _say("stopping after the photo in hand (Ctrl+C again to abort)")
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)

    def on_result(r, n: int) -> None:
        detail = f" ({r.error})" if r.error else f" ({r.faces_unmasked}/{r.faces_found} faces)" if r.faces_found else ""
        detail += f"; {r.note}" if r.note and r.faces_found else ""
        _say(f"[{n}] {r.input}: {r.status.replace('_', ' ')}{detail}")

    _say(f"unmasking {a.in_dir} into {a.out_dir} on {engine.device}")
    try:
        summary = BatchRunner(engine, make_face_finder(a.face_engine, str(engine.device)), options, cancel,
                              on_result).run(a.in_dir, a.out_dir, a.report or a.out_dir / "report.csv")
    finally:
        signal.signal(signal.SIGINT, previous)
    print(summary.text())
    _say(f"report: {a.report or a.out_dir / 'report.csv'}")
    if cancel.is_set():
        return 130
    return EXIT_ERROR if summary.failed else EXIT_OK


def cmd_self_test(a: argparse.Namespace) -> int:
    """Everything from inside this installation, nothing downloaded: both models (checked against
    their cards), the face finder, and the bundled example photo unmasked and checked."""
    import numpy as np

    from app.faces import make_face_finder
    from app.imageio import read_photo
    from app.inference.engine import Unmasker
    from app.paths import examples_dir, models_dir
    from app.pipeline import unmask_faces

    t0 = time.perf_counter()
    engine = Unmasker.from_installed(a.device)
    print(f"models: {models_dir()} ({engine.cards['segmenter']['architecture']} + "
          f"{engine.cards['inpainter']['architecture']}, {engine.size} px"
          + (f", large faces filled at {engine.large_size} px" if engine.large_size else "") + f") on {engine.device}")
    finder = make_face_finder(device=str(engine.device))
    print(f"face finder: {finder.name}")
    photo = read_photo(examples_dir() / "astronaut_masked.jpg")
    faces = finder.detect(photo.pixels)
    if len(faces) != 1:
        _say(f"self-test FAILED: expected 1 face in the example, found {len(faces)}")
        return EXIT_ERROR
    result = unmask_faces(photo.pixels, faces, engine)
    changed = np.any(result.pixels != photo.pixels, axis=2)
    masked = result.photo_map > 127
    problems = []
    if not result.faces[0].unmasked or masked.mean() < 0.005:
        problems.append("stage 1 found no mask on the example face")
    if (changed & (result.photo_map == 0)).mean() > 0.02:
        problems.append("pixels far from the mask changed")
    if masked.any() and not changed[masked].mean() > 0.5:
        problems.append("the mask was not filled")
    if problems:
        _say("self-test FAILED: " + "; ".join(problems))
        return EXIT_ERROR
    print(f"self-test passed in {time.perf_counter() - t0:.1f} s: 1 face, {masked.mean():.1%} of the photo filled")
    return EXIT_OK


def cmd_faces(a: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image, ImageDraw

    from app.faces import make_face_finder
    from app.imageio import Photo, read_photo, write_photo

    photo = read_photo(a.photo)
    faces = make_face_finder(a.face_engine).detect(photo.pixels)
    img = Image.fromarray(photo.pixels)
    d = ImageDraw.Draw(img)
    r = max(1, round(max(img.size) / 400))
    for i, face in enumerate(faces):
        d.rectangle([float(v) for v in face.box], outline=(255, 64, 64), width=r)
        d.text((float(face.box[0]), float(face.box[3]) + 2), f"{i + 1} ({face.score:.2f})", fill=(255, 64, 64))
        for x, y in (face.points68 if face.points68 is not None else []):
            d.ellipse((x - r, y - r, x + r, y + r), fill=(64, 255, 64))
        for x, y in face.points5:
            d.ellipse((x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), outline=(64, 128, 255), width=r)
        print(f"face {i + 1}: box {[round(float(v)) for v in face.box]}, score {face.score:.3f}")
    write_photo(Photo(pixels=np.asarray(img)), a.output, overwrite=a.overwrite)
    _say(f"{len(faces)} face(s) found; drawn in {a.output}")
    return EXIT_OK if faces else EXIT_NO_FACE


def cmd_info(_a: argparse.Namespace) -> int:
    import json

    import torch

    from app.faces import blaze_available, fan_weights_dir
    from app.inference.device import choose_device, describe_device
    from app.inference.engine import INPAINTER_FILE, SEGMENTER_FILE
    from app.inference.weights import read_card
    from app.paths import models_dir

    print(f"unmasker {__version__}")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"device: {describe_device(choose_device('auto'))}")
    fan = fan_weights_dir()
    blaze = "blaze (BlazeFace + MTCNN, the default)" if blaze_available() else "blaze: LiteRT not installed"
    print(f"face engines: {blaze}; mtcnn (offline{'' if blaze_available() else ', the default'}); "
          f"fan: {'weights in ' + str(fan) if fan else 'weights not on this computer'}")
    print(f"models in {models_dir()}:")
    for name in (SEGMENTER_FILE, INPAINTER_FILE):
        try:
            card = read_card(models_dir() / name)
        except UnmaskerError as e:
            print(f"  {name}: {e}")
            continue
        trained = "trained" if card.get("trained") is True else "NOT trained"
        print(f"  {name}: {card['architecture']} ({trained}), {card['input_size']} px, {card.get('parameters', '?')} parameters")
        print("    " + json.dumps({k: v for k, v in card.items() if k not in ('config',)}, sort_keys=True))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--self-test"]:  # also spelled as an option
        argv = ["self-test", *argv[1:]]
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if a.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = {"unmask": cmd_unmask, "faces": cmd_faces, "batch": cmd_batch, "info": cmd_info,
               "self-test": cmd_self_test}[a.command]
    try:
        return handler(a)
    except ModelNotInstalled as e:
        _say(f"error: {e}")
        return EXIT_NO_MODEL
    except UnmaskerError as e:
        from app.pipeline import NoFaceFound

        _say(f"error: {e}")
        return EXIT_NO_FACE if isinstance(e, NoFaceFound) else EXIT_ERROR
    except KeyboardInterrupt:
        _say("cancelled; nothing was written")
        return 130
    except MemoryError:
        _say("error: out of memory; try a smaller photo or --device cpu")
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
