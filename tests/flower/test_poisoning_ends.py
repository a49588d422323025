"""Poisoning adversaries on Flower against the in-process engine, on an in-memory Grid.

A malicious client's attack runs on the client node that serves it: model poisoning in the
node's post-processing before the uplink's sending end, data poisoning in the node's local
data. The server's strategy (``norm-bounding``, the median...) runs in the ServerApp. The
comparisons are bit for bit (accuracy, loss, ledgers, final parameters) and the backdoor's
attack success rate is computed from the Flower run's final parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.attacks.poisoning import Adversary, ModelPoisoning
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.runner import build_simulation, poisoning_summary, prepare_inputs
from qtfl.fl.privacy import RoundContext
from qtfl.flower.client import make_client_app
from qtfl.flower.job import SERVER, build_simulation_for
from qtfl.flower.run import flower_poisoning_summary
from qtfl.flower.server import serve
from tests.flower.inline import InlineGrid
from tests.flower.test_engines import SECRET, _inprocess, _job, _rows

TELEPORT = {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 16}


def _config(scenario: dict[str, Any], **training: Any) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 2,  # rounds where both attackers answer, and dropouts
            "data": {"name": "digits", "num_clients": 5},
            "training": {"rounds": 2, "local_epochs": 1, **training},
            "scenarios": [{"name": "s", **scenario}],
        }
    )


# Clients 1 and 2 are malicious: with two nodes, node 0 serves 0, 2, 4 and node 1 serves 1, 3,
# so the attackers sit on different nodes.
CASES = {
    "sign-flip": {"adversaries": [{"clients": [1, 2], "attack": "sign-flip", "scale": 4.0}]},
    "scaling-norm-bounding": {
        "adversaries": [{"clients": [1, 2], "attack": "scaling", "scale": 5.0}],
        "strategy": {"name": "norm-bounding", "params": {"clip_norm": 0.5}},
    },
    "gaussian-teleport": {
        "adversaries": [{"clients": [1, 2], "attack": "gaussian", "sigma": 0.3}],
        "uplink": TELEPORT,
    },
    "label-flip-median": {
        "adversaries": [{"clients": [1, 2], "attack": "label-flip"}],
        "strategy": {"name": "median"},
    },
    "backdoor": {
        "adversaries": [{"clients": [1, 2], "attack": "backdoor", "poison_fraction": 0.5}]
    },
    "alie-median-teleport": {  # colluders on different nodes pool through the relay
        "adversaries": [{"clients": [1, 2], "attack": "alie", "z": 3.0}],
        "strategy": {"name": "median"},
        "uplink": TELEPORT,
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_poisoning_on_flower_equals_in_process(tmp_path: Path, case: str) -> None:
    # Prepare: sampling and dropouts in play, so the attackers miss some rounds
    config = _config(CASES[case], fraction=0.8, dropout_probability=0.2)
    # Execute
    expected, params = _inprocess(config, "s")
    job = _job(config, "s", tmp_path, 2)
    got = serve(InlineGrid(make_client_app(lambda _ctx: job), 2), job)
    # Assert: every figure equal, accuracy and loss exactly; final parameters bit for bit
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), params)
    # both attackers (on different nodes) answered in a round, and not every client did
    assert any({1, 2} <= set(r.clients["client"]) for r in got)
    assert any(r.answered < 5 for r in got)
    # the attack mattered: the same run without adversaries ends elsewhere
    honest = _config({k: v for k, v in CASES[case].items() if k != "adversaries"},
                     fraction=0.8, dropout_probability=0.2)  # fmt: skip
    assert not np.array_equal(_inprocess(honest, "s")[1], params)


def test_backdoor_success_rate_of_a_flower_run_equals_in_process(tmp_path: Path) -> None:
    # Prepare: a backdoor run on both engines
    config = _config(CASES["backdoor"], rounds=3)
    sc = next(iter(config.resolved_scenarios()))
    sim = build_simulation(config, prepare_inputs(config), sc, secrets=SECRET)
    for _ in range(3):
        sim.run_round()
    job = _job(config, "s", tmp_path, 2)
    serve(InlineGrid(make_client_app(lambda _ctx: job), 2), job)
    # Execute: the summary from the Flower run's final parameters, and in process
    got = flower_poisoning_summary(config, sc, np.load(tmp_path / "s.npy"))
    expected = poisoning_summary(sc, sim, prepare_inputs(config).dataset)
    # Assert: the same adversaries and the same attack success rate, a real rate in [0, 1]
    assert got == expected
    assert got["malicious_clients"] == [1, 2]
    assert got["attack_success_rate"] is not None and 0.0 <= got["attack_success_rate"] <= 1.0


def test_client_node_holds_the_poisoned_data_of_its_clients(tmp_path: Path) -> None:
    # Prepare: a label-flip on client 1, served by node 1
    config = _config({"adversaries": [{"clients": [1], "attack": "label-flip"}]})
    clean = _config({})
    honest = build_simulation(clean, prepare_inputs(clean), clean.resolved_scenarios()[0])
    job = _job(config, "s", tmp_path, 2)
    # Execute
    node = build_simulation_for(job, party="node-1")
    # Assert: client 1 trains on flipped labels (C - 1 - y), client 3 on its own
    flipped = node.y_train[node.client_indices[1]].numpy()
    original = honest.y_train[honest.client_indices[1]].numpy()
    np.testing.assert_array_equal(flipped, 9 - original)
    np.testing.assert_array_equal(
        node.y_train[node.client_indices[3]].numpy(),
        honest.y_train[honest.client_indices[3]].numpy(),
    )
    assert build_simulation_for(job, party=SERVER).strategy.name == "fedavg"


def test_keyed_gaussian_noise_does_not_depend_on_order() -> None:
    # Prepare: two gaussian attackers, the noise keyed by (round, client)
    adv = [Adversary(clients=(1, 2), attack="gaussian", sigma=2.0)]
    seed = np.random.SeedSequence(11, spawn_key=(4_001,))
    ctx = RoundContext(
        round=3, cohort=np.arange(4), cohort_weights=np.ones(4), rng=np.random.default_rng(0)
    )
    u = np.zeros(1000, np.float32)

    def noise(order: list[int]) -> dict[int, np.ndarray]:
        post = ModelPoisoning(adv, rng=np.random.default_rng(0), noise_seed=seed)
        return {k: post.postprocess_one_user(u, client=k, weight=1, context=ctx)[0] for k in order}

    # Execute
    forward, backward = noise([1, 2]), noise([2, 1])
    # Assert: same noise per client in either order, different between clients and rounds
    for k in (1, 2):
        np.testing.assert_array_equal(forward[k], backward[k])
    assert not np.array_equal(forward[1], forward[2])
    later = ModelPoisoning(adv, rng=np.random.default_rng(0), noise_seed=seed)
    ctx4 = RoundContext(
        round=4, cohort=np.arange(4), cohort_weights=np.ones(4), rng=np.random.default_rng(0)
    )
    assert not np.array_equal(
        later.postprocess_one_user(u, client=1, weight=1, context=ctx4)[0], forward[1]
    )
    # sample std of 1000 N(0, 4) draws: standard error 2 / sqrt(2000) ~ 0.045; 5 sigma
    assert abs(float(forward[1].std()) - 2.0) < 5 * 2.0 / np.sqrt(2000)


def test_alie_colluders_pool_through_the_relay_per_chunk_as_in_process(tmp_path: Path) -> None:
    # Prepare: three colluders (1 on node 1; 2, 4 on node 0), chunks of 3 sampled clients, so
    # each chunk pools only its own colluders, and z from the chunk's size (alie_z)
    from qtfl.flower.collusion import COLLUDE, POOL, POOL_TYPE

    config = _config(
        {"adversaries": [{"clients": [1, 2, 4], "attack": "alie"}]}, client_chunk=3,
        dropout_probability=0.2,
    )  # fmt: skip
    expected, params = _inprocess(config, "s")
    job = _job(config, "s", tmp_path, 2)
    grid = InlineGrid(make_client_app(lambda _ctx: job), 2)
    # Execute
    got = serve(grid, job)
    # Assert: bit for bit; the colluders' first replies held their honest updates only
    # (no wire), and each relay message carried the pool of the colluder's own chunk
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), params)
    first = [r for r in grid.replies if COLLUDE in r.content.array_records]
    assert first and all("wire" not in r.content.array_records for r in first)
    pools = [m for m in grid.sent if m.metadata.message_type == POOL_TYPE]
    assert pools
    for m in pools:
        members = m.content.array_records[POOL]["clients"].numpy().tolist()
        assert int(str(m.content.config_records["qtfl"]["client"])) in members
        assert set(members) <= {1, 2, 4} and len(members) <= 3
    assert any(len(m.content.array_records[POOL]["clients"].numpy()) == 2 for m in pools)
    # the relay is no part of aggregation: what the server aggregated came through uplinks
    wires = [r for r in grid.replies if "wire" in r.content.array_records]
    assert sum(r.aggregated for r in got) == len(wires)


def test_alie_from_a_pool_equals_the_cohort_hook() -> None:
    # Prepare: three colluders among five clients training together
    poisoner = ModelPoisoning([Adversary(clients=(0, 2, 3), attack="alie")],
                              rng=np.random.default_rng(0))  # fmt: skip
    updates = np.random.default_rng(1).normal(0, 1, (5, 40)).astype(np.float32)
    ctx = RoundContext(1, np.arange(5), np.ones(5), rng=np.random.default_rng(0))
    # Execute
    hooked = poisoner.postprocess_cohort(updates.copy(), clients=np.arange(5), context=ctx)
    pooled = poisoner.alie_from_pool(
        updates[[0, 2, 3]], clients=np.array([0, 2, 3]), cohort_size=5, client=2
    )
    # Assert: the same vector, and it is mu - z sigma with z = alie_z(5, 3)
    from qtfl.attacks.poisoning import alie_z

    np.testing.assert_array_equal(hooked[2], pooled)
    x = updates[[0, 2, 3]].astype(np.float64)
    z = alie_z(5, 3)
    np.testing.assert_allclose(pooled, x.mean(0) - z * x.std(0), rtol=1e-6)
    lone = poisoner.alie_from_pool(updates[[2]], clients=np.array([2]), cohort_size=5, client=2)
    np.testing.assert_array_equal(lone, updates[2])


def test_a_node_posing_an_honest_client_as_a_colluder_is_not_relayed(tmp_path: Path) -> None:
    # Prepare: node 0 answers client 0's train message (an honest client) as a colluder
    from qtfl.flower.collusion import POOL_TYPE, collude_reply

    config = _config({"adversaries": [{"clients": [1, 2], "attack": "alie"}]}, rounds=1)
    job = _job(config, "s", tmp_path, 2)
    app = make_client_app(lambda _ctx: job)

    def hostile(msg: Any, ctx: Any) -> Any:
        meta = msg.content.config_records.get("qtfl")
        if msg.metadata.message_type == "train" and int(str(meta["client"])) == 0:
            honest = np.zeros(build_simulation_for(job).layout.size, np.float32)
            return collude_reply(msg, client=0, round_=1, honest=honest)
        return app(msg, ctx)

    grid = InlineGrid(app, 2)
    grid.client_app = hostile  # type: ignore[assignment]
    # Execute
    (record,) = serve(grid, job)
    # Assert: the relay pooled the configuration's colluders only; client 0 sent nothing
    # through its uplink, so it counts as not answering, and the round went on
    pools = [m for m in grid.sent if m.metadata.message_type == POOL_TYPE]
    assert pools and all(int(str(m.content.config_records["qtfl"]["client"])) in (1, 2)
                         for m in pools)  # fmt: skip
    assert 0 in record.unanswered_clients and record.aggregated == record.answered
