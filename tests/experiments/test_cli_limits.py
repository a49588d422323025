"""Every traceback and hang of the hostile-input review, as a CLI call: exit 2, one message.

Each case runs ``qtfl`` in-process (``qtfl.cli.main``) and checks: status 2, an ``error:``
line, no traceback, and nothing written where a run would write.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from qtfl.cli import main
from qtfl.fl.checkpoint import load_checkpoint, save_checkpoint

SMALL = {
    "seed": 3,
    "data": {"name": "digits", "num_clients": 4},
    "model": {"name": "mlp", "hidden": 8},
    "training": {"rounds": 2, "local_epochs": 1, "batch_size": 20, "lr": 0.2},
    "scenarios": [{"name": "plain"}],
}


def run_cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def refused(capsys: pytest.CaptureFixture[str], args: list[str], match: str) -> str:
    code = run_cli(args)
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert code == 2, (code, err)
    assert "error:" in err and match in err, err
    assert "Traceback" not in err + captured.out
    return err


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join([*lines, "seed: *a9"]) + "\n"


HOSTILE_FILES = {
    "alias bomb": (alias_bomb(), "aliases"),
    "5 MB string": ("seed: '" + "x" * 5_000_000 + "'\n", "bytes"),
    "nested 50,000 deep": ("seed: " + "[" * 50_000 + "]" * 50_000 + "\n", "nesting deeper"),
    "duplicate keys": ("training: {rounds: 3}\ntraining: {rounds: 4}\n", "appears twice"),
    "rounds: true": ("training: {rounds: true}\n", "got the boolean True"),
    "batch_size 1e12": ("training: {batch_size: 1.0e+12}\n", "training.batch_size"),
    "local_epochs 1e9": ("training: {local_epochs: 1.0e+9}\n", "training.local_epochs"),
    "rounds 1e40": ("training: {rounds: 1.0e+40}\n", "training.rounds"),
    "lr 1e300": ("training: {lr: 1.0e+300}\n", "training.lr"),
    "distance_km 1e6": (
        "channel: {kind: teleport, link: {distance_km: 1.0e+6, source_rate_hz: 1.0e+6}}\n",
        "no pair would arrive",
    ),
    "empty file": ("", "is empty"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_config_files_exit_2_before_any_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    text, match = HOSTILE_FILES[case]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    err = refused(capsys, ["run", str(cfg), "--out", str(out)], match)
    assert len(err) < 400
    assert not out.exists()


def test_out_under_a_regular_file_or_unwritable_place_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    refused(capsys, ["run", str(cfg), "--out", str(blocker / "run")], "which is a file")
    refused(capsys, ["run", str(cfg), "--out", str(blocker)], "not a directory")
    if Path("/proc/self").is_dir():
        refused(capsys, ["run", str(cfg), "--out", "/proc/self/qtfl-run"], "--out")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("finished")
    cfg = d / "c.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    out = d / "run"
    assert run_cli(["run", str(cfg), "--out", str(out), "--json"]) == 0
    return cfg, out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("summary.json", "{not json"),
        ("summary.json", "[1, 2]"),
        ("summary.json", '{"scenarios": 3}'),
        ("metrics.jsonl", '{"round": 1}\n'),
        ("metrics.jsonl", "garbage\n"),
        ("metrics.jsonl", '{"scenario": "plain", "round": "x", "zzz": 1}\n'),
    ],
)
def test_report_on_a_damaged_run_is_one_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    finished_run: tuple[Path, Path],
    name: str,
    content: str,
) -> None:
    run = _copy(finished_run[1], tmp_path / "run")
    (run / name).write_text(content)
    capsys.readouterr()
    refused(capsys, ["report", str(run)], "damaged")


def test_resume_with_another_config_never_touches_a_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: tuple[Path, Path]
) -> None:
    # scenario names that do not overlap: this used to replace summary.json and config.json
    run = _copy(finished_run[1], tmp_path / "run")
    before = snapshot(run)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**SMALL, "scenarios": [{"name": "elsewhere"}]}))
    refused(capsys, ["run", str(other), "--out", str(run), "--resume"], "different configuration")
    assert snapshot(run) == before
    (run / "config.json").unlink()  # even without its config.json, summary.json guards it
    refused(capsys, ["run", str(other), "--out", str(run), "--resume"], "no config.json")
    assert snapshot(run) == {k: v for k, v in before.items() if k != "config.json"}


def test_resume_from_an_empty_or_edited_checkpoint_is_an_error_not_aborted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: tuple[Path, Path]
) -> None:
    cfg = finished_run[0]
    run = _copy(finished_run[1], tmp_path / "run")
    ckpt = run / "checkpoints" / "plain.pt"
    (run / "summary.json").unlink()
    original = ckpt.read_bytes()
    ckpt.write_bytes(b"")
    refused(capsys, ["run", str(cfg), "--out", str(run), "--resume"], "is empty")
    ckpt.write_bytes(original)
    raw = torch.load(ckpt, weights_only=True)
    raw["global_params"] = torch.full_like(raw["global_params"], float("nan"))
    torch.save(raw, ckpt)
    refused(capsys, ["run", str(cfg), "--out", str(run), "--resume"], "altered")
    ckpt.write_bytes(original)
    assert load_checkpoint(ckpt)[0].round == 2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["qdataset", "generate", "G_1q_XZ_N1", "--examples", "1000000000"], "examples"),
        (["qdataset", "generate", "G_1q_XZ_N1", "--examples", "100000"], "GiB in memory"),
        (["security", "curve", "--trials", "1000000000"], "trials"),
        (["security", "curve", "--trials", "1000000", "--check-counts", "1000"],
         "checks x trials"),
        (["security", "eavesdroppers", "--trials", "1000000000"], "trials"),
        (["privacy", "membership", "--rounds", "1000000000"], "rounds"),
        (["privacy", "invert", "--local-steps", "1000000000"], "local_steps"),
        (["bench", "fl", "--clients", "1000000000"], "clients"),
    ],
)
def test_size_options_of_other_commands_have_maxima(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    if args[0] == "qdataset":
        args = [*args, "--out", str(tmp_path / "q.npz"), "--time-steps", "65536"]
    refused(capsys, args, match)
    assert not (tmp_path / "q.npz").exists()


def test_dry_run_prints_the_cost_per_scenario_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = {
        **SMALL,
        "scenarios": [
            {"name": "plain"},
            {"name": "tele", "uplink": {"kind": "teleport", "link": {"preset": "shen2023"}}},
        ],
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    assert run_cli(["run", str(cfg), "--dry-run", "--json"]) == 0  # no --out needed
    est = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not out.exists()
    assert set(est["scenarios"]) == {"plain", "tele"}
    plain, tele = est["scenarios"]["plain"], est["scenarios"]["tele"]
    assert plain["bell_pairs"] == 0 and tele["bell_pairs"] > 0
    assert tele["link_seconds"] > 0  # shen2023 publishes a rate (7.1 Hz)
    # 2 rounds x 4 clients, 16 bits per value: at least one payload qubit per bit sent
    assert tele["classical_bits"] >= 2 * tele["bell_pairs"] * 0.9
    assert est["wall_seconds"] >= plain["wall_seconds"] + tele["wall_seconds"]
    assert run_cli(["run", str(cfg), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "Bell pairs" in text and "tele" in text and "e+" not in text
    assert not out.exists()
    refused(capsys, ["run", str(cfg)], "needs --out")


def test_a_run_estimated_above_max_hours_is_refused_with_the_flag_to_raise_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**SMALL, "training": {**SMALL["training"], "rounds": 5000}}))
    out = tmp_path / "run"
    err = refused(capsys, ["run", str(cfg), "--out", str(out), "--max-hours", "0.0001"], "pass")
    assert "--max-hours" in err and "estimated at" in err
    assert not out.exists()
    refused(capsys, ["run", str(cfg), "--out", str(out), "--max-hours", "-1"], "--max-hours")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"rng_states": {}}, "does not fit this run"),
        ({"rng_states": {"sampling": {"bit_generator": "nope"}}}, "does not fit this run"),
        ({"global_params": np.zeros(3, np.float32)}, "parameters"),
        ({"strategy_state": {"m": np.zeros(2, np.float32)}}, "does not fit this run"),
        ({"metrics": ({"round": 1, "unknown": 2},)}, "does not fit this run"),
    ],
)
def test_a_re_signed_checkpoint_that_does_not_fit_the_run_is_one_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    finished_run: tuple[Path, Path],
    edit: dict,
    match: str,
) -> None:
    # someone who re-computes the content hash still cannot make --resume crash
    cfg = finished_run[0]
    run = _copy(finished_run[1], tmp_path / "run")
    (run / "summary.json").unlink()
    ckpt = run / "checkpoints" / "plain.pt"
    state, config_hash = load_checkpoint(ckpt)
    save_checkpoint(ckpt, dataclasses.replace(state, **edit), config_hash=config_hash)
    refused(capsys, ["run", str(cfg), "--out", str(run), "--resume"], match)


def test_resume_with_a_multi_seed_config_never_touches_another_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: tuple[Path, Path]
) -> None:
    run = _copy(finished_run[1], tmp_path / "run")
    before = snapshot(run)
    seeded = tmp_path / "seeded.yaml"
    seeded.write_text(yaml.safe_dump({**SMALL, "seeds": [1, 2]}))
    refused(capsys, ["run", str(seeded), "--out", str(run), "--resume"], "different configuration")
    assert snapshot(run) == before


def test_the_estimate_of_a_multi_seed_run_counts_every_seed() -> None:
    from qtfl.experiments.config import parse_config
    from qtfl.experiments.estimate import estimate_run

    one = estimate_run(parse_config(SMALL))
    three = estimate_run(parse_config({**SMALL, "seeds": [3, 4, 5]}))
    assert (one.seeds, three.seeds) == (1, 3)
    # plain channels: the bits sent do not depend on the seed, so exactly three times
    bits = one.scenarios[0].classical_bits
    assert bits > 0 and three.scenarios[0].classical_bits == 3 * bits
