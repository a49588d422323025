r"""Repeating a run over several experiment seeds: per-seed runs, means and 95% intervals.

``seeds: [0, 1, 2]`` in a configuration runs the whole experiment once per seed into
``DIR/seeds/<seed>/`` (each a complete, resumable single-seed run with its own summary,
metrics and report), then writes the run's own files in ``DIR``:

* ``summary.json`` — the per-scenario summary with every numeric figure replaced by its
  mean over the seeds, plus ``intervals``: for each figure the two-sided 95% Student-t
  interval of the mean,

  .. math:: \bar x \pm t_{0.975,\,n-1}\, \frac{s}{\sqrt n},\qquad
            s^2 = \frac{1}{n-1}\sum_i (x_i - \bar x)^2,

  and ``per_seed``: the values themselves. A figure missing for some seeds (a target never
  reached: ``rounds_to_target`` null) is averaged over the seeds that have it, and
  ``per_seed`` shows the nulls; with a single seed the interval is the point.
* ``metrics.jsonl`` — one object per scenario and round: the seeds' mean (``seeds`` says
  how many), and per-client rows of every seed concatenated (so QBER plots show every link).
* ``report.html`` — the report of those means, with the accuracy curves drawn as bands.

References: Student, Biometrika 6, 1 (1908).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from qtfl.experiments.metrics import metrics_jsonl, read_metrics
from qtfl.fl.engine import RoundMetrics

SEEDS_DIR = "seeds"


def mean_interval(
    values: Sequence[float], *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the Student-t interval of the mean (a point for one value)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values")
    m = float(x.mean())
    if x.size == 1:
        return m, m, m
    half = float(student_t.ppf(0.5 + confidence / 2.0, x.size - 1)) * float(
        x.std(ddof=1)
    ) / math.sqrt(x.size)
    return m, m - half, m + half


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def aggregate_summaries(summaries: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The multi-seed ``summary.json`` from each seed's summary (module docstring)."""
    seeds = list(summaries)
    first = summaries[seeds[0]]
    scenarios: dict[str, Any] = {}
    for name, base in first["scenarios"].items():
        out: dict[str, Any] = {}
        intervals: dict[str, list[float]] = {}
        per_seed: dict[str, list[Any]] = {}
        for key, value in base.items():
            values = [summaries[s]["scenarios"][name].get(key) for s in seeds]
            present = [v for v in values if _numeric(v)]
            if present and all(v is None or _numeric(v) for v in values):
                m, lo, hi = mean_interval(present)
                out[key] = m
                intervals[key] = [lo, hi]
                per_seed[key] = values
            else:
                out[key] = value
        out["intervals"] = intervals
        out["per_seed"] = per_seed
        scenarios[name] = out
    summary = {k: v for k, v in first.items() if k not in ("scenarios", "timing")}
    summary["seed"] = None  # one per seed: see "seeds"
    summary["seeds"] = seeds
    summary["scenarios"] = scenarios
    summary["timing"] = {str(s): summaries[s].get("timing", {}) for s in seeds}
    return summary


def _mean_record(records: Sequence[RoundMetrics]) -> RoundMetrics:
    """The seeds' mean of one scenario's round; per-client columns concatenated."""
    first = records[0]
    raw: dict[str, Any] = {}
    for key, value in first.as_dict().items():
        values = [getattr(r, key) for r in records]
        if key == "round":
            raw[key] = value
        elif key == "clients":
            merged: dict[str, list[Any]] = {}
            for v in values:
                for col, items in v.items():
                    merged.setdefault(col, []).extend(items)
            raw[key] = merged
        elif isinstance(value, dict):
            raw[key] = {k: float(np.mean([v[k] for v in values])) for k in value}
        elif all(_numeric(v) for v in values):
            raw[key] = float(np.mean(values))
        else:
            present = [v for v in values if _numeric(v)]
            raw[key] = float(np.mean(present)) if present else None
    return RoundMetrics.from_dict(raw)


