"""``report.html``: one self-contained page of a finished run, and its data as CSV.

:func:`write_report` reads ``summary.json`` and ``metrics.jsonl`` of a run directory and
writes, beside them,

* ``report.html`` — three headline sentences relative to the classical baseline
  (:func:`qtfl.present.run_table.headlines`: accuracy difference, Bell-pair and link-time
  cost, eavesdropper detection); the summary table in human units (the rows of
  ``qtfl run``'s table, :mod:`qtfl.present.run_table`, with more columns); accuracy and loss
  per round; accuracy against cumulative Bell pairs and against link time; the Bell pairs of
  each scenario as stacked bars (payload / checks / purification / discarded); the QBER per
  client link and round; the eavesdropper table when a scenario had one; the privacy tables
  when the configuration ran attacks; plain-language details (:func:`describe_run`) and the
  simulation's wall-clock time. Plots are embedded PNG; the page needs no other file.
* ``report-data/*.csv`` — every plotted series and the summary table
  (:mod:`qtfl.present.report_data`), linked from the page.

Every number a person reads goes through :mod:`qtfl.present.units` (no e-notation).
``qtfl run`` writes the report at the end; ``qtfl report DIR`` re-renders it, byte for byte.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qtfl.errors import InputError, short_repr
from qtfl.experiments.metrics import read_metrics
from qtfl.experiments.plots import (
    bell_pairs_plot,
    cost_curves_plot,
    learning_curves_plot,
    qber_plot,
    seed_bands_plot,
)
from qtfl.fl.checkpoint import atomic_write_text
from qtfl.fl.engine import RoundMetrics
from qtfl.present.report_data import (
    csv_files,
    eavesdropper_tallies,
    pair_splits,
    qber_points,
    round_points,
    summary_rows,
)
from qtfl.present.run_table import (
    CLASSICAL_KINDS,
    RunTable,
    ScenarioRow,
    baseline_name,
    headlines,
    run_table,
)
from qtfl.present.units import (
    UNKNOWN,
    human_bits,
    human_count,
    human_number,
    human_percent,
    human_seconds,
)

DATA_DIR = "report-data"

SUMMARY_COLUMNS: tuple[tuple[str, Callable[[ScenarioRow], str]], ...] = (
    ("uplink", lambda r: r.uplink_kind),
    ("accuracy", lambda r: r.accuracy_text),
    ("Δ vs classical", lambda r: r.accuracy_delta_text),
    ("rounds to target", lambda r: r.rounds_to_target_text),
    ("final loss", lambda r: human_number(r.final_loss)),
    ("Bell pairs", lambda r: human_count(r.bell_pairs) if r.bell_pairs else UNKNOWN),
    ("payload qubits", lambda r: human_count(r.payload_qubits)),
    ("check pairs", lambda r: human_count(r.check_pairs)),
    ("purification pairs", lambda r: human_count(r.purification_pairs)),
    ("discarded pairs", lambda r: human_count(r.discarded_pairs)),
    ("pairs / payload qubit", lambda r: human_number(r.pairs_per_payload_qubit)),
    ("pairs / payload bit", lambda r: human_number(r.pairs_per_payload_bit)),
    ("classical bits", lambda r: human_bits(r.classical_bits)),
    ("link time", lambda r: r.link_time_text),
    ("mean QBER", lambda r: human_percent(r.mean_qber, decimals=2)),
    ("detected", lambda r: human_count(r.detections)),
    ("rejected", lambda r: human_count(r.rejected_updates)),
)


def describe_run(summary: Mapping[str, Any]) -> list[str]:
    """Plain-language sentences about every scenario, generated from ``summary.json``."""
    scenarios: Mapping[str, Mapping[str, Any]] = summary["scenarios"]
    base_name = baseline_name(scenarios)
    base = scenarios[base_name] if base_name else None
    out = [
        f"{len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''} trained the same "
        f"{summary['model']} on {summary['data']} with {summary['num_clients']} clients from "
        f"the same initial model and seed ({_seed_text(summary)})."
    ]
    for name, s in scenarios.items():
        acc = s.get("final_accuracy")
        if acc is None:
            continue
        parts = [f"{name} ({s.get('uplink_kind')} uplink) reached {human_percent(acc)}"]
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
                f"; it reached the target {human_percent(target)} in round {rtt}"
                if rtt is not None
                else f"; it never reached the target {human_percent(target)}"
            )
        n = human_count
        if s.get("bell_pairs_total") and s.get("uplink_kind") == "qkd-otp":
            measured = s["bell_pairs_total"] - s["purification_pairs_total"]
            parts.append(
                f", using {n(s['bell_pairs_total'])} Bell pairs ({n(measured)} measured "
                f"for key, {n(s['check_pairs_total'])} of them revealed to estimate the QBER; "
                f"{n(s['purification_pairs_total'])} for purification) and "
                f"{human_bits(s['classical_bits_total'])} of classical messages"
            )
        elif s.get("bell_pairs_total"):
            parts.append(
                f", using {n(s['bell_pairs_total'])} Bell pairs "
                f"({n(s['payload_qubits_total'])} payload qubits, "
                f"{n(s['check_pairs_total'])} checks, "
                f"{n(s['purification_pairs_total'])} for purification"
                + (
                    f", {n(s['discarded_pairs_total'])} in aborted attempts"
                    if s.get("discarded_pairs_total")
                    else ""
                )
                + f") and {human_bits(s['classical_bits_total'])} of classical messages"
            )
        else:
            parts.append(f", sending {human_bits(s['classical_bits_total'])} in the clear")
        if s.get("mean_qber") is not None:
            parts.append(
                f"; its check pairs showed a mean QBER of {human_percent(s['mean_qber'])}"
            )
        if s.get("link_seconds_total") is not None and s.get("bell_pairs_total"):
            parts.append(f"; its links were busy {human_seconds(s['link_seconds_total'])}")
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


def _seed_text(summary: Mapping[str, Any]) -> str:
    """``"0"``, or ``"s 0, 1, 2 (means shown)"`` for a multi-seed run."""
    seeds = summary.get("seeds")
    if seeds:
        return "s " + ", ".join(map(str, seeds)) + " (means shown)"
    return str(summary.get("seed"))


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _figure(png: bytes | None, *, fig_id: str, alt: str, caption: str, csv: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{fig_id}"><img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
        f'<figcaption>{_esc(caption)} Data: <a href="{DATA_DIR}/{csv}">{DATA_DIR}/{csv}</a>.'
        "</figcaption></figure>"
    )


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; the first cell of each row is its header (already escaped cells)."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        f"<tr><th>{row[0]}</th>" + "".join(f"<td>{c}</td>" for c in row[1:]) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary_table(table: RunTable) -> str:
    headers = ["scenario"] + [
        table.metric_label if h == "accuracy" else h for h, _ in SUMMARY_COLUMNS
    ]
    rows = [
        [_esc(r.name)] + [_esc(cell(r)) for _, cell in SUMMARY_COLUMNS] for r in table.rows
    ]
    return _table("summary", headers, rows)


def _eavesdropper_table(table: RunTable, summary: Mapping[str, Any]) -> str:
    attacked = [r for r in table.rows if r.eavesdropped_clients and r.eavesdropper is not None]
    if not attacked:
        return ""
    rows = []
    for r in attacked:
        t = r.eavesdropper
        assert t is not None
        rows.append(
            [
                _esc(r.name),
                _esc(", ".join(map(str, r.eavesdropped_clients))),
                _esc(human_count(t.attacked_updates)),
                _esc(human_count(t.attacked_rejected)),
                _esc(
                    human_percent(
                        t.attacked_rejected / t.attacked_updates if t.attacked_updates else None
                    )
                ),
                _esc(human_count(t.honest_updates)),
                _esc(human_count(t.honest_rejected_by_checks)),
                _esc(human_bits(summary["scenarios"].get(r.name, {}).get(
                    "undetected_information_bits"))),
            ]
        )
    headers = [
        "scenario", "attacked clients", "their updates", "rejected", "caught",
        "honest updates", "honest rejected by checks", "learned while undetected",
    ]  # fmt: skip
    return "<h2>Eavesdroppers</h2>" + _table("eavesdroppers", headers, rows)


def _adversaries_html(summary: Mapping[str, Any]) -> str:
    """Poisoning scenarios: attack, aggregator, accuracy and backdoor success (if any)."""
    scenarios = summary.get("scenarios", {})
    rows = []
    for name, s in scenarios.items():
        advs = s.get("adversaries")
        if not advs:
            continue
        attacks = "; ".join(
            f"{a['attack']} by {', '.join(map(str, a['clients']))}" for a in advs
        )
        success = s.get("attack_success_rate")
        rows.append(
            [
                _esc(name),
                _esc(attacks),
                _esc(s.get("strategy", summary.get("strategy", ""))),
                _esc(human_percent(s.get("final_accuracy"))),
                _esc(human_percent(success) if success is not None else "—"),
            ]
        )
    if not rows:
        return ""
    headers = ["scenario", "malicious clients", "aggregator", "final accuracy",
               "backdoor success"]  # fmt: skip
    note = (
        "Poisoning: what malicious clients did and what the aggregator kept. Backdoor "
        "success is the share of triggered test images (true label not the target) that the "
        "final model classifies as the target; compare with the scenarios without adversaries."
    )
    return (
        f'<section id="adversaries"><h2>Adversaries</h2><p>{_esc(note)}</p>'
        + _table("adversaries-table", headers, rows)
        + "</section>"
    )


def _secure_aggregation_html(summary: Mapping[str, Any]) -> str:
    """Quantum-keyed secure aggregation: the protocol's cost per round."""
    rows = []
    for name, s in summary.get("scenarios", {}).items():
        q = s.get("secure_aggregation")
        if not q or not q.get("rounds"):
            continue
        rows.append(
            [
                _esc(name),
                _esc(q["neighbours"]),
                _esc(q["threshold"]),
                _esc(human_count(q["bell_pairs_per_round"])),
                _esc(human_count(q["key_bits_per_round"])),
                _esc(human_count(q["messages_per_round"])),
                _esc(human_count(q["keys_aborted"])),
                _esc(human_count(q["rounds_not_unmasked"])),
            ]
        )
    if not rows:
        return ""
    headers = ["scenario", "neighbours", "threshold", "Bell pairs / round", "key bits / round",
               "messages / round", "keys aborted", "rounds not unmasked"]  # fmt: skip
    return (
        '<section id="secure-aggregation"><h2>Secure aggregation with quantum keys</h2>'
        + _table("secure-aggregation-table", headers, rows)
        + "</section>"
    )


