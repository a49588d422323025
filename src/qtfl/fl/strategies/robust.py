"""Byzantine-robust aggregation: coordinate-wise median, trimmed mean, Krum and Multi-Krum.

* Coordinate-wise median and trimmed mean: Yin et al., "Byzantine-Robust Distributed
  Learning: Towards Optimal Statistical Rates", ICML 2018. For each coordinate, the median of
  the client values, or the mean after dropping the ``floor(beta * n)`` largest and smallest.
  Both ignore the sample weights (a weight is a claim the attacker controls).
* Krum and Multi-Krum: Blanchard et al., "Machine Learning with Adversaries: Byzantine
  Tolerant Gradient Descent", NeurIPS 2017; El Mhamdi et al., ICML 2018 for Multi-Krum. With
  ``f`` tolerated Byzantine clients, the score of update ``i`` is the sum of its squared
  Euclidean distances to its ``n - f - 2`` nearest other updates; Krum keeps the update with
  the lowest score, Multi-Krum the ``m`` lowest and averages them weighted by sample count
  (as Flower's ``aggregate_krum`` does). Krum's guarantee needs ``n > 2f + 2``; with fewer
  answers (dropouts, aborts) the neighbour count is clamped to at least 1.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from qtfl.errors import require_int, require_range
from qtfl.fl.strategies.base import (
    FloatVector,
    Strategy,
    UpdateMatrix,
    WeightVector,
    check_updates,
)
from qtfl.fl.strategies.fedavg import fedavg


def coordinate_median(updates: UpdateMatrix) -> FloatVector:
    """Coordinate-wise median of the rows (mean of the two middle values for even ``n``)."""
    check_updates(updates, np.ones(updates.shape[0]))
    return np.median(updates, axis=0).astype(np.float32)


def trimmed_mean(updates: UpdateMatrix, *, beta: float) -> FloatVector:
    """Coordinate-wise mean after removing the ``floor(beta*n)`` smallest and largest values.

    ``beta`` in ``[0, 0.5)`` keeps at least one value per coordinate.
    """
    check_updates(updates, np.ones(updates.shape[0]))
    n = updates.shape[0]
    k = int(np.floor(beta * n))
    if k == 0:
        return updates.mean(axis=0, dtype=np.float64).astype(np.float32)
    part = np.partition(updates, (k, n - k - 1), axis=0)
    return part[k : n - k].mean(axis=0, dtype=np.float64).astype(np.float32)


def krum_scores(updates: UpdateMatrix, *, f: int) -> np.ndarray:
    """Krum score of every row: sum of squared distances to its ``max(n-f-2, 1)`` nearest rows."""
    n = updates.shape[0]
    u = updates.astype(np.float64)
    sq = np.einsum("ij,ij->i", u, u)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (u @ u.T), 0.0)
    np.fill_diagonal(d2, np.inf)
    k = max(n - f - 2, 1)
    nearest = np.sort(d2, axis=1)[:, :k]
    return nearest.sum(axis=1)


def krum(updates: UpdateMatrix, weights: WeightVector, *, f: int, m: int = 1) -> FloatVector:
    """Krum (``m=1``) or Multi-Krum: weighted mean of the ``m`` lowest-score updates."""
    check_updates(updates, weights)
    n = updates.shape[0]
    if n == 1:
        return updates[0].astype(np.float32, copy=True)
    order = np.argsort(krum_scores(updates, f=f), kind="stable")[: min(m, n)]
    w = np.asarray(weights, dtype=np.float64)[order]
    if not np.any(w > 0):
        w = np.ones_like(w)
    return fedavg(updates[order], w)


class CoordinateMedian(Strategy):
    """Coordinate-wise median (Yin et al. 2018)."""

    name: ClassVar[str] = "median"

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        return coordinate_median(updates)


class TrimmedMean(Strategy):
    """Coordinate-wise ``beta``-trimmed mean (Yin et al. 2018); default ``beta=0.1``."""

    name: ClassVar[str] = "trimmed-mean"

    def __init__(self, *, beta: float = 0.1) -> None:
        self.beta = require_range("strategy.beta", beta, low=0.0, high=0.5, high_open=True)

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        return trimmed_mean(updates, beta=self.beta)


class Krum(Strategy):
    """Krum (``m=1``) and Multi-Krum (``m>1``), tolerating ``f`` Byzantine clients."""

    name: ClassVar[str] = "krum"

    def __init__(self, *, f: int = 1, m: int = 1) -> None:
        self.f = require_int("strategy.f", f, low=0)
        self.m = require_int("strategy.m", m, low=1)

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        return krum(updates, weights, f=self.f, m=self.m)


class MultiKrum(Krum):
    """Multi-Krum: Krum keeping the ``m`` best updates (default ``m=5``)."""

    name: ClassVar[str] = "multi-krum"

    def __init__(self, *, f: int = 1, m: int = 5) -> None:
        super().__init__(f=f, m=m)
