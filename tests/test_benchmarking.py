"""Interleaved timing helpers: order of calls, per-pair ratios, load report."""

from __future__ import annotations

import pytest

from qtfl.benchmarking import interleave, machine_load, ratio_stats


def test_interleave_alternates_the_sides() -> None:
    # Prepare
    calls: list[str] = []
    # Execute
    times = interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    # Assert: A B A B A B, one time per call
    assert calls == ["a", "b"] * 3
    assert [len(times["a"]), len(times["b"])] == [3, 3]
    assert all(t >= 0 for t in times["a"] + times["b"])


def test_ratio_stats_are_per_pair() -> None:
    stats = ratio_stats([2.0, 9.0, 4.0], [1.0, 3.0, 1.0])
    assert stats["pairs"] == [2.0, 3.0, 4.0]
    assert (stats["min"], stats["median"], stats["max"]) == (2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="equally long"):
        ratio_stats([1.0], [1.0, 2.0])


def test_machine_load_reports_cpus_and_three_averages() -> None:
    load = machine_load()
    assert load["cpus"] >= 1
    assert load["loadavg_1_5_15"] is None or len(load["loadavg_1_5_15"]) == 3
