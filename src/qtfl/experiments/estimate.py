"""What a run will cost, before it runs: Bell pairs, classical bits, link time, wall time.

:func:`estimate_run` calibrates on this machine by doing a small sample of the real work:
for every scenario it builds the real simulation (same data, model, channels, attackers),
runs two rounds with only ``sample_clients`` sampled clients — the first warms up (kernel
compilation, caches), the second is timed — and times one evaluation of the global model
and one checkpoint write. It then extrapolates linearly:

.. math::

    T_{round} = \\frac{m}{s}\\,(t_{round} - t_{eval}) + \\frac{e}{R}\\,t_{eval} + t_{ckpt},
    \\qquad T = t_{setup} + \\sum_{scenarios} R\\,T_{round}

with ``m`` clients sampled per round in the real run, ``s`` in the sample, ``R`` rounds and
``e`` evaluations among them. Bell pairs and classical bits scale the sample's ledgers the
same way (``m/s`` per round, times ``R``); link seconds are the sample round's makespan
times ``R`` (a round's link time is its slowest client, which does not grow with ``m``).

A configuration with ``seeds: [...]`` runs the whole experiment once per seed: it is
calibrated on the first seed and every figure is multiplied by the number of seeds.

With ``include_report`` (the default; ``--dry-run`` uses it) the final report page is
timed too: ``report.html`` and its CSV files are rendered from the sample rounds into a
temporary directory (on a loaded 2-core machine this costs several seconds, a large part of
a short run). What it leaves out: the privacy report of an ``attacks`` section (flagged in
the result). Per-client work that varies between clients
(data set sizes under a skewed partition, eavesdropped clients' retries) is represented
by the sampled clients only; ``tests/experiments/test_estimate.py`` checks the estimate
against a real run of a reduced quickstart within a factor of 2.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from qtfl.experiments.config import ExperimentConfig, Scenario
from qtfl.fl.checkpoint import save_checkpoint

SAMPLE_CLIENTS = 4
"""Clients per calibration round."""


@dataclass(frozen=True)
class ScenarioEstimate:
    """One scenario's predicted cost over the whole run (see the module docstring)."""

    name: str
    rounds: int
    clients_per_round: int
    bell_pairs: float
    classical_bits: float
    link_seconds: float | None
    wall_seconds: float
    sample_clients: int
    sample_round_seconds: float


