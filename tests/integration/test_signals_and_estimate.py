"""SIGINT / SIGTERM on the in-process engine, and the dry-run estimate against a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from qtfl.errors import InputError
from qtfl.experiments.config import load_config, parse_config
from qtfl.experiments.estimate import estimate_run
from qtfl.experiments.runner import run_experiment
from qtfl.fl.checkpoint import load_checkpoint
from qtfl.security.run_secret import RunSecret

pytestmark = pytest.mark.integration

ROUNDS = 60
RAW = {
    "seed": 5,
    "data": {"name": "digits", "num_clients": 6},
    "model": {"name": "mlp", "hidden": 16},
    "training": {"rounds": ROUNDS, "local_epochs": 2, "batch_size": 10, "lr": 0.1},
    "strategy": {"name": "fedadam", "params": {"server_lr": 0.03}},
    "evaluation": {"every": 20},
}


def qtfl(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "qtfl.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def reached(path: Path) -> int:
    try:
        return load_checkpoint(path)[0].round
    except InputError:
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    run_experiment(parse_config(RAW), out_dir=out)
    return out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_exits_130_and_resume_finishes_bit_identically(
    tmp_path: Path, reference: Path, signum: signal.Signals
) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(RAW))
    out = tmp_path / "run"
    ckpt = out / "checkpoints" / "default.pt"
    proc = qtfl("run", str(cfg), "--out", str(out), "--json")
    deadline = time.monotonic() + 180
    while reached(ckpt) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "aborted; continue with --resume" in err.decode()
    assert "Traceback" not in err.decode()
    stopped = reached(ckpt)
    assert 2 <= stopped < ROUNDS, "the run finished before the signal; raise ROUNDS"
    assert not (out / "summary.json").exists()

    resumed = qtfl("run", str(cfg), "--out", str(out), "--resume", "--json")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    final, ref = load_checkpoint(ckpt)[0], load_checkpoint(reference / ckpt.relative_to(out))[0]
    assert final.round == ref.round == ROUNDS
    assert final.global_params.tobytes() == ref.global_params.tobytes()
    assert final.rng_states == ref.rng_states


def test_dry_run_estimate_of_a_reduced_quickstart_is_within_2x_of_the_real_run(
    tmp_path: Path,
) -> None:
    # the quickstart itself (all five scenarios, FEC, purification, QKD) with 4 rounds
    quick = load_config(Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml")
    raw = quick.model_dump()
    raw["training"]["rounds"] = 4
    cfg = parse_config(raw)
    estimate = estimate_run(cfg)
    t0 = time.perf_counter()
    summary = run_experiment(cfg, out_dir=tmp_path / "run")
    real = time.perf_counter() - t0
    ratio = real / estimate.wall_seconds
    print(f"estimated {estimate.wall_seconds:.1f} s, real {real:.1f} s, ratio {ratio:.2f}")
    assert 0.5 <= ratio <= 2.0
    # resource figures: the same order as the run's own ledgers (sampled clients differ)
    for sc in estimate.scenarios:
        got = summary["scenarios"][sc.name]["bell_pairs_total"]
        if got == 0:
            assert sc.bell_pairs == 0
        else:
            assert 0.5 <= sc.bell_pairs / got <= 2.0, (sc.name, sc.bell_pairs, got)


def test_sigterm_stops_scenario_workers_and_resume_finishes_bit_identically(
    tmp_path: Path,
) -> None:
    # Prepare: two scenarios, two workers that start at once (one scenario here, one in a
    # worker process); the reference ran both in one process with the same secret
    raw = {**RAW, "scenarios": [{"name": "a"}, {"name": "b", "strategy": {"name": "fedavg"}}]}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    secret = tmp_path / "run.key"
    RunSecret.generate().save(secret)
    reference = tmp_path / "reference"
    run_experiment(parse_config(raw), out_dir=reference, workers=1, secret_file=secret)
    out = tmp_path / "run"
    start_now = (
        "import sys; import qtfl.experiments.scenario_pool as p; p.START_AFTER_SECONDS = 0.0; "
        "from qtfl.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = ["run", str(cfg), "--out", str(out), "--workers", "2", "--secret-file", str(secret)]
    proc = subprocess.Popen(
        [sys.executable, "-c", start_now, *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    # Execute: SIGTERM once both scenarios have checkpoints (the worker is running one)
    ckpts = [out / "checkpoints" / f"{name}.pt" for name in ("a", "b")]
    deadline = time.monotonic() + 180
    while min(reached(c) for c in ckpts) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoints within 180 s"
        time.sleep(0.01)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "no worker process was started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    # Assert: exit 130, no traceback, no worker left, unfinished; then --resume finishes
    # both scenarios bit-identically to the one-process run
    assert proc.returncode == 130, err.decode()
    assert "aborted; continue with --resume" in err.decode()
    assert "Traceback" not in err.decode()
    psutil.wait_procs(children, timeout=30)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert min(reached(c) for c in ckpts) < ROUNDS, "finished before the signal; raise ROUNDS"
    assert not (out / "summary.json").exists()
    resumed = subprocess.Popen(
        [sys.executable, "-c", start_now, *args, "--resume", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    for ckpt in ckpts:
        final = load_checkpoint(ckpt)[0]
        ref = load_checkpoint(reference / "checkpoints" / ckpt.name)[0]
        assert final.round == ref.round == ROUNDS
        assert final.global_params.tobytes() == ref.global_params.tobytes()
        assert final.rng_states == ref.rng_states

        def no_clock(ms: tuple[dict[str, object], ...]) -> list[dict[str, object]]:
            return [{**m, "wall_seconds": None, "train_seconds": None} for m in ms]

        assert no_clock(final.metrics) == no_clock(ref.metrics)
