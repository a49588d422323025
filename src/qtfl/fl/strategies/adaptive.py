"""Adaptive server optimizers: FedAdam and FedYogi.

Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2. With
:math:`\\Delta_t` the sample-weighted mean of the client deltas (as in FedAvg):

.. math::
    m_t &= \\beta_1 m_{t-1} + (1-\\beta_1)\\,\\Delta_t \\\\
    v_t &= \\beta_2 v_{t-1} + (1-\\beta_2)\\,\\Delta_t^2
          \\quad\\text{(FedAdam)} \\\\
    v_t &= v_{t-1} - (1-\\beta_2)\\,\\Delta_t^2\\,\\operatorname{sign}(v_{t-1}-\\Delta_t^2)
          \\quad\\text{(FedYogi)} \\\\
    w_{t+1} &= w_t + \\eta\\,\\frac{m_t}{\\sqrt{v_t} + \\tau}

with :math:`m_{-1} = 0`, :math:`v_{-1} = \\tau^2` and no bias correction, as in the paper.
Defaults: :math:`\\beta_1 = 0.9`, :math:`\\beta_2 = 0.99` (fixed throughout the paper's
experiments); the paper tunes the server rate :math:`\\eta` and the adaptivity :math:`\\tau`
per task over grids :math:`10^{-3}..10^{1}` and :math:`10^{-5}..10^{-1}`; the defaults here,
``server_lr=0.01`` and ``tau=0.001``, sit inside those grids.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.errors import require_range
from qtfl.fl.strategies.base import FloatVector, Strategy, UpdateMatrix, WeightVector
from qtfl.fl.strategies.fedavg import fedavg

Array = npt.NDArray[np.float32]


def adam_second_moment(v: Array, delta: Array, *, beta2: float) -> Array:
    """FedAdam: ``v' = beta2 * v + (1 - beta2) * delta**2``."""
    return (beta2 * v + (1.0 - beta2) * delta * delta).astype(np.float32)


def yogi_second_moment(v: Array, delta: Array, *, beta2: float) -> Array:
    """FedYogi: ``v' = v - (1 - beta2) * delta**2 * sign(v - delta**2)``."""
    d2 = delta * delta
    return (v - (1.0 - beta2) * d2 * np.sign(v - d2)).astype(np.float32)


def adaptive_step(params: Array, m: Array, v: Array, *, server_lr: float, tau: float) -> Array:
    """``params + server_lr * m / (sqrt(v) + tau)``."""
    return (params + server_lr * m / (np.sqrt(v) + tau)).astype(np.float32)


class _Adaptive(Strategy):
    """FedAvg aggregate followed by an Adam-like server step; holds ``m`` and ``v``."""

    def __init__(
        self,
        *,
        server_lr: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 0.001,
    ) -> None:
        self.server_lr = require_range("strategy.server_lr", server_lr, low=0.0, low_open=True)
        self.beta1 = require_range("strategy.beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = require_range("strategy.beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.tau = require_range("strategy.tau", tau, low=0.0, low_open=True)
        self.m: Array | None = None
        self.v: Array | None = None

    def _second_moment(self, v: Array, delta: Array) -> Array:
        raise NotImplementedError

    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        return fedavg(updates, weights)

    def step(
        self, params: FloatVector, updates: UpdateMatrix, weights: WeightVector
    ) -> FloatVector:
        if updates.shape[0] == 0:
            return params
        delta = self.aggregate(updates, weights)
        if self.m is None or self.v is None:
            self.m = np.zeros_like(delta)
            self.v = np.full_like(delta, self.tau**2)
        self.m = (self.beta1 * self.m + (1.0 - self.beta1) * delta).astype(np.float32)
        self.v = self._second_moment(self.v, delta)
        return adaptive_step(params, self.m, self.v, server_lr=self.server_lr, tau=self.tau)

    def state_dict(self) -> dict[str, Array]:
        if self.m is None or self.v is None:
            return {}
        return {"m": self.m.copy(), "v": self.v.copy()}

    def load_state_dict(self, state: dict[str, Array]) -> None:
        if not state:
            self.m = self.v = None
            return
        if set(state) != {"m", "v"}:
            raise ValueError(f"{self.name} state needs keys m, v; got {sorted(state)}")
        self.m = np.asarray(state["m"], np.float32).copy()
        self.v = np.asarray(state["v"], np.float32).copy()


class FedAdam(_Adaptive):
    """FedAdam (Reddi et al. 2021)."""

    name: ClassVar[str] = "fedadam"

    def _second_moment(self, v: Array, delta: Array) -> Array:
        return adam_second_moment(v, delta, beta2=self.beta2)


class FedYogi(_Adaptive):
    """FedYogi (Reddi et al. 2021): additive second-moment update, slower to forget."""

    name: ClassVar[str] = "fedyogi"

    def _second_moment(self, v: Array, delta: Array) -> Array:
        return yogi_second_moment(v, delta, beta2=self.beta2)
