"""Quickstart wall time: every scenario of configs/quickstart.yaml, and teleportation's cost
over the classical scenario (the issue's target: at most 2x).

``python benchmarks/quickstart.py --json`` runs the quickstart into a temporary directory and
prints, per scenario, ``round_seconds`` (the rounds' computer time), ``train_seconds`` and
``channel_seconds`` (channels, aggregation, evaluation), ``elapsed_seconds`` (with
checkpoints), and each scenario's ratio to ``classical`` on round and elapsed seconds, plus
the whole run's wall time. ``--rounds N`` shortens the run. Figures, not pass/fail tests;
they vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from qtfl.experiments.config import load_config, parse_config
from qtfl.experiments.runner import run_experiment

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


def benchmark_quickstart(*, rounds: int | None = None) -> dict[str, Any]:
    raw = load_config(CONFIG).model_dump(mode="json")
    if rounds is not None:
        raw["training"]["rounds"] = rounds
    cfg = parse_config(raw)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_experiment(cfg, out_dir=Path(tmp) / "run")
        total = time.perf_counter() - start
    timing = summary["timing"]
    base = timing["classical"]
    return {
        "rounds": cfg.training.rounds,
        "total_seconds": total,
        "scenarios": {
            name: {
                **t,
                "round_ratio_to_classical": t["round_seconds"] / base["round_seconds"],
                "elapsed_ratio_to_classical": t["elapsed_seconds"] / base["elapsed_seconds"],
                "final_accuracy": summary["scenarios"][name]["final_accuracy"],
            }
            for name, t in timing.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    result = benchmark_quickstart(rounds=args.rounds)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"total {result['total_seconds']:.1f} s for {result['rounds']} rounds")
        for name, row in result["scenarios"].items():
            print(
                f"{name:>24}: rounds {row['round_seconds']:7.2f} s "
                f"({row['round_ratio_to_classical']:5.1f}x), elapsed "
                f"{row['elapsed_seconds']:7.2f} s ({row['elapsed_ratio_to_classical']:5.1f}x)"
            )


if __name__ == "__main__":
    main()
