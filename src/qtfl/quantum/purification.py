r"""Entanglement purification: BBPSSW and DEJMPS recurrence, and a pair-cost scheduler.

Both protocols take two Bell-diagonal pairs shared by Alice and Bob, apply a bilateral CNOT
(pair 1 controls, pair 2 is the target), measure both target qubits in Z and keep pair 1 when
the two outcomes coincide. On Bell coefficients ``(A, B, C, D)`` for ``(Φ+, Ψ-, Ψ+, Φ-)``
(Pauli errors ``I, Y, X, Z``) a bilateral CNOT copies bit-flip errors from control to target and
phase errors from target to control, so the coincidence keeps exactly the inputs whose
bit-flip parts agree:

.. math::
    N &= (A_1+D_1)(A_2+D_2) + (B_1+C_1)(B_2+C_2) \\
    A' &= (A_1A_2 + D_1D_2)/N,\quad D' = (A_1D_2 + D_1A_2)/N, \\
    C' &= (C_1C_2 + B_1B_2)/N,\quad B' = (C_1B_2 + B_1C_2)/N .

* **BBPSSW** (Bennett et al., PRL 76, 722 (1996)) twirls both inputs to Werner pairs first
  and twirls the kept pair back to Werner, so for two Werner pairs of fidelity ``F``:
  :math:`p = F^2 + \tfrac23 F(1-F) + 5\left(\tfrac{1-F}{3}\right)^2`,
  :math:`F' = \left(F^2 + \left(\tfrac{1-F}{3}\right)^2\right)/p`. It gains only for F > 1/2.
* **DEJMPS** (Deutsch et al., PRL 77, 2818 (1996)) instead applies
  :math:`R_x(\pi/2)` on Alice's and :math:`R_x(-\pi/2)` on Bob's qubits before the CNOTs;
  this exchanges Ψ- and Φ- (``B ↔ D``) and gives, for two equal pairs,
  :math:`N = (A+B)^2 + (C+D)^2`, :math:`A' = (A^2+B^2)/N`, :math:`B' = 2CD/N`,
  :math:`C' = (C^2+D^2)/N`, :math:`D' = 2AB/N`. Its first round on a Werner pair equals
  BBPSSW's; it converges to F → 1 from any Bell-diagonal pair with F > 1/2.

Pair cost (entanglement *recurrence*, not pumping): round ``k`` consumes two pairs of round
``k-1`` and succeeds with probability :math:`p_k`; a failure discards both. One pair after
``k`` rounds costs, in expectation, :math:`2^k / \prod_{i\le k} p_i` input pairs. Storage
decoherence while pairs wait for each other is not modelled here.

The circuits themselves (bilateral rotations and CNOTs, Z measurements, post-selection on
coincidence) are simulated on 4-qubit density matrices in
``tests/quantum/test_purification.py`` and agree with these formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.noise import BellDiagonalPair, WernerPair

Protocol = Literal["bbpssw", "dejmps"]
PROTOCOLS: Final = ("bbpssw", "dejmps")
#: DEJMPS's bilateral Rx(±π/2) rotations exchange Ψ- and Φ- in the order (Φ+, Ψ-, Ψ+, Φ-).
_DEJMPS_PERMUTATION: Final = np.array([0, 3, 2, 1])


@dataclass(frozen=True)
class PurificationStep:
    """One purification attempt: the kept pair (on success) and the success probability."""

    pair: BellDiagonalPair
    success_probability: float


def bilateral_cnot(
    control: npt.ArrayLike, target: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], float]:
    """Bell coefficients of the control pair kept after a bilateral CNOT and a coincidence.

    Args:
        control: ``(A, B, C, D)`` of pair 1 (the control).
        target: ``(A, B, C, D)`` of pair 2 (the target, measured in Z on both sides).

    Returns:
        The normalised coefficients of the kept pair and the coincidence probability ``N``
        (formula in the module docstring).
    """
    a1, b1, c1, d1 = np.asarray(control, dtype=np.float64)
    a2, b2, c2, d2 = np.asarray(target, dtype=np.float64)
    n = (a1 + d1) * (a2 + d2) + (b1 + c1) * (b2 + c2)
    if n <= 0.0:
        raise InputError("purification cannot succeed: the two pairs never give a coincidence")
    kept = np.array([a1 * a2 + d1 * d2, c1 * b2 + b1 * c2, c1 * c2 + b1 * b2, a1 * d2 + d1 * a2])
    return kept / n, float(n)


def bbpssw(pair: BellDiagonalPair, other: BellDiagonalPair | None = None) -> PurificationStep:
    """One BBPSSW round on ``pair`` and ``other`` (default: a copy of ``pair``).

    Both inputs are twirled to Werner pairs of the same fidelity, and the kept pair is twirled
    back, so the result is a :class:`WernerPair`.
    """
    second = pair if other is None else other
    kept, p = bilateral_cnot(pair.twirl().coefficients, second.twirl().coefficients)
    return PurificationStep(WernerPair(float(np.clip(kept[0], 0.25, 1.0))), p)


def dejmps(pair: BellDiagonalPair, other: BellDiagonalPair | None = None) -> PurificationStep:
    """One DEJMPS round on ``pair`` and ``other`` (default: a copy of ``pair``); no twirling."""
    second = pair if other is None else other
    kept, p = bilateral_cnot(
        pair.coefficients[_DEJMPS_PERMUTATION], second.coefficients[_DEJMPS_PERMUTATION]
    )
    return PurificationStep(BellDiagonalPair(kept), p)


_STEPS: Final = {"bbpssw": bbpssw, "dejmps": dejmps}


@dataclass(frozen=True)
class PurificationSchedule:
    """Recurrence purification for a number of rounds, and what it costs.

    Attributes:
        protocol: ``"bbpssw"`` or ``"dejmps"``.
        rounds: rounds applied (0 = no purification).
        fidelities: fidelity before round 1, after round 1, ..., after round ``rounds``.
        success_probabilities: success probability of each round.
        expected_pairs: expected input pairs per output pair, :math:`2^k/\\prod p_i`.
        pair: the output pair.
    """

    protocol: str
    rounds: int
    fidelities: tuple[float, ...]
    success_probabilities: tuple[float, ...]
    expected_pairs: float
    pair: BellDiagonalPair

    @property
    def fidelity(self) -> float:
        """Fidelity of the output pair."""
        return self.pair.fidelity


def purify(
    pair: BellDiagonalPair, *, rounds: int, protocol: Protocol = "dejmps"
) -> PurificationSchedule:
    """Apply ``rounds`` recurrence rounds of ``protocol`` to copies of ``pair``."""
    require_choice("protocol", protocol, PROTOCOLS)
    k = require_int("rounds", rounds, low=0, high=64)
    step = _STEPS[protocol]
    pairs = [pair]
    probs: list[float] = []
    for _ in range(k):  # one iteration per round (a handful), not per pair or shot
        s = step(pairs[-1])
        pairs.append(s.pair)
        probs.append(s.success_probability)
    return _schedule(protocol, pairs, probs)


def purify_until(
    pair: BellDiagonalPair,
    *,
    target_fidelity: float,
    protocol: Protocol = "dejmps",
    max_rounds: int = 10,
) -> PurificationSchedule:
    """The fewest recurrence rounds that bring ``pair`` to ``target_fidelity`` or above.

    Raises:
        InputError: when no round up to ``max_rounds`` reaches the target; the message states
            the reachable maximum (BBPSSW cannot improve a pair with F <= 1/2; DEJMPS
            approaches 1 for F > 1/2 but only within the round limit).
    """
    target = require_range("target_fidelity", target_fidelity, low=0.25, high=1.0)
    require_choice("protocol", protocol, PROTOCOLS)
    limit = require_int("max_rounds", max_rounds, low=0, high=64)
    step = _STEPS[protocol]
    pairs = [pair]
    probs: list[float] = []
    while pairs[-1].fidelity < target - 1e-12 and len(probs) < limit:
        s = step(pairs[-1])
        pairs.append(s.pair)
        probs.append(s.success_probability)
    if pairs[-1].fidelity < target - 1e-12:
        fids = [q.fidelity for q in pairs]
        best = int(np.argmax(fids))
        raise InputError(
            f"target_fidelity {target:g} cannot be reached by {protocol} from a pair of "
            f"fidelity {pair.fidelity:.6g} within max_rounds={limit}; reachable maximum "
            f"{fids[best]:.6g} (after {best} round{'s' if best != 1 else ''})"
        )
    return _schedule(protocol, pairs, probs)


def _schedule(
    protocol: str, pairs: list[BellDiagonalPair], probs: list[float]
) -> PurificationSchedule:
    cost = float(2.0 ** len(probs) / np.prod(probs)) if probs else 1.0
    return PurificationSchedule(
        protocol=protocol,
        rounds=len(probs),
        fidelities=tuple(q.fidelity for q in pairs),
        success_probabilities=tuple(probs),
        expected_pairs=cost,
        pair=pairs[-1],
    )
