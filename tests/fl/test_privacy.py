"""DP-FedAvg and secure aggregation post-processors (qtfl.fl.privacy)."""

from __future__ import annotations

import numpy as np
import pytest
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from scipy import stats

from qtfl.errors import InputError
from qtfl.fl.privacy import (
    DPFedAvg,
    DPSettings,
    RoundContext,
    SecureAggregation,
    clip_update,
    dp_epsilon,
    make_postprocessors,
)
from tests.fl.helpers import blobs, client_split, small_model


def _ctx(cohort: list[int], weights: list[float] | None = None, seed: int = 0) -> RoundContext:
    w = np.ones(len(cohort)) if weights is None else np.asarray(weights, np.float64)
    return RoundContext(
        round=1,
        cohort=np.asarray(cohort, np.int64),
        cohort_weights=w,
        rng=np.random.default_rng(seed),
    )


def test_clipping_bounds_the_norm_and_keeps_small_updates() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(0, 5.0, 1000).astype(np.float32)
    small = (big / np.linalg.norm(big) * 0.5).astype(np.float32)
    clipped = clip_update(big, clip_norm=1.0)
    assert np.linalg.norm(clipped.astype(np.float64)) == pytest.approx(1.0, rel=1e-6)
    # direction kept
    assert np.dot(clipped, big) / (np.linalg.norm(clipped) * np.linalg.norm(big)) > 1 - 1e-6
    np.testing.assert_array_equal(clip_update(small, clip_norm=1.0), small)


def test_epsilon_matches_opacus_rdp_analysis() -> None:
    q, sigma, steps, delta = 0.1, 1.1, 300, 1e-5
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    rdp = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders)
    expected, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    got = dp_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta)
    assert got == pytest.approx(expected, rel=1e-9)
    # more noise or fewer steps never costs more privacy
    assert dp_epsilon(noise_multiplier=2 * sigma, sample_rate=q, steps=steps) < got
    assert dp_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps // 2) < got
    assert dp_epsilon(noise_multiplier=0.0, sample_rate=q, steps=steps) == float("inf")


def test_client_placement_noise_scale_is_sigma_times_c() -> None:
    # std of n Gaussian draws has standard error sigma/sqrt(2n); check within 4 SE
    dp = DPFedAvg(DPSettings(clip_norm=0.5, noise_multiplier=2.0, placement="client"))
    n = 40_000
    out, w = dp.postprocess_one_user(
        np.zeros(n, np.float32), client=0, weight=3.0, context=_ctx([0], seed=1)
    )
    assert w == 3.0
    expected = 2.0 * 0.5
    assert abs(float(np.std(out)) - expected) < 4 * expected / np.sqrt(2 * n)


def test_server_placement_adds_noise_once_scaled_by_the_largest_share() -> None:
    dp = DPFedAvg(DPSettings(clip_norm=1.0, noise_multiplier=1.5, placement="server"))
    n = 40_000
    updates = np.zeros((4, n), np.float32)
    weights = np.array([1.0, 1.0, 1.0, 2.0])
    out, w = dp.postprocess_server(
        updates, weights, clients=np.arange(4), context=_ctx([0, 1, 2, 3], seed=2)
    )
    assert out.shape == (1, n) and w.tolist() == [1.0]
    expected = 1.5 * 1.0 * (2.0 / 5.0)
    assert abs(float(np.std(out)) - expected) < 4 * expected / np.sqrt(2 * n)


def test_masks_cancel_exactly_and_the_sum_is_the_weighted_mean() -> None:
    rng = np.random.default_rng(3)
    m, p = 10, 5000
    updates = rng.normal(0, 0.05, (m, p)).astype(np.float32)
    weights = rng.integers(10, 50, m).astype(np.float64)
    sa = SecureAggregation(max_abs=1.0, mask_key=bytes([7]) * 32)
    ctx = _ctx(list(range(m)), list(weights))
    masked = np.stack(
        [
            sa.postprocess_one_user(updates[k], client=k, weight=weights[k], context=ctx)[0]
            for k in range(m)
        ]
    )
    # exact cancellation: the masked sum equals the sum of the unmasked codes, integer for integer
    codes = sum(
        sa.encode(updates[k], share=weights[k] / weights.sum(), cohort_size=m) for k in range(m)
    )
    total = sa.unmask_sum(masked, survivors=np.arange(m), cohort=np.arange(m), round_=1)
    np.testing.assert_array_equal(total, codes % (1 << 24))
    agg, w = sa.postprocess_server(masked, weights, clients=np.arange(m), context=ctx)
    mean = (weights / weights.sum()) @ updates.astype(np.float64)
    # rounding: at most 1/2 code per client, plus float32 output rounding
    bound = m * 0.5 / sa.scale(m) + 1e-7
    assert np.max(np.abs(agg[0] - mean)) <= bound
    assert w.tolist() == [1.0]


