r"""Eavesdroppers on a teleportation link, simulated at circuit level with stim.

Every attacker is a small frozen config whose :meth:`Eavesdropper.plan` decides, with Eve's
own randomness and before any check position is known, what she does to each distributed
pair (an *attack code* per pair). :func:`sample_checks` and :func:`sample_teleport` then
sample every pair with the circuit of its variant (check basis or payload × attack code):
each variant's circuit is compiled once and sampled in bulk, bit-packed, with no Python loop
over pairs.

Attack codes (one per distributed pair):

* ``0`` untouched (a :class:`ClassicalTap` still reads the two Bell-measurement bits);
* ``1``/``2`` intercept-resend: Eve measures the client's half in Z / X right after
  distribution and forwards the collapsed qubit; on a payload pair she then combines her
  outcome ``e`` with the tapped X-correction bit ``m1``: her guess is ``e ⊕ m1``, exact for a
  Z-basis Eve (the server still decodes correctly) and a coin flip for an X-basis Eve (who
  flips the payload with probability 1/2);
* ``3`` entangling man-in-the-middle: Eve keeps the client's pair ``(c, e1)``, gives the
  server half ``s`` of her own perfect pair ``(e2, s)``, and relays by entanglement swapping
  (a Bell measurement of ``e1, e2``). On a payload pair she first completes the teleport
  herself with the tapped corrections, reads the payload in Z, then swaps; she cannot send
  her swap outcomes over the authenticated classical channel, so the server's frame is
  random: 50% errors on checks in either basis and on the payload bits she relays.

Expected error rates on a random-basis check (``Q_Z``, ``Q_X`` the honest pair's QBERs):
untouched ``(Q_Z+Q_X)/2``; Z-intercept ``(Q_Z + 1/2)/2``; X-intercept ``(1/2 + Q_X)/2``;
random-basis intercept ``(Q_Z+Q_X)/4 + 1/4`` (``1/4`` on a perfect link); MITM ``1/2``.

Qubit order and pair noise follow :mod:`qtfl.quantum.teleport` (client half measured by the
Bell measurement; ``PAULI_CHANNEL_1(p_X, p_Y, p_Z)`` on the client half reproduces any
Bell-diagonal pair exactly). Untouched and intercepted pairs reuse that module's compiled
teleporter (its ``eve_bases`` hook is this intercept-resend); only the MITM needs circuits of
its own (five qubits: payload, client, Eve's two, server).

References: Bennett, Brassard & Mermin, PRL 68, 557 (1992); Ekert, PRL 67, 661 (1991);
Żukowski et al., PRL 71, 4287 (1993) (entanglement swapping).
"""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt
import stim

from qtfl import registry
from qtfl.errors import InputError, require_choice, require_range
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.teleport import compile_teleporter

Bits = npt.NDArray[np.uint8]

NONE: Final = 0
INTERCEPT_Z: Final = 1
INTERCEPT_X: Final = 2
MITM: Final = 3
EVE_BASES: Final = registry.EAVESDROPPER_BASES


# --------------------------------------------------------------------------- attackers


@dataclass(frozen=True)
class Eavesdropper(abc.ABC):
    """An attacker on the pair distribution and/or the classical channel of one link."""

    name: ClassVar[str] = "eavesdropper"
    #: True when Eve reads the Bell-measurement bits and reports a payload guess.
    taps_classical: ClassVar[bool] = True

    @abc.abstractmethod
    def plan(self, n_pairs: int, *, rng: np.random.Generator) -> Bits:
        """Attack code of each of ``n_pairs`` distributed pairs, drawn with Eve's ``rng``."""

    @abc.abstractmethod
    def attacked_check_qber(self, pair: BellDiagonalPair) -> float:
        """Error probability of a random-basis check on a pair she attacked."""

    @property
    def attacked_fraction(self) -> float:
        """Fraction of the distributed pairs she attacks (0 for a passive attacker)."""
        return float(getattr(self, "fraction", 0.0))

    def check_error_rate(self, pair: BellDiagonalPair) -> float:
        """Expected error rate of a random-basis check over all pairs of this link."""
        f = self.attacked_fraction
        return (1.0 - f) * pair.qber + f * self.attacked_check_qber(pair)


@dataclass(frozen=True)
class _PairsUntouched(Eavesdropper):
    """Shared by the attackers that leave every distributed pair alone."""

    def plan(self, n_pairs: int, *, rng: np.random.Generator) -> Bits:
        return np.zeros(n_pairs, dtype=np.uint8)

    def attacked_check_qber(self, pair: BellDiagonalPair) -> float:
        return pair.qber


@dataclass(frozen=True)
class NoEavesdropper(_PairsUntouched):
    """An honest link: nobody touches the pairs or reads the classical channel."""

    name: ClassVar[str] = "none"
    taps_classical: ClassVar[bool] = False


@dataclass(frozen=True)
class ClassicalTap(_PairsUntouched):
    """A passive tap on the classical channel: Eve reads the two bits per teleported qubit."""

    name: ClassVar[str] = "tap"


