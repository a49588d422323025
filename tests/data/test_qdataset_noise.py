"""QDataSet noise profiles against their definitions (fixed seeds, stated confidence).

Per-bin checks use the standard error of the sample mean over R realisations and accept
|z| < 5 on every bin (with ~500 bins, a 5-sigma excursion has probability < 3e-4 by chance).
"""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.data._qdataset_noise import (
    GAIN_N2,
    GAIN_N3,
    GAIN_N4,
    GAIN_N6,
    draw_noise,
    envelope,
    expected_periodogram,
    psd,
)

M = 1024
R = 2000


def _periodogram(profile: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    beta = draw_noise((profile,), realisations=R, time_steps=M, rng=np.random.default_rng(seed))
    p = np.abs(np.fft.fft(beta[..., 0], axis=1)[:, : M // 2]) ** 2
    return p.mean(axis=0), p.std(axis=0, ddof=1) / np.sqrt(R)


@pytest.mark.parametrize("profile", [1, 5])
def test_spectral_profiles_match_their_psd(profile: int) -> None:
    mean, sem = _periodogram(profile, seed=profile)
    expected = expected_periodogram(profile, M)
    z = (mean[1:] - expected[1:]) / sem[1:]
    assert np.abs(z).max() < 5
    # the expected periodogram is the defined PSD averaged over neighbouring bins
    f = np.arange(1, M // 2)
    s = psd(profile, f) * M * M  # S(f) M / Ts with T = 1
    np.testing.assert_allclose(expected[1:], (s + psd(profile, f - 1) * M * M) / 4)


def test_n5_has_a_one_over_f_slope() -> None:
    mean, _ = _periodogram(5, seed=50)
    f = np.arange(M // 2)
    band = (f >= 20) & (f <= 500)
    slope = np.polyfit(np.log(f[band]), np.log(mean[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)


def test_n1_is_flat_beyond_15_with_a_bump_at_30() -> None:
    mean, _ = _periodogram(1, seed=10)
    f = np.arange(M // 2)
    flat = mean[(f >= 100) & (f <= 500)]
    bump = mean[29:32].mean()
    # PSD 1/16 beyond f = 15 (plus the bump 1/2 at f = 30): ratios 1 and (1/16 + 1/2)/(1/16) = 9
    slope = np.polyfit(np.log(f[100:501]), np.log(flat), 1)[0]
    assert abs(slope) < 0.05
    assert bump / flat.mean() == pytest.approx(9.0, rel=0.1)


def test_n2_is_stationary_with_the_moving_sum_spectrum() -> None:
    beta = draw_noise((2,), realisations=R, time_steps=M, rng=np.random.default_rng(2))[..., 0]
    n = M // 4
    var = beta.var(axis=0)
    # Var of a sum of n unit normals times g: g^2 n at every time (sd of the variance
    # estimate is sqrt(2/R) relative; 5 sigma = 16%)
    np.testing.assert_allclose(var, GAIN_N2**2 * n, rtol=5 * np.sqrt(2 / R))
    lag = 64
    cov = np.mean(beta[:, :-lag] * beta[:, lag:])
    assert cov == pytest.approx(GAIN_N2**2 * (n - lag), rel=0.05)


def test_n3_follows_the_triangle_envelope_and_n4_is_its_square() -> None:
    rng = np.random.default_rng(3)
    b3 = draw_noise((3,), realisations=R, time_steps=M, rng=rng)[..., 0]
    b4 = draw_noise((4,), realisations=R, time_steps=M, rng=rng)[..., 0]
    env = envelope(M)
    n = M // 4
    mid = slice(M // 8, M - M // 8)  # away from the ends where the envelope vanishes
    ratio = b3.var(axis=0)[mid] / (GAIN_N3**2 * n * env[mid] ** 2)
    np.testing.assert_allclose(ratio, 1.0, rtol=5 * np.sqrt(2 / R))
    assert np.all(b4 >= 0)
    # E[0.01 (e s)^2] = 0.01 n e^2; sd of the mean (chi-square with 1 dof) sqrt(2/R) relative
    np.testing.assert_allclose(
        b4.mean(axis=0)[mid] / (GAIN_N4 * n * env[mid] ** 2), 1.0, rtol=5 * np.sqrt(2 / R)
    )
    skew = ((b4 - b4.mean(0)) ** 3).mean(0)[mid] / b4.std(0)[mid] ** 3
    assert skew.mean() == pytest.approx(2 * np.sqrt(2), rel=0.1)  # chi-square(1) skewness


def test_n6_is_the_square_of_the_previous_axis() -> None:
    beta = draw_noise((1, 6), realisations=5, time_steps=M, rng=np.random.default_rng(6))
    np.testing.assert_allclose(beta[..., 1], GAIN_N6 * beta[..., 0] ** 2)
    zero = draw_noise((0,), realisations=3, time_steps=M, rng=np.random.default_rng(0))
    assert not np.any(zero)
