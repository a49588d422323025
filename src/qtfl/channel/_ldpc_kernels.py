"""numba kernels of :mod:`qtfl.channel.ldpc_decoder` (imported on first decode, not at import).

Arrays are indexed ``[..., lane]`` with the lane loop innermost and a compile-time trip
count, so LLVM vectorises it. No fastmath: the vector body and any scalar path compute the
same IEEE operations, which keeps a block's result independent of the lane it lands in.
"""

# mypy: ignore-errors

from __future__ import annotations

import math

import numba
import numpy as np

# The constants live here, in the file numba's cache keys on: editing them recompiles.
#: Blocks decoded side by side (one per SIMD lane; 64 float32 = four AVX-512 vectors; measured
#: 1.4x faster than 32 lanes and than 128 at F = 0.95).
LANES = 64
#: Lanes of the min-sum tail: once no block is left to load and at most this many lanes
#: are still decoding, they continue in arrays this wide (one AVX-256 vector of float32).
TAIL_LANES = 8
#: A min-sum batch of at most this many blocks runs in TAIL_LANES-wide arrays from the start
#: (refilling lanes as blocks finish): on a machine with 128-bit vectors (SSE only) a 64-lane
#: sweep costs ~8x an 8-lane one, so a few blocks in 64 lanes mostly sweep empty lanes.
NARROW_BATCH = 24
#: Normalisation of the min-sum check message (1 - 1/8, usual for column weights 3-4).
MIN_SUM_ALPHA = 0.875
#: Blocks side by side in the sum-product fallback: 1, since its log/tanh calls are scalar
#: (no vector maths library here), so more lanes would only add idle work.
SUM_PRODUCT_LANES = 1
#: Largest |tanh product| fed to atanh in sum-product (2 atanh(1 - 1e-15) = 35.3).
_TANH_MAX = 1.0 - 1e-15


@numba.njit(cache=True, nogil=True)
def syndromes(row_ptr, col_idx, words, out):
    # 64 blocks at a time, bit-sliced: bit i of cols[v] is bit v of block c0 + i, so each
    # edge is one 64-bit XOR over the blocks (and the transposition is a contiguous,
    # vectorisable loop per block instead of a strided byte store per bit). ``out`` (B, m).
    b, n = words.shape
    m = row_ptr.size - 1
    cols = np.zeros(n, np.uint64)
    acc = np.zeros(m, np.uint64)
    one = np.uint64(1)
    for c0 in range(0, b, 64):
        w = min(64, b - c0)
        for v in range(n):
            cols[v] = 0
        for i in range(w):
            sh = np.uint64(i)
            for v in range(n):
                cols[v] |= np.uint64(words[c0 + i, v] & 1) << sh
        for r in range(m):
            a = np.uint64(0)
            for j in range(row_ptr[r], row_ptr[r + 1]):
                a ^= cols[col_idx[j]]
            acc[r] = a
        for i in range(w):
            sh = np.uint64(i)
            for r in range(m):
                out[c0 + i, r] = np.uint8((acc[r] >> sh) & one)


@numba.njit(cache=True, nogil=True, inline="always")
def _load(lane, block, syn, llr, post, ssign, lane_block, lane_iter, fresh):
    # The lane's check messages are not zeroed here (one strided store per edge, the largest
    # cost of a load): ``fresh`` marks the lane, whose first sweep reads 0 in their place
    # and writes every one of them; the sweep's end clears the mark.
    lane_block[lane] = block
    lane_iter[lane] = 0
    fresh[lane] = 1
    for v in range(post.shape[0]):
        post[v, lane] = llr
    for r in range(ssign.shape[0]):
        ssign[r, lane] = -1.0 if syn[block, r] else 1.0


@numba.njit(cache=True, nogil=True, inline="always")
def _check_and_refill(
    row_ptr, col_idx, syn, llr, max_iter, post, ssign, lane_block, lane_iter,
    nxt, out_err, out_ok, out_it, bad, par, fresh,
):  # fmt: skip
    lanes = post.shape[1]
    m = row_ptr.size - 1
    n = post.shape[0]
    for lane in range(lanes):
        bad[lane] = 0
        fresh[lane] = 0  # a full sweep wrote every message of every lane
    for r in range(m):
        for lane in range(lanes):
            par[lane] = 1 if ssign[r, lane] < 0 else 0
        for j in range(row_ptr[r], row_ptr[r + 1]):
            v = col_idx[j]
            for lane in range(lanes):
                par[lane] ^= 1 if post[v, lane] < 0 else 0
        for lane in range(lanes):
            bad[lane] |= par[lane]
    b = syn.shape[0]
    for lane in range(lanes):
        blk = lane_block[lane]
        if blk < 0:
            continue
        lane_iter[lane] += 1
        if bad[lane] == 0 or lane_iter[lane] >= max_iter:
            for v in range(n):
                out_err[blk, v] = 1 if post[v, lane] < 0 else 0
            out_ok[blk] = bad[lane] == 0
            out_it[blk] = lane_iter[lane]
            if nxt < b:
                _load(lane, nxt, syn, llr, post, ssign, lane_block, lane_iter, fresh)
                nxt += 1
            else:
                lane_block[lane] = -1
    return nxt


