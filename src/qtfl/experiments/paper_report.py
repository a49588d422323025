"""The paper-style report of ``qtfl reproduce paper``: ``DIR/report.html`` and its CSVs.

One self-contained page (plots embedded as PNG) over every data set that ran under ``DIR``
(each an ordinary multi-seed run in ``DIR/<dataset>/``), with

* **Findings** — :mod:`qtfl.experiments.findings`, per data set: each claim of the paper,
  whether the measured numbers support it or cut against it, and why;
* per data set: accuracy per round over seeds with 95% bands; accuracy against cumulative
  Bell pairs and against link time; rounds to target and final accuracy with intervals;
  stacked overhead bars (Bell pairs by use, classical bits); detection and false-alarm
  rates against the eavesdropper's fraction of pairs; the privacy table (inversion PSNR /
  SSIM / label accuracy by attacker position, membership AUC), means over the seeds;
* the data sets skipped (with the command that fetches them) and the wall time of each.

``DIR/report-data/<dataset>-*.csv`` hold every plotted series and table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qtfl.errors import InputError
from qtfl.experiments.findings import DetectionRow, Finding, dataset_findings
from qtfl.experiments.metrics import read_metrics
from qtfl.experiments.plots import (
    PAIR_PARTS,
    _color,
    _png,
    _ticks,
    cost_curves_plot,
    seed_bands_plot,
)
from qtfl.experiments.plots import _figure as _mpl_figure
from qtfl.experiments.report import DATA_DIR, _esc, _figure, _table
from qtfl.experiments.seeds import SEEDS_DIR, seed_curves
from qtfl.fl.checkpoint import atomic_write_text
from qtfl.present.report_data import csv_text, eavesdropper_tallies, round_points
from qtfl.present.units import human_bits, human_count, human_number, human_percent, human_seconds

RESULT_FILE = "reproduce.json"


def _interval_text(mean: float | None, iv: Sequence[float] | None, fmt: Any) -> str:
    if mean is None:
        return "—"
    if not iv or iv[0] == iv[1]:
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(iv[0])}, {fmt(iv[1])}]"


def detection_rows(run_dir: Path, summary: Mapping[str, Any]) -> list[DetectionRow]:
    """Per eavesdropped scenario of one data set's run: fraction and the checks' record
    (over every seed's deliveries)."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    fractions = {
        s["name"]: max(e["fraction"] for e in s["eavesdroppers"])
        for s in config.get("scenarios") or []
        if s.get("eavesdroppers")
    }
    records = read_metrics((run_dir / "metrics.jsonl").read_text(encoding="utf-8"))
    eaves = {n: list(s.get("eavesdropped_clients") or []) for n, s in summary["scenarios"].items()}
    tallies = eavesdropper_tallies(records, eavesdropped=eaves)
    return sorted(
        (
            DetectionRow(
                scenario=n,
                fraction=float(fractions[n]),
                attacked_updates=t.attacked_updates,
                attacked_rejected=t.attacked_rejected,
                honest_updates=t.honest_updates,
                honest_rejected=t.honest_rejected_by_checks,
            )
            for n, t in tallies.items()
            if n in fractions
        ),
        key=lambda r: r.fraction,
    )


