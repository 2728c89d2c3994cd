"""Where the app's resources are, the same from a source checkout and from a frozen bundle."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """`resources/` beside the `app` package, or inside a PyInstaller bundle (sys._MEIPASS)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def models_dir() -> Path:
    """Shipped weights; UNMASKER_MODELS points elsewhere (tests, a user's own trained models)."""
    override = os.environ.get("UNMASKER_MODELS")
    return Path(override) if override else resources_dir() / "models"


def examples_dir() -> Path:
    return resources_dir() / "examples"
