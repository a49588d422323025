"""What the quickstart must show, on configs/quickstart.yaml itself (5 of its 30 rounds, three
of its scenarios, to stay fast; docs/results/quickstart.md reports the full run):

* corrected teleportation ends within 1 accuracy point of classical plaintext;
* the eavesdropped clients' updates are detected and rejected in every round while the
  other clients' updates are aggregated;
* Bell pairs = payload qubits + checks + purification + the payload positions of aborted
  attempts, each part counted independently (a detected client's three attempts discard
  exactly three first passes of FEC codewords, 86,464 pairs each, the auto code ldpc-9/10
  at the purified pairs' bit error);
* two runs of one configuration and seed give identical summaries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtfl.channel.fec import FEC_CODES, FecCodec
from qtfl.experiments.config import load_config, parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.security.run_secret import SECRET_FILE

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
KEEP = ("classical", "teleport-corrected", "teleport-eavesdropped")
ROUNDS = 5

pytestmark = pytest.mark.integration


def test_quickstart_shows_what_the_issue_asks(tmp_path: Path) -> None:
    """One run (one test, so parallel workers do not repeat it), three checks."""
    raw = load_config(CONFIG).model_dump(mode="json")
    raw["training"]["rounds"] = ROUNDS
    raw["scenarios"] = [s for s in raw["scenarios"] if s["name"] in KEEP]
    run_experiment(parse_config(raw), out_dir=tmp_path)
    check_corrected_teleportation_is_within_one_point_of_classical(tmp_path)
    check_eavesdropped_clients_are_rejected_every_round_and_training_goes_on(tmp_path)
    check_bell_pairs_are_payload_plus_checks_plus_purification_plus_aborted_passes(tmp_path)


def load(out: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


def check_corrected_teleportation_is_within_one_point_of_classical(run: Path) -> None:
    summary, _ = load(run)
    s = summary["scenarios"]
    assert s["classical"]["final_accuracy"] >= 0.85
    diff = s["teleport-corrected"]["final_accuracy"] - s["classical"]["final_accuracy"]
    assert abs(diff) <= 0.01
    assert s["teleport-corrected"]["rejected_updates"] == 0
    assert s["teleport-corrected"]["purification_pairs_total"] > 0


def check_eavesdropped_clients_are_rejected_every_round_and_training_goes_on(run: Path) -> None:
    summary, rows = load(run)
    eve = summary["scenarios"]["teleport-eavesdropped"]
    assert eve["eavesdropped_clients"] == [0, 1]
    mine = [r for r in rows if r["scenario"] == "teleport-eavesdropped"]
    assert len(mine) == ROUNDS
    for r in mine:
        c = r["clients"]
        for k, acc, det, why in zip(c["client"], c["accepted"], c["detected"], c["reason"],
                                    strict=True):  # fmt: skip
            if k in (0, 1):
                assert (acc, det, why) == (False, True, "qber-above-threshold")
            else:
                assert acc and not det
        assert r["aggregated"] == 8 and r["figures"]["rejected_by_checks"] == 2
        bounds = [b for k, b in zip(c["client"], c["qber_bound"], strict=True) if k in (0, 1)]
        qbers = [q for k, q in zip(c["client"], c["qber"], strict=True) if k in (0, 1)]
        assert all(q > b for q, b in zip(qbers, bounds, strict=True))
    assert eve["rejected_by_checks"] == eve["detections"] == 2 * ROUNDS
    assert eve["rejected_by_safety_net"] == 0
    assert eve["final_accuracy"] >= 0.85


def check_bell_pairs_are_payload_plus_checks_plus_purification_plus_aborted_passes(
    run: Path,
) -> None:
    summary, rows = load(run)
    first_pass = FecCodec(FEC_CODES["ldpc-9/10"], bit_error_rate=0.001).layout(4810 * 16)
    for r in rows:
        if r["scenario"] == "classical":
            assert r["figures"]["bell_pairs"] == 0
            continue
        c = r["clients"]
        for acc, bell, payload, check, purif in zip(
            c["accepted"], c["bell_pairs"], c["payload_qubits"],
            c["check_pairs"], c["purification_pairs"], strict=True,
        ):  # fmt: skip
            discarded = bell - payload - check - purif
            assert discarded >= 0 and payload >= (first_pass.channel_bits if acc else 0)
            if not acc:  # three attempts at the first pass, all aborted before teleporting
                assert (payload, discarded) == (0, 3 * first_pass.channel_bits)
    honest = summary["scenarios"]["teleport-corrected"]
    # aborted honest attempts are false alarms at alpha = 1% per test
    assert honest["discarded_pairs_total"] <= 0.05 * honest["payload_qubits_total"]


def test_two_runs_give_identical_summaries(tmp_path: Path) -> None:
    raw = {
        "seed": 7,
        "data": {"name": "digits", "num_clients": 4},
        "model": {"name": "mlp", "hidden": 16},
        "training": {"rounds": 2, "local_epochs": 1, "batch_size": 20},
        "scenarios": [
            {"name": "plain"},
            {
                "name": "eve",
                "uplink": {"kind": "teleport", "link": {"fidelity": 0.95}, "fec": "auto",
                           "purify_to": 0.97},
                "eavesdroppers": [{"clients": [1], "attack": "intercept-resend",
                                   "fraction": 0.5}],
            },
        ],
    }  # fmt: skip
    cfg = parse_config(raw)
    # an eavesdropped scenario's verdicts depend on secret choices (which attacked pairs are
    # checked): two runs agree bit for bit with the same seed *and* the same run secret
    a = run_experiment(cfg, out_dir=tmp_path / "a")
    b = run_experiment(cfg, out_dir=tmp_path / "b", secret_file=tmp_path / "a" / SECRET_FILE)
    assert a.pop("timing").keys() == b.pop("timing").keys() == {"plain", "eve"}
    assert a == b
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["scenarios"] == a["scenarios"]

    def without_clock(p: Path) -> list[dict]:
        rows = [json.loads(x) for x in p.read_text().splitlines()]
        for r in rows:
            r.pop("wall_seconds"), r.pop("train_seconds")
        return rows

    assert without_clock(tmp_path / "a" / "metrics.jsonl") == without_clock(
        tmp_path / "b" / "metrics.jsonl"
    )
    assert a["scenarios"]["eve"]["bell_pairs_total"] > 0
