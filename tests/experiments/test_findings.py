"""Findings are computed from the numbers: known summaries in, verdicts and sentences that
flip when the numbers do."""

from __future__ import annotations

from typing import Any

from qtfl.experiments.findings import (
    COST,
    CUTS_AGAINST,
    INCONCLUSIVE,
    NOT_MEASURED,
    SUPPORTS,
    DetectionRow,
    accuracy_difference,
    accuracy_finding,
    dataset_findings,
    detection_findings,
    link_time_finding,
    overhead_finding,
    poisoning_finding,
    server_finding,
    tap_finding,
)


def scenario(acc: list[float], **extra: Any) -> dict[str, Any]:
    base = {"final_accuracy": sum(acc) / len(acc), "per_seed": {"final_accuracy": acc},
            "rounds": 10, "bell_pairs_total": 0, "payload_qubits_total": 0,
            "classical_bits_total": 1000, "link_seconds_total": None}  # fmt: skip
    return {**base, **extra}


def summary(**scenarios: dict[str, Any]) -> dict[str, Any]:
    return {"seeds": [0, 1, 2], "scenarios": scenarios}


def test_accuracy_difference_is_the_paired_t_interval() -> None:
    # differences -0.02, 0.00, +0.02: mean 0, s = 0.02, t(0.975, 2) = 4.302653
    s = summary(classical=scenario([0.90, 0.91, 0.92]), q=scenario([0.88, 0.91, 0.94]))
    m, lo, hi = accuracy_difference(s, "q") or (0, 0, 0)
    half = 4.302653 * 0.02 / 3**0.5
    assert abs(m) < 1e-12 and abs(hi - half) < 1e-6 and abs(lo + half) < 1e-6


def test_accuracy_verdict_flips_with_the_numbers() -> None:
    keeps = summary(classical=scenario([0.90, 0.91, 0.92]),
                    q=scenario([0.902, 0.911, 0.921]))  # fmt: skip
    hurts = summary(classical=scenario([0.90, 0.91, 0.92]), q=scenario([0.80, 0.80, 0.82]))
    noisy = summary(classical=scenario([0.90, 0.91, 0.92]), q=scenario([0.60, 0.95, 0.93]))
    a = accuracy_finding(keeps, "q", claim="c")
    b = accuracy_finding(hurts, "q", claim="c")
    c = accuracy_finding(noisy, "q", claim="c")
    assert a.verdict == SUPPORTS and "No loss of accuracy" in a.text and "91.1%" in a.text
    assert b.verdict == CUTS_AGAINST and "It hurts accuracy" in b.text and "80.7%" in b.text
    assert "-10.3 points" in b.text
    assert c.verdict == INCONCLUSIVE
    assert accuracy_finding(keeps, "absent", claim="c").verdict == NOT_MEASURED
    # one seed: a point, no interval, whatever the difference
    one = {"seeds": [0], "scenarios": {"classical": scenario([0.9]), "q": scenario([0.5])}}
    single = accuracy_finding(one, "q", claim="c")
    assert single.verdict == INCONCLUSIVE and "one seed" in single.text


def inv(psnr: float, *, base: float = 7.0, label: float = 1.0) -> dict[str, Any]:
    return {"psnr_db": psnr, "baseline_psnr_db": base, "label_accuracy": label,
            "held_payload": True}  # fmt: skip


def privacy(server_q: float, tap_q: float) -> dict[str, Any]:
    return {
        "classical": {"inversion": {"server/analytic": inv(100.0),
                                    "eavesdropper/analytic": inv(100.0)}},
        "teleport-fec": {"inversion": {"server/analytic": inv(server_q),
                                       "eavesdropper/analytic": inv(tap_q)}},
    }  # fmt: skip


