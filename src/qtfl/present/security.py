"""What ``qtfl security curve`` and ``qtfl security eavesdroppers`` print as tables.

The library returns typed results (:class:`~qtfl.security.curve.DetectionCurve`,
:class:`~qtfl.security.comparison.EavesdropperComparison`); ``--json`` prints their
``as_dict()``, the table prints these rows, every number through :mod:`qtfl.present.units`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qtfl.present.units import human_number, human_percent
from qtfl.security.comparison import EavesdropperComparison
from qtfl.security.curve import DetectionCurve


def curve_rows(curve: DetectionCurve) -> dict[str, Any]:
    """The settings, then one row per grid point: predicted and simulated detection."""
    rows: dict[str, Any] = {k: v for k, v in asdict(curve).items() if k != "points"}
    for p in curve.points:
        rows[f"k={p.n_checks} f={human_number(p.eve_fraction)}"] = (
            f"predicted {human_number(p.predicted, digits=4)}  simulated "
            f"{human_number(p.simulated, digits=4)} ± {human_number(p.stderr, digits=2)}"
        )
    return rows


def eavesdropper_rows(result: EavesdropperComparison) -> dict[str, Any]:
    """The settings, then one row per eavesdropper: detection, payload errors, what Eve knows."""
    rows: dict[str, Any] = {k: v for k, v in asdict(result).items() if k != "rows"}
    for name, r in result.rows.items():
        eve = "-" if r.eve_agreement is None else human_number(r.eve_agreement, digits=4)
        rows[name] = (
            f"detect {human_number(r.detect_predicted, digits=4)} (simulated "
            f"{human_number(r.detect_simulated, digits=4)})  payload errors "
            f"{human_number(r.payload_bit_error, digits=4)}  Eve agrees {eve}  "
            f"knows {human_percent(r.eve_known_fraction)}"
        )
    return rows


__all__ = ["curve_rows", "eavesdropper_rows"]