PRIVACY_LABELS = {
    "attacker": "attacker",
    "method": "method",
    "psnr_db": "PSNR (dB)",
    "ssim": "SSIM",
    "label_accuracy": "label accuracy",
    "baseline_psnr_db": "PSNR on random codes (dB)",
    "auc": "AUC",
    "tpr_at_1pct_fpr": "TPR at 1% FPR",
    "epsilon": "DP ε",
}
PRIVACY_NOTE = (
    "Gradient inversion: how well each attacker reconstructs one client's one-example "
    "training input from what it holds (PSNR 100 dB = exact); the same attack on uniform "
    "random codes shows what learning nothing looks like. Membership inference: AUC 0.5 "
    "is guessing. DP ε: the privacy budget where the scenario adds differential privacy."
)


def _privacy_cell(value: Any) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return human_number(value)
    return str(value)


def _privacy_html(summary: Mapping[str, Any]) -> str:
    """The privacy tables when the run's configuration asked for attacks (else nothing)."""
    privacy = summary.get("privacy")
    if not privacy:
        return ""
    from qtfl.attacks.run_privacy import privacy_tables

    parts = [f'<section id="privacy"><h2>Privacy</h2><p>{_esc(PRIVACY_NOTE)}</p>']
    for i, (title, rows) in enumerate(privacy_tables(privacy).items()):
        parts.append(f"<h3>{_esc(title)}</h3>")
        if not rows:
            parts.append("<p>(no rows)</p>")
            continue
        cols: list[str] = []
        for row in rows:
            cols += [c for c in row if c not in cols]
        cells = [[_esc(_privacy_cell(row.get(c))) for c in cols] for row in rows]
        headers = [PRIVACY_LABELS.get(c, c.replace("_", " ")) for c in cols]
        parts.append(_table(f"privacy-{i}", headers, cells))
    parts.append("</section>")
    return "".join(parts)


