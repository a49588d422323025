"""Compression, DP and secure aggregation on Flower's deployment runtime (TLS, node keys).

One deployment on 127.0.0.1 (SuperLink + 2 SuperNodes, 3 clients, 2 rounds, dropouts) runs
two scenarios: top-k compression with error feedback, and pairwise masks with local DP.
Each SuperNode process reads only its own party file and keeps its clients' residuals in
its own directory; the records equal the in-process engine's with the same run secret, and
no privacy key reaches a file, a log or a result.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.flower.run import FlowerOptions, run_on_flower
from qtfl.security.run_secret import SECRET_FILE, RunSecret
from tests.flower.inline import untimed_rows

pytestmark = pytest.mark.integration
CONFIG = {
    "seed": 8,
    "data": {"num_clients": 3},
    "training": {"rounds": 2, "local_epochs": 1, "dropout_probability": 0.4},
    "scenarios": [
        {"name": "topk", "compression": {"kind": "topk", "ratio": 0.1, "error_feedback": True}},
        {"name": "masked", "privacy": {"secure_aggregation": True,
                                       "dp": {"placement": "client", "noise_multiplier": 0.5}}},
    ],
}  # fmt: skip


def test_deployed_privacy_options_equal_in_process_and_keep_keys_apart(tmp_path: Path) -> None:
    # Prepare
    config = parse_config(CONFIG)
    out = tmp_path / "deploy"
    options = FlowerOptions(num_supernodes=2, round_timeout_s=120, start_timeout_s=60)
    # Execute: deployed (TLS, node authentication: the defaults), then in process with the
    # run secret the deployment stored
    run_on_flower(config, out_dir=out, engine="flower-deploy", options=options)
    secret_file = tmp_path / "secret.key"
    secret_file.write_bytes((out / SECRET_FILE).read_bytes())
    os.chmod(secret_file, 0o600)
    run_experiment(config, out_dir=tmp_path / "inproc", secret_file=secret_file)
    # Assert 1: every round of both scenarios equal; dropouts made the masks need reveals
    expected = untimed_rows(tmp_path / "inproc")
    assert untimed_rows(out) == expected
    assert any(r["dropped"] for r in expected if r["scenario"] == "masked")
    # Assert 2: each node kept the residuals of its own clients (k % 2) that sent, no others
    sent = {k for r in expected if r["scenario"] == "topk" for k in r["clients"]["client"]}
    assert len(sent) >= 2
    nodes = out / "flower" / "nodes"
    files = sorted(p.relative_to(nodes).as_posix() for p in nodes.rglob("*.npz"))
    assert files == sorted(f"node-{k % 2}/topk/client-{k}.npz" for k in sent)
    # Assert 3: no DP noise key or pair key in any file the run left (logs included)
    secret = RunSecret.load(out / SECRET_FILE)
    keys = [secret.key("dp-noise", "masked", k) for k in range(3)]
    keys += [secret.key("mask-pair", "masked", i, j) for i in range(3) for j in range(i + 1, 3)]
    patterns = {p for key in keys for p in (key, key.hex().encode())}
    leftover = [p for p in out.rglob("*") if p.is_file() and p.name != SECRET_FILE]
    assert any(p.suffix == ".log" for p in leftover)
    for path in leftover:
        data = path.read_bytes()
        assert not any(p in data for p in patterns), f"{path} holds a privacy key"
