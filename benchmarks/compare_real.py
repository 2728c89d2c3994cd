"""Two runs of the real-photo benchmark, face by face: is B's fill sharper, or closer in tone to the
skin above it, than A's, by more than the benchmark's own noise?

    python -m benchmarks.compare_real runs/real_A runs/real_B [--bootstrap 2000] [--out FILE.md]

Both runs write OUT/fills.json (`benchmarks.real_photos`); the faces filled in both (same photo,
same box: with the same segmenter, every one) are paired. For each measure and mask width: the
faces, A's and B's medians, and the mean of B minus A on the same face with its 95 % interval
(a bootstrap over the faces, seeded): an interval that holds 0 is no difference. Sharpness is
compared on a log scale (log2 of B over A: +0.1 is 7 % sharper); the tone gaps in CIELAB units
(lower is better).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.real_photos import WIDTH_BINS

WIDTHS = (*WIDTH_BINS, (0, 10 ** 9, "all"))  # the benchmark's own mask widths, and all of them
# (field, what it is, compare as log2 ratio)
MEASURES = (("sharpness", "fill sharpness / skin above, eyes left out", True),
            ("sharpness_with_eyes", "fill sharpness / the band above, eyes and all", True),
            ("dL", "tone gap dL, eyes left out", False),
            ("dab", "tone gap d(a,b), eyes left out", False),
            ("dL_with_eyes", "tone gap dL, eyes and all", False),
            ("dab_with_eyes", "tone gap d(a,b), eyes and all", False))


def load(run: Path) -> dict[str, dict]:
    path = run / "fills.json"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (run python -m benchmarks.real_photos --out {run} first)")
    return {r["key"]: r for r in json.loads(path.read_text())}


def paired(a: dict[str, dict], b: dict[str, dict], field: str, log: bool, lo: float, hi: float,
           rng: np.random.Generator, n_boot: int) -> dict | None:
    keys = [k for k in a if k in b and field in a[k] and field in b[k] and lo <= a[k].get("width", -1) < hi]
    if len(keys) < 2:
        return None
    va = np.array([a[k][field] for k in keys], float)
    vb = np.array([b[k][field] for k in keys], float)
    if log:
        ok = (va > 0) & (vb > 0)
        va, vb = va[ok], vb[ok]
        d = np.log2(vb / va)
    else:
        d = vb - va
    boots = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    lo_ci, hi_ci = np.percentile(boots, [2.5, 97.5])
    return {"faces": int(len(d)), "median_a": float(np.median(va)), "median_b": float(np.median(vb)),
            "mean_diff": float(d.mean()), "ci95": [float(lo_ci), float(hi_ci)],
            "differs": bool(lo_ci > 0 or hi_ci < 0)}


def compare(run_a: Path, run_b: Path, n_boot: int = 2000, seed: int = 0) -> dict:
    a, b = load(run_a), load(run_b)
    rng = np.random.default_rng(seed)
    out = {"a": str(run_a), "b": str(run_b), "faces_a": len(a), "faces_b": len(b),
           "paired": len(set(a) & set(b)), "measures": {}}
    for field, _, log in MEASURES:
        out["measures"][field] = {name: paired(a, b, field, log, lo, hi, rng, n_boot) for lo, hi, name in WIDTHS}
    return out


def table(c: dict) -> str:
    lines = [f"A = {c['a']} ({c['faces_a']} fills), B = {c['b']} ({c['faces_b']} fills), {c['paired']} paired", "",
             "| measure | mask width | faces | A median | B median | B - A, mean (95 % interval) | |",
             "|---|---|---|---|---|---|---|"]
    for field, what, log in MEASURES:
        for name, r in c["measures"][field].items():
            if r is None:
                continue
            unit = "log2 ratio" if log else ""
            better = (r["mean_diff"] > 0) == log  # sharper, or a smaller tone gap
            verdict = ("B better" if better else "A better") if r["differs"] else "no difference"
            lines.append(f"| {what} | {name} | {r['faces']} | {r['median_a']:.2f} | {r['median_b']:.2f} | "
                         f"{r['mean_diff']:+.3f} ({r['ci95'][0]:+.3f} to {r['ci95'][1]:+.3f}) {unit} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    a = ap.parse_args(argv)
    c = compare(a.run_a, a.run_b, a.bootstrap)
    if not c["paired"]:
        print(f"no face filled in both {a.run_a} and {a.run_b}", file=sys.stderr)
        return 1
    text = table(c)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
