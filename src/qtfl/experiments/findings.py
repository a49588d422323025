"""Findings of the paper's evaluation, computed from the measured summaries.

Each function reads one data set's multi-seed ``summary.json`` (means, 95% ``intervals``,
``per_seed`` values; :mod:`qtfl.experiments.seeds`) plus the privacy results and the
eavesdropper tallies, and returns a :class:`Finding`: the paper's claim, a verdict
(``supports``, ``cuts against``, ``inconclusive`` when the seeds' interval is too wide to
tell, ``cost`` for a measured price, ``not measured``), and one
sentence whose every number comes from the inputs. Nothing here is hard-coded prose about
results: change the numbers and the verdicts and sentences change with them.

Thresholds (stated, keyword arguments with defaults):

* accuracy: a scenario *hurts* accuracy when the 95% interval of its per-seed paired
  difference from the classical baseline lies wholly below ``-tolerance`` (1 point), and
  *keeps* it when the interval lies wholly above ``-tolerance``; otherwise (or with a
  single seed) inconclusive;
* inversion: an attacker *sees* an update when its PSNR exceeds the random-code baseline
  by more than ``psnr_margin_db`` (3 dB);
* link time: a round is *practical* when it lasts at most ``practical_round_s`` (60 s);
* poisoning: teleportation *helps* only when the 95% interval of the paired difference
  (teleported minus plaintext, both poisoned) lies wholly above ``tolerance`` (1 point);
* detection: the checks *catch* an eavesdropper when at least ``detect_rate`` (90%) of its
  updates are rejected, with at most ``false_alarm_rate`` (5%) honest updates rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qtfl.experiments.seeds import mean_interval
from qtfl.present.units import human_count, human_number, human_percent, human_seconds

SUPPORTS = "supports"
CUTS_AGAINST = "cuts against"
COST = "cost"
INCONCLUSIVE = "inconclusive"
NOT_MEASURED = "not measured"

BASELINE = "classical"
RAW_F95 = "teleport-raw-f95"
RAW = "teleport-raw"
FEC = "teleport-fec"
PURIFIED = "teleport-purified-fec"
QKD = "qkd-otp-purified"
POISON_CLASSICAL = "poison-classical"
POISON_TELEPORT = "poison-teleport"


@dataclass(frozen=True)
class Finding:
    """One claim of the paper, what the measurements say about it, and the sentence."""

    claim: str
    verdict: str
    text: str


@dataclass(frozen=True)
class DetectionRow:
    """An eavesdropped scenario: the attacked fraction of pairs and the checks' record."""

    scenario: str
    fraction: float
    attacked_updates: int
    attacked_rejected: int
    honest_updates: int
    honest_rejected: int

    @property
    def detection_rate(self) -> float | None:
        """Share of the attacked clients' updates that the checks rejected."""
        return self.attacked_rejected / self.attacked_updates if self.attacked_updates else None

    @property
    def false_alarm_rate(self) -> float | None:
        """Share of the honest clients' updates that the checks rejected."""
        return self.honest_rejected / self.honest_updates if self.honest_updates else None


def _pp(x: float) -> str:
    """A difference of accuracies in percentage points."""
    text = human_number(0.0 if abs(x) < 1e-9 else 100.0 * x)
    return f"{text} point" if text in ("1", "-1") else f"{text} points"


def _acc(x: float | None) -> str:
    return human_percent(x)