def test_dropped_clients_masks_are_removed() -> None:
    rng = np.random.default_rng(4)
    m, p = 10, 2000
    updates = rng.normal(0, 0.05, (m, p)).astype(np.float32)
    weights = np.ones(m)
    sa = SecureAggregation(max_abs=1.0, mask_key=bytes([1]) * 32)
    ctx = _ctx(list(range(m)))
    alive = np.array([0, 1, 2, 4, 5, 7, 9])
    masked = np.stack(
        [sa.postprocess_one_user(updates[k], client=k, weight=1.0, context=ctx)[0] for k in alive]
    )
    agg, _ = sa.postprocess_server(masked, weights[alive], clients=alive, context=ctx)
    mean = updates[alive].astype(np.float64).mean(axis=0)
    assert np.max(np.abs(agg[0] - mean)) <= m * 0.5 / sa.scale(m) * m / alive.size + 1e-7


def test_each_masked_update_looks_uniform() -> None:
    # chi-square of the masked values in 64 equal bins of [0, 2^24): p-value above 1e-3
    sa = SecureAggregation(max_abs=1.0, mask_key=bytes([5]) * 32)
    update = np.full(20_000, 0.3, np.float32)  # a constant update: maximally structured
    masked, _ = sa.postprocess_one_user(update, client=2, weight=1.0, context=_ctx([0, 1, 2, 3]))
    assert np.all(masked == np.rint(masked)) and masked.min() >= 0 and masked.max() < 2**24
    counts = np.bincount((masked.astype(np.int64) >> 18), minlength=64)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_engine_with_secure_aggregation_matches_plain_fedavg() -> None:
    import torch

    from qtfl.channel import PlainChannel
    from qtfl.fl.client import LocalTraining
    from qtfl.fl.engine import FederatedSimulation, SimulationSettings
    from qtfl.fl.strategies import FedAvg

    sizes = [15, 20, 25, 30]
    x, y = blobs(sum(sizes), seed=1)
    xt, yt = blobs(100, seed=2)
    torch.set_num_threads(1)

    def run(post: list) -> np.ndarray:  # type: ignore[type-arg]
        sim = FederatedSimulation(
            model=small_model(),
            x_train=x,
            y_train=y,
            x_test=xt,
            y_test=yt,
            client_indices=client_split(sizes),
            strategy=FedAvg(),
            uplink=PlainChannel(),
            downlink=PlainChannel(),
            training=LocalTraining(local_epochs=1, batch_size=5, lr=0.1),
            settings=SimulationSettings(rounds=1, backend="loop"),
            seed=0,
            postprocessors=post,
        )
        sim.run_round()
        return sim.global_params

    plain = run([])
    masked = run(make_postprocessors(dp=None, secure_aggregation=True, max_abs=4.0))
    # per-coordinate error: 4 clients x 1/2 code / scale, plus float32 rounding of the sum
    sa = SecureAggregation(max_abs=4.0)
    assert np.max(np.abs(plain - masked)) <= 4 * 0.5 / sa.scale(4) + 1e-6 * np.abs(plain).max()
    noisy = run(make_postprocessors(dp=DPSettings(noise_multiplier=1.0), secure_aggregation=False))
    assert np.max(np.abs(noisy - plain)) > 1e-3


def test_dp_server_placement_with_masking_is_refused() -> None:
    with pytest.raises(InputError, match="placement"):
        make_postprocessors(dp=DPSettings(placement="server"), secure_aggregation=True)
    with pytest.raises(InputError, match=r"dp\.clip_norm"):
        DPSettings(clip_norm=0.0)


def test_dp_noise_comes_from_the_run_secret_not_the_seed() -> None:
    settings = DPSettings(clip_norm=1.0, noise_multiplier=1.0, placement="client")

    def noise(mask_key: bytes, context_seed: int) -> np.ndarray:
        (dp,) = make_postprocessors(dp=settings, secure_aggregation=False, mask_key=mask_key)
        out, _ = dp.postprocess_one_user(
            np.zeros(64, np.float32), client=0, weight=1.0, context=_ctx([0], seed=context_seed)
        )
        return out

    a = noise(b"\x01" * 32, context_seed=5)
    np.testing.assert_array_equal(a, noise(b"\x01" * 32, context_seed=6))  # seed plays no part
    assert not np.array_equal(a, noise(b"\x02" * 32, context_seed=5))  # the secret does
