"""The accuracy the issue asks for, from the shipped configuration files.

* digits MLP, 10 IID clients (configs/quickstart.yaml): >= 0.95 test accuracy within 30 rounds;
* Fashion-MNIST MLP, 10 IID clients (configs/fashion-mnist-mlp.yaml): >= 0.85 within 50 rounds.

Both run the engine round by round and stop at the target (docs/results/federated-learning.md
reports the full runs).
Fixed seeds (the files' own), so each figure is reproducible, not a lucky draw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import load_config
from qtfl.experiments.runner import build_simulation, prepare_inputs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

pytestmark = pytest.mark.integration


def rounds_to_reach(config_name: str) -> tuple[int | None, float]:
    cfg = load_config(CONFIGS / config_name)
    target = cfg.evaluation.target_accuracy
    assert target is not None and cfg.evaluation.every == 1
    sim = build_simulation(cfg, prepare_inputs(cfg), cfg.resolved_scenarios()[0])
    best = 0.0
    for _ in range(cfg.training.rounds):
        rec = sim.run_round()
        assert rec.accuracy is not None
        best = max(best, rec.accuracy)
        if rec.accuracy >= target:
            return rec.round, rec.accuracy
    return None, best


def test_digits_mlp_reaches_095_within_30_rounds() -> None:
    cfg = load_config(CONFIGS / "quickstart.yaml")
    assert (cfg.data.name, cfg.data.num_clients, cfg.data.partition) == ("digits", 10, "iid")
    assert cfg.training.rounds == 30 and cfg.evaluation.target_accuracy == 0.95
    reached, acc = rounds_to_reach("quickstart.yaml")
    assert reached is not None, f"best accuracy {acc:.4f} < 0.95 after 30 rounds"
    assert acc >= 0.95


def test_fashion_mnist_mlp_reaches_085_within_50_rounds() -> None:
    cfg = load_config(CONFIGS / "fashion-mnist-mlp.yaml")
    assert (cfg.data.num_clients, cfg.model.hidden, cfg.training.rounds) == (10, 128, 50)
    assert cfg.evaluation.target_accuracy == 0.85
    try:
        prepare_inputs(cfg)
    except InputError as exc:
        pytest.skip(f"Fashion-MNIST files absent ({exc})")
    reached, acc = rounds_to_reach("fashion-mnist-mlp.yaml")
    assert reached is not None, f"best accuracy {acc:.4f} < 0.85 after 50 rounds"
    assert acc >= 0.85
