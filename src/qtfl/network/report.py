"""Deprecated name of :mod:`qtfl.network.cost` (the cost model); import from there."""

from qtfl.network.cost import (
    MLP_100K_PARAMS,
    QUICKSTART_MODEL_PARAMS,
    LinkReport,
    UpdateCost,
    evaluate_link,
    link_report,
    update_cost,
)

__all__ = [
    "MLP_100K_PARAMS",
    "QUICKSTART_MODEL_PARAMS",
    "LinkReport",
    "UpdateCost",
    "evaluate_link",
    "link_report",
    "update_cost",
]