def accuracy_difference(
    summary: Mapping[str, Any], scenario: str, *, baseline: str = BASELINE
) -> tuple[float, float, float] | None:
    """``(mean, low, high)`` of the per-seed paired difference of final accuracy from the
    baseline (95% Student-t); ``None`` when either scenario is missing."""
    sc = summary["scenarios"]
    if scenario not in sc or baseline not in sc:
        return None
    a = sc[scenario].get("per_seed", {}).get("final_accuracy")
    b = sc[baseline].get("per_seed", {}).get("final_accuracy")
    if not a or not b:
        a, b = [sc[scenario]["final_accuracy"]], [sc[baseline]["final_accuracy"]]
    diffs = [x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not diffs:
        return None
    return mean_interval(diffs)


def accuracy_finding(
    summary: Mapping[str, Any], scenario: str, *, claim: str, tolerance: float = 0.01
) -> Finding:
    """Does ``scenario`` lose accuracy against the classical baseline (module docstring)?"""
    diff = accuracy_difference(summary, scenario)
    if diff is None:
        return Finding(claim, NOT_MEASURED, f"Scenario {scenario} or {BASELINE} did not run.")
    m, lo, hi = diff
    sc = summary["scenarios"]
    n = len(summary.get("seeds") or [0])
    where = (
        f"{scenario} ends at {_acc(sc[scenario]['final_accuracy'])} against "
        f"{_acc(sc[BASELINE]['final_accuracy'])} for {BASELINE} (difference {_pp(m)}, "
        + (f"95% interval {_pp(lo)} to {_pp(hi)} over {n} seeds)" if n > 1 else "one seed)")
    )
    if n < 2:
        return Finding(claim, INCONCLUSIVE, f"One seed gives no interval: {where}.")
    if hi < -tolerance:
        return Finding(claim, CUTS_AGAINST, f"It hurts accuracy: {where}.")
    if lo >= -tolerance:
        return Finding(claim, SUPPORTS, f"No loss of accuracy beyond {_pp(tolerance)}: {where}.")
    return Finding(
        claim, INCONCLUSIVE, f"The seeds disagree too much to tell (more seeds needed): {where}."
    )


def _inversion(privacy: Mapping[str, Any], scenario: str, attacker: str) -> dict[str, Any] | None:
    res = privacy.get(scenario, {}).get("inversion", {})
    for key, row in res.items():
        if key.startswith(f"{attacker}/") and row.get("psnr_db") is not None:
            return dict(row)
    return None


def _sees(row: Mapping[str, Any], margin: float) -> bool:
    return bool(row.get("held_payload", True)) and (
        row["psnr_db"] > row.get("baseline_psnr_db", 0.0) + margin
    )


def server_finding(
    privacy: Mapping[str, Any], *, scenario: str = FEC, psnr_margin_db: float = 3.0
) -> Finding:
    """Does teleportation hide the update from an honest-but-curious server?"""
    claim = "Teleportation keeps client updates private"
    row, base = _inversion(privacy, scenario, "server"), _inversion(privacy, BASELINE, "server")
    if row is None or base is None:
        return Finding(claim, NOT_MEASURED, "No inversion by the server was run.")
    text = (
        f"the server's inversion of one client's update reaches PSNR "
        f"{human_number(row['psnr_db'])} dB on {scenario} and {human_number(base['psnr_db'])} dB "
        f"on {BASELINE} (random codes: {human_number(row.get('baseline_psnr_db'))} dB; label "
        f"accuracy {_acc(row.get('label_accuracy'))})"
    )
    if _sees(row, psnr_margin_db):
        return Finding(
            claim, CUTS_AGAINST,
            f"The curious server still sees every update: {text}. Teleportation protects "
            "the wire, not the endpoint.",
        )  # fmt: skip
    return Finding(claim, SUPPORTS, f"The server learns nothing from the update: {text}.")


def tap_finding(
    privacy: Mapping[str, Any], *, scenario: str = FEC, psnr_margin_db: float = 3.0
) -> Finding:
    """Does a tap on the classical channel of teleportation learn the update?"""
    claim = "A wire eavesdropper learns nothing from a teleported update"
    row, base = (
        _inversion(privacy, scenario, "eavesdropper"),
        _inversion(privacy, BASELINE, "eavesdropper"),
    )
    if row is None:
        return Finding(claim, NOT_MEASURED, "No inversion by a wire eavesdropper was run.")
    plain = (
        ""
        if base is None
        else f"; on {BASELINE} the same tap reaches {human_number(base['psnr_db'])} dB"
    )
    text = (
        f"the tap's inversion on {scenario} reaches PSNR {human_number(row['psnr_db'])} dB "
        f"against {human_number(row.get('baseline_psnr_db'))} dB for random codes{plain}"
    )
    if _sees(row, psnr_margin_db):
        return Finding(claim, CUTS_AGAINST, f"The tap recovers the update: {text}.")
    return Finding(claim, SUPPORTS, f"The tap learns nothing: {text}.")


def link_time_finding(
    summary: Mapping[str, Any], *, scenario: str = FEC, practical_round_s: float = 60.0
) -> Finding:
    """How long one round's teleportation lasts on today's published link."""
    claim = "Teleportation-secured FL is practical on today's links"
    sc = summary["scenarios"].get(scenario)
    if sc is None or sc.get("link_seconds_total") is None or not sc.get("rounds"):
        return Finding(claim, NOT_MEASURED, f"{scenario} has no link with a published rate.")
    per_round = sc["link_seconds_total"] / sc["rounds"]
    pairs = sc["bell_pairs_total"] / sc["rounds"]
    text = (
        f"on {scenario} a round needs {human_count(pairs)} Bell pairs and lasts "
        f"{human_seconds(per_round)} of link time (slowest client; clients in parallel)"
    )
    if per_round > practical_round_s:
        return Finding(
            claim, CUTS_AGAINST,
            f"Not at today's published pair rate: {text}, beyond "
            f"{human_seconds(practical_round_s)}.",
        )  # fmt: skip
    return Finding(claim, SUPPORTS, f"Yes: {text}, within {human_seconds(practical_round_s)}.")


def detection_findings(
    rows: Sequence[DetectionRow], *, detect_rate: float = 0.9, false_alarm_rate: float = 0.05
) -> list[Finding]:
    """Are eavesdroppers caught, at the heaviest and the lightest attacked fraction?"""
    claim = "Eavesdropping on the entanglement is detected"
    usable = [r for r in rows if r.detection_rate is not None]
    if not usable:
        return [Finding(claim, NOT_MEASURED, "No eavesdropped scenario ran.")]
    out = []
    alarms = [r.false_alarm_rate for r in usable if r.false_alarm_rate is not None]
    alarm = max(alarms) if alarms else 0.0
    for r in sorted({max(usable, key=lambda r: r.fraction), min(usable, key=lambda r: r.fraction)},
                    key=lambda r: -r.fraction):  # fmt: skip
        rate = float(r.detection_rate or 0.0)
        text = (
            f"intercept-resend on {human_percent(r.fraction, decimals=0)} of the pairs is caught "
            f"in {human_percent(rate)} of the attacked updates ({r.attacked_rejected} of "
            f"{r.attacked_updates}); at most {human_percent(alarm)} of honest updates are "
            "rejected by the checks in the eavesdropped scenarios"
        )
        ok = rate >= detect_rate and alarm <= false_alarm_rate
        out.append(Finding(claim, SUPPORTS if ok else CUTS_AGAINST,
                           ("Yes: " if ok else "Not reliably: ") + text + "."))  # fmt: skip
    return out


def poisoning_finding(summary: Mapping[str, Any], *, tolerance: float = 0.01) -> Finding:
    """Does a teleported uplink change what poisoning does to the model? It helps only when
    the 95% interval of the per-seed paired difference (teleported minus plaintext, both
    poisoned) lies wholly above ``tolerance``."""
    claim = "Teleportation makes FL more robust"
    sc = summary["scenarios"]
    diff = accuracy_difference(summary, POISON_TELEPORT, baseline=POISON_CLASSICAL)
    if diff is None or BASELINE not in sc:
        return Finding(claim, NOT_MEASURED, "The poisoning scenarios did not run.")
    m, lo, hi = diff
    tele, plain, honest = (
        sc[POISON_TELEPORT]["final_accuracy"],
        sc[POISON_CLASSICAL]["final_accuracy"],
        sc[BASELINE]["final_accuracy"],
    )
    n = len(summary.get("seeds") or [0])
    spread = f"95% interval {_pp(lo)} to {_pp(hi)}" if n > 1 else "one seed"
    text = (
        f"with sign-flipping clients the model ends at {_acc(tele)} over teleportation and "
        f"{_acc(plain)} over plaintext (difference {_pp(m)}, {spread}), against "
        f"{_acc(honest)} without them"
    )
    if lo > tolerance:
        return Finding(claim, SUPPORTS, f"Teleportation helps against poisoning: {text}.")
    return Finding(
        claim, CUTS_AGAINST,
        f"Teleportation does nothing against poisoning: {text}. The channel delivers a "
        "malicious update as faithfully as an honest one; robustness is the aggregator's job.",
    )  # fmt: skip


def overhead_finding(summary: Mapping[str, Any], *, scenario: str = FEC) -> Finding:
    """The price: Bell pairs per payload bit and classical bits against plaintext."""
    claim = "Communication overhead (quantum and classical)"
    sc = summary["scenarios"]
    if scenario not in sc or BASELINE not in sc or not sc[scenario].get("bell_pairs_total"):
        return Finding(claim, NOT_MEASURED, f"{scenario} did not run.")
    t, b = sc[scenario], sc[BASELINE]
    # both directions' classical bits (the classical downlink is the same in both)
    cbits, qubits = b["classical_bits_total"], t["payload_qubits_total"]
    ratio = t["classical_bits_total"] / cbits if cbits else None
    per_payload = t["bell_pairs_total"] / qubits if qubits else None
    return Finding(
        claim, COST,
        f"{scenario} spends {human_count(t['bell_pairs_total'])} Bell pairs over the run "
        f"({human_number(per_payload)} per payload qubit, checks and retries included) and "
        f"{human_number(ratio)} times the classical bits of {BASELINE}.",
    )  # fmt: skip


def dataset_findings(
    summary: Mapping[str, Any],
    *,
    privacy: Mapping[str, Any],
    detection: Sequence[DetectionRow],
) -> list[Finding]:
    """All findings of one data set, in the report's order."""
    return [
        accuracy_finding(summary, RAW_F95,
                         claim="Teleportation at F = 0.95 keeps FedAvg's accuracy (no FEC)"),
        accuracy_finding(summary, RAW,
                         claim="Raw teleportation on today's published link keeps accuracy"),
        accuracy_finding(summary, FEC, claim="Teleportation with FEC keeps accuracy"),
        server_finding(privacy),
        tap_finding(privacy),
        link_time_finding(summary),
        *detection_findings(detection),
        poisoning_finding(summary),
        overhead_finding(summary),
    ]  # fmt: skip
