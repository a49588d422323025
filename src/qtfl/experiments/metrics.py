"""Run metrics: per-round records to JSON lines, and the per-scenario summary.

The records are :class:`qtfl.fl.engine.RoundMetrics`; this module only reduces and
serialises them, so it is shared by ``qtfl run``, ``qtfl report`` and anything that reads
``metrics.jsonl``.

Definitions (the paper's Section 5 metrics, per scenario):

* **accuracy / convergence** — ``final_accuracy`` (last evaluated round), ``rounds_to_target``
  (first round with test accuracy >= ``evaluation.target_accuracy``);
* **quantum overhead** — ``bell_pairs`` (every pair distributed, uplink + downlink),
  ``payload_qubits`` (teleported qubits that carried payload or FEC parity),
  ``check_pairs`` (sacrificed to estimate the QBER), ``purification_pairs`` (consumed by
  purification) and ``discarded_pairs = bell_pairs - payload_qubits - check_pairs -
  purification_pairs``: the payload positions of attempts whose checks failed (0 on an
  honest link), so the four parts add up exactly. For ``qkd-otp`` (its pairs make key and
  carry no payload) ``discarded_pairs`` are the pairs measured for the key;
* **classical overhead** — ``classical_bits`` (ciphertext, Bell-measurement bits, check
  announcements, syndromes...);
* **link time** — clients talk in parallel, so a round lasts as long as its slowest client's
  downlink + uplink; ``link_seconds_total`` sums that over rounds. A scenario whose quantum
  link has no published rate has unknown link time: ``null``, never 0;
* **the quantum server** (scenarios with ``network.server`` only) — ``round_makespan_seconds``
  (mean over rounds of the uplink timeline's makespan), ``network_seconds_total`` (the sum of
  the rounds' link time: slowest downlink + makespan), ``stragglers_total`` (updates that
  arrived after the deadline and were not aggregated), ``mean_utilisation``,
  ``mean_delivery_seconds`` (over clients and rounds: what a scheduling policy shortens)
  and the server's ``channels`` and ``policy`` (:func:`network_summary`);
* **privacy** — ``detections`` (deliveries flagged as eavesdropping), ``rejected_updates``
  (uplink deliveries not aggregated), split into ``rejected_by_checks`` (the QBER test
  aborted: eavesdropper or a link too noisy to trust), ``rejected_by_safety_net`` (the FEC
  decoder left a block undecoded, :mod:`qtfl.channel.safety`) and ``rejected_other`` (e.g.
  no QKD key, failed AEAD tag).

Wall-clock figures are not results: they go to :func:`timing`, apart from the summary, so two
runs of one configuration and seed give identical summaries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from qtfl.channel import Ledger
from qtfl.fl.engine import RoundMetrics

SAFETY_NET_REASON = "safety-net-flagged"
RESOURCE_FIELDS = (
    "bell_pairs",
    "payload_qubits",
    "check_pairs",
    "purification_pairs",
    "classical_bits",
)


def rounds_to_target(records: Sequence[RoundMetrics], target: float | None) -> int | None:
    """First round whose evaluated test accuracy is ``>= target`` (``None``: never/no target)."""
    if target is None:
        return None
    for r in records:
        if r.accuracy is not None and r.accuracy >= target:
            return r.round
    return None


def ledger_total(records: Sequence[RoundMetrics], direction: str) -> dict[str, float]:
    """Field-by-field sum of the ``"uplink"`` or ``"downlink"`` ledgers of all rounds."""
    total = Ledger()
    for r in records:
        total = total + Ledger(**getattr(r, direction))
    return total.as_dict()


def round_figures(record: RoundMetrics, *, rate_known: bool = True) -> dict[str, Any]:
    """The per-round figures of the paper's comparison, flat (one row of ``metrics.jsonl``).

    ``qber``/``qber_bound``/``link_clients`` are the uplink deliveries' verdicts, per client in
    the order sent (``None`` where a channel runs no checks).
    """
    up, down = record.uplink, record.downlink
    figures: dict[str, Any] = {
        name: up.get(name, 0) + down.get(name, 0) for name in RESOURCE_FIELDS
    }
    figures["discarded_pairs"] = (
        figures["bell_pairs"]
        - figures["payload_qubits"]
        - figures["check_pairs"]
        - figures["purification_pairs"]
    )
    figures["link_seconds"] = record.link_seconds if rate_known else None
    cols = record.clients
    accepted = cols.get("accepted", [])
    reasons = cols.get("reason", [])
    detected = cols.get("detected", [])
    rejected = [not a for a in accepted]
    by_checks = sum(1 for r, d in zip(rejected, detected, strict=True) if r and d)
    by_safety = sum(
        1 for r, why in zip(rejected, reasons, strict=True) if r and why == SAFETY_NET_REASON
    )
    figures.update(
        detections=record.detected,
        rejected_updates=sum(rejected),
        rejected_by_checks=by_checks,
        rejected_by_safety_net=by_safety,
        rejected_other=sum(rejected) - by_checks - by_safety,
        link_clients=list(cols.get("client", [])),
        qber=list(cols.get("qber", [])),
        qber_bound=list(cols.get("qber_bound", [])),
        rejected_clients=[
            k for k, a in zip(cols.get("client", []), accepted, strict=True) if not a
        ],
    )
    return figures


def summarize(
    records: Sequence[RoundMetrics], *, target: float | None, rate_known: bool = True
) -> dict[str, Any]:
    """The summary of one scenario: accuracy, convergence, resources, privacy (no clocks)."""
    evaluated = [r for r in records if r.accuracy is not None]
    last = evaluated[-1] if evaluated else None
    rows = [round_figures(r, rate_known=rate_known) for r in records]

    def total(name: str) -> int:
        return int(sum(row[name] for row in rows))

    link = sum(r.link_seconds for r in records) if rate_known else None
    qbers = [q for row in rows for q in row["qber"] if q is not None]
    return {
        "rounds": len(records),
        "final_accuracy": None if last is None else last.accuracy,
        "final_loss": None if last is None else last.loss,
        "best_accuracy": max(
            (r.accuracy for r in evaluated if r.accuracy is not None), default=None
        ),
        "target_accuracy": target,
        "rounds_to_target": rounds_to_target(records, target),
        "bell_pairs_total": total("bell_pairs"),
        "payload_qubits_total": total("payload_qubits"),
        "check_pairs_total": total("check_pairs"),
        "purification_pairs_total": total("purification_pairs"),
        "discarded_pairs_total": total("discarded_pairs"),
        "classical_bits_total": total("classical_bits"),
        "link_seconds_total": link,
        "link_seconds_summed_over_clients": (
            sum(r.link_seconds_total for r in records) if rate_known else None
        ),
        "link_rate_known": rate_known,
        "detections": sum(r.detected for r in records),
        "rejected_updates": total("rejected_updates"),
        "rejected_by_checks": total("rejected_by_checks"),
        "rejected_by_safety_net": total("rejected_by_safety_net"),
        "rejected_other": total("rejected_other"),
        "mean_qber": (sum(qbers) / len(qbers)) if qbers else None,
        "clients_sampled": sum(r.sampled for r in records),
        "clients_dropped": sum(r.dropped for r in records),
        "updates_aborted": sum(r.aborted for r in records),
        "updates_detected": sum(r.detected for r in records),
        "updates_aggregated": sum(r.aggregated for r in records),
        "uplink": ledger_total(records, "uplink"),
        "downlink": ledger_total(records, "downlink"),
        **undetected_information(records),
        **network_summary(records),
    }


def network_summary(records: Sequence[RoundMetrics]) -> dict[str, Any]:
    """The quantum server's figures of a scenario; empty without a scheduled round."""
    rounds = [(r, r.network) for r in records if r.network is not None]
    if not rounds:
        return {}
    makespans = [float(n["makespan_seconds"]) for _, n in rounds]
    last = rounds[-1][1]
    delivered = [float(t) for r, _ in rounds for t in r.clients.get("delivered_at_seconds", [])]
    return {
        "round_makespan_seconds": sum(makespans) / len(makespans),
        "network_seconds_total": float(sum(r.link_seconds for r, _ in rounds)),
        "stragglers_total": int(sum(n["stragglers"] for _, n in rounds)),
        "mean_utilisation": sum(float(n["utilisation"]) for _, n in rounds) / len(rounds),
        "mean_delivery_seconds": (sum(delivered) / len(delivered)) if delivered else None,
        "channels": last["channels"],
        "policy": last["policy"],
    }


