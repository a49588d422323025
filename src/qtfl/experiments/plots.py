"""The report's figures: matplotlib (Agg) rendered to PNG bytes.

Each function takes per-scenario round records (:class:`qtfl.fl.engine.RoundMetrics`) and
returns PNG bytes, or ``None`` when there is nothing to draw (e.g. no quantum scenario for
the QBER plot), so the report never shows an empty axis.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qtfl.experiments.metrics import round_figures
from qtfl.fl.engine import RoundMetrics

Records = Mapping[str, Sequence[RoundMetrics]]


def _color(records: Records, name: str) -> str:
    """The same colour for a scenario in every plot (matplotlib's cycle C0..C9)."""
    return f"C{list(records).index(name) % 10}"


def _figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (9.0, 4.2)) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def accuracy_plot(records: Records, *, target: float | None) -> bytes | None:
    """Test accuracy against round, one line per scenario, with the target."""
    fig, axes = _figure()
    ax = axes[0][0]
    drawn = False
    for name, recs in records.items():
        pts = [(r.round, r.accuracy) for r in recs if r.accuracy is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            ax.plot(x, y, marker="o", markersize=3, label=name, color=_color(records, name))
            drawn = True
    if not drawn:
        return None
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy per round")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def resources_plot(records: Records, *, rate_known: Mapping[str, bool]) -> bytes | None:
    """Bell pairs per round (left) and link seconds per round (right), log scale."""
    fig, axes = _figure(1, 2, size=(11.0, 4.2))
    pairs_ax, time_ax = axes[0]
    any_pairs = any_time = False
    for name, recs in records.items():
        rounds = [r.round for r in recs]
        pairs = [round_figures(r)["bell_pairs"] for r in recs]
        if any(p > 0 for p in pairs):
            pairs_ax.plot(
                rounds, pairs, marker="o", markersize=3, label=name, color=_color(records, name)
            )
            any_pairs = True
        if rate_known.get(name, True):
            secs = [r.link_seconds for r in recs]
            if any(s > 0 for s in secs):
                time_ax.plot(
                    rounds, secs, marker="o", markersize=3, label=name, color=_color(records, name)
                )
                any_time = True
    if not (any_pairs or any_time):
        return None
    for ax, title, label, drawn in (
        (pairs_ax, "Bell pairs per round (checks, FEC, purification)", "Bell pairs", any_pairs),
        (time_ax, "Link time per round (slowest client)", "seconds", any_time),
    ):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if drawn:
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no scenario with a known rate", ha="center", transform=ax.transAxes)
    return _png(fig)


def qber_plot(records: Records, *, eavesdropped: Mapping[str, Sequence[int]]) -> bytes | None:
    """Measured QBER per client link and round, per quantum scenario, with the abort threshold.

    Attacked links are drawn as red crosses, honest ones as dots; the dashed line is the
    test's threshold (``qber_bound``), averaged over the round's deliveries.
    """
    panels = []
    for name, recs in records.items():
        if any(q is not None for r in recs for q in r.clients.get("qber", [])):
            panels.append(name)
    if not panels:
        return None
    fig, axes = _figure(1, len(panels), size=(4.2 * len(panels) + 1.0, 4.0))
    for ax, name in zip(axes[0], panels, strict=True):
        attacked = set(eavesdropped.get(name, ()))
        xs, qs, bad, bound_x, bound_y = [], [], [], [], []
        for r in records[name]:
            cols = r.clients
            for k, q in zip(cols.get("client", []), cols.get("qber", []), strict=True):
                if q is not None:
                    xs.append(r.round)
                    qs.append(q)
                    bad.append(k in attacked)
            bounds = [b for b in cols.get("qber_bound", []) if b is not None]
            if bounds:
                bound_x.append(r.round)
                bound_y.append(float(np.mean(bounds)))
        x, q, hit = np.array(xs), np.array(qs), np.array(bad, dtype=bool)
        ax.scatter(x[~hit], q[~hit], s=8, c="tab:blue", label="honest link")
        if hit.any():
            ax.scatter(x[hit], q[hit], s=16, c="tab:red", marker="x", label="eavesdropped link")
        if bound_x:
            ax.plot(bound_x, bound_y, "k--", lw=1, label="abort threshold")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("round")
        ax.set_ylabel("QBER on check pairs")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)
