"""The app's networks and paste-back on the CPU and on a CUDA GPU: the same photos and faces, the
same process; time per photo and how far each device's result is from the CPU's.

    python -m benchmarks.devices PHOTO... --save-faces runs/devices/faces.json   # find the faces here
    python -m benchmarks.devices --faces runs/devices/faces.json [--devices cpu,cuda] [--repeats 5]

Faces are found once, on the CPU (the face finder runs there in the app too, and its dlib weights
are 100 MB: a lent GPU machine gets the boxes and points in a small JSON instead). Then, for each
device, `app.pipeline.unmask_faces` (both networks, the tone match, the paste-back) runs once to warm
up and `--repeats` times timed; the median is reported. Each photo is also run enlarged by each of
`--scales` (bigger faces, as in a camera's photos). Prints a table and, with `--out`, writes
`devices.json`. Checked: pixels away from the faces (outside each box grown by its size) are the photo's own.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from app.faces import Face, make_face_finder
from app.imageio import read_photo
from app.inference.device import describe_device
from app.inference.engine import Unmasker
from app.pipeline import unmask_faces


def face_to_json(f: Face) -> dict:
    return {"box": [float(v) for v in f.box], "points5": np.asarray(f.points5, float).tolist(),
            "score": float(f.score),
            "points68": None if f.points68 is None else np.asarray(f.points68, float).tolist()}


def face_from_json(d: dict, scale: float = 1.0) -> Face:
    p68 = d.get("points68")
    return Face(box=np.asarray(d["box"], np.float32) * scale,
                points5=np.asarray(d["points5"], np.float32) * scale, score=float(d.get("score", 1.0)),
                points68=None if p68 is None else np.asarray(p68, np.float32) * scale)


def find(photos: list[Path], engine: str) -> dict:
    finder = make_face_finder(engine)
    return {"face_engine": finder.name,
            "photos": [{"path": str(p), "faces": [face_to_json(f) for f in finder.detect(read_photo(p).pixels)]}
                       for p in photos]}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def run(found: dict, devices: list[str], scales: list[float], repeats: int) -> dict:
    cases = []
    for item in found["photos"]:
        pixels = read_photo(item["path"]).pixels
        for s in scales:
            px = pixels if s == 1 else cv2.resize(pixels, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
            cases.append({"photo": item["path"], "scale": s, "pixels": np.ascontiguousarray(px),
                          "faces": [face_from_json(d, s) for d in item["faces"]]})
    results: dict[str, list[dict]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    names: dict[str, str] = {}
    for dev in devices:
        engine = Unmasker.from_installed(dev)
        names[dev] = describe_device(engine.device)
        results[dev], outputs[dev] = [], []
        for c in cases:
            if not c["faces"]:
                continue
            out = unmask_faces(c["pixels"], c["faces"], engine)  # warm-up: first calls, allocations
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                out = unmask_faces(c["pixels"], c["faces"], engine)
                times.append(time.perf_counter() - t)
            near = np.zeros(c["pixels"].shape[:2], bool)  # each face's box, grown by its size on each side
            for f in c["faces"]:
                x0, y0, x1, y1 = f.box
                w, h = x1 - x0, y1 - y0
                near[max(0, int(y0 - h)):max(0, int(y1 + h)), max(0, int(x0 - w)):max(0, int(x1 + w))] = True
            results[dev].append({"photo": c["photo"], "scale": c["scale"], "size": list(c["pixels"].shape[:2]),
                                 "faces": len(c["faces"]),
                                 "filled": sum(bool(f.unmasked) for f in out.faces),
                                 "median_ms": 1000 * statistics.median(times),
                                 "outside_unchanged": bool(np.array_equal(out.pixels[~near],
                                                                          c["pixels"][~near]))})
            outputs[dev].append(out.pixels)
        del engine
    ref = devices[0]
    for dev in devices:
        for r, a, b in zip(results[dev], outputs[ref], outputs[dev]):
            d = np.abs(a.astype(np.int16) - b.astype(np.int16))
            r["vs_" + ref] = {"max_abs": int(d.max()), "mean_abs": float(d.mean()), "psnr_db": psnr(a, b)}
    return {"devices": names, "repeats": repeats, "results": results}


def table(report: dict) -> str:
    ref = next(iter(report["devices"]))
    lines = [f"devices: {report['devices']}; median of {report['repeats']} runs after a warm-up", "",
             "| device | photo | scale | size | faces filled | ms per photo | outside unchanged | "
             f"vs {ref}: max / mean abs, PSNR |", "|---|---|---|---|---|---|---|---|"]
    for dev, rows in report["results"].items():
        for r in rows:
            v = r[f"vs_{ref}"]
            lines.append(f"| {dev} | {Path(r['photo']).name} | {r['scale']:g} | {r['size'][1]}x{r['size'][0]} | "
                         f"{r['filled']}/{r['faces']} | {r['median_ms']:.0f} | {r['outside_unchanged']} | "
                         f"{v['max_abs']} / {v['mean_abs']:.4f}, {v['psnr_db']:.1f} dB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", nargs="*", type=Path)
    ap.add_argument("--save-faces", type=Path, help="find the faces in PHOTO... and write them here")
    ap.add_argument("--faces", type=Path, help="faces found earlier (--save-faces)")
    ap.add_argument("--face-engine", default="default")
    ap.add_argument("--devices", default="cpu,cuda", help="the first is the reference (default cpu,cuda)")
    ap.add_argument("--scales", default="1,3")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.save_faces:
        if not a.photos:
            ap.error("--save-faces needs photos")
        found = find(a.photos, a.face_engine)
        a.save_faces.parent.mkdir(parents=True, exist_ok=True)
        a.save_faces.write_text(json.dumps(found, indent=1))
        print(f"{sum(len(p['faces']) for p in found['photos'])} faces in {len(a.photos)} photos -> {a.save_faces}")
        return
    found = json.loads(a.faces.read_text()) if a.faces else find(a.photos, a.face_engine)
    report = run(found, a.devices.split(","), [float(s) for s in a.scales.split(",")], a.repeats)
    print(table(report))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "devices.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
