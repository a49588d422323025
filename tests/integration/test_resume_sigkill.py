"""A run killed with SIGKILL mid-way and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.fl.checkpoint import load_checkpoint

pytestmark = pytest.mark.integration

ROUNDS = 60
KILL_AFTER = 3
RAW = {
    "seed": 11,
    "data": {"name": "digits", "num_clients": 10, "partition": "dirichlet", "alpha": 1.0},
    "model": {"name": "mlp", "hidden": 32},
    "training": {
        "rounds": ROUNDS,
        "fraction": 0.6,
        "local_epochs": 2,
        "batch_size": 10,
        "lr": 0.1,
        "dropout_probability": 0.1,
    },
    "strategy": {"name": "fedyogi", "params": {"server_lr": 0.03}},
    "evaluation": {"every": 10, "target_accuracy": 0.9},
}


def qtfl_run(config: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "qtfl.cli", "run", str(config), "--out", str(out), "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def checkpoint_round(path: Path) -> int:
    try:
        return load_checkpoint(path)[0].round
    except InputError:  # not written yet
        return 0


def test_sigkill_then_resume_is_bit_identical(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(RAW))
    killed = tmp_path / "killed"
    ckpt = killed / "checkpoints" / "default.pt"

    proc = qtfl_run(config, killed)
    deadline = time.monotonic() + 120
    while checkpoint_round(ckpt) < KILL_AFTER:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reached = checkpoint_round(ckpt)
    assert KILL_AFTER <= reached < ROUNDS, "the run finished before the kill; raise ROUNDS"
    print(f"killed after round {reached} of {ROUNDS}")
    assert not (killed / "summary.json").exists()

    resumed = qtfl_run(config, killed, "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()

    reference = tmp_path / "reference"
    run_experiment(parse_config(RAW), out_dir=reference)

    final, _ = load_checkpoint(ckpt)
    ref, _ = load_checkpoint(reference / "checkpoints" / "default.pt")
    assert final.round == ref.round == ROUNDS
    assert final.global_params.tobytes() == ref.global_params.tobytes()
    for name in ("m", "v"):
        assert final.strategy_state[name].tobytes() == ref.strategy_state[name].tobytes()
    assert final.rng_states == ref.rng_states
    assert (killed / "models" / "default.pt").read_bytes() == (
        reference / "models" / "default.pt"
    ).read_bytes()

    def no_clock(path: Path) -> list[dict]:
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        return [{**r, "wall_seconds": None, "train_seconds": None} for r in rows]

    assert no_clock(killed / "metrics.jsonl") == no_clock(reference / "metrics.jsonl")
    assert len(no_clock(killed / "metrics.jsonl")) == ROUNDS
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["scenarios"]["default"]["final_accuracy"] == ref.metrics[-1]["accuracy"]