def test_privacy_verdicts_follow_the_psnr() -> None:
    sees = server_finding(privacy(100.0, 7.2))
    blind = server_finding(privacy(7.5, 7.2))
    assert sees.verdict == CUTS_AGAINST and "still sees every update" in sees.text
    assert "PSNR 100 dB on teleport-fec" in sees.text
    assert blind.verdict == SUPPORTS and "learns nothing" in blind.text and "7.5 dB" in blind.text
    quiet, leaky = tap_finding(privacy(100.0, 7.2)), tap_finding(privacy(100.0, 40.0))
    assert quiet.verdict == SUPPORTS and "7.2 dB against 7 dB" in quiet.text
    assert leaky.verdict == CUTS_AGAINST and "recovers the update" in leaky.text
    assert server_finding({}).verdict == NOT_MEASURED


def test_link_time_verdict_and_the_per_round_figure() -> None:
    slow = summary(**{"teleport-fec": scenario([0.9], link_seconds_total=36_000.0,
                                               bell_pairs_total=2_000_000)})  # fmt: skip
    fast = summary(**{"teleport-fec": scenario([0.9], link_seconds_total=100.0,
                                               bell_pairs_total=2_000_000)})  # fmt: skip
    a, b = link_time_finding(slow), link_time_finding(fast)
    assert a.verdict == CUTS_AGAINST and "lasts 1 h of link time" in a.text
    assert "200 k Bell pairs" in a.text
    assert b.verdict == SUPPORTS and "lasts 10 s" in b.text
    unknown = summary(**{"teleport-fec": scenario([0.9])})
    assert link_time_finding(unknown).verdict == NOT_MEASURED


def test_detection_verdicts_at_the_heaviest_and_lightest_fraction() -> None:
    rows = [
        DetectionRow("eve-1", 1.0, 20, 20, 80, 0),
        DetectionRow("eve-0.05", 0.05, 20, 3, 80, 2),
    ]
    heavy, light = detection_findings(rows)
    assert heavy.verdict == SUPPORTS and "100% of the pairs is caught in 100.0%" in heavy.text
    assert light.verdict == CUTS_AGAINST and "caught in 15.0%" in light.text
    assert "(3 of 20)" in light.text and "at most 2.5% of honest" in light.text
    # false alarms above 5% spoil even perfect detection
    (alarmed,) = detection_findings([DetectionRow("eve-1", 1.0, 20, 20, 80, 8)])
    assert alarmed.verdict == CUTS_AGAINST
    assert detection_findings([])[0].verdict == NOT_MEASURED


def test_poisoning_and_overhead() -> None:
    honest = scenario([0.9, 0.9, 0.9])
    same = summary(classical=honest, **{"poison-classical": scenario([0.1, 0.12, 0.11]),
                                        "poison-teleport": scenario([0.1, 0.12, 0.11])})
    helps = summary(classical=honest, **{"poison-classical": scenario([0.1, 0.12, 0.11]),
                                         "poison-teleport": scenario([0.8, 0.81, 0.79])})
    noisy = summary(classical=honest, **{"poison-classical": scenario([0.25, 0.20, 0.31]),
                                         "poison-teleport": scenario([0.30, 0.28, 0.24])})
    a, b, c = poisoning_finding(same), poisoning_finding(helps), poisoning_finding(noisy)
    assert a.verdict == CUTS_AGAINST and "does nothing against poisoning" in a.text
    assert "difference 0 points" in a.text
    assert b.verdict == SUPPORTS and "80.0% over teleportation" in b.text
    # a 2-point mean gain whose interval reaches below zero is no help
    assert c.verdict == CUTS_AGAINST and "difference 2 points" in c.text
    cost = overhead_finding(summary(
        classical=scenario([0.9], classical_bits_total=1000),
        **{"teleport-fec": scenario([0.9], bell_pairs_total=1500, payload_qubits_total=1000,
                                    classical_bits_total=4000)}))  # fmt: skip
    assert cost.verdict == COST and "1.5 per payload qubit" in cost.text and "4 times" in cost.text


def test_dataset_findings_runs_every_claim_on_an_empty_run() -> None:
    found = dataset_findings(summary(), privacy={}, detection=[])
    assert len(found) == 9 and all(f.verdict == NOT_MEASURED for f in found)