@dataclass(frozen=True)
class InterceptResend(Eavesdropper):
    """Intercept-resend on a fraction of the pairs (client half), plus the classical tap.

    Args:
        fraction: probability that Eve attacks each distributed pair, in ``[0, 1]``.
        basis: ``"z"``, ``"x"`` or ``"random"`` (a fair coin per attacked pair).
    """

    name: ClassVar[str] = "intercept-resend"
    fraction: float = 1.0
    basis: Literal["z", "x", "random"] = "random"

    def __post_init__(self) -> None:
        require_range("eve fraction", self.fraction, low=0.0, high=1.0)
        require_choice("eve basis", self.basis, EVE_BASES)

    def plan(self, n_pairs: int, *, rng: np.random.Generator) -> Bits:
        attacked = rng.random(n_pairs) < self.fraction
        if self.basis == "random":
            code = INTERCEPT_Z + rng.integers(0, 2, n_pairs, dtype=np.uint8)
        else:
            code = np.full(n_pairs, INTERCEPT_Z if self.basis == "z" else INTERCEPT_X, np.uint8)
        return np.where(attacked, code, NONE).astype(np.uint8)

    def attacked_check_qber(self, pair: BellDiagonalPair) -> float:
        z = 0.5 * (pair.qber_z + 0.5)  # Z-basis Eve: X checks see 1/2
        x = 0.5 * (0.5 + pair.qber_x)  # X-basis Eve: Z checks see 1/2
        return {"z": z, "x": x, "random": 0.5 * (z + x)}[self.basis]


@dataclass(frozen=True)
class EntanglingMitm(Eavesdropper):
    """Man-in-the-middle who replaces pairs with her own and relays by entanglement swapping.

    Args:
        fraction: probability that Eve replaces each distributed pair, in ``[0, 1]``.
    """

    name: ClassVar[str] = "mitm"
    fraction: float = 1.0

    def __post_init__(self) -> None:
        require_range("eve fraction", self.fraction, low=0.0, high=1.0)

    def plan(self, n_pairs: int, *, rng: np.random.Generator) -> Bits:
        return np.where(rng.random(n_pairs) < self.fraction, MITM, NONE).astype(np.uint8)

    def attacked_check_qber(self, pair: BellDiagonalPair) -> float:
        return 0.5


EVE_KINDS: Final = registry.EAVESDROPPERS


def make_eavesdropper(
    kind: str, *, fraction: float | None = None, basis: str | None = None
) -> Eavesdropper:
    """Build an eavesdropper from its registry name (one of :data:`EVE_KINDS`).

    ``fraction`` (default 1) is the share of pairs attacked, for ``intercept-resend`` and
    ``mitm``; ``basis`` (default ``random``) is the measurement basis of ``intercept-resend``.
    An option given to a kind it does not apply to is refused, not silently ignored.
    """
    require_choice("eavesdropper", kind, EVE_KINDS)
    if fraction is not None and kind not in registry.LINK_EAVESDROPPERS:
        raise InputError(
            f"eavesdropper fraction applies to {' and '.join(registry.LINK_EAVESDROPPERS)} "
            f"only, not to {kind!r}"
        )
    if basis is not None and kind != "intercept-resend":
        raise InputError(
            f"eavesdropper basis applies to intercept-resend only; {kind!r} measures no basis "
            "(mitm holds the client's half coherently)"
        )
    share = require_range(
        "eavesdropper fraction",
        registry.DEFAULT_EAVESDROPPER_FRACTION if fraction is None else fraction,
        low=0.0,
        high=1.0,
    )
    if kind == "none":
        return NoEavesdropper()
    if kind == "tap":
        return ClassicalTap()
    if kind == "intercept-resend":
        chosen = require_choice("eavesdropper basis", basis or "random", EVE_BASES)
        return InterceptResend(fraction=share, basis=chosen)  # type: ignore[arg-type]
    return EntanglingMitm(fraction=share)


# --------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class CheckSample:
    """Both halves of the check pairs, each pair measured in its basis (0 = Z, 1 = X).

    ``eve_bits`` holds an intercept-resend attacker's outcome on the client half (0 where she
    did not measure): her guess of the client's bit, right whenever her basis matched.
    """

    bases: Bits
    client: Bits
    server: Bits
    eve_bits: Bits

    @property
    def errors(self) -> Bits:
        """1 where the two ends disagree."""
        return self.client ^ self.server


@dataclass(frozen=True)
class TeleportSample:
    """The sending end's Bell bits, the server's raw half and Eve's guess per payload bit.

    ``raw`` is the server's Z outcome *before* its correction; the receiving end applies
    ``raw ⊕ m1`` (the Z correction does not change a Z outcome).
    """

    bell_bits: Bits
    raw: Bits
    eve_guess: Bits


