r"""Noisy Bell pairs and the Pauli channels they induce on teleported qubits.

Conventions (used throughout qtfl):

* Bell basis order ``(Φ+, Ψ-, Ψ+, Φ-)`` with coefficients ``(A, B, C, D)`` as in DEJMPS;
  :math:`|\Phi^\pm\rangle = (|00\rangle \pm |11\rangle)/\sqrt2`,
  :math:`|\Psi^\pm\rangle = (|01\rangle \pm |10\rangle)/\sqrt2`; qubit 0 is the client's half.
* Pauli order ``(I, X, Y, Z)``. Teleporting through a pair in state
  :math:`(\sigma\otimes I)|\Phi^+\rangle` applies σ to the payload, so a Bell-diagonal pair is
  the Pauli channel :math:`p_I = A,\ p_X = C\ (\Psi^+),\ p_Y = B\ (\Psi^-),\ p_Z = D\ (\Phi^-)`.
* Fidelity ``F = A`` (overlap with Φ+). The Werner pair has ``B = C = D = (1-F)/3``,
  visibility ``V = (4F-1)/3``, QBER ``(1-V)/2 = 2(1-F)/3`` in every basis, CHSH ``2√2·V``,
  and average teleportation fidelity ``(2F+1)/3``.

References: Werner, Phys. Rev. A 40, 4277 (1989); Bennett et al., PRL 76, 722 (1996);
Deutsch et al. (DEJMPS), PRL 77, 2818 (1996); Horodecki, Horodecki & Horodecki,
Phys. Lett. A 200, 340 (1995) (CHSH of a two-qubit state).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_range

_S = 1.0 / math.sqrt(2.0)
#: Bell vectors in the order (Φ+, Ψ-, Ψ+, Φ-), computational basis ``|q0 q1>``.
BELL_STATES: Final = np.array(
    [
        [_S, 0.0, 0.0, _S],  # Φ+
        [0.0, _S, -_S, 0.0],  # Ψ-
        [0.0, _S, _S, 0.0],  # Ψ+
        [_S, 0.0, 0.0, -_S],  # Φ-
    ],
    dtype=np.complex128,
)
BELL_NAMES: Final = ("Phi+", "Psi-", "Psi+", "Phi-")
PAULI_NAMES: Final = ("I", "X", "Y", "Z")


class BellDiagonalPair:
    r"""A two-qubit state diagonal in the Bell basis.

    .. math:: \rho = A|\Phi^+\rangle\langle\Phi^+| + B|\Psi^-\rangle\langle\Psi^-|
              + C|\Psi^+\rangle\langle\Psi^+| + D|\Phi^-\rangle\langle\Phi^-|

    Every pair qtfl distributes is Bell-diagonal (a Werner pair, or one after dephasing,
    purification or swapping), and teleporting through it is a Pauli channel on the payload.

    Args:
        coefficients: ``(A, B, C, D)`` for ``(Φ+, Ψ-, Ψ+, Φ-)``; non-negative, summing to 1.
    """

    __slots__ = ("_c",)

    def __init__(self, coefficients: npt.ArrayLike) -> None:
        c = np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if c.shape != (4,) or not np.isfinite(c).all():
            raise InputError(f"Bell coefficients must be 4 finite numbers, got {coefficients!r}")
        if (c < -1e-12).any() or abs(c.sum() - 1.0) > 1e-9:
            raise InputError(
                f"Bell coefficients must be >= 0 and sum to 1, got {c.tolist()} "
                f"(sum {c.sum():.12g})"
            )
        c = np.clip(c, 0.0, None)
        self._c = c / c.sum()

    @property
    def coefficients(self) -> npt.NDArray[np.float64]:
        """``(A, B, C, D)`` for ``(Φ+, Ψ-, Ψ+, Φ-)`` (a copy)."""
        return self._c.copy()

    @property
    def fidelity(self) -> float:
        """Overlap with Φ+: ``F = A``."""
        return float(self._c[0])

    @property
    def pauli_probabilities(self) -> npt.NDArray[np.float64]:
        """``(p_I, p_X, p_Y, p_Z) = (A, C, B, D)``: the Pauli channel teleportation applies."""
        a, b, c, d = self._c
        return np.array([a, c, b, d])

    @property
    def correlations(self) -> npt.NDArray[np.float64]:
        r"""``(<XX>, <YY>, <ZZ>)``: ``(A-B+C-D, -A-B+C+D, A-B-C+D)``."""
        a, b, c, d = self._c
        return np.array([a - b + c - d, -a - b + c + d, a - b - c + d])

    @property
    def qber_z(self) -> float:
        """Probability that Z-basis outcomes of the two halves differ: ``B + C``."""
        return float(self._c[1] + self._c[2])

    @property
    def qber_x(self) -> float:
        """Probability that X-basis outcomes of the two halves differ: ``B + D``."""
        return float(self._c[1] + self._c[3])

    @property
    def qber(self) -> float:
        """QBER averaged over checks in a uniformly random X or Z basis."""
        return 0.5 * (self.qber_z + self.qber_x)

    @property
    def teleported_bit_error(self) -> float:
        """Flip probability of a Z-basis payload bit teleported through this pair: ``p_X + p_Y``."""
        return self.qber_z

    @property
    def chsh(self) -> float:
        r"""Maximal CHSH value ``2\sqrt{t_1^2 + t_2^2}`` over the two largest ``|<σσ>|``."""
        t = np.sort(np.abs(self.correlations))[::-1]
        return float(2.0 * math.sqrt(t[0] ** 2 + t[1] ** 2))

    @property
    def average_teleport_fidelity(self) -> float:
        """Fidelity averaged over pure payloads: ``p_I + (1 - p_I)/3 = (2F + 1)/3``."""
        return (2.0 * self.fidelity + 1.0) / 3.0

    def density_matrix(self) -> npt.NDArray[np.complex128]:
        """The 4x4 density matrix in the computational basis ``|q0 q1>``."""
        return np.einsum("k,ki,kj->ij", self._c, BELL_STATES, BELL_STATES.conj())

    def dephase(self, *, wait_s: float, t2_s: float, halves: int = 1) -> BellDiagonalPair:
        r"""The pair after ``halves`` (1 or 2) of its qubits wait ``wait_s`` in memory.

        Each waiting qubit suffers a Z flip with probability
        :math:`p = (1 - e^{-t/T_2})/2`, so its coherence decays as :math:`e^{-t/T_2}`. A Z on
        one half swaps Φ+ ↔ Φ- and Ψ+ ↔ Ψ-. Two halves waiting the same time compose to
        :math:`p_2 = 2p(1-p)`.
        """
        p = dephasing_probability(wait_s=wait_s, t2_s=t2_s)
        if halves not in (1, 2):
            raise InputError(f"halves must be 1 or 2, got {halves!r}")
        if halves == 2:
            p = 2.0 * p * (1.0 - p)
        a, b, c, d = self._c
        return BellDiagonalPair(
            [(1 - p) * a + p * d, (1 - p) * b + p * c, (1 - p) * c + p * b, (1 - p) * d + p * a]
        )

    def twirl(self) -> WernerPair:
        """The Werner pair of the same fidelity (random bilateral rotations)."""
        return WernerPair(self.fidelity)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BellDiagonalPair):
            return NotImplemented
        return bool(np.allclose(self._c, other._c, rtol=0.0, atol=1e-12))

    def __hash__(self) -> int:
        return hash(tuple(np.round(self._c, 12)))

    def __repr__(self) -> str:
        a, b, c, d = self._c
        return f"BellDiagonalPair(A={a:.6g}, B={b:.6g}, C={c:.6g}, D={d:.6g})"


class WernerPair(BellDiagonalPair):
    r"""Bell pair mixed with white noise.

    .. math::
        \rho = F\,|\Phi^+\rangle\langle\Phi^+|
        + \tfrac{1-F}{3}\,(\mathbb{1}-|\Phi^+\rangle\langle\Phi^+|)

    Args:
        fidelity: ``F`` in ``[0.25, 1]`` (0.25 is the maximally mixed state).

    Visibility ``V = (4F-1)/3``; a teleported or checked bit flips with ``2(1-F)/3``; CHSH
    ``2√2·V``; average teleportation fidelity ``(2F+1)/3``:

    >>> pair = WernerPair(0.97)
    >>> round(pair.visibility, 6), round(pair.teleported_bit_error, 6), round(pair.qber, 6)
    (0.96, 0.02, 0.02)
    >>> round(pair.chsh, 4), round(pair.average_teleport_fidelity, 4)
    (2.7153, 0.98)

    References: Werner, Phys. Rev. A 40, 4277 (1989).
    """

    __slots__ = ()

    def __init__(self, fidelity: float) -> None:
        f = require_range("fidelity", fidelity, low=0.25, high=1.0)
        r = (1.0 - f) / 3.0
        super().__init__([f, r, r, r])

    @classmethod
    def from_visibility(cls, visibility: float) -> WernerPair:
        """Werner pair of visibility ``V``: ``F = (3V + 1)/4``."""
        v = require_range("visibility", visibility, low=0.0, high=1.0)
        return cls((3.0 * v + 1.0) / 4.0)

    @property
    def visibility(self) -> float:
        """``V = (4F - 1)/3``."""
        return (4.0 * self.fidelity - 1.0) / 3.0

    def __repr__(self) -> str:
        return f"WernerPair(fidelity={self.fidelity:.6g})"


def dephasing_probability(*, wait_s: float, t2_s: float) -> float:
    r"""Z-flip probability of a qubit stored for ``wait_s`` with coherence time ``t2_s``.

    .. math:: p = \tfrac12\,(1 - e^{-t/T_2})

    ``t2_s = inf`` means a perfect memory.
    """
    t = require_range("wait_s", wait_s, low=0.0)
    t2 = float(t2_s)
    if not (t2 > 0.0):
        raise InputError(f"t2_s must be in (0, inf], got {t2_s!r}")
    if math.isinf(t2):
        return 0.0
    return 0.5 * (1.0 - math.exp(-t / t2))


class ReadoutError:
    """Asymmetric measurement error: a 0 reads as 1 with ``p01``, a 1 reads as 0 with ``p10``."""

    __slots__ = ("p01", "p10")

    def __init__(self, *, p01: float, p10: float) -> None:
        self.p01 = require_range("p01", p01, low=0.0, high=0.5)
        self.p10 = require_range("p10", p10, low=0.0, high=0.5)

    def apply(
        self, bits: npt.NDArray[np.uint8], *, rng: np.random.Generator
    ) -> npt.NDArray[np.uint8]:
        """Return ``bits`` (0/1 ``uint8``) as the faulty detector reports them."""
        u = rng.random(bits.shape)
        flip = np.where(bits.astype(bool), u < self.p10, u < self.p01)
        return (bits ^ flip.astype(np.uint8)).astype(np.uint8)

    def flip_probability(self, p_one: float) -> float:
        """Average flip probability for a bit that is 1 with probability ``p_one``."""
        return (1.0 - p_one) * self.p01 + p_one * self.p10