def _unanswered_html(rows: Sequence[tuple[str, int, list[int]]]) -> str:
    """Rounds in which clients were asked to train and their node never answered (a Flower
    node gone, failed or slower than the round timeout); empty when every node answered."""
    if not rows:
        return ""
    note = (
        "Clients asked to train whose node never answered in that round (node gone, failed, "
        "or slower than the round timeout). They count as dropped; the round aggregated the "
        "others."
    )
    body = [[_esc(name), _esc(r), _esc(", ".join(map(str, ks)))] for name, r, ks in rows]
    return (
        f'<section id="unanswered"><h2>Nodes that did not answer</h2><p>{_esc(note)}</p>'
        + _table("unanswered-table", ["scenario", "round", "clients"], body)
        + "</section>"
    )


def _timing_table(summary: Mapping[str, Any]) -> str:
    timing = summary.get("timing", {})
    rows = [
        [
            _esc(n),
            _esc(human_seconds(t.get("round_seconds"))),
            _esc(human_seconds(t.get("train_seconds"))),
            _esc(human_seconds(t.get("channel_seconds"))),
        ]
        for n, t in timing.items()
    ]
    headers = ["scenario", "round time", "training", "channels, aggregation, evaluation"]
    return _table("timing", headers, rows)


class ReportData:
    """Everything the page shows, computed once from ``summary.json`` and the records."""

    def __init__(
        self, summary: Mapping[str, Any], records: Mapping[str, Sequence[RoundMetrics]]
    ) -> None:
        scenarios: Mapping[str, Mapping[str, Any]] = summary["scenarios"]
        eaves = {n: list(s.get("eavesdropped_clients") or []) for n, s in scenarios.items()}
        known = {n: bool(s.get("link_rate_known", True)) for n, s in scenarios.items()}
        self.names = list(scenarios)
        self.table = run_table(summary, tallies=eavesdropper_tallies(records, eavesdropped=eaves))
        self.points = round_points(records, rate_known=known)
        self.qber = qber_points(records, eavesdropped=eaves)
        self.splits = pair_splits(self.table)
        self.summary = summary
        self.records = records
        self.unanswered = [
            (name, r.round, list(r.unanswered_clients))
            for name, recs in records.items()
            for r in recs
            if r.unanswered_clients
        ]

    def csv_files(self) -> dict[str, str]:
        """``report-data/`` file name -> CSV text."""
        from qtfl.experiments import network_plots as net

        files = csv_files(
            points=self.points,
            qber=self.qber,
            splits=self.splits,
            summary=summary_rows(self.table),
        )
        for name, rows in (
            (net.ROUNDS_CSV, net.network_rows(self.records)),
            (net.TIMELINE_CSV, net.timeline_rows(self.records)),
        ):
            if rows:
                files[name] = net.to_csv(rows)
        return files


