"""The comparison table of a run: one typed row per scenario, computed from ``summary.json``.

``qtfl run`` ends with this table (rendered with rich by :func:`rich_run_table`) and
``report.html`` shows the same rows with more columns, so the terminal and the report never
disagree. The rows are built from the content of ``summary.json`` only
(:func:`run_table`); the per-round records of ``metrics.jsonl`` add, when given, how many
updates the attacked clients sent (:class:`EavesdropperTally`).

Definitions (per scenario, over the whole run):

* **baseline** — the scenario whose uplink is plaintext (``plain``; else the first ``aead``
  one): the classical FL every other scenario is compared with;
* **accuracy difference** — final accuracy minus the baseline's, in percentage points (for
  a regression metric, R² minus the baseline's R²);
* **pairs per payload qubit** — every Bell pair distributed / the qubits that carried
  payload or FEC parity (``None`` where no qubit carried payload, e.g. ``qkd-otp``);
* **pairs per payload bit** — every Bell pair distributed / the update bits handed to the
  directions that used Bell pairs: the whole quantum cost of one bit of update (FEC parity,
  checks, purification and aborted attempts included), defined for ``qkd-otp`` too;
* **link time** — ``link_seconds_total`` (clients in parallel, the slowest bounds a round);
  ``None`` (shown as a dash, never 0) when the link publishes no pair rate, or when the
  scenario distributes no Bell pairs and its classical links have no latency (nothing is
  modelled).

>>> summary = {"metric": "accuracy", "scenarios": {
...     "classical": {"uplink_kind": "plain", "final_accuracy": 0.91, "rounds": 4,
...                   "target_accuracy": 0.95, "bell_pairs_total": 0},
...     "tele": {"uplink_kind": "teleport", "final_accuracy": 0.9, "rounds": 4,
...              "bell_pairs_total": 3000, "payload_qubits_total": 2000,
...              "uplink": {"payload_bits": 1000, "bell_pairs": 3000},
...              "link_seconds_total": 7200.0}}}
>>> t = run_table(summary)
>>> t.baseline, t.rows[1].accuracy_delta_text, t.rows[1].pairs_per_payload_bit
('classical', '-1.0 pp', 3.0)
>>> human_seconds(t.rows[1].link_seconds), t.rows[0].link_seconds is None
('2 h', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qtfl.present.units import UNKNOWN, human_count, human_number, human_percent, human_seconds

CLASSICAL_KINDS = ("plain", "aead")


@dataclass(frozen=True)
class EavesdropperTally:
    """What the checks did to the updates of attacked and honest clients (from metrics).

    Attributes:
        attacked_updates: uplink deliveries from eavesdropped clients.
        attacked_rejected: those not aggregated (the QBER test aborted them).
        honest_updates: uplink deliveries from the other clients.
        honest_rejected_by_checks: honest deliveries the QBER test aborted (false alarms).
    """

    attacked_updates: int
    attacked_rejected: int
    honest_updates: int
    honest_rejected_by_checks: int


@dataclass(frozen=True)
class ScenarioRow:
    """One scenario of the comparison (raw values; ``*_text`` properties format them)."""

    name: str
    uplink_kind: str
    metric: str
    final_accuracy: float | None
    final_loss: float | None
    accuracy_delta: float | None
    is_baseline: bool
    target_accuracy: float | None
    rounds_to_target: int | None
    rounds: int
    bell_pairs: int
    payload_qubits: int
    check_pairs: int
    purification_pairs: int
    discarded_pairs: int
    classical_bits: int
    pairs_per_payload_qubit: float | None
    pairs_per_payload_bit: float | None
    link_seconds: float | None
    link_rate_known: bool
    detections: int
    rejected_updates: int
    rejected_by_checks: int
    eavesdropped_clients: tuple[int, ...]
    mean_qber: float | None
    eavesdropper: EavesdropperTally | None = None

    @property
    def accuracy_text(self) -> str:
        """Final accuracy as a percentage (R² as a number)."""
        return format_metric(self.final_accuracy, metric=self.metric)

    @property
    def accuracy_delta_text(self) -> str:
        """Difference from the baseline: ``'+0.6 pp'``, ``'baseline'`` or a dash."""
        if self.is_baseline:
            return "baseline"
        return format_metric_delta(self.accuracy_delta, metric=self.metric)

    @property
    def accuracy_delta_cell(self) -> str:
        """The difference without its unit (the column header names it); a dash for the
        baseline itself."""
        return format_metric_delta(self.accuracy_delta, metric=self.metric, unit=False)

    @property
    def rounds_to_target_text(self) -> str:
        """The round the target was first reached, ``'> N'`` (not within the run's N
        rounds), or a dash (no target)."""
        if self.target_accuracy is None or self.final_accuracy is None:
            return UNKNOWN
        if self.rounds_to_target is None:
            return f"> {self.rounds}"
        return str(self.rounds_to_target)

    @property
    def link_time_text(self) -> str:
        """Link time in s/min/h/d; a dash when unknown or not modelled."""
        return human_seconds(self.link_seconds)

    @property
    def detections_text(self) -> str:
        """``'detected / rejected'`` updates."""
        return f"{human_count(self.detections)} / {human_count(self.rejected_updates)}"


@dataclass(frozen=True)
class RunTable:
    """The comparison of a run: its rows in ``summary.json`` order and the baseline's name."""

    rows: tuple[ScenarioRow, ...]
    baseline: str | None
    metric: str
    target_accuracy: float | None

    @property
    def metric_label(self) -> str:
        """``'accuracy'`` or ``'R²'``."""
        return "R²" if self.metric == "r2" else "accuracy"

    def row(self, name: str) -> ScenarioRow:
        """The row of scenario ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def format_metric(value: float | None, *, metric: str) -> str:
    """Accuracy as a percentage, R² (``metric == "r2"``) as a plain number."""
    return human_number(value) if metric == "r2" else human_percent(value)


def format_metric_delta(delta: float | None, *, metric: str, unit: bool = True) -> str:
    """A signed difference: percentage points for accuracy (``'+0.6 pp'``; ``unit=False``
    drops the ``pp``), a plain number for R²; ``±0.0`` when it rounds to zero."""
    if delta is None:
        return UNKNOWN
    if metric == "r2":
        text = f"{delta:+.3f}"
        return "±0.000" if text in ("+0.000", "-0.000") else text
    text = f"{100.0 * delta:+.1f}"
    text = "±0.0" if text in ("+0.0", "-0.0") else text
    return text + " pp" if unit else text


def baseline_name(scenarios: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The classical scenario: the first with a ``plain`` uplink, else the first ``aead``."""
    for kind in CLASSICAL_KINDS:
        for name, s in scenarios.items():
            if s.get("uplink_kind") == kind:
                return name
    return None


