r"""BBM92 post-processing: sifting, parameter estimation, error correction, privacy amplification.

Pure classical maths on the two ends' measurement outcomes; :mod:`qtfl.channel.qkd` runs it
over a link. Steps and the formulas each implements:

1. **Sifting** — both ends measure each pair in an independent random X/Z basis and keep the
   pairs whose bases agree (about half).
2. **Parameter estimation** — ``k`` random sifted positions are revealed and compared; their
   error fraction is the QBER estimate ``Q``. A key needs ``Q < 11%`` (Shor–Preskill).
3. **Error correction** — :func:`ldpc_reconcile` (the default): one-way syndrome
   reconciliation as deployed QKD systems do it. Alice sends the syndrome ``H x_A`` of each
   4000-bit block under an IRA LDPC code of :mod:`qtfl.channel.fec` chosen from the QBER
   estimate with a safety margin (its Clopper–Pearson upper bound, :func:`reconciliation_qber`);
   Bob decodes ``e`` with ``H e = H x_A ⊕ H x_B`` (:mod:`qtfl.channel.ldpc_decoder`) and
   flips ``x_B ⊕ e``; Alice's CRC-32 of each block, sent with its syndrome, tells him when
   the decoder met the syndrome with the wrong word. Blocks he cannot solve are
   **discarded** at both ends (Bob announces their indices; what was sent about them still
   counts as leaked); then Alice sends a ``t = ⌈log2(1/ε_cor)⌉``-bit verification hash of
   the kept key. ``leak_EC`` = every syndrome and CRC bit sent + ``t``. Or
   :func:`reconcile` (:mod:`qtfl.security.cascade`), an interactive parity protocol in the style of
   BINARY/Cascade (Brassard & Salvail 1993) without backtracking, fully vectorised: in pass
   ``i`` the key is shuffled by a public permutation and cut into blocks of ``k_i`` bits
   (``k_1 = ⌈0.73/Q⌉``, doubling each pass up to ``n/4`` so that errors hiding in pairs
   are split by later shuffles); Alice reveals each block's parity; in every block
   whose parities differ a binary search (one revealed parity per halving) finds and fixes one
   error. From pass 4 on Alice sends a ``t = ⌈log2(1/ε_cor)⌉``-bit verification hash and they
   stop when it matches. Every revealed parity and hash bit is counted as ``leak_EC``. (The
   hash is the first ``t`` bits of SHA-256: equal hashes of unequal strings happen with
   probability about ``2^-t``, which ``ε_cor`` accounts for.)
4. **Privacy amplification** — :mod:`qtfl.security.privacy_amplification`: the strongly
   universal multiply-add-shift family (Dietzfelbinger 1996; one GMP multiplication, the
   default) or a random binary Toeplitz matrix (one FFT convolution); both are two-universal
   (collision probability ``2^-l``), which is all step 5's bound asks of the hash.
5. **Key length** — :func:`finite_key_length`, Tomamichel, Lim, Gisin & Renner, Nat. Commun.
   3, 634 (2012), Eq. (2) with ``q = 1`` (ideal X/Z measurements):

   .. math::
       \ell = \Big\lfloor n\,[1 - h(Q_{tol} + \mu)] - \mathrm{leak}_{EC}
              - \log_2\frac{2}{\varepsilon_{sec}^2\,\varepsilon_{cor}} \Big\rfloor,\qquad
       \mu = \sqrt{\frac{n+k}{nk}\,\frac{k+1}{k}\,\ln\frac{4}{\varepsilon_{sec}}}

   with ``n`` sifted key bits, ``k`` sample bits and ``Q_tol`` the tolerated QBER fixed
   before the run: the protocol aborts when the sample's error fraction exceeds ``Q_tol``
   (the theorem's condition), and otherwise the key length depends on ``Q_tol``, not on the
   measured value. ``Q_tol`` per block: :func:`robust_qber_tolerance` (an honest link aborts
   with probability at most ``ε_rob``), or a fixed value given. The key uses both sifted
   bases and one pooled estimate (symmetric protocol, Lo, Chau & Ardehali, J. Cryptol. 18,
   133 (2005)).

References: Bennett, Brassard & Mermin, PRL 68, 557 (1992); Shor & Preskill, PRL 85, 441
(2000); Carter & Wegman, JCSS 18, 143 (1979); Krawczyk, CRYPTO '94 (Toeplitz hashing).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.special import betaincinv

from qtfl.errors import InputError, require_int, require_range
from qtfl.security.cascade import MAX_PASSES as MAX_PASSES  # re-exported
from qtfl.security.cascade import cascade_in_process
from qtfl.security.leakage import binary_entropy
from qtfl.security.privacy_amplification import (  # re-exported
    SPARSE_HASH_ONES as SPARSE_HASH_ONES,
)
from qtfl.security.privacy_amplification import toeplitz_hash as toeplitz_hash
from qtfl.security.privacy_amplification import toeplitz_hash_many as toeplitz_hash_many
from qtfl.security.privacy_amplification import toeplitz_seed as toeplitz_seed

Bits = npt.NDArray[np.uint8]

#: Shor–Preskill: no secret key from one-way post-processing above this QBER.
SHOR_PRESKILL_QBER: Final = 0.110028


def statistical_margin(n_key: int, n_sample: int, eps_sec: float) -> float:
    r""":math:`\mu = \sqrt{\frac{n+k}{nk}\frac{k+1}{k}\ln(4/\varepsilon_{sec})}` (Tomamichel
    et al. 2012, Eq. 2)."""
    n = require_int("n_key", n_key, low=1)
    k = require_int("n_sample", n_sample, low=1)
    e = require_range("eps_sec", eps_sec, low=0.0, high=1.0, low_open=True, high_open=True)
    return math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(4.0 / e))


def finite_key_length(
    *,
    n_key: int,
    n_sample: int,
    qber_tolerance: float,
    leak_ec: float,
    eps_sec: float,
    eps_cor: float,
) -> int:
    """Secret key bits extractable from ``n_key`` sifted bits (module docstring, step 5).

    ``qber_tolerance`` is ``Q_tol``, fixed before the run; the caller aborts instead when
    the sample QBER exceeds it (:func:`within_tolerance`).
    """
    q = require_range("qber_tolerance", qber_tolerance, low=0.0, high=0.5)
    ec = require_range("eps_cor", eps_cor, low=0.0, high=1.0, low_open=True, high_open=True)
    mu = statistical_margin(n_key, n_sample, eps_sec)
    if q + mu >= 0.5:
        return 0
    raw = (
        n_key * (1.0 - float(binary_entropy(q + mu))) - leak_ec - math.log2(2.0 / (eps_sec**2 * ec))
    )
    return max(0, math.floor(raw))


def relative_entropy(q: float, p: float) -> float:
    r"""Binary relative entropy :math:`D(q\|p) = q\ln\frac{q}{p} + (1-q)\ln\frac{1-q}{1-p}` in
    nats, for ``0 < p < 1`` and ``0 <= q <= 1``."""
    d = 0.0 if q <= 0.0 else q * math.log(q / p)
    return d + (0.0 if q >= 1.0 else (1.0 - q) * math.log((1.0 - q) / (1.0 - p)))


@functools.lru_cache(maxsize=256)  # pure; block sizing asks it for the same sizes per update
def robust_qber_tolerance(
    *, expected_qber: float, n_pairs: int, sample_fraction: float, eps_rob: float
) -> float:
    r"""``Q_tol`` for a block of ``n_pairs`` pairs such that an honest link aborts it with
    probability at most ``eps_rob``; a function of public, planned figures only, so it is
    fixed before the block's pairs are measured, as step 5's theorem requires.

    Robustness: Tomamichel et al. 2012 prove the bound for any ``Q_tol`` fixed in advance;
    how often an honest run then aborts is a design choice, here the input ``eps_rob``. With
    QBER ``Q`` = ``expected_qber``, an honest block aborts only if

    * its sifted count ``m ~ Bin(N, 1/2)`` falls below
      :math:`m_{low} = N/2 - \sqrt{N \ln(2/\varepsilon_{rob})/2}` (Hoeffding: probability
      :math:`\le \varepsilon_{rob}/2`), otherwise the sample has
      :math:`k \ge k_{low} = \lceil f\, m_{low}\rceil` bits (``f`` = ``sample_fraction``); or
    * its sample's error fraction exceeds ``Q_tol``: by the Chernoff–Hoeffding bound
      :math:`P[E/k \ge Q_{tol}] \le e^{-k D(Q_{tol}\|Q)} \le e^{-k_{low} D(Q_{tol}\|Q)}`,
      and ``Q_tol`` solves :math:`k_{low}\, D(Q_{tol}\|Q) = \ln(2/\varepsilon_{rob})`
      (bisection), so this is :math:`\le \varepsilon_{rob}/2` too.

    ``Q_tol`` ≈ :math:`Q + \sqrt{2 Q(1-Q)\ln(2/\varepsilon_{rob})/k_{low}}`: about
    ``Q + 0.0018`` for the 0.5M-bit sample of a paper-size update at ``Q`` = 3.3%, against
    the ``Q + 0.02`` fixed margin used before, which cost about a fifth of the key there. It
    is capped at the Shor–Preskill 11% (a block too small for ``eps_rob`` below that limit
    is then less robust; its key is about nothing anyway). ``Q = 0``: an honest pair never
    errs, and ``Q_tol = 0`` (any error aborts) never aborts it.
    """
    q = require_range("expected_qber", expected_qber, low=0.0, high=SHOR_PRESKILL_QBER)
    n = require_int("n_pairs", n_pairs, low=1)
    f = require_range("sample_fraction", sample_fraction, low=0.0, high=1.0, low_open=True)
    e = require_range("eps_rob", eps_rob, low=0.0, high=1.0, low_open=True, high_open=True)
    if q == 0.0:
        return 0.0
    budget = math.log(2.0 / e)
    m_low = n / 2.0 - math.sqrt(n * budget / 2.0)
    k_low = math.ceil(f * m_low) if m_low > 0 else 0
    if k_low < 1 or k_low * relative_entropy(SHOR_PRESKILL_QBER, q) <= budget:
        return SHOR_PRESKILL_QBER
    lo, hi = q, SHOR_PRESKILL_QBER  # D(lo) = 0 < budget/k_low < D(hi); D rises on [q, 1]
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if k_low * relative_entropy(mid, q) < budget else (lo, mid)
    return hi


def within_tolerance(errors: int, sample_size: int, qber_tolerance: float) -> bool:
    """The theorem's acceptance test: sample error fraction ``errors/k <= Q_tol``."""
    k = require_int("sample_size", sample_size, low=1)
    e = require_int("errors", errors, low=0, high=k)
    return e <= qber_tolerance * k