def mean_records(
    per_seed: Mapping[int, Mapping[str, Sequence[RoundMetrics]]],
) -> dict[str, list[RoundMetrics]]:
    """Per scenario and round, the mean record over the seeds."""
    seeds = list(per_seed)
    out: dict[str, list[RoundMetrics]] = {}
    for name, recs in per_seed[seeds[0]].items():
        out[name] = [
            _mean_record([per_seed[s][name][i] for s in seeds]) for i in range(len(recs))
        ]
    return out


def run_seeds(
    config: Any,
    *,
    out_dir: str | Path,
    resume: bool,
    run_one: Callable[..., dict[str, Any]],
    progress: Any = None,
) -> dict[str, Any]:
    """Run ``config`` once per seed of ``config.seeds`` and aggregate (module docstring).

    ``run_one(config, out_dir=..., resume=..., progress=...)`` runs one seed (the runner's
    single-seed entry point); a seed whose run already finished with the same configuration
    is not run again on ``--resume``.
    """
    from qtfl.errors import InputError
    from qtfl.experiments.report import write_report
    from qtfl.fl.checkpoint import atomic_write_text

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"output directory {out} is not empty; pass --resume to continue that run "
            "or choose a new --out"
        )
    if resume and out.is_dir():  # a finished run of another configuration stays untouched
        from qtfl.experiments.runner import refuse_other_run

        config_json = config.model_dump_json(indent=2) + "\n"
        refuse_other_run(
            out, config_json=config_json, digest=config.config_hash(), require_config=False
        )
    summaries: dict[int, dict[str, Any]] = {}
    records: dict[int, dict[str, list[RoundMetrics]]] = {}
    for seed in config.seeds:
        one = config.model_copy(update={"seed": seed, "seeds": None})
        sub = out / SEEDS_DIR / str(seed)
        done = sub / "summary.json"
        finished = done.is_file() and (
            json.loads(done.read_text(encoding="utf-8")).get("config_hash") == one.config_hash()
        )
        if not (resume and finished):
            run_one(one, out_dir=sub, resume=resume, progress=_labelled(progress, seed))
        summaries[seed] = json.loads(done.read_text(encoding="utf-8"))
        records[seed] = read_metrics((sub / "metrics.jsonl").read_text(encoding="utf-8"))
    summary = aggregate_summaries(summaries)
    summary["config_hash"] = config.config_hash()
    means = mean_records(records)
    known = {name: s.get("link_rate_known", True) for name, s in summary["scenarios"].items()}
    text = metrics_jsonl(means, rate_known={k: bool(v) for k, v in known.items()})
    n = len(config.seeds)
    text = "".join(
        json.dumps({**json.loads(line), "seeds": n}) + "\n" for line in text.splitlines() if line
    )
    atomic_write_text(out / "metrics.jsonl", text)
    atomic_write_text(out / "config.json", config.model_dump_json(indent=2) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_report(out)
    return summary


def seed_curves(run_dir: Path) -> dict[str, dict[int, list[tuple[int, float]]]] | None:
    """Per scenario and seed, ``(round, accuracy)`` of every evaluated round, read from
    ``run_dir/seeds/*/metrics.jsonl``; ``None`` for a single-seed run."""
    root = run_dir / SEEDS_DIR
    if not root.is_dir():
        return None
    out: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for sub in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        path = sub / "metrics.jsonl"
        if not (sub.name.isdigit() and path.is_file()):
            continue
        for name, recs in read_metrics(path.read_text(encoding="utf-8")).items():
            out.setdefault(name, {})[int(sub.name)] = [
                (r.round, float(r.accuracy)) for r in recs if r.accuracy is not None
            ]
    return out or None


def _labelled(progress: Any, seed: int) -> Any:
    if progress is None:
        return None
    return lambda scenario, record, total: progress(f"{scenario} (seed {seed})", record, total)
