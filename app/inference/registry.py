"""Explicit factories: one name per architecture, a clear error for an unknown one."""
from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from app.inference.caru2net import CARU2Net, CARU2NetConfig
from app.inference.ganmasker import GANMaskerConfig, GANMaskerGenerator
from app.inference.mseg import MSeg, MSegConfig
from app.inference.verifier import FaceVerifierConfig, FaceVerifierNet

SEGMENTERS: dict[str, tuple[type[nn.Module], type]] = {"mseg": (MSeg, MSegConfig)}
GENERATORS: dict[str, tuple[type[nn.Module], type]] = {
    "ganmasker": (GANMaskerGenerator, GANMaskerConfig),
    "caru2net": (CARU2Net, CARU2NetConfig),
}
VERIFIERS: dict[str, tuple[type[nn.Module], type]] = {"faceverifier": (FaceVerifierNet, FaceVerifierConfig)}
ROLES = {"segmenter": SEGMENTERS, "generator": GENERATORS, "verifier": VERIFIERS}


class UnknownArchitecture(ValueError):
    pass


def _make(table: dict, kind: str, cfg: dict[str, Any]) -> nn.Module:
    if kind not in table:
        raise UnknownArchitecture(f"unknown architecture {kind!r}; known: {', '.join(sorted(table))}")
    cls, config_cls = table[kind]
    names = {f.name for f in dataclasses.fields(config_cls)}
    extra = set(cfg) - names
    if extra:
        raise UnknownArchitecture(f"{kind}: unknown config keys {sorted(extra)}; known: {sorted(names)}")
    return cls(config_cls(**cfg))


def make_segmenter(kind: str = "mseg", **cfg: Any) -> nn.Module:
    return _make(SEGMENTERS, kind, cfg)


def make_generator(kind: str = "caru2net", **cfg: Any) -> nn.Module:
    return _make(GENERATORS, kind, cfg)


def make_network(role: str, kind: str, cfg: dict[str, Any]) -> nn.Module:
    if role not in ROLES:
        raise UnknownArchitecture(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    return _make(ROLES[role], kind, cfg)


def architecture_of(model: nn.Module) -> tuple[str, str, dict[str, Any]]:
    """(role, kind, config as plain JSON-able dict) of a network built by these factories."""
    for role, table in ROLES.items():
        for kind, (cls, _) in table.items():
            if type(model) is cls:
                cfg = dataclasses.asdict(model.config)
                return role, kind, {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    raise UnknownArchitecture(f"{type(model).__name__} is not a registered network")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
