"""Runs over several seeds: the Student-t interval on known values, the aggregate summary,
and a two-seed run with its per-seed directories, band figure and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.experiments.seeds import aggregate_summaries, mean_interval


def test_interval_on_known_values() -> None:
    # x = 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t_{0.975, 3} = 3.182446305284263
    m, lo, hi = mean_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * (5.0 / 3.0) ** 0.5 / 2.0
    assert m == 2.5
    assert lo == pytest.approx(2.5 - half, rel=1e-12) and hi == pytest.approx(2.5 + half)
    # two values 0.90, 0.94: t_{0.975, 1} = 12.706204736174698, s = 0.02 * sqrt(2) / ...
    m2, lo2, hi2 = mean_interval([0.90, 0.94])
    s = (2 * 0.02**2) ** 0.5  # sample sd of {0.90, 0.94} is 0.02 * sqrt(2)
    assert m2 == pytest.approx(0.92)
    assert hi2 - m2 == pytest.approx(12.706204736174698 * s / 2**0.5)
    assert m2 - lo2 == pytest.approx(hi2 - m2)
    assert mean_interval([0.7]) == (0.7, 0.7, 0.7)


def test_aggregate_keeps_kinds_and_averages_numbers() -> None:
    def one(acc: float, rounds: int | None) -> dict:
        return {
            "seed": 0, "data": "digits", "config_hash": "x",
            "scenarios": {"a": {"uplink_kind": "plain", "final_accuracy": acc,
                                "rounds_to_target": rounds, "link_rate_known": True}},
            "timing": {"a": {"round_seconds": 1.0}},
        }  # fmt: skip

    agg = aggregate_summaries({0: one(0.9, 3), 1: one(0.8, None), 2: one(0.85, 5)})
    a = agg["scenarios"]["a"]
    assert agg["seeds"] == [0, 1, 2] and agg["seed"] is None
    assert a["uplink_kind"] == "plain" and a["link_rate_known"] is True
    assert a["final_accuracy"] == pytest.approx(0.85)
    assert a["per_seed"]["rounds_to_target"] == [3, None, 5]
    assert a["rounds_to_target"] == 4.0  # over the seeds that reached the target
    assert a["intervals"]["final_accuracy"][0] < 0.85 < a["intervals"]["final_accuracy"][1]


def _config(seeds: list[int]) -> dict:
    return {
        "seeds": seeds,
        "data": {"name": "digits", "num_clients": 5},
        "model": {"name": "mlp", "hidden": 16},
        "training": {"rounds": 2, "local_epochs": 1, "lr": 0.2},
        "scenarios": [{"name": "classical"}],
    }


def test_two_seed_run_writes_means_per_seed_runs_and_bands(tmp_path: Path) -> None:
    cfg = parse_config(_config([3, 7]))
    summary = run_experiment(cfg, out_dir=tmp_path / "run")
    run = tmp_path / "run"
    one = {s: json.loads((run / "seeds" / str(s) / "summary.json").read_text()) for s in (3, 7)}
    accs = [one[s]["scenarios"]["classical"]["final_accuracy"] for s in (3, 7)]
    assert one[3]["seed"] == 3 and one[7]["seed"] == 7
    assert summary["scenarios"]["classical"]["final_accuracy"] == pytest.approx(sum(accs) / 2)
    assert summary["scenarios"]["classical"]["per_seed"]["final_accuracy"] == accs
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["seeds"] == 2 for r in rows)
    assert 'id="seeds"' in (run / "report.html").read_text()
    # resume: finished seeds are not run again
    stamp = (run / "seeds" / "3" / "summary.json").stat().st_mtime_ns
    run_experiment(cfg, out_dir=run, resume=True)
    assert (run / "seeds" / "3" / "summary.json").stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="not empty"):
        run_experiment(cfg, out_dir=run)


def test_repeated_seed_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="seeds must be distinct, 1 repeats"):
        parse_config(_config([1, 2, 1]))
