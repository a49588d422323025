"""``qtfl bench fl --vs-flower``: the in-process engine against Flower's two engines.

For each setup (clients x examples per client) the same experiment — Fashion-MNIST, MLP
784-128-10, one local epoch of batch 10, plain channels, FedAvg, the given rounds, evaluation
every round — runs on

* **in-process**: :class:`~qtfl.fl.engine.FederatedSimulation` in this process;
* **flower-sim**: Flower's Ray simulation engine, one virtual SuperNode per client
  (``run_simulation`` with the ServerApp and ClientApp of :mod:`qtfl.flower`);
* **flower-deploy**: Flower's deployment runtime on loopback — a SuperLink and two
  SuperNodes (``--insecure``: no TLS, the transport's encryption cost is not measured),
  started once per setup and reused for every repetition; only for setups of at most
  :data:`DEPLOY_MAX_CLIENTS` clients (Flower's SuperNode starts one ClientApp process per
  message, so larger setups would take hours; the result says so).

Engines run interleaved (in-process, sim, deploy, in-process, sim, deploy, ...;
``repeats`` times). **Per-round overhead** of a Flower engine: its rounds' wall seconds (the
ServerApp's time from drawing a round's plan to its evaluated record: messages out, local
training on the nodes, replies in, decoding, aggregation) minus the in-process engine's
rounds' (the same steps in one process), reported as the difference of the minima and of
the medians over all rounds of all repetitions. End-to-end seconds (Ray start-up, the
``flwr run`` submission) are reported apart. **Memory per SuperNode**: the largest resident
set size seen (sampled every 0.2 s during the deployed runs) of each SuperNode's process
tree — the SuperNode daemon, its ClientApp launcher and fork server
(:mod:`qtfl.flower.node_runtime`) and the ClientApp processes forked from it — read with
psutil, which qtfl's Flower extra already uses to stop those processes; the process-tree
walk relies on POSIX session ids (Linux and other Unix
systems). Every engine reaches the same final accuracy (plaintext runs are bit-identical),
which the result checks. Torch runs single-threaded everywhere. Figures depend on the
machine and its load.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import torch

from qtfl.errors import require_int
from qtfl.experiments.config import parse_config
from qtfl.flower.deploy import LocalFederation, run_deployed
from qtfl.flower.job import FlowerJob, build_simulation_for
from qtfl.flower.procs import process_tree
from qtfl.flower.run import _simulate, scratch_dir

SETUPS: tuple[tuple[int, int], ...] = ((10, 600), (100, 60))
#: SuperNodes of the deployed engine.
DEPLOY_NODES = 2
#: Setups with more clients skip flower-deploy: Flower 1.41's SuperNode starts one
#: ``flwr-clientapp`` process per message (measured: about 20 s each, importing torch and
#: loading the data, on the loaded 2-core machine), so 100 clients x 5 rounds would take hours.
DEPLOY_MAX_CLIENTS = 10
DEPLOY_SKIPPED = (
    f"more than {DEPLOY_MAX_CLIENTS} clients: the SuperNode starts one ClientApp process per "
    "message, so every client and round pays a process start-up"
)
ENGINE_NAMES = ("inprocess", "flower_sim", "flower_deploy")


def _job(config_json: str, *, nodes: int, samples: int, path: Path) -> FlowerJob:
    path.unlink(missing_ok=True)
    return FlowerJob(
        config_json=config_json,
        scenario="default",
        num_nodes=nodes,
        result_path=str(path.resolve()),
        examples_per_client=samples,
    )


def _rounds(job: FlowerJob) -> list[dict[str, Any]]:
    return list(json.loads(Path(job.result_path).read_text(encoding="utf-8")))


@contextmanager
def _peak_rss(fed: LocalFederation, peaks: list[int]) -> Iterator[None]:
    """Keep in ``peaks[i]`` the largest RSS (bytes) of SuperNode ``i``'s process tree."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for i, node in enumerate(fed.supernodes):
                rss = 0
                for proc in process_tree([node]):
                    try:
                        rss += int(proc.memory_info().rss)
                    except (psutil.Error, OSError):  # it ended between listing and reading
                        continue
                peaks[i] = max(peaks[i], rss)
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values)}