@numba.njit(cache=True, nogil=True, inline="always")
def _min_sum_sweep(row_ptr, col_idx, post, msg, ssign, ext, min1, min2, sgn, pos, fresh, lanes):
    # One layered sweep over all rows for ``lanes`` lanes (a compile-time constant where
    # inlined with LANES or TAIL_LANES, so the lane loops vectorise without remainder).
    alpha = np.float32(MIN_SUM_ALPHA)
    big = np.float32(3.0e38)
    zero = np.float32(0.0)
    m = row_ptr.size - 1
    for r in range(m):
        start = row_ptr[r]
        d = row_ptr[r + 1] - start
        for lane in range(lanes):
            min1[lane] = big
            min2[lane] = big
            sgn[lane] = ssign[r, lane]
            pos[lane] = 0
        for jj in range(d):
            j = start + jj
            v = col_idx[j]
            for lane in range(lanes):
                t = post[v, lane] - (zero if fresh[lane] else msg[j, lane])
                ext[jj, lane] = t
                a = abs(t)
                lt = a < min1[lane]
                min2[lane] = min1[lane] if lt else min(min2[lane], a)
                pos[lane] = np.int32(jj) if lt else pos[lane]
                min1[lane] = a if lt else min1[lane]
                sgn[lane] = -sgn[lane] if t < 0 else sgn[lane]
        for lane in range(lanes):
            min1[lane] = alpha * min1[lane]
            min2[lane] = alpha * min2[lane]
        for jj in range(d):
            j = start + jj
            v = col_idx[j]
            for lane in range(lanes):
                t = ext[jj, lane]
                mag = min2[lane] if pos[lane] == jj else min1[lane]
                new = -mag if (t < 0) != (sgn[lane] < 0) else mag
                msg[j, lane] = new
                post[v, lane] = t + new


@numba.njit(cache=True, nogil=True)
def decode_min_sum(row_ptr, col_idx, syn, llr, max_iter, out_err, out_ok, out_it):
    lanes = LANES
    n = out_err.shape[1]
    m = row_ptr.size - 1
    b = syn.shape[0]
    deg = 0
    for r in range(m):
        deg = max(deg, row_ptr[r + 1] - row_ptr[r])
    # A batch of at most TAIL_LANES blocks goes to the tail at once (below): its state is
    # allocated that wide, and the 64-lane sweep, which would index beyond it, never runs.
    width = lanes if b > NARROW_BATCH else TAIL_LANES
    post = np.zeros((n, width), np.float32)
    msg = np.zeros((col_idx.size, width), np.float32)
    ssign = np.ones((m, width), np.float32)
    ext = np.zeros((deg, lanes), np.float32)
    min1 = np.zeros(lanes, np.float32)
    min2 = np.zeros(lanes, np.float32)
    sgn = np.zeros(lanes, np.float32)
    pos = np.zeros(lanes, np.int32)
    lane_block = np.full(width, -1, np.int64)
    lane_iter = np.zeros(width, np.int64)
    bad = np.zeros(lanes, np.uint8)
    par = np.zeros(lanes, np.uint8)
    fresh = np.zeros(width, np.uint8)
    llr32 = np.float32(llr)
    nxt = 0
    for lane in range(min(width, b)):
        _load(lane, nxt, syn, llr32, post, ssign, lane_block, lane_iter, fresh)
        nxt += 1
    active = min(width, b)
    while active > 0:
        if width == TAIL_LANES or (nxt >= b and active <= TAIL_LANES):
            _min_sum_tail(
                row_ptr, col_idx, syn, llr32, max_iter, post, msg, ssign, lane_block,
                lane_iter, fresh, out_err, out_ok, out_it, deg, nxt,
            )  # fmt: skip
            return
        _min_sum_sweep(row_ptr, col_idx, post, msg, ssign, ext, min1, min2, sgn, pos, fresh, lanes)
        nxt = _check_and_refill(
            row_ptr, col_idx, syn, llr32, max_iter, post, ssign, lane_block, lane_iter,
            nxt, out_err, out_ok, out_it, bad, par, fresh,
        )  # fmt: skip
        active = 0
        for lane in range(lanes):
            active += lane_block[lane] >= 0


