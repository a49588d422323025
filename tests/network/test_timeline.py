"""The round timeline and per-client links against closed forms: K = 1 sums, K >= N takes
the maximum, heralded rate eta R, coherence exp(-t/T2) averaged over a batch, chained
visibilities multiply."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.network.fleet import RepeaterRule, client_links, draw_distances
from qtfl.network.link import FiberLink
from qtfl.network.timeline import (
    ServerResources,
    effective_wait,
    mean_coherence,
    schedule_round,
)
from qtfl.quantum.noise import WernerPair


def _det(channels: int, policy: str = "round-robin", **kw: float) -> ServerResources:
    return ServerResources(channels=channels, policy=policy, stochastic=False, **kw)


def test_one_channel_makespan_is_the_sum_and_enough_channels_give_the_max() -> None:
    pairs = np.array([100.0, 400.0, 250.0, 50.0])
    rate = np.array([10.0, 20.0, 5.0, 50.0])
    service = pairs / rate  # 10, 20, 50, 1 s
    one = schedule_round(pairs=pairs, pair_rate_hz=rate, resources=_det(1))
    assert one.makespan_s == pytest.approx(service.sum())
    assert one.utilisation == pytest.approx(1.0)
    many = schedule_round(pairs=pairs, pair_rate_hz=rate, resources=_det(4))
    assert many.makespan_s == pytest.approx(service.max())
    np.testing.assert_allclose(many.start_s, 0.0)
    assert schedule_round(pairs=pairs, pair_rate_hz=rate, resources=_det(9)).makespan_s == (
        pytest.approx(service.max())
    )


def test_identical_links_on_k_channels_finish_in_ceil_n_over_k_waves() -> None:
    for n, k in [(10, 3), (16, 4), (7, 7), (100, 8)]:
        t = schedule_round(pairs=np.full(n, 30.0), pair_rate_hz=3.0, resources=_det(k))
        assert t.makespan_s == pytest.approx(math.ceil(n / k) * 10.0)
        assert t.utilisation == pytest.approx(n / (k * math.ceil(n / k)))


def test_shortest_job_first_minimises_mean_completion_on_one_channel() -> None:
    rng = np.random.default_rng(0)
    pairs = rng.integers(1, 1000, 30).astype(float)
    sjf = schedule_round(pairs=pairs, pair_rate_hz=1.0, resources=_det(1, "shortest-job-first"))
    rr = schedule_round(pairs=pairs, pair_rate_hz=1.0, resources=_det(1))
    assert sjf.makespan_s == pytest.approx(rr.makespan_s)  # same total work
    assert sjf.end_s.mean() < rr.end_s.mean()
    # Smith's rule: SPT order is optimal; its mean completion is the sorted prefix-sum mean
    assert sjf.end_s.mean() == pytest.approx(np.cumsum(np.sort(pairs)).mean())


def test_fidelity_aware_serves_fragile_links_first_and_deadline_marks_stragglers() -> None:
    t = schedule_round(
        pairs=[10.0, 10.0, 10.0], pair_rate_hz=1.0, fidelity=[0.99, 0.9, 0.95],
        resources=_det(1, "fidelity-aware", deadline_s=25.0), latency_s=1.0,
    )  # fmt: skip
    np.testing.assert_allclose(t.start_s, [20.0, 0.0, 10.0])
    np.testing.assert_allclose(t.delivered_at_s, [31.0, 11.0, 21.0])
    np.testing.assert_array_equal(t.stragglers, [True, False, False])
    with pytest.raises(InputError, match="fidelity"):
        schedule_round(pairs=[1.0], pair_rate_hz=1.0, resources=_det(1, "fidelity-aware"))


def test_stochastic_heralding_has_mean_n_over_rate() -> None:
    rng = np.random.default_rng(1)
    n, rate = 200.0, 50.0
    t = schedule_round(
        pairs=np.full(20_000, n), pair_rate_hz=rate,
        resources=ServerResources(channels=20_000), rng=rng,
    )  # fmt: skip
    # Gamma(n, 1/rate): mean n/rate = 4 s, sd sqrt(n)/rate; 4 sigma on the sample mean
    sd = math.sqrt(n) / rate / math.sqrt(20_000)
    assert abs(t.service_s.mean() - n / rate) < 4 * sd


def test_mean_coherence_matches_uniform_waits_and_feeds_the_checks() -> None:
    t2, d = 2.0, 3.0
    rng = np.random.default_rng(2)
    waits = rng.uniform(0.0, d, 400_000)  # pairs heralded uniformly, all used at the end
    mc = np.exp(-waits / t2).mean()
    sd = np.exp(-waits / t2).std() / math.sqrt(waits.size)
    assert abs(mean_coherence([d], t2)[0] - mc) < 4 * sd
    assert mean_coherence([d], t2)[0] == pytest.approx(t2 / d * (1 - math.exp(-d / t2)))
    # the batch = one pair dephased for the effective wait: X errors grow, Z errors do not
    pair = WernerPair(0.97)
    w = float(effective_wait([d], t2)[0])
    batch = pair.dephase(wait_s=w, t2_s=t2)
    per_pair_qx = np.mean([pair.dephase(wait_s=x, t2_s=t2).qber_x for x in waits[:4000]])
    assert batch.qber_x == pytest.approx(per_pair_qx, abs=4 * 0.5 * sd + 2e-3)
    assert batch.qber_z == pytest.approx(pair.qber_z)
    assert batch.qber_x > pair.qber_x
    assert effective_wait([d], None)[0] == 0.0


def test_heralded_rate_is_eta_r_and_repeaters_multiply_visibilities() -> None:
    template = FiberLink(distance_km=0.0, source_rate_hz=1e6, source_fidelity=0.98)
    rule = RepeaterRule(spacing_km=25.0)
    links = client_links(template, [10.0, 50.0, 100.0], repeaters=rule)
    assert [x.segments for x in links] == [1, 2, 4]
    eta = 10 ** (-0.2 * 10.0 / 10)
    assert links[0].pair_rate_hz == pytest.approx(1e6 * eta)
    v = (4 * 0.98 - 1) / 3  # each 25 km segment delivers the source's Werner pair
    for link, n in zip(links[1:], (2, 4), strict=True):
        assert (4 * link.fidelity - 1) / 3 == pytest.approx(v**n)
    assert RepeaterRule(spacing_km=25.0, purification_rounds=1).segments(60.0) == 4
    with pytest.raises(InputError, match="segments"):
        RepeaterRule(spacing_km=1.0).segments(100.0)


def test_distances_drawn_with_the_seed() -> None:
    a = draw_distances(100, low_km=5.0, high_km=100.0, rng=np.random.default_rng(3))
    b = draw_distances(100, low_km=5.0, high_km=100.0, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 5.0 and a.max() <= 100.0


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="channels"):
        ServerResources(channels=0)
    with pytest.raises(InputError, match="policy"):
        ServerResources(policy="lottery")
    with pytest.raises(InputError, match="pair_rate_hz"):
        schedule_round(pairs=[1.0], pair_rate_hz=0.0, resources=_det(1))
    with pytest.raises(InputError, match="rng"):
        schedule_round(pairs=[1.0], pair_rate_hz=1.0, resources=ServerResources())