def _network_figures(data: ReportData, label: str) -> list[str]:
    """The network figures (empty without a scenario that has ``network.server``)."""
    from qtfl.experiments import network_plots as net

    return [
        _figure(
            net.timeline_plot(data.records),
            fig_id="network-timeline", alt="one round's timeline on the server's channels",
            caption="One round on the server's channels: each client's wait for a free channel "
            "(grey), the time its Bell pairs were heralded (blue; red for a straggler past the "
            "deadline, not aggregated) and its delivery (dot).",
            csv=net.TIMELINE_CSV,
        ),
        _figure(
            net.makespan_plot(data.summary),
            fig_id="network-makespan", alt="round makespan against the server's channels",
            caption="Mean round makespan (the last delivery of the round's uplinks) against "
            "the server's entanglement-generation channels K, per scheduling policy.",
            csv=net.ROUNDS_CSV,
        ),
        _figure(
            net.network_time_plot(data.records, names=data.names),
            fig_id="network-time", alt=f"{label} against simulated network time",
            caption=f"Test {label} against the simulated network time elapsed: per round the "
            "slowest downlink plus the uplink makespan, summed.",
            csv=net.ROUNDS_CSV,
        ),
    ]  # fmt: skip


def render_report(summary: Mapping[str, Any], records: Mapping[str, Sequence[RoundMetrics]]) -> str:
    """The whole HTML page as a string (no external resources but the linked CSV files)."""
    return _render(summary, ReportData(summary, records))