def reconciliation_qber(errors: int, sample_size: int, *, confidence: float = 0.999) -> float:
    r"""The QBER to size reconciliation blocks by: the Clopper–Pearson upper bound.

    Cascade's first block size is :math:`0.73/Q`. Sizing it by the point estimate fails when
    the sample happens to see few errors (0 errors in the sample gives :math:`Q = 0` and one
    block spanning the whole string, and even error counts then hide); the one-sided upper
    bound :math:`\sup\{q : P[\mathrm{Bin}(k, q) \le e] \ge 1 - c\}` at confidence ``c``
    overestimates ``Q`` with probability at least ``c``, which only costs a few more parities.
    """
    k = require_int("sample_size", sample_size, low=1)
    e = require_int("errors", errors, low=0, high=k)
    c = require_range("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    if e == k:
        return 1.0
    return float(betaincinv(e + 1, k - e, c))  # the Beta(e + 1, k - e) quantile at c


def verification_hash_bits(eps_cor: float) -> int:
    """Bits of the reconciliation check hash: ``⌈log2(1/ε_cor)⌉``."""
    e = require_range("eps_cor", eps_cor, low=0.0, high=1.0, low_open=True, high_open=True)
    return math.ceil(math.log2(1.0 / e))


@dataclass(frozen=True)
class Reconciliation:
    """Outcome of :func:`reconcile` or :func:`ldpc_reconcile`: Bob's corrected string and
    what it disclosed.

    ``rounds`` counts the request/answer exchanges (one per parity layer for Cascade; one
    for LDPC: syndromes out, discarded blocks and hash check back), for latency.
    ``kept`` marks the key bits both ends keep (``None``: all; LDPC drops blocks its
    decoder could not solve). ``classical_bits`` counts every bit sent either way.
    """

    corrected: Bits
    leaked_bits: int
    passes: int
    rounds: int
    success: bool
    kept: npt.NDArray[np.bool_] | None = None
    classical_bits: int = -1
    code: str = "cascade"

    @property
    def sent_bits(self) -> int:
        """Classical bits of the exchange (Cascade: both ends announce every parity)."""
        return self.classical_bits if self.classical_bits >= 0 else 2 * self.leaked_bits


def crc_check(
    blocks: Bits, crcs: Bits
) -> Callable[[npt.NDArray[np.intp], Bits], npt.NDArray[np.bool_]]:
    """The reconciliation check for :func:`~qtfl.channel.ldpc_decoder.decode_verified`:
    Bob's ``blocks`` rows corrected by an error pattern must have Alice's CRC-32 ``crcs``."""
    from qtfl.channel.crc import crc32_bits

    def holds(rows: npt.NDArray[np.intp], errors: Bits) -> npt.NDArray[np.bool_]:
        ok: npt.NDArray[np.bool_] = (crc32_bits(blocks[rows] ^ errors) == crcs[rows]).all(axis=1)
        return ok

    return holds


def ldpc_reconcile(
    alice: Bits, bob: Bits, *, qber: float, eps_cor: float, threads: int = 1
) -> Reconciliation:
    """Syndrome-based LDPC reconciliation of ``bob`` towards ``alice`` (module doc, step 3).

    ``qber`` is the design error rate (pass the Clopper–Pearson upper bound of the sample
    estimate, :func:`reconciliation_qber`); the highest-rate code of
    :data:`qtfl.channel.fec.FEC_CODES` calibrated for it is used. The key is cut into blocks
    of ``n`` = 4000 bits, the last one padded with zeros at both ends (known, so they carry
    no error). With each syndrome Alice sends her block's CRC-32, so that Bob can tell a
    block the decoder solved into the wrong word (it meets the syndrome but not the CRC):
    such blocks go to the sum-product fallback, and blocks still unsolved are discarded.
    ``leaked_bits`` = (syndrome + 32 CRC bits) per block + the verification hash;
    ``success`` is False when no code suits ``qber``, no block decodes, or the kept strings
    differ (the hash comparison, modelled by comparing them; ``ε_cor`` bounds a miss).
    """
    from qtfl.channel.crc import CRC_BITS, crc32_bits
    from qtfl.channel.fec import select_code
    from qtfl.channel.ldpc_decoder import decode_verified

    n = alice.size
    if bob.size != n or n == 0:
        raise InputError(f"alice and bob must be equal non-empty strings, got {n} and {bob.size}")
    t = verification_hash_bits(eps_cor)
    q = require_range("qber", qber, low=0.0, high=0.5)
    try:
        code = select_code(max(q, 1e-4))
    except InputError:
        return Reconciliation(bob.copy(), 0, 0, 0, False, np.zeros(n, bool), 0, "none")
    blocks = -(-n // code.n)
    a = np.zeros((blocks, code.n), np.uint8)  # zero padding at both ends: no errors there
    b = np.zeros_like(a)
    a.reshape(-1)[:n], b.reshape(-1)[:n] = alice, bob
    graph = code.tanner_graph
    crc_alice = crc32_bits(a)  # sent with her syndrome H a
    syn = graph.syndrome(a ^ b)  # = H a ⊕ H b, Bob's syndrome of the error (one pass, linear)
    errors, flags = decode_verified(
        graph, syn, crc_check(b, crc_alice), bit_error_rate=max(q, 1e-4), threads=threads
    )
    fixed_blocks = b ^ errors
    fixed = fixed_blocks.reshape(-1)[:n]
    kept = np.repeat(flags, code.n)[:n]
    leaked = blocks * (code.n - code.k + CRC_BITS) + t
    sent = leaked + blocks  # + Bob's one flag per block (which he discards)
    if flags.all():  # the usual case: no masked copies of the whole key
        ok = np.array_equal(fixed, alice)
    else:
        ok = bool(kept.any()) and np.array_equal(fixed[kept], alice[kept])
    return Reconciliation(fixed, leaked, 1, 1, ok, kept, sent, code.name)


def reconcile(
    alice: Bits, bob: Bits, *, qber: float, eps_cor: float, rng: np.random.Generator
) -> Reconciliation:
    """Correct ``bob`` towards ``alice`` by public parity exchange (module docstring, step 3).

    Both ends of :mod:`qtfl.security.cascade` in one process: Bob's queries answered from
    Alice's string, the public permutations drawn from ``rng`` (one per pass from pass 1
    on). The same ends run split on Flower (:mod:`qtfl.flower.cascade_ends`). Vectorised
    over blocks; the loops are over passes and binary-search depth (both logarithmic in
    ``n``); each pass costs one permutation and one prefix sum of the string per end.
    """
    n = alice.size
    if bob.size != n or n == 0:
        raise InputError(f"alice and bob must be equal non-empty strings, got {n} and {bob.size}")
    t = verification_hash_bits(eps_cor)
    end = cascade_in_process(alice, bob, qber=qber, hash_bits=t, rng=rng)
    return Reconciliation(end.corrected, end.leaked_bits, end.passes, end.rounds, end.success)


def one_time_pad(bits: Bits, key: Bits) -> Bits:
    """XOR ``bits`` with the first ``len(bits)`` key bits (the key must be long enough)."""
    if key.size < bits.size:
        raise InputError(f"one-time pad needs {bits.size} key bits, got {key.size}")
    out: Bits = bits ^ key[: bits.size]
    return out
