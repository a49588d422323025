"""Run metrics: per-round records to JSON lines, and the per-scenario summary.

The records are :class:`qtfl.fl.engine.RoundMetrics`; this module only reduces and
serialises them, so it is shared by ``qtfl run`` and anything that reads ``metrics.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from qtfl.channel import Ledger
from qtfl.fl.engine import RoundMetrics


def rounds_to_target(records: Sequence[RoundMetrics], target: float | None) -> int | None:
    """First round whose evaluated test accuracy is ``>= target`` (``None``: never/no target)."""
    if target is None:
        return None
    for r in records:
        if r.accuracy is not None and r.accuracy >= target:
            return r.round
    return None


def ledger_total(records: Sequence[RoundMetrics], direction: str) -> dict[str, float]:
    """Field-by-field sum of the ``"uplink"`` or ``"downlink"`` ledgers of all rounds."""
    total = Ledger()
    for r in records:
        total = total + Ledger(**getattr(r, direction))
    return total.as_dict()


def summarize(records: Sequence[RoundMetrics], *, target: float | None) -> dict[str, Any]:
    """The summary of one scenario: accuracy, rounds to target, resources, time."""
    evaluated = [r for r in records if r.accuracy is not None]
    last = evaluated[-1] if evaluated else None
    return {
        "rounds": len(records),
        "final_accuracy": None if last is None else last.accuracy,
        "final_loss": None if last is None else last.loss,
        "best_accuracy": max(
            (r.accuracy for r in evaluated if r.accuracy is not None), default=None
        ),
        "target_accuracy": target,
        "rounds_to_target": rounds_to_target(records, target),
        "clients_sampled": sum(r.sampled for r in records),
        "clients_dropped": sum(r.dropped for r in records),
        "updates_aborted": sum(r.aborted for r in records),
        "updates_detected": sum(r.detected for r in records),
        "updates_aggregated": sum(r.aggregated for r in records),
        "uplink": ledger_total(records, "uplink"),
        "downlink": ledger_total(records, "downlink"),
        "link_seconds": sum(r.link_seconds for r in records),
        "link_seconds_total": sum(r.link_seconds_total for r in records),
        "wall_seconds": sum(r.wall_seconds for r in records),
    }


def metrics_jsonl(by_scenario: Mapping[str, Sequence[RoundMetrics]]) -> str:
    """One JSON object per scenario and round (``{"scenario": ..., **record}``), newline-ended."""
    lines = [
        json.dumps({"scenario": name, **r.as_dict()}, sort_keys=False)
        for name, records in by_scenario.items()
        for r in records
    ]
    return "".join(line + "\n" for line in lines)
