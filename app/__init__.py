"""Unmasker: removes face masks from photos and fills the hidden face with a GAN."""

__version__ = "0.1.0"