def cost_per_parameter(
    records: Sequence[RoundMetrics], *, parameters: int | None
) -> dict[str, dict[str, float] | None]:
    """What one model parameter cost per transfer, uplink and downlink: the direction's
    ledger totals divided by ``parameters x transfers`` (uplink transfers: the clients that
    answered; downlink: the clients sampled). Fields: ``bell_pairs``, ``payload_qubits``,
    ``classical_bits`` per parameter; ``None`` for a direction with no transfer or when the
    model size is unknown. With an encoding's closed form (e.g. ``32`` qubits per value for
    float32, ``shots`` for angle, times ``code.n`` with qec) ``payload_qubits`` checks it."""
    sends = {
        "uplink": sum(r.answered for r in records),
        "downlink": sum(r.sampled for r in records),
    }
    out: dict[str, dict[str, float] | None] = {}
    for direction, n in sends.items():
        if not parameters or not n:
            out[direction] = None
            continue
        total = ledger_total(records, direction)
        out[direction] = {
            name: total[name] / (n * parameters)
            for name in ("bell_pairs", "payload_qubits", "classical_bits")
        }
    return out


def undetected_information(records: Sequence[RoundMetrics]) -> dict[str, Any]:
    """What eavesdroppers learned from updates the server accepted (so went undetected).

    ``undetected_information_bits``: the sum over accepted uplink deliveries of the attacker's
    measured information about the bits sent (:attr:`qtfl.channel.Tap.information_bits`,
    ``n (1 - h(agreement))``); ``..._by_client`` the same per client. ``None`` when no
    attacker made a guess in the whole run (no eavesdropper, or one that guesses nothing).
    """
    total: float | None = None
    by_client: dict[str, float] = {}
    for r in records:
        cols = r.clients
        for k, ok, bits in zip(
            cols.get("client", []),
            cols.get("accepted", []),
            cols.get("eve_information_bits", [None] * len(cols.get("client", []))),
            strict=True,
        ):
            if bits is None:
                continue
            total = (total or 0.0) + (float(bits) if ok else 0.0)
            if ok:
                by_client[str(k)] = by_client.get(str(k), 0.0) + float(bits)
    return {
        "undetected_information_bits": total,
        "undetected_information_bits_by_client": by_client if total is not None else None,
    }


