"""Quantum links: fiber physics, the PLOB bound, repeaters, published presets, update cost.

Public names are re-exported here; the modules are ``link`` (:class:`FiberLink`,
:class:`CompiledLink`), ``bounds`` (transmissivity, PLOB), ``repeater`` (swapping, chains),
``presets`` (published experiments) and ``cost`` (the cost model: pairs and seconds per
model update).
"""

from qtfl.network.bounds import PlobComparison, compare_with_plob, plob_capacity, transmissivity
from qtfl.network.cost import (
    MLP_100K_PARAMS,
    QUICKSTART_MODEL_PARAMS,
    LinkReport,
    UpdateCost,
    evaluate_link,
    link_report,
    update_cost,
)
from qtfl.network.link import FIBER_SIGNAL_SPEED_M_PER_S, CompiledLink, FiberLink
from qtfl.network.presets import PRESETS, Preset, get_preset, pair_fidelity_from_teleport_fidelity
from qtfl.network.repeater import RepeaterChain, RepeaterReport, expected_max_geometric, swap

__all__ = [
    "FIBER_SIGNAL_SPEED_M_PER_S",
    "MLP_100K_PARAMS",
    "PRESETS",
    "QUICKSTART_MODEL_PARAMS",
    "CompiledLink",
    "FiberLink",
    "LinkReport",
    "PlobComparison",
    "Preset",
    "RepeaterChain",
    "RepeaterReport",
    "UpdateCost",
    "compare_with_plob",
    "evaluate_link",
    "expected_max_geometric",
    "get_preset",
    "link_report",
    "pair_fidelity_from_teleport_fidelity",
    "plob_capacity",
    "swap",
    "transmissivity",
    "update_cost",
]