@numba.njit(cache=True, nogil=True)
def _min_sum_tail(
    row_ptr, col_idx, syn, llr32, max_iter, post, msg, ssign, lane_block, lane_iter, fresh,
    out_err, out_ok, out_it, deg, nxt,
):  # fmt: skip
    # The last few blocks (no more to load), or a small batch from its start: the lanes'
    # state moved to TAIL_LANES-wide arrays and swept there, blocks from ``nxt`` on loaded
    # as lanes free up, the same arithmetic per lane, a fraction of the work per sweep. A
    # block min-sum cannot solve keeps its lane for max_iter sweeps, which at 64 lanes
    # cost as much as decoding dozens of blocks.
    lanes = TAIL_LANES
    n, m, edges = post.shape[0], ssign.shape[0], msg.shape[0]
    t_post = np.zeros((n, lanes), np.float32)
    t_msg = np.zeros((edges, lanes), np.float32)
    t_ssign = np.ones((m, lanes), np.float32)
    t_block = np.full(lanes, -1, np.int64)
    t_iter = np.zeros(lanes, np.int64)
    t_fresh = np.zeros(lanes, np.uint8)
    k = 0
    for lane in range(post.shape[1]):
        if lane_block[lane] < 0:
            continue
        for v in range(n):
            t_post[v, k] = post[v, lane]
        for j in range(edges):
            t_msg[j, k] = msg[j, lane]
        for r in range(m):
            t_ssign[r, k] = ssign[r, lane]
        t_block[k] = lane_block[lane]
        t_iter[k] = lane_iter[lane]
        t_fresh[k] = fresh[lane]
        k += 1
    ext = np.zeros((deg, lanes), np.float32)
    min1 = np.zeros(lanes, np.float32)
    min2 = np.zeros(lanes, np.float32)
    sgn = np.zeros(lanes, np.float32)
    pos = np.zeros(lanes, np.int32)
    bad = np.zeros(lanes, np.uint8)
    par = np.zeros(lanes, np.uint8)
    active = k
    while active > 0:
        _min_sum_sweep(
            row_ptr, col_idx, t_post, t_msg, t_ssign, ext, min1, min2, sgn, pos, t_fresh, lanes
        )
        nxt = _check_and_refill(
            row_ptr, col_idx, syn, llr32, max_iter, t_post, t_ssign, t_block, t_iter,
            nxt, out_err, out_ok, out_it, bad, par, t_fresh,
        )  # fmt: skip
        active = 0
        for lane in range(lanes):
            active += t_block[lane] >= 0


@numba.njit(cache=True, nogil=True, inline="always")
def _tanh_half(t):
    # tanh(t/2) = (1 - e^-|t|) / (1 + e^-|t|), signed: one exp (libm's tanh costs about
    # twice as much); no overflow for any |t|.
    u = math.exp(-abs(t))
    x = (1.0 - u) / (1.0 + u)
    return x if t >= 0.0 else -x


@numba.njit(cache=True, nogil=True, inline="always")
def _two_atanh(x):
    # 2 atanh(x) = log((1 + x) / (1 - x)) = log1p(2|x| / (1 - |x|)), signed, for
    # |x| <= _TANH_MAX: one log1p (libm's atanh costs about twice as much).
    a = abs(x)
    y = math.log1p(2.0 * a / (1.0 - a))
    return y if x >= 0.0 else -y