def timing(records: Sequence[RoundMetrics], *, elapsed_seconds: float | None) -> dict[str, Any]:
    """Wall-clock figures of one scenario (machine-dependent; kept out of the summary).

    ``round_seconds`` sums the rounds' computer time (all rounds, resumed ones included);
    ``train_seconds`` its local-training part; ``channel_seconds`` the rest (channels,
    aggregation, evaluation); ``elapsed_seconds`` this invocation's time for the scenario,
    checkpoint writes included.
    """
    rounds = float(sum(r.wall_seconds for r in records))
    train = float(sum(r.train_seconds for r in records))
    return {
        "round_seconds": rounds,
        "train_seconds": train,
        "channel_seconds": rounds - train,
        "elapsed_seconds": elapsed_seconds,
    }


def metrics_jsonl(
    by_scenario: Mapping[str, Sequence[RoundMetrics]],
    *,
    rate_known: Mapping[str, bool] | None = None,
) -> str:
    """One JSON object per scenario and round, newline-ended: ``{"scenario": ..., **record,
    **round_figures}`` (the record's own fields first, so ``RoundMetrics.from_dict`` of the
    record keys restores it)."""
    known = rate_known or {}
    lines = [
        json.dumps(
            {
                "scenario": name,
                **_record(r, rate_known=known.get(name, True)),
                "figures": round_figures(r, rate_known=known.get(name, True)),
            },
            sort_keys=False,
            allow_nan=False,
        )
        for name, records in by_scenario.items()
        for r in records
    ]
    return "".join(line + "\n" for line in lines)


_LINK_TIME_KEYS = ("link_seconds", "link_seconds_total")


def _record(record: RoundMetrics, *, rate_known: bool) -> dict[str, Any]:
    """The record's fields; link times ``None`` (JSON null) when the link rate is unknown,
    as in ``summary.json`` — never a 0.0 that reads as "instant"."""
    raw = record.as_dict()
    if rate_known:
        return raw
    for key in _LINK_TIME_KEYS:
        if key in raw:
            raw[key] = None
    for side in ("uplink", "downlink"):
        if isinstance(raw.get(side), dict) and "link_seconds" in raw[side]:
            raw[side] = {**raw[side], "link_seconds": None}
    return raw


def read_metrics(text: str) -> dict[str, list[RoundMetrics]]:
    """Parse ``metrics.jsonl`` back into records per scenario (order kept); an unknown link
    time (null) is restored as the record's uncounted 0.0."""
    out: dict[str, list[RoundMetrics]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        name = raw.pop("scenario")
        raw.pop("figures", None)
        raw.pop("seeds", None)  # a multi-seed run's mean rows say how many seeds
        for key in _LINK_TIME_KEYS:
            if key in raw and raw[key] is None:
                raw[key] = 0.0
        for side in ("uplink", "downlink"):
            if isinstance(raw.get(side), dict) and raw[side].get("link_seconds", 0.0) is None:
                raw[side] = {**raw[side], "link_seconds": 0.0}
        out.setdefault(name, []).append(RoundMetrics.from_dict(raw))
    return out