@dataclass(frozen=True)
class RunEstimate:
    """The cost of a whole run: per scenario, plus data loading, and the total wall time."""

    scenarios: tuple[ScenarioEstimate, ...]
    setup_seconds: float
    report_seconds: float | None
    wall_seconds: float
    calibration_seconds: float
    attacks_not_estimated: bool
    seeds: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Plain mapping for JSON (``qtfl run --dry-run --json``)."""
        return {
            "wall_seconds": self.wall_seconds,
            "setup_seconds": self.setup_seconds,
            "report_seconds": self.report_seconds,
            "calibration_seconds": self.calibration_seconds,
            "attacks_not_estimated": self.attacks_not_estimated,
            "seeds": self.seeds,
            "scenarios": {s.name: asdict(s) for s in self.scenarios},
        }


def clients_per_round(config: ExperimentConfig) -> int:
    """Clients the engine samples each round (:meth:`FederatedSimulation.run_round`)."""
    n = config.data.num_clients
    return max(1, min(n, round(config.training.fraction * n)))


def evaluations(rounds: int, every: int) -> int:
    """Rounds that evaluate the global model: every ``every``-th, and always the last."""
    return rounds // every + (1 if rounds % every else 0)


def estimate_run(
    config: ExperimentConfig,
    *,
    sample_clients: int = SAMPLE_CLIENTS,
    include_report: bool = True,
) -> RunEstimate:
    """Predict the cost of running ``config`` here by timing a sample of its work
    (``include_report``: also render the report page of the sample, see the module docstring).

    Raises:
        InputError: whatever the run itself would refuse (data, partition, model options).
    """
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        return _estimate(config, sample_clients=sample_clients, include_report=include_report)


def _estimate(
    config: ExperimentConfig, *, sample_clients: int, include_report: bool
) -> RunEstimate:
    from qtfl.experiments.runner import prepare_inputs

    t_start = time.perf_counter()
    seeds = list(getattr(config, "seeds", None) or [])
    if seeds:  # calibrate one seed's run, then count every seed
        config = config.model_copy(update={"seed": seeds[0], "seeds": None})
    k = max(1, len(seeds))
    inputs = prepare_inputs(config)
    setup = time.perf_counter() - t_start
    n = config.data.num_clients
    m = clients_per_round(config)
    s = max(1, min(m, sample_clients))
    # the sample: s clients per round, 2 rounds, only the last evaluated
    sample = config.model_copy(
        update={
            "training": config.training.model_copy(update={"fraction": s / n, "rounds": 2}),
            "evaluation": config.evaluation.model_copy(update={"every": 2}),
        }
    )
    rounds = config.training.rounds
    evals = evaluations(rounds, config.evaluation.every)
    out, histories = [], {}
    for sc in sample.resolved_scenarios():
        estimate, histories[sc.name] = _scenario(
            sample, inputs, sc, rounds=rounds, evals=evals, m=m, s=s
        )
        out.append(_times(estimate, k))
    report = _report_seconds(sample, histories) if include_report else None
    total = k * setup + sum(e.wall_seconds for e in out) + k * (report or 0.0)
    return RunEstimate(
        scenarios=tuple(out),
        setup_seconds=k * setup,
        report_seconds=None if report is None else k * report,
        wall_seconds=total,
        calibration_seconds=time.perf_counter() - t_start,
        attacks_not_estimated=config.attacks is not None,
        seeds=k,
    )


def _times(e: ScenarioEstimate, k: int) -> ScenarioEstimate:
    """``e`` for ``k`` repetitions of the run (one per seed)."""
    if k == 1:
        return e
    return dataclasses.replace(
        e,
        bell_pairs=k * e.bell_pairs,
        classical_bits=k * e.classical_bits,
        link_seconds=None if e.link_seconds is None else k * e.link_seconds,
        wall_seconds=k * e.wall_seconds,
    )


def _scenario(
    sample: ExperimentConfig,
    inputs: Any,
    sc: Scenario,
    *,
    rounds: int,
    evals: int,
    m: int,
    s: int,
) -> tuple[ScenarioEstimate, list[Any]]:
    from qtfl.experiments.runner import build_simulation

    t0 = time.perf_counter()
    sim = build_simulation(sample, inputs, sc)
    build = time.perf_counter() - t0
    sim.run_round()  # warm-up: compilation, caches, buffers
    t1 = time.perf_counter()
    record = sim.run_round()
    t_round = time.perf_counter() - t1
    t2 = time.perf_counter()
    sim.evaluate()
    t_eval = time.perf_counter() - t2
    with tempfile.TemporaryDirectory() as tmp:
        t3 = time.perf_counter()
        save_checkpoint(Path(tmp) / "c.pt", sim.state(), config_hash="estimate")
        t_ckpt = time.perf_counter() - t3
    per_round = (m / s) * max(t_round - t_eval, 0.0) + t_ckpt
    wall = build + rounds * per_round + evals * t_eval
    scale = rounds * m / s
    up, down = record.uplink, record.downlink
    pairs = scale * (up.get("bell_pairs", 0.0) + down.get("bell_pairs", 0.0))
    cbits = scale * (up.get("classical_bits", 0.0) + down.get("classical_bits", 0.0))
    link = rounds * record.link_seconds if sc.rate_known else None
    return ScenarioEstimate(
        name=sc.name,
        rounds=rounds,
        clients_per_round=m,
        bell_pairs=float(pairs),
        classical_bits=float(cbits),
        link_seconds=None if link is None or not math.isfinite(link) else float(link),
        wall_seconds=float(wall),
        sample_clients=s,
        sample_round_seconds=float(t_round),
    ), sim.history


def _report_seconds(sample: ExperimentConfig, histories: dict[str, list[Any]]) -> float:
    """Seconds to render ``report.html`` (and its CSV files) of the sample rounds."""
    import json

    from qtfl.experiments.metrics import metrics_jsonl
    from qtfl.experiments.report import write_report
    from qtfl.experiments.runner import build_summary
    from qtfl.fl.checkpoint import atomic_write_text

    t0 = time.perf_counter()
    known = {sc.name: sc.rate_known for sc in sample.resolved_scenarios()}
    summary = build_summary(sample, histories, known, {})
    with tempfile.TemporaryDirectory() as tmp:
        atomic_write_text(Path(tmp) / "metrics.jsonl", metrics_jsonl(histories, rate_known=known))
        atomic_write_text(Path(tmp) / "summary.json", json.dumps(summary) + "\n")
        write_report(tmp)
    return time.perf_counter() - t0


def check_budget(estimate: RunEstimate, *, max_hours: float) -> None:
    """Refuse a run whose estimated wall time exceeds ``max_hours``.

    Raises:
        InputError: with the estimate and the flag that raises the limit.
    """
    from qtfl.errors import InputError
    from qtfl.present import human_seconds

    if estimate.wall_seconds > max_hours * 3600.0:
        slowest = max(estimate.scenarios, key=lambda s: s.wall_seconds)
        raise InputError(
            f"this run is estimated at {human_seconds(estimate.wall_seconds)} on this machine "
            f"(slowest scenario {slowest.name!r}: {human_seconds(slowest.wall_seconds)}), more "
            f"than --max-hours {max_hours:g}; pass --max-hours "
            f"{math.ceil(estimate.wall_seconds / 3600.0)} to run it anyway, or see the "
            "breakdown with --dry-run"
        )
