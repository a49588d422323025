"""Each eavesdropper on one link, measured: the security question for a link in one result.

For every attacker (classical tap; intercept-resend in Z, X and random bases; entangling
MITM) attacking a fraction ``f`` of the pairs of a Werner link, and for the honest link:

* ``detect_predicted`` / ``detect_simulated`` — abort probability of one verification step
  with ``k`` checks (binomial tail of :func:`~qtfl.security.detection.detection_probability`
  vs ``trials`` circuit-level verifications; for ``none`` this is the false-alarm rate);
* ``payload_bit_error`` — bit error rate of ``payload_bits`` teleported bits under the attack;
* ``eve_agreement`` / ``eve_information_per_bit`` — her guess against the payload and
  ``1 - h(agreement)`` (no guess for ``none``);
* ``eve_known_fraction`` — share of payload bits she knows with certainty (the attacked
  pairs a Z-basis intercept or the MITM read), which ``1 - h(a)`` under-counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qtfl.errors import require_int, require_range
from qtfl.quantum.noise import WernerPair
from qtfl.security.curve import MAX_TRIALS, require_samples, simulate_abort_rate
from qtfl.security.detection import QberTest, detection_probability
from qtfl.security.eavesdropper import (
    INTERCEPT_Z,
    MITM,
    ClassicalTap,
    Eavesdropper,
    EntanglingMitm,
    InterceptResend,
    NoEavesdropper,
    sample_teleport,
)
from qtfl.security.leakage import information_from_agreement


@dataclass(frozen=True)
class EavesdropperRow:
    """One eavesdropper on the link (fields as in the module docstring)."""

    check_error_rate: float
    detect_predicted: float
    detect_simulated: float
    payload_bit_error: float
    eve_agreement: float | None
    eve_information_per_bit: float | None
    eve_known_fraction: float


@dataclass(frozen=True)
class EavesdropperComparison:
    """Every eavesdropper of :func:`compare_eavesdroppers` on one link, by name."""

    fidelity: float
    link_qber: float
    eve_fraction: float
    n_checks: int
    qber_bound: float
    alpha: float
    trials: int
    payload_bits: int
    rows: dict[str, EavesdropperRow]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the settings, then ``attackers``: one mapping per eavesdropper."""
        out = {k: v for k, v in asdict(self).items() if k != "rows"}
        return out | {"attackers": {name: asdict(r) for name, r in self.rows.items()}}


def compare_eavesdroppers(
    *,
    fidelity: float = 0.97,
    fraction: float = 1.0,
    n_checks: int = 100,
    alpha: float = 0.01,
    trials: int = 2000,
    payload_bits: int = 100_000,
    seed: int = 0,
) -> EavesdropperComparison:
    """Every eavesdropper on a Werner link of ``fidelity`` (see the module docstring)."""
    pair = WernerPair(fidelity)
    f = require_range("eve fraction", fraction, low=0.0, high=1.0)
    k = require_int("n_checks", n_checks, low=1, high=MAX_TRIALS)
    n = require_int("payload_bits", payload_bits, low=1, high=100_000_000)
    t = require_int("trials", trials, low=1, high=MAX_TRIALS)
    require_samples(k, t)
    test = QberTest(expected_qber=pair.qber, alpha=alpha)
    attackers: dict[str, Eavesdropper] = {
        "none": NoEavesdropper(),
        "tap": ClassicalTap(),
        "intercept-resend-z": InterceptResend(fraction=f, basis="z"),
        "intercept-resend-x": InterceptResend(fraction=f, basis="x"),
        "intercept-resend-random": InterceptResend(fraction=f, basis="random"),
        "mitm": EntanglingMitm(fraction=f),
    }
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    rows: dict[str, EavesdropperRow] = {}
    for name, eve in attackers.items():
        codes = eve.plan(n, rng=rng)
        tele = sample_teleport(pair, bits, codes, rng=rng)
        received = tele.raw ^ tele.bell_bits[:, 1]
        agreement = float(np.mean(tele.eve_guess == bits)) if eve.taps_classical else None
        rows[name] = EavesdropperRow(
            check_error_rate=eve.check_error_rate(pair),
            detect_predicted=detection_probability(k, eve.check_error_rate(pair), test=test),
            detect_simulated=simulate_abort_rate(
                pair, eve, n_checks=k, trials=t, test=test, rng=rng
            ),
            payload_bit_error=float(np.mean(received != bits)),
            eve_agreement=agreement,
            eve_information_per_bit=None
            if agreement is None
            else information_from_agreement(agreement),
            eve_known_fraction=float(np.mean((codes == INTERCEPT_Z) | (codes == MITM))),
        )
    return EavesdropperComparison(
        fidelity=pair.fidelity,
        link_qber=pair.qber,
        eve_fraction=f,
        n_checks=k,
        qber_bound=test.qber_bound(k),
        alpha=alpha,
        trials=t,
        payload_bits=n,
        rows=rows,
    )
