"""The direct Pauli-frame sampler against stim, and the O(k) check-position sampler.

Reference: a stim circuit that teleports one half of a Bell pair (payload entangled with a
reference qubit) through the noisy pair, applies the corrections, then Bell-measures
(reference, server half): the outcome is the residual Pauli's (z, x) components, jointly
with the client's Bell bits (m0, m1). The direct sampler must give the same joint law of
(m0, m1, Pauli) over 16 cells: a two-sample chi-square test (contingency), p > 1e-3, plus
each sampler against the closed form ``p_sigma / 4`` per cell. Fixed seeds; N = 200,000
teleports per sampler and case.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import stim
from scipy import stats

from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.teleport import (
    bernoulli_packed,
    compile_teleporter,
    pair_noise,
    sample_mask,
    sample_pauli_frame,
    sample_subset,
    teleport_direct,
)

N = 200_000
P_MIN = 1e-3
CASES = [
    pytest.param(WernerPair(0.6), id="werner-0.6"),
    pytest.param(WernerPair(0.9), id="werner-0.9"),
    pytest.param(WernerPair(0.99), id="werner-0.99"),
    pytest.param(BellDiagonalPair([0.8, 0.03, 0.07, 0.10]), id="bell-diagonal"),
    pytest.param(BellDiagonalPair([0.55, 0.05, 0.15, 0.25]), id="bell-diagonal-low"),
]


def _stim_joint(pair: BellDiagonalPair, n: int, seed: int) -> np.ndarray:
    """Cell index 4 * (2 m0 + m1) + Pauli (I, X, Y, Z = 0..3) of ``n`` stim teleports."""
    ref, pay, cli, srv = 0, 1, 2, 3
    c = stim.Circuit()
    c.append("H", [ref, cli])
    c.append("CX", [ref, pay, cli, srv])  # (ref, payload) and (client, server) in Φ+
    c += pair_noise(pair, [cli], [srv])
    c.append("CX", [pay, cli])
    c.append("H", [pay])
    c.append("M", [pay, cli])  # m0, m1
    c.append("CX", [stim.target_rec(-1), srv])  # X^{m1}
    c.append("CZ", [stim.target_rec(-2), srv])  # Z^{m0}
    c.append("CX", [ref, srv])
    c.append("H", [ref])
    c.append("M", [ref, srv])  # (z, x) of the residual Pauli
    rec = c.compile_sampler(seed=seed).sample(n).astype(np.int64)
    m0, m1, z, x = rec.T
    pauli = np.array([0, 1, 3, 2])[x + 2 * z]  # (x, z): I=(0,0) X=(1,0) Z=(0,1) Y=(1,1)
    return 4 * (2 * m0 + m1) + pauli


def _direct_joint(pair: BellDiagonalPair, n: int, seed: int) -> np.ndarray:
    noise, secret = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    frame = sample_pauli_frame(pair, n, rng=noise)
    r = teleport_direct(pair, np.zeros(n, np.uint8), noise_rng=noise, secret_rng=secret)
    m0, m1 = r.bell_bits.T.astype(np.int64)
    return 4 * (2 * m0 + m1) + frame.codes().astype(np.int64)


def _expected(pair: BellDiagonalPair) -> np.ndarray:
    return np.tile(pair.pauli_probabilities, 4) / 4.0  # Bell bits uniform, independent


@pytest.mark.parametrize("pair", CASES)
def test_direct_frames_match_stim_and_the_closed_form(pair: BellDiagonalPair) -> None:
    # Prepare / Execute: the joint (m0, m1, Pauli) law from both samplers
    ours = np.bincount(_direct_joint(pair, N, seed=11), minlength=16)
    ref = np.bincount(_stim_joint(pair, N, seed=12), minlength=16)
    expected = _expected(pair) * N
    # Assert: two-sample chi-square and each against p_sigma / 4 (p > 1e-3)
    assert stats.chi2_contingency(np.vstack([ours, ref]))[1] > P_MIN
    assert stats.chisquare(ours, expected)[1] > P_MIN
    assert stats.chisquare(ref, expected)[1] > P_MIN


@pytest.mark.parametrize("p", [0.0, 1e-4, 1 / 3, 0.5, 0.9, 1.0])
def test_packed_bernoulli_bits_have_the_closed_form_law(p: float) -> None:
    # Prepare / Execute: an odd length (padding in the last byte)
    n = 1_000_003
    packed = bernoulli_packed(p, n, rng=np.random.default_rng(31))
    bits = np.unpackbits(packed, bitorder="little")
    # Assert: padding is zero; the mean is p (4 sigma); adjacent bits are independent
    assert packed.size == (n + 7) // 8 and not bits[n:].any()
    bits = bits[:n].astype(np.int64)
    assert abs(bits.mean() - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12
    if 0 < p < 1:
        pairs = np.bincount(2 * bits[:-1:2] + bits[1::2], minlength=4)
        expected = np.array([(1 - p) ** 2, (1 - p) * p, p * (1 - p), p * p]) * pairs.sum()
        assert stats.chisquare(pairs, expected)[1] > P_MIN


def test_teleport_direct_matches_stim_with_random_payloads() -> None:
    # Prepare: random payload bits; cells (m0, m1 ^ x, received ^ x)
    pair = WernerPair(0.85)
    bits = np.random.default_rng(5).integers(0, 2, N, dtype=np.uint8)

    def cells(bell: np.ndarray, received: np.ndarray) -> np.ndarray:
        b = bell.astype(np.int64)
        return np.bincount(4 * b[:, 0] + 2 * (b[:, 1] ^ bits) + (received ^ bits), minlength=8)

    # Execute
    ours = teleport_direct(
        pair, bits, noise_rng=np.random.default_rng(6), secret_rng=np.random.default_rng(7)
    )
    ref = compile_teleporter(pair).teleport(bits, rng=np.random.default_rng(8))
    # Assert: same law; the flip rate is the closed form 2(1 - F)/3
    table = np.vstack([cells(ours.bell_bits, ours.received), cells(ref.bell_bits, ref.received)])
    assert stats.chi2_contingency(table)[1] > P_MIN
    flips = float((ours.received != bits).mean())
    assert abs(flips - 2 * 0.15 / 3) < 4 * math.sqrt(0.1 * 0.9 / N)


def test_received_bits_depend_on_the_noise_only() -> None:
    pair = WernerPair(0.9)
    bits = np.random.default_rng(1).integers(0, 2, 5000, dtype=np.uint8)
    a = teleport_direct(
        pair, bits, noise_rng=np.random.default_rng(2), secret_rng=np.random.default_rng(3)
    )
    b = teleport_direct(
        pair, bits, noise_rng=np.random.default_rng(2), secret_rng=np.random.default_rng(4)
    )
    np.testing.assert_array_equal(a.received, b.received)
    assert (a.bell_bits != b.bell_bits).any()


def test_a_perfect_pair_leaves_every_bit_and_an_empty_frame() -> None:
    frame = sample_pauli_frame(WernerPair(1.0), 1000, rng=np.random.default_rng(0))
    assert not frame.x.any() and not frame.z.any() and frame.codes().shape == (1000,)


@pytest.mark.parametrize(("n", "k"), [(6, 2), (6, 4)])  # k > n/2 takes the complement branch
def test_subsets_are_uniform_over_all_k_subsets(n: int, k: int) -> None:
    # Prepare: every k-subset of range(n) and its index
    index = {s: i for i, s in enumerate(itertools.combinations(range(n), k))}
    rng = np.random.default_rng(21)
    draws = 30_000
    # Execute
    counts = np.zeros(len(index), np.int64)
    for _ in range(draws):
        counts[index[tuple(sample_subset(n, k, rng=rng).tolist())]] += 1
    # Assert: chi-square against uniform over the C(n, k) subsets
    assert stats.chisquare(counts)[1] > P_MIN


def test_large_subsets_are_sorted_distinct_and_cover_positions_uniformly() -> None:
    n, k, reps = 10_000, 1_000, 400
    rng = np.random.default_rng(22)
    hits = np.zeros(n, np.int64)
    for _ in range(reps):
        s = sample_subset(n, k, rng=rng)
        assert s.size == k and (np.diff(s) > 0).all() and s[0] >= 0 and s[-1] < n
        hits[s] += 1
    # each position is included with probability k/n: chi-square over 100 bins of positions
    assert stats.chisquare(hits.reshape(100, -1).sum(axis=1))[1] > P_MIN


def test_subset_edge_sizes() -> None:
    rng = np.random.default_rng(0)
    assert sample_subset(5, 0, rng=rng).size == 0
    np.testing.assert_array_equal(sample_subset(5, 5, rng=rng), np.arange(5))


def _subset_by_sorting(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """The sort-only algorithm (draw, sort, keep distinct, draw the missing again)."""
    got = np.unique(rng.integers(0, n, size=k, dtype=np.int64))
    while got.size < k:
        got = np.unique(np.concatenate([got, rng.integers(0, n, size=k - got.size)]))
    return got


@pytest.mark.parametrize(
    ("n", "k"), [(100, 50), (98_000, 9_800), (1_000_000, 300_000), (10_000_000, 1_000)]
)
def test_subsets_equal_the_sort_only_algorithm_draw_for_draw(n: int, k: int) -> None:
    # the bitmap (n <= 64 k) and the sort (n > 64 k) keep the same subset of the same draws
    for seed in range(3):
        got = sample_subset(n, k, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(got, _subset_by_sorting(n, k, np.random.default_rng(seed)))
        assert got.dtype == np.int64


@pytest.mark.parametrize(
    ("n", "k"), [(0, 0), (7, 5), (100, 50), (98_000, 9_800), (10_000_000, 1_000), (9, 9)]
)
def test_sample_mask_marks_the_subset_of_the_same_draws(n: int, k: int) -> None:
    # complement (k > n/2), bitmap and sort regimes: the mask is the subset's membership
    for seed in range(3):
        mask = sample_mask(n, k, rng=np.random.default_rng(seed))
        want = sample_subset(n, k, rng=np.random.default_rng(seed))
        assert mask.dtype == np.bool_ and mask.shape == (n,)
        np.testing.assert_array_equal(np.flatnonzero(mask), want)