def mean_privacy(run_dir: Path, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The ``privacy`` results averaged over the seeds' summaries (numbers only)."""
    root = run_dir / SEEDS_DIR
    per_seed = [
        json.loads(p.read_text(encoding="utf-8")).get("privacy") or {}
        for p in sorted(root.glob("*/summary.json"))
    ] if root.is_dir() else []  # fmt: skip
    per_seed = [p for p in per_seed if p] or [summary.get("privacy") or {}]
    return _mean_tree(per_seed)


def _mean_tree(items: Sequence[Any]) -> Any:
    first = items[0]
    if isinstance(first, Mapping):
        return {k: _mean_tree([i[k] for i in items if isinstance(i, Mapping) and k in i])
                for k in first}  # fmt: skip
    nums = [i for i in items if isinstance(i, int | float) and not isinstance(i, bool)]
    if nums and len(nums) == len(items) and not isinstance(first, bool):
        return float(np.mean(nums))
    return first


def privacy_rows(privacy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per scenario and attacker position: inversion PSNR/SSIM/label accuracy and,
    for the server (who holds the final model), membership AUC."""
    rows = []
    for scenario, res in privacy.items():
        mem = res.get("membership") or {}
        for key, inv in (res.get("inversion") or {}).items():
            who, method = key.split("/", 1)
            rows.append({
                "scenario": scenario, "attacker": who, "method": method,
                "psnr_db": inv.get("psnr_db"), "ssim": inv.get("ssim"),
                "label_accuracy": inv.get("label_accuracy"),
                "random_code_psnr_db": inv.get("baseline_psnr_db"),
                "membership_auc_loss": _auc(mem, "loss") if who == "server" else None,
                "membership_auc_lira": _auc(mem, "lira") if who == "server" else None,
            })  # fmt: skip
    return rows


def _auc(membership: Mapping[str, Any], attack: str) -> float | None:
    value = (membership.get(attack) or {}).get("auc")
    return None if value is None else float(value)


def overhead_plot(summary: Mapping[str, Any], names: Sequence[str]) -> bytes | None:
    """Per scenario: Bell pairs stacked by use (left) and classical bits (right), run totals
    (means over seeds)."""
    sc = summary["scenarios"]
    if not names:
        return None
    fig, axes = _mpl_figure(1, 2, size=(11.0, max(3.0, 1.2 + 0.45 * len(names))))
    q_ax, c_ax = axes[0]
    y = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    keys = {"payload": "payload_qubits_total", "checks": "check_pairs_total",
            "purification": "purification_pairs_total", "discarded": "discarded_pairs_total"}
    for attr, label, colour in PAIR_PARTS:
        part = np.array([float(sc[n][keys[attr]]) for n in names])
        q_ax.barh(y, part, left=left, color=colour, label=label, height=0.6)
        left += part
    bits = np.array([float(sc[n]["classical_bits_total"]) for n in names])
    c_ax.barh(y, bits, color=[_color(names, n) for n in names], height=0.6)
    for ax, title, fmt in ((q_ax, "Bell pairs by use (whole run)", human_count),
                           (c_ax, "Classical bits (whole run, both directions)", human_bits)):
        ax.set_yticks(y, list(names))
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="x")
        _ticks(ax.xaxis, fmt)
    q_ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def detection_plot(rows: Sequence[DetectionRow]) -> bytes | None:
    """Detection rate (attacked updates rejected) and false-alarm rate (honest updates
    rejected by the checks) against the fraction of pairs the eavesdropper attacks."""
    pts = [r for r in rows if r.detection_rate is not None]
    if not pts:
        return None
    fig, axes = _mpl_figure(1, 1, size=(7.0, 3.8))
    ax = axes[0][0]
    x = [r.fraction for r in pts]
    ax.plot(x, [r.detection_rate for r in pts], "o-", color="tab:red", label="detection rate")
    ax.plot(x, [r.false_alarm_rate or 0.0 for r in pts], "s--", color="tab:blue",
            label="false-alarm rate")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(x, [human_percent(v, decimals=0) for v in x])
    ax.set_xlabel("fraction of the attacked clients' pairs intercepted")
    ax.set_ylim(-0.05, 1.05)
    _ticks(ax.yaxis, lambda v: human_percent(v, decimals=0))
    ax.set_title("Eavesdropper detection against attacked fraction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _findings_html(name: str, findings: Sequence[Finding]) -> str:
    rows = [[_esc(f.claim), f"<b>{_esc(f.verdict)}</b>", _esc(f.text)] for f in findings]
    table = _table(f"findings-{name}", ["claim", "verdict", "measured"], rows)
    return f"<h3>{_esc(name)}</h3>{table}"


def _dataset_section(out: Path, row: Mapping[str, Any], csvs: dict[str, str]) -> tuple[str, str]:
    """(findings HTML, section HTML) of one data set that ran."""
    name = row["dataset"]
    d = out / row["run_dir"]
    summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    records = read_metrics((d / "metrics.jsonl").read_text(encoding="utf-8"))
    sc = summary["scenarios"]
    names = list(sc)
    metric = summary.get("metric", "accuracy")
    privacy = mean_privacy(d, summary)
    detection = detection_rows(d, summary)
    findings = dataset_findings(summary, privacy=privacy, detection=detection)
    known = {n: bool(s.get("link_rate_known", True)) for n, s in sc.items()}
    points = round_points(records, rate_known=known)
    curves = seed_curves(d) or {}
    target = next((s.get("target_accuracy") for s in sc.values()), None)
    fmt = human_percent if metric == "accuracy" else human_number
    table_rows = []
    for n, s in sc.items():
        iv = s.get("intervals", {})
        per_round = (
            None if s.get("link_seconds_total") is None else s["link_seconds_total"] / s["rounds"]
        )
        table_rows.append({
            "scenario": n, "final": s.get("final_accuracy"),
            "final_low": (iv.get("final_accuracy") or [None, None])[0],
            "final_high": (iv.get("final_accuracy") or [None, None])[1],
            "rounds_to_target": s.get("rounds_to_target"),
            "rounds_to_target_per_seed": (s.get("per_seed", {}).get("rounds_to_target")),
            "bell_pairs_per_round": s["bell_pairs_total"] / s["rounds"],
            "link_seconds_per_round": per_round,
            "rejected_updates": s.get("rejected_updates"),
        })  # fmt: skip
    html_rows = [
        [_esc(r["scenario"]),
         _esc(_interval_text(r["final"], [r["final_low"], r["final_high"]]
                             if r["final_low"] is not None else None, fmt)),
         _esc(_interval_text(r["rounds_to_target"],
                             sc[r["scenario"]].get("intervals", {}).get("rounds_to_target"),
                             human_number)),
         _esc(", ".join("never" if v is None else str(v)
                        for v in (r["rounds_to_target_per_seed"] or []))),
         _esc(human_count(r["bell_pairs_per_round"])),
         _esc(human_seconds(r["link_seconds_per_round"])),
         _esc(human_count(r["rejected_updates"]))]
        for r in table_rows
    ]  # fmt: skip
    prows = privacy_rows(privacy)
    csvs[f"{name}-scenarios.csv"] = csv_text(table_rows)
    csvs[f"{name}-rounds.csv"] = csv_text(points)
    csvs[f"{name}-detection.csv"] = csv_text(
        [{"scenario": r.scenario, "fraction": r.fraction, "detection_rate": r.detection_rate,
          "false_alarm_rate": r.false_alarm_rate, "attacked_updates": r.attacked_updates,
          "attacked_rejected": r.attacked_rejected, "honest_updates": r.honest_updates,
          "honest_rejected": r.honest_rejected} for r in detection],
        header=["scenario", "fraction", "detection_rate", "false_alarm_rate",
                "attacked_updates", "attacked_rejected", "honest_updates", "honest_rejected"],
    )  # fmt: skip
    csvs[f"{name}-privacy.csv"] = csv_text(prows)
    csvs[f"{name}-overhead.csv"] = csv_text(
        [{"scenario": n, **{k: sc[n][k] for k in (
            "bell_pairs_total", "payload_qubits_total", "check_pairs_total",
            "purification_pairs_total", "discarded_pairs_total", "classical_bits_total")}}
         for n in names]
    )  # fmt: skip
    label = "R²" if metric == "r2" else "accuracy"
    seeds = summary.get("seeds") or [summary.get("seed")]
    figs = [
        _figure(seed_bands_plot(curves, names=names, metric=metric), fig_id=f"{name}-bands",
                alt=f"{label} per round", caption=f"Test {label} per round: mean over seeds "
                f"{seeds} and its 95% Student-t band.", csv=f"{name}-rounds.csv"),
        _figure(cost_curves_plot(points, names=names, baseline="classical", metric=metric),
                fig_id=f"{name}-cost", alt=f"{label} against Bell pairs and link time",
                caption=f"Test {label} (seed mean) against cumulative Bell pairs and link time; "
                "the classical baseline is the dotted line.", csv=f"{name}-rounds.csv"),
        _figure(overhead_plot(summary, names), fig_id=f"{name}-overhead",
                alt="overhead per scenario", caption="Bell pairs by use and classical bits "
                "(run totals, seed means).", csv=f"{name}-overhead.csv"),
        _figure(detection_plot(detection), fig_id=f"{name}-detection",
                alt="detection against fraction", caption="Share of the attacked clients' "
                "updates rejected (detection) and of the honest clients' updates rejected by "
                "the checks (false alarm), over every seed.", csv=f"{name}-detection.csv"),
    ]  # fmt: skip
    priv_cols = ["psnr_db", "ssim", "label_accuracy", "random_code_psnr_db",
                 "membership_auc_loss", "membership_auc_lira"]  # fmt: skip
    priv_html = _table(
        f"{name}-privacy",
        ["scenario", "attacker", "method", "PSNR (dB)", "SSIM", "label accuracy",
         "random codes PSNR (dB)", "membership AUC (loss)", "membership AUC (LiRA)"],
        [[_esc(r["scenario"]), _esc(r["attacker"]), _esc(r["method"])]
         + [_esc(human_number(r[c])) for c in priv_cols] for r in prows],
    ) if prows else "<p>No attacks were configured.</p>"  # fmt: skip
    section = f"""<section id="dataset-{_esc(name)}"><h2>{_esc(name)}</h2>
<p>Model {_esc(summary["model"])}, {_esc(summary["num_clients"])} clients, {_esc(row["rounds"])}
rounds, seeds {_esc(seeds)}; wall time {_esc(human_seconds(row.get("wall_seconds")))}.</p>
<h3>Accuracy, convergence and rounds to target</h3>{figs[0]}{figs[1]}
<div class="scroll">{_table(f"{name}-scenarios",
    ["scenario", f"final {label} [95% interval]", "rounds to target "
     f"{fmt(target) if target is not None else ''} [95%]", "per seed", "Bell pairs / round",
     "link time / round", "rejected updates"], html_rows)}</div>
<h3>Communication overhead</h3>{figs[2]}
<h3>Eavesdropper detection</h3>{figs[3] or "<p>No eavesdropped scenario.</p>"}
<h3>Privacy</h3><p>Gradient inversion of one client's one-example update by the wire
eavesdropper and by the curious server (PSNR 100 dB = exact; random codes = learning
nothing); membership inference on the final global model (AUC 0.5 = guessing). Means over
the seeds.</p><div class="scroll">{priv_html}</div></section>"""  # fmt: skip
    return _findings_html(name, findings), section


def render_paper_report(out: Path) -> tuple[str, dict[str, str]]:
    """The page and its CSV files (name -> text) for the reproduction in ``out``."""
    path = out / RESULT_FILE
    if not path.is_file():
        raise InputError(f"{path} does not exist; pass the --out folder of qtfl reproduce")
    result = json.loads(path.read_text(encoding="utf-8"))
    csvs: dict[str, str] = {}
    findings, sections = [], []
    for row in result["datasets"]:
        if row["status"] == "ran":
            f, s = _dataset_section(out, row, csvs)
            findings.append(f)
            sections.append(s)
    skipped = [r for r in result["datasets"] if r["status"] == "skipped"]
    skipped_html = (
        "<ul>" + "".join(
            f"<li><b>{_esc(r['dataset'])}</b>: {_esc(r['reason'])} Fetch it with "
            f"<code>{_esc(r['fetch'])}</code>, then run again with --resume.</li>"
            for r in skipped) + "</ul>"
        if skipped else "<p>None: every data set asked for ran.</p>"
    )  # fmt: skip
    walls = [[_esc(r["dataset"]), _esc(r["status"]), _esc(human_seconds(r.get("wall_seconds")))]
             for r in result["datasets"]]  # fmt: skip
    csvs["wall-time.csv"] = csv_text(
        [{"dataset": r["dataset"], "status": r["status"], "wall_seconds": r.get("wall_seconds")}
         for r in result["datasets"]]
    )  # fmt: skip
    links = ", ".join(f'<a href="{DATA_DIR}/{n}">{n}</a>' for n in sorted(csvs))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qtfl: the paper's evaluation</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.8em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 6px; text-align: left; vertical-align: top; }}
thead th {{ background: #eef; }} tbody th {{ background: #f6f6f6; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85em; color: #555; }}
</style></head><body>
<h1>Federated learning over quantum teleportation: the evaluation of Khan 2024, Section 5</h1>
<p>Link preset {_esc(result.get("preset"))}{" (quick run)" if result.get("quick") else ""};
every figure is a mean over seeds with its 95% Student-t interval where shown.</p>
<section id="findings"><h2>Findings</h2>
<p>Each verdict is computed from the numbers below: <b>supports</b> or <b>cuts against</b>
the paper's claim, <b>inconclusive</b> when the seeds' 95% interval is too wide to tell,
<b>cost</b> for a measured price.</p>{"".join(findings) or "<p>No data set ran.</p>"}
</section>
{"".join(sections)}
<section id="skipped"><h2>Skipped data sets</h2>{skipped_html}</section>
<section id="wall-time"><h2>Wall time on this machine</h2>
{_table("wall-time", ["data set", "status", "wall time"], walls)}</section>
<h2>Data</h2><p>{links}</p>
</body></html>
"""
    return page, csvs


def write_paper_report(out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/report-data/*.csv``; return the page."""
    out = Path(out_dir)
    page, csvs = render_paper_report(out)
    data = out / DATA_DIR
    data.mkdir(exist_ok=True)
    for name, text in csvs.items():
        atomic_write_text(data / name, text)
    path = out / "report.html"
    atomic_write_text(path, page)
    return path
