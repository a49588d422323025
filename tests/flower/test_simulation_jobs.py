"""Several scenarios in one Flower simulation (:mod:`qtfl.flower.simulation`), in memory.

``--engine flower-sim`` serves every scenario of a run in ONE simulation: the ServerApp
serves the jobs in turn with each message tagged by its scenario, and the ClientApp picks
the job from the tag, starting each scenario with a fresh node state. Here the real apps run
on the in-memory Grid (:mod:`tests.flower.inline`) with three scenarios that keep state on
the node — teleportation with FEC (the kept update answers the server's resend requests)
and top-k compression with error feedback (residual files) — around a plain one: each
scenario's records and final parameters equal the in-process engine's, bit for bit, as if
it had been served alone; a message without a known tag is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message, RecordDict

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.flower.exchange import REQUEST_TYPE
from qtfl.flower.job import FlowerJob, write_party_secrets
from qtfl.flower.simulation import JOB_TAG, make_jobs_client_app, serve_jobs
from qtfl.security.run_secret import RunSecret
from tests.flower.inline import NODE_BASE, InlineGrid, fixed_decoder

SECRET = RunSecret(bytes(range(1, 33)))
CONFIG = {
    "seed": 11,
    "data": {"num_clients": 3},
    "model": {"name": "mlp", "hidden": 16},
    "training": {"rounds": 2, "local_epochs": 1},
    "scenarios": [
        {"name": "fec", "uplink": {"kind": "teleport", "link": {"fidelity": 0.937}, "bits": 16,
                                   "fec": "ldpc-2/3", "max_retransmissions": 2}},
        {"name": "plain", "channel": {"kind": "plain"}},
        {"name": "topk", "compression": {"kind": "topk", "ratio": 0.1, "error_feedback": True}},
    ],
}  # fmt: skip
COMPARED = ("round", "accuracy", "loss", "sampled", "aborted", "detected", "aggregated",
            "uplink", "downlink", "clients")  # fmt: skip


def test_one_simulation_serves_every_scenario_as_if_each_ran_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: one job per scenario, the secrets and node state of one run; FEC at its
    # limit (bit error 0.042 at F = 0.937, ldpc-2/3 decoding up to 0.035: blocks fail and
    # the server asks the node again, as in test_channels.py), in both engines
    fixed_decoder(monkeypatch, "ldpc-2/3", bit_error_rate=0.035)
    config = parse_config(CONFIG)
    names = [sc.name for sc in config.resolved_scenarios()]
    secrets = write_party_secrets(
        tmp_path / "secrets", SECRET, scenarios=names, num_clients=3, num_nodes=2
    )
    jobs = [
        FlowerJob(config.model_dump_json(), name, 2, str(tmp_path / f"{name}.json"),
                  secrets_dir=str(secrets), state_dir=str(tmp_path / "nodes"))
        for name in names
    ]  # fmt: skip
    grid = InlineGrid(make_jobs_client_app(jobs), 2)
    # Execute: one Grid, one ClientApp, the three jobs in turn
    serve_jobs(grid, jobs, checkpoints={})
    # Assert: each scenario equals the in-process engine (same secret), bit for bit
    inputs = prepare_inputs(config)
    for sc in config.resolved_scenarios():
        sim = build_simulation(config, inputs, sc, secrets=SECRET)
        want = [sim.run_round().as_dict() for _ in range(2)]
        got = json.loads((tmp_path / f"{sc.name}.json").read_text())
        assert [{k: r[k] for k in COMPARED} for r in got] == [
            {k: r[k] for k in COMPARED} for r in want
        ], sc.name
        params = np.load(tmp_path / f"{sc.name}.npy")
        assert params.tobytes() == sim.global_params.tobytes(), sc.name
    # every message carried its scenario; the nodes ended in the last scenario's state only
    tags = [str(m.content.config_records[JOB_TAG]["scenario"]) for m in grid.sent]
    assert [t for i, t in enumerate(tags) if i == 0 or tags[i - 1] != t] == names
    assert any(m.metadata.message_type == REQUEST_TYPE for m in grid.sent)  # FEC resends
    for context in grid.contexts.values():
        assert set(context.state.keys()) == {JOB_TAG}
        assert context.state.config_records[JOB_TAG]["scenario"] == "topk"
    assert sorted(p.name for p in (tmp_path / "nodes").rglob("*.npz")) == [
        "client-0.npz", "client-1.npz", "client-2.npz"]  # fmt: skip


def test_a_message_without_a_known_scenario_tag_is_refused(tmp_path: Path) -> None:
    # Prepare: the ClientApp of a one-scenario simulation; an untagged query
    config = parse_config({**CONFIG, "scenarios": [{"name": "plain"}]})
    job = FlowerJob(config.model_dump_json(), "plain", 2, str(tmp_path / "r.json"))
    grid = InlineGrid(make_jobs_client_app([job]), 2)
    context: Context = grid.contexts[NODE_BASE]
    msg = Message(RecordDict(), dst_node_id=NODE_BASE, message_type="query")
    # Execute / Assert
    with pytest.raises(InputError, match=JOB_TAG):
        grid.client_app(msg, context)
