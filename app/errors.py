"""Specific exceptions of the core; the CLI and UI turn them into plain messages."""
from __future__ import annotations


class UnmaskerError(Exception):
    """Base of every error the core raises on purpose; str(e) is a message for a person."""


class ImageReadError(UnmaskerError):
    """A photo could not be read: unreadable, unsupported, truncated or too large."""


class ImageWriteError(UnmaskerError):
    """A photo could not be written (disk full, read-only folder, unknown format)."""


class ModelError(UnmaskerError):
    """A model file is missing, damaged, tampered with or of the wrong architecture."""


class ModelNotInstalled(ModelError):
    """No trained weights are installed for a stage."""


class FaceError(UnmaskerError):
    """Face finding failed (no detector available, bad box)."""
