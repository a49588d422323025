r"""Lane-batched syndrome decoding of binary LDPC codes: layered min-sum, sum-product fallback.

Given a sparse parity-check matrix ``H`` (``m x n``), syndromes ``s`` (one row per block) and
the bit flip probability ``p`` of a binary symmetric channel, :func:`decode_syndromes` finds
for each block an error pattern ``e`` with ``H e = s`` (mod 2), the most likely one as far as
belief propagation can tell. FEC (:mod:`qtfl.channel.fec`: ``s = H r`` of the received word)
and QKD reconciliation (:mod:`qtfl.channel.qkd`: ``s`` = Alice's syndrome XOR Bob's) use it
alike.

Algorithm. Every bit starts with the log-likelihood ratio :math:`L = \ln\frac{1-p}{p}`.
Checks are processed one row (layer) at a time (the layered or "turbo-decoding message
passing" schedule, Mansour & Shanbhag, IEEE T-VLSI 11:976, 2003; Hocevar, SiPS 2004), which
converges in about half the iterations of the flooding schedule. For row ``r`` with bits
``N(r)``, extrinsic inputs :math:`t_v = L_v - R_{rv}` give the new check message

.. math::
    R_{rv} = (-1)^{s_r} \prod_{u \in N(r) \setminus v} \operatorname{sgn} t_u \cdot
    \alpha \min_{u \in N(r) \setminus v} |t_u|

(normalised min-sum, Chen & Fossorier, IEEE T-Comm 50:406, 2002, ``alpha = 0.875``) and
the posterior :math:`L_v = t_v + R_{rv}`. After every full iteration a block whose hard
decision :math:`e_v = [L_v < 0]` meets its syndrome stops (its lane is frozen and refilled
with the next block). Blocks min-sum leaves unsolved within ``max_iter`` iterations
(or whose caller rejects the result, e.g. by CRC) are decoded again with layered
sum-product (at most :data:`SUM_PRODUCT_MAX_ITER` iterations), whose check update is
:math:`R_{rv} = (-1)^{s_r}\, 2\,\operatorname{artanh} \prod_{u \ne v} \tanh(t_u/2)` in
double precision (the product over the others from prefix and suffix products); the rare
block that stalls there too (a trapping set of the layered schedule) is decoded once more
with the flooding schedule the ``ldpc`` package uses (all checks, then all bits). On the
codes of :mod:`qtfl.channel.fec` this corrects every block the ``ldpc`` package's flooding
sum-product corrects, in the tests (tests/channel/test_ldpc_decoder.py compares them block by
block at three fidelities, each code's calibrated limit, and ldpc-9/10 at its limit, where a
block the layered schedules could not solve showed the need for the flooding pass).

Bit flipping. :func:`flip_decode` is a cheap first pass for blocks with few errors (greedy
bit flipping, microseconds per block): FEC (:func:`qtfl.channel.fec.decode_blocks`) keeps its
result only where the block's CRC-32 holds and sends every other block to
:func:`decode_syndromes`, so a block is lost only if belief propagation loses it too (or
a wrong pattern passes CRC-32, probability 2^-32, as for belief propagation).

Vectorisation. One block per SIMD lane (64 lanes): min-sum messages are stored as
``(edges, lanes)`` and posteriors as ``(n, lanes)``, so each row update is a loop over lanes
that LLVM turns into vector instructions, the way stim packs 64+ shots into one word. A
block's result depends only on its own syndrome (there is no arithmetic across lanes), so it
is the same whichever lane, batch or thread decodes it: ``threads > 1`` splits the blocks
into contiguous chunks decoded concurrently (the kernels release the GIL) and returns
bit-identical results. Loading a block into a lane does not zero its check messages (one
strided store per edge): the lane's first sweep reads zeros in their place. Once no block
is left to load and at most ``TAIL_LANES`` (8) lanes are still decoding, those lanes move
to 8-wide arrays and finish there, so a block min-sum cannot solve no longer keeps 64
lanes sweeping for ``max_iter`` iterations; a batch of at most ``NARROW_BATCH`` (24) blocks
(e.g. what bit flipping left) runs 8 wide from the start. None of this changes any block's
arithmetic (tests compare each block decoded alone and in a batch).

Compilation. The kernels are compiled by numba on first use and cached on disk
(``cache=True``, next to this file or in ``NUMBA_CACHE_DIR``); the first call in a fresh
environment compiles (25 s measured on a loaded 2-core machine, 2 s to load from the cache;
``docs/guide/fec-and-reconciliation.md``),
later processes load the cache.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from qtfl.errors import InputError, require_int, require_range

#: Iteration cap of the layered sum-product fallback (the reference's cap, 60 flooding
#: iterations; layered needs about half as many: fallback blocks that converged used <= 34).
SUM_PRODUCT_MAX_ITER: Final = 60


@dataclass(frozen=True)
class TannerGraph:
    """Row-wise edge lists of a parity-check matrix (CSR without values).

    ``row_ptr[r]:row_ptr[r+1]`` index the bits ``col_idx`` of check ``r``.
    """

    n: int
    m: int
    row_ptr: npt.NDArray[np.int64]
    col_idx: npt.NDArray[np.int64]

    @classmethod
    def from_matrix(cls, h: sp.spmatrix | npt.ArrayLike) -> TannerGraph:
        """The graph of a 0/1 matrix ``h`` (dense or scipy sparse)."""
        csr = sp.csr_matrix(h)
        csr.eliminate_zeros()
        csr.sort_indices()
        m, n = csr.shape
        return cls(
            n=int(n),
            m=int(m),
            row_ptr=csr.indptr.astype(np.int64),
            col_idx=csr.indices.astype(np.int64),
        )

    @property
    def edges(self) -> int:
        """Ones in ``H``."""
        return int(self.col_idx.size)

    @functools.cached_property
    def columns(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Column-wise edge lists ``(col_ptr, row_idx, edge)`` (CSC): the checks of bit ``v``
        are ``row_idx[col_ptr[v]:col_ptr[v+1]]``, ascending, and ``edge`` gives each one's
        index in the row-wise lists (``col_idx[edge[k]] == v``)."""
        order = np.argsort(self.col_idx, kind="stable")  # rows ascend within a column
        rows = np.repeat(np.arange(self.m, dtype=np.int64), np.diff(self.row_ptr))
        col_ptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(np.bincount(self.col_idx, minlength=self.n), out=col_ptr[1:])
        return col_ptr, rows[order], order.astype(np.int64)

    def syndrome(self, words: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """``H w mod 2`` for each row of ``words`` ``(B, n)`` -> ``(B, m)``."""
        w = np.asarray(words, dtype=np.uint8)
        if w.ndim != 2 or w.shape[1] != self.n:
            raise InputError(f"words must have shape (B, {self.n}), got {w.shape}")
        from qtfl.channel._ldpc_kernels import syndromes

        out = np.empty((w.shape[0], self.m), np.uint8)
        syndromes(self.row_ptr, self.col_idx, w, out)
        return out


@dataclass(frozen=True)
class SyndromeDecoding:
    """Result of :func:`decode_syndromes` for ``B`` blocks.

    Attributes:
        errors: ``(B, n)`` error patterns (the decoder's best guess where not converged).
        converged: ``(B,)`` True where ``H e = s`` holds.
        min_sum_iterations: ``(B,)`` layered min-sum iterations spent (0 for zero syndromes).
        sum_product_iterations: ``(B,)`` sum-product iterations, layered plus flooding (0
            unless re-decoded).
    """

    errors: npt.NDArray[np.uint8]
    converged: npt.NDArray[np.bool_]
    min_sum_iterations: npt.NDArray[np.int32]
    sum_product_iterations: npt.NDArray[np.int32]

    @property
    def redecoded(self) -> int:
        """Blocks that went to the sum-product fallback."""
        return int(np.count_nonzero(self.sum_product_iterations))


#: :func:`flip_decode` leaves blocks whose syndrome has more unsatisfied checks than this to
#: belief propagation (bit flipping rarely solves them and its cost grows with the weight).
FLIP_MAX_SYNDROME_WEIGHT: Final = 48


def flip_decode(
    graph: TannerGraph,
    syndromes: npt.NDArray[np.uint8],
    *,
    max_weight: int = FLIP_MAX_SYNDROME_WEIGHT,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Greedy bit flipping: error patterns ``(B, n)`` and a mask of blocks where ``H e = s``.

    For each block with a syndrome of weight ``1..max_weight``: repeatedly flip the bit that
    satisfies the most checks net (its unsatisfied checks minus its satisfied ones, > 0;
    ties to the lowest bit) until the syndrome is met or no flip gains: bit flipping
    (Gallager, *Low-Density Parity-Check Codes*, MIT Press, 1963) in its greedy form, one
    bit per step, the syndrome weight falling at every step. Work per flip is the bits of
    the unsatisfied checks only, so a block with a few errors costs microseconds, against
    milliseconds for a belief-propagation sweep of 64 lanes. The pattern it finds meets the
    syndrome but need not be the one belief propagation would pick: the caller must check
    it (FEC: the block's CRC-32,
    :func:`qtfl.channel.fec.decode_blocks`) and decode the rest with
    :func:`decode_syndromes`. Draws no randomness; a block's result depends on its own
    syndrome only.
    """
    s = np.ascontiguousarray(syndromes, dtype=np.uint8)
    if s.ndim != 2 or s.shape[1] != graph.m:
        raise InputError(f"syndromes must have shape (B, {graph.m}), got {s.shape}")
    limit = require_int("max_weight", max_weight, low=0)
    from qtfl.channel._ldpc_kernels import flip_decode as kernel

    col_ptr, row_idx, _ = graph.columns
    errors = np.zeros((s.shape[0], graph.n), np.uint8)
    ok = np.zeros(s.shape[0], np.bool_)
    kernel(graph.row_ptr, graph.col_idx, col_ptr, row_idx, s, limit, errors, ok)
    return errors, ok


def warm_up() -> float:
    """Compile the kernels, or load them from numba's on-disk cache; return the seconds spent.

    Every kernel is specialised on dtypes only, so a 3-bit code warms them for every code.
    Timed runs call this first so that a one-time, per-process cost is reported apart.
    """
    start = time.perf_counter()
    tiny = TannerGraph.from_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.uint8))
    syn = tiny.syndrome(np.array([[0, 1, 0]], np.uint8))
    decode_syndromes(tiny, syn, bit_error_rate=0.1, redecode=np.ones(1, bool))
    flip_decode(tiny, syn)
    _flooding(tiny, syn, channel_llr(0.1))
    return time.perf_counter() - start


def channel_llr(bit_error_rate: float) -> float:
    """``ln((1-p)/p)`` with ``p`` clamped to ``[1e-6, 0.49]`` (as the ``ldpc`` package does)."""
    p = min(max(float(bit_error_rate), 1e-6), 0.49)
    return math.log((1.0 - p) / p)


def decode_syndromes(
    graph: TannerGraph,
    syndromes: npt.ArrayLike,
    *,
    bit_error_rate: float,
    max_iter: int = 60,
    threads: int = 1,
    redecode: npt.ArrayLike | None = None,
) -> SyndromeDecoding:
    """Error patterns ``e`` with ``H e = s`` for each row ``s`` of ``syndromes`` (module doc).

    Args:
        graph: the code's Tanner graph.
        syndromes: ``(B, m)`` 0/1.
        bit_error_rate: BSC flip probability ``p`` (the prior of every bit).
        max_iter: layered min-sum iterations per block before the sum-product fallback.
        threads: concurrent decoding threads; results are identical for any count.
        redecode: optional ``(B,)`` bool mask of blocks to send to sum-product even if
            min-sum met their syndrome (callers pass CRC failures via
            :func:`redecode_with_sum_product` instead; this is for tests).
    """
    s = np.ascontiguousarray(syndromes, dtype=np.uint8)
    if s.ndim != 2 or s.shape[1] != graph.m:
        raise InputError(f"syndromes must have shape (B, {graph.m}), got {s.shape}")
    require_range("bit error rate", bit_error_rate, low=0.0, high=0.5)
    iters = require_int("max_iter", max_iter, low=1, high=10_000)
    workers = require_int("threads", threads, low=1, high=256)
    b = s.shape[0]
    errors = np.zeros((b, graph.n), np.uint8)
    converged = np.ones(b, bool)
    ms_iters = np.zeros(b, np.int32)
    sp_iters = np.zeros(b, np.int32)
    todo = np.flatnonzero(s.any(axis=1))  # a zero syndrome decodes to e = 0 at once
    llr = channel_llr(bit_error_rate)
    if todo.size:
        e, ok, it = _run(graph, s[todo], llr, iters, False, workers)
        errors[todo], converged[todo], ms_iters[todo] = e, ok, it
    again = ~converged
    if redecode is not None:
        again |= np.asarray(redecode, dtype=bool)
    out = SyndromeDecoding(errors, converged, ms_iters, sp_iters)
    return redecode_with_sum_product(
        graph, s, out, again, bit_error_rate=bit_error_rate, threads=workers
    )


def redecode_with_sum_product(
    graph: TannerGraph,
    syndromes: npt.NDArray[np.uint8],
    decoding: SyndromeDecoding,
    mask: npt.ArrayLike,
    *,
    bit_error_rate: float,
    threads: int = 1,
) -> SyndromeDecoding:
    """Decode the blocks of ``mask`` again with layered sum-product; update ``decoding``.

    A block keeps its earlier result unless sum-product meets its syndrome.
    """
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if idx.size == 0:
        return decoding
    s = np.ascontiguousarray(syndromes[idx], dtype=np.uint8)
    llr = channel_llr(bit_error_rate)
    e, ok, it = _run(graph, s, llr, SUM_PRODUCT_MAX_ITER, True, threads)
    if not ok.all():  # a layered trapping set: the flooding schedule may escape it
        stuck = np.flatnonzero(~ok)
        e2, ok2, it2 = _flooding(graph, np.ascontiguousarray(s[stuck]), llr)
        e[stuck[ok2]] = e2[ok2]
        ok[stuck] = ok2
        it[stuck] += it2
    errors = decoding.errors.copy()
    converged = decoding.converged.copy()
    sp_iters = decoding.sum_product_iterations.copy()
    sp_iters[idx] = it
    take = idx[ok]
    errors[take] = e[ok]
    converged[take] = True
    return SyndromeDecoding(errors, converged, decoding.min_sum_iterations, sp_iters)


def decode_verified(
    graph: TannerGraph,
    syndromes: npt.NDArray[np.uint8],
    verify: Callable[[npt.NDArray[np.intp], npt.NDArray[np.uint8]], npt.NDArray[np.bool_]],
    *,
    bit_error_rate: float,
    max_iter: int = 60,
    threads: int = 1,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Error patterns ``(B, n)`` meeting ``syndromes``, and a mask of blocks ``verify`` accepts.

    The one decoding procedure of FEC (:func:`qtfl.channel.fec.decode_blocks`) and LDPC
    reconciliation (:func:`qtfl.security.qkd.ldpc_reconcile` and its split ends):
    ``verify(rows, errors)`` is the caller's CRC-32 check of blocks ``rows`` corrected by
    ``errors`` (``(len(rows), n)``). Bit flipping (:func:`flip_decode`) tries every block
    first and its pattern is kept where ``verify`` accepts it; every other block is decoded
    by belief propagation as if bit flipping had not run (:func:`decode_syndromes`), and a
    block min-sum solves into a pattern ``verify`` rejects is decoded again with sum-product
    (:func:`redecode_with_sum_product`). So a block is lost only if belief propagation loses
    it too (or a wrong pattern passes the CRC-32, probability 2^-32, as for belief
    propagation). A block ``verify`` never accepts keeps belief propagation's pattern.
    """
    s = np.ascontiguousarray(syndromes, dtype=np.uint8)
    errors, flipped = flip_decode(graph, s)
    ok = np.zeros(s.shape[0], np.bool_)
    tried = np.flatnonzero(flipped)
    if tried.size:
        ok[tried] = verify(tried, errors[tried])
    rest = np.flatnonzero(~ok)
    if rest.size:
        syn = np.ascontiguousarray(s[rest])
        p = bit_error_rate
        out = decode_syndromes(graph, syn, bit_error_rate=p, max_iter=max_iter, threads=threads)
        good = verify(rest, out.errors)
        retry = out.converged & ~good & (out.sum_product_iterations == 0)
        if retry.any():  # min-sum met the syndrome with a rejected pattern: ask sum-product
            out = redecode_with_sum_product(
                graph, syn, out, retry, bit_error_rate=p, threads=threads
            )
            good = verify(rest, out.errors)
        errors[rest] = out.errors
        ok[rest] = out.converged & good
    return errors, ok


def _flooding(
    graph: TannerGraph, s: npt.NDArray[np.uint8], llr: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], npt.NDArray[np.int32]]:
    """Flooding-schedule sum-product (at most :data:`SUM_PRODUCT_MAX_ITER` iterations)."""
    from qtfl.channel._ldpc_kernels import decode_flooding

    b = s.shape[0]
    errors = np.zeros((b, graph.n), np.uint8)
    ok = np.zeros(b, np.bool_)
    iters = np.zeros(b, np.int32)
    col_ptr, _, edge = graph.columns
    decode_flooding(
        graph.row_ptr, graph.col_idx, col_ptr, edge, s, llr, SUM_PRODUCT_MAX_ITER,
        errors, ok, iters,
    )  # fmt: skip
    return errors, ok, iters


def _run(
    graph: TannerGraph,
    s: npt.NDArray[np.uint8],
    llr: float,
    max_iter: int,
    sum_product: bool,
    threads: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], npt.NDArray[np.int32]]:
    b = s.shape[0]
    errors = np.zeros((b, graph.n), np.uint8)
    ok = np.zeros(b, np.bool_)
    iters = np.zeros(b, np.int32)
    from qtfl.channel._ldpc_kernels import LANES, decode_min_sum, decode_sum_product

    kernel = decode_sum_product if sum_product else decode_min_sum
    bounds = np.linspace(0, b, min(threads, max(1, b // LANES)) + 1).astype(np.int64)

    def chunk(i: int) -> None:
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        kernel(
            graph.row_ptr, graph.col_idx, s[lo:hi], llr, max_iter,
            errors[lo:hi], ok[lo:hi], iters[lo:hi],
        )  # fmt: skip

    if bounds.size == 2:
        chunk(0)
    else:
        with ThreadPoolExecutor(max_workers=bounds.size - 1) as pool:
            list(pool.map(chunk, range(bounds.size - 1)))
    return errors, ok, iters
