"""Federated averaging (FedAvg) and its proximal variant (FedProx).

FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized
Data", AISTATS 2017): the aggregate update is the sample-weighted mean of the client deltas,

.. math:: \\Delta_t = \\sum_k \\frac{n_k}{\\sum_j n_j}\\, \\Delta_t^k,
          \\qquad w_{t+1} = w_t + \\eta_s\\, \\Delta_t

with server learning rate :math:`\\eta_s = 1` in the original algorithm.

FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020) aggregates
like FedAvg; its proximal term :math:`\\tfrac{\\mu}{2}\\lVert w - w_t\\rVert^2` is added to each
client's local loss, so it lives client side (:attr:`Strategy.proximal_mu`, read by the engine).
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


def fedavg(updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
    """Weighted mean of the rows of ``updates`` with non-negative ``weights`` (not all zero)."""
    check_updates(updates, weights)
    w = np.asarray(weights, dtype=np.float64)
    w = (w / w.sum()).astype(np.float32)
    return (w @ updates).astype(np.float32, copy=False)


class FedAvg(Strategy):
    """FedAvg: ``w + server_lr * fedavg(updates, weights)``."""

    name: ClassVar[str] = "fedavg"

    def __init__(self, *, server_lr: float = 1.0) -> None:
        self.server_lr = require_range("strategy.server_lr", server_lr, low=0.0, low_open=True)

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        agg = fedavg(updates, weights)
        return agg if self.server_lr == 1.0 else (self.server_lr * agg).astype(np.float32)


class FedProx(FedAvg):
    """FedProx: FedAvg aggregation; clients add ``mu/2 * ||w - w_global||^2`` to their loss."""

    name: ClassVar[str] = "fedprox"

    def __init__(self, *, mu: float = 0.01, server_lr: float = 1.0) -> None:
        super().__init__(server_lr=server_lr)
        self.proximal_mu = require_range("strategy.mu", mu, low=0.0)
