"""Aggregation strategies: pure functions on stacked updates, and thin classes around them.

``make_strategy(name, **params)`` builds one from the registry :data:`STRATEGIES`; unknown
names or parameters raise :class:`qtfl.errors.InputError` listing what is allowed.
"""

from __future__ import annotations

import inspect
from typing import Any

from qtfl.errors import InputError, require_choice
from qtfl.fl.strategies.adaptive import (
    FedAdam,
    FedYogi,
    adam_second_moment,
    adaptive_step,
    yogi_second_moment,
)
from qtfl.fl.strategies.base import Strategy
from qtfl.fl.strategies.clipping import NormBounding, norm_bounded_mean
from qtfl.fl.strategies.fedavg import FedAvg, FedProx, fedavg
from qtfl.fl.strategies.robust import (
    CoordinateMedian,
    Krum,
    MultiKrum,
    TrimmedMean,
    coordinate_median,
    krum,
    krum_scores,
    trimmed_mean,
)

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        FedAvg,
        FedProx,
        FedAdam,
        FedYogi,
        CoordinateMedian,
        TrimmedMean,
        Krum,
        MultiKrum,
        NormBounding,
    )
}


def strategy_parameters(name: str) -> list[str]:
    """The keyword parameters strategy ``name`` accepts."""
    cls = STRATEGIES[require_choice("strategy", name, STRATEGIES)]
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def make_strategy(name: str, **params: Any) -> Strategy:
    """Build strategy ``name`` with keyword ``params``; bad names/params raise InputError."""
    allowed = strategy_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        listing = ", ".join(allowed) or "none"
        raise InputError(
            f"unknown parameter {unknown[0]!r} for strategy {name!r}; allowed: {listing}"
        )
    return STRATEGIES[name](**params)


__all__ = [
    "STRATEGIES",
    "CoordinateMedian",
    "FedAdam",
    "FedAvg",
    "FedProx",
    "FedYogi",
    "Krum",
    "MultiKrum",
    "NormBounding",
    "Strategy",
    "TrimmedMean",
    "adam_second_moment",
    "adaptive_step",
    "coordinate_median",
    "fedavg",
    "krum",
    "krum_scores",
    "make_strategy",
    "norm_bounded_mean",
    "strategy_parameters",
    "trimmed_mean",
    "yogi_second_moment",
]