def _ratio(num: float, den: float) -> float | None:
    return num / den if num > 0 and den > 0 else None


def _quantum_payload_bits(s: Mapping[str, Any]) -> int:
    """Update bits handed to the directions (uplink/downlink) that used Bell pairs."""
    return int(
        sum(
            (s.get(d) or {}).get("payload_bits", 0)
            for d in ("uplink", "downlink")
            if (s.get(d) or {}).get("bell_pairs", 0) > 0
        )
    )


def _row(
    name: str,
    s: Mapping[str, Any],
    *,
    metric: str,
    base: Mapping[str, Any] | None,
    is_baseline: bool,
    tally: EavesdropperTally | None,
) -> ScenarioRow:
    acc = s.get("final_accuracy")
    base_acc = None if base is None else base.get("final_accuracy")
    pairs = int(s.get("bell_pairs_total") or 0)
    link = s.get("link_seconds_total")
    return ScenarioRow(
        name=name,
        uplink_kind=str(s.get("uplink_kind", UNKNOWN)),
        metric=metric,
        final_accuracy=acc,
        final_loss=s.get("final_loss"),
        accuracy_delta=None
        if is_baseline or acc is None or base_acc is None
        else float(acc) - float(base_acc),
        is_baseline=is_baseline,
        target_accuracy=s.get("target_accuracy"),
        rounds_to_target=s.get("rounds_to_target"),
        rounds=int(s.get("rounds") or 0),
        bell_pairs=pairs,
        payload_qubits=int(s.get("payload_qubits_total") or 0),
        check_pairs=int(s.get("check_pairs_total") or 0),
        purification_pairs=int(s.get("purification_pairs_total") or 0),
        discarded_pairs=int(s.get("discarded_pairs_total") or 0),
        classical_bits=int(s.get("classical_bits_total") or 0),
        pairs_per_payload_qubit=_ratio(pairs, int(s.get("payload_qubits_total") or 0)),
        pairs_per_payload_bit=_ratio(pairs, _quantum_payload_bits(s)),
        link_seconds=None if link is None or (pairs == 0 and not link) else float(link),
        link_rate_known=bool(s.get("link_rate_known", True)),
        detections=int(s.get("detections") or 0),
        rejected_updates=int(s.get("rejected_updates") or 0),
        rejected_by_checks=int(s.get("rejected_by_checks") or 0),
        eavesdropped_clients=tuple(int(k) for k in s.get("eavesdropped_clients") or ()),
        mean_qber=s.get("mean_qber"),
        eavesdropper=tally,
    )


