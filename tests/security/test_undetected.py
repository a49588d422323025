"""What an undetected eavesdropper learned: measured per delivery from her guess and the
true bits, summed over the updates the server accepted, per run and per client."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import InterceptResend
from qtfl.security.leakage import measure_leakage


def test_delivery_reports_the_information_of_eves_guess() -> None:
    ch = TeleportationChannel(
        LinkSpec(WernerPair(0.97)), bits=16, eavesdropper=InterceptResend(fraction=0.01, basis="z")
    )
    update = np.random.default_rng(0).normal(0, 0.01, 2000).astype(np.float32)
    report = ch.transmit(update, rng=np.random.default_rng(1))
    d = report.delivery
    assert d.delivered and d.tap.payload_guess is not None
    expected = measure_leakage(d.tap.payload_guess, report.payload_bits).information_bits
    assert d.tap.information_bits == expected > 0


def test_run_sums_what_undetected_attackers_learned_per_client(tmp_path: Path) -> None:
    link = {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 16}
    cfg = parse_config(
        {
            "data": {"name": "digits", "num_clients": 4},
            "model": {"name": "mlp", "hidden": 8},
            "training": {"rounds": 2, "local_epochs": 1},
            "scenarios": [
                {"name": "honest", "uplink": link},
                {"name": "eve", "uplink": link, "eavesdroppers": [
                    {"clients": [0], "attack": "intercept-resend", "fraction": 0.005,
                     "basis": "z"}]},
            ],
        }
    )  # fmt: skip
    s = run_experiment(cfg, out_dir=tmp_path / "run")["scenarios"]
    assert s["honest"]["undetected_information_bits"] is None
    eve = s["eve"]
    assert eve["undetected_information_bits"] > 0  # a 0.5% attack passes the checks
    assert set(eve["undetected_information_bits_by_client"]) == {"0"}
    assert eve["undetected_information_bits"] == sum(
        eve["undetected_information_bits_by_client"].values()
    )
