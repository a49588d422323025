"""The QKD pairs' direct Bell-diagonal sampler against stim (the reference) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, chi2_contingency

from qtfl.channel.qkd import SiftedKey, _measure_pairs, draw_block_pairs, measure_sifted
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.security.eavesdropper import INTERCEPT_Z, NONE, sample_checks

PAIRS = [
    WernerPair(0.6),
    WernerPair(0.9),
    WernerPair(0.99),
    BellDiagonalPair([0.9, 0.01, 0.06, 0.03]),  # X-basis and Z-basis errors differ
    BellDiagonalPair([0.6, 0.05, 0.3, 0.05]),
]


def _cells(bases: np.ndarray, client: np.ndarray, server: np.ndarray) -> np.ndarray:
    """Counts of the 8 outcomes (basis, client, server)."""
    return np.bincount(4 * bases + 2 * client + server, minlength=8)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: str(p.coefficients.round(3).tolist()))
def test_direct_outcomes_match_stim_by_chi_square(pair: BellDiagonalPair) -> None:
    # Prepare: the same bases for both samplers, no pair attacked
    n = 200_000
    bases = np.random.default_rng(1).integers(0, 2, n, dtype=np.uint8)
    none = np.full(n, NONE, np.uint8)
    # Execute
    direct = measure_sifted(pair, bases, none, rng=np.random.default_rng(2))
    stim = sample_checks(pair, bases, none, rng=np.random.default_rng(3))
    # Assert: the joint law of (basis, client, server) is one law (two-sample chi-square)
    table = np.stack(
        [_cells(bases, direct.client, direct.server), _cells(bases, stim.client, stim.server)]
    )
    assert chi2_contingency(table).pvalue > 1e-3
    assert not direct.eve_bits.any()
    # and each end's disagreement rate per basis is the closed form (B + C in Z, B + D in X)
    for basis, q in ((0, pair.qber_z), (1, pair.qber_x)):
        sel = bases == basis
        errors = int(np.count_nonzero(direct.client[sel] != direct.server[sel]))
        assert binomtest(errors, int(sel.sum()), q).pvalue > 1e-3
        ones = int(direct.client[sel].sum())  # each half alone is uniform
        assert binomtest(ones, int(sel.sum()), 0.5).pvalue > 1e-3


def test_an_attacked_block_is_measured_by_stim() -> None:
    # Prepare: one pair intercepted in Z among untouched ones
    pair = WernerPair(0.95)
    bases = np.random.default_rng(4).integers(0, 2, 1000, dtype=np.uint8)
    attack = np.full(1000, NONE, np.uint8)
    attack[17] = INTERCEPT_Z
    # Execute
    got = measure_sifted(pair, bases, attack, rng=np.random.default_rng(5))
    want = sample_checks(pair, bases, attack, rng=np.random.default_rng(5))
    # Assert: exactly the reference's draws
    np.testing.assert_array_equal(got.client, want.client)
    np.testing.assert_array_equal(got.server, want.server)
    np.testing.assert_array_equal(got.eve_bits, want.eve_bits)


def test_block_draw_sifts_matching_bases_and_samples_distinct_positions() -> None:
    # Prepare / Execute
    d = draw_block_pairs(
        WernerPair(0.97), np.zeros(50_000, np.uint8), 0.1, rng=np.random.default_rng(6)
    )
    # Assert: the sift is where the bases agree, about half; the sample is 10% of it
    np.testing.assert_array_equal(d.sift, np.flatnonzero(d.a_bases == d.b_bases))
    assert binomtest(int(d.sift.size), 50_000, 0.5).pvalue > 1e-3
    assert d.sample.size == int(np.ceil(0.1 * d.sift.size))
    assert np.unique(d.sample).size == d.sample.size
    assert d.client.size == d.server.size == d.sift.size


def _reduced(d) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """A block draw reduced to the sample's figures and the two raw keys, by masks."""
    in_key = np.ones(d.sift.size, bool)
    in_key[d.sample] = False
    errors = int(np.count_nonzero(d.client[d.sample] != d.server[d.sample]))
    return d.sift.size, d.sample.size, errors, d.client[in_key], d.server[in_key]


@pytest.mark.parametrize("pair", PAIRS[1:], ids=lambda p: str(p.coefficients.round(3).tolist()))
@pytest.mark.parametrize(
    ("n_pairs", "fraction"), [(1, 0.1), (9, 0.7), (12_345, 0.1), (300_001, 0.01)]
)
def test_unattacked_block_equals_the_general_draw(
    pair: BellDiagonalPair, n_pairs: int, fraction: float
) -> None:
    # the fast path of an unattacked block (packed bases, flips as positions, one pass for
    # both keys) makes the same generator calls as draw_block_pairs and keeps the same bits:
    # Werner and Bell-diagonal pairs, gap and digit Bernoulli samplers (F = 0.9 gives
    # QBER 6.7% > 5%), the three sample regimes, a pair count not a multiple of 8
    none = np.zeros(n_pairs, np.uint8)
    for seed in range(2):
        got = _measure_pairs(pair, none, fraction, rng=np.random.default_rng(seed))
        want = _reduced(draw_block_pairs(pair, none, fraction, rng=np.random.default_rng(seed)))
        assert isinstance(got, SiftedKey)
        assert (got.n_sifted, got.n_sample, got.sample_errors) == want[:3]
        np.testing.assert_array_equal(got.alice, want[3])
        np.testing.assert_array_equal(got.bob, want[4])
        assert got.alice.dtype == got.bob.dtype == np.uint8 and not got.eve.any()
        assert got.eve.size == got.alice.size