def run_table(
    summary: Mapping[str, Any],
    *,
    tallies: Mapping[str, EavesdropperTally] | None = None,
) -> RunTable:
    """The comparison rows of a run from the content of its ``summary.json``.

    ``tallies`` (per scenario, from ``metrics.jsonl``; see
    :func:`qtfl.present.report_data.eavesdropper_tallies`) add what the checks did to the
    attacked clients' updates; without them the rows carry the summary's totals only.
    """
    scenarios: Mapping[str, Mapping[str, Any]] = summary["scenarios"]
    metric = str(summary.get("metric", "accuracy"))
    base = baseline_name(scenarios)
    rows = tuple(
        _row(
            name,
            s,
            metric=metric,
            base=None if base is None else scenarios[base],
            is_baseline=name == base,
            tally=(tallies or {}).get(name),
        )
        for name, s in scenarios.items()
    )
    target = next((r.target_accuracy for r in rows if r.target_accuracy is not None), None)
    return RunTable(rows=rows, baseline=base, metric=metric, target_accuracy=target)


def terminal_columns(table: RunTable) -> list[str]:
    """The terminal table's headers, in order (short words, so that narrow terminals wrap
    headers, never values)."""
    target = (
        f"rounds to {human_percent(table.target_accuracy, decimals=0)}"
        if table.target_accuracy is not None and table.metric != "r2"
        else f"rounds to R² {human_number(table.target_accuracy)}"
        if table.target_accuracy is not None
        else "rounds to target"
    )
    return [
        "scenario",
        table.metric_label,
        "Δ" if table.metric == "r2" else "Δ (pp)",
        target,
        "Bell pairs",
        "pairs / payload qubit",
        "link time",
        "detect / reject",
    ]


def terminal_cells(row: ScenarioRow) -> list[str]:
    """The cells of ``row`` in :func:`terminal_columns` order (human units, dashes)."""
    return [
        row.name,
        row.accuracy_text,
        row.accuracy_delta_cell,
        row.rounds_to_target_text,
        human_count(row.bell_pairs) if row.bell_pairs else UNKNOWN,
        human_number(row.pairs_per_payload_qubit),
        row.link_time_text,
        row.detections_text,
    ]


def table_caption(table: RunTable) -> str:
    """What the columns' dashes and the difference mean, under the table."""
    base = (
        f"Δ: {table.metric_label} minus that of {table.baseline} (the classical baseline)"
        if table.baseline
        else "Δ: no classical baseline (no scenario with a plaintext uplink)"
    )
    return (
        base + "; detect / reject: updates flagged as eavesdropped / not aggregated; "
        "—: none, or unknown (a link without a published pair rate)."
    )


_GAP = 2  # characters between columns (SIMPLE_HEAD box, collapsed padding, no edges)


def rich_run_table(table: RunTable, *, width: int | None = None) -> Any:
    """The comparison as a :class:`rich.table.Table` (one row per scenario).

    Values never wrap and scenario names are never cut: when the natural table is wider
    than ``width`` (the terminal's), every column shrinks to its widest value or header
    word, so only headers wrap; if that is still too wide, long scenario names fold onto
    a second line. Print :func:`table_caption` under it.
    """
    from rich import box
    from rich.table import Table

    out = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    headers = terminal_columns(table)
    cells = [terminal_cells(row) for row in table.rows]
    natural = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    narrow = [
        max([len(w) for w in h.split()] + [len(c[i]) for c in cells])
        for i, h in enumerate(headers)
    ]
    gaps = _GAP * (len(headers) - 1)
    squeeze = width is not None and sum(natural) + gaps > width
    if width is not None and sum(narrow) + gaps > width:  # fold the names, keep the values
        narrow[0] = max(8, width - gaps - sum(narrow[1:]))
    for i, header in enumerate(headers):
        out.add_column(
            header,
            justify="left" if i == 0 else "right",
            min_width=narrow[i],
            width=narrow[i] if squeeze else None,
            overflow="fold",
        )
    for row, texts in zip(table.rows, cells, strict=True):
        out.add_row(*texts, style="bold" if row.is_baseline else None)
    return out


