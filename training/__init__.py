"""Synthetic training pairs, training loops, losses, metrics, evaluation and weight export."""
