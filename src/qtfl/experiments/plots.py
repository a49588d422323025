"""The report's figures: matplotlib (Agg) rendered to PNG bytes.

Each function draws typed rows of :mod:`qtfl.present.report_data` (the same rows the report
writes to ``report-data/*.csv``) and returns PNG bytes, or ``None`` when there is nothing to
draw (e.g. no quantum scenario for the QBER plot), so the report never shows an empty axis.
Every tick label goes through :mod:`qtfl.present.units` (k/M/G, s/min/h/d, %): no
e-notation and no ``1e8`` axis offsets. A scenario has the same colour in every figure
(matplotlib's cycle ``C0..C9`` in the order of ``names``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qtfl.present.report_data import PairSplit, QberPoint, RoundPoint
from qtfl.present.units import human_count, human_number, human_percent, human_seconds

PAIR_PARTS = (
    ("payload", "payload (and FEC parity)", "#4c72b0"),
    ("checks", "checks (sacrificed for the QBER)", "#dd8452"),
    ("purification", "purification", "#55a868"),
    ("discarded", "discarded (aborted attempts; QKD: key)", "#c44e52"),
)


def _color(names: Sequence[str], name: str) -> str:
    """The same colour for a scenario in every plot (matplotlib's cycle C0..C9)."""
    return f"C{list(names).index(name) % 10}"


def _figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (11.0, 4.2)) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def _png(fig: Any, *, layout: bool = True) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    if layout:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _ticks(axis: Any, fmt: Callable[[float], str]) -> None:
    """Label ``axis`` (``ax.xaxis`` / ``ax.yaxis``) with ``fmt``; no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _pos: fmt(x)))
    axis.set_minor_formatter(NullFormatter())


def _metric_axis(axis: Any, metric: str) -> None:
    """Accuracy as a percentage (decimals chosen from the axis range), R² as a number."""
    if metric == "r2":
        _ticks(axis, lambda v: human_number(v, digits=2))
    else:
        _percent_axis(axis)


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0))


def _round_axis(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


_S_MIN, _S_H, _S_D = 60.0, 3600.0, 86400.0
_TIME_TICKS = tuple(
    sorted(
        [m * 1e-3 for m in (1, 10, 100)]
        + [1.0, 2.0, 5.0, 10.0, 20.0, 30.0]
        + [m * _S_MIN for m in (1, 2, 5, 10, 20, 30)]
        + [h * _S_H for h in (1, 2, 3, 6, 12)]
        + [d * _S_D for d in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)]
    )
)


_COUNT_TICKS = tuple(m * 10.0**k for k in range(16) for m in (1, 2, 5))


def _log_axis(axis: Any, lo: float, hi: float, *, nice: Sequence[float],
              fmt: Callable[[float], str]) -> None:
    """Log-scale ticks at round values in ``[lo, hi]`` (1 h, 6 h, 1 d... or 1, 2, 5 x 10^k),
    at most six; a range too narrow for two of them gets four ticks spaced evenly on the
    log scale, rounded to two significant digits. Labels through ``fmt``."""
    from matplotlib.ticker import FixedLocator

    inside = [t for t in nice if lo <= t <= hi]
    while len(inside) > 6:
        inside = inside[::2]
    if len(inside) < 2 and lo > 0 and hi > lo:
        inside = [float(f"{t:.2g}") for t in np.geomspace(lo, hi, 6)[1:-1]]
    axis.set_major_locator(FixedLocator(inside))
    _ticks(axis, fmt)


def _metric_fmt(metric: str) -> Callable[[float], str]:
    if metric == "r2":
        return lambda v: human_number(v, digits=2)
    return lambda v: human_percent(v, decimals=0)


def _by_scenario(points: Sequence[RoundPoint], names: Sequence[str]) -> dict[str, list[RoundPoint]]:
    out: dict[str, list[RoundPoint]] = {n: [] for n in names}
    for p in points:
        out.setdefault(p.scenario, []).append(p)
    return out


def learning_curves_plot(
    points: Sequence[RoundPoint], *, names: Sequence[str], target: float | None, metric: str
) -> bytes | None:
    """Test accuracy (R² for regression) per round (left) and test loss per round (right)."""
    series = _by_scenario(points, names)
    fig, axes = _figure(1, 2)
    acc_ax, loss_ax = axes[0]
    drawn = False
    for name, pts in series.items():
        acc = [(p.round, p.accuracy) for p in pts if p.accuracy is not None]
        loss = [(p.round, p.loss) for p in pts if p.loss is not None]
        style = {"marker": "o", "markersize": 3, "label": name, "color": _color(names, name)}
        if acc:
            acc_ax.plot(*zip(*acc, strict=True), **style)
            drawn = True
        if loss:
            loss_ax.plot(*zip(*loss, strict=True), **style)
    if not drawn:
        return None
    label = "test R²" if metric == "r2" else "test accuracy"
    if target is not None:
        acc_ax.axhline(
            target, color="grey", ls="--", lw=1, label=f"target {_metric_fmt(metric)(target)}"
        )
    acc_ax.set_title(f"{label.capitalize()} per round")
    acc_ax.set_ylabel(label)
    _metric_axis(acc_ax.yaxis, metric)
    loss_ax.set_title("Test loss per round" + (" (mean squared error)" if metric == "r2" else ""))
    loss_ax.set_ylabel("test loss")
    _ticks(loss_ax.yaxis, human_number)
    for ax in (acc_ax, loss_ax):
        ax.set_xlabel("round")
        _round_axis(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def seed_bands_plot(
    curves: dict[str, dict[int, list[tuple[int, float]]]], *, names: Sequence[str], metric: str
) -> bytes | None:
    """Test accuracy per round over seeds: the mean and its 95% Student-t band per scenario."""
    from qtfl.experiments.seeds import mean_interval

    fig, axes = _figure(1, 1, size=(11.0, 4.6))
    ax = axes[0][0]
    drawn = False
    for name in names:
        by_seed = curves.get(name, {})
        rounds = sorted({r for pts in by_seed.values() for r, _ in pts})
        rows = []
        for r in rounds:
            vals = [v for pts in by_seed.values() for rr, v in pts if rr == r]
            rows.append((r, *mean_interval(vals)))
        if not rows:
            continue
        x, m, lo, hi = (np.array(c) for c in zip(*rows, strict=True))
        color = _color(names, name)
        ax.plot(x, m, marker="o", markersize=3, color=color,
                label=f"{name} ({len(by_seed)} seeds)")  # fmt: skip
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
        drawn = True
    if not drawn:
        return None
    label = "test R²" if metric == "r2" else "test accuracy"
    ax.set_title(f"{label.capitalize()} per round: mean over seeds and its 95% interval")
    ax.set_ylabel(label)
    _metric_axis(ax.yaxis, metric)
    ax.set_xlabel("round")
    _round_axis(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def cost_curves_plot(
    points: Sequence[RoundPoint],
    *,
    names: Sequence[str],
    baseline: str | None,
    metric: str,
) -> bytes | None:
    """Accuracy against the Bell pairs spent so far (left) and the link time so far (right;
    left out when no scenario's link publishes a pair rate).

    Both axes are logarithmic; a scenario without Bell pairs (classical) has no point on
    them and is drawn as a dotted line at its final accuracy, for reference.
    """
    series = _by_scenario(points, names)
    quantum = {n: pts for n, pts in series.items() if any(p.bell_pairs > 0 for p in pts)}
    if not quantum:
        return None
    timed = any(p.cumulative_link_seconds for pts in quantum.values() for p in pts)
    fig, axes = _figure(1, 2 if timed else 1, size=(11.0 if timed else 6.0, 4.2))
    pairs_ax = axes[0][0]
    time_ax = axes[0][1] if timed else None
    for name, pts in quantum.items():
        style = {"marker": "o", "markersize": 3, "label": name, "color": _color(names, name)}
        xy = [
            (p.cumulative_bell_pairs, p.accuracy)
            for p in pts
            if p.accuracy is not None and p.cumulative_bell_pairs > 0
        ]
        if xy:
            pairs_ax.plot(*zip(*xy, strict=True), **style)
        xt = [
            (p.cumulative_link_seconds, p.accuracy)
            for p in pts
            if p.accuracy is not None and p.cumulative_link_seconds
        ]
        if xt and time_ax is not None:
            time_ax.plot(*zip(*xt, strict=True), **style)
    base = series.get(baseline or "", [])
    base_acc = [p.accuracy for p in base if p.accuracy is not None]
    label = "test R²" if metric == "r2" else "test accuracy"
    panels = [(pairs_ax, f"{label.capitalize()} against Bell pairs spent",
               "Bell pairs (cumulative)")]  # fmt: skip
    if time_ax is not None:
        panels.append(
            (time_ax, f"{label.capitalize()} against link time", "link time (cumulative)")
        )
    for ax, title, xlabel in panels:
        if base_acc:
            ax.axhline(
                base_acc[-1], color=_color(names, str(baseline)), ls=":", lw=1.5,
                label=f"{baseline} (no Bell pairs), final",
            )  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_xscale("log")
        _metric_axis(ax.yaxis, metric)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    _log_axis(pairs_ax.xaxis, *pairs_ax.get_xlim(), nice=_COUNT_TICKS, fmt=human_count)
    if time_ax is not None:
        _log_axis(time_ax.xaxis, *time_ax.get_xlim(), nice=_TIME_TICKS, fmt=human_seconds)
    return _png(fig)


def bell_pairs_plot(splits: Sequence[PairSplit]) -> bytes | None:
    """Where the Bell pairs went, per scenario: stacked bars of payload, checks,
    purification and discarded pairs, in pairs (left, total at the bar's end) and as shares
    of the scenario's pairs (right)."""
    rows = [s for s in splits if s.bell_pairs > 0]
    if not rows:
        return None
    height = 1.2 + 0.55 * len(rows)
    fig, axes = _figure(1, 2, size=(11.0, max(3.0, height)))
    abs_ax, share_ax = axes[0]
    y = np.arange(len(rows))[::-1]
    left_abs = np.zeros(len(rows))
    left_share = np.zeros(len(rows))
    totals = np.array([s.bell_pairs for s in rows], dtype=float)
    for attr, label, colour in PAIR_PARTS:
        part = np.array([getattr(s, attr) for s in rows], dtype=float)
        abs_ax.barh(y, part, left=left_abs, color=colour, label=label, height=0.6)
        share_ax.barh(y, part / totals, left=left_share, color=colour, height=0.6)
        left_abs += part
        left_share += part / totals
    for yi, total in zip(y, totals, strict=True):
        abs_ax.text(total, yi, f" {human_count(total)}", va="center", fontsize=8)
    abs_ax.set_xlim(0, totals.max() * 1.18)
    for ax in (abs_ax, share_ax):
        ax.set_yticks(y, [s.scenario for s in rows])
        ax.grid(alpha=0.3, axis="x")
    abs_ax.set_title("Bell pairs per scenario (whole run)")
    abs_ax.set_xlabel("Bell pairs")
    _ticks(abs_ax.xaxis, human_count)
    share_ax.set_title("Share of each scenario's Bell pairs")
    share_ax.set_xlabel("share")
    share_ax.set_xlim(0, 1)
    _percent_axis(share_ax.xaxis)
    fig.legend(loc="upper center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return _png(fig, layout=False)


def qber_plot(points: Sequence[QberPoint], *, names: Sequence[str]) -> bytes | None:
    """Measured QBER per client link and round, one panel per quantum scenario.

    Honest links are blue dots, attacked links red crosses; the dashed line is the abort
    threshold (``qber_bound``, the mean over the round's deliveries). Each panel has its own
    percentage axis, so a 0.2% link and a 25% attack are both readable.
    """
    panels = [n for n in names if any(p.scenario == n and p.qber is not None for p in points)]
    if not panels:
        return None
    cols = min(2, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = _figure(rows, cols, size=(11.0, 3.6 * rows))
    flat = [ax for row in axes for ax in row]
    for ax, name in zip(flat, panels, strict=False):
        pts = [p for p in points if p.scenario == name and p.qber is not None]
        x = np.array([p.round for p in pts], dtype=float)
        q = np.array([p.qber for p in pts], dtype=float)
        q = np.maximum(q, _qber_floor(q))
        hit = np.array([p.eavesdropped for p in pts], dtype=bool)
        ax.scatter(x[~hit], q[~hit], s=18, c="tab:blue", alpha=0.7, label="honest link")
        if hit.any():
            ax.scatter(
                x[hit], q[hit], s=36, c="tab:red", marker="x", label="eavesdropped link"
            )
        bounds: dict[int, list[float]] = {}
        for p in points:
            if p.scenario == name and p.qber_bound is not None:
                bounds.setdefault(p.round, []).append(p.qber_bound)
        if bounds:
            bx = sorted(bounds)
            ax.plot(bx, [float(np.mean(bounds[r])) for r in bx], "k--", lw=1.2,
                    label="abort threshold")  # fmt: skip
        ax.set_title(name, fontsize=11)
        ax.set_xlabel("round")
        ax.set_ylabel("QBER on check pairs")
        _qber_axis(ax, q, [b for bs in bounds.values() for b in bs])
        _round_axis(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    return _png(fig)


_LOG_RATIO = 30.0  # QBERs spanning more than this factor get a logarithmic axis


def _qber_floor(q: np.ndarray) -> float:
    """Where a zero QBER is drawn on a log axis: half the smallest positive one."""
    positive = q[q > 0]
    return float(positive.min()) / 2.0 if positive.size else 1e-4


def _qber_axis(ax: Any, q: np.ndarray, bounds: Sequence[float]) -> None:
    """Linear percentage axis from 0, or logarithmic when honest links (~0.1%), attacked
    links (~25%) and the threshold would otherwise crowd one end (zeros drawn at
    :func:`_qber_floor`)."""
    values = np.concatenate([q, np.asarray(bounds, dtype=float)])
    positive = values[values > 0]
    top = float(values.max()) if values.size else 0.0
    if positive.size and top / float(positive.min()) > _LOG_RATIO:
        ax.set_yscale("log")
        ax.set_ylim(float(positive.min()) / 1.5, top * 1.5)
        from matplotlib.ticker import NullFormatter

        _percent_axis(ax.yaxis)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("QBER on check pairs (log)")
    else:
        ax.set_ylim(0, top * 1.15 if top > 0 else 0.01)
        _percent_axis(ax.yaxis)
