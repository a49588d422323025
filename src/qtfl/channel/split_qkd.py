"""QKD-OTP split into its two ends: BBM92 post-processing as messages between client and server.

In one process :class:`~qtfl.channel.qkd.QkdOtpChannel` distils a key block by block and pads
the update with it. Split, the client is Alice and the server Bob; per key block:

1. **link** (:func:`draw_block`): the pairs of the block, both ends' bases and outcomes on
   the sifted pairs, the estimation sample's positions and the distribution cost — one joint
   sample from the transfer's secret generator (link secret + ``LinkKey``) that each end
   draws alone and keeps only its half of (:class:`AliceHalf`, :class:`BobHalf`);
2. **server → client** (:class:`BobAnnouncement`): Bob's bases and his sample values;
3. **client → server** (:class:`AliceAnswer`): Alice's bases and sample values, and — if her
   own estimate of the QBER is within ``Q_tol`` — one LDPC syndrome and CRC-32 per 4000-bit
   block of her key string (:func:`alice_syndromes`);
4. **server**: sifts with the announced bases, estimates the QBER, decodes the syndromes
   against its own string (:func:`bob_decode`, the decoder of
   :func:`~qtfl.security.qkd.ldpc_reconcile` call for call) and sends the flags of the
   blocks it keeps;
5. **client** (:class:`AliceClosing`): a ``⌈log2(1/ε_cor)⌉``-bit verification hash of its kept
   string, and — once the key covers the payload — the ciphertext ``bits ⊕ key`` and the
   32-bit header;
6. **server**: compares the hash with its own, privacy-amplifies (the family of
   ``QkdSettings.privacy_amplification``, seed drawn from the shared generator: public) and
   decrypts.

Each end re-checks what the other announced against its half of the link sample (the sift
must be the one the link measured): an inconsistent announcement is an error, which the
server's wrapper turns into a rejected delivery. The verification hash is the first
``t`` bits of SHA-256 of the kept string (in process the two strings are compared directly;
a collision has probability ``2^-t``, at most ``ε_cor``). Reconciliation ``cascade`` runs
its parity queries as further messages (:mod:`qtfl.flower.cascade_ends`).

The ledger, verdict and decoded update equal :meth:`QkdOtpChannel.send` for the same
``LinkKey`` noise generator and link secret (tests/flower/test_qkd_split.py): the same
generator calls in the same order, the same sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Ledger
from qtfl.channel.crc import CRC_BITS, crc32_bits
from qtfl.channel.fec import LdpcCode, select_code
from qtfl.channel.ldpc_decoder import decode_verified
from qtfl.channel.qkd import QkdOtpChannel, block_cost, draw_block_pairs
from qtfl.errors import InputError
from qtfl.security.cascade import verification_hash as verification_hash  # re-exported
from qtfl.security.privacy_amplification import (
    privacy_amplification_seed,
    privacy_amplify,
    seed_bits,
)
from qtfl.security.qkd import (
    crc_check,
    finite_key_length,
    reconciliation_qber,
    verification_hash_bits,
    within_tolerance,
)

Bits = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class _JointBlock:
    """The joint sample of one key block; a node never keeps this object."""

    a_bases: Bits
    b_bases: Bits
    sift: npt.NDArray[np.int64]
    alice: Bits
    bob: Bits
    sample: npt.NDArray[np.int64]
    cost: Ledger
    ends_rng: np.random.Generator
    qber_tolerance: float
    eve: Bits


@dataclass(frozen=True)
class AliceHalf:
    """The client's records of one block: its bases and outcomes on the sifted pairs, the
    public sample positions, the shared generator (public seeds) and the block's ``Q_tol``
    (:meth:`QkdOtpChannel.block_tolerance`, public).

    ``eve``: the simulated eavesdropper's raw-key guess on the sifted pairs (her outcome
    where she measured, 0 elsewhere). Not Alice's: the client node simulates Eve and reports
    what she learned beside its wire (:mod:`qtfl.flower.taps`); it is never sent.
    """

    bases: Bits
    sift: npt.NDArray[np.int64]
    outcomes: Bits
    sample: npt.NDArray[np.int64]
    ends_rng: np.random.Generator
    qber_tolerance: float
    eve: Bits


@dataclass(frozen=True)
class BobHalf:
    """The server's records of one block, the block's cost (pairs, messages, time) and its
    ``Q_tol``."""

    bases: Bits
    sift: npt.NDArray[np.int64]
    outcomes: Bits
    sample: npt.NDArray[np.int64]
    cost: Ledger
    ends_rng: np.random.Generator
    qber_tolerance: float


def draw_block(channel: QkdOtpChannel, n_pairs: int, rng: np.random.Generator) -> _JointBlock:
    """Draw one block's pairs as :meth:`QkdOtpChannel._block` does (same calls, same order)."""
    eve_rng, ends_rng = rng.spawn(2)
    attack = channel.eavesdropper.plan(n_pairs, rng=eve_rng)
    d = draw_block_pairs(channel.link.pair, attack, channel.settings.sample_fraction, rng=ends_rng)
    m, k = int(d.sift.size), int(d.sample.size)
    cost = block_cost(channel.link, n_pairs, m, k, rng=ends_rng)
    tol = channel.block_tolerance(n_pairs)
    return _JointBlock(
        d.a_bases, d.b_bases, d.sift, d.client, d.server, d.sample, cost, ends_rng, tol,
        d.eve_bits,
    )  # fmt: skip


