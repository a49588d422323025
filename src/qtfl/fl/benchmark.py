"""Speed and memory of the FL engine: the vectorised engine against the plain per-client loop.

:func:`benchmark_fl` builds the same federated simulation three times — ``backend="bmm"``
(what ``auto`` picks for this MLP with SGD), ``"vmap"`` (``torch.func``) and ``"loop"`` (the
plain per-client baseline) — on ``clients x samples`` training examples (Fashion-MNIST when
its files are present, otherwise random data of the same shapes; the result says which),
with the MLP 784-128-10, one local epoch, batch size 10, plain channels both ways, and times
steady rounds (after one warm-up round each; the final, evaluated round is not timed). It then
runs one round with ``memory_clients`` clients in a fresh subprocess and reports that process's peak
resident memory (``resource.getrusage(...).ru_maxrss``).

The three backends run interleaved (one round of each in turn), so a change of machine load
hits all three alike; the speed-ups are medians of per-round ratios, with their minimum and
the raw round times beside them, and the load averages before and after. Torch runs
single-threaded in both engines, so the ratio compares the algorithms, not the thread counts.
Figures depend on the machine and its load; they are measurements, not tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from qtfl.benchmarking import interleave, machine_load, ratio_stats
from qtfl.channel import PlainChannel
from qtfl.data import Dataset, load_dataset
from qtfl.errors import InputError, require_int
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, SimulationSettings, model_seed
from qtfl.fl.strategies import FedAvg
from qtfl.models import build_model


def benchmark_data(num_examples: int, *, seed: int = 0) -> tuple[Dataset, str]:
    """Fashion-MNIST cut to ``num_examples`` training examples, or random data of its shapes."""
    try:
        ds = load_dataset("fashion-mnist")
        source = "fashion-mnist"
    except InputError:
        rng = np.random.default_rng(seed)
        n_test = 10_000
        ds = Dataset(
            name="random-28x28",
            x_train=rng.random((max(num_examples, 1), 1, 28, 28), dtype=np.float32),
            y_train=rng.integers(0, 10, max(num_examples, 1), dtype=np.int64),
            x_test=rng.random((n_test, 1, 28, 28), dtype=np.float32),
            y_test=rng.integers(0, 10, n_test, dtype=np.int64),
            num_classes=10,
        )
        source = "random (fashion-mnist files absent)"
    if num_examples > ds.num_train:
        raise InputError(
            f"clients x samples must be at most {ds.num_train} for {source}, got {num_examples}"
        )
    return ds, source


def build_benchmark_simulation(
    ds: Dataset,
    *,
    clients: int,
    samples: int,
    rounds: int,
    backend: str,
    client_chunk: int | None = None,
    seed: int = 0,
) -> FederatedSimulation:
    """``clients`` equal IID clients of ``samples`` examples each, MLP 784-128-10.

    ``client_chunk`` (default: all clients in one vmap batch) bounds the training memory.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(ds.num_train)[: clients * samples].reshape(clients, samples)
    model = build_model(
        "mlp",
        input_shape=ds.input_shape,
        num_classes=ds.num_classes,
        hidden=128,
        seed=model_seed(seed),
    )
    return FederatedSimulation(
        model=model,
        x_train=ds.x_train,
        y_train=ds.y_train,
        x_test=ds.x_test,
        y_test=ds.y_test,
        client_indices=[np.sort(row) for row in chosen],
        strategy=FedAvg(),
        uplink=PlainChannel(),
        downlink=PlainChannel(),
        training=LocalTraining(local_epochs=1, batch_size=10, lr=0.05),
        settings=SimulationSettings(
            rounds=rounds,
            eval_every=rounds,
            backend=backend,  # type: ignore[arg-type]
            client_chunk=client_chunk or clients,
        ),
        seed=seed,
    )


