r"""Norm bounding: clip every client update to a norm bound, then average (a poisoning defence).

Sun, Kairouz, Suresh & McMahan, "Can you really backdoor federated learning?" (2019) show
that bounding the norm of each update blunts boosted (scaled) and model-replacement attacks
at almost no cost to honest training:

.. math::

    \Delta_t = \sum_k \frac{n_k}{\sum_j n_j}\;
               \Delta^k \min\!\Big(1, \frac{M}{\lVert\Delta^k\rVert_2}\Big)

with a fixed bound ``M`` (``clip_norm``) or, when none is given, the median of the round's
update norms (adaptive, so honest updates are barely touched as training converges).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from qtfl.errors import require_range
from qtfl.fl.strategies.base import (
    FloatVector,
    Strategy,
    UpdateMatrix,
    WeightVector,
    check_updates,
)


def norm_bounded_mean(
    updates: UpdateMatrix, weights: WeightVector, *, clip_norm: float | None = None
) -> FloatVector:
    """Weighted mean of the rows clipped to ``clip_norm`` (default: the median row norm)."""
    check_updates(updates, weights)
    x = np.asarray(updates, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    bound = float(np.median(norms)) if clip_norm is None else clip_norm
    factors = np.minimum(1.0, bound / np.maximum(norms, np.finfo(np.float64).tiny))
    w = np.asarray(weights, dtype=np.float64)
    return (((w / w.sum()) * factors) @ x).astype(np.float32)


class NormBounding(Strategy):
    """FedAvg over updates clipped to a norm bound (fixed ``clip_norm`` or the round median)."""

    name: ClassVar[str] = "norm-bounding"

    def __init__(self, *, clip_norm: float | None = None) -> None:
        if clip_norm is not None:
            require_range("strategy.clip_norm", clip_norm, low=0.0, low_open=True)
        self.clip_norm = clip_norm

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        return norm_bounded_mean(updates, weights, clip_norm=self.clip_norm)