def alice_half(joint: _JointBlock) -> AliceHalf:
    j = joint
    return AliceHalf(j.a_bases, j.sift, j.alice, j.sample, j.ends_rng, j.qber_tolerance, j.eve)


def bob_half(joint: _JointBlock) -> BobHalf:
    j = joint
    return BobHalf(j.b_bases, j.sift, j.bob, j.sample, j.cost, j.ends_rng, j.qber_tolerance)


def check_sift(own_bases: Bits, sift: npt.NDArray[np.int64], their_bases: Bits) -> None:
    """The announced bases must sift the pairs the link measured (InputError otherwise)."""
    theirs = np.asarray(their_bases)
    if theirs.shape != own_bases.shape or theirs.dtype != np.uint8:
        raise InputError(f"announced bases must be {own_bases.size} uint8 values")
    if not np.array_equal(np.flatnonzero(own_bases == theirs), sift):
        raise InputError("the announced bases do not sift the pairs the link measured")


@dataclass(frozen=True)
class Estimate:
    """The parameter estimation of one block, public to both ends."""

    errors: int
    sample_size: int
    sifted: int

    @property
    def qber(self) -> float:
        return self.errors / self.sample_size

    @property
    def key_length(self) -> int:
        """Sifted bits left for the key after the sample."""
        return self.sifted - self.sample_size

    def outcome(self, qber_tolerance: float) -> str:
        """``ok``, ``key-too-short`` (nothing left for a key) or ``qber-above-tolerance``."""
        if not within_tolerance(self.errors, self.sample_size, qber_tolerance) or (
            self.key_length < 1
        ):
            return "key-too-short" if self.key_length < 1 else "qber-above-tolerance"
        return "ok"

    def code(self) -> LdpcCode | None:
        """The LDPC code for this sample (``None``: no code suits its QBER bound)."""
        q = min(reconciliation_qber(self.errors, self.sample_size), 0.5)
        try:
            return select_code(max(q, 1e-4))
        except InputError:
            return None

    def design_qber(self) -> float:
        return max(min(reconciliation_qber(self.errors, self.sample_size), 0.5), 1e-4)


def estimate(own: Bits, sample: npt.NDArray[np.int64], their_values: Bits) -> Estimate:
    """Compare own sample values with the other end's announced ones."""
    theirs = np.asarray(their_values)
    if theirs.shape != sample.shape or theirs.dtype != np.uint8:
        raise InputError(f"announced sample values must be {sample.size} uint8 bits")
    errors = int(np.count_nonzero(own[sample] != theirs))
    return Estimate(errors, int(sample.size), int(own.size))


def key_string(outcomes: Bits, sample: npt.NDArray[np.int64]) -> Bits:
    """The sifted outcomes outside the estimation sample, in order."""
    in_key = np.ones(outcomes.size, bool)
    in_key[sample] = False
    out: Bits = outcomes.take(np.flatnonzero(in_key))
    return out


