"""``report.html``: one self-contained page of a finished run (plots embedded as PNG).

:func:`write_report` reads ``summary.json`` and ``metrics.jsonl`` of a run directory and
writes ``report.html`` beside them: accuracy per round for every scenario, Bell pairs and
link time per round, QBER per client link and round with the abort threshold, the summary
table, and a paragraph in plain language generated from the numbers
(:func:`describe_run`). ``qtfl run`` writes it at the end; ``qtfl report DIR`` re-renders it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qtfl.errors import InputError
from qtfl.experiments.metrics import read_metrics
from qtfl.experiments.plots import accuracy_plot, qber_plot, resources_plot
from qtfl.fl.checkpoint import atomic_write_text
from qtfl.fl.engine import RoundMetrics

CLASSICAL_KINDS = ("plain", "aead")
TABLE_COLUMNS = (
    ("uplink_kind", "uplink"),
    ("final_accuracy", "final accuracy"),
    ("rounds_to_target", "rounds to target"),
    ("bell_pairs_total", "Bell pairs"),
    ("payload_qubits_total", "payload qubits"),
    ("check_pairs_total", "check pairs"),
    ("purification_pairs_total", "purification pairs"),
    ("discarded_pairs_total", "discarded pairs"),
    ("classical_bits_total", "classical bits"),
    ("link_seconds_total", "link seconds"),
    ("detections", "detections"),
    ("rejected_by_checks", "rejected (checks)"),
    ("rejected_by_safety_net", "rejected (safety net)"),
    ("rejected_other", "rejected (other)"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 1e7 else f"{value:.3g}"
    if isinstance(value, float):
        if 0 < abs(value) <= 1 and value != int(value):
            return f"{value:.4f}"
        return f"{value:.3g}"
    return html.escape(str(value))


def _num(x: float) -> str:
    """Counts as ``12,345`` up to 1e5, then three significant digits (``3.59e+08``)."""
    return f"{int(x):,}" if abs(x) < 1e5 else f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def describe_run(summary: Mapping[str, Any]) -> list[str]:
    """Plain-language sentences about what the run shows, generated from ``summary.json``."""
    scenarios: Mapping[str, Mapping[str, Any]] = summary["scenarios"]
    base_name = next(
        (n for n, s in scenarios.items() if s.get("uplink_kind") in CLASSICAL_KINDS), None
    )
    base = scenarios[base_name] if base_name else None
    out = [
        f"{len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''} trained the same "
        f"{summary['model']} on {summary['data']} with {summary['num_clients']} clients from "
        f"the same initial model and seed ({summary['seed']})."
    ]
    for name, s in scenarios.items():
        acc = s.get("final_accuracy")
        if acc is None:
            continue
        parts = [f"{name} ({s.get('uplink_kind')} uplink) reached {_pct(acc)}"]
        if base is not None and name != base_name and base.get("final_accuracy") is not None:
            diff = 100 * (acc - base["final_accuracy"])
            rel = "above" if diff > 0 else "below"
            parts.append(
                f", the same as {base_name}"
                if abs(diff) < 0.05
                else f", {abs(diff):.1f} points {rel} {base_name}"
            )
        rtt = s.get("rounds_to_target")
        target = s.get("target_accuracy")
        if target is not None:
            parts.append(
                f"; it reached the target {_pct(target)} in round {rtt}"
                if rtt is not None
                else f"; it never reached the target {_pct(target)}"
            )
        if s.get("bell_pairs_total") and s.get("uplink_kind") == "qkd-otp":
            measured = s["bell_pairs_total"] - s["purification_pairs_total"]
            parts.append(
                f", using {_num(s['bell_pairs_total'])} Bell pairs ({_num(measured)} measured "
                f"for key, {_num(s['check_pairs_total'])} of them revealed to estimate the QBER; "
                f"{_num(s['purification_pairs_total'])} for purification) and "
                f"{_num(s['classical_bits_total'])} classical bits"
            )
        elif s.get("bell_pairs_total"):
            parts.append(
                f", using {_num(s['bell_pairs_total'])} Bell pairs "
                f"({_num(s['payload_qubits_total'])} payload qubits, "
                f"{_num(s['check_pairs_total'])} checks, "
                f"{_num(s['purification_pairs_total'])} for purification"
                + (
                    f", {_num(s['discarded_pairs_total'])} in aborted attempts"
                    if s.get("discarded_pairs_total")
                    else ""
                )
                + f") and {_num(s['classical_bits_total'])} classical bits"
            )
        else:
            parts.append(f", sending {_num(s['classical_bits_total'])} classical bits")
        if s.get("mean_qber") is not None:
            parts.append(f"; its check pairs showed a mean QBER of {_pct(s['mean_qber'])}")
        if s.get("link_seconds_total") is not None and s.get("bell_pairs_total"):
            parts.append(f"; its links were busy {s['link_seconds_total']:.3g} s")
        elif s.get("bell_pairs_total"):
            parts.append("; its link publishes no pair rate, so link time is unknown")
        out.append("".join(parts) + ".")
        attacked = s.get("eavesdropped_clients") or []
        if attacked:
            rounds = s.get("rounds", 0)
            out.append(
                f"In {name}, an eavesdropper sat on the links of client"
                f"{'s' if len(attacked) > 1 else ''} {', '.join(map(str, attacked))}: "
                f"{s['rejected_by_checks']} of {len(attacked) * rounds} of their updates were "
                f"rejected by the QBER checks ({s['detections']} detections), while "
                f"{s['updates_aggregated']} updates of the other clients were aggregated."
            )
        if s.get("rejected_other"):
            out.append(
                f"In {name}, {s['rejected_other']} updates were not delivered for other reasons "
                "(no key, failed reconciliation or authentication; see metrics.jsonl)."
            )
        if s.get("rejected_by_safety_net"):
            out.append(
                f"In {name}, the FEC decoder's safety net rejected "
                f"{s['rejected_by_safety_net']} updates with blocks it could not repair."
            )
    return out


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def render_report(summary: Mapping[str, Any], records: Mapping[str, Sequence[RoundMetrics]]) -> str:
    """The whole HTML page as a string (no external resources)."""
    scenarios = summary["scenarios"]
    target = next((s.get("target_accuracy") for s in scenarios.values()), None)
    known = {n: bool(s.get("link_rate_known", True)) for n, s in scenarios.items()}
    eaves = {n: s.get("eavesdropped_clients") or [] for n, s in scenarios.items()}
    figures = [
        _img(accuracy_plot(records, target=target), "accuracy per round"),
        _img(resources_plot(records, rate_known=known), "Bell pairs and link time per round"),
        _img(qber_plot(records, eavesdropped=eaves), "QBER per link and round"),
    ]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in TABLE_COLUMNS)
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{_fmt(s.get(key))}</td>" for key, _ in TABLE_COLUMNS)
        + "</tr>"
        for name, s in scenarios.items()
    )
    timing = summary.get("timing", {})
    trows = "".join(
        f"<tr><th>{html.escape(n)}</th><td>{_fmt(t.get('round_seconds'))}</td>"
        f"<td>{_fmt(t.get('train_seconds'))}</td><td>{_fmt(t.get('channel_seconds'))}</td></tr>"
        for n, t in timing.items()
    )
    text = "".join(f"<p>{html.escape(line)}</p>" for line in describe_run(summary))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qtfl run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: right; }}
thead th {{ background: #eef; }} tbody th {{ text-align: left; background: #f6f6f6; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
.what p {{ line-height: 1.45; }}
</style></head><body>
<h1>qtfl run report</h1>
<p>Data <b>{_fmt(summary["data"])}</b>, model <b>{_fmt(summary["model"])}</b>,
strategy {_fmt(summary["strategy"])}, {summary["num_clients"]} clients, seed
{summary["seed"]}; configuration hash <code>{_fmt(str(summary["config_hash"])[:16])}</code>.</p>
<h2>What this run shows</h2><div class="what">{text}</div>
<h2>Summary</h2>
<table id="summary"><thead><tr><th>scenario</th>{head}</tr></thead><tbody>{rows}</tbody></table>
<p>Bell pairs = payload qubits + check pairs + purification pairs + discarded pairs (payload
positions of attempts whose checks failed). Link seconds: clients in parallel, the slowest
client bounds each round; "—" when the link publishes no pair rate.</p>
<h2>Plots</h2>
{"".join(figures)}
<h2>Simulation time on this machine</h2>
<table id="timing"><thead><tr><th>scenario</th><th>round seconds</th><th>training</th>
<th>channels, aggregation, evaluation</th></tr></thead><tbody>{trows}</tbody></table>
{_privacy_html(summary)}
</body></html>
"""


def _privacy_html(summary: Mapping[str, Any]) -> str:
    """The privacy section when the run's configuration asked for attacks (else nothing)."""
    privacy = summary.get("privacy")
    if not privacy:
        return ""
    from qtfl.attacks.report import privacy_section_html
    from qtfl.attacks.run_privacy import privacy_tables

    return privacy_section_html(privacy_tables(privacy))


def write_report(run_dir: str | Path) -> Path:
    """Render ``run_dir/report.html`` from its ``summary.json`` and ``metrics.jsonl``."""
    d = Path(run_dir)
    summary_path, metrics_path = d / "summary.json", d / "metrics.jsonl"
    for p in (summary_path, metrics_path):
        if not p.is_file():
            raise InputError(f"{p} does not exist; pass the --out directory of a finished run")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    records = read_metrics(metrics_path.read_text(encoding="utf-8"))
    out = d / "report.html"
    atomic_write_text(out, render_report(summary, records))
    return out
