"""`training.workers` / `qtfl run --workers`: one and two workers give the same run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from qtfl.cli import main
from qtfl.errors import InputError
from qtfl.experiments import runner, scenario_pool
from qtfl.experiments.config import parse_config
from qtfl.fl.checkpoint import SimulationState
from qtfl.fl.parallel import ChannelPool
from qtfl.security.run_secret import RunSecret

TELEPORT = {
    "kind": "teleport",
    "link": {"fidelity": 0.95, "pair_rate_hz": 1.0e6},
    "bits": 16,
    "check_fraction": 0.1,
    "fec": "auto",
}
RAW: dict[str, Any] = {
    "seed": 4,
    "data": {"name": "digits", "num_clients": 4},
    "model": {"name": "mlp", "hidden": 8},
    "training": {"rounds": 3, "local_epochs": 1, "batch_size": 20, "lr": 0.2},
    "evaluation": {"every": 1, "target_accuracy": 0.5},
    "scenarios": [
        {"name": "classical"},
        {"name": "teleport", "uplink": TELEPORT},
        {
            "name": "teleport-topk-eve",
            "uplink": TELEPORT,
            "compression": {"kind": "topk", "ratio": 0.3, "error_feedback": True},
            "eavesdroppers": [{"clients": [1], "attack": "intercept-resend", "fraction": 0.5}],
        },
    ],
}


def no_clock_rows(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{**r, "wall_seconds": None, "train_seconds": None} for r in rows]


def same_runs(one: Path, two: Path) -> None:
    """Everything but wall-clock time is identical: summary, metrics rows, final models."""
    saved_one = json.loads((one / "summary.json").read_text())
    saved_two = json.loads((two / "summary.json").read_text())
    saved_one.pop("timing"), saved_two.pop("timing")
    assert saved_one == saved_two
    assert no_clock_rows(one / "metrics.jsonl") == no_clock_rows(two / "metrics.jsonl")
    models = sorted(p.name for p in (one / "models").iterdir())
    assert models == sorted(p.name for p in (two / "models").iterdir())
    for name in models:
        assert (one / "models" / name).read_bytes() == (two / "models" / name).read_bytes()


def test_one_and_two_channel_workers_give_identical_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a one-scenario run (its clients' uplinks go to the channel pool: stateful
    # error-feedback compression and an eavesdropper), pools that start at once and use the
    # workers from the second round on
    pools: list[ChannelPool] = []

    def eager_pool(*, workers: int) -> ChannelPool:
        pool = ChannelPool(workers=workers, min_batch_seconds=0.0)
        pool.start(modules=["qtfl.channel.teleportation"], wait=True)
        pools.append(pool)
        return pool

    monkeypatch.setattr(runner, "ChannelPool", eager_pool)
    config = parse_config({**RAW, "scenarios": RAW["scenarios"][2:]})
    secret = tmp_path / "run.key"  # same seed and same secret: bit-identical runs
    RunSecret.generate().save(secret)
    # Execute
    one = runner.run_experiment(config, out_dir=tmp_path / "one", workers=1, secret_file=secret)
    two = runner.run_experiment(config, out_dir=tmp_path / "two", workers=2, secret_file=secret)
    # Assert: the two-worker run really sent through workers (rounds 2-3 x 4 clients), and
    # everything but wall-clock time is identical
    assert [p.workers for p in pools] == [1, 2]
    assert pools[0].pooled_sends == 0 and pools[1].pooled_sends == 2 * 4
    assert {k: v for k, v in one.items() if k != "timing"} == {
        k: v for k, v in two.items() if k != "timing"
    }
    same_runs(tmp_path / "one", tmp_path / "two")
    assert one["scenarios"]["teleport-topk-eve"]["bell_pairs_total"] > 0


def test_scenarios_in_worker_processes_give_identical_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: workers start at once, and this process takes only the first scenario, so a
    # worker process must run the other two (the worker's own module is not patched)
    monkeypatch.setattr(scenario_pool, "START_AFTER_SECONDS", 0.0)
    real_take = scenario_pool._take
    taken_here: list[str] = []

    def take_once(order: list[str], taken: object) -> str | None:
        if taken_here:
            return None
        name = real_take(order, taken)
        taken_here.extend([name] if name is not None else [])
        return name

    runs: list[dict[str, scenario_pool.ScenarioRun]] = []

    def recording(*args: Any, **kwargs: Any) -> dict[str, scenario_pool.ScenarioRun]:
        out = scenario_pool.run_scenarios(*args, **kwargs)
        runs.append(out)
        return out

    config = parse_config(RAW)
    secret = tmp_path / "run.key"
    RunSecret.generate().save(secret)
    one = runner.run_experiment(config, out_dir=tmp_path / "one", workers=1, secret_file=secret)
    monkeypatch.setattr(scenario_pool, "_take", take_once)
    monkeypatch.setattr(runner, "run_scenarios", recording)
    # Execute
    two = runner.run_experiment(config, out_dir=tmp_path / "two", workers=2, secret_file=secret)
    # Assert: the slowest-ranked scenario ran here, the other two in one worker process, and
    # summary, metrics rows and models are identical to the one-process run
    [ran] = runs
    assert taken_here == ["teleport"]  # FEC over unpurified pairs outranks classical
    assert ran["teleport"].pid == os.getpid()
    [worker] = {ran[n].pid for n in ("classical", "teleport-topk-eve")}
    assert worker != os.getpid()
    assert {k: v for k, v in one.items() if k != "timing"} == {
        k: v for k, v in two.items() if k != "timing"
    }
    same_runs(tmp_path / "one", tmp_path / "two")
    assert set(two["timing"]) == {"classical", "teleport", "teleport-topk-eve"}


def test_an_error_in_a_worker_process_is_one_error_naming_its_scenario(tmp_path: Path) -> None:
    # Prepare: the worker gets 'classical' with a checkpoint of the wrong model size, so its
    # own InputError (raised in the worker) must travel back, named after the scenario
    calls: list[str] = []

    def run_here(name: str, poll: Any) -> scenario_pool.ScenarioRun:
        calls.append(name)
        while True:  # leave every other scenario to the worker; wait for its report
            poll(0.1)

    wrong = SimulationState(
        round=1,
        global_params=np.zeros(3, np.float32),
        strategy_state={},
        rng_states={},
        metrics=(),
        channel_states={},
    )
    # Execute
    with pytest.raises(InputError) as info:
        scenario_pool.run_scenarios(
            parse_config(RAW),
            names=["classical", "teleport"],
            out=tmp_path,
            secret=RunSecret.generate(),
            saved={"classical": wrong},
            digest="x",
            workers=2,
            run_here=run_here,
            on_round=lambda name, record: None,
            start_after_seconds=0.0,
        )
    # Assert: this process ran the first-ranked scenario; the worker's error names its own
    assert calls == ["teleport"]
    assert str(info.value).startswith("scenario 'classical': checkpoint holds 3 parameters")


def test_workers_config_is_checked_and_leaves_the_hash_alone() -> None:
    base = parse_config(RAW)
    assert base.training.workers == "auto"
    two = parse_config({**RAW, "training": {**RAW["training"], "workers": 2}})
    assert two.training.workers == 2
    assert two.config_hash() == base.config_hash()  # a run resumes with any worker count
    for bad in (0, -2, "two", 1.5, 257):
        with pytest.raises(InputError) as info:
            parse_config({**RAW, "training": {**RAW["training"], "workers": bad}})
        assert "training.workers: must be an integer in 1..256 or 'auto'" in str(info.value)
    with pytest.raises(InputError, match="workers takes numbers, got the boolean True"):
        parse_config({**RAW, "training": {**RAW["training"], "workers": True}})


def test_cli_rejects_bad_workers_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(RAW))
    for args, message in (
        (["--workers", "0"], "--workers must be a positive integer or auto, got '0'"),
        (["--workers", "2", "--engine", "flower-sim"], "--workers applies to --engine inprocess"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", str(cfg), "--out", str(tmp_path / "out"), *args])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_workers_reach_every_seed_of_a_multi_seed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: record the pools the runner builds
    sizes: list[int] = []

    def recording_pool(*, workers: int) -> ChannelPool:
        pool = ChannelPool(workers=workers)
        sizes.append(pool.workers)
        return pool

    monkeypatch.setattr(runner, "ChannelPool", recording_pool)
    raw = {**RAW, "seeds": [4, 5], "scenarios": [{"name": "classical"}]}
    raw["training"] = {**RAW["training"], "rounds": 1, "workers": 1}
    # Execute: the command line's --workers 2 overrides the file's 1
    runner.run_experiment(parse_config(raw), out_dir=tmp_path / "seeds", workers=2)
    # Assert: one pool of two workers per seed
    assert sizes == [2, 2]
