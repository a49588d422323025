"""Torch classifiers for the FL engine, built by name with :func:`build_model`."""

from qtfl.models.registry import MODELS, build_model

__all__ = ["MODELS", "build_model"]
