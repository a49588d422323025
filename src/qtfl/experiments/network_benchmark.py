"""The 1000-client round: sample, train, teleport and schedule on the server's timeline.

``qtfl bench network --mode round --json``: a run of the digits MLP (4,810 parameters,
16-bit fixed point, raw teleportation: no FEC, 10% check pairs) with ``clients`` clients, each
on its own fiber link (a source at the client, 1 MHz, fidelity 0.98) at a distance drawn
uniformly in 5-100 km from the seed, a repeater every 50 km, client memories of T2 = 1 s; the
server has ``channels`` channels (shortest-job-first, T2 = 1 s). Every client is sampled
every round. The set-up (data, partition, links, channels) is timed apart; then ``repeats``
full rounds (downlink, local training, uplink teleportation through the round's dephased
pairs, the timeline, aggregation, evaluation) are timed one by one; the figures are the
minimum and the median, with the 1-minute load average before and after (the machine is
shared), and the CPU seconds of this process per round (``round_cpu_seconds``: what the round
costs when it does not wait for other work; worker processes' CPU is not in it).
``workers``: uplink worker processes (:mod:`qtfl.fl.parallel`) as ``qtfl run`` uses them;
the deliveries are the same for any value.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

import numpy as np
import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from qtfl.errors import require_int
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.parallel import ChannelPool
from qtfl.security.run_secret import RunSecret


def round_config(*, clients: int, channels: int, rounds: int, seed: int = 0) -> dict[str, Any]:
    """The benchmark's experiment (module docstring), as a configuration mapping."""
    return {
        "seed": seed,
        "data": {"name": "digits", "num_clients": clients},
        "model": {"name": "mlp", "hidden": 64},
        "training": {"rounds": rounds, "fraction": 1.0, "local_epochs": 1, "batch_size": 10},
        "channel": {"kind": "plain"},
        "scenarios": [
            {
                "name": "raw-teleport",
                "uplink": {
                    "kind": "teleport",
                    "link": {"distance_km": 0, "source_fidelity": 0.98, "source_rate_hz": 1e6},
                },
                "network": {
                    "clients": {"distance_km": {"uniform": [5, 100]}, "memory_t2_s": 1.0},
                    "repeaters": {"spacing_km": 50},
                    "server": {
                        "channels": channels,
                        "policy": "shortest-job-first",
                        "memory_t2_s": 1.0,
                    },
                },
            }
        ],
    }


def benchmark_network_round(
    *,
    clients: int = 1_000,
    channels: int = 8,
    repeats: int = 3,
    workers: int | Literal["auto"] = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per full round of the 1000-client run (module docstring)."""
    require_int("clients", clients, low=1, high=1_437)  # digits has 1,437 training examples
    require_int("repeats", repeats, low=1, high=100)
    require_int("channels", channels, low=1, high=1_000_000)
    load = [os.getloadavg()[0]]
    torch.set_num_threads(1)
    config = parse_config(round_config(clients=clients, channels=channels, rounds=repeats))
    with threadpool_limits(limits=1), ChannelPool(workers=workers) as pool:
        t0 = time.perf_counter()
        sim = build_simulation(
            config,
            prepare_inputs(config),
            config.resolved_scenarios()[0],
            secrets=RunSecret.generate(),
            channel_pool=pool,
        )
        setup = time.perf_counter() - t0
        seconds, cpu, records = [], [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            records.append(sim.run_round())
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        pool_workers = pool.workers
    load.append(os.getloadavg()[0])
    last = records[-1]
    assert last.network is not None
    return {
        "clients": clients,
        "channels": channels,
        "parameters": int(sim.layout.size),
        "workers": pool_workers,
        "setup_seconds": setup,
        "round_seconds": seconds,
        "round_seconds_min": min(seconds),
        "round_seconds_median": float(np.median(seconds)),
        "round_cpu_seconds": cpu,
        "round_cpu_seconds_min": min(cpu),
        "train_seconds": [r.train_seconds for r in records],
        "target_round_seconds": 10.0,
        "makespan_seconds": last.network["makespan_seconds"],
        "utilisation": last.network["utilisation"],
        "aggregated": last.aggregated,
        "bell_pairs": int(last.uplink.get("bell_pairs", 0)),
        "load_average_1min": load,
    }
