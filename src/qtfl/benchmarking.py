"""Timing that holds on a shared machine: interleaved pairs, ratio statistics, machine load.

Two things compared one after the other see different machines when others share it (a
2-core box whose load swings from 0 to 8 gave engine/loop ratios from 1.65x to 6.15x).
Interleaving them — A B A B ... — puts each pair of measurements under nearly the same
load, so the per-pair ratio is stable even when the absolute times are not. The benches
report the ratio's minimum and median over pairs (the median is the figure to quote; the
minimum says how bad the least favourable pair was), every raw time, and the 1-minute load
average before and after (``os.getloadavg``).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def machine_load() -> dict[str, Any]:
    """CPUs available and the 1/5/15-minute load averages now (``None`` where unknown)."""
    try:
        one, five, fifteen = os.getloadavg()
        load: list[float] | None = [one, five, fifteen]
    except OSError:  # pragma: no cover - platforms without getloadavg
        load = None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    return {"cpus": cpus, "loadavg_1_5_15": load}


def ratio_stats(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, Any]:
    """Per-pair ratios ``numerator[i] / denominator[i]``: min, median, max and the list."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError("ratio_stats needs two equally long, non-empty sequences")
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return {
        "min": min(ratios),
        "median": statistics.median(ratios),
        "max": max(ratios),
        "pairs": ratios,
    }


def interleave(sides: dict[str, Callable[[], object]], *, repeats: int) -> dict[str, list[float]]:
    """Call every side once per repeat, in turn (A B A B ...); seconds per call per side."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, call in sides.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return times
