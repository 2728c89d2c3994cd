"""Files carried to a machine that has no `../shared` (a rented GPU), in chunks one call can take.

    python -m training.carry split --add ../shared/data/faces=shared/data/faces \
        --add ../shared/data/mask_templates=shared/data/mask_templates \
        --add runs/landmarks.jsonl=shared/landmarks.jsonl --max-mb 30 --out runs/carry
    # there, after each call that brought runs/carry/manifest.json and one more chunk:
    python -m training.carry join runs/carry --to /tmp/carried     # /tmp/carried/shared/data/faces/...
    python -m training.carry join runs/carry --to /tmp/carried --require-all  # exit 3 while one is missing

A call to the device carries at most 64 MiB of working tree, the repository included, so the whole
training set (108 MB of faces, 19 MB of mask templates, 16 MB of landmarks: 98 MB in four chunks)
goes over in several calls, one chunk each, while the machine stays warm (what a call brought
stays there). There the real builders run on all the photos (`training.pairs --workers`, on the
machine's cores), where a `training.pack` carries a third of them with their maps ready-made.
`training/rented_gpu.sh` takes such a folder in place of a pack.

`split` writes `chunk_NN.tar.gz` (each at most `--max-mb` of file bytes, a file never cut; one
larger file gets a chunk of its own) and `manifest.json` (each chunk's sha256, size and file count).
`join` checks each chunk that has arrived against the manifest, unpacks the ones not joined before
(relative paths only: a member that would land outside `--to` is refused) and says which are
still missing.
"""
from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path, PurePosixPath

from app.fileutil import atomic_write_bytes, sha256_of

MANIFEST = "manifest.json"
JOINED = ".carry_joined.json"  # in the target: the chunks already unpacked there, by sha256


class CarryError(Exception):
    """A chunk that does not match its manifest, or a member that would land outside the target."""


def _files(adds: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """(file, name in the chunks) for every file under each source, in name order."""
    out = []
    for src, name in adds:
        if not src.exists():
            raise CarryError(f"{src}: no such file or folder")
        if src.is_file():
            out.append((src, name))
        else:
            out += [(p, f"{name}/{p.relative_to(src).as_posix()}") for p in src.rglob("*") if p.is_file()]
    for _, name in out:
        _check_name(name)
    return sorted(out, key=lambda t: t[1])


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise CarryError(f"{name!r}: a carried name must be a relative path inside the target")


def split(adds: list[tuple[Path, str]], max_bytes: int, out: Path) -> dict:
    files = _files(adds)
    groups: list[list[tuple[Path, str]]] = []
    size = max_bytes + 1
    for f in files:
        n = f[0].stat().st_size
        if size + n > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += n
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("chunk_*.tar.gz"):
        old.unlink()
    chunks = []
    for k, group in enumerate(groups):
        path = out / f"chunk_{k:02d}.tar.gz"
        part = path.with_suffix(".gz.part")
        with tarfile.open(part, "w:gz", compresslevel=6, dereference=True) as tar:
            for src, name in group:
                tar.add(src, arcname=name, recursive=False)
        part.replace(path)
        chunks.append({"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size,
                       "files": len(group), "first": group[0][1], "last": group[-1][1]})
    manifest = {"format": "unmasker-carry/1", "files": len(files), "chunks": chunks}
    atomic_write_bytes(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def join(folder: Path, to: Path, require_all: bool = False) -> dict:
    """Unpack every chunk of `folder` not unpacked before; returns what was joined and what is
    missing. Raises CarryError for a chunk whose bytes differ from the manifest's."""
    if not (folder / MANIFEST).exists():
        raise CarryError(f"{folder}: no {MANIFEST} (carry it with the chunks)")
    manifest = json.loads((folder / MANIFEST).read_text())
    to.mkdir(parents=True, exist_ok=True)
    record_path = to / JOINED
    joined = set(json.loads(record_path.read_text())) if record_path.exists() else set()
    now, missing = [], []
    for c in manifest["chunks"]:
        path = folder / c["file"]
        if c["sha256"] in joined:
            continue
        if not path.exists():
            missing.append(c["file"])
            continue
        if sha256_of(path) != c["sha256"]:
            raise CarryError(f"{path}: its bytes are not the manifest's (a broken or stale chunk); carry it again")
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                _check_name(m.name)
                if not (m.isfile() or m.isdir()):
                    raise CarryError(f"{path}: {m.name!r} is not a plain file")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(to, members=members, filter="data")
            else:  # Python before 3.10.12: the names were checked above
                tar.extractall(to, members=members)
        joined.add(c["sha256"])
        now.append(c["file"])
        atomic_write_bytes(record_path, json.dumps(sorted(joined)).encode())
    result = {"joined_now": now, "joined": len(joined & {c["sha256"] for c in manifest["chunks"]}),
              "chunks": len(manifest["chunks"]), "missing": missing}
    if require_all and missing:
        raise CarryError(f"{len(missing)} of {len(manifest['chunks'])} chunks have not arrived: {', '.join(missing)}")
    return result


def _add(text: str) -> tuple[Path, str]:
    src, sep, name = text.partition("=")
    if not sep or not src or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SOURCE=NAME")
    return Path(src), name.strip("/")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split", help="cut files into chunks of at most --max-mb")
    s.add_argument("--add", type=_add, action="append", required=True, metavar="SOURCE=NAME",
                   help="a file or folder, and the path it is unpacked to under join's --to")
    s.add_argument("--max-mb", type=float, default=30.0, help="file bytes per chunk, in MiB")
    s.add_argument("--out", type=Path, required=True)
    j = sub.add_parser("join", help="unpack the chunks that have arrived")
    j.add_argument("folder", type=Path)
    j.add_argument("--to", type=Path, required=True)
    j.add_argument("--require-all", action="store_true", help="exit 3 while a chunk is missing")
    a = ap.parse_args(argv)
    try:
        if a.command == "split":
            m = split(a.add, int(a.max_mb * 2**20), a.out)
            print(json.dumps({"files": m["files"], "chunks": [(c["file"], c["bytes"]) for c in m["chunks"]]}))
        else:
            print(json.dumps(join(a.folder, a.to, a.require_all)))
    except CarryError as e:
        print(f"carry: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
