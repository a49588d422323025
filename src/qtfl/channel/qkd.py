"""QkdOtpChannel: a BBM92 key over the same pair link, then the update bits one-time padded.

The hybrid alternative to teleporting the payload: the pairs only make key; the update's
basis-encoding bits travel classically as ``bits ⊕ key`` (its 32-bit scale header in the
clear, as in :class:`~qtfl.channel.teleportation.TeleportationChannel`). Post-processing
(sifting, estimation, reconciliation, privacy amplification, the finite-key length of
Tomamichel et al. 2012) is :mod:`qtfl.security.qkd`.

Reconciliation (``QkdSettings.reconciliation``): ``ldpc`` (default) sends one syndrome per
4000-bit block under the IRA LDPC code chosen from the sample's QBER upper bound and decodes
with :mod:`qtfl.channel.ldpc_decoder`, Alice's CRC-32 per block exposing a wrong decoding;
blocks the decoder cannot solve are discarded at both ends (not retried), and a verification
hash closes it; ``leak_EC`` = syndrome and CRC bits + hash.
``cascade`` is the interactive parity protocol (:func:`qtfl.security.qkd.reconcile`).

Privacy amplification (``QkdSettings.privacy_amplification``): ``multiply-add-shift``
(default; strongly universal, one GMP multiplication) or ``toeplitz`` (one FFT convolution),
:mod:`qtfl.security.privacy_amplification`; both two-universal, so the key length is the same.

Tolerated QBER. Each block's ``Q_tol`` is fixed before its pairs are measured
(:meth:`QkdOtpChannel.block_tolerance`): ``QkdSettings.qber_tolerance`` when given, else
:func:`~qtfl.security.qkd.robust_qber_tolerance` of the link's expected QBER and the block's
planned size, so that an honest link aborts a block with probability at most
``QkdSettings.eps_rob`` (at most 11%); a block whose sample QBER exceeds it aborts
(``qber-above-tolerance``), and the key length is Eq. (2) of Tomamichel et al. with ``Q_tol``.

Sizing. A block of ``N`` pairs is sized from the link's expected QBER so that its finite key
covers the payload with a margin; if a block's key falls short, another block makes the rest
(at most ``max_blocks``). Runtime aborts: sample QBER above ``Q_tol`` (``qber-above-tolerance``),
reconciliation that does not verify, or no key after ``max_blocks`` blocks.

Tap: the ciphertext. Eve's payload guess (when she taps) is ``ciphertext ⊕ h(r_E)`` with
``h`` the public privacy-amplification hash and ``r_E`` her raw-key guess: her
intercept-resend outcome on the pairs she measured, 0 elsewhere. (A MITM with quantum
memory could do better on raw bits; privacy amplification removes that too, and her 50% QBER
aborts the key long before.)

Ledger: ``bell_pairs`` = every pair measured (unsifted included; over a
:class:`~qtfl.channel.verified.PurifiedLink` plus the pairs purification consumed, counted in
``purification_pairs``), ``check_pairs`` = sifted
bits revealed for estimation; classical bits: both ends' bases ``2N``, sample positions and
values, reconciliation messages (Cascade: parities both ways ``2·leak_EC``; LDPC: syndromes,
CRCs, hash and Bob's one flag per block), the privacy-amplification seed (multiply-add-shift
``2(n + l - 1)`` bits, Toeplitz ``n + l - 1``), the ciphertext and header;
link seconds: ``N / pair_rate_hz`` + one latency per message (sifting, estimation, every
reconciliation round trip counts two, seed, ciphertext).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger, Tap, Verdict
from qtfl.channel.crc import CRC_BITS
from qtfl.channel.fec import select_code
from qtfl.channel.verified import PairLink, distribution_cost
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.encoding import BasisEncoding
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.teleport import (
    bernoulli_packed,
    bernoulli_positions,
    sample_mask,
    sample_subset,
    uniform_bits,
)
from qtfl.security.detection import QberTest
from qtfl.security.eavesdropper import CheckSample, Eavesdropper, NoEavesdropper, sample_checks
from qtfl.security.leakage import binary_entropy, measure_leakage
from qtfl.security.privacy_amplification import (
    PRIVACY_AMPLIFICATIONS,
    privacy_amplification_seed,
    privacy_amplify,
    seed_bits,
)
from qtfl.security.qkd import (
    SHOR_PRESKILL_QBER,
    Reconciliation,
    finite_key_length,
    ldpc_reconcile,
    reconcile,
    reconciliation_qber,
    robust_qber_tolerance,
    verification_hash_bits,
    within_tolerance,
)
from qtfl.security.run_secret import LinkSecret

Bits = npt.NDArray[np.uint8]
#: Cascade leakage per sifted bit assumed when sizing a block, in units of ``h(Q)``
#: (measured 1.21 at Q = 1%, 1.30 at 5%, 1.36 at 10%; tests/security/test_qkd.py).
SIZING_F_EC = 1.4
RECONCILIATIONS = ("ldpc", "cascade")
#: Largest block (sifted key bits) the sizing considers before declaring no key possible.
MAX_SIFTED_BITS = 1 << 34


@dataclass(frozen=True)
class QkdSettings:
    """BBM92 parameters.

    Args:
        sample_fraction: share of sifted bits revealed to estimate the QBER, in ``(0, 1)``.
        eps_sec: secrecy parameter of the finite-key analysis, in ``(0, 1)``.
        eps_cor: correctness parameter (reconciliation hash), in ``(0, 1)``.
        max_blocks: key blocks tried before the transfer is reported as not delivered.
        max_pairs: largest block of pairs simulated at once (memory bound); a key that
            needs more is reported as not delivered (``key-needs-too-many-pairs``).
        reconciliation: ``ldpc`` (syndrome decoding, default) or ``cascade``.
        qber_tolerance: ``Q_tol`` of the finite-key bound, in ``(0, 0.11]``, fixed before
            the run for every block; ``None``: per block,
            :func:`~qtfl.security.qkd.robust_qber_tolerance` at ``eps_rob``.
        eps_rob: robustness, in ``(0, 1)``: the largest probability with which an honest link
            (QBER as the link's model says) aborts a block, when ``qber_tolerance`` is unset.
        privacy_amplification: the two-universal hash family, ``multiply-add-shift``
            (default) or ``toeplitz`` (:mod:`qtfl.security.privacy_amplification`).
    """

    sample_fraction: float = 0.1
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    max_blocks: int = 4
    max_pairs: int = 50_000_000
    reconciliation: str = "ldpc"
    qber_tolerance: float | None = None
    privacy_amplification: str = "multiply-add-shift"
    eps_rob: float = 1e-10

    def __post_init__(self) -> None:
        for name in ("sample_fraction", "eps_sec", "eps_cor", "eps_rob"):
            require_range(
                name, getattr(self, name), low=0.0, high=1.0, low_open=True, high_open=True
            )
        require_int("max_blocks", self.max_blocks, low=1)
        require_int("max_pairs", self.max_pairs, low=1)
        require_choice("reconciliation", self.reconciliation, RECONCILIATIONS)
        require_choice("privacy_amplification", self.privacy_amplification, PRIVACY_AMPLIFICATIONS)
        if self.qber_tolerance is not None:
            require_range(
                "qber_tolerance", self.qber_tolerance, low=0.0, high=SHOR_PRESKILL_QBER,
                low_open=True,
            )  # fmt: skip


@dataclass(frozen=True)
class KeyBlock:
    """The figures of one distilled block (enough to recompute its key length)."""

    n_pairs: int
    n_sifted: int
    n_sample: int
    n_key: int
    qber: float
    leak_ec: int
    key_bits: int
    reason: str = "ok"
    qber_tolerance: float = SHOR_PRESKILL_QBER
    reconciliation_code: str = ""


@dataclass(frozen=True)
class KeyDistillation:
    """Both ends' final keys (equal when ``reason == "ok"``), per-block figures and cost."""

    alice_key: Bits
    bob_key: Bits
    eve_key_guess: Bits
    blocks: list[KeyBlock] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    reason: str = "ok"


class QkdOtpChannel(Channel):
    """BBM92 over ``link``; the update's encoded bits are XORed with the key.

    Raises :class:`InputError` at construction when the link's natural QBER already exceeds
    the 11% Shor–Preskill limit (no key can be made).

    ``secret``: the link's :class:`~qtfl.security.run_secret.LinkSecret` (fresh if None);
    every key block is drawn from its generator for the transfer, never from ``rng`` alone.
    """

    name = "qkd-otp"

    def __init__(
        self,
        link: PairLink,
        *,
        bits: int = 16,
        settings: QkdSettings | None = None,
        eavesdropper: Eavesdropper | None = None,
        secret: LinkSecret | None = None,
    ) -> None:
        self.secret = secret if secret is not None else LinkSecret()
        pair = getattr(link, "pair", None)
        if not isinstance(pair, BellDiagonalPair):
            raise InputError("link must provide a BellDiagonalPair as .pair (e.g. LinkSpec)")
        if pair.qber > SHOR_PRESKILL_QBER:
            raise InputError(
                f"link QBER {pair.qber:.4f} (pair fidelity {pair.fidelity:.4f}) exceeds the "
                f"{SHOR_PRESKILL_QBER:.1%} Shor-Preskill limit: QKD cannot make a key; "
                "use a better link (QBER < 0.11) or purify"
            )
        self.link = link
        self.encoding = BasisEncoding(bits=bits)
        self.settings = settings or QkdSettings()
        self.eavesdropper = eavesdropper or NoEavesdropper()
        tol = self.settings.qber_tolerance
        if tol is not None and tol < pair.qber:
            raise InputError(
                f"qber_tolerance {tol:g} is below the link's expected QBER {pair.qber:.4f}: "
                f"every block would abort; use qber_tolerance in [{pair.qber:.4f}, "
                f"{SHOR_PRESKILL_QBER}] or leave it unset"
            )
        #: The fixed ``Q_tol`` of every block, or ``None``: per block (:meth:`block_tolerance`).
        self.qber_tolerance = None if tol is None else float(tol)

    def block_tolerance(self, n_pairs: int) -> float:
        """``Q_tol`` of a block of ``n_pairs`` pairs, fixed before they are measured: the
        fixed ``qber_tolerance`` if set, else :func:`~qtfl.security.qkd.robust_qber_tolerance`
        of the link's expected QBER (public figures only: both ends compute it alone)."""
        if self.qber_tolerance is not None:
            return self.qber_tolerance
        s = self.settings
        return robust_qber_tolerance(
            expected_qber=float(self.link.pair.qber),
            n_pairs=n_pairs,
            sample_fraction=s.sample_fraction,
            eps_rob=s.eps_rob,
        )

    def pairs_for_key(self, key_bits: int, *, qber: float | None = None) -> int | None:
        """Pairs to distribute so one block's expected finite key covers ``key_bits``.

        ``qber`` defaults to the link's expected QBER; later blocks pass the measured one.
        ``None`` when no block yields a key at that QBER: reconciliation leakage (LDPC:
        ``1 - rate`` of the code chosen for the sample's QBER upper bound; Cascade:
        ``SIZING_F_EC·h(Q)``) plus privacy amplification (``h(Q_tol + mu)``, ``Q_tol`` that
        of the block size tried) exceed 1 bit per sifted bit.
        """
        s = self.settings
        q = self.link.pair.qber if qber is None else max(qber, self.link.pair.qber)
        need = require_int("key_bits", key_bits, low=1)
        t = verification_hash_bits(s.eps_cor)

        def key_from(n_key: int) -> int:
            k = max(1, math.ceil(s.sample_fraction / (1 - s.sample_fraction) * n_key))
            if s.reconciliation == "ldpc":
                try:
                    code = select_code(reconciliation_qber(min(k, round(q * k)), k))
                except InputError:
                    return 0
                leak: float = -(-n_key // code.n) * (code.n - code.k + CRC_BITS) + t
            else:
                leak = SIZING_F_EC * n_key * float(binary_entropy(q)) + 64
            return finite_key_length(
                n_key=n_key,
                n_sample=k,
                qber_tolerance=self.block_tolerance(pairs_for(n_key)),
                leak_ec=leak,
                eps_sec=s.eps_sec,
                eps_cor=s.eps_cor,
            )

        def pairs_for(n_key: int) -> int:  # pairs whose sifted key leaves n_key bits
            sifted = n_key / (1 - s.sample_fraction)
            return math.ceil(2.0 * sifted * 1.02 + 6.0 * math.sqrt(sifted) + 64)

        lo, hi = 1, max(2, 2 * need)
        while key_from(hi) < need:
            if hi > MAX_SIFTED_BITS:
                return None
            hi *= 2
        while lo < hi:  # smallest sifted key length that suffices
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if key_from(mid) < need else (lo, mid)
        return pairs_for(lo)

    def distill_key(self, key_bits: int, *, rng: np.random.Generator) -> KeyDistillation:
        """Make at least ``key_bits`` of shared secret key, block by block."""
        alice: list[Bits] = []
        bob: list[Bits] = []
        eve: list[Bits] = []
        blocks: list[KeyBlock] = []
        ledger = Ledger()
        have, qber = 0, None
        for _ in range(self.settings.max_blocks):
            n_pairs = self.pairs_for_key(key_bits - have, qber=qber)
            if n_pairs is None:
                return _failed(blocks, ledger, "no-key-at-this-qber")
            if n_pairs > self.settings.max_pairs:
                return _failed(blocks, ledger, "key-needs-too-many-pairs")
            block, keys, cost = self._block(n_pairs, rng=rng)
            blocks.append(block)
            ledger += cost
            qber = block.qber
            if block.reason == "key-too-short":  # size the next block with the measured QBER
                continue
            if block.reason != "ok":
                return _failed(blocks, ledger, block.reason)
            alice.append(keys[0])
            bob.append(keys[1])
            eve.append(keys[2])
            have += block.key_bits
            if have >= key_bits:
                cat = [np.concatenate(x) for x in (alice, bob, eve)]
                return KeyDistillation(cat[0], cat[1], cat[2], blocks, ledger)
        return _failed(blocks, ledger, "key-too-short")

    def _block(
        self, n_pairs: int, *, rng: np.random.Generator
    ) -> tuple[KeyBlock, tuple[Bits, Bits, Bits], Ledger]:
        s, lat = self.settings, float(self.link.latency_s)
        eve_rng, ends_rng = rng.spawn(2)
        attack = self.eavesdropper.plan(n_pairs, rng=eve_rng)
        # the split ends on Flower (qtfl.channel.split_qkd) draw the same (draw_block_pairs)
        raw = _measure_pairs(self.link.pair, attack, s.sample_fraction, rng=ends_rng)
        m, k, sample_errors = raw.n_sifted, raw.n_sample, raw.sample_errors
        qber = sample_errors / k
        cost = block_cost(self.link, n_pairs, m, k, rng=ends_rng)
        q_tol = self.block_tolerance(n_pairs)  # public figures only: as fixed before measuring
        block = KeyBlock(
            n_pairs=n_pairs, n_sifted=m, n_sample=k, n_key=m - k, qber=qber, leak_ec=0,
            key_bits=0, qber_tolerance=q_tol,
        )  # fmt: skip
        empty = np.zeros(0, np.uint8)
        if not within_tolerance(sample_errors, k, q_tol) or m - k < 1:
            reason = "key-too-short" if m - k < 1 else "qber-above-tolerance"
            return replace(block, reason=reason), (empty,) * 3, cost
        a_raw, b_raw, e_raw = raw.alice, raw.bob, raw.eve
        rec = self._reconcile(a_raw, b_raw, reconciliation_qber(sample_errors, k), ends_rng)
        cost += Ledger(classical_bits=rec.sent_bits, link_seconds=2 * lat * rec.rounds)
        block = replace(block, leak_ec=rec.leaked_bits, reconciliation_code=rec.code)
        if not rec.success:
            return replace(block, reason="error-correction-failed"), (empty,) * 3, cost
        if rec.kept is not None and not rec.kept.all():  # unsolved blocks: dropped at both ends
            a_raw, e_raw, corrected = a_raw[rec.kept], e_raw[rec.kept], rec.corrected[rec.kept]
        else:
            corrected = rec.corrected
        block = replace(block, n_key=int(a_raw.size))
        ell = finite_key_length(
            n_key=int(a_raw.size),
            n_sample=k,
            qber_tolerance=q_tol,
            leak_ec=rec.leaked_bits,
            eps_sec=s.eps_sec,
            eps_cor=s.eps_cor,
        )
        block = replace(block, key_bits=ell)
        if ell == 0:
            return replace(block, reason="key-too-short"), (empty,) * 3, cost
        seed = privacy_amplification_seed(
            s.privacy_amplification, int(a_raw.size), ell, rng=ends_rng
        )
        cost += Ledger(classical_bits=seed_bits(seed), link_seconds=lat)
        taps = self.eavesdropper.taps_classical
        hashed = privacy_amplify([a_raw, corrected] + [e_raw] * taps, seed, ell)
        eve_key = hashed[2] if taps else np.zeros(ell, np.uint8)
        return block, (hashed[0], hashed[1], eve_key), cost

    def _reconcile(
        self, alice: Bits, bob: Bits, qber_upper: float, rng: np.random.Generator
    ) -> Reconciliation:
        eps_cor = self.settings.eps_cor
        if self.settings.reconciliation == "cascade":
            return reconcile(alice, bob, qber=qber_upper, eps_cor=eps_cor, rng=rng)
        return ldpc_reconcile(alice, bob, qber=min(qber_upper, 0.5), eps_cor=eps_cor)

    def _p_value(self, block: KeyBlock) -> float:
        return _p_value_of(block, self.link.pair.qber)

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        header = self.encoding.encode(update)
        bits = header.bit_array()
        n = int(bits.size)
        key = self.distill_key(n, rng=self.secret.for_transfer(rng))
        ledger = Ledger(payload_bits=n) + key.ledger
        if key.reason != "ok":
            last = key.blocks[-1] if key.blocks else None
            verdict = Verdict.abort(
                key.reason,
                detected=key.reason == "qber-above-tolerance",
                qber=None if last is None else last.qber,
                qber_bound=None if last is None else last.qber_tolerance,
                p_value=None if last is None else self._p_value(last),
                attempts=max(1, len(key.blocks)),
            )
            return Delivery(None, ledger, verdict, Tap(kind="qkd-public-discussion"))
        cipher = bits ^ key.alice_key[:n]
        plain = cipher ^ key.bob_key[:n]
        ledger += Ledger(
            classical_bits=n + header.header_bits, link_seconds=float(self.link.latency_s)
        )
        guess = cipher ^ key.eve_key_guess[:n] if self.eavesdropper.taps_classical else None
        learned = None if guess is None else measure_leakage(guess, bits).information_bits
        tap = Tap(
            kind="one-time-pad-ciphertext",
            observed=np.packbits(cipher),
            payload_guess=guess,
            information_bits=learned,
        )
        worst = max(key.blocks, key=lambda b: b.qber)
        verdict = Verdict.ok(
            qber=worst.qber,
            qber_bound=worst.qber_tolerance,
            p_value=self._p_value(worst),
            attempts=len(key.blocks),
        )
        return Delivery(self.encoding.decode(header.with_bits(plain)), ledger, verdict, tap)


def _p_value_of(block: KeyBlock, link_qber: float) -> float:
    """``P(Bin(k, q_link) >= errors)`` for a block's estimation sample."""
    errors = round(block.qber * block.n_sample)
    return QberTest(expected_qber=min(0.5, link_qber)).p_value(errors, block.n_sample)


def _failed(blocks: list[KeyBlock], ledger: Ledger, reason: str) -> KeyDistillation:
    empty = np.zeros(0, np.uint8)
    return KeyDistillation(empty, empty, empty, blocks, ledger, reason)


@dataclass(frozen=True)
class SiftedKey:
    """One block's sifted measurements: the sample's figures and the raw key of each end.

    ``alice``, ``bob`` and ``eve`` (Eve's raw-key guess, 0 where she measured nothing) are
    the ``n_sifted - n_sample`` sifted bits left after the estimation sample.
    """

    n_sifted: int
    n_sample: int
    sample_errors: int
    alice: Bits
    bob: Bits
    eve: Bits


def block_cost(
    link: PairLink, n_pairs: int, n_sifted: int, n_sample: int, *, rng: np.random.Generator
) -> Ledger:
    """What one key block of ``n_pairs`` pairs costs: the pairs (and those spent distilling
    them, :func:`~qtfl.channel.verified.distribution_cost`, drawn from ``rng``), both
    ends' bases, the sample's positions and values, and two one-way trips."""
    extra, tries, seconds = distribution_cost(link, n_pairs, rng=rng)
    k = n_sample
    return Ledger(
        bell_pairs=n_pairs + extra,
        check_pairs=k,
        purification_pairs=extra,
        classical_bits=2 * n_pairs
        + k * max(1, math.ceil(math.log2(max(n_sifted, 2))))
        + 2 * k
        + 2 * tries,
        link_seconds=seconds + 2 * float(link.latency_s),
    )


def _sample_size(n_sifted: int, sample_fraction: float) -> int:
    return max(1, math.ceil(sample_fraction * n_sifted))


@dataclass(frozen=True)
class BlockDraw:
    """The joint sample of one key block: both ends' bases, the sifted positions, the
    outcomes of both ends (and Eve's guess) on the sifted pairs, the estimation sample's
    positions (indices into the sifted pairs, ascending)."""

    a_bases: Bits
    b_bases: Bits
    sift: npt.NDArray[np.int64]
    client: Bits
    server: Bits
    eve_bits: Bits
    sample: npt.NDArray[np.int64]


def measure_sifted(
    pair: BellDiagonalPair, bases: Bits, attack: Bits, *, rng: np.random.Generator
) -> CheckSample:
    """Both halves of the sifted pairs, pair ``i`` measured in ``bases[i]`` (0 = Z, 1 = X).

    No pair attacked (every code :data:`~qtfl.security.eavesdropper.NONE`): drawn directly
    from the Bell-diagonal law, no circuit. Pair ``i`` is a Pauli ``σ`` on one half of
    ``Φ+`` with probabilities ``pair.pauli_probabilities``; each half alone is uniform and
    independent of ``σ``, and the two Z outcomes differ iff ``σ`` has an X component
    (``B + C`` = :attr:`~qtfl.quantum.noise.BellDiagonalPair.qber_z`), the two X outcomes iff
    it has a Z component (``B + D`` = ``qber_x``). So, bit-packed and from ``rng`` in this
    order: the client's bits uniform (eight per random byte), then the disagreements — one
    ``Bernoulli(qber_z)`` string (:func:`~qtfl.quantum.teleport.bernoulli_packed`) for all
    pairs when ``qber_x == qber_z`` (a Werner pair), else a ``Bernoulli(qber_z)`` and a
    ``Bernoulli(qber_x)`` string over all pairs, each pair taking the one of its basis.
    Otherwise stim (:func:`~qtfl.security.eavesdropper.sample_checks`), the reference
    (tests/channel/test_qkd_sampler.py compares the two).
    """
    if attack.any():
        return sample_checks(pair, bases, attack, rng=rng)
    n = int(bases.size)
    client = np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8)
    q_z, q_x = min(1.0, pair.qber_z), min(1.0, pair.qber_x)
    errors = bernoulli_packed(q_z, n, rng=rng)
    if q_x != q_z:
        in_x = np.packbits(bases, bitorder="little")
        errors = (errors & ~in_x) | (bernoulli_packed(q_x, n, rng=rng) & in_x)
    return CheckSample(
        bases=bases,
        client=np.unpackbits(client, count=n, bitorder="little"),
        server=np.unpackbits(client ^ errors, count=n, bitorder="little"),
        eve_bits=np.zeros(n, np.uint8),
    )


def draw_block_pairs(
    pair: BellDiagonalPair, attack: Bits, sample_fraction: float, *, rng: np.random.Generator
) -> BlockDraw:
    """Random bases for both ends of every pair (:func:`~qtfl.quantum.teleport.uniform_bits`),
    the sifted pairs measured under the attack codes (:func:`measure_sifted`), a uniformly
    random estimation sample (:func:`~qtfl.quantum.teleport.sample_subset`: sorted, no
    permutation of the sifted pairs). The split ends (:mod:`qtfl.channel.split_qkd`) and the
    in-process channel's attacked blocks call this; its unattacked blocks take
    :func:`_measure_untouched`, which makes the same generator calls, so all draw the same."""
    n_pairs = int(attack.size)
    a_bases = uniform_bits((n_pairs,), rng=rng)
    b_bases = uniform_bits((n_pairs,), rng=rng)
    sift = np.flatnonzero(a_bases == b_bases)
    m = int(sift.size)
    untouched = not attack.any()  # then no gather of the (all-zero) attack codes
    sifted_attack = np.zeros(m, np.uint8) if untouched else attack[sift]
    meas = measure_sifted(pair, a_bases[sift], sifted_attack, rng=rng)
    k = _sample_size(m, sample_fraction)
    sample = sample_subset(m, k, rng=rng)
    return BlockDraw(a_bases, b_bases, sift, meas.client, meas.server, meas.eve_bits, sample)


def _measure_pairs(
    pair: BellDiagonalPair, attack: Bits, sample_fraction: float, *, rng: np.random.Generator
) -> SiftedKey:
    """:func:`draw_block_pairs`, reduced to the sample's figures and the raw keys
    (:func:`_measure_untouched` when no pair is attacked: the same result, faster)."""
    if not attack.any():
        return _measure_untouched(pair, int(attack.size), sample_fraction, rng=rng)
    d = draw_block_pairs(pair, attack, sample_fraction, rng=rng)
    m, k = int(d.sift.size), int(d.sample.size)
    in_key = np.ones(m, bool)
    in_key[d.sample] = False
    key_idx = np.flatnonzero(in_key)  # then take: faster than two boolean-mask copies
    errors = int(np.count_nonzero(d.client[d.sample] != d.server[d.sample]))
    eve = d.eve_bits.take(key_idx) if d.eve_bits.any() else np.zeros(m - k, np.uint8)
    return SiftedKey(m, k, errors, d.client.take(key_idx), d.server.take(key_idx), eve)


def _measure_untouched(
    pair: BellDiagonalPair, n_pairs: int, sample_fraction: float, *, rng: np.random.Generator
) -> SiftedKey:
    """:func:`_measure_pairs` of ``n_pairs`` pairs none of which is attacked: the same
    generator calls as :func:`draw_block_pairs` in the same order, so the same
    :class:`SiftedKey` (tests/channel/test_qkd_sampler.py), without what only the split ends
    need. The bases stay packed and the sifted count is the popcount of their agreement
    (the sifted pairs' bases are unpacked only when ``qber_x != qber_z``); the
    disagreements are kept as positions and marked beside Alice's unpacked outcomes, and
    one pass (:func:`~qtfl.channel._ldpc_kernels.sifted_key`) writes both ends' key strings
    without the estimation sample. About half the general path's time for a paper-size
    key."""
    from qtfl.channel._ldpc_kernels import sifted_key

    size = (n_pairs + 7) // 8
    a_packed = np.frombuffer(rng.bytes(size), dtype=np.uint8)  # uniform_bits' draws
    b_packed = np.frombuffer(rng.bytes(size), dtype=np.uint8)
    agree = ~(a_packed ^ b_packed)
    if n_pairs % 8:
        agree[-1] &= (1 << (n_pairs % 8)) - 1  # bits past the last pair (little bit order)
    m = int(np.bitwise_count(agree).sum(dtype=np.int64))
    # measure_sifted's draws: Alice's bits, then the disagreement string(s)
    client = np.frombuffer(rng.bytes((m + 7) // 8), dtype=np.uint8)
    q_z, q_x = min(1.0, pair.qber_z), min(1.0, pair.qber_x)
    if q_x == q_z:
        flips = bernoulli_positions(q_z, m, rng=rng)
    else:
        in_sift = np.unpackbits(agree, count=n_pairs, bitorder="little").view(bool)
        sifted_bases = np.unpackbits(a_packed, count=n_pairs, bitorder="little")[in_sift]
        in_x = np.packbits(sifted_bases, bitorder="little")
        errors = bernoulli_packed(q_z, m, rng=rng) & ~in_x
        errors |= bernoulli_packed(q_x, m, rng=rng) & in_x
        flips = np.flatnonzero(np.unpackbits(errors, count=m, bitorder="little"))
    k = _sample_size(m, sample_fraction)
    in_sample = sample_mask(m, k, rng=rng)  # sample_subset's draws, as a mask
    both = np.unpackbits(client, count=m, bitorder="little")  # bit 0: Alice's outcome
    both[flips] |= 2  # bit 1: Bob's outcome differs
    alice = np.empty(m - k + 1, np.uint8)  # one slot of slack (sifted_key)
    bob = np.empty(m - k + 1, np.uint8)
    sifted_key(both, in_sample.view(np.uint8), alice, bob)  # one pass for both strings
    sample_errors = int(np.count_nonzero(in_sample[flips]))
    alice, bob = alice[:-1], bob[:-1]
    return SiftedKey(m, k, sample_errors, alice, bob, np.zeros(m - k, np.uint8))
