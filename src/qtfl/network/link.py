r"""A point-to-point fiber link that distributes Bell pairs between a client and the server.

Geometry and timing (the rate and waiting model; Sangouard et al., Rev. Mod. Phys. 83, 33
(2011) §II and Munro et al., IEEE JSTQE 21, 6400813 (2015) use the same accounting):

* The client (node A, who teleports) and the server (node B, who receives) are ``L`` km
  apart. An entangled-photon source emits pairs at ``source_rate_hz`` (its clock; one
  channel use per pulse), either at the client's **end** (one photon stays local, the other
  crosses ``L``) or at the **midpoint** (each photon crosses ``L/2``).
* Each photon survives its arm with :math:`\eta_{arm} = 10^{-\alpha L_{arm}/10}` (extra loss
  ``ℓ`` dB is split over the arms that cross fiber) and is detected or stored with efficiency
  :math:`\eta_d`. Heralded pair rate :math:`R = R_{src}\prod_{arms}\eta_{arm}\eta_d`; both
  placements give :math:`R_{src}\,\eta(L)\,\eta_d^2` since losses multiply.
* Classical messages travel at ``signal_speed_m_per_s`` (2e8 m/s in fiber, 5 µs/km);
  :math:`\tau = L/v`. ``latency_s`` is :math:`\tau`, the flight time of the teleportation's
  2-bit correction from client to server.
* Memory waits (qubits held in a memory of coherence time :math:`T_2` dephase, coherence
  :math:`e^{-t/T_2}`; :meth:`BellDiagonalPair.dephase`):

  * source at the end, heralded: client 2τ (photon out, herald back), server 2τ (herald
    out, then the correction);
  * source at the end, not heralded: client 0 (teleports at once), server 0 (photon and
    bits arrive together);
  * midpoint, heralded: client τ (herald from the server), server 2τ;
  * midpoint, not heralded: client 0, server τ (the correction follows the photon).

  "Not heralded" is how photonic experiments without memories run: the client measures at
  once and the result is post-selected on the server's detection.

The source emits Werner pairs of ``source_fidelity``; loss lowers the rate, not the
fidelity (dark counts and Raman noise photons are not modelled separately: fold them into
``source_fidelity``). The delivered state is the source pair after the waits above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.network.bounds import PlobComparison, compare_with_plob, transmissivity
from qtfl.quantum.noise import BellDiagonalPair, WernerPair

SourcePlacement = Literal["end", "midpoint"]
SOURCE_PLACEMENTS: Final = ("end", "midpoint")
#: Speed of light in standard single-mode fiber (group index ≈ 1.5): 5 µs per km.
FIBER_SIGNAL_SPEED_M_PER_S: Final = 2.0e8


@dataclass(frozen=True, kw_only=True)
class FiberLink:
    """Physical parameters of one entanglement-distribution link (see the module docstring).

    Attributes:
        distance_km: client-server fiber length ``L``.
        attenuation_db_per_km: fiber loss α (0.2 dB/km at 1550 nm).
        extra_loss_db: fixed loss on top of α·L (connectors, filters, free-space optics).
        source: ``"end"`` (at the client) or ``"midpoint"``.
        source_rate_hz: pairs the source emits per second; ``None`` = unknown, in which case
            rates and times are reported as unknown, never guessed.
        source_fidelity: fidelity of the emitted (Werner) pairs, in [0.25, 1].
        detector_efficiency: probability that an arriving photon is detected or stored.
        heralded: whether both halves are held in memory until the pair is heralded.
        memory_t2_s: memory coherence time; ``inf`` = a perfect memory.
        signal_speed_m_per_s: speed of the classical messages.
    """

    distance_km: float
    attenuation_db_per_km: float = 0.2
    extra_loss_db: float = 0.0
    source: str = "end"
    source_rate_hz: float | None = None
    source_fidelity: float = 1.0
    detector_efficiency: float = 1.0
    heralded: bool = False
    memory_t2_s: float = math.inf
    signal_speed_m_per_s: float = FIBER_SIGNAL_SPEED_M_PER_S

    def __post_init__(self) -> None:
        require_range("distance_km", self.distance_km, low=0.0)
        require_range("attenuation_db_per_km", self.attenuation_db_per_km, low=0.0)
        require_range("extra_loss_db", self.extra_loss_db, low=0.0)
        require_choice("source", self.source, SOURCE_PLACEMENTS)
        if self.source_rate_hz is not None:
            require_range("source_rate_hz", self.source_rate_hz, low=0.0, low_open=True)
        require_range("source_fidelity", self.source_fidelity, low=0.25, high=1.0)
        require_range(
            "detector_efficiency", self.detector_efficiency, low=0.0, high=1.0, low_open=True
        )
        if not isinstance(self.heralded, bool):
            raise InputError(f"heralded must be true or false, got {self.heralded!r}")
        t2 = float(self.memory_t2_s)
        if math.isnan(t2) or t2 <= 0.0:
            raise InputError(f"memory_t2_s must be in (0, inf], got {self.memory_t2_s!r}")
        require_range("signal_speed_m_per_s", self.signal_speed_m_per_s, low=0.0, low_open=True)

    @property
    def transmissivity(self) -> float:
        """End-to-end channel transmissivity η over the whole distance (fiber + extra loss)."""
        return transmissivity(
            distance_km=self.distance_km,
            attenuation_db_per_km=self.attenuation_db_per_km,
            extra_loss_db=self.extra_loss_db,
        )

    @property
    def arm_transmissivities(self) -> tuple[float, float]:
        """``(client arm, server arm)`` photon survival probabilities."""
        if self.source == "end":
            return 1.0, self.transmissivity
        half = transmissivity(
            distance_km=self.distance_km / 2.0,
            attenuation_db_per_km=self.attenuation_db_per_km,
            extra_loss_db=self.extra_loss_db / 2.0,
        )
        return half, half

    @property
    def success_probability(self) -> float:
        r"""Heralded pairs per source pulse: :math:`\prod_{arms}\eta_{arm}\eta_d`."""
        a, b = self.arm_transmissivities
        return a * b * self.detector_efficiency**2

    @property
    def pair_rate_hz(self) -> float | None:
        """Heralded pair rate ``R_src · success_probability`` (``None`` if the rate is unknown)."""
        if self.source_rate_hz is None:
            return None
        return self.source_rate_hz * self.success_probability

    @property
    def latency_s(self) -> float:
        """Flight time of a classical message over the link: ``L / v``."""
        return self.distance_km * 1e3 / self.signal_speed_m_per_s

    @property
    def memory_waits_s(self) -> tuple[float, float]:
        """``(client, server)`` time each half waits in memory (table in the module docstring)."""
        tau = self.latency_s
        if self.source == "end":
            return (2 * tau, 2 * tau) if self.heralded else (0.0, 0.0)
        return (tau, 2 * tau) if self.heralded else (0.0, tau)

    @property
    def source_pair(self) -> WernerPair:
        """The pair as emitted."""
        return WernerPair(self.source_fidelity)

    @property
    def pair(self) -> BellDiagonalPair:
        """The pair as used: the source pair after both halves' memory waits."""
        state: BellDiagonalPair = self.source_pair
        if math.isinf(self.memory_t2_s):
            return state
        for wait in self.memory_waits_s:
            state = state.dephase(wait_s=wait, t2_s=self.memory_t2_s, halves=1)
        return state

    @property
    def expected_qber(self) -> float:
        """QBER that check pairs measured in random X/Z bases should show."""
        return self.pair.qber

    def plob(self) -> PlobComparison:
        """This link's pairs per use (and per second at the source clock) beside PLOB."""
        return compare_with_plob(
            eta=self.transmissivity,
            pairs_per_use=self.success_probability,
            clock_hz=self.source_rate_hz,
        )

    def compile(self) -> CompiledLink:
        """Freeze the delivered pair, rate and latency into a cheap sampler of pair errors."""
        pair = self.pair
        return CompiledLink(
            pair=pair,
            pair_rate_hz=self.pair_rate_hz,
            latency_s=self.latency_s,
            pauli_probabilities=pair.pauli_probabilities,
        )


@dataclass(frozen=True)
class CompiledLink:
    """A link reduced to what the teleport path needs: the pair, its rate, its latency.

    ``sample(n, rng=...)`` draws the Pauli error each of ``n`` delivered pairs applies to a
    teleported qubit, labels ``0..3`` for ``(I, X, Y, Z)`` with probabilities
    ``pair.pauli_probabilities`` (one vectorised ``rng.choice``; reproducible from the
    generator's state).
    """

    pair: BellDiagonalPair
    pair_rate_hz: float | None
    latency_s: float
    pauli_probabilities: npt.NDArray[np.float64] = field(repr=False, compare=False)

    def sample(self, n: int, *, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        """Pauli-error labels (``uint8`` in 0..3, order I, X, Y, Z) of ``n`` pairs."""
        count = require_int("n", n, low=0)
        return rng.choice(4, size=count, p=self.pauli_probabilities).astype(np.uint8)

    def seconds_for_pairs(self, pairs: float) -> float | None:
        """Time to deliver ``pairs`` pairs and the final correction message (None if unknown)."""
        n = require_range("pairs", pairs, low=0.0)
        if self.pair_rate_hz is None:
            return None
        return n / self.pair_rate_hz + self.latency_s
