"""Compression, DP and secure aggregation on Flower's Ray simulation engine.

One run (Ray takes tens of seconds to start): 3 clients on 3 virtual SuperNodes, 2 rounds,
two scenarios — top-k compression with error feedback, and secure aggregation with local DP
— against the in-process engine with the same run secret: metrics equal to the last bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.flower.run import run_with_engine
from tests.flower.inline import secret_file, untimed_rows

pytestmark = pytest.mark.integration
CONFIG = {
    "seed": 6,
    "data": {"num_clients": 3},
    "training": {"rounds": 2, "local_epochs": 1},
    "scenarios": [
        {"name": "topk", "compression": {"kind": "topk", "ratio": 0.1, "error_feedback": True}},
        {"name": "masked", "privacy": {"secure_aggregation": True,
                                       "dp": {"placement": "client", "noise_multiplier": 0.5}}},
    ],
}  # fmt: skip


def test_flower_sim_with_compression_dp_and_masks_equals_in_process(tmp_path: Path) -> None:
    # Prepare: one run secret for both engines
    secret = secret_file(tmp_path)
    config = parse_config(CONFIG)
    # Execute
    run_experiment(config, out_dir=tmp_path / "inproc", secret_file=secret)
    summary = run_with_engine(
        config, out_dir=tmp_path / "flower", engine="flower-sim", secret_file=secret
    )
    # Assert: every round of both scenarios equal; the residuals stayed on the nodes' side
    assert summary["engine"] == "flower-sim"
    assert untimed_rows(tmp_path / "flower") == untimed_rows(tmp_path / "inproc")
    # the same DP accounting: epsilon of the masked scenario's local noise over 2 rounds
    inproc = json.loads((tmp_path / "inproc" / "summary.json").read_text())
    eps = summary["scenarios"]["masked"]["dp_epsilon"]
    assert eps == inproc["scenarios"]["masked"]["dp_epsilon"]
    assert eps == config.resolved_scenarios()[1].privacy.dp_settings().epsilon(
        rounds=2, sample_rate=1.0
    )
    assert 0 < eps < float("inf") and "dp_epsilon" not in summary["scenarios"]["topk"]
    residuals = sorted((tmp_path / "flower" / "flower" / "nodes").rglob("*.npz"))
    assert [p.name for p in residuals] == ["client-0.npz", "client-1.npz", "client-2.npz"]
