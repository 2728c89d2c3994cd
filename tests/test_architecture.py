"""The import contract: only app.ui imports Qt; training never imports app.ui."""
import pkgutil
import subprocess
import sys

from pathlib import Path

import pytest

import app

from .conftest import ROOT


def test_import_contracts_are_kept():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_contract_lists_every_non_ui_module():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    qt_free = set(next(c for c in cfg if c["name"] == "Only app.ui imports Qt")["source_modules"])
    modules = {f"app.{m.name}" for m in pkgutil.iter_modules(app.__path__)} - {"app.ui", "app.__main__"}
    assert modules <= qt_free, f"add {sorted(modules - qt_free)} to the contract in pyproject.toml"
    assert "training" in qt_free
