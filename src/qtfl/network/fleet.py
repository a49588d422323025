r"""A link per client: distances set or drawn with the seed, far clients through repeaters.

A run's clients rarely sit at one distance. :func:`client_links` gives every client its own
link from a template :class:`~qtfl.network.link.FiberLink` and a distance; a client farther
than ``spacing_km`` from the server is reached through a repeater chain with a node every
``spacing_km`` km (placement rule: ``n = ceil(L / L_0)`` equal segments, capped at
:data:`~qtfl.network.repeater.MAX_SEGMENTS`; with purification, ``n`` is rounded up to a
power of two as nesting requires), evaluated by :class:`~qtfl.network.repeater.RepeaterChain`
— swapped visibilities multiply, the rate follows the slowest segment.

:func:`draw_distances` draws distances uniformly in ``[low_km, high_km]`` from the experiment
generator (the network is part of the science, so it is reproduced by the seed).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_int, require_range
from qtfl.network.link import FiberLink
from qtfl.network.repeater import MAX_SEGMENTS, RepeaterChain
from qtfl.quantum.noise import BellDiagonalPair


@dataclass(frozen=True)
class RepeaterRule:
    """Where repeater nodes go: one every ``spacing_km`` km, with optional purification."""

    spacing_km: float
    purification_rounds: int = 0

    def __post_init__(self) -> None:
        require_range("repeaters.spacing_km", self.spacing_km, low=0.0, low_open=True)
        require_int("repeaters.purification_rounds", self.purification_rounds, low=0, high=16)

    def segments(self, distance_km: float) -> int:
        """``ceil(L / L0)`` (a power of two with purification), at least 1."""
        n = max(1, math.ceil(distance_km / self.spacing_km - 1e-12))
        if self.purification_rounds > 0:
            n = 1 << (n - 1).bit_length()
        if n > MAX_SEGMENTS:
            raise InputError(
                f"a client at {distance_km:g} km needs {n} segments of at most "
                f"{self.spacing_km:g} km; at most {MAX_SEGMENTS} are modelled (raise spacing_km)"
            )
        return n


@dataclass(frozen=True)
class ClientLink:
    """One client's link as the channels see it (the :class:`PairLink` protocol)."""

    distance_km: float
    segments: int
    pair: BellDiagonalPair
    pair_rate_hz: float | None
    latency_s: float

    @property
    def fidelity(self) -> float:
        return self.pair.fidelity


def draw_distances(
    n: int, *, low_km: float, high_km: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``n`` distances uniform in ``[low_km, high_km]``."""
    require_int("clients", n, low=1, high=10_000_000)
    lo = require_range("distance low_km", low_km, low=0.0)
    hi = require_range("distance high_km", high_km, low=lo)
    return rng.uniform(lo, hi, size=n)


def client_links(
    template: FiberLink,
    distances_km: Sequence[float] | npt.ArrayLike,
    *,
    repeaters: RepeaterRule | None = None,
) -> list[ClientLink]:
    """Every client's link: ``template`` at its distance, through repeaters where needed.

    Equal distances share one evaluation (a repeater chain is evaluated once per distinct
    distance and segment count).
    """
    d = np.asarray(distances_km, dtype=np.float64).reshape(-1)
    if d.size == 0 or np.any(d < 0) or not np.all(np.isfinite(d)):
        raise InputError("distances must be finite and >= 0 km, one per client")
    cache: dict[tuple[float, int], ClientLink] = {}
    out = []
    for dist in d.tolist():
        n = 1 if repeaters is None else repeaters.segments(dist)
        key = (dist, n)
        if key not in cache:
            link = dataclasses.replace(template, distance_km=dist)
            if n == 1:
                cache[key] = ClientLink(dist, 1, link.pair, link.pair_rate_hz, link.latency_s)
            else:
                rounds = 0 if repeaters is None else repeaters.purification_rounds
                rep = RepeaterChain(link=link, n_segments=n, purification_rounds=rounds).evaluate()
                cache[key] = ClientLink(dist, n, rep.pair, rep.pair_rate_hz, rep.latency_s)
        out.append(cache[key])
    return out
