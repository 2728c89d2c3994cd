"""Pick the compute device: CUDA when present, else Apple's MPS when it works, else the CPU."""
from __future__ import annotations

import torch

from app.errors import UnmaskerError


def choose_device(preference: str = "auto") -> torch.device:
    preference = preference.lower()
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise UnmaskerError("--device cuda was asked for, but no CUDA GPU is available here")
        return torch.device("cuda")
    if preference != "auto":
        raise UnmaskerError(f"unknown device {preference!r}: use auto, cpu or cuda")
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
