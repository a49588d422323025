r"""A repeater chain: ``n`` fiber segments joined by entanglement swapping.

**Swapping** (Żukowski et al., PRL 71, 4287 (1993); Dür, Briegel, Cirac & Zoller, PRA 59,
169 (1999)). A Bell measurement on the two middle qubits of pairs ``(a, b1)`` and ``(b2, c)``
plus the Pauli correction on ``c`` leaves ``(a, c)`` with the *product* of the two pairs'
Pauli errors (phases ignored). On Bell coefficients in the order ``(Φ+, Ψ-, Ψ+, Φ-)``, i.e.
Paulis ``(I, Y, X, Z)`` = bit pairs ``(x, z)`` ``(00, 11, 10, 01)``, the output is the
convolution over :math:`\mathbb{Z}_2^2`:
:math:`c_k = \sum_{i \oplus j = k} a_i\,b_j`. Two Werner pairs of visibility ``V1, V2`` give
a Werner pair of visibility ``V1·V2``. ``tests/network/test_repeater.py`` checks this against
a 4-qubit density-matrix simulation of the Bell measurement and corrections.

**Nesting with purification** (Briegel, Dür, Cirac & Zoller, PRL 81, 5932 (1998)): with
``n = 2^k`` segments, level 0 purifies the elementary pairs, each level ``l`` swaps two
level-``l-1`` pairs and purifies the result with ``purification_rounds`` recurrence rounds.
Swapping keeps the number of elementary pairs per segment; purification at each level
multiplies it by that level's expected cost :math:`2^r/\prod p`.

**Rate model** (Sangouard et al., Rev. Mod. Phys. 83, 33 (2011), §II.C): every segment
attempts at the source clock with success probability ``p`` per attempt; one end-to-end pair
needs all ``n`` segments to succeed, which takes :math:`E[\max_n G]` attempts for ``n``
independent geometric variables ``G`` of parameter ``p``:

.. math:: E[\max_n G] = \sum_{k=1}^{n} (-1)^{k+1}\binom{n}{k}\frac{1}{1-(1-p)^k}

(``≈ 3/(2p)`` for ``n = 2``). With purification, each of the ``m`` elementary pairs a
segment contributes is counted as one such synchronised round:
``rate = R_src / (m · E[max_n G])``. Assumptions (stated, not hidden): deterministic
swaps and ideal Bell measurements, memories that hold pairs while the slowest segment
finishes with no decoherence during that wait (each segment's herald/correction waits are
in its own pair state), attempts pipelined at the source clock. The end-to-end
classical latency is that of the whole distance (swap outcomes and the teleportation's
correction travel in parallel).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.network.link import FiberLink
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.purification import PROTOCOLS, Protocol, purify

#: Bell index (Φ+, Ψ-, Ψ+, Φ-) -> Pauli code 2x + z of (I, Y, X, Z): (0, 3, 2, 1); an involution.
_CODE: Final = np.array([0, 3, 2, 1])
#: ``_COMPOSE[i, j]``: Bell index of the product of the Paulis behind Bell indices i and j.
_COMPOSE: Final = _CODE[_CODE[:, None] ^ _CODE[None, :]]
#: The alternating sum for E[max] loses digits beyond this many segments.
MAX_SEGMENTS: Final = 32


def swap(left: BellDiagonalPair, right: BellDiagonalPair) -> BellDiagonalPair:
    """Entanglement swapping of two Bell-diagonal pairs (convolution over Pauli errors)."""
    weights = np.outer(left.coefficients, right.coefficients).ravel()
    return BellDiagonalPair(np.bincount(_COMPOSE.ravel(), weights=weights, minlength=4))


def expected_max_geometric(p: float, n: int) -> float:
    r"""Expected maximum of ``n`` independent geometric(``p``) attempt counts (support 1, 2, ...).

    :math:`\sum_{k=1}^{n}(-1)^{k+1}\binom{n}{k}/(1-(1-p)^k)`; exact for ``n <= 32``.
    """
    prob = require_range("p", p, low=0.0, high=1.0, low_open=True)
    m = require_int("n", n, low=1, high=MAX_SEGMENTS)
    if prob == 1.0:
        return 1.0
    log_q = math.log1p(-prob)
    terms = [(-1) ** (k + 1) * math.comb(m, k) / -math.expm1(k * log_q) for k in range(1, m + 1)]
    return math.fsum(terms)


@dataclass(frozen=True)
class RepeaterReport:
    """End-to-end figures of a repeater chain.

    Attributes:
        n_segments: number of elementary links.
        segment: one elementary link (length ``L/n``).
        pair: end-to-end pair after all swaps (and purification).
        elementary_pairs_per_segment: expected elementary pairs each segment spends per
            end-to-end pair (1 without purification).
        expected_attempts: :math:`E[\\max_n G]` source pulses per synchronised round.
        pair_rate_hz: end-to-end pair rate (``None`` if the source rate is unknown).
        latency_s: classical latency over the whole distance.
    """

    n_segments: int
    segment: FiberLink
    pair: BellDiagonalPair
    elementary_pairs_per_segment: float
    expected_attempts: float
    pair_rate_hz: float | None
    latency_s: float

    @property
    def fidelity(self) -> float:
        return self.pair.fidelity


@dataclass(frozen=True, kw_only=True)
class RepeaterChain:
    """``link`` split into ``n_segments`` equal segments joined by swapping.

    Attributes:
        link: the end-to-end link; each segment copies it with ``distance_km / n_segments``.
        n_segments: 1 (no repeater) up to 32.
        purification_rounds: recurrence rounds at every nesting level (0 = none); needs
            ``n_segments`` to be a power of two when positive.
        protocol: ``"dejmps"`` or ``"bbpssw"``.
    """

    link: FiberLink
    n_segments: int
    purification_rounds: int = 0
    protocol: str = "dejmps"

    def __post_init__(self) -> None:
        n = require_int("n_segments", self.n_segments, low=1, high=MAX_SEGMENTS)
        rounds = require_int("purification_rounds", self.purification_rounds, low=0, high=16)
        require_choice("protocol", self.protocol, PROTOCOLS)
        if rounds > 0 and n & (n - 1):
            raise InputError(
                f"n_segments must be a power of two (1, 2, 4, ..., 32) for nested "
                f"purification, got {n}"
            )

    @property
    def segment(self) -> FiberLink:
        return dataclasses.replace(self.link, distance_km=self.link.distance_km / self.n_segments)

    def evaluate(self) -> RepeaterReport:
        """End-to-end pair, rate and latency (model in the module docstring)."""
        seg = self.segment
        protocol: Protocol = "bbpssw" if self.protocol == "bbpssw" else "dejmps"
        if self.purification_rounds == 0:
            pair = seg.pair
            for _ in range(self.n_segments - 1):  # one swap per repeater node
                pair = swap(pair, seg.pair)
            cost = 1.0
        else:
            sched = purify(seg.pair, rounds=self.purification_rounds, protocol=protocol)
            pair, cost = sched.pair, sched.expected_pairs
            for _ in range(self.n_segments.bit_length() - 1):  # one pass per nesting level
                sched = purify(swap(pair, pair), rounds=self.purification_rounds, protocol=protocol)
                pair, cost = sched.pair, cost * sched.expected_pairs
        attempts = expected_max_geometric(seg.success_probability, self.n_segments)
        rate = None
        if seg.source_rate_hz is not None:
            rate = seg.source_rate_hz / (attempts * cost)
        return RepeaterReport(
            n_segments=self.n_segments,
            segment=seg,
            pair=pair,
            elementary_pairs_per_segment=cost,
            expected_attempts=attempts,
            pair_rate_hz=rate,
            latency_s=self.link.latency_s,
        )
