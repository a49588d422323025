"""The privacy and attacks sections of an experiment configuration, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment

BASE = {
    "seed": 0,
    "data": {"name": "digits", "num_clients": 4},
    "model": {"name": "mlp", "hidden": 16},
    "training": {"rounds": 2, "local_epochs": 1, "batch_size": 20, "lr": 0.1},
}


def test_privacy_per_scenario_and_run_wide() -> None:
    cfg = parse_config(
        {
            **BASE,
            "privacy": {"dp": {"noise_multiplier": 0.5, "clip_norm": 2.0}},
            "scenarios": [
                {"name": "central-dp"},
                {"name": "masked", "privacy": {"secure_aggregation": True}},
            ],
        }
    )
    central, masked = cfg.resolved_scenarios()
    assert central.privacy.dp is not None and central.privacy.dp.noise_multiplier == 0.5
    assert masked.privacy.secure_aggregation and masked.privacy.dp is None
    assert [type(p).__name__ for p in masked.privacy.postprocessors()] == ["SecureAggregation"]


def test_bad_privacy_sections_name_the_field() -> None:
    with pytest.raises(InputError, match="placement"):
        parse_config(
            {**BASE, "privacy": {"secure_aggregation": True, "dp": {"placement": "server"}}}
        )
    with pytest.raises(InputError, match="noise_multiplier"):
        parse_config({**BASE, "privacy": {"dp": {"noise_multiplier": -1}}})
    with pytest.raises(InputError, match="inversion"):
        parse_config({**BASE, "attacks": {"inversion": ["telepathy"]}})


def test_run_with_attacks_reports_privacy(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            **BASE,
            "attacks": {"inversion": ["analytic"], "membership": True},
            "scenarios": [
                {"name": "plain"},
                {"name": "masked", "privacy": {"secure_aggregation": True}},
            ],
        }
    )
    summary = run_experiment(cfg, out_dir=tmp_path / "run")
    priv = summary["privacy"]
    assert priv["plain"]["inversion"]["server/analytic"]["psnr_db"] >= 40.0
    assert priv["masked"]["inversion"]["server/analytic"]["psnr_db"] < 20.0
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["privacy"]["plain"]["membership"]["loss"]["auc"] == pytest.approx(
        priv["plain"]["membership"]["loss"]["auc"]
    )
    html = (tmp_path / "run" / "report.html").read_text()
    assert '<section id="privacy">' in html and "Membership inference" in html


def test_masking_over_a_lossy_encoding_is_refused() -> None:
    with pytest.raises(InputError, match="bits >= 25"):
        parse_config(
            {
                **BASE,
                "scenarios": [
                    {
                        "name": "t",
                        "uplink": {"kind": "teleport", "link": {"fidelity": 0.99}, "bits": 16},
                        "privacy": {"secure_aggregation": True},
                    }
                ],
            }
        )
