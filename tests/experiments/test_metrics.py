"""The summary's reductions on hand-made round records: the Bell-pair parts, the rejected
split (checks / safety net / other), unknown link time, and scenarios sharing sampling."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtfl.experiments.config import parse_config
from qtfl.experiments.metrics import round_figures, summarize
from qtfl.experiments.runner import run_experiment
from qtfl.fl.engine import RoundMetrics


def record(r: int, clients: dict, *, detected: int, link_seconds: float = 4.0) -> RoundMetrics:
    up = {"bell_pairs": 1000, "payload_qubits": 700, "check_pairs": 100,
          "purification_pairs": 150, "classical_bits": 5000}  # fmt: skip
    return RoundMetrics(
        round=r, accuracy=0.5 + 0.1 * r, loss=1.0, sampled=4, dropped=0, answered=4,
        aborted=sum(not a for a in clients["accepted"]), detected=detected,
        aggregated=sum(clients["accepted"]), uplink=up, downlink={"classical_bits": 64},
        link_seconds=link_seconds, link_seconds_total=3 * link_seconds, clients=clients,
    )  # fmt: skip


CLIENTS = {
    "client": [0, 1, 2, 3],
    "accepted": [False, False, False, True],
    "detected": [True, False, False, False],
    "reason": ["qber-above-threshold", "safety-net-flagged", "no-key", "ok"],
    "qber": [0.25, 0.01, None, 0.02],
    "qber_bound": [0.05, 0.05, None, 0.05],
}


def test_round_figures_split_pairs_and_rejections() -> None:
    f = round_figures(record(1, CLIENTS, detected=1))
    assert f["bell_pairs"] == 1000 and f["classical_bits"] == 5064
    assert f["discarded_pairs"] == 1000 - 700 - 100 - 150
    assert (f["rejected_updates"], f["rejected_by_checks"], f["rejected_by_safety_net"],
            f["rejected_other"]) == (3, 1, 1, 1)  # fmt: skip
    assert f["rejected_clients"] == [0, 1, 2] and f["qber"] == [0.25, 0.01, None, 0.02]
    assert f["link_seconds"] == 4.0
    assert round_figures(record(1, CLIENTS, detected=1), rate_known=False)["link_seconds"] is None


def test_summarize_adds_rounds_and_keeps_unknown_link_time_unknown() -> None:
    recs = [record(r, CLIENTS, detected=1, link_seconds=float(r)) for r in (1, 2, 3)]
    s = summarize(recs, target=0.65)
    assert s["rounds_to_target"] == 2 and s["final_accuracy"] == pytest.approx(0.8)
    assert (s["bell_pairs_total"], s["payload_qubits_total"], s["discarded_pairs_total"]) == (
        3000, 2100, 150,
    )  # fmt: skip
    assert s["link_seconds_total"] == 6.0 and s["link_seconds_summed_over_clients"] == 18.0
    assert (s["detections"], s["rejected_by_checks"], s["rejected_by_safety_net"]) == (3, 3, 3)
    assert s["mean_qber"] == pytest.approx((0.25 + 0.01 + 0.02) / 3)
    unknown = summarize(recs, target=0.65, rate_known=False)
    assert unknown["link_seconds_total"] is None and unknown["link_rate_known"] is False


def test_scenarios_share_sampling_and_model_but_not_channel_randomness(tmp_path: Path) -> None:
    tele = {"kind": "teleport", "link": {"fidelity": 0.9}, "bits": 8}
    cfg = parse_config(
        {
            "seed": 2,
            "data": {"name": "digits", "num_clients": 6},
            "model": {"name": "mlp", "hidden": 8},
            "training": {"rounds": 3, "fraction": 0.5, "local_epochs": 1, "batch_size": 50},
            "scenarios": [
                {"name": "plain"},
                {"name": "aead", "uplink": {"kind": "aead"}},
                {"name": "tele-a", "uplink": tele},
                {"name": "tele-b", "uplink": tele},
            ],
        }
    )
    out = tmp_path / "run"
    run_experiment(cfg, out_dir=out)
    from qtfl.experiments.metrics import read_metrics

    recs = read_metrics((out / "metrics.jsonl").read_text())
    clients = {name: [r.clients["client"] for r in rs] for name, rs in recs.items()}
    assert clients["plain"] == clients["aead"] == clients["tele-a"] == clients["tele-b"]
    assert len(clients["plain"][0]) == 3  # half of 6 clients per round
    # AES-GCM delivers the exact float32 update: same model, same batches, same accuracy
    assert [r.accuracy for r in recs["plain"]] == [r.accuracy for r in recs["aead"]]
    # the two identical teleport scenarios draw their pairs from different streams
    qa = [q for r in recs["tele-a"] for q in r.clients["qber"]]
    qb = [q for r in recs["tele-b"] for q in r.clients["qber"]]
    assert qa != qb