def _render(summary: Mapping[str, Any], data: ReportData, *, bands: str | None = None) -> str:
    table = data.table
    metric = table.metric
    label = "R²" if metric == "r2" else "accuracy"
    figures = [
        _figure(
            learning_curves_plot(
                data.points, names=data.names, target=table.target_accuracy, metric=metric
            ),
            fig_id="learning", alt=f"{label} and loss per round",
            caption=f"Test {label} and test loss after each evaluated round.",
            csv="rounds.csv",
        ),
        _figure(
            cost_curves_plot(data.points, names=data.names, baseline=table.baseline,
                             metric=metric),
            fig_id="cost", alt=f"{label} against cumulative Bell pairs and link time",
            caption=f"Test {label} against the Bell pairs spent and the link time elapsed up "
            "to each round (logarithmic axes); the classical baseline uses neither and is the "
            "dotted line at its final value."
            + ("" if any(r.link_seconds is not None for r in table.rows) else
               " No link publishes a pair rate, so link time is unknown and not drawn."),
            csv="rounds.csv",
        ),
        _figure(
            bell_pairs_plot(data.splits),
            fig_id="bell-pairs", alt="Bell pairs per scenario, stacked by use",
            caption="Where each scenario's Bell pairs went over the whole run: payload qubits "
            "(with FEC parity), check pairs sacrificed to estimate the QBER, pairs consumed by "
            "purification, and discarded pairs (payload positions of attempts whose checks "
            "failed; for QKD, the pairs measured for key).",
            csv="bell_pairs.csv",
        ),
        _figure(
            qber_plot(data.qber, names=data.names),
            fig_id="qber", alt="QBER per link and round",
            caption="QBER measured on the check pairs of every client link and round; the "
            "dashed line is the abort threshold, above which an update is rejected.",
            csv="qber.csv",
        ),
    ]  # fmt: skip
    figures += _network_figures(data, label)
    if bands:
        figures.insert(0, bands)
    bullets = "".join(f"<li>{_esc(line)}</li>" for line in headlines(table))
    text = "".join(f"<p>{_esc(line)}</p>" for line in describe_run(summary))
    links = ", ".join(
        f'<a href="{DATA_DIR}/{name}">{name}</a>' for name in sorted(data.csv_files())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qtfl run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.8em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 6px; text-align: right; white-space: nowrap; }}