@numba.njit(cache=True, nogil=True)
def decode_sum_product(row_ptr, col_idx, syn, llr, max_iter, out_err, out_ok, out_it):
    # Check update in the tanh form, R_rv = (-1)^s_r 2 atanh(prod_{u != v} tanh(t_u / 2)),
    # with the product over the others from prefix and suffix products (no division): one
    # tanh and one atanh per edge, as one exp and one log1p (_tanh_half, _two_atanh).
    lanes = SUM_PRODUCT_LANES
    n = out_err.shape[1]
    m = row_ptr.size - 1
    b = syn.shape[0]
    deg = 0
    for r in range(m):
        deg = max(deg, row_ptr[r + 1] - row_ptr[r])
    post = np.zeros((n, lanes), np.float64)
    msg = np.zeros((col_idx.size, lanes), np.float64)
    ssign = np.ones((m, lanes), np.float64)
    ext = np.zeros((deg, lanes), np.float64)
    th = np.zeros((deg, lanes), np.float64)
    pre = np.zeros((deg, lanes), np.float64)
    acc = np.zeros(lanes, np.float64)
    lane_block = np.full(lanes, -1, np.int64)
    lane_iter = np.zeros(lanes, np.int64)
    bad = np.zeros(lanes, np.uint8)
    par = np.zeros(lanes, np.uint8)
    fresh = np.zeros(lanes, np.uint8)
    nxt = 0
    for lane in range(min(lanes, b)):
        _load(lane, nxt, syn, llr, post, ssign, lane_block, lane_iter, fresh)
        nxt += 1
    active = min(lanes, b)
    while active > 0:
        for r in range(m):
            start = row_ptr[r]
            d = row_ptr[r + 1] - start
            for lane in range(lanes):
                acc[lane] = ssign[r, lane]
            for jj in range(d):
                j = start + jj
                v = col_idx[j]
                for lane in range(lanes):
                    t = post[v, lane] - (0.0 if fresh[lane] else msg[j, lane])
                    ext[jj, lane] = t
                    pre[jj, lane] = acc[lane]  # syndrome sign x prod of tanh before jj
                    x = _tanh_half(t)
                    th[jj, lane] = x
                    acc[lane] *= x
            for lane in range(lanes):
                acc[lane] = 1.0
            for jj in range(d - 1, -1, -1):  # suffix products, from the row's end
                j = start + jj
                v = col_idx[j]
                for lane in range(lanes):
                    x = pre[jj, lane] * acc[lane]
                    x = min(max(x, -_TANH_MAX), _TANH_MAX)
                    new = _two_atanh(x)
                    msg[j, lane] = new
                    post[v, lane] = ext[jj, lane] + new
                    acc[lane] *= th[jj, lane]
        nxt = _check_and_refill(
            row_ptr, col_idx, syn, llr, max_iter, post, ssign, lane_block, lane_iter,
            nxt, out_err, out_ok, out_it, bad, par, fresh,
        )  # fmt: skip
        active = 0
        for lane in range(lanes):
            active += lane_block[lane] >= 0


