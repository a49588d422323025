"""The Bernoulli bit samplers against closed forms: gap sampling (small p) and digits.

Laws checked at fixed seeds, p > 1e-3 each (chi-square unless stated), at p on both sides of
:data:`~qtfl.quantum.teleport.GAP_SAMPLING_MAX_P` (where the sampler switches):

* the number of ones in ``n`` bits is Binomial(n, p) (bins of equal binomial mass);
* the gaps between consecutive ones are Geometric(p) on ``{1, 2, ...}``
  (``P[G = g] = (1-p)^{g-1} p``), and two consecutive gaps are independent (a 2x2 table
  split at the median). Only gaps that start in the first half of the ``n`` bits are used:
  by the strong Markov property each is a fresh Geometric(p) draw, observed in full unless
  it exceeds ``n/2`` (probability ``(1-p)^{n/2} < 1e-40`` here), so the finite length
  biases nothing;
* each position is 1 with probability ``p`` (ones over 50 bins of positions are uniform).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qtfl.quantum.teleport import (
    GAP_SAMPLING_MAX_P,
    bernoulli_bits,
    bernoulli_packed,
    bernoulli_positions,
)

P_MIN = 1e-3
N_BITS = 100_003
LAWS = [
    pytest.param(0.001, 400, id="p=0.001"),
    pytest.param(0.002, 300, id="p=0.002-quickstart"),
    pytest.param(2 * 0.05 / 3, 40, id="p=0.0333-F0.95"),
    pytest.param(math.nextafter(GAP_SAMPLING_MAX_P, 0.0), 30, id="just-below-switch"),
    pytest.param(GAP_SAMPLING_MAX_P, 30, id="at-switch-digits"),
    pytest.param(0.2, 10, id="p=0.2-digits"),
]


def _geometric_bins(p: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper edges ``g_1 < ... < g_B = inf`` of about equal Geometric(p) mass, and the mass
    of each bin ``(g_{j-1}, g_j]`` from the closed form ``P[G <= g] = 1 - (1-p)^g``."""
    q = np.arange(1, bins) / bins
    edges = np.unique(np.ceil(np.log1p(-q) / np.log1p(-p)).astype(np.int64))
    cdf = -np.expm1(edges * np.log1p(-p))
    mass = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return edges, mass


def _first_half_gaps(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaps that start before ``n/2`` (the first from position -1), and the pairs of
    consecutive gaps that start before ``n/4``."""
    starts = np.concatenate([[-1], pos[:-1]])
    gaps = pos - starts
    first = gaps[starts < n // 2]
    pair_ok = starts[:-1] < n // 4
    return first, np.stack([gaps[:-1][pair_ok], gaps[1:][pair_ok]], axis=1)


@pytest.mark.parametrize(("p", "runs"), LAWS)
def test_bernoulli_bits_have_the_closed_form_counts_gaps_and_positions(
    p: float, runs: int
) -> None:
    # Prepare / Execute: `runs` independent sequences of N_BITS bits from one generator
    rng = np.random.default_rng(2024)
    counts = np.zeros(runs, np.int64)
    gaps: list[np.ndarray] = []
    pairs: list[np.ndarray] = []
    per_bin = np.zeros(50, np.int64)
    for i in range(runs):
        pos = bernoulli_positions(p, N_BITS, rng=rng)
        counts[i] = pos.size
        g, gp = _first_half_gaps(pos, N_BITS)
        gaps.append(g)
        pairs.append(gp)
        per_bin += np.bincount(pos * 50 // N_BITS, minlength=50)
    all_gaps = np.concatenate(gaps)
    all_pairs = np.concatenate(pairs)
    # Assert: counts ~ Binomial(N_BITS, p) over bins of equal mass (closed-form masses)
    law = stats.binom(N_BITS, p)
    edges = np.unique(law.ppf(np.linspace(0, 1, 9)[1:-1]))
    cdf = law.cdf(edges)
    mass = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    observed = np.bincount(np.searchsorted(edges, counts), minlength=mass.size)
    assert stats.chisquare(observed, mass * runs)[1] > P_MIN
    # Assert: gaps ~ Geometric(p), 20 bins of about equal mass
    g_edges, g_mass = _geometric_bins(p, 20)
    g_obs = np.bincount(np.searchsorted(g_edges, all_gaps), minlength=g_mass.size)
    assert stats.chisquare(g_obs, g_mass * all_gaps.size)[1] > P_MIN
    # Assert: consecutive gaps independent (2x2 table split at the median)
    median = np.median(all_gaps)
    table = np.zeros((2, 2), np.int64)
    above = (all_pairs > median).astype(np.int64)
    np.add.at(table, (above[:, 0], above[:, 1]), 1)
    assert stats.chi2_contingency(table)[1] > P_MIN
    # Assert: every part of the sequence is alike (ones uniform over 50 bins of positions;
    # bin sizes differ by one bit at most)
    sizes = np.bincount(np.arange(N_BITS) * 50 // N_BITS, minlength=50)
    assert stats.chisquare(per_bin, per_bin.sum() * sizes / N_BITS)[1] > P_MIN


@pytest.mark.parametrize(
    "p", [0.0, 1e-9, 0.002, math.nextafter(GAP_SAMPLING_MAX_P, 0.0), GAP_SAMPLING_MAX_P, 0.7, 1.0]
)
@pytest.mark.parametrize("n", [0, 1, 13, 64, 100_003])
def test_positions_bits_and_packed_bits_are_the_same_draws(p: float, n: int) -> None:
    # Prepare / Execute: the three forms from generators in the same state
    pos = bernoulli_positions(p, n, rng=np.random.default_rng(9))
    bits = bernoulli_bits(p, n, rng=np.random.default_rng(9))
    packed = bernoulli_packed(p, n, rng=np.random.default_rng(9))
    # Assert: the same bits; packed padding is zero; positions sorted, distinct, in range
    assert bits.dtype == np.uint8 and bits.shape == (n,)
    np.testing.assert_array_equal(np.flatnonzero(bits), pos)
    np.testing.assert_array_equal(np.packbits(bits, bitorder="little"), packed)
    assert packed.size == (n + 7) // 8
    assert pos.dtype == np.int64 and (np.diff(pos) > 0).all()
    assert pos.size == 0 or (pos[0] >= 0 and pos[-1] < n)


def test_tiny_p_draws_no_overflowing_positions() -> None:
    # gaps near 2^63 (p = 1e-300) must not wrap around when summed
    rng = np.random.default_rng(0)
    assert bernoulli_positions(1e-300, 10**7, rng=rng).size == 0
    assert bernoulli_bits(1e-300, 1000, rng=rng).sum() == 0


def test_the_gap_sampler_consumes_draws_by_p_and_n_only() -> None:
    # Prepare: the same (p, n) from the same state twice, then one more draw each
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    # Execute
    first = bernoulli_positions(0.01, 50_000, rng=a)
    second = bernoulli_positions(0.01, 50_000, rng=b)
    # Assert: same bits and the generators stay in step afterwards
    np.testing.assert_array_equal(first, second)
    assert a.integers(2**62) == b.integers(2**62)
