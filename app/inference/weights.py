"""Save and load inference weights as safetensors with a JSON model card beside them.

`name.safetensors` holds the tensors only (nothing is ever unpickled); `name.json` holds the
architecture and config to rebuild the network, the input size, training facts and the file's
sha256. Loading checks the hash, then the architecture, then that every tensor fits, and says in
words what is wrong when something does not.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from app.errors import ModelError, ModelNotInstalled
from app.fileutil import atomic_write_bytes, sha256_of
from app.inference.registry import UnknownArchitecture, architecture_of, count_parameters, make_network

log = logging.getLogger(__name__)
CARD_FORMAT = "unmasker-model-card/1"


def card_path(weights_path: str | Path) -> Path:
    return Path(weights_path).with_suffix(".json")


def save_model(model: torch.nn.Module, path: str | Path, input_size: int, **card_extra: Any) -> dict:
    """Write `path` (.safetensors) and its card atomically; return the card."""
    path = Path(path)
    role, kind, cfg = architecture_of(model)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"role": role, "architecture": kind})
    atomic_write_bytes(path, blob)
    card = {
        "format": CARD_FORMAT,
        "role": role,
        "architecture": kind,
        "config": cfg,
        "input_size": int(input_size),
        "parameters": count_parameters(model),
        **card_extra,
        "file": path.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    atomic_write_bytes(card_path(path), (json.dumps(card, indent=2) + "\n").encode())
    return card


def read_card(path: str | Path) -> dict:
    cpath = card_path(path)
    if not Path(path).exists():
        raise ModelNotInstalled(f"model file {path} does not exist")
    if not cpath.exists():
        raise ModelError(f"model card {cpath} is missing: cannot tell what {Path(path).name} holds")
    try:
        card = json.loads(cpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"model card {cpath} is unreadable: {e}") from e
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelError(f"model card {cpath} is not an Unmasker model card")
    for key in ("role", "architecture", "config", "input_size", "sha256"):
        if key not in card:
            raise ModelError(f"model card {cpath} lacks {key!r}")
    return card


def load_model(
    path: str | Path, role: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """Rebuild and fill the network described by the card beside `path`; returns (model, card)."""
    path = Path(path)
    card = read_card(path)
    if role is not None and card["role"] != role:
        raise ModelError(f"{path.name} holds a {card['role']}, not a {role}")
    actual = sha256_of(path)
    if actual != card["sha256"]:
        raise ModelError(
            f"{path.name} is damaged or was changed: its sha256 is {actual[:12]}..., "
            f"the model card says {card['sha256'][:12]}...; reinstall the model"
        )
    try:
        model = make_network(card["role"], card["architecture"], card["config"])
    except (UnknownArchitecture, TypeError, ValueError) as e:
        raise ModelError(f"{path.name}: the card's architecture cannot be built: {e}") from e
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{path.name} is not a readable safetensors file: {e}") from e
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path.name} does not match the {card['architecture']} architecture: {e}") from e
    log.info("loaded %s %s from %s", card["role"], card["architecture"], path)
    return model.to(map_location).eval(), card
