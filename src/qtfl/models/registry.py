"""Models by name: ``build_model("mlp", input_shape=(1, 8, 8), num_classes=10)``.

Initialisation uses torch's default (Kaiming-uniform) initialisers, so it draws from torch's
global generator. The FL engine seeds torch once per run (``torch.manual_seed``), which makes
the global model reproducible; ``seed=`` here builds the model from its own seed inside
``torch.random.fork_rng`` instead, leaving the global generator untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from qtfl import registry
from qtfl.errors import InputError, require_choice, require_int
from qtfl.models.conv import CONVNET_MIN_SIDE, LENET_MIN_SIDE, convnet, lenet
from qtfl.models.dense import logistic_regression, mlp
from qtfl.models.vqc import MAX_QUBITS, vqc

MODELS: tuple[str, ...] = registry.MODELS
"""Names :func:`build_model` accepts."""

_MIN_SIDE = {"lenet": LENET_MIN_SIDE, "convnet": CONVNET_MIN_SIDE}


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    hidden: int | Sequence[int] = 128,
    qubits: int | None = None,
    layers: int = 2,
    seed: int | None = None,
) -> nn.Module:
    """Build classifier ``name``: ``(B, *input_shape)`` images to ``(B, num_classes)`` logits.

    Args:
        name: one of :data:`MODELS` — ``logreg`` (Flatten + Linear), ``mlp`` (Flatten +
            Linear-ReLU per hidden width + Linear), ``lenet`` (LeNet-5 style, for 1x28x28;
            any ``(C, H, W)`` with H, W >= 12), ``convnet`` (small ConvNet for 3x32x32; any
            ``(C, H, W)`` with H, W >= 8), ``vqc`` (variational quantum circuit with a
            classical linear head, :mod:`qtfl.models.vqc`).
        input_shape: shape of one example, ``(C, H, W)`` (``Dataset.input_shape``).
        num_classes: number of output logits, >= 2.
        hidden: MLP hidden width(s): one int or a sequence, each >= 1 (``mlp`` only).
        qubits: VQC register size, 1..12 (``vqc`` only; default min(features, 8)).
        layers: VQC ansatz layers per encoding block, >= 1 (``vqc`` only).
        seed: if given, initialise from ``torch.manual_seed(seed)`` without touching torch's
            global generator; if ``None``, draw from the global generator.

    Raises:
        InputError: unknown name (lists :data:`MODELS`), a bad shape, class count or width.
    """
    require_choice("model", name, MODELS)
    shape = _validate_shape(name, input_shape)
    classes = require_int("num_classes", num_classes, low=2)
    widths = _validate_hidden(hidden)
    if qubits is not None:
        require_int("model.qubits", qubits, low=1, high=MAX_QUBITS)
    require_int("model.layers", layers, low=1)
    if seed is not None:
        require_int("seed", seed, low=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _build(name, shape, classes, widths, qubits, layers)
    return _build(name, shape, classes, widths, qubits, layers)


def _build(
    name: str,
    shape: tuple[int, ...],
    classes: int,
    widths: tuple[int, ...],
    qubits: int | None,
    layers: int,
) -> nn.Module:
    if name == "vqc":
        return vqc(input_shape=shape, num_outputs=classes, qubits=qubits, layers=layers)
    if name == "logreg":
        return logistic_regression(input_shape=shape, num_classes=classes)
    if name == "mlp":
        return mlp(input_shape=shape, num_classes=classes, hidden=widths)
    c, h, w = shape
    if name == "lenet":
        return lenet(input_shape=(c, h, w), num_classes=classes)
    return convnet(input_shape=(c, h, w), num_classes=classes)


def _validate_shape(name: str, input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise InputError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if not shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape
    ):
        raise InputError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    if name in _MIN_SIDE:
        side = _MIN_SIDE[name]
        if len(shape) != 3 or min(shape[1:]) < side:
            raise InputError(
                f"model {name!r} needs input_shape (C, H, W) with H, W >= {side}, "
                f"got {shape}; use 'mlp' or 'logreg' for smaller images"
            )
    return shape


def _validate_hidden(hidden: int | Sequence[int]) -> tuple[int, ...]:
    widths = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    for i, h in enumerate(widths):
        require_int(f"hidden[{i}]", h, low=1)
    return widths
