"""`qtfl run` end to end through the CLI on digits (a few rounds), and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from qtfl.cli import main
from qtfl.fl.checkpoint import load_checkpoint

SMALL = {
    "seed": 3,
    "data": {"name": "digits", "num_clients": 5},
    "model": {"name": "mlp", "hidden": 16},
    "training": {"rounds": 3, "local_epochs": 1, "batch_size": 20, "lr": 0.2},
    "evaluation": {"every": 2, "target_accuracy": 0.5},
    "scenarios": [
        {"name": "plain"},
        {"name": "slow", "uplink": {"kind": "plain", "latency_s": 0.25}},
    ],
}


def write_config(tmp_path: Path, raw: dict, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw))
    return p


def run_cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_run_writes_summary_metrics_and_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, SMALL)
    out = tmp_path / "run"
    assert run_cli(["run", str(cfg), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    assert printed == summary
    assert set(summary["scenarios"]) == {"plain", "slow"}
    plain, slow = summary["scenarios"]["plain"], summary["scenarios"]["slow"]
    assert plain["rounds"] == 3 and 0.5 <= plain["final_accuracy"] <= 1.0
    assert plain["rounds_to_target"] in (2, 3)  # evaluated in rounds 2 and 3 only
    # same seed, same data, same training: the channels differ only in latency
    assert plain["final_accuracy"] == slow["final_accuracy"]
    assert slow["link_seconds_total"] == pytest.approx(3 * 0.25)
    assert slow["uplink"]["link_seconds"] == pytest.approx(3 * 5 * 0.25)
    assert slow["link_seconds_summed_over_clients"] == pytest.approx(3 * 5 * 0.25)
    assert plain["link_seconds_total"] == 0.0
    assert set(summary["timing"]) == {"plain", "slow"}
    assert (out / "report.html").is_file()
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(x["scenario"], x["round"]) for x in lines] == [
        (s, r) for s in ("plain", "slow") for r in (1, 2, 3)
    ]
    assert [x["accuracy"] is None for x in lines[:3]] == [True, False, False]
    state, digest = load_checkpoint(out / "checkpoints" / "plain.pt")
    assert state.round == 3 and digest == summary["config_hash"]
    model = torch.load(out / "models" / "plain.pt", weights_only=True)
    flat = torch.cat([t.flatten() for t in model.values()])
    assert flat.numpy().tobytes() == state.global_params.tobytes()


def test_refuses_to_overwrite_and_resume_of_a_finished_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, {**SMALL, "scenarios": None})
    out = tmp_path / "run"
    assert run_cli(["run", str(cfg), "--out", str(out), "--json"]) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert run_cli(["run", str(cfg), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is not empty; pass --resume" in err and "Traceback" not in err
    assert snapshot(out) == before
    # a different configuration may not resume this directory
    other = write_config(tmp_path, {**SMALL, "scenarios": None, "seed": 4}, "other.yaml")
    assert run_cli(["run", str(other), "--out", str(out), "--resume"]) == 2
    assert "different configuration" in " ".join(capsys.readouterr().err.split())
    assert snapshot(out) == before
    # resuming a finished run rewrites identical results
    assert run_cli(["run", str(cfg), "--out", str(out), "--resume", "--json"]) == 0
    after = snapshot(out)
    assert after["checkpoints/default.pt"] == before["checkpoints/default.pt"]
    assert after["metrics.jsonl"] == before["metrics.jsonl"]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"data": {"name": "digits", "num_clients": 5000}}, "num_clients must be at most"),
        ({"data": {"name": "nope"}}, "unknown data set 'nope'; allowed: digits"),
        ({"training": {"rounds": 0}}, "training.rounds: Input should be greater than 0"),
        ({"strategy": {"name": "x"}}, "unknown strategy 'x'"),
        ({"extra": 1}, "unknown key 'extra'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, message: str
) -> None:
    cfg = write_config(tmp_path, {**SMALL, **change})
    out = tmp_path / "run"
    assert run_cli(["run", str(cfg), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_table_output_shows_each_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, {**SMALL, "training": {**SMALL["training"], "rounds": 1}})
    assert run_cli(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    firsts = [line.split()[:1] for line in text.splitlines()]
    rows = [f[0] for f in firsts if f in (["plain"], ["slow"])]
    assert rows[-2:] == ["plain", "slow"]  # one comparison table, a row per scenario
    assert "final_accuracy" not in text  # the raw per-scenario detail is behind --verbose
    assert f"open {tmp_path / 'r' / 'report.html'}" in text
    assert run_cli(["run", str(cfg), "--out", str(tmp_path / "v"), "--verbose"]) == 0
    text = capsys.readouterr().out
    assert "scenario plain" in text and "scenario slow" in text and "final_accuracy" in text


def test_run_partition_is_deterministic_disjoint_and_seeded() -> None:
    from qtfl.experiments.config import parse_config
    from qtfl.experiments.runner import prepare_inputs

    raw = {"data": {"name": "digits", "num_clients": 7, "partition": "dirichlet", "alpha": 0.3}}
    a = prepare_inputs(parse_config(raw)).partition
    b = prepare_inputs(parse_config(raw)).partition
    c = prepare_inputs(parse_config({**raw, "seed": 1})).partition
    assert all((x == y).all() for x, y in zip(a.indices, b.indices, strict=True))
    every = np.concatenate(a.indices)
    assert len(every) == len(np.unique(every)) == 1437  # disjoint, and covers digits' train split
    assert any(
        len(x) != len(y) or (x != y).any() for x, y in zip(a.indices, c.indices, strict=True)
    )