thead th {{ white-space: normal; vertical-align: bottom; }}
thead th {{ background: #eef; }} tbody th {{ text-align: left; background: #f6f6f6; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85em; color: #555; }}
ul.headlines li {{ margin: 0.4em 0; line-height: 1.45; }}
.what p {{ line-height: 1.45; }}
</style></head><body>
<h1>qtfl run report</h1>
<p>Data <b>{_esc(summary["data"])}</b>, model <b>{_esc(summary["model"])}</b>,
strategy {_esc(summary["strategy"])}, {_esc(summary["num_clients"])} clients, seed
{_esc(_seed_text(summary))}; configuration hash
<code>{_esc(str(summary["config_hash"])[:16])}</code>.</p>
<h2>Headlines</h2>
<ul class="headlines">{bullets}</ul>
<h2>Summary</h2>
<div class="scroll">{_summary_table(table)}</div>
<p>Δ vs classical: difference from {_esc(table.baseline or "(no classical scenario)")}, the
scenario with a plaintext uplink. Bell pairs = payload qubits + check pairs + purification
pairs + discarded pairs. Pairs per payload bit: all Bell pairs over the update bits sent on
quantum links (defined for QKD too). Link time: clients in parallel, the slowest client
bounds each round; — when the link publishes no pair rate, or when nothing is modelled (a
classical link without latency).</p>
<h2>Plots</h2>
{"".join(figures)}
{_eavesdropper_table(table, summary)}
{_unanswered_html(data.unanswered)}
{_adversaries_html(summary)}
{_secure_aggregation_html(summary)}
{_privacy_html(summary)}
<h2>Details</h2><div class="what">{text}</div>
<h2>Simulation time on this machine</h2>
{_timing_table(summary)}
<h2>Data</h2>
<p>Every plotted series and the summary table as CSV: {links}.</p>
</body></html>
"""


def write_report(run_dir: str | Path) -> Path:
    """Render ``run_dir/report.html`` and ``run_dir/report-data/*.csv`` from its
    ``summary.json`` and ``metrics.jsonl``; return the page's path."""
    d = Path(run_dir)
    summary_path, metrics_path = d / "summary.json", d / "metrics.jsonl"
    for p in (summary_path, metrics_path):
        if not p.is_file():
            raise InputError(f"{p} does not exist; pass the --out directory of a finished run")
    summary = _read_run_file(summary_path, lambda text: json.loads(text))
    records = _read_run_file(metrics_path, read_metrics)
    if not isinstance(summary, dict):
        raise InputError(f"{summary_path} is damaged: not a JSON object")
    try:
        data = ReportData(summary, records)
        bands = None
        if summary.get("seeds"):
            from qtfl.experiments.seeds import seed_curves

            curves = seed_curves(d)
            if curves:
                bands = _figure(
                    seed_bands_plot(curves, names=data.names, metric=data.table.metric),
                    fig_id="seeds", alt="accuracy per round over seeds with 95% bands",
                    caption=f"Mean over the seeds {summary['seeds']} and the two-sided 95% "
                    "Student-t interval of the mean at each round; the other figures and tables "
                    "show the seeds' means.",
                    csv="rounds.csv",
                )  # fmt: skip
        page = _render(summary, data, bands=bands)
        csv_files = data.csv_files()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(
            f"{summary_path} or {metrics_path} is damaged or from another qtfl version "
            f"({type(exc).__name__}: {short_repr(str(exc))}); re-run to regenerate them"
        ) from None
    data_dir = d / DATA_DIR
    data_dir.mkdir(exist_ok=True)
    for name, text in csv_files.items():
        atomic_write_text(data_dir / name, text)
    out = d / "report.html"
    atomic_write_text(out, page)
    return out


def _read_run_file(path: Path, parse: Callable[[str], Any]) -> Any:
    """``parse(text of path)``; any failure is one InputError naming the file."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path} is damaged ({type(exc).__name__}: {short_repr(str(exc))}); re-run to "
            "regenerate it"
        ) from None


__all__ = ["CLASSICAL_KINDS", "describe_run", "render_report", "write_report"]
