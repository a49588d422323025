"""Speed of the round timeline and how the makespan falls with the server's channels.

``events_per_second``: :func:`qtfl.network.timeline.schedule_round` on ``clients`` jobs with
random pair counts and rates (two events per client), for several channel counts; the
makespan table: 100 clients at distances uniform in 5-100 km on a template link (source
1 MHz, fidelity 0.98, source at the client), each needing the Bell pairs of one raw
teleported digits-MLP update (4,810 values x 16 bits, 10% checks), for K = 1, 4, 16 and the
three policies.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from qtfl.errors import require_int
from qtfl.network.fleet import client_links, draw_distances
from qtfl.network.link import FiberLink
from qtfl.network.timeline import POLICIES, ServerResources, schedule_round

_DIGITS_MLP_BITS = 4_810 * 16


def benchmark_timeline(
    *, clients: int = 1_000_000, repeats: int = 3, seed: int = 0
) -> dict[str, Any]:
    """Events per second (best of ``repeats``) and makespan against K (module docstring)."""
    require_int("clients", clients, low=1, high=10_000_000)
    require_int("repeats", repeats, low=1, high=100)
    rng = np.random.default_rng(seed)
    load = [os.getloadavg()[0]]
    pairs = rng.integers(1_000, 100_000, clients).astype(np.float64)
    rate = rng.uniform(10.0, 1e4, clients)
    speed = []
    for k in (1, 8, 64):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            tl = schedule_round(
                pairs=pairs, pair_rate_hz=rate, rng=rng,
                resources=ServerResources(channels=k, policy="shortest-job-first"),
            )  # fmt: skip
            times.append(time.perf_counter() - t0)
        speed.append(
            {"channels": k, "clients": clients, "seconds_min": min(times),
             "seconds_median": float(np.median(times)),
             "events_per_second": tl.events / min(times)}
        )  # fmt: skip
    distances = draw_distances(100, low_km=5.0, high_km=100.0, rng=rng)
    template = FiberLink(distance_km=0.0, source_rate_hz=1e6, source_fidelity=0.98)
    links = client_links(template, distances)
    need = np.full(100, _DIGITS_MLP_BITS / 0.9)  # payload pairs plus 10% checks
    link_rate = np.array([link.pair_rate_hz for link in links], dtype=np.float64)
    fid = np.array([link.fidelity for link in links])
    makespans = []
    for policy in POLICIES:
        for k in (1, 4, 16):
            tl = schedule_round(
                pairs=need, pair_rate_hz=link_rate, fidelity=fid, rng=rng,
                resources=ServerResources(channels=k, policy=policy, memory_t2_s=1.0),
                latency_s=np.array([link.latency_s for link in links]),
            )  # fmt: skip
            makespans.append(
                {"policy": policy, "channels": k, "makespan_seconds": tl.makespan_s,
                 "mean_delivery_seconds": float(tl.delivered_at_s.mean()),
                 "utilisation": tl.utilisation,
                 "mean_memory_wait_seconds": float(tl.memory_wait_s.mean())}
            )  # fmt: skip
    load.append(os.getloadavg()[0])
    return {"timeline_speed": speed, "makespan_vs_channels": makespans,
            "load_average_1min": load}  # fmt: skip
