"""The round loop: sampling, dropouts, aborted deliveries, ledgers, evaluation, state."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from qtfl.channel import PlainChannel
from qtfl.errors import InputError
from qtfl.fl.engine import FederatedSimulation, RoundMetrics, SimulationSettings
from qtfl.fl.strategies import FedAdam
from tests.fl.helpers import AbortingChannel, RecordingChannel, make_sim


def test_training_improves_accuracy_and_vmap_equals_loop() -> None:
    runs = {}
    for backend in ("vmap", "loop"):
        sim = make_sim(backend=backend, rounds=5)
        first = sim.evaluate()[0]
        for _ in range(5):
            sim.run_round()
        runs[backend] = sim
        assert sim.history[-1].accuracy is not None
        assert sim.history[-1].accuracy > max(first, 0.9)
    np.testing.assert_allclose(
        runs["vmap"].global_params, runs["loop"].global_params, rtol=1e-4, atol=1e-5
    )


def test_fraction_samples_distinct_clients_each_round() -> None:
    sim = make_sim(sizes=[10] * 10, fraction=0.3, rounds=4)
    for _ in range(4):
        rec = sim.run_round()
        assert rec.sampled == 3 and rec.answered == 3 and rec.aggregated == 3
        # plain downlink: one float32 model per sampled client
        assert rec.downlink["payload_bits"] == 3 * 32 * sim.layout.size


def test_dropped_clients_do_not_answer() -> None:
    sim = make_sim(sizes=[10] * 10, dropout_probability=0.5, rounds=6)
    recs = [sim.run_round() for _ in range(6)]
    dropped = sum(r.dropped for r in recs)
    # 60 Bernoulli(0.5) draws: 30 +- 4 sigma (sigma = sqrt(60/4) ~ 3.9)
    assert 14 <= dropped <= 46
    for r in recs:
        assert r.answered == r.sampled - r.dropped == r.aggregated
        assert r.uplink["payload_bits"] == r.answered * 32 * sim.layout.size


def test_aborted_uplinks_are_counted_and_not_aggregated() -> None:
    bad = AbortingChannel(detected=True)
    ups = [RecordingChannel() for _ in range(6)]
    sim = make_sim(uplink=[bad if k in (1, 4) else ups[k] for k in range(6)], rounds=2)
    before = sim.global_params.copy()
    rec = sim.run_round()
    assert (rec.sampled, rec.answered, rec.aborted, rec.detected, rec.aggregated) == (6, 6, 2, 2, 4)
    assert bad.calls == 2
    # the new model is FedAvg over the four accepted updates only (equal sizes: plain mean)
    accepted = np.stack([ups[k].sent[0] for k in (0, 2, 3, 5)])
    np.testing.assert_allclose(sim.global_params, before + accepted.mean(axis=0), atol=1e-6)


def test_all_aborted_leaves_the_model_and_server_state_unchanged() -> None:
    sim = make_sim(uplink=AbortingChannel(detected=False), strategy=FedAdam(), rounds=2)
    before = sim.global_params.copy()
    rec = sim.run_round()
    assert (rec.aborted, rec.detected, rec.aggregated) == (6, 0, 0)
    np.testing.assert_array_equal(sim.global_params, before)
    assert sim.strategy.state_dict() == {}


def test_aborted_downlink_means_the_client_cannot_train() -> None:
    down = [AbortingChannel() if k == 0 else PlainChannel() for k in range(6)]
    sim = make_sim(downlink=down, rounds=1)
    rec = sim.run_round()
    assert (rec.sampled, rec.answered, rec.aborted, rec.detected) == (6, 5, 1, 1)
    assert rec.uplink["payload_bits"] == 5 * 32 * sim.layout.size


def test_link_seconds_are_max_over_clients_and_sum() -> None:
    # client k: downlink latency k s, uplink latency 10 k s -> per client 11 k seconds
    down = [PlainChannel(latency_s=float(k)) for k in range(6)]
    up = [PlainChannel(latency_s=10.0 * k) for k in range(6)]
    sim = make_sim(uplink=up, downlink=down, rounds=1)
    rec = sim.run_round()
    assert rec.link_seconds == pytest.approx(55.0)
    assert rec.link_seconds_total == pytest.approx(11.0 * sum(range(6)))
    assert rec.uplink["link_seconds"] == pytest.approx(10.0 * 15)


def test_evaluation_every_k_rounds_and_always_the_last() -> None:
    sim = make_sim(eval_every=2, rounds=5)
    recs = [sim.run_round() for _ in range(5)]
    assert [r.accuracy is not None for r in recs] == [False, True, False, True, True]
    with pytest.raises(RuntimeError, match="all 5 rounds are done"):
        sim.run_round()


def test_restored_state_continues_bit_identically() -> None:
    def fresh() -> FederatedSimulation:
        return make_sim(
            sizes=[10] * 8, strategy=FedAdam(), fraction=0.5, dropout_probability=0.2, rounds=6
        )

    full = fresh()
    for _ in range(6):
        full.run_round()
    part = fresh()
    for _ in range(3):
        part.run_round()
    state = part.state()
    resumed = fresh()
    resumed.restore(state)
    for _ in range(3):
        resumed.run_round()
    assert resumed.global_params.tobytes() == full.global_params.tobytes()

    def no_clock(sim: FederatedSimulation) -> list[dict]:
        return [{**r.as_dict(), "wall_seconds": 0, "train_seconds": 0} for r in sim.history]

    assert no_clock(resumed) == no_clock(full)


def test_metrics_record_round_trips_through_a_dict() -> None:
    rec = make_sim(rounds=1).run_round()
    assert RoundMetrics.from_dict(rec.as_dict()) == rec


def test_bad_settings_and_backend() -> None:
    with pytest.raises(InputError, match=r"training.fraction must be in \(0, 1\], got 0"):
        SimulationSettings(rounds=1, fraction=0.0)
    with pytest.raises(InputError, match=r"training.rounds must be an integer in \[1, inf\]"):
        SimulationSettings(rounds=0)
    dropout_model = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(16, 4))
    with pytest.raises(InputError, match="backend 'vmap' needs a model without"):
        make_sim(model=dropout_model, backend="vmap")
    sim = make_sim(model=nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(16, 4)))
    assert sim.backend == "loop"
    with pytest.raises(InputError, match="uplink needs one channel per client"):
        make_sim(uplink=[PlainChannel()])


def test_engine_source_names_no_concrete_channel() -> None:
    import inspect

    import qtfl.fl.engine as engine

    src = inspect.getsource(engine)
    for word in ("PlainChannel", "teleport", "Teleport", "qkd", "isinstance(d"):
        assert word not in src
