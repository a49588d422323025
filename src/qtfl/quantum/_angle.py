r"""Angle encoding: one qubit per value, :math:`R_y(\theta)|0\rangle`, read out from S copies.

Map. With the per-tensor scale :math:`r = \max_i |x_i|` (one float32 sent classically,
32 ``header_bits``; exact, since ``r`` is one of the float32 values) each value becomes
:math:`c_i = x_i / r \in [-1, 1]` and the qubit

.. math:: R_y(\theta_i)|0\rangle = \cos\tfrac{\theta_i}{2}|0\rangle
          + \sin\tfrac{\theta_i}{2}|1\rangle,\qquad \cos\theta_i = c_i .

Readout. A Z measurement gives 1 with :math:`P_1 = \sin^2(\theta/2) = (1 - c)/2`. If the
outcome bit is flipped with known probability ``q < 1/2`` (a teleported qubit measured in Z
flips with ``p_X + p_Y``), :math:`P_1' = q + (1-2q)P_1 = \tfrac12\,(1 - (1-2q)c)`. Over ``S``
copies the number of ones is :math:`k \sim \mathrm{Bin}(S, P_1')`, so
:math:`E[1 - 2k/S] = (1-2q)c` and

.. math:: \hat x = r\,\frac{1 - 2k/S}{1 - 2q}

is unbiased. Its variance follows from :math:`\mathrm{Var}(k) = S P_1'(1-P_1')` with
:math:`4P_1'(1-P_1') = 1 - (1-2q)^2c^2`:

.. math:: \mathrm{Var}(\hat x) = \frac{r^2\,\big(1 - (1-2q)^2 c^2\big)}{S\,(1-2q)^2}.

It is largest at ``c = 0``, so ``S >= r^2 / (eps^2 (1-2q)^2)`` copies give every value a
standard deviation of at most ``eps`` (:meth:`AngleEncoding.shots_for_precision`).
Noise-free (``q = 0``) values at ``c = ±1`` are read exactly.

Reference: the Ry ("angle", "qubit") encoding of Schuld & Petruccione, *Machine Learning with
Quantum Computers* (Springer, 2021), Sec. 5.2; binomial estimation of an expectation value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_int, require_range
from qtfl.quantum._flip import FlipProbability, flip_vector
from qtfl.updates import validate_update


@dataclass(frozen=True, eq=False)
class AnglePayload:
    """The prepared angles of one update and its classical header.

    Attributes:
        cos_theta: :math:`c_i = x_i / r` in ``[-1, 1]`` (float64), one qubit each.
        scale: ``r = max|x|`` (float32 value, the classical header); 0 for an all-zero update.
        n_values: number of values (= qubits per copy).
        header_bits: classical side information in bits (the float32 ``scale``).
    """

    cos_theta: npt.NDArray[np.float64]
    scale: float
    n_values: int
    header_bits: int = 32

    @property
    def theta(self) -> npt.NDArray[np.float64]:
        """Rotation angles :math:`\\theta_i = \\arccos c_i` in ``[0, π]``."""
        return np.arccos(self.cos_theta)


@dataclass(frozen=True)
class AngleEncoding:
    """One qubit per value, :math:`R_y(\\arccos(x/r))|0\\rangle`, read out from ``shots`` copies.

    Args:
        shots: copies ``S`` of the prepared state measured per value (>= 1).
    """

    shots: int = 1024
    name: ClassVar[str] = "angle"
    header_bits: ClassVar[int] = 32

    def __post_init__(self) -> None:
        require_int("shots", self.shots, low=1)

    def payload_qubits(self, n_values: int) -> int:
        """Qubits per copy: one per value."""
        return require_int("n_values", n_values, low=1)

    def encode(self, update: npt.ArrayLike) -> AnglePayload:
        """The angles of ``update`` (finite, 1-D) and its scale ``r = max|x|``."""
        x = validate_update(update).astype(np.float64)
        r = float(np.max(np.abs(x)))
        c = np.clip(x / r, -1.0, 1.0) if r > 0.0 else np.zeros_like(x)
        return AnglePayload(cos_theta=c, scale=r, n_values=x.size)

    def one_probability(
        self, payload: AnglePayload, *, flip_probability: FlipProbability = 0.0
    ) -> npt.NDArray[np.float64]:
        """Probability that one copy of each qubit reads 1: ``(1 - (1-2q) c)/2``."""
        q = flip_vector(flip_probability, size=payload.n_values)
        return 0.5 * (1.0 - (1.0 - 2.0 * q) * payload.cos_theta)

    def sample_counts(
        self,
        payload: AnglePayload,
        *,
        rng: np.random.Generator,
        flip_probability: FlipProbability = 0.0,
        repetitions: int | None = None,
    ) -> npt.NDArray[np.int64]:
        """Number of ones among the ``shots`` copies of each qubit (binomial, vectorised).

        Returns shape ``(n_values,)``, or ``(repetitions, n_values)`` independent readouts.
        """
        p = self.one_probability(payload, flip_probability=flip_probability)
        size = (
            p.shape
            if repetitions is None
            else (require_int("repetitions", repetitions, low=1), p.size)
        )
        return rng.binomial(self.shots, p, size=size).astype(np.int64)

    def readout(
        self,
        counts: npt.ArrayLike,
        *,
        scale: float,
        flip_probability: FlipProbability = 0.0,
    ) -> npt.NDArray[np.float64]:
        """Unbiased estimate :math:`r(1 - 2k/S)/(1-2q)` from the counts of ones (last axis)."""
        k = np.asarray(counts)
        if not np.issubdtype(k.dtype, np.integer) or k.ndim == 0:
            raise InputError(f"counts must be an integer array, got {k.dtype} shape {k.shape}")
        if k.size and (k.min() < 0 or k.max() > self.shots):
            raise InputError(f"counts must be in [0, {self.shots}] (shots)")
        r = require_range("scale", scale, low=0.0)
        q = flip_vector(flip_probability, size=k.shape[-1])
        return r * (1.0 - 2.0 * k / self.shots) / (1.0 - 2.0 * q)

    def variance(
        self, payload: AnglePayload, *, flip_probability: FlipProbability = 0.0
    ) -> npt.NDArray[np.float64]:
        r"""Per-value variance :math:`r^2(1-(1-2q)^2c^2) / (S(1-2q)^2)` of :meth:`readout`."""
        q = flip_vector(flip_probability, size=payload.n_values)
        g = 1.0 - 2.0 * q
        c = payload.cos_theta
        return payload.scale**2 * (1.0 - (g * c) ** 2) / (self.shots * g * g)

    @staticmethod
    def shots_for_precision(
        eps: float, *, scale: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """Copies ``S`` so that every value's standard deviation is at most ``eps``.

        Worst case over values (``c = 0``) and over the given flip probabilities:
        ``ceil(r^2 / (eps^2 (1 - 2 q_max)^2))``, at least 1.
        """
        e = require_range("eps", eps, low=0.0, low_open=True)
        r = require_range("scale", scale, low=0.0)
        q = float(np.max(flip_vector(flip_probability, size=None)))
        return max(1, _ceil(r * r / (e * e * (1.0 - 2.0 * q) ** 2)))

    def copies_for_precision(
        self, update: npt.ArrayLike, *, eps: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """:meth:`shots_for_precision` with the scale of ``update``."""
        x = validate_update(update)
        return self.shots_for_precision(
            eps, scale=float(np.max(np.abs(x))), flip_probability=flip_probability
        )


def _ceil(v: float) -> int:
    """``ceil`` that ignores float noise of a few ulps above an integer."""
    return math.ceil(v * (1.0 - 1e-12))