def _padded(bits: Bits, code: LdpcCode) -> Bits:
    blocks = -(-bits.size // code.n)
    out = np.zeros((blocks, code.n), np.uint8)
    out.reshape(-1)[: bits.size] = bits
    return out


def alice_syndromes(raw: Bits, code: LdpcCode) -> tuple[Bits, Bits]:
    """Alice's reconciliation message: syndrome and CRC-32 of every block of her string."""
    a = _padded(raw, code)
    return code.tanner_graph.syndrome(a), crc32_bits(a)


@dataclass(frozen=True)
class BobDecoded:
    """Bob's reconciliation result: his corrected string, which bits both keep, the blocks'
    flags he announces, and the figures of the exchange."""

    corrected: Bits
    kept: npt.NDArray[np.bool_]
    block_flags: npt.NDArray[np.bool_]
    leaked_bits: int
    sent_bits: int


def bob_decode(
    raw: Bits, syndromes: Bits, crcs: Bits, code: LdpcCode, *, qber: float, eps_cor: float
) -> BobDecoded:
    """Decode Alice's syndromes against Bob's string (as :func:`ldpc_reconcile` does)."""
    n = raw.size
    b = _padded(raw, code)
    graph = code.tanner_graph
    blocks = b.shape[0]
    syn_alice = np.asarray(syndromes)
    if syn_alice.shape != (blocks, code.n - code.k) or syn_alice.dtype != np.uint8:
        raise InputError(f"syndromes must be {blocks} x {code.n - code.k} bits")
    crc_alice = np.asarray(crcs)
    if crc_alice.shape != (blocks, CRC_BITS) or crc_alice.dtype != np.uint8:
        raise InputError(f"CRCs must be {blocks} x {CRC_BITS} bits")
    syn = syn_alice ^ graph.syndrome(b)
    errors, flags = decode_verified(
        graph, syn, crc_check(b, crc_alice), bit_error_rate=qber, threads=1
    )
    fixed = (b ^ errors).reshape(-1)[:n]
    kept = np.repeat(flags, code.n)[:n]
    leaked = blocks * (code.n - code.k + CRC_BITS) + verification_hash_bits(eps_cor)
    return BobDecoded(fixed, kept, flags, leaked, leaked + blocks)


def kept_mask(flags: npt.ArrayLike, code: LdpcCode, n: int) -> npt.NDArray[np.bool_]:
    """Per key bit: True in the blocks Bob kept."""
    f = np.asarray(flags)
    if f.shape != (-(-n // code.n),) or f.dtype != np.bool_:
        raise InputError(f"block flags must be {-(-n // code.n)} booleans")
    out: npt.NDArray[np.bool_] = np.repeat(f, code.n)[:n]
    return out


def amplify(
    channel: QkdOtpChannel, kept: Bits, *, leaked_bits: int, sample_size: int,
    qber_tolerance: float, ends_rng: np.random.Generator,
) -> tuple[Bits, int]:  # fmt: skip
    """Privacy amplification of a verified kept string: ``(key, seed bits sent)``; an empty
    key (and no seed drawn) when the finite-key length is 0. ``qber_tolerance``: the block's
    ``Q_tol`` (its half's)."""
    keys, bits = amplify_many(
        channel, [kept], leaked_bits=leaked_bits, sample_size=sample_size,
        qber_tolerance=qber_tolerance, ends_rng=ends_rng,
    )  # fmt: skip
    return keys[0], bits


def amplify_many(
    channel: QkdOtpChannel, strings: list[Bits], *, leaked_bits: int, sample_size: int,
    qber_tolerance: float, ends_rng: np.random.Generator,
) -> tuple[list[Bits], int]:  # fmt: skip
    """:func:`amplify` of ``strings[0]`` (the kept string, which sets the key length) and of
    equally long strings beside it under the same seed (the simulated eavesdropper's guess
    of it, as :meth:`QkdOtpChannel._block` hashes it): ``(keys, seed bits sent)``."""
    s = channel.settings
    kept = strings[0]
    ell = finite_key_length(
        n_key=int(kept.size), n_sample=sample_size, qber_tolerance=qber_tolerance,
        leak_ec=leaked_bits, eps_sec=s.eps_sec, eps_cor=s.eps_cor,
    )  # fmt: skip
    if ell == 0:
        return [np.zeros(0, np.uint8) for _ in strings], 0
    seed = privacy_amplification_seed(s.privacy_amplification, int(kept.size), ell, rng=ends_rng)
    return privacy_amplify(strings, seed, ell), seed_bits(seed)
