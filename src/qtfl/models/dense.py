"""Fully connected classifiers: multinomial logistic regression and the MLP.

Both flatten the ``(C, H, W)`` image first, so they accept any input shape. No BatchNorm,
no dropout: the modules hold parameters only (no buffers, no randomness in ``forward``), so
they work with ``torch.func.functional_call`` under ``torch.func.vmap`` over stacked
per-client parameters.
"""

from __future__ import annotations

import math

from torch import nn


def logistic_regression(*, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    """``Flatten -> Linear(prod(input_shape), num_classes)``; logits out (softmax in the loss)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


def mlp(
    *, input_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...]
) -> nn.Sequential:
    """``Flatten -> [Linear -> ReLU] per hidden width -> Linear``; logits out.

    ``hidden=(128,)`` on 28x28 images is the 784-128-10 network of the FL benchmarks.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
