r"""Amplitude encoding with an interference readout that recovers signs.

State. ``d`` values fill :math:`n = \lceil \log_2 d \rceil` qubits (``D = 2^n`` amplitudes,
zero-padded): :math:`|\psi\rangle = \sum_i \psi_i |i\rangle`, :math:`\psi_i = x_i/\|x\|`. The
norm :math:`\|x\|` travels as one float64 over the authenticated classical channel
(64 ``header_bits``). ``d = 1`` needs no register qubit (``n = 0``): the readout is the sign.

Interference readout. Measuring :math:`|\psi\rangle` alone gives :math:`\psi_i^2` and loses
the signs. Instead the sender prepares, on an ancilla ``a`` plus the register,

.. math:: \tfrac{1}{\sqrt2}\big(|0\rangle|\psi\rangle + |1\rangle|r\rangle\big),\qquad
          |r\rangle = |+\rangle^{\otimes n},\ r_i = 1/\sqrt{D},

and the receiver applies H to the ancilla and measures all ``n + 1`` qubits:

.. math:: P(a{=}0, i) = \tfrac14(\psi_i + r_i)^2,\qquad P(a{=}1, i) = \tfrac14(\psi_i - r_i)^2 .

With counts :math:`k_{0i}, k_{1i}` of ``S`` copies (one multinomial over the ``2D``
outcomes), :math:`E[k_{0i} - k_{1i}] = S\,(P_{0i} - P_{1i}) = S\,\psi_i r_i`, so
:math:`\hat\psi_i = (k_{0i} - k_{1i})/(S r_i)` is unbiased, signs included. For a multinomial
:math:`\mathrm{Var}(k_0 - k_1) = S[P_0(1-P_0) + P_1(1-P_1) + 2P_0P_1] = S[(P_0+P_1) -
(P_0-P_1)^2]` and :math:`P_0 + P_1 = (\psi_i^2 + r_i^2)/2`, hence

.. math:: \mathrm{Var}(\hat\psi_i) = \frac{(\psi_i^2 + r_i^2)/2 - \psi_i^2 r_i^2}{S\,r_i^2}
          = \frac{1/2 + \psi_i^2 (D/2 - 1)}{S}\quad (r_i^2 = 1/D),

and :math:`\hat x_i = \|x\|\hat\psi_i` has :math:`\|x\|^2` times that. The worst case over unit
vectors is :math:`(D-1)/(2S)` (all weight on one value); copies for a target standard
deviation ``eps`` are :math:`S = \lceil \max_i \mathrm{Var}_1(\hat x_i)/\epsilon^2\rceil`.

Flip noise. A Pauli channel on a qubit before a computational-basis measurement flips the
outcome bit independently: X and Y flip a register qubit (``q_j = p_X + p_Y``); the ancilla
passes through H first, which maps X↔Z, so Z and Y flip it (``q_a = p_Y + p_Z``); see
:func:`readout_flip_probabilities`. Flip probabilities are ordered like the outcome tensor of
shape ``(2,)*(n+1)``: index 0 is the ancilla, index ``j >= 1`` the register bit of weight
``2^(n-j)`` (axis 1 is the most significant bit of ``i``). The flat outcome index is
``a*D + i`` — Qiskit's little-endian order with the ancilla as the highest qubit. The noisy
distribution is :math:`P' = (\bigotimes_j M(q_j))P`; applying :math:`\bigotimes_j
M(q_j)^{-1}` to the empirical frequencies gives an unbiased :math:`\hat P`, and :math:`\hat
\psi_i` from it stays unbiased. Being linear in the counts, its variance is exact:

.. math:: \mathrm{Var}(\hat\psi_i) = \frac1S\Big(\frac{[(\bigotimes_{j\ge1} K_j)\,m](i)}
          {(1-2q_a)^2 r_i^2} - \psi_i^2\Big),\quad
          K_j = \frac{1}{(1-2q_j)^2}\begin{pmatrix}1-3t_j & t_j\\ t_j & 1-3t_j\end{pmatrix},

with :math:`t_j = q_j(1-q_j)` and :math:`m(i) = (\psi_i^2 + r_i^2)/2` the register marginal
(:math:`K_j = N_jM_j`, :math:`N_j` the elementwise square of :math:`M_j^{-1}`). With no
noise :math:`K = I` and this is the formula above. Since the rows of :math:`K_j` sum to
:math:`(1-2t_j)/(1-4t_j)` (note :math:`(1-2q)^2 = 1-4t`), a simple bound is

.. math:: \mathrm{Var}(\hat\psi_i) \le \frac{\max_o m(o)}{S\,(1-2q_a)^2\,r_i^2}
          \prod_{j\ge1}\frac{1-2t_j}{1-4t_j},

i.e. about :math:`D\max_o m(o)/S` inflated by :math:`1/(1-2q_a)^2` and :math:`1+2q_j` per
register qubit for small flips.

References: Schuld & Petruccione, *Machine Learning with Quantum Computers* (Springer, 2021),
Sec. 5.2.3 (amplitude encoding); the ancilla-interference (Hadamard-test) readout as in
Aharonov, Jones & Landau, STOC 2006; readout-error inversion with tensored flip matrices as in
Bravyi et al., Phys. Rev. A 103, 042605 (2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_int, require_range
from qtfl.quantum._flip import (
    FlipProbability,
    apply_per_axis,
    flip_matrices,
    flip_vector,
    inverse_flip_matrices,
)
from qtfl.updates import validate_update


@dataclass(frozen=True, eq=False)
class AmplitudePayload:
    """The register state of one update and its classical header.

    Attributes:
        state: :math:`\\psi`, ``D = 2^n`` real amplitudes of unit norm (zero-padded).
        norm: :math:`\\|x\\|` (float64, the classical header); 0 for an all-zero update, whose
            state is then ``|0...0>`` and decodes to zeros.
        n_values: ``d``.
        header_bits: classical side information in bits (the float64 norm).
    """

    state: npt.NDArray[np.float64]
    norm: float
    n_values: int
    header_bits: int = 64

    @property
    def register_qubits(self) -> int:
        """``n = ceil(log2 d)``."""
        return int(self.state.size).bit_length() - 1

    @property
    def reference(self) -> npt.NDArray[np.float64]:
        """The reference amplitudes :math:`r_i = 1/\\sqrt D` of :math:`|+\\rangle^{\\otimes n}`."""
        return np.full(self.state.size, 1.0 / math.sqrt(self.state.size))


@dataclass(frozen=True)
class AmplitudeEncoding:
    """``d`` values in ``ceil(log2 d)`` qubits plus one ancilla; interference readout.

    Args:
        shots: copies ``S`` of the ``n + 1``-qubit state measured per update (>= 1).
    """

    shots: int = 1024
    name: ClassVar[str] = "amplitude"
    header_bits: ClassVar[int] = 64

    def __post_init__(self) -> None:
        require_int("shots", self.shots, low=1)

    @staticmethod
    def register_qubits(n_values: int) -> int:
        """``n = ceil(log2 d)`` (0 for ``d = 1``)."""
        return (require_int("n_values", n_values, low=1) - 1).bit_length()

    def payload_qubits(self, n_values: int) -> int:
        """Qubits per copy: the register plus the ancilla, ``ceil(log2 d) + 1``."""
        return self.register_qubits(n_values) + 1

    def encode(self, update: npt.ArrayLike) -> AmplitudePayload:
        """Normalise ``update`` (finite, 1-D) into a ``2^n``-amplitude state."""
        x = validate_update(update).astype(np.float64)
        dim = 1 << self.register_qubits(x.size)
        norm = float(np.linalg.norm(x))
        state = np.zeros(dim)
        if norm > 0.0:
            state[: x.size] = x / norm
        else:
            state[0] = 1.0
        return AmplitudePayload(state=state, norm=norm, n_values=x.size)

    def outcome_distribution(
        self, payload: AmplitudePayload, *, flip_probability: FlipProbability = 0.0
    ) -> npt.NDArray[np.float64]:
        """The ``2D`` outcome probabilities, flat index ``a*D + i``, with optional flips."""
        psi, r = payload.state, payload.reference
        p = np.concatenate([(psi + r) ** 2, (psi - r) ** 2]) / 4.0
        n = payload.register_qubits
        q = flip_vector(flip_probability, size=n + 1)
        if q.any():
            p = apply_per_axis(p.reshape((2,) * (n + 1)), flip_matrices(q), first_axis=0)
        p = np.clip(p.reshape(-1), 0.0, None)
        return p / p.sum()

    def sample_counts(
        self,
        payload: AmplitudePayload,
        *,
        rng: np.random.Generator,
        flip_probability: FlipProbability = 0.0,
        repetitions: int | None = None,
    ) -> npt.NDArray[np.int64]:
        """Outcome counts of ``shots`` copies: shape ``(2D,)`` or ``(repetitions, 2D)``."""
        p = self.outcome_distribution(payload, flip_probability=flip_probability)
        size = None if repetitions is None else require_int("repetitions", repetitions, low=1)
        return rng.multinomial(self.shots, p, size=size).astype(np.int64)

    def readout(
        self,
        counts: npt.ArrayLike,
        *,
        norm: float,
        n_values: int,
        flip_probability: FlipProbability = 0.0,
    ) -> npt.NDArray[np.float64]:
        """Unbiased estimate of the ``n_values`` values from outcome counts (last axis ``2D``).

        Inverts the flip matrices on the empirical distribution, then
        :math:`\\hat x_i = \\|x\\|\\,(\\hat P_{0i} - \\hat P_{1i})/r_i`.
        """
        n = self.register_qubits(n_values)
        dim = 1 << n
        k = np.asarray(counts)
        if not np.issubdtype(k.dtype, np.integer) or k.ndim == 0 or k.shape[-1] != 2 * dim:
            raise InputError(
                f"counts must be integers with last axis {2 * dim} (2^(n+1) outcomes for "
                f"{n_values} values), got {k.dtype} shape {k.shape}"
            )
        totals = k.sum(axis=-1)
        if k.min() < 0 or (totals != self.shots).any():
            raise InputError(f"counts must be >= 0 and sum to shots={self.shots} per readout")
        nrm = require_range("norm", norm, low=0.0)
        q = flip_vector(flip_probability, size=n + 1)
        batch = k.shape[:-1]
        freq = k.astype(np.float64) / self.shots
        if q.any():
            t = freq.reshape(batch + (2,) * (n + 1))
            freq = apply_per_axis(t, inverse_flip_matrices(q), first_axis=len(batch))
        freq = freq.reshape((*batch, 2, dim))
        psi_hat = (freq[..., 0, :] - freq[..., 1, :]) * math.sqrt(dim)
        return nrm * psi_hat[..., :n_values]

    def variance(
        self, payload: AmplitudePayload, *, flip_probability: FlipProbability = 0.0
    ) -> npt.NDArray[np.float64]:
        """Per-value variance of :meth:`readout` for ``shots`` copies (module docstring)."""
        return self._unit_variance(payload, flip_probability) / self.shots

    def shots_for_precision(
        self, eps: float, payload: AmplitudePayload, *, flip_probability: FlipProbability = 0.0
    ) -> int:
        """Copies ``S`` so that every value of ``payload`` has standard deviation <= ``eps``."""
        e = require_range("eps", eps, low=0.0, low_open=True)
        worst = float(np.max(self._unit_variance(payload, flip_probability)))
        return max(1, math.ceil(worst / (e * e) * (1.0 - 1e-12)))

    def copies_for_precision(
        self, update: npt.ArrayLike, *, eps: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """:meth:`shots_for_precision` for ``update``."""
        return self.shots_for_precision(eps, self.encode(update), flip_probability=flip_probability)

    @staticmethod
    def _unit_variance(
        payload: AmplitudePayload, flip_probability: FlipProbability
    ) -> npt.NDArray[np.float64]:
        n = payload.register_qubits
        q = flip_vector(flip_probability, size=n + 1)
        psi, r2 = payload.state, 1.0 / payload.state.size
        marginal = (psi * psi + r2) / 2.0
        if q[1:].any():
            t = q[1:] * (1.0 - q[1:])
            diag = (1.0 - 3.0 * t) / (1.0 - 2.0 * q[1:]) ** 2
            off = t / (1.0 - 2.0 * q[1:]) ** 2
            k_mats = np.stack([np.stack([diag, off], -1), np.stack([off, diag], -1)], -2)
            marginal = apply_per_axis(marginal.reshape((2,) * n), k_mats, first_axis=0).reshape(-1)
        var = marginal / ((1.0 - 2.0 * q[0]) ** 2 * r2) - psi * psi
        return payload.norm**2 * var[: payload.n_values]


def readout_flip_probabilities(
    pauli_probabilities: npt.ArrayLike, *, register_qubits: int
) -> npt.NDArray[np.float64]:
    """Per-qubit outcome flip probabilities of the interference readout under Pauli noise.

    Args:
        pauli_probabilities: ``(p_I, p_X, p_Y, p_Z)`` applied to every teleported qubit
            (e.g. ``BellDiagonalPair.pauli_probabilities``), or one row per qubit, shape
            ``(n + 1, 4)``, ancilla first.
        register_qubits: ``n``.

    Returns:
        ``[p_Y + p_Z (ancilla, measured after H), p_X + p_Y (each register qubit)]``,
        length ``n + 1``, in the order :meth:`AmplitudeEncoding.readout` expects.
    """
    n = require_int("register_qubits", register_qubits, low=0)
    p = np.asarray(pauli_probabilities, dtype=np.float64)
    if p.shape == (4,):
        p = np.broadcast_to(p, (n + 1, 4))
    if p.shape != (n + 1, 4):
        raise InputError(f"pauli_probabilities must have shape (4,) or ({n + 1}, 4), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0):
        raise InputError("pauli_probabilities must be >= 0 and each row must sum to 1")
    flips = p[:, 1] + p[:, 2]
    flips[0] = p[0, 2] + p[0, 3]
    return flips