@numba.njit(cache=True, nogil=True)
def crc32_rows(packed, table):
    # zlib's CRC-32 (reflected, init and final XOR 0xFFFFFFFF), byte-wise table, per row.
    b, nbytes = packed.shape
    out = np.empty(b, np.uint32)
    for i in range(b):
        c = np.uint32(0xFFFFFFFF)
        for j in range(nbytes):
            c = table[(c ^ np.uint32(packed[i, j])) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
        out[i] = c ^ np.uint32(0xFFFFFFFF)
    return out


@numba.njit(cache=True, nogil=True)
def flip_decode(row_ptr, col_idx, col_ptr, row_idx, syn, max_weight, out_err, out_ok):
    # Greedy bit flipping, one block at a time (the work is sparse: only the bits of
    # unsatisfied checks are scored). Flip the bit whose flip satisfies the most checks net
    # (gain = 2 * unsatisfied checks of the bit - its degree > 0; ties to the lowest bit),
    # until the syndrome is met or no flip gains. Each flip lowers the syndrome weight, so
    # at most ``weight`` flips. ``out_err`` must hold zeros; blocks with a zero syndrome or
    # a weight above ``max_weight`` are left unsolved.
    b, m = syn.shape
    n = col_ptr.size - 1
    cnt = np.zeros(n, np.int32)  # unsatisfied checks of each bit
    flipped = np.zeros(n, np.uint8)
    flips = np.empty(m, np.int64)
    s = np.zeros(m, np.uint8)
    unsat = np.empty(m, np.int64)  # the unsatisfied checks, in any order
    where = np.full(m, -1, np.int64)  # index of check r in ``unsat``
    for blk in range(b):
        out_ok[blk] = False
        w = 0
        for r in range(m):
            w += syn[blk, r]
        if w == 0 or w > max_weight:
            continue
        nu = 0
        for r in range(m):
            if syn[blk, r]:
                s[r] = 1
                where[r] = nu
                unsat[nu] = r
                nu += 1
                for j in range(row_ptr[r], row_ptr[r + 1]):
                    cnt[col_idx[j]] += 1
        nf = 0
        while nu > 0:
            best = -1
            best_gain = 0
            for i in range(nu):
                r = unsat[i]
                for j in range(row_ptr[r], row_ptr[r + 1]):
                    v = col_idx[j]
                    gain = 2 * cnt[v] - (col_ptr[v + 1] - col_ptr[v])
                    if gain > best_gain or (gain == best_gain and gain > 0 and v < best):
                        best_gain = gain
                        best = v
            if best < 0:
                break
            flipped[best] ^= 1
            flips[nf] = best
            nf += 1
            for i in range(col_ptr[best], col_ptr[best + 1]):
                r = row_idx[i]
                if s[r]:  # satisfied now: swap-remove from the list
                    s[r] = 0
                    d = -1
                    k = where[r]
                    last = unsat[nu - 1]
                    unsat[k] = last
                    where[last] = k
                    where[r] = -1
                    nu -= 1
                else:
                    s[r] = 1
                    d = 1
                    where[r] = nu
                    unsat[nu] = r
                    nu += 1
                for j in range(row_ptr[r], row_ptr[r + 1]):
                    cnt[col_idx[j]] += d
        if nu == 0:
            out_ok[blk] = True
            for i in range(nf):
                out_err[blk, flips[i]] = flipped[flips[i]]
        # reset the scratch state for the next block
        for i in range(nu):
            r = unsat[i]
            s[r] = 0
            where[r] = -1
            for j in range(row_ptr[r], row_ptr[r + 1]):
                cnt[col_idx[j]] -= 1
        for i in range(nf):
            flipped[flips[i]] = 0


@numba.njit(cache=True, nogil=True)
def decode_flooding(
    row_ptr, col_idx, col_ptr, col_edge, syn, llr, max_iter, out_err, out_ok, out_it
):
    # Sum-product with the flooding (parallel) schedule, one block at a time, double
    # precision: all check messages from the bit messages, then all bit messages from the
    # check messages (extrinsic: posterior minus the edge's own check message), then the
    # hard decision (ties to 1) and the syndrome test. The schedule of the ``ldpc``
    # package's product_sum BP; layered schedules can stall in a trapping set it escapes.
    b, m = syn.shape
    n = col_ptr.size - 1
    edges = col_idx.size
    q = np.empty(edges, np.float64)  # bit -> check
    r = np.empty(edges, np.float64)  # check -> bit
    th = np.empty(edges, np.float64)
    e = np.zeros(n, np.uint8)
    for blk in range(b):
        for j in range(edges):
            q[j] = llr
        good = False
        it = 0
        while it < max_iter and not good:
            it += 1
            for row in range(m):
                start, stop = row_ptr[row], row_ptr[row + 1]
                acc = -1.0 if syn[blk, row] else 1.0
                for j in range(start, stop):
                    x = _tanh_half(q[j])
                    th[j] = x
                    r[j] = acc  # syndrome sign x product of tanh before j
                    acc *= x
                acc = 1.0
                for j in range(stop - 1, start - 1, -1):
                    x = min(max(r[j] * acc, -_TANH_MAX), _TANH_MAX)
                    r[j] = _two_atanh(x)
                    acc *= th[j]
            for v in range(n):
                acc = llr
                for k in range(col_ptr[v], col_ptr[v + 1]):
                    acc += r[col_edge[k]]
                e[v] = 1 if acc <= 0.0 else 0
                for k in range(col_ptr[v], col_ptr[v + 1]):
                    j = col_edge[k]
                    q[j] = acc - r[j]
            good = True
            for row in range(m):
                par = syn[blk, row]
                for j in range(row_ptr[row], row_ptr[row + 1]):
                    par ^= e[col_idx[j]]
                if par:
                    good = False
                    break
        out_ok[blk] = good
        out_it[blk] = it
        for v in range(n):
            out_err[blk, v] = e[v]


@numba.njit(cache=True, nogil=True)
def sifted_key(both, in_sample, alice, bob):
    # QKD (qtfl.channel.qkd._measure_untouched): ``both[i]`` holds Alice's outcome of sifted
    # pair i in bit 0 and whether Bob's differs in bit 1; the pairs not ``in_sample`` go to
    # ``alice`` and ``bob`` in order. Branch-free (each pair written, the output index
    # advanced unless it is in the sample), so the outputs have one slot of slack.
    j = 0
    for i in range(both.size):
        v = both[i]
        alice[j] = v & 1
        bob[j] = (v ^ (v >> 1)) & 1
        j += 1 - in_sample[i]
    return j
