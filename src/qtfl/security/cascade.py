r"""Cascade-style reconciliation as two ends that exchange parities (Bob asks, Alice answers).

The protocol of :func:`qtfl.security.qkd.reconcile` — BINARY/Cascade in the style of
Brassard & Salvail (1993) without backtracking — written as the message exchange the two
parties run, so that the same code serves one process and two (Flower):

* pass ``i`` orders the key by a public permutation (the identity in pass 0, then one
  :meth:`numpy.random.Generator.permutation` per pass from the generator both ends share)
  and cuts it into blocks of ``k_i`` bits (``k_0 = max(4, ⌈0.73/Q⌉)``, doubling each pass up
  to ``max(8, n/4)``);
* Bob asks Alice for the parity of every block (one :class:`ParityQuery`); in every block
  whose parity differs from his own he runs a binary search, one query per level across all
  such blocks at once (the parity of the left half of every still-open range), and flips the
  bit each search isolates;
* from pass 3 on Bob compares a ``t = ⌈log2(1/ε_cor)⌉``-bit verification hash of his string
  with Alice's (she sends it once, with her answer to pass 3's block query; her string never
  changes) and they stop when it matches; after :data:`MAX_PASSES` passes they give up.

Every parity Alice reveals counts one leaked bit, every pass from 3 on the ``t`` hash bits
(``leak_EC``); both ends announce each parity, so the exchange sends ``2·leak_EC`` bits.
``rounds`` counts the queries (request/answer round trips): one per pass plus one per
binary-search level. The hash is the first ``t`` bits of SHA-256 of the string (a collision
has probability ``2^-t``, at most ``ε_cor``).

References: Brassard & Salvail, EUROCRYPT '93, LNCS 765, 410 (1994); Martinez-Mateo, Pacher,
Peev, Ciurana & Martin, Quantum Inf. Comput. 15, 453 (2015) (Cascade parameters).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_int

Bits = npt.NDArray[np.uint8]
Positions = npt.NDArray[np.int64]

#: Passes after which reconciliation gives up (each pass doubles the block size).
MAX_PASSES: Final = 24
#: First pass from which the verification hash is compared.
HASH_FROM_PASS: Final = 3


def first_block_size(qber: float) -> int:
    """``k_0 = max(4, ⌈0.73/Q⌉)`` (``Q`` floored at 1e-4)."""
    return max(4, math.ceil(0.73 / max(qber, 1e-4)))


def next_block_size(block: int, n: int) -> int:
    """Double, up to ``max(8, n // 4)`` (at least four blocks split even error counts)."""
    return min(2 * block, max(8, n // 4))


def pass_order(pass_index: int, n: int, rng: np.random.Generator) -> Positions | None:
    """Pass ``pass_index``'s public order of the ``n`` key bits: ``None`` (identity) in pass 0,
    else a fresh uniform permutation from ``rng`` (drawn once per pass, in pass order)."""
    return None if pass_index == 0 else rng.permutation(n).astype(np.int64)


def prefix_parities(bits: Bits, order: Positions | None) -> npt.NDArray[np.int64]:
    """Prefix sums of the string in the pass's order (``[0, b_0, b_0 + b_1, ...]``)."""
    seq = bits if order is None else bits[order]
    out = np.zeros(seq.size + 1, np.int64)
    np.cumsum(seq, dtype=np.int64, out=out[1:])
    return out


def range_parities(prefix: npt.NDArray[np.int64], lo: Positions, hi: Positions) -> Bits:
    """Parity of positions ``[lo, hi)`` (in the pass's order) for every range."""
    out: Bits = ((prefix[hi] - prefix[lo]) & 1).astype(np.uint8)
    return out


def verification_hash(bits: Bits, t: int) -> Bits:
    """The first ``t`` bits of SHA-256 of the 0/1 string (its length included)."""
    digest = hashlib.sha256(bits.size.to_bytes(8, "little") + np.packbits(bits).tobytes())
    return np.unpackbits(np.frombuffer(digest.digest(), np.uint8))[: min(t, 256)]


@dataclass(frozen=True)
class ParityQuery:
    """Bob's request: Alice's parities of ``[lo, hi)`` in pass ``pass_index``'s order, and
    her verification hash when ``want_hash``."""

    pass_index: int
    lo: Positions
    hi: Positions
    want_hash: bool


def check_query(query: ParityQuery, n: int) -> None:
    """A query Alice can answer: ranges inside ``[0, n)``, at most ``n`` of them."""
    lo, hi = np.asarray(query.lo), np.asarray(query.hi)
    if lo.dtype != np.int64 or hi.dtype != np.int64 or lo.ndim != 1 or lo.shape != hi.shape:
        raise InputError("parity ranges must be two int64 arrays of equal length")
    if lo.size > n or np.any(lo < 0) or np.any(hi > n) or np.any(lo >= hi):
        raise InputError(f"parity ranges must be at most {n} non-empty ranges inside [0, {n})")
    require_int("pass_index", query.pass_index, low=0, high=MAX_PASSES - 1)


class CascadeAlice:
    """Alice's end: answers parity queries from her string (it never changes)."""

    def __init__(self, bits: Bits, *, hash_bits: int) -> None:
        self.bits = bits
        self.hash_bits = hash_bits
        self._prefix: tuple[int, npt.NDArray[np.int64]] | None = None

    def answer(self, query: ParityQuery, order: Positions | None) -> tuple[Bits, Bits | None]:
        """Her parities of the query's ranges (and her hash if asked), in ``order``."""
        check_query(query, self.bits.size)
        if self._prefix is None or self._prefix[0] != query.pass_index:
            self._prefix = (query.pass_index, prefix_parities(self.bits, order))
        parities = range_parities(self._prefix[1], query.lo, query.hi)
        digest = verification_hash(self.bits, self.hash_bits) if query.want_hash else None
        return parities, digest


class CascadeBob:
    """Bob's end: asks parities, searches the blocks whose parities differ, flips, verifies.

    ``rng`` is the generator both ends share (public permutations); it is drawn from once per
    pass from pass 1 on, in pass order. Use :attr:`query` and :meth:`take` until
    :attr:`finished`; then :attr:`success`, :attr:`corrected`, :attr:`leaked_bits`,
    :attr:`passes` and :attr:`rounds` hold the outcome.
    """

    def __init__(
        self, bits: Bits, *, qber: float, hash_bits: int, rng: np.random.Generator
    ) -> None:
        self.n = require_int("n", int(bits.size), low=1)
        self.corrected: Bits = bits.copy()
        self.hash_bits = require_int("hash_bits", hash_bits, low=1)
        self.rng = rng
        self.block = first_block_size(qber)
        self.pass_index = 0
        self.leaked_bits = 0
        self.rounds = 0
        self.passes = 0
        self.finished = False
        self.success = False
        self.alice_hash: Bits | None = None
        self.order: Positions | None = None
        self.query: ParityQuery | None = None
        self._lo = self._hi = self._mid = np.zeros(0, np.int64)
        self._active = np.zeros(0, bool)
        self._searching = False
        self._start_pass()

    def _start_pass(self) -> None:
        n, p = self.n, self.pass_index
        self.order = pass_order(p, n, self.rng)
        self._prefix = prefix_parities(self.corrected, self.order)
        size = min(self.block, n)
        lo = np.arange(-(-n // size), dtype=np.int64) * size
        hi = np.minimum(lo + size, n)
        self.query = ParityQuery(p, lo, hi, want_hash=p == HASH_FROM_PASS)
        self._searching = False

    def take(self, parities: npt.ArrayLike, alice_hash: npt.ArrayLike | None = None) -> None:
        """Alice's answer to :attr:`query`: her parities (0/1, one per range) and her hash."""
        q = self.query
        if q is None:
            raise InputError("reconciliation has finished: no query is open")
        theirs = np.asarray(parities)
        if theirs.shape != q.lo.shape or theirs.dtype != np.uint8 or np.any(theirs > 1):
            raise InputError(f"expected {q.lo.size} parity bits")
        if q.want_hash:
            digest = np.asarray(alice_hash)
            if digest.shape != (self.hash_bits,) or digest.dtype != np.uint8:
                raise InputError(f"expected a {self.hash_bits}-bit verification hash")
            self.alice_hash = digest
        odd = (range_parities(self._prefix, q.lo, q.hi) ^ theirs).astype(bool)
        self.leaked_bits += int(q.lo.size)
        self.rounds += 1
        if not self._searching:  # block parities: search the blocks that differ
            lo, hi = q.lo[odd], q.hi[odd]
        else:  # one level: keep the half whose parities differ
            lo, hi = self._lo.copy(), self._hi.copy()
            mid = self._mid[self._active]
            hi[self._active] = np.where(odd, mid, hi[self._active])
            lo[self._active] = np.where(odd, lo[self._active], mid)
        self._lo, self._hi = lo, hi
        active = hi - lo > 1
        if active.any():
            self._active, self._mid = active, (lo + hi) // 2
            self.query = ParityQuery(q.pass_index, lo[active], self._mid[active], False)
            self._searching = True
            return
        self._end_pass()

    def _end_pass(self) -> None:
        lo = self._lo
        self.corrected[lo if self.order is None else self.order[lo]] ^= 1  # isolated errors
        self.block = next_block_size(self.block, self.n)
        p = self.pass_index
        if p >= HASH_FROM_PASS:
            self.leaked_bits += self.hash_bits
            assert self.alice_hash is not None
            own = verification_hash(self.corrected, self.hash_bits)
            if np.array_equal(own, self.alice_hash):
                self._finish(success=True, passes=p + 1)
                return
        if p + 1 >= MAX_PASSES:
            self._finish(success=False, passes=MAX_PASSES)
            return
        self.pass_index = p + 1
        self._start_pass()

    def _finish(self, *, success: bool, passes: int) -> None:
        self.finished, self.success, self.passes, self.query = True, success, passes, None


def cascade_in_process(
    alice: Bits, bob: Bits, *, qber: float, hash_bits: int, rng: np.random.Generator
) -> CascadeBob:
    """Run both ends in one process (the exchange as it would cross a wire)."""
    b = CascadeBob(bob, qber=qber, hash_bits=hash_bits, rng=rng)
    a = CascadeAlice(alice, hash_bits=hash_bits)
    while b.query is not None:
        parities, digest = a.answer(b.query, b.order)
        b.take(parities, digest)
    return b
