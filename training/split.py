"""The train/validation split, by identity, recorded in `training/split.json`.

CelebA photos are grouped by person (`celeba/celeb_<id>/`): every tenth identity (0, 10, ..., 160)
is validation, so nobody is in both sets. UTKFace has no identity labels; each photo counts as its
own person and a tenth of them, chosen by a hash of the file name, are validation (UTKFace holds a
few repeat sittings of the same person, which this cannot see). Photos from any other folder are
training photos. `python -m training.split --faces ../shared/data/faces` rewrites the JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from functools import lru_cache
from pathlib import Path

SPLIT_FILE = Path(__file__).with_name("split.json")
REAL_SPLIT_FILE = Path(__file__).with_name("real_split.json")
# The real masked sets (../shared/data/real_masked): half of each is held out of any training,
# tuning or threshold calibration (by a hash of the file name), and only the benchmark's held-out
# figures are reported. The other half ("tune") may train stage 1 (MaskedFace-Net's label maps;
# RMFD's and facemaskdetection's faces with maps from the first release's segmenter) and
# calibrate the mask / no mask threshold.
REAL_SETS = ("facemaskdetection", "maskedfacenet", "rmfd")


def identity_of(path: str) -> str:
    """The person a photo (path relative to the faces folder) shows, as far as the data says."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == "celeba":
        return f"celeba:{parts[1].removeprefix('celeb_')}"
    return f"{parts[0]}:{parts[-1]}" if len(parts) > 1 else f"photo:{path}"


def is_validation_identity(identity: str) -> bool:
    source, _, key = identity.partition(":")
    if source == "celeba":
        return int(key) % 10 == 0
    if source == "utkface":
        return zlib.crc32(key.encode()) % 10 == 0
    return False


@lru_cache(maxsize=2)
def load_split(path: Path = SPLIT_FILE) -> frozenset[str]:
    """The validation identities."""
    return frozenset(json.loads(path.read_text())["validation_identities"])


def split_of(path: str, validation: frozenset[str]) -> str:
    return "val" if identity_of(path) in validation else "train"


def is_held_out(real_set: str, name: str) -> bool:
    """Whether a photo of a labelled real set (its path relative to the set's folder) is held out."""
    return zlib.crc32(f"{real_set}:{name}".encode()) % 2 == 0


@lru_cache(maxsize=2)
def load_real_split(path: Path = REAL_SPLIT_FILE) -> dict[str, frozenset[str]]:
    """{set: held-out photos, relative to the set's folder}, as recorded."""
    return {k: frozenset(v) for k, v in json.loads(path.read_text())["held_out"].items()}


def real_part(real_set: str, rel: str) -> str:
    """"holdout" or "tune" for a photo of a labelled real set, from the recorded split."""
    return "holdout" if rel in load_real_split()[real_set] else "tune"


def write_real_split(real_masked: Path) -> dict[str, int]:
    held: dict[str, list[str]] = {}
    for name in REAL_SETS:
        root = real_masked / name
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg")
                       if "images" in p.parts or name == "rmfd")
        held[name] = [f for f in files if is_held_out(name, f)]
    doc = {"rule": "crc32('<set>:<path in set>') % 2 == 0 is held out; the rest is the tuning part",
           "held_out": held}
    REAL_SPLIT_FILE.write_text(json.dumps(doc, indent=0) + "\n")
    return {k: len(v) for k, v in held.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write training/split.json from the faces folder")
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--real-masked", type=Path, help="also write real_split.json from this folder")
    args = ap.parse_args(argv)
    if args.real_masked:
        print(f"held out of the real sets: {write_real_split(args.real_masked)}")
        return 0
    from training.landmarks import list_images

    ids = sorted({identity_of(p.relative_to(args.faces).as_posix()) for p in list_images(args.faces)})
    val = [i for i in ids if is_validation_identity(i)]
    doc = {"rule": __doc__.split("\n\n")[1].replace("\n", " "), "n_identities": len(ids),
           "n_validation": len(val), "validation_identities": val}
    SPLIT_FILE.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"{len(val)} of {len(ids)} identities are validation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
