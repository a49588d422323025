"""``qtfl bench fl --vs-flower``: the in-process engine against Flower's simulation engine.

For each setup (clients x examples per client) both engines run the same experiment —
Fashion-MNIST, MLP 784-128-10, one local epoch of batch 10, plain channels, FedAvg, the
given rounds, evaluation every round — timed end to end in this one process: in-process from
building the simulation to the last evaluation; Flower from ``run_simulation``'s call
(Ray start-up, virtual SuperNodes, the ServerApp and ClientApps of :mod:`qtfl.flower`) to
its return. ``inprocess_setup_seconds`` is the in-process share spent loading the data and
building the simulation, ``inprocess_train_seconds`` its local training. Both reach the same
final accuracy (plaintext runs are bit-identical), which the result reports next to the
times. Torch runs single-threaded everywhere. Figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from qtfl.errors import require_int
from qtfl.experiments.config import parse_config
from qtfl.flower.job import FlowerJob, build_simulation_for
from qtfl.flower.run import _simulate, scratch_dir

SETUPS: tuple[tuple[int, int], ...] = ((10, 600), (100, 60))


def vs_flower(*, clients: int, samples: int, rounds: int, workdir: Path) -> dict[str, Any]:
    """One setup timed on both engines."""
    require_int("clients", clients, low=1)
    require_int("samples", samples, low=1)
    require_int("rounds", rounds, low=1)
    config = parse_config(
        {
            "seed": 0,
            "data": {"name": "fashion-mnist", "num_clients": clients},
            "model": {"name": "mlp", "hidden": 128},
            "training": {"rounds": rounds, "local_epochs": 1, "batch_size": 10, "lr": 0.1},
        }
    )
    job = FlowerJob(
        config_json=config.model_dump_json(),
        scenario="default",
        num_nodes=clients,
        result_path=str((workdir / f"vs-flower-{clients}x{samples}.json").resolve()),
        examples_per_client=samples,
    )
    t0 = time.perf_counter()
    sim = build_simulation_for(job)
    setup_s = time.perf_counter() - t0
    for _ in range(rounds):
        record = sim.run_round()
    inprocess_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _simulate(job, clients)
    flower_s = time.perf_counter() - t0
    flower = json.loads(Path(job.result_path).read_text(encoding="utf-8"))
    return {
        "clients": clients,
        "samples_per_client": samples,
        "rounds": rounds,
        "inprocess_seconds": inprocess_s,
        "inprocess_setup_seconds": setup_s,
        "inprocess_train_seconds": sum(r.train_seconds for r in sim.history),
        "flower_sim_seconds": flower_s,
        "speedup": flower_s / inprocess_s,
        "inprocess_accuracy": record.accuracy,
        "flower_sim_accuracy": flower[-1]["accuracy"],
        "same_accuracy": record.accuracy == flower[-1]["accuracy"],
    }


def benchmark_vs_flower(
    *, rounds: int = 5, setups: tuple[tuple[int, int], ...] = SETUPS
) -> dict[str, Any]:
    """Every setup on both engines; ``target_met``: in-process at least 10x faster in each."""
    torch.set_num_threads(1)  # as the runner and every ClientApp do: compare algorithms
    workdir = scratch_dir()
    rows = [vs_flower(clients=c, samples=s, rounds=rounds, workdir=workdir) for c, s in setups]
    return {
        "data": "fashion-mnist",
        "model": "mlp 784-128-10",
        "setups": rows,
        "target_speedup": 10.0,
        "target_met": all(r["speedup"] >= 10.0 for r in rows),
    }