def sample_checks(
    pair: BellDiagonalPair, bases: Bits, codes: Bits, *, rng: np.random.Generator
) -> CheckSample:
    """Measure check pairs (basis per pair) under the attack codes of :meth:`Eavesdropper.plan`."""
    n = bases.size
    client = np.empty(n, np.uint8)
    server = np.empty(n, np.uint8)
    eve_bits = np.zeros(n, np.uint8)
    tele = compile_teleporter(pair)
    for code in np.unique(codes):  # at most 4 variants; each sampled in bulk
        idx = np.flatnonzero(codes == code)
        if code == MITM:
            for basis in (0, 1):
                sub = idx[bases[idx] == basis]
                if sub.size:
                    rec = _sample(_mitm_check_circuit(pair, basis), sub.size, rng)
                    client[sub], server[sub] = rec[:, 2], rec[:, 3]
            continue
        eve = None if code == NONE else np.full(idx.size, code - INTERCEPT_Z, np.uint8)
        m = tele.measure_pairs(bases[idx], rng=rng, eve_bases=eve)
        client[idx], server[idx] = m.client, m.server
        if m.eve_bits is not None:
            eve_bits[idx] = m.eve_bits
    return CheckSample(bases=bases, client=client, server=server, eve_bits=eve_bits)


def sample_teleport(
    pair: BellDiagonalPair, bits: Bits, codes: Bits, *, rng: np.random.Generator
) -> TeleportSample:
    """Teleport payload ``bits`` through pairs under the given attack codes."""
    n = bits.size
    bell = np.empty((n, 2), np.uint8)
    raw = np.empty(n, np.uint8)
    guess = np.empty(n, np.uint8)
    tele = compile_teleporter(pair)
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        if code == MITM:
            for b in (0, 1):
                sub = idx[bits[idx] == b]
                if sub.size:
                    rec = _sample(_mitm_teleport_circuit(pair, b), sub.size, rng)
                    bell[sub, 0], bell[sub, 1] = rec[:, 0], rec[:, 1]
                    guess[sub] = rec[:, 2]
                    raw[sub] = rec[:, 5] ^ rec[:, 1]
            continue
        eve = None if code == NONE else np.full(idx.size, code - INTERCEPT_Z, np.uint8)
        r = tele.teleport(bits[idx], rng=rng, eve_bases=eve)
        bell[idx] = r.bell_bits
        raw[idx] = r.received ^ r.bell_bits[:, 1]
        e = np.zeros(idx.size, np.uint8) if r.eve_bits is None else r.eve_bits
        guess[idx] = e ^ r.bell_bits[:, 1]
    return TeleportSample(bell_bits=bell, raw=raw, eve_guess=guess)


def _sample(circuit: stim.Circuit, shots: int, rng: np.random.Generator) -> Bits:
    """``shots`` samples of a small circuit, bit-packed by stim, unpacked to (shots, n_meas)."""
    sampler = circuit.compile_sampler(seed=int(rng.integers(2**63)))
    packed = sampler.sample(shots, bit_packed=True)
    bits = np.unpackbits(packed, axis=1, bitorder="little")
    out: Bits = bits[:, : circuit.num_measurements]
    return out


def _mitm_prefix(pair: BellDiagonalPair) -> stim.Circuit:
    """Qubits: 0 payload, 1 client, 2 Eve's half of the source pair, 3 Eve's own, 4 server."""
    c = stim.Circuit()
    c.append("R", range(5))
    c.append("H", [1, 3])
    c.append("CX", [1, 2, 3, 4])  # source pair (client, e1); Eve's own pair (e2, server)
    _, px, py, pz = pair.pauli_probabilities
    if px + py + pz > 0.0:
        c.append("PAULI_CHANNEL_1", [1], [px, py, pz])
    return c


@functools.lru_cache(maxsize=64)
def _mitm_check_circuit(pair: BellDiagonalPair, basis: int) -> stim.Circuit:
    """Record: swap outcomes f0, f1; client; server (both in ``basis``)."""
    c = _mitm_prefix(pair)
    c.append("CX", [2, 3])
    c.append("H", [2])
    c.append("M", [2, 3])  # entanglement swapping; outcomes stay with Eve
    c.append("M" if basis == 0 else "MX", [1, 4])
    return c


@functools.lru_cache(maxsize=64)
def _mitm_teleport_circuit(pair: BellDiagonalPair, bit: int) -> stim.Circuit:
    """Record: m0, m1 (client), Eve's read-out, swap f0, f1, server's corrected Z outcome."""
    c = _mitm_prefix(pair)
    if bit:
        c.append("X", [0])
    c.append("CX", [0, 1])
    c.append("H", [0])
    c.append("M", [0, 1])
    c.append("CX", [stim.target_rec(-1), 2])  # Eve applies the tapped corrections to e1
    c.append("CZ", [stim.target_rec(-2), 2])
    c.append("M", [2])  # ...and reads the payload
    c.append("CX", [2, 3])
    c.append("H", [2])
    c.append("M", [2, 3])  # relay by swapping onto the server's half
    c.append("CX", [stim.target_rec(-4), 4])  # server: client's X correction (m1)
    c.append("CZ", [stim.target_rec(-5), 4])  # server: client's Z correction (m0)
    c.append("M", [4])
    return c
