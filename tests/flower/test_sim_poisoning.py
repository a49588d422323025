"""Poisoning adversaries on Flower's Ray simulation engine.

One run (Ray takes tens of seconds to start): 3 clients on 3 virtual SuperNodes, 2 rounds,
a backdoor scenario and a boosted sign-flip under norm-bounding, against the in-process
engine: metrics equal to the last bit, and summary.json's adversaries and attack success
rate equal.
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
    "seed": 5,
    "data": {"name": "digits", "num_clients": 3},
    "training": {"rounds": 2, "local_epochs": 1},
    "scenarios": [
        {"name": "backdoor", "adversaries": [{"clients": [1], "attack": "backdoor"}]},
        {"name": "flip-bounded", "adversaries": [{"clients": [2], "attack": "sign-flip",
         "scale": 5.0}], "strategy": {"name": "norm-bounding"}},
    ],
}  # fmt: skip
POISONING_KEYS = ("adversaries", "malicious_clients", "attack_success_rate", "strategy")


def test_flower_sim_with_poisoning_equals_in_process(tmp_path: Path) -> None:
    # Prepare: one run secret for both engines
    secret = secret_file(tmp_path)
    config = parse_config(CONFIG)
    # Execute
    run_experiment(config, out_dir=tmp_path / "inproc", secret_file=secret)
    summary = run_with_engine(
        config, out_dir=tmp_path / "flower", engine="flower-sim", secret_file=secret
    )
    # Assert: every round equal; the poisoning section of each scenario equal
    assert untimed_rows(tmp_path / "flower") == untimed_rows(tmp_path / "inproc")
    inproc = json.loads((tmp_path / "inproc" / "summary.json").read_text())["scenarios"]
    for name in ("backdoor", "flip-bounded"):
        got = {k: summary["scenarios"][name].get(k) for k in POISONING_KEYS}
        assert got == {k: inproc[name].get(k) for k in POISONING_KEYS}, name
    rate = summary["scenarios"]["backdoor"]["attack_success_rate"]
    assert rate is not None and 0.0 <= rate <= 1.0
    assert summary["scenarios"]["flip-bounded"]["attack_success_rate"] is None
    assert summary["scenarios"]["flip-bounded"]["malicious_clients"] == [2]
