"""Quantum-keyed SecAgg+ on Flower against the in-process engine, on an in-memory Grid.

The server draws the graph and which edge keys were established (public, experiment seed);
each client node masks with its client's self-mask seed and edge keys, sends its Shamir
shares encrypted under the edge keys, and answers the server's unmask requests. Runs must
equal in-process bit for bit (same seed and run secret), and the server must never hold
a key that masks a client's update.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import Context, RecordDict

import qtfl.flower.server as flower_server
from qtfl.errors import InputError
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.secagg import QuantumSecAgg
from qtfl.flower.client import make_client_app
from qtfl.flower.job import build_simulation_for, secagg_path
from qtfl.flower.secagg_ends import SHARES, UNMASK, read_unmasked, unmask_requests
from qtfl.flower.server import serve
from tests.flower.inline import InlineGrid
from tests.flower.test_engines import SECRET, _inprocess, _job, _rows

QUANTUM = {"secure_aggregation": True, "secure_aggregation_keys": "quantum"}


def _config(privacy: dict[str, Any], **training: Any) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 4,
            "data": {"num_clients": 6},
            "training": {"rounds": 3, "local_epochs": 1, **training},
            "scenarios": [{"name": "q", "uplink": {"kind": "plain"}, "privacy": privacy}],
        }
    )


def _serve(config: ExperimentConfig, tmp_path: Path, **grid: Any) -> tuple[list[Any], InlineGrid]:
    job = _job(config, "q", tmp_path, 2)
    g = InlineGrid(make_client_app(lambda _ctx: job), 2, **grid)
    return serve(g, job), g


def _in_process_summary(config: ExperimentConfig) -> dict[str, Any]:
    sc = config.resolved_scenarios()[0]
    sim = build_simulation(config, prepare_inputs(config), sc, secrets=SECRET)
    for _ in range(config.training.rounds):
        sim.run_round()
    q = next(p for p in sim.postprocessors if isinstance(p, QuantumSecAgg))
    return q.summary()


@pytest.mark.parametrize(
    ("privacy", "dropout"),
    [(QUANTUM, 0.0), (QUANTUM, 0.3), ({**QUANTUM, "dp": {"placement": "client"}}, 0.3)],
    ids=["no-dropout", "dropouts", "dropouts+local-dp"],
)
def test_quantum_secagg_on_flower_equals_in_process(
    tmp_path: Path, privacy: dict[str, Any], dropout: float
) -> None:
    # Prepare: six clients on two nodes; with dropouts the survivors reveal edge keys
    config = _config(privacy, dropout_probability=dropout)
    expected, params = _inprocess(config, "q")
    # Execute
    got, grid = _serve(config, tmp_path)
    # Assert: every figure and the final parameters bit for bit; the protocol's record
    # (keys, messages, bytes, rounds unmasked) equals in-process
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy"), params)
    summary = json.loads(secagg_path(tmp_path / "q.json").read_text())
    assert summary == _in_process_summary(config)
    assert summary["rounds"] == 3 and summary["rounds_not_unmasked"] == 0
    requests = [m for m in grid.sent if m.metadata.message_type == UNMASK]
    assert len(requests) == 2 * 3  # one per node and round
    keys_asked = sum(m.content.array_records["unmask"]["key_pairs"].numpy().shape[0]
                     for m in requests)  # fmt: skip
    if dropout:
        assert any(r.dropped for r in expected) and keys_asked > 0
    else:
        assert keys_asked == 0


def test_aborted_edge_keys_leave_sparser_neighbourhoods_equal_to_in_process(
    tmp_path: Path,
) -> None:
    # Prepare: links at F = 0.963: swapped pairs near the 5% QBER tolerance, so some edge
    # keys abort and some clients have fewer neighbours than the threshold's degree
    privacy = {**QUANTUM, "quantum_keys": {"link_fidelity": 0.963}}
    config = _config(privacy, dropout_probability=0.3)
    expected, params = _inprocess(config, "q")
    # Execute
    got, _ = _serve(config, tmp_path)
    # Assert: bit for bit, with aborted keys in the protocol's record
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy"), params)
    summary = json.loads(secagg_path(tmp_path / "q.json").read_text())
    assert summary == _in_process_summary(config) and summary["keys_aborted"] > 0


def test_a_node_lost_mid_round_is_unmasked_from_the_shares_and_keys(tmp_path: Path) -> None:
    # Prepare: node 1 (clients 1, 3, 5) stops answering train messages in round 2
    def dead(node: int, msg: Any) -> bool:
        if msg.metadata.message_type != "train":
            return False
        return node == 1001 and int(str(msg.content.config_records["qtfl"]["round"])) == 2

    (tmp_path / "q").mkdir()
    (tmp_path / "p").mkdir()
    # Execute
    # (each client has the other five as neighbours; threshold 0.4 of 5 -> t = 2 shares,
    # which each survivor's two surviving neighbours hold; the default 0.5 -> t = 3 would
    # leave the round masked: more than the 30% dropout the graph was built for)
    lenient = {**QUANTUM, "quantum_keys": {"threshold": 0.4}}
    got, _ = _serve(_config(lenient, rounds=2), tmp_path / "q", dead=dead)
    _serve(_config({}, rounds=2), tmp_path / "p", dead=dead)
    # Assert: round 2 aggregated the three survivors, unmasked, and its mean equals the
    # unmasked run's within the fixed-point resolution (max_abs 4 / 2^23 per share)
    assert [r.aggregated for r in got] == [6, 3]
    summary = json.loads(secagg_path(tmp_path / "q" / "q.json").read_text())
    assert summary["threshold"] == 2 and summary["rounds_not_unmasked"] == 0
    diff = np.abs(np.load(tmp_path / "q" / "q.npy") - np.load(tmp_path / "p" / "q.npy"))
    assert float(diff.max()) < 1e-4


def test_the_server_never_holds_a_key_that_masks_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: keep the strategy the ServerApp builds
    made: list[Any] = []
    real_init = flower_server.ChannelStrategy.__init__

    def keep(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(flower_server.ChannelStrategy, "__init__", keep)
    config = _config(QUANTUM, rounds=1)
    # Execute
    _, grid = _serve(config, tmp_path)
    # Assert: the server's SecAgg+ object holds the public graph only: no edge key, no
    # self-mask seed, no share in the clear, no secret generator, and it cannot derive any
    (strategy,) = made
    q = next(p for p in strategy.sim.postprocessors if isinstance(p, QuantumSecAgg))
    st = q.round_state(1)
    assert st is not None and st.neighbours and st.edges.size
    assert st.keys == {} and st.self_seeds == {} and st.shares == {} and q._secret is None
    with pytest.raises(InputError, match="no mask-pair key"):
        q.edge_key(1, *map(int, st.edges[0]))
    with pytest.raises(InputError, match="no secagg-self key"):
        q.self_seed(1, 0)
    # what it kept of the shares is ciphertext (AES-GCM, 36 bytes each) addressed to holders
    assert set(strategy._shares) == set(range(6))
    for holders, cts in strategy._shares.values():
        assert cts.dtype == np.uint8 and cts.shape == (holders.size, 36)
    # a node holds the keys of its own clients only
    node0 = build_simulation_for(_job(config, "q", tmp_path / "other", 2), party="node-0")
    q0 = next(p for p in node0.postprocessors if isinstance(p, QuantumSecAgg))
    q0.self_seed(1, 2)
    with pytest.raises(InputError, match="no secagg-self key"):
        q0.self_seed(1, 1)
    # every train reply carried the encrypted shares beside its masked update
    assert all(SHARES in r.content.array_records for r in grid.replies
               if "wire" in r.content.array_records)  # fmt: skip


def test_a_holder_never_reveals_both_a_share_and_the_edge_key_of_one_peer(tmp_path: Path) -> None:
    # Prepare: a round run, then a server that asks node 0 for client 0's share of client
    # 1's seed and, in a second message, for the edge key of clients 0 and 1 (which would
    # let it remove both masks of client 1's update)
    made: list[Any] = []
    real_init = flower_server.ChannelStrategy.__init__

    def keep(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    config = _config(QUANTUM, rounds=1)
    job = _job(config, "q", tmp_path, 2)
    app = make_client_app(lambda _ctx: job)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flower_server.ChannelStrategy, "__init__", keep)
        grid = InlineGrid(app, 2)
        serve(grid, job)
    (strategy,) = made
    st = next(p for p in strategy.sim.postprocessors
              if isinstance(p, QuantumSecAgg)).round_state(1)  # fmt: skip
    assert st is not None
    owner = st.neighbours[0][0]  # a neighbour of client 0 (served by node 0)
    node_of = {0: 1000, 1: 1001}
    ctx = Context(run_id=1, node_id=1000, node_config={"partition-id": 0},
                  state=RecordDict(), run_config={})  # fmt: skip

    def ask(shares: list[tuple[int, int]], keys: list[tuple[int, int]]) -> Any:
        (msg,) = unmask_requests(shares, keys, round_=1, ciphertexts=strategy._shares,
                                 node_of=lambda k: node_of[k % 2])  # fmt: skip
        return read_unmasked([app(msg, ctx)])

    # Execute / Assert: the share first, then the key is refused
    got_shares, _ = ask([(owner, 0)], [])
    assert (owner, 0) in got_shares
    _, got_keys = ask([], [(0, owner)])
    assert got_keys == {}
    # both kinds in one message: neither is revealed
    ctx.state = RecordDict()
    got_shares, got_keys = ask([(owner, 0)], [(0, owner)])
    assert got_shares == {} and got_keys == {}
    # a key first (its peer dropped), then the share is refused
    ctx.state = RecordDict()
    _, got_keys = ask([], [(0, owner)])
    assert len(got_keys) == 1
    got_shares, _ = ask([(owner, 0)], [])
    assert got_shares == {}
