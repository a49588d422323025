r"""Teleporting basis-encoded payload qubits through noisy Bell pairs, sampled with stim.

The protocol, for every payload qubit (qubit names as in the circuit):

* ``q1`` (client half) and ``q2`` (server half) share a Bell pair ``|Φ+>`` carrying the
  pair's noise;
* the client makes a Bell measurement of (payload ``q0``, ``q1``): ``CX q0 q1; H q0;
  M q0 q1`` giving the two classical bits ``(m0, m1)`` — the only thing sent on the wire;
* the server applies the classically controlled corrections ``X^{m1} Z^{m0}`` to ``q2``
  (stim feedback ``CX rec[..] q2``, ``CZ rec[..] q2``) and measures it in Z.

Noise on the pair. A Bell-diagonal pair is ``(σ⊗I)|Φ+>`` with σ drawn from the pair's Pauli
distribution ``(p_I, p_X, p_Y, p_Z) = (A, C, B, D)`` (see :mod:`qtfl.quantum.noise`), so the
circuit applies ``PAULI_CHANNEL_1(p_X, p_Y, p_Z)`` to the client half right after the pair
is made: exact for every Bell-diagonal pair, Werner pairs included. A Werner pair could
equally be written as white noise on both halves, ``DEPOLARIZE2(p)`` with ``p = 5(1-F)/4``
(X, Y, Z on the payload each ``4p/15``; the Qiskit reference uses that form,
``depolarizing_error(16p/15, 2)``): it is the same two-qubit state, so every later
measurement has the same law, but the one-qubit channel samples ~25% faster. The tests
check the two forms against each other through the Aer comparison.

Per-shot payloads. The circuit always teleports ``|0>``; a payload bit ``b`` is XORed into
``m1`` and into the received bit afterwards. This is exact by Pauli-frame propagation:
``X`` on ``q0`` becomes ``Z_0 X_1`` after ``CX q0 q1; H q0``, so it flips ``m1`` only; the
flipped ``m1`` fires the X correction, which flips the received bit (tests compare it with a
circuit that really applies ``X q0``, and with Qiskit).

Speed. stim is fastest with many shots of a small circuit, bit-packed. One shot here holds
``lanes`` independent teleports side by side (256 for large N; stim samples ~1e8 payload
qubits/s on one core), and results are unpacked with numpy; there is no Python loop over
shots or qubits.

Reproducibility. Circuits are built once per (pair state, lanes) and cached. Every call
draws a seed from the caller's ``numpy.random.Generator`` and builds a cheap sampler (~0.1
ms) from the cached circuit: the same Generator state gives the same bits on the same
machine with the same stim version (stim's seed promise; other stim versions or SIMD widths
give different, equally distributed bits). A sampler is not cached itself, because its
random stream would then depend on earlier calls rather than on the caller's Generator.

Direct Pauli-frame sampling. When nobody touches the pairs, teleporting through a
Bell-diagonal pair is exactly the Pauli channel ``(p_I, p_X, p_Y, p_Z) = (A, C, B, D)`` on the
payload, and the two Bell-measurement bits are uniform and independent of the Pauli that
acts (Bennett et al. 1993; the outcome ``m`` selects which of the four Bell components the
server holds, each with probability 1/4 and the same residual Pauli law). So
:func:`sample_pauli_frame` draws each payload qubit's Pauli directly with numpy, as packed
Bernoulli bits 64 at a time (:func:`bernoulli_packed`), and
:func:`teleport_direct` combines it with uniform Bell bits drawn from a *separate*
generator. The split matters: the noise generator carries the science (seeded by the
experiment seed), the Bell-bit generator is the one-time pad (keyed by the run secret;
:mod:`qtfl.security.run_secret`). The tests compare both samplers' joint law of
``(m0, m1, Pauli)`` with stim's by a chi-square test.

The eavesdropper hook: ``eve_bases`` makes an intercept-resend attacker measure each pair's
client half in Z (0) or X (1) after distribution and before the protocol; her outcomes come
back as ``eve_bits``. Check pairs are sampled from the same pair state with
:meth:`Teleporter.measure_pairs`.

References: Bennett et al., PRL 70, 1895 (1993) (teleportation); Gidney, Quantum 5, 497
(2021) (stim); Nielsen & Chuang, §4.4 (deferred measurement), §1.3.7.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import stim

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.noise import BellDiagonalPair

Bits = npt.NDArray[np.uint8]

#: Basis codes for pair checks and for the eavesdropper: 0 measures in Z, 1 in X.
BASIS_Z: Final = 0
BASIS_X: Final = 1
#: Teleports side by side in one stim shot for large batches (a multiple of 8).
MAX_LANES: Final = 256
#: Payload qubits sampled per stim call (bounds the temporary memory of a huge batch).
CHUNK_QUBITS: Final = 1 << 24

_Readout = Literal["teleport", "Z", "X"]


@dataclass(frozen=True)
class TeleportResult:
    """Outcome of teleporting N basis-encoded payload qubits.

    Attributes:
        received: ``(N,)`` 0/1 ``uint8``, the server's Z-basis result after corrections.
        bell_bits: ``(N, 2)`` 0/1 ``uint8``, the client's Bell-measurement bits
            ``(m0, m1)`` (m0 from the payload qubit → Z correction, m1 from the client half
            → X correction): exactly what a tap on the classical channel sees.
        eve_bits: ``(N,)`` outcomes of the intercept-resend measurement, or ``None``.
    """

    received: Bits
    bell_bits: Bits
    eve_bits: Bits | None = None


@dataclass(frozen=True)
class PairMeasurement:
    """Both halves of N pairs measured in the same basis per pair (check pairs).

    Attributes:
        bases: ``(N,)`` basis codes (:data:`BASIS_Z` or :data:`BASIS_X`).
        client: ``(N,)`` 0/1 outcomes of the client half (``q1``).
        server: ``(N,)`` 0/1 outcomes of the server half (``q2``).
        eve_bits: ``(N,)`` outcomes of the intercept-resend measurement, or ``None``.
    """

    bases: Bits
    client: Bits
    server: Bits
    eve_bits: Bits | None = None

    @property
    def errors(self) -> Bits:
        """1 where the two halves disagree (a QBER event)."""
        return self.client ^ self.server


@dataclass(frozen=True)
class PauliFrame:
    """The Pauli error on each of ``n`` payload qubits, bit-packed (``bitorder="little"``).

    ``x`` holds the X component (X or Y: the error flips a Z-basis payload bit), ``z`` the Z
    component (Z or Y). Pauli ``(I, X, Y, Z)`` is ``(x, z) = (0,0), (1,0), (1,1), (0,1)``.
    """

    n: int
    x: Bits
    z: Bits

    def x_bits(self) -> Bits:
        """``(n,)`` 0/1: 1 where the payload's Z-basis bit is flipped."""
        return np.unpackbits(self.x, count=self.n, bitorder="little")

    def z_bits(self) -> Bits:
        """``(n,)`` 0/1: 1 where the payload's X-basis bit is flipped."""
        return np.unpackbits(self.z, count=self.n, bitorder="little")

    def codes(self) -> Bits:
        """``(n,)`` Pauli index in the order ``(I, X, Y, Z)`` = 0..3."""
        table = np.array([0, 1, 3, 2], np.uint8)  # index x + 2z -> (I, X, Z, Y) -> I X Y Z
        out: Bits = table[self.x_bits() + 2 * self.z_bits()]
        return out