def benchmark_fl(
    *, clients: int = 100, samples: int = 60, rounds: int = 10, memory_clients: int = 1000
) -> dict[str, Any]:
    """Rounds/s of the engine (bmm), vmap and the plain loop, the ratios, and peak memory.

    The three run interleaved, one round each in turn (bmm, vmap, loop, bmm, ...), after
    one warm-up round each, so every triple of rounds sees nearly the same machine load;
    ``speedup_vs_loop`` is the median over rounds of the per-round ratio loop/engine
    seconds (``speedup_vs_loop_min`` its minimum), ``*_round_seconds`` the raw times, and
    ``load_before``/``load_after`` the machine's load averages (:mod:`qtfl.benchmarking`).
    """
    require_int("clients", clients, low=1, high=100_000)
    require_int("samples", samples, low=1, high=100_000)
    require_int("rounds", rounds, low=1, high=10_000)
    require_int("memory_clients", memory_clients, low=0, high=100_000)
    torch.set_num_threads(1)
    load_before = machine_load()
    ds, source = benchmark_data(clients * samples)
    backends = ("bmm", "vmap", "loop")
    sims = {
        b: build_benchmark_simulation(
            ds, clients=clients, samples=samples, rounds=rounds + 2, backend=b
        )
        for b in backends
    }
    train: dict[str, list[float]] = {b: [] for b in backends}

    def one_round(backend: str) -> Callable[[], None]:
        def call() -> None:
            train[backend].append(sims[backend].run_round().train_seconds)

        return call

    for b in backends:  # warm-up, untimed
        sims[b].run_round()
    times = interleave({b: one_round(b) for b in backends}, repeats=rounds)
    for b in backends:
        del train[b][0]  # the warm-up round's training time
    speed = {b: rounds / sum(times[b]) for b in backends}
    train_speed = {b: rounds / sum(train[b]) for b in backends}
    whole = ratio_stats(times["loop"], times["bmm"])
    vmap = ratio_stats(times["loop"], times["vmap"])
    training = ratio_stats(train["loop"], train["bmm"])
    result: dict[str, Any] = {
        "data": source,
        "clients": clients,
        "samples_per_client": samples,
        "model": "mlp 784-128-10",
        "local_epochs": 1,
        "batch_size": 10,
        "torch_threads": torch.get_num_threads(),
        "timed_rounds": rounds,
        "schedule": "interleaved: bmm, vmap, loop, bmm, ... (one round each in turn)",
        "engine_backend": "bmm",
        "engine_rounds_per_s": speed["bmm"],
        "vmap_rounds_per_s": speed["vmap"],
        "loop_rounds_per_s": speed["loop"],
        "speedup_vs_loop": whole["median"],
        "speedup_vs_loop_min": whole["min"],
        "vmap_speedup_vs_loop": vmap["median"],
        "vmap_speedup_vs_loop_min": vmap["min"],
        "engine_training_rounds_per_s": train_speed["bmm"],
        "vmap_training_rounds_per_s": train_speed["vmap"],
        "loop_training_rounds_per_s": train_speed["loop"],
        "training_speedup_vs_loop": training["median"],
        "training_speedup_vs_loop_min": training["min"],
        "engine_round_seconds": times["bmm"],
        "vmap_round_seconds": times["vmap"],
        "loop_round_seconds": times["loop"],
        "load_before": load_before,
        "load_after": machine_load(),
    }
    if memory_clients:
        result.update(memory_probe(memory_clients, samples=samples))
    return result


def memory_probe(clients: int, *, samples: int) -> dict[str, Any]:
    """Peak RSS of a fresh process running one engine round with ``clients`` clients."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qtfl.fl.benchmark",
            "--memory-probe",
            str(clients),
            "--samples",
            str(samples),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"memory probe with {clients} clients failed: {tail[0]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _memory_probe_main(clients: int, samples: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    ds, source = benchmark_data(clients * samples)
    sim = build_benchmark_simulation(
        ds, clients=clients, samples=samples, rounds=1, backend="bmm", client_chunk=128
    )
    t0 = time.perf_counter()
    sim.run_round()
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "memory_clients": clients,
        "memory_data": source,
        "memory_round_seconds": seconds,
        "memory_peak_rss_gib": peak_kib / 2**20,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-probe", type=int, required=True)
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    print(json.dumps(_memory_probe_main(args.memory_probe, args.samples)))
