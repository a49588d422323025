"""What ``qtfl link`` prints beyond :class:`~qtfl.network.cost.LinkReport`: the preset list and
the markdown table of update costs on every preset (documentation figures).

The cost model itself (:mod:`qtfl.network.cost`) returns typed results; this module only
formats them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qtfl.errors import InputError, require_range
from qtfl.network.bounds import plob_capacity
from qtfl.network.cost import MLP_100K_PARAMS, QUICKSTART_MODEL_PARAMS, update_cost
from qtfl.network.presets import PRESETS, Preset
from qtfl.quantum.noise import WernerPair


def preset_listing() -> dict[str, dict[str, Any]]:
    """Every preset with its published figures and citation (``qtfl link --list``)."""
    return {
        p.name: {
            "distance_km": p.distance_km,
            "medium": p.medium,
            "teleport_fidelity": p.teleport_fidelity,
            "pair_fidelity": p.pair_fidelity,
            "teleport_rate_hz": p.teleport_rate_hz,
            "citation": p.citation,
        }
        for p in PRESETS.values()
    }


def update_cost_table(
    *,
    models: Mapping[str, int] | None = None,
    presets: Sequence[Preset] | None = None,
    bits_per_param: int = 16,
    check_fraction: float = 0.1,
    target_fidelity: float = 0.95,
    clock_hz: float = 1e9,
) -> str:
    """Markdown table: pairs and seconds per update on every preset, beside the PLOB time.

    The PLOB column assumes a ``clock_hz`` channel-use rate (the presets' own clocks are
    mostly unpublished) and ideal PLOB-rate delivery of the same pairs; latency excluded.
    A cell whose input is unpublished shows what is missing.
    """
    chosen_models = (
        models
        if models is not None
        else {"quickstart": QUICKSTART_MODEL_PARAMS, "mlp-100k": MLP_100K_PARAMS}
    )
    chosen = list(PRESETS.values()) if presets is None else list(presets)
    clock = require_range("clock_hz", clock_hz, low=0.0, low_open=True)
    head = (
        "| model | preset | km | pair F | pair rate (Hz) | pairs/update | s/update "
        f"| pairs/update at F>={target_fidelity:g} | PLOB-limited s/update at {clock_hz:.3g} Hz |"
    )
    lines = [head, "|" + "---|" * 9]
    for model_name, params in chosen_models.items():
        for p in chosen:
            fid = p.pair_fidelity
            pair = None if fid is None else WernerPair(fid)
            plain = update_cost(
                pair,
                model_params=params,
                bits_per_param=bits_per_param,
                check_fraction=check_fraction,
            )
            purified = "fidelity not published"
            if pair is not None:
                try:
                    cost = update_cost(
                        pair,
                        model_params=params,
                        bits_per_param=bits_per_param,
                        check_fraction=check_fraction,
                        target_fidelity=target_fidelity,
                    )
                    rounds = cost.purification.rounds if cost.purification else 0
                    purified = f"{cost.pairs_per_update:.3g} ({rounds} rounds)"
                except InputError:
                    purified = "unreachable"
            rate = seconds = "not published"
            if p.teleport_rate_hz is not None:
                link = p.link()
                assert link.pair_rate_hz is not None
                rate = f"{link.pair_rate_hz:.3g}"
                seconds = f"{plain.pairs_per_update / link.pair_rate_hz + link.latency_s:.3g}"
            eta = p.transmissivity
            plob = (
                "loss not published"
                if eta is None
                else f"{plain.pairs_per_update / (plob_capacity(eta) * clock):.3g}"
            )
            lines.append(
                f"| {model_name} ({params:,} params) | {p.name} | {p.distance_km:g} "
                f"| {'—' if fid is None else f'{fid:.4g}'} | {rate} "
                f"| {plain.pairs_per_update:.4g} | {seconds} | {purified} | {plob} |"
            )
    return "\n".join(lines)


__all__ = ["preset_listing", "update_cost_table"]