def _sorted_distinct(a: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values; a stable (merge) sort, fast on the concatenation of sorted runs
    (``np.unique`` measured ~15x slower here on 667k int64)."""
    s = np.sort(a, kind="stable")
    keep = np.empty(s.size, dtype=bool)
    keep[:1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    out: npt.NDArray[np.int64] = s[keep]
    return out


#: :func:`sample_subset` marks its draws in a bitmap of ``range(n)`` (O(n), no sort) when
#: ``n`` is at most this many times ``k``, and sorts them (O(k log k)) otherwise; both give
#: the same subset from the same draws.
_BITMAP_PER_DRAW: Final = 64


def sample_subset(n: int, k: int, *, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """``k`` distinct positions of ``range(n)``, uniform over all k-subsets, sorted ascending.

    Cost ``O(min(n, k log k))`` (never a permutation of all ``n``): draw ``k`` positions with
    replacement, keep the distinct ones (a bitmap when ``n`` is small against ``k``, else a
    sort), draw the missing number again, until ``k`` are distinct; for ``k > n/2`` the same
    on the complement. Every step treats all positions alike, so the law of the result is
    invariant under permutations of ``range(n)``: uniform over k-subsets. Expected draws
    ``<= 2k`` when ``k <= n/2``.
    """
    n = require_int("n", n, low=0)
    k = require_int("k", k, low=0, high=n)
    if 2 * k > n:
        keep = np.ones(n, dtype=bool)
        keep[sample_subset(n, n - k, rng=rng)] = False
        return np.flatnonzero(keep).astype(np.int64)
    draws = rng.integers(0, n, size=k, dtype=np.int64)
    if _by_bitmap(n, k):  # the same set, sorted, from a bitmap of range(n): O(n)
        return np.flatnonzero(_bitmap_subset(n, k, draws, rng)).astype(np.int64, copy=False)
    got = _sorted_distinct(draws)
    while got.size < k:  # a few rounds: each keeps all but a fraction <= k/n of its draws
        extra = np.sort(rng.integers(0, n, size=k - got.size, dtype=np.int64))
        got = _sorted_distinct(np.concatenate([got, extra]))
    return got


def _by_bitmap(n: int, k: int) -> bool:
    """Whether :func:`sample_subset` draws ``k`` of ``range(n)`` as a bitmap (``k <= n/2``,
    else it draws the complement; ``n <=`` :data:`_BITMAP_PER_DRAW` ``k``, else it sorts)."""
    return 2 * k <= n and n <= _BITMAP_PER_DRAW * k


def _bitmap_subset(
    n: int, k: int, draws: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """:func:`sample_subset`'s bitmap of ``range(n)``: ``draws`` marked, then missing
    draws added until ``k`` positions are marked."""
    seen = np.zeros(n, dtype=bool)
    seen[draws] = True
    have = int(np.count_nonzero(seen))
    while have < k:
        seen[rng.integers(0, n, size=k - have, dtype=np.int64)] = True
        have = int(np.count_nonzero(seen))
    return seen


def sample_mask(n: int, k: int, *, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """The subset of :func:`sample_subset` as a ``(n,)`` bool mask: the same draws, the same
    subset, without listing its positions where it is drawn as a bitmap (:func:`_by_bitmap`)."""
    n = require_int("n", n, low=0)
    k = require_int("k", k, low=0, high=n)
    if _by_bitmap(n, k):
        return _bitmap_subset(n, k, rng.integers(0, n, size=k, dtype=np.int64), rng)
    mask = np.zeros(n, dtype=bool)
    mask[sample_subset(n, k, rng=rng)] = True
    return mask


_ALL: Final = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
#: Below this ``p`` the Bernoulli samplers draw the gaps between ones (geometric, one draw
#: per one: ~``n p`` draws), at or above it ``p``'s binary digits 64 bits at a time (~``n/8``
#: bytes of draws whatever ``p``). Measured crossing on one core: ~0.05 at 1.6 M bits, above
#: 0.12 at 87 k bits (the digit sampler's ~40 calls per use dominate small ``n``).
GAP_SAMPLING_MAX_P: Final = 0.05
#: Gaps drawn per call of the gap sampler at most (bounds its temporary memory).
_GAP_BATCH: Final = 1 << 20


def bernoulli_positions(p: float, n: int, *, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Sorted positions of the ones among ``n`` independent Bernoulli(``p``) bits.

    The same draws as :func:`bernoulli_packed` and :func:`bernoulli_bits` for the same
    ``(p, n)`` and generator state, so the three give the same bits. For
    ``p <`` :data:`GAP_SAMPLING_MAX_P` the gaps between consecutive ones are drawn: in an
    i.i.d. Bernoulli(``p``) sequence the trial of the first one and every later gap are
    i.i.d. Geometric(``p``) on ``{1, 2, ...}`` (``P[G = g] = (1-p)^{g-1} p``), so the
    partial sums minus one are the positions of the ones (Devroye, *Non-Uniform Random
    Variate Generation*, 1986, §X.2). numpy draws each gap as ``ceil(E / -ln(1-p))`` with
    ``E`` standard exponential (inversion), exact up to double rounding of ``E`` and the
    logarithm (relative error ~1e-16 in each gap's probability; a zero gap, which only an
    ``E`` of exactly 0 gives, counts as 1). Batches of ``n p + 4 sqrt(n p) + 16`` gaps (at
    most 2^20) are drawn until the positions pass ``n``: about one batch, and the number
    drawn depends on ``(p, n)`` and the draws only. Otherwise the bits come from
    :func:`bernoulli_packed`'s digit sampler.
    """
    n = require_int("n", n, low=0)
    q = float(require_range("p", p, low=0.0, high=1.0))
    if q >= GAP_SAMPLING_MAX_P:
        return np.flatnonzero(bernoulli_bits(q, n, rng=rng)).astype(np.int64, copy=False)
    return _gap_positions(q, n, rng)


def _gap_positions(q: float, n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Positions of the ones of ``n`` Bernoulli(``q``) bits from geometric gaps (``q`` < 1)."""
    if q <= 0.0 or n == 0:
        return np.zeros(0, np.int64)
    mean = n * q
    batch = min(_GAP_BATCH, int(mean + 4.0 * math.sqrt(mean)) + 16)
    parts: list[npt.NDArray[np.int64]] = []
    last = -1  # position of the last one so far
    while last < n:
        gaps = rng.geometric(q, size=batch)
        # a gap of n + 1 or more passes the end anyway: capping keeps the sums from
        # overflowing (tiny q draws gaps near 2^63) and changes no position below n
        np.minimum(gaps, n + 1, out=gaps)  # (np.clip's wrapper costs 4x these two calls)
        np.maximum(gaps, 1, out=gaps)
        pos = np.cumsum(gaps)
        pos += last
        parts.append(pos)
        last = int(pos[-1])
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    kept: npt.NDArray[np.int64] = out[: int(np.searchsorted(out, n))]
    return kept


def bernoulli_bits(p: float, n: int, *, rng: np.random.Generator) -> Bits:
    """``(n,)`` 0/1 ``uint8`` independent Bernoulli(``p``) bits: :func:`bernoulli_packed`
    unpacked, from the same draws (gap sampling below :data:`GAP_SAMPLING_MAX_P`)."""
    n = require_int("n", n, low=0)
    q = float(require_range("p", p, low=0.0, high=1.0))
    if q < GAP_SAMPLING_MAX_P:
        bits = np.zeros(n, np.uint8)
        bits[_gap_positions(q, n, rng)] = 1
        return bits
    return np.unpackbits(_digit_packed(q, n, rng), count=n, bitorder="little")


def bernoulli_packed(p: float, n: int, *, rng: np.random.Generator) -> Bits:
    """``n`` independent Bernoulli(``p``) bits, bit-packed (``bitorder="little"``).

    For ``p <`` :data:`GAP_SAMPLING_MAX_P` the positions of the ones are drawn as geometric
    gaps (:func:`bernoulli_positions`), about ``n p`` draws. Otherwise the bits are drawn
    digit by digit, exact for the double ``p``: bit ``i`` is ``U_i < p`` for a uniform
    ``U_i`` whose binary digits are drawn one level at a time, 64 bits per random word. At
    level ``j`` a still undecided bit is decided when its digit differs from ``p``'s
    ``j``-th binary digit (``U < p`` iff the first differing digit is 0 in ``U`` and 1 in
    ``p``); when ``p``'s expansion ends, the undecided bits are 0. A bit stays undecided
    with probability ``2^-j``, so about ``log2(64) + 2`` random words are drawn per 64 bits;
    only words with undecided bits are drawn for after the first levels.
    """
    n = require_int("n", n, low=0)
    q = float(require_range("p", p, low=0.0, high=1.0))
    if q < GAP_SAMPLING_MAX_P:
        bits = np.zeros(n, np.uint8)
        bits[_gap_positions(q, n, rng)] = 1
        return np.packbits(bits, bitorder="little")
    return _digit_packed(q, n, rng)


def _digit_packed(q: float, n: int, rng: np.random.Generator) -> Bits:
    """The digit-by-digit sampler of :func:`bernoulli_packed` (any ``q`` in [0, 1])."""
    words = (n + 63) // 64
    if q >= 1.0:
        out = np.full(words, _ALL, np.uint64)
    else:
        out = np.zeros(words, np.uint64)
        idx: npt.NDArray[np.int64] | None = None  # None: every word still undecided
        undecided = np.full(words, _ALL, np.uint64)
        while q > 0.0 and undecided.size:
            q *= 2.0
            digit = q >= 1.0
            q -= float(digit)
            r = rng.integers(0, _ALL, size=undecided.size, dtype=np.uint64, endpoint=True)
            if digit:  # U's digit 0 < p's digit 1: decided 1; equal digits stay undecided
                hit = undecided & ~r
                if idx is None:
                    out |= hit
                else:
                    out[idx] |= hit
                undecided &= r
            else:  # U's digit 1 > p's digit 0: decided 0
                undecided &= ~r
            live = undecided != 0
            if idx is None and live.mean() > 0.5:
                continue  # compacting a mostly undecided array costs more than it saves
            idx = np.flatnonzero(live) if idx is None else idx[live]
            undecided = undecided[live]
    # little-endian words: bit b of word w is stream bit 64 w + b, i.e. little bit order
    packed = out.view(np.uint8) if np.little_endian else out.byteswap().view(np.uint8)
    nbytes = (n + 7) // 8
    result: Bits = packed[:nbytes].copy()
    if n % 8:
        result[-1] &= np.uint8((1 << (n % 8)) - 1)  # zero the padding bits
    return result


def sample_pauli_frame(pair: BellDiagonalPair, n: int, *, rng: np.random.Generator) -> PauliFrame:
    """The Pauli error teleportation through ``pair`` applies to each of ``n`` payload qubits.

    Exact law: i.i.d. ``(p_I, p_X, p_Y, p_Z) = pair.pauli_probabilities``, drawn as packed
    bits (:func:`bernoulli_packed`): the X component ``x ~ Bernoulli(p_X + p_Y)``, then the Z
    component ``z ~ Bernoulli(p_Y / (p_X + p_Y))`` where ``x = 1`` and
    ``Bernoulli(p_Z / (p_I + p_Z))`` where ``x = 0``.
    """
    if not isinstance(pair, BellDiagonalPair):
        raise InputError(f"pair must be a BellDiagonalPair, got {type(pair).__name__}")
    n = require_int("n", n, low=0)
    p_i, p_x, p_y, p_z = (float(v) for v in pair.pauli_probabilities)
    x = sample_flips(pair, n, rng=rng)
    z_if_x = bernoulli_packed(_ratio(p_y, p_x + p_y), n, rng=rng)
    z_if_not = bernoulli_packed(_ratio(p_z, p_i + p_z), n, rng=rng)
    z: Bits = (x & z_if_x) | (~x & z_if_not)
    return PauliFrame(n, x, z)


def sample_flips(pair: BellDiagonalPair, n: int, *, rng: np.random.Generator) -> Bits:
    """The X components of :func:`sample_pauli_frame` alone (packed): which Z-basis payload
    bits teleportation through ``pair`` flips, ``Bernoulli(p_X + p_Y)`` each."""
    return bernoulli_packed(min(1.0, pair.teleported_bit_error), n, rng=rng)


def _ratio(a: float, b: float) -> float:
    return 0.0 if b <= 0.0 else min(1.0, a / b)


def uniform_bits(shape: tuple[int, ...], *, rng: np.random.Generator) -> Bits:
    """Fair 0/1 ``uint8`` bits of ``shape``, eight per random byte."""
    count = int(np.prod(shape))
    raw = np.frombuffer(rng.bytes((count + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw, count=count, bitorder="little").reshape(shape)


def teleport_direct(
    pair: BellDiagonalPair,
    bits: npt.ArrayLike,
    *,
    noise_rng: np.random.Generator,
    secret_rng: np.random.Generator,
) -> TeleportResult:
    """Teleport payload ``bits`` through untouched pairs (state ``pair``) without a circuit.

    The Pauli frame's flips come from ``noise_rng`` (:func:`sample_flips`), the Bell bits of an
    all-zero payload from ``secret_rng``; the payload is XORed into ``m1`` as in
    :meth:`Teleporter.teleport`, so ``received = bits ⊕ x(σ)`` depends on ``noise_rng`` only.
    """
    payload = as_payload_bits("bits", bits)
    n = payload.size
    # the draws of sample_flips, as the positions of the flipped bits
    flipped = bernoulli_positions(min(1.0, pair.teleported_bit_error), n, rng=noise_rng)
    bell = uniform_bits((payload.size, 2), rng=secret_rng)
    bell[:, 1] ^= payload
    received = payload.copy()
    received[flipped] ^= 1
    return TeleportResult(received=received, bell_bits=bell)


class Teleporter:
    """Teleportation through one pair state, compiled once; see :func:`compile_teleporter`."""

    __slots__ = ("_pair",)

    def __init__(self, pair: BellDiagonalPair) -> None:
        if not isinstance(pair, BellDiagonalPair):
            raise InputError(f"pair must be a BellDiagonalPair, got {type(pair).__name__}")
        self._pair = pair

    @property
    def pair(self) -> BellDiagonalPair:
        """The pair state every teleport consumes."""
        return self._pair

    def circuit(
        self, *, lanes: int = 1, readout: _Readout = "teleport", eve: int | None = None
    ) -> stim.Circuit:
        """The stim circuit for ``lanes`` teleports (or checks) side by side.

        Measurement record, lane after lane: ``[eve]`` (if ``eve`` is a basis code), then
        ``m0, m1, received`` for ``readout="teleport"``, or ``client, server`` for a check
        of both halves in ``readout="Z"``/``"X"``. A copy: the cached circuit stays intact.
        """
        k = require_int("lanes", lanes, low=1, high=4096)
        mode = require_choice("readout", readout, ("teleport", "Z", "X"))
        who = require_choice("eve", eve, (None, BASIS_Z, BASIS_X))
        return _circuit(self._pair, k, mode, who).copy()

    def teleport(
        self,
        bits: npt.ArrayLike,
        *,
        rng: np.random.Generator,
        eve_bases: npt.ArrayLike | None = None,
    ) -> TeleportResult:
        """Teleport each payload bit (0/1) through its own pair; see the module notes."""
        payload = as_payload_bits("bits", bits)
        n = payload.size
        eve = None if eve_bases is None else _as_bases("eve_bases", eve_bases, n)
        rec = _sample_groups(
            self._pair, _group_codes(n, eve, None), "teleport", eve is not None, rng
        )
        bell_bits = rec[:, -3:-1]
        bell_bits[:, 1] ^= payload
        return TeleportResult(
            received=np.bitwise_xor(rec[:, -1], payload),
            bell_bits=bell_bits,
            eve_bits=rec[:, 0] if eve is not None else None,
        )

    def measure_pairs(
        self,
        bases: npt.ArrayLike,
        *,
        rng: np.random.Generator,
        eve_bases: npt.ArrayLike | None = None,
    ) -> PairMeasurement:
        """Measure both halves of ``len(bases)`` fresh pairs, pair i in basis ``bases[i]``.

        The expected disagreement rate is ``pair.qber_z`` in Z and ``pair.qber_x`` in X.
        """
        b = _as_bases("bases", bases, None)
        eve = None if eve_bases is None else _as_bases("eve_bases", eve_bases, b.size)
        rec = _sample_groups(
            self._pair, _group_codes(b.size, eve, b), "check", eve is not None, rng
        )
        return PairMeasurement(
            bases=b,
            client=rec[:, -2],
            server=rec[:, -1],
            eve_bits=rec[:, 0] if eve is not None else None,
        )

    def __repr__(self) -> str:
        return f"Teleporter({self._pair!r})"


def compile_teleporter(pair: BellDiagonalPair) -> Teleporter:
    """Return the (cached) :class:`Teleporter` for ``pair``; cheap to call repeatedly."""
    if not isinstance(pair, BellDiagonalPair):
        raise InputError(f"pair must be a BellDiagonalPair, got {type(pair).__name__}")
    return _compile(pair)


@functools.lru_cache(maxsize=256)
def _compile(pair: BellDiagonalPair) -> Teleporter:
    return Teleporter(pair)


# --------------------------------------------------------------------------- circuits


def _lanes(n: int) -> int:
    """Teleports per shot: ``n`` rounded up to a multiple of 8, at most MAX_LANES."""
    return min(MAX_LANES, 8 * max(1, math.ceil(n / 8)))


def pair_noise(pair: BellDiagonalPair, q1: list[int], q2: list[int]) -> stim.Circuit:
    """Noise that turns perfect ``|Φ+>`` pairs on ``(q1[i], q2[i])`` into ``pair``.

    ``PAULI_CHANNEL_1(p_X, p_Y, p_Z)`` on the client halves ``q1``: ``(σ⊗I)|Φ+>`` with σ
    drawn from ``pair.pauli_probabilities`` (see the module notes). ``q2`` is unused.
    """
    c = stim.Circuit()
    _, px, py, pz = pair.pauli_probabilities
    if px + py + pz > 0.0:
        c.append("PAULI_CHANNEL_1", q1, [px, py, pz])
    return c


@functools.lru_cache(maxsize=1024)
def _circuit(
    pair: BellDiagonalPair, lanes: int, readout: _Readout, eve: int | None
) -> stim.Circuit:
    k = lanes
    q0, q1, q2 = list(range(k)), list(range(k, 2 * k)), list(range(2 * k, 3 * k))
    c = stim.Circuit()
    c.append("R", q0 + q1 + q2)
    c.append("H", q1)
    c.append("CX", [t for ab in zip(q1, q2, strict=True) for t in ab])
    c += pair_noise(pair, q1, q2)
    # Lane by lane, so that each lane's measurements are adjacent in the record and the
    # unpacked samples reshape to (pairs, record width) without a copy. Written as text and
    # parsed once: much faster than appending thousands of instructions one by one.
    lane = "M {c}\n" if eve == BASIS_Z else "MX {c}\n" if eve == BASIS_X else ""
    if readout == "teleport":  # Bell measurement, then X^{m1} Z^{m0} on the server half
        lane += "CX {p} {c}\nH {p}\nM {p} {c}\nCX rec[-1] {s}\nCZ rec[-2] {s}\nM {s}\n"
    else:
        lane += ("M" if readout == "Z" else "MX") + " {c} {s}\n"
    c += stim.Circuit("".join(lane.format(p=i, c=k + i, s=2 * k + i) for i in range(k)))
    return c


# --------------------------------------------------------------------------- sampling


def _width(readout: _Readout, eve: int | None) -> int:
    """Measurements per lane: [eve], then m0, m1, received -- or client, server."""
    return (3 if readout == "teleport" else 2) + int(eve is not None)


def _group_codes(n: int, eve: Bits | None, bases: Bits | None) -> Bits:
    """Group id per pair: 2*eve_code + basis (each part 0 when absent)."""
    g = np.zeros(n, dtype=np.uint8)
    if eve is not None:
        g += 2 * eve
    if bases is not None:
        g += bases
    return g


def _sample_groups(
    pair: BellDiagonalPair,
    groups: Bits,
    kind: Literal["teleport", "check"],
    with_eve: bool,
    rng: np.random.Generator,
) -> Bits:
    """Sample every pair with the circuit of its group; return the records ``(n, width)``."""
    codes = np.unique(groups)
    out: Bits | None = None
    for code in codes:  # at most 4 groups (eve basis x check basis)
        eve = int(code) // 2 if with_eve else None
        readout: _Readout = "teleport" if kind == "teleport" else ("Z", "X")[int(code) % 2]
        if codes.size == 1:
            return _sample(pair, groups.size, readout, eve, rng)
        idx = np.flatnonzero(groups == code)
        rec = _sample(pair, idx.size, readout, eve, rng)
        if out is None:
            out = np.empty((groups.size, rec.shape[1]), dtype=np.uint8)
        out[idx] = rec
    assert out is not None
    return out


def _sample(
    pair: BellDiagonalPair, n: int, readout: _Readout, eve: int | None, rng: np.random.Generator
) -> Bits:
    """Records ``(n, width)`` of ``n`` lanes from one cached circuit."""
    k, w = _lanes(n), _width(readout, eve)
    # All zeros is a possible noise-free record of every circuit here (each measurement is
    # a fair coin or equal to an earlier one, and received = 0 when m0 = m1 = 0), so stim
    # may skip computing a reference sample (its slow, quadratic step).
    sampler = _circuit(pair, k, readout, eve).compile_sampler(
        seed=int(rng.integers(2**63)), skip_reference_sample=True
    )
    if n <= CHUNK_QUBITS:
        packed = sampler.sample(math.ceil(n / k), bit_packed=True)
        bits = np.unpackbits(packed, axis=1, bitorder="little")
        return bits.reshape(-1, w)[:n]
    out = np.empty((n, w), dtype=np.uint8)
    per_chunk = (CHUNK_QUBITS // k) * k
    for start in range(0, n, per_chunk):  # chunks of millions of qubits bound the memory
        stop = min(n, start + per_chunk)
        packed = sampler.sample(math.ceil((stop - start) / k), bit_packed=True)
        bits = np.unpackbits(packed, axis=1, bitorder="little")
        out[start:stop] = bits.reshape(-1, w)[: stop - start]
    return out


# --------------------------------------------------------------------------- validation


def as_payload_bits(name: str, bits: npt.ArrayLike) -> Bits:
    """``bits`` as a 1-D 0/1 ``uint8`` array of N >= 1 payload bits, else InputError."""
    a = np.asarray(bits)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of 0/1 payload bits, got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{name} must hold N >= 1 payload bits, got N = 0")
    if a.dtype != np.uint8:
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
            raise InputError(f"{name} must be 0/1 integers, got dtype {a.dtype}")
        if ((a != 0) & (a != 1)).any():
            raise InputError(f"{name} must contain only 0 and 1")
        return a.astype(np.uint8)
    if (a > 1).any():
        raise InputError(f"{name} must contain only 0 and 1, got a value {int(a.max())}")
    return a


def _as_bases(name: str, bases: npt.ArrayLike, n: int | None) -> Bits:
    a = np.asarray(bases)
    if n is not None and a.ndim == 0:
        a = np.full(n, a)
    if a.ndim != 1 or a.size == 0 or (n is not None and a.size != n):
        want = "N >= 1" if n is None else f"{n}"
        raise InputError(f"{name} must be a 1-D array of {want} basis codes, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer) or ((a != BASIS_Z) & (a != BASIS_X)).any():
        raise InputError(f"{name} must contain only {BASIS_Z} (Z) and {BASIS_X} (X)")
    return a.astype(np.uint8)
