"""configs/paper.yaml's FEC, purified and QKD-OTP scenarios on Flower's Ray simulation.

The paper's scenarios ``teleport-f95`` (FEC auto), ``teleport-f95-purified`` (DEJMPS to
0.995, then FEC) and ``qkd-otp-f95`` (BBM92 key, one-time pad), shrunk to keep the test
fast — digits instead of Fashion-MNIST, 2 clients, 2 rounds, a 16-unit hidden layer —
through ``qtfl run --engine flower-sim`` and the in-process engine: every round's accuracy,
loss, uplink ledger and verdict counts are equal. Both runs use one run secret
(``--secret-file``): QKD-OTP draws its key blocks from the link secret, so its ledger
depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qtfl.cli import main
from qtfl.security.run_secret import RunSecret

pytestmark = pytest.mark.integration
PAPER = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"
SCENARIOS = ("teleport-f95", "teleport-f95-purified", "qkd-otp-f95")
COMPARED = ("scenario", "round", "accuracy", "loss", "sampled", "aborted", "detected",
            "aggregated", "uplink")  # fmt: skip


def _shrunk(tmp_path: Path) -> Path:
    raw = yaml.safe_load(PAPER.read_text())
    raw["data"] = {"name": "digits", "num_clients": 2}
    raw["model"] = {"name": "mlp", "hidden": 16}
    raw["training"].update(rounds=2)
    raw["evaluation"] = {"every": 1}
    raw["scenarios"] = [s for s in raw["scenarios"] if s["name"] in SCENARIOS]
    path = tmp_path / "paper-small.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _metrics(out: Path) -> list[dict]:
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: x[k] for k in COMPARED} for x in lines]


def test_paper_fec_purified_and_qkd_scenarios_on_flower_sim_equal_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    config = _shrunk(tmp_path)
    secret = tmp_path / "run.secret"
    RunSecret.generate().save(secret)
    common = ["--secret-file", str(secret), "--json"]
    # Execute
    main(["run", str(config), "--out", str(tmp_path / "sim"), "--engine", "flower-sim", *common])
    main(["run", str(config), "--out", str(tmp_path / "local"), *common])
    capsys.readouterr()
    # Assert: both scenarios, both rounds, every compared figure equal (floats exactly)
    got, want = _metrics(tmp_path / "sim"), _metrics(tmp_path / "local")
    assert [(x["scenario"], x["round"]) for x in want] == [(s, r) for s in SCENARIOS
                                                           for r in (1, 2)]  # fmt: skip
    assert got == want
    purified = [x["uplink"] for x in want if x["scenario"] == "teleport-f95-purified"]
    assert all(u["purification_pairs"] > 0 for u in purified)