def vs_flower(
    *,
    clients: int,
    samples: int,
    rounds: int,
    workdir: Path,
    repeats: int = 2,
    deploy: bool = True,
) -> dict[str, Any]:
    """One setup on the engines, interleaved ``repeats`` times (module docstring);
    ``deploy=False`` leaves flower-deploy out."""
    require_int("clients", clients, low=1)
    require_int("samples", samples, low=1)
    require_int("rounds", rounds, low=1)
    require_int("repeats", repeats, low=1)
    config = parse_config(
        {
            "seed": 0,
            "data": {"name": "fashion-mnist", "num_clients": clients},
            "model": {"name": "mlp", "hidden": 128},
            "training": {"rounds": rounds, "local_epochs": 1, "batch_size": 10, "lr": 0.1},
        }
    )
    text = config.model_dump_json()
    tag = f"{clients}x{samples}"
    engines = ENGINE_NAMES if deploy else ENGINE_NAMES[:2]
    round_s: dict[str, list[float]] = {name: [] for name in engines}
    total_s: dict[str, list[float]] = {name: [] for name in engines}
    accuracy: dict[str, float | None] = {}
    setup_s = train_s = 0.0
    peaks = [0] * DEPLOY_NODES
    fed = LocalFederation(workdir / f"deploy-{tag}", num_supernodes=DEPLOY_NODES, insecure=True)
    deploy_start_s = None
    t0 = time.perf_counter()
    with fed.running() if deploy else nullcontext(fed):
        if deploy:
            deploy_start_s = time.perf_counter() - t0
        for rep in range(repeats):
            t0 = time.perf_counter()
            job = _job(text, nodes=clients, samples=samples, path=workdir / f"in-{tag}.json")
            sim = build_simulation_for(job)
            setup_s = time.perf_counter() - t0
            for _ in range(rounds):
                sim.run_round()
            total_s["inprocess"].append(time.perf_counter() - t0)
            round_s["inprocess"] += [r.wall_seconds for r in sim.history]
            train_s = sum(r.train_seconds for r in sim.history)
            accuracy["inprocess"] = sim.history[-1].accuracy

            job = _job(text, nodes=clients, samples=samples, path=workdir / f"sim-{tag}.json")
            t0 = time.perf_counter()
            _simulate(job, clients)
            total_s["flower_sim"].append(time.perf_counter() - t0)
            records = _rounds(job)
            round_s["flower_sim"] += [r["wall_seconds"] for r in records]
            accuracy["flower_sim"] = records[-1]["accuracy"]
            if not deploy:
                continue

            path = workdir / f"deploy-{tag}-{rep}.json"
            job = _job(text, nodes=DEPLOY_NODES, samples=samples, path=path)
            job_file = workdir / f"deploy-{tag}-{rep}.job.json"
            job_file.write_text(job.to_json(), encoding="utf-8")
            t0 = time.perf_counter()
            with _peak_rss(fed, peaks):
                run_deployed(fed, job_file=job_file, result_path=path, timeout_s=600.0)
            total_s["flower_deploy"].append(time.perf_counter() - t0)
            records = _rounds(job)
            round_s["flower_deploy"] += [r["wall_seconds"] for r in records]
            accuracy["flower_deploy"] = records[-1]["accuracy"]
    base = round_s["inprocess"]
    overhead = {
        name: {
            "min": min(round_s[name]) - min(base),
            "median": statistics.median(round_s[name]) - statistics.median(base),
        }
        for name in engines[1:]
    }
    return {
        "clients": clients,
        "samples_per_client": samples,
        "rounds": rounds,
        "repeats": repeats,
        "inprocess_setup_seconds": setup_s,
        "inprocess_train_seconds": train_s,
        "round_seconds": {name: _spread(v) for name, v in round_s.items()},
        "round_overhead_seconds": overhead,
        "run_seconds": {name: _spread(v) for name, v in total_s.items()},
        "deploy_start_seconds": deploy_start_s,
        "supernodes": DEPLOY_NODES if deploy else 0,
        "supernode_peak_rss_mib": [p / 2**20 for p in peaks] if deploy else [],
        "flower_deploy_skipped": None if deploy else DEPLOY_SKIPPED,
        "accuracy": accuracy,
        "same_accuracy": len(set(accuracy.values())) == 1,
        "speedup": statistics.median(total_s["flower_sim"])
        / statistics.median(total_s["inprocess"]),
    }


def benchmark_vs_flower(
    *,
    rounds: int = 5,
    setups: tuple[tuple[int, int], ...] = SETUPS,
    repeats: int = 2,
) -> dict[str, Any]:
    """Every setup on the three engines; ``target_met``: in-process at least 10x faster than
    the Flower simulation end to end in each."""
    torch.set_num_threads(1)  # as the runner and every ClientApp do: compare algorithms
    workdir = scratch_dir()
    rows = [
        vs_flower(
            clients=c,
            samples=s,
            rounds=rounds,
            workdir=workdir,
            repeats=repeats,
            deploy=c <= DEPLOY_MAX_CLIENTS,
        )
        for c, s in setups
    ]
    return {
        "data": "fashion-mnist",
        "model": "mlp 784-128-10",
        "setups": rows,
        "target_speedup": 10.0,
        "target_met": all(r["speedup"] >= 10.0 for r in rows),
    }
