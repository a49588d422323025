"""The report's network figures (scenarios with ``network.server`` only).

* :func:`timeline_plot` — a Gantt chart of one round: each client's queueing wait, the time
  its pairs were heralded on a server channel, its delivery, and the deadline;
* :func:`makespan_plot` — the mean round makespan against the server's channels K, one line
  per scheduling policy (drawn when the run sweeps at least two values of K);
* :func:`network_time_plot` — test accuracy against the simulated network time elapsed
  (the sum of the rounds' link time: slowest downlink + makespan).

Each returns PNG bytes or ``None`` when there is nothing to draw; rows for the CSV files come
from :func:`network_rows` and :func:`timeline_rows`. Tick labels go through
:mod:`qtfl.present.units`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from qtfl.experiments.plots import _color, _figure, _png, _ticks
from qtfl.fl.engine import RoundMetrics
from qtfl.present.units import human_count, human_percent, human_seconds

TIMELINE_CSV = "network_timeline.csv"
ROUNDS_CSV = "network_rounds.csv"


def _networked(records: Mapping[str, Sequence[RoundMetrics]]) -> dict[str, list[RoundMetrics]]:
    return {
        name: [r for r in recs if r.network is not None]
        for name, recs in records.items()
        if any(r.network is not None for r in recs)
    }


def network_rows(records: Mapping[str, Sequence[RoundMetrics]]) -> list[dict[str, Any]]:
    """Per scenario and round: network time so far, makespan, stragglers, accuracy."""
    rows = []
    for name, recs in _networked(records).items():
        elapsed = 0.0
        for r in recs:
            assert r.network is not None
            elapsed += r.link_seconds
            rows.append(
                {
                    "scenario": name,
                    "round": r.round,
                    "channels": r.network["channels"],
                    "policy": r.network["policy"],
                    "makespan_seconds": r.network["makespan_seconds"],
                    "network_seconds_elapsed": elapsed,
                    "stragglers": r.network["stragglers"],
                    "utilisation": r.network["utilisation"],
                    "accuracy": r.accuracy,
                }
            )
    return rows


def _gantt_round(records: Mapping[str, Sequence[RoundMetrics]]) -> tuple[str, RoundMetrics] | None:
    """The round the Gantt chart shows: round 1 of the first networked scenario with K > 1
    (the queue is most visible), else of the first networked scenario."""
    networked = _networked(records)
    if not networked:
        return None
    pick = next(
        (n for n, recs in networked.items() if recs[0].network and recs[0].network["channels"] > 1),
        next(iter(networked)),
    )
    return pick, networked[pick][0]


def timeline_rows(records: Mapping[str, Sequence[RoundMetrics]]) -> list[dict[str, Any]]:
    """The Gantt round's clients: wait, service, delivery, fidelity used, straggler."""
    chosen = _gantt_round(records)
    if chosen is None:
        return []
    name, r = chosen
    cols = r.clients
    return [
        {
            "scenario": name,
            "round": r.round,
            "client": k,
            "wait_seconds": w,
            "service_seconds": s,
            "delivered_at_seconds": d,
            "fidelity_used": f,
            "straggler": late,
        }
        for k, w, s, d, f, late in zip(
            cols["client"],
            cols["wait_seconds"],
            cols["service_seconds"],
            cols["delivered_at_seconds"],
            cols["fidelity_used"],
            cols["straggler"],
            strict=True,
        )
    ]


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of ``rows`` (header from the first row; empty string for no rows)."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def timeline_plot(records: Mapping[str, Sequence[RoundMetrics]]) -> bytes | None:
    """Gantt chart of one round (see the module docstring)."""
    rows = timeline_rows(records)
    chosen = _gantt_round(records)
    if not rows or chosen is None:
        return None
    _, r = chosen
    assert r.network is not None
    rows = sorted(rows, key=lambda x: x["wait_seconds"])
    fig, axes = _figure(size=(11.0, max(3.0, min(12.0, 0.12 * len(rows) + 1.5))))
    ax = axes[0][0]
    y = list(range(len(rows)))
    ax.barh(y, [x["wait_seconds"] for x in rows], color="#dddddd", label="waiting for a channel")
    ax.barh(
        y,
        [x["service_seconds"] for x in rows],
        left=[x["wait_seconds"] for x in rows],
        color=["#c44e52" if x["straggler"] else "#4c72b0" for x in rows],
        label="pairs heralded (red: straggler)",
    )
    ax.scatter([x["delivered_at_seconds"] for x in rows], y, s=6, color="black", label="delivered")
    deadline = r.network.get("deadline_seconds")
    if deadline is not None:
        ax.axvline(
            deadline, color="grey", ls="--", lw=1, label=f"deadline {human_seconds(deadline)}"
        )
    ax.set_yticks([])
    ax.set_ylabel(f"{human_count(len(rows))} clients (by start)")
    ax.set_xlabel("time since the round's uplink started")
    _ticks(ax.xaxis, human_seconds)
    net = r.network
    ax.set_title(
        f"{chosen[0]}, round {r.round}: K = {net['channels']} channels, {net['policy']}, "
        f"makespan {human_seconds(net['makespan_seconds'])}, "
        f"utilisation {human_percent(net['utilisation'], decimals=0)}"
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def makespan_plot(summary: Mapping[str, Any]) -> bytes | None:
    """Mean round makespan against K, one line per policy (needs two values of K)."""
    lines: dict[str, list[tuple[int, float]]] = {}
    for s in summary.get("scenarios", {}).values():
        if s.get("round_makespan_seconds") is None:
            continue
        lines.setdefault(str(s["policy"]), []).append(
            (int(s["channels"]), float(s["round_makespan_seconds"]))
        )
    if len({k for pts in lines.values() for k, _ in pts}) < 2:
        return None
    fig, axes = _figure(size=(7.0, 4.2))
    ax = axes[0][0]
    for i, (policy, pts) in enumerate(sorted(lines.items())):
        pts.sort()
        ax.plot(*zip(*pts, strict=True), marker="o", label=policy, color=f"C{i}")
    ax.set_xscale("log", base=2)
    ks = sorted({k for pts in lines.values() for k, _ in pts})
    ax.set_xticks(ks)
    _ticks(ax.xaxis, lambda v: human_count(v))
    ax.set_yscale("log")
    _ticks(ax.yaxis, human_seconds)
    ax.set_xlabel("server channels K")
    ax.set_ylabel("mean round makespan")
    ax.set_title("Round makespan against the server's channels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def network_time_plot(
    records: Mapping[str, Sequence[RoundMetrics]], *, names: Sequence[str]
) -> bytes | None:
    """Test accuracy against the simulated network time elapsed, per networked scenario."""
    rows = [x for x in network_rows(records) if x["accuracy"] is not None]
    if not rows:
        return None
    fig, axes = _figure(size=(9.0, 4.2))
    ax = axes[0][0]
    for name in dict.fromkeys(x["scenario"] for x in rows):
        pts = [(x["network_seconds_elapsed"], x["accuracy"]) for x in rows if x["scenario"] == name]
        ax.plot(*zip(*pts, strict=True), marker="o", markersize=3, label=name,
                color=_color(names, name))  # fmt: skip
    ax.set_xscale("log")
    _ticks(ax.xaxis, human_seconds)
    _ticks(ax.yaxis, lambda v: human_percent(v, decimals=0))
    ax.set_xlabel("simulated network time (downlink + uplink makespan, summed over rounds)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy against simulated network time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
