r"""Detection probability versus check pairs and attacked fraction: predicted and simulated.

For each grid point ``(k, f)`` the prediction is the binomial tail
:math:`P(\mathrm{Bin}(k, p) > c(k))` with ``p`` the per-check error rate the attacker induces
(:meth:`Eavesdropper.check_error_rate`) and ``c(k)`` the critical count of the
:class:`~qtfl.security.detection.QberTest` in use; on a noise-free link with a random-basis
intercept-resend attacker this is :math:`1 - (1 - f/4)^k`. The simulation runs ``trials``
verification steps at circuit level — Eve's plan, random check bases, stim sampling of every
check pair (:func:`~qtfl.security.eavesdropper.sample_checks`), the same test — all trials of
a grid point in one batch, and reports the abort rate with its binomial standard error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.security.detection import METHODS, QberTest, detection_probability
from qtfl.security.eavesdropper import EVE_BASES, Eavesdropper, make_eavesdropper, sample_checks

MAX_TRIALS = 1_000_000
MAX_CHECK_SAMPLES = 50_000_000
"""Most simulated verifications per point, and most check pairs (checks x trials) per point:
the simulation holds a few bytes per check pair at once."""


def require_samples(n_checks: int, trials: int) -> None:
    """Refuse ``n_checks x trials`` above :data:`MAX_CHECK_SAMPLES` (memory)."""
    if n_checks * trials > MAX_CHECK_SAMPLES:
        raise InputError(
            f"checks x trials = {n_checks:,} x {trials:,} exceeds {MAX_CHECK_SAMPLES:,} "
            "simulated check pairs per point; lower --trials or the check counts"
        )


def simulate_abort_rate(
    pair: BellDiagonalPair,
    eavesdropper: Eavesdropper,
    *,
    n_checks: int,
    trials: int,
    test: QberTest,
    rng: np.random.Generator,
) -> float:
    """Fraction of ``trials`` verification steps of ``n_checks`` checks that abort."""
    k = require_int("n_checks", n_checks, low=1, high=MAX_TRIALS)
    t = require_int("trials", trials, low=1, high=MAX_TRIALS)
    require_samples(k, t)
    eve_rng, ends_rng = rng.spawn(2)
    codes = eavesdropper.plan(k * t, rng=eve_rng)
    bases = ends_rng.integers(0, 2, k * t, dtype=np.uint8)
    errors = sample_checks(pair, bases, codes, rng=ends_rng).errors.reshape(t, k).sum(axis=1)
    return float(np.mean(~test.passes(errors, k)))


@dataclass(frozen=True)
class CurvePoint:
    """One grid point of the detection curve."""

    n_checks: int
    eve_fraction: float
    check_error_rate: float
    qber_bound: float
    predicted: float
    simulated: float
    stderr: float


def detection_curve(
    pair: BellDiagonalPair,
    make_eve: Callable[[float], Eavesdropper],
    *,
    check_counts: Sequence[int],
    fractions: Sequence[float],
    alpha: float,
    method: str = "exact",
    trials: int = 2000,
    rng: np.random.Generator,
) -> list[CurvePoint]:
    """Predicted and simulated detection probability over a ``(k, f)`` grid.

    ``make_eve(fraction)`` builds the attacker for each fraction (e.g.
    ``lambda f: InterceptResend(fraction=f)``).
    """
    test = QberTest(expected_qber=min(0.5, pair.qber), alpha=alpha, method=method)  # type: ignore[arg-type]
    points = []
    for f in fractions:
        eve = make_eve(require_range("eve fraction", f, low=0.0, high=1.0))
        p = eve.check_error_rate(pair)
        for k in check_counts:
            predicted = detection_probability(k, min(1.0, p), test=test)
            sim = simulate_abort_rate(pair, eve, n_checks=k, trials=trials, test=test, rng=rng)
            points.append(
                CurvePoint(
                    n_checks=int(k),
                    eve_fraction=float(f),
                    check_error_rate=p,
                    qber_bound=test.qber_bound(k),
                    predicted=predicted,
                    simulated=sim,
                    stderr=math.sqrt(max(predicted * (1 - predicted), 1e-12) / trials),
                )
            )
    return points


@dataclass(frozen=True)
class DetectionCurve:
    """The result of :func:`security_curve`: its settings and one point per ``(k, f)``."""

    fidelity: float
    link_qber: float
    eve: str
    eve_basis: str | None
    alpha: float
    method: str
    trials: int
    seed: int
    points: tuple[CurvePoint, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the settings and one mapping per grid point."""
        return asdict(self) | {"points": [asdict(p) for p in self.points]}


def parse_numbers(name: str, text: str | Sequence[float]) -> list[float]:
    """``"1,2,4"`` (or a sequence) -> ``[1.0, 2.0, 4.0]``; a bad item raises InputError."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        try:
            out.append(float(item))
        except (TypeError, ValueError):
            raise InputError(f"{name} must be comma-separated numbers, got {item!r}") from None
    if not out:
        raise InputError(f"{name} must list at least one number")
    return out


def security_curve(
    *,
    fidelity: float = 1.0,
    eve: str = "intercept-resend",
    eve_basis: str | None = None,
    check_counts: str | Sequence[float] = "1,2,4,8,16,32,64",
    fractions: str | Sequence[float] = "0.1,0.25,0.5,1",
    alpha: float = 0.01,
    method: str = "exact",
    trials: int = 2000,
    seed: int = 0,
) -> DetectionCurve:
    """The ``qtfl security curve`` result: settings plus one point per ``(k, f)``."""
    pair = WernerPair(fidelity)
    require_choice("eve", eve, ("intercept-resend", "mitm"))
    if eve_basis is not None:
        require_choice("eavesdropper basis", eve_basis, EVE_BASES)
    make_eavesdropper(eve, fraction=1.0, basis=eve_basis)  # refuses a basis for mitm
    require_choice("detection method", method, METHODS)
    ks = []
    for k in parse_numbers("checks", check_counts):
        if not (k.is_integer() and k >= 1):
            raise InputError(f"check counts must be integers >= 1, got {k:g}")
        ks.append(require_int("check count", int(k), high=MAX_TRIALS))
    require_samples(max(ks, default=1), require_int("trials", trials, low=1, high=MAX_TRIALS))
    fs = [
        require_range("eve fraction", f, low=0.0, high=1.0)
        for f in parse_numbers("fractions", fractions)
    ]
    points = detection_curve(
        pair,
        lambda f: make_eavesdropper(eve, fraction=f, basis=eve_basis),
        check_counts=ks,
        fractions=fs,
        alpha=alpha,
        method=method,
        trials=require_int("trials", trials, low=1),
        rng=np.random.default_rng(seed),
    )
    return DetectionCurve(
        fidelity=pair.fidelity,
        link_qber=pair.qber,
        eve=eve,
        eve_basis=(eve_basis or "random") if eve == "intercept-resend" else None,
        alpha=alpha,
        method=method,
        trials=trials,
        seed=seed,
        points=tuple(points),
    )
