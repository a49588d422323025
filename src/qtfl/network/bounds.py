r"""Fiber transmissivity and the PLOB bound on repeaterless entanglement distribution.

* Fiber loss: :math:`\eta = 10^{-(\alpha L + \ell)/10}` for attenuation ``α`` (dB/km), length
  ``L`` (km) and any fixed extra loss ``ℓ`` (dB). α = 0.2 dB/km at 1550 nm.
* PLOB bound (Pirandola, Laurenza, Ottaviani & Banchi, Nat. Commun. 8, 15043 (2017)): over a
  pure-loss channel of transmissivity η no protocol without repeaters distributes more than
  :math:`-\log_2(1-\eta)` ebits per channel use (30.2 km -> 0.413, 100 km -> 0.0145 at
  0.2 dB/km). Per second, multiply by the channel-use (clock) rate.

A link that delivers one pair per heralded success with probability ``p_succ`` per channel
use runs at ``p_succ / (-log2(1-η))`` of the bound per use (and, at the same clock, per
second). Because :math:`-\log_2(1-\eta) \ge \eta`, a single-photon-per-use link reaches at
most a fraction 1 of it (and ln 2 ≈ 0.69 in the low-η limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qtfl.errors import require_range


def transmissivity(
    *, distance_km: float, attenuation_db_per_km: float = 0.2, extra_loss_db: float = 0.0
) -> float:
    r"""Fraction of photons that survive the fiber: :math:`10^{-(\alpha L + \ell)/10}`."""
    length = require_range("distance_km", distance_km, low=0.0)
    alpha = require_range("attenuation_db_per_km", attenuation_db_per_km, low=0.0)
    extra = require_range("extra_loss_db", extra_loss_db, low=0.0)
    return 10.0 ** (-(alpha * length + extra) / 10.0)


def plob_capacity(eta: float) -> float:
    r"""PLOB repeaterless bound :math:`-\log_2(1-\eta)` in ebits per channel use.

    ``eta = 1`` (a lossless channel) gives ``inf``.
    """
    e = require_range("eta", eta, low=0.0, high=1.0)
    if e == 1.0:
        return math.inf
    return -math.log2(1.0 - e)


@dataclass(frozen=True)
class PlobComparison:
    """A link's entanglement rate beside the PLOB bound for the same transmissivity.

    Attributes:
        eta: end-to-end transmissivity of the channel.
        plob_ebits_per_use: :math:`-\\log_2(1-\\eta)`.
        pairs_per_use: pairs the link delivers per channel use (per source pulse).
        fraction_per_use: ``pairs_per_use / plob_ebits_per_use``.
        clock_hz: channel uses per second (the source clock), ``None`` when unknown.
        plob_ebits_per_s: the bound per second at that clock (``None`` when unknown).
        pairs_per_s: the link's pair rate (``None`` when unknown).
    """

    eta: float
    plob_ebits_per_use: float
    pairs_per_use: float
    fraction_per_use: float
    clock_hz: float | None
    plob_ebits_per_s: float | None
    pairs_per_s: float | None

    @property
    def fraction_per_s(self) -> float | None:
        """Same ratio per second at the source clock (equal to ``fraction_per_use``)."""
        if self.pairs_per_s is None or self.plob_ebits_per_s is None:
            return None
        return self.pairs_per_s / self.plob_ebits_per_s


def compare_with_plob(
    *, eta: float, pairs_per_use: float, clock_hz: float | None = None
) -> PlobComparison:
    """Compare ``pairs_per_use`` (and the rate at ``clock_hz``) with the PLOB bound at ``eta``."""
    cap = plob_capacity(eta)
    p = require_range("pairs_per_use", pairs_per_use, low=0.0)
    clock = None if clock_hz is None else require_range("clock_hz", clock_hz, low=0.0)
    fraction = 0.0 if p == 0.0 else (p / cap if cap > 0.0 else math.inf)
    return PlobComparison(
        eta=eta,
        plob_ebits_per_use=cap,
        pairs_per_use=p,
        fraction_per_use=fraction,
        clock_hz=clock,
        plob_ebits_per_s=None if clock is None else cap * clock,
        pairs_per_s=None if clock is None else p * clock,
    )
