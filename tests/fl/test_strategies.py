"""Every strategy against a hand-computed aggregate; robust ones against a planted outlier."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.fl.strategies import (
    STRATEGIES,
    FedAdam,
    FedAvg,
    FedProx,
    FedYogi,
    coordinate_median,
    fedavg,
    krum,
    krum_scores,
    make_strategy,
    trimmed_mean,
)


def f32(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def test_fedavg_is_the_sample_weighted_mean() -> None:
    # (1*1 + 1*3 + 2*5)/4 = 3.5 ; (1*2 + 1*4 + 2*6)/4 = 4.5
    got = fedavg(f32([[1, 2], [3, 4], [5, 6]]), np.array([1, 1, 2]))
    np.testing.assert_allclose(got, [3.5, 4.5], rtol=1e-6)
    assert got.dtype == np.float32


def test_fedavg_server_step_and_lr() -> None:
    params = f32([1.0, 1.0])
    ups = f32([[2, 0], [0, 2]])
    w = np.array([3.0, 1.0])
    # aggregate (1.5, 0.5); server_lr 0.5 -> params + (0.75, 0.25)
    np.testing.assert_allclose(FedAvg().step(params, ups, w), [2.5, 1.5], rtol=1e-6)
    np.testing.assert_allclose(FedAvg(server_lr=0.5).step(params, ups, w), [1.75, 1.25])


def test_no_accepted_update_leaves_the_model_unchanged() -> None:
    params = f32([1.0, 2.0])
    empty = np.zeros((0, 2), np.float32)
    for name in STRATEGIES:
        s = make_strategy(name)
        np.testing.assert_array_equal(s.step(params, empty, np.zeros(0)), params)
        assert s.state_dict() == {}


def test_fedprox_aggregates_like_fedavg_and_exposes_mu() -> None:
    ups, w = f32([[1, 2], [3, 4]]), np.array([1.0, 3.0])
    np.testing.assert_array_equal(FedProx(mu=0.1).aggregate(ups, w), FedAvg().aggregate(ups, w))
    assert FedProx(mu=0.1).proximal_mu == 0.1
    assert FedAvg().proximal_mu == 0.0


def test_median_odd_and_even() -> None:
    np.testing.assert_array_equal(coordinate_median(f32([[1, 10], [2, 20], [100, -5]])), [2, 10])
    np.testing.assert_array_equal(coordinate_median(f32([[1], [2], [3], [100]])), [2.5])


def test_trimmed_mean_drops_floor_beta_n_each_side() -> None:
    x = f32([[4, 1], [1, 2], [100, 3], [2, 4], [3, -50]])
    # beta 0.2, n 5 -> drop 1 each side: col0 {2,3,4} -> 3 ; col1 {1,2,3} -> 2
    np.testing.assert_allclose(trimmed_mean(x, beta=0.2), [3.0, 2.0])
    # beta 0.1 -> floor(0.5) = 0 -> plain mean
    np.testing.assert_allclose(trimmed_mean(x, beta=0.1), x.mean(axis=0), rtol=1e-6)


def test_krum_scores_and_selection_by_hand() -> None:
    x = f32([[0, 0], [1, 0], [0, 2], [10, 10]])
    # f=0, n=4 -> 2 nearest; d01=1 d02=4 d12=5 d03=200 d13=181 d23=164
    np.testing.assert_allclose(krum_scores(x, f=0), [5, 6, 9, 345])
    np.testing.assert_array_equal(krum(x, np.ones(4), f=0), [0, 0])
    # Multi-Krum m=2 keeps rows 0 and 1, weighted 1:3 -> (0.75, 0)
    np.testing.assert_allclose(krum(x, np.array([1.0, 3, 1, 1]), f=0, m=2), [0.75, 0])


def test_fedadam_first_two_steps_by_hand() -> None:
    d1 = np.array([0.1, -0.2])
    d2 = np.array([0.3, 0.0])
    eta, b1, b2, tau = 0.01, 0.9, 0.99, 1e-3
    m1 = (1 - b1) * d1
    v1 = b2 * tau**2 + (1 - b2) * d1**2
    x1 = eta * m1 / (np.sqrt(v1) + tau)
    m2 = b1 * m1 + (1 - b1) * d2
    v2 = b2 * v1 + (1 - b2) * d2**2
    x2 = x1 + eta * m2 / (np.sqrt(v2) + tau)
    s = FedAdam()
    p = s.step(f32([0, 0]), f32([d1]), np.ones(1))
    np.testing.assert_allclose(p, x1, rtol=1e-5)
    p = s.step(p, f32([d2]), np.ones(1))
    np.testing.assert_allclose(p, x2, rtol=1e-5)


def test_fedyogi_first_two_steps_by_hand() -> None:
    d1 = np.array([0.1, -0.2])
    d2 = np.array([0.0, 0.001])
    eta, b1, b2, tau = 0.01, 0.9, 0.99, 1e-3
    m1 = (1 - b1) * d1
    v1 = tau**2 - (1 - b2) * d1**2 * np.sign(tau**2 - d1**2)
    x1 = eta * m1 / (np.sqrt(v1) + tau)
    m2 = b1 * m1 + (1 - b1) * d2
    v2 = v1 - (1 - b2) * d2**2 * np.sign(v1 - d2**2)
    x2 = x1 + eta * m2 / (np.sqrt(v2) + tau)
    s = FedYogi()
    p = s.step(f32([0, 0]), f32([d1]), np.ones(1))
    p = s.step(p, f32([d2]), np.ones(1))
    np.testing.assert_allclose(p, x2, rtol=1e-5)
    # Yogi and Adam differ once v exceeds delta^2 (second step, first coordinate)
    a = FedAdam()
    q = a.step(f32([0, 0]), f32([d1]), np.ones(1))
    q = a.step(q, f32([d2]), np.ones(1))
    assert not np.allclose(p, q)


@pytest.mark.parametrize("cls", [FedAdam, FedYogi])
def test_adaptive_state_round_trips(cls: type[FedAdam]) -> None:
    rng = np.random.default_rng(0)
    ups = [rng.normal(size=(3, 5)).astype(np.float32) for _ in range(3)]
    w = np.ones(3)
    a, b = cls(), cls()
    pa = pb = np.zeros(5, np.float32)
    pa = a.step(pa, ups[0], w)
    b.load_state_dict(a.state_dict())
    pb = pa.copy()
    for u in ups[1:]:
        pa, pb = a.step(pa, u, w), b.step(pb, u, w)
    np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize(
    "name,params",
    [
        ("median", {}),
        ("trimmed-mean", {"beta": 0.2}),
        ("krum", {"f": 1}),
        ("multi-krum", {"f": 1, "m": 3}),
    ],
)
def test_robust_strategies_resist_a_planted_outlier(name: str, params: dict) -> None:
    rng = np.random.default_rng(7)
    honest = rng.normal(1.0, 0.1, size=(9, 50)).astype(np.float32)
    outlier = np.full((1, 50), 1000.0, np.float32)
    ups = np.vstack([honest, outlier])
    w = np.full(10, 60.0)
    w[-1] = 6000.0  # the attacker also claims a huge sample count
    robust = make_strategy(name, **params).aggregate(ups, w)
    naive = fedavg(ups, w)
    # honest mean 1 with per-client sd 0.1: every robust estimate stays within 0.5 of it
    assert np.abs(robust - 1.0).max() < 0.5
    assert np.abs(naive - 1.0).min() > 100.0


def test_make_strategy_rejects_unknown_names_and_params() -> None:
    with pytest.raises(InputError, match="unknown strategy 'fedsgd'; allowed: fedavg, fedprox"):
        make_strategy("fedsgd")
    with pytest.raises(InputError, match="unknown parameter 'mu' for strategy 'fedavg'"):
        make_strategy("fedavg", mu=0.1)
    with pytest.raises(InputError, match=r"strategy.beta must be in \[0, 0.5\)"):
        make_strategy("trimmed-mean", beta=0.5)
    with pytest.raises(InputError, match=r"strategy\.f must be an integer"):
        make_strategy("krum", f=1.5)