def headlines(table: RunTable) -> list[str]:
    """Three sentences relative to the classical baseline: accuracy, cost, detection."""
    base = None if table.baseline is None else table.row(table.baseline)
    others = [r for r in table.rows if not r.is_baseline]
    label = table.metric_label
    if base is None:
        acc = "No scenario has a plaintext uplink, so there is no classical baseline; " + (
            ", ".join(f"{r.name} {r.accuracy_text}" for r in table.rows) + "."
        )
    elif not others:
        acc = f"Only the classical scenario ran: final {label} {base.accuracy_text}."
    else:
        acc = (
            f"Final {label} relative to {base.name} ({base.uplink_kind} uplink, "
            f"{base.accuracy_text}): "
            + ", ".join(f"{r.name} {r.accuracy_delta_text}" for r in others)
            + "."
        )
    quantum = [r for r in table.rows if r.bell_pairs > 0]
    if not quantum:
        cost = "No scenario distributed Bell pairs."
    else:
        parts = []
        for r in quantum:
            per_bit = human_number(r.pairs_per_payload_bit)
            link = (
                f"{r.link_time_text} of link time"
                if r.link_seconds is not None
                else "link time unknown (no published pair rate)"
            )
            parts.append(
                f"{r.name} {human_count(r.bell_pairs)} Bell pairs "
                f"({per_bit} per payload bit), {link}"
            )
        cost = (
            "Cost of the quantum links"
            + (" (classical uses none)" if base is not None else "")
            + ": "
            + "; ".join(parts)
            + "."
        )
    return [acc, cost, _detection_headline(table)]


def _detection_headline(table: RunTable) -> str:
    attacked = [r for r in table.rows if r.eavesdropped_clients]
    honest_checked = [r for r in table.rows if not r.eavesdropped_clients and r.bell_pairs > 0]
    parts = []
    for r in attacked:
        who = ", ".join(map(str, r.eavesdropped_clients))
        if r.eavesdropper is not None:
            t = r.eavesdropper
            caught = t.attacked_rejected / t.attacked_updates if t.attacked_updates else None
            parts.append(
                f"in {r.name} the QBER checks rejected {t.attacked_rejected} of "
                f"{t.attacked_updates} updates from attacked client"
                f"{'s' if len(r.eavesdropped_clients) > 1 else ''} {who} "
                f"({human_percent(caught)}) and {t.honest_rejected_by_checks} of "
                f"{t.honest_updates} honest updates"
            )
        else:
            parts.append(
                f"in {r.name} (attacked clients {who}) the checks made {r.detections} "
                f"detections and rejected {r.rejected_by_checks} updates"
            )
    false_alarms = [f"{r.name} {r.rejected_by_checks}" for r in honest_checked]
    if not attacked:
        text = "No eavesdropper was configured"
        if false_alarms:
            text += "; updates rejected by the checks on honest links: " + ", ".join(false_alarms)
        return text + "."
    text = "Eavesdropper detection: " + "; ".join(parts)
    if false_alarms:
        text += "; on unattacked links the checks rejected: " + ", ".join(false_alarms)
    return text + "."


RUN_FILES = ("summary.json", "metrics.jsonl", "report.html", "report-data/")


def run_epilogue(out_dir: Path) -> list[str]:
    """The lines after the table: the files the run left in ``out_dir`` and which to open.

    >>> run_epilogue(Path("no/such/run"))
    ['nothing written in no/such/run']
    """
    written = [n for n in RUN_FILES if (out_dir / n.rstrip("/")).exists()]
    if not written:
        return [f"nothing written in {out_dir}"]
    lines = [f"wrote {', '.join(written)} in {out_dir}"]
    if (out_dir / "report.html").is_file():
        lines.append(f"open {out_dir / 'report.html'}")
    return lines
