"""Encodings and QEC in federated runs (digits, logistic regression, 3 clients, 1-2 rounds).

* a teleported downlink in the float32 encoding at F = 1 equals the plaintext run bit for
  bit (every round's accuracy and loss, and the final model);
* an angle/amplitude-encoded uplink delivers the clients' real updates with the variance
  the library states (4-sigma bound, fixed seeds);
* QEC (with FEC) and the analog encodings run end to end through ``run_experiment`` and the
  summary's cost per parameter matches the encodings' closed forms.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.channel.teleportation import TeleportationChannel
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs, run_experiment
from qtfl.security.detection import check_count

pytestmark = pytest.mark.integration
Z_BOUND = 4.0


def _raw(scenarios: list[dict[str, Any]], rounds: int = 1) -> dict[str, Any]:
    return {
        "seed": 5,
        "data": {"name": "digits", "partition": "iid", "num_clients": 3},
        "model": {"name": "logreg"},
        "training": {"rounds": rounds, "local_epochs": 1, "batch_size": 20, "lr": 0.1},
        "evaluation": {"every": 1},
        "channel": {"kind": "plain"},
        "scenarios": scenarios,
    }


def test_teleported_float32_downlink_at_f1_equals_plaintext_bit_for_bit() -> None:
    # Prepare
    cfg = parse_config(
        _raw(
            [
                {"name": "plain"},
                {
                    "name": "teleported-downlink",
                    "downlink": {
                        "kind": "teleport",
                        "link": {"fidelity": 1.0, "pair_rate_hz": 1e6},
                        "encoding": "float32",
                    },
                },
            ],
            rounds=2,
        )
    )
    inputs = prepare_inputs(cfg)
    # Execute
    sims = {sc.name: build_simulation(cfg, inputs, sc) for sc in cfg.resolved_scenarios()}
    for sim in sims.values():
        for _ in range(2):
            sim.run_round()
    # Assert
    plain, tele = sims["plain"], sims["teleported-downlink"]
    for a, b in zip(plain.history, tele.history, strict=True):
        assert (a.accuracy, a.loss, a.aggregated) == (b.accuracy, b.loss, b.aggregated)
    assert np.array_equal(plain.global_params.view(np.uint32), tele.global_params.view(np.uint32))
    down = tele.history[-1].downlink
    n = int(plain.global_params.size) * 32
    assert down["payload_qubits"] == 3 * n  # 32 pairs per parameter, 3 clients
    assert plain.history[-1].downlink.get("bell_pairs", 0) == 0


@pytest.mark.parametrize(
    ("encoding", "shots", "qec"), [("angle", 32, "none"), ("amplitude", 256, "five-qubit")]
)
def test_analog_uplink_in_a_run_has_the_stated_variance(
    encoding: str, shots: int, qec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: record what each uplink send got, delivered, and the variance stated for it
    cfg = parse_config(
        _raw(
            [
                {
                    "name": "analog",
                    "uplink": {
                        "kind": "teleport",
                        "link": {"fidelity": 0.95},
                        "encoding": encoding,
                        "shots": shots,
                        "qec": qec,
                    },
                }
            ]
        )
    )
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    # every send, one by one or batched across clients (qtfl.channel.batched), runs these steps
    original = TeleportationChannel._transmit_steps

    def recording(self: TeleportationChannel, update: np.ndarray, *, rng: Any) -> Any:
        report = yield from original(self, update, rng=rng)
        if report.delivery.received is not None:
            seen.append((update, report.delivery.received, self.readout_variance(update)))
        return report

    monkeypatch.setattr(TeleportationChannel, "_transmit_steps", recording)
    inputs = prepare_inputs(cfg)
    sim = build_simulation(cfg, inputs, cfg.resolved_scenarios()[0])
    # Execute
    record = sim.run_round()
    # Assert
    assert record.aggregated == 3 and len(seen) == 3
    sent = np.concatenate([u for u, _, _ in seen]).astype(np.float64)
    got = np.concatenate([r for _, r, _ in seen]).astype(np.float64)
    var = np.concatenate([v for _, _, v in seen])
    keep = var > 0
    e = got[keep] - sent[keep]
    z = e / np.sqrt(var[keep])
    ratio = e * e / var[keep]
    assert abs(z.mean()) * math.sqrt(z.size) < Z_BOUND
    se = ratio.std(ddof=1) / math.sqrt(ratio.size)
    assert abs(ratio.mean() - 1.0) < Z_BOUND * se, (ratio.mean(), se)


def test_qec_and_analog_scenarios_run_end_to_end_with_cost_per_parameter(
    tmp_path: Path,
) -> None:
    # Prepare
    link = {"fidelity": 0.97, "pair_rate_hz": 1e6}
    cfg = parse_config(
        _raw(
            [
                {"name": "plain"},
                {
                    "name": "shor-fec",
                    "uplink": {
                        "kind": "teleport",
                        "link": link,
                        "bits": 8,
                        "qec": "shor",
                        "fec": "auto",
                    },
                },
                {
                    "name": "angle",
                    "uplink": {"kind": "teleport", "link": link, "encoding": "angle", "shots": 16},
                },
                {
                    "name": "amplitude",
                    "uplink": {
                        "kind": "teleport",
                        "link": link,
                        "encoding": "amplitude",
                        "shots": 64,
                    },
                },
            ]
        )
    )
    # Execute
    summary = run_experiment(cfg, out_dir=tmp_path / "out", workers=1)
    # Assert
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    scenarios = on_disk["scenarios"]
    assert (
        summary["scenarios"]["angle"]["cost_per_parameter"]
        == scenarios["angle"]["cost_per_parameter"]
    )
    for name in ("shor-fec", "angle", "amplitude"):
        assert scenarios[name]["updates_aggregated"] == 3, name
        assert scenarios[name]["uplink_encoding"] in ("basis", "angle", "amplitude")
    d = 64 * 10 + 10  # logistic regression on 8x8 digits
    angle = scenarios["angle"]["cost_per_parameter"]["uplink"]
    assert angle["payload_qubits"] == 16  # one qubit per value per copy
    amp = scenarios["amplitude"]["cost_per_parameter"]["uplink"]
    assert amp["payload_qubits"] * d == 64 * ((d - 1).bit_length() + 1)
    k = check_count(64 * ((d - 1).bit_length() + 1), 0.1)
    assert amp["bell_pairs"] * d == 64 * ((d - 1).bit_length() + 1) + k
    shor = scenarios["shor-fec"]["cost_per_parameter"]["uplink"]
    assert shor["payload_qubits"] >= 9 * 8  # 9 pairs per logical bit, plus FEC parity
    assert scenarios["shor-fec"]["uplink_qec"] == "shor"
    assert scenarios["plain"]["cost_per_parameter"]["uplink"]["bell_pairs"] == 0
