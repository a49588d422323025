r"""Eavesdropper detection from sacrificed check pairs: thresholds, p-values, predictions.

Protocol order is **verify, then teleport**: all pairs are distributed first; the two ends
then pick ``k`` check positions with fresh randomness, measure those pairs in random X/Z
bases, compare the outcomes over the authenticated classical channel and teleport the
payload through the remaining pairs only if the error count passes the test below.

The test. With ``q`` the QBER the link is *expected* to show (from its calibrated pair
state) and ``E ~ Binomial(k, q)`` the error count on an honest link, the receiving end
aborts when ``E > c``. Two rules for the critical count ``c`` at false-alarm probability
``alpha``:

* ``"exact"`` (default): the smallest ``c`` with :math:`P(E > c) \le \alpha` — the exact
  binomial critical value (Clopper–Pearson style); on a noise-free link (``q = 0``) this is
  ``c = 0``, the zero-tolerance test;
* ``"hoeffding"``: accept while :math:`E/k \le q + \sqrt{\ln(1/\alpha)/(2k)}`; Hoeffding's
  inequality :math:`P(\hat Q - q \ge \varepsilon) \le e^{-2k\varepsilon^2}` bounds the false
  alarm by ``alpha`` without using the binomial form.

``qber_bound`` reported in a verdict is ``c / k``, the largest accepted QBER estimate; the
p-value is :math:`P(E \ge e_\text{obs})` under the honest link.

Prediction. If every check independently shows an error with probability ``p`` (honest
noise plus what Eve induces), the abort probability is :math:`P(\mathrm{Bin}(k, p) > c)`.
For a random-basis intercept-resend attacker on a fraction ``f`` of the pairs of a
noise-free link, ``p = f/4`` and ``c = 0``, so :math:`P_\text{detect} = 1-(1-f/4)^k`.

References: Hoeffding, J. Am. Stat. Assoc. 58, 13 (1963); Clopper & Pearson, Biometrika 26,
404 (1934); Bennett, Brassard & Mermin, PRL 68, 557 (1992) (checks on shared pairs).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from qtfl.errors import require_choice, require_int, require_range

Method = Literal["exact", "hoeffding"]
METHODS: Final = ("exact", "hoeffding")


def _binom() -> Any:
    """``scipy.stats.binom``, imported on first use: ``scipy.stats`` takes ~0.7 s to import,
    and every module that builds a channel imports this one (a Flower ClientApp process per
    message among them) while only a threshold or a p-value needs it."""
    from scipy import stats

    return stats.binom


def hoeffding_margin(n_checks: int, alpha: float) -> float:
    r"""Finite-size margin :math:`\varepsilon = \sqrt{\ln(1/\alpha) / (2k)}`."""
    k = require_int("n_checks", n_checks, low=1)
    a = require_range("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    return math.sqrt(math.log(1.0 / a) / (2.0 * k))


def checks_for_margin(epsilon: float, delta: float) -> int:
    r"""Checks needed to estimate a QBER to ``±epsilon`` with confidence ``1 - delta``.

    Two-sided Hoeffding: :math:`k \ge \ln(2/\delta) / (2\varepsilon^2)`.
    """
    e = require_range("epsilon", epsilon, low=0.0, high=1.0, low_open=True)
    d = require_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    return math.ceil(math.log(2.0 / d) / (2.0 * e * e))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one verification step (one attempt)."""

    errors: int
    n_checks: int
    qber: float
    qber_bound: float
    p_value: float
    passed: bool


@functools.lru_cache(maxsize=4096)
def _binomial_critical(k: int, q: float, a: float) -> int:
    """Smallest ``c`` with ``P(Bin(k, q) > c) <= a``; cached, since every transfer of a
    link asks it again for the same check count (scipy's ppf and sf take ~0.2 ms each)."""
    c = int(_binom().ppf(1.0 - a, k, q))
    while c < k and _binom().sf(c, k, q) > a:  # guard the ppf's float rounding
        c += 1
    while c > 0 and _binom().sf(c - 1, k, q) <= a:
        c -= 1
    return c


@functools.lru_cache(maxsize=4096)
def _binomial_sf(c: int, k: int, q: float) -> float:
    """``P(Bin(k, q) > c)``, cached: a link's transfers see the same few counts again."""
    return float(_binom().sf(c, k, q))


@dataclass(frozen=True)
class QberTest:
    """Abort rule for the check pairs of one link.

    Args:
        expected_qber: QBER of the honest link in ``[0, 0.5]`` (e.g. ``pair.qber``).
        alpha: false-alarm probability in ``(0, 1)``: the chance an honest link is aborted.
        method: ``"exact"`` binomial critical value or ``"hoeffding"`` margin.
    """

    expected_qber: float
    alpha: float = 0.01
    method: Method = "exact"

    def __post_init__(self) -> None:
        require_range("expected_qber", self.expected_qber, low=0.0, high=0.5)
        require_range("alpha", self.alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        require_choice("detection method", self.method, METHODS)

    def critical_errors(self, n_checks: int) -> int:
        """Largest error count ``c`` that still passes ``n_checks`` checks."""
        k = require_int("n_checks", n_checks, low=1)
        q, a = self.expected_qber, self.alpha
        if self.method == "hoeffding":
            return min(k, math.floor(k * (q + hoeffding_margin(k, a)) + 1e-9))
        if q == 0.0:
            return 0
        return _binomial_critical(k, q, a)

    def qber_bound(self, n_checks: int) -> float:
        """The largest accepted QBER estimate, ``c / k``."""
        return self.critical_errors(n_checks) / n_checks

    def false_alarm(self, n_checks: int) -> float:
        """Exact probability that an honest link fails: ``P(Bin(k, q) > c) <= alpha``."""
        return detection_probability(n_checks, self.expected_qber, test=self)

    def p_value(self, errors: int, n_checks: int) -> float:
        """``P(Bin(k, q) >= errors)``: how surprising the count is on an honest link."""
        if errors <= 0:
            return 1.0
        return _binomial_sf(int(errors) - 1, int(n_checks), self.expected_qber)

    def evaluate(self, errors: int, n_checks: int) -> CheckResult:
        """Compare an observed error count with the threshold."""
        k = require_int("n_checks", n_checks, low=1)
        e = require_int("errors", errors, low=0, high=k)
        c = self.critical_errors(k)
        return CheckResult(
            errors=e,
            n_checks=k,
            qber=e / k,
            qber_bound=c / k,
            p_value=self.p_value(e, k),
            passed=e <= c,
        )

    def passes(self, errors: npt.ArrayLike, n_checks: int) -> npt.NDArray[np.bool_]:
        """Vectorised pass/fail for many attempts with the same number of checks."""
        return np.asarray(errors) <= self.critical_errors(n_checks)


def detection_probability(n_checks: int, error_rate: float, *, test: QberTest) -> float:
    r"""Probability that ``test`` aborts when each check errs independently with ``error_rate``.

    .. math:: P_\text{abort} = P(\mathrm{Bin}(k, p) > c(k))
    """
    k = require_int("n_checks", n_checks, low=1)
    p = require_range("error_rate", error_rate, low=0.0, high=1.0)
    return float(_binom().sf(test.critical_errors(k), k, p))


def zero_tolerance_detection(n_checks: int, error_rate: float) -> float:
    r"""Closed form for a noise-free link: :math:`1 - (1 - p)^k` (any error aborts)."""
    k = require_int("n_checks", n_checks, low=1)
    p = require_range("error_rate", error_rate, low=0.0, high=1.0)
    return 1.0 - (1.0 - p) ** k


def chsh_from_qber(qber_z: float, qber_x: float) -> float:
    r"""CHSH value implied by Z and X check QBERs of a Bell-diagonal pair.

    With Alice measuring Z, X and Bob :math:`(Z \pm X)/\sqrt2`,
    :math:`S = \sqrt2\,(\langle ZZ\rangle + \langle XX\rangle)` and
    :math:`\langle\sigma\sigma\rangle = 1 - 2Q_\sigma`, so
    :math:`S = 2\sqrt2\,(1 - Q_Z - Q_X)`; ``S > 2`` needs ``Q_Z + Q_X < 1 - 1/√2``.

    References: Clauser, Horne, Shimony & Holt, PRL 23, 880 (1969).
    """
    return 2.0 * math.sqrt(2.0) * (1.0 - qber_z - qber_x)


def chsh_lower_bound(*, errors_z: int, n_z: int, errors_x: int, n_x: int, alpha: float) -> float:
    """CHSH value with each basis QBER raised by its Hoeffding margin at ``alpha/2``.

    Returns ``-inf`` when a basis has no checks (no evidence of a Bell violation).
    """
    if n_z <= 0 or n_x <= 0:
        return -math.inf
    qz = errors_z / n_z + hoeffding_margin(n_z, alpha / 2.0)
    qx = errors_x / n_x + hoeffding_margin(n_x, alpha / 2.0)
    return chsh_from_qber(qz, qx)


def check_count(n_payload: int, check_fraction: float) -> int:
    """Check pairs so that they are ``check_fraction`` of all distributed pairs (at least 1)."""
    n = require_int("n_payload", n_payload, low=1)
    c = require_range(
        "check_fraction", check_fraction, low=0.0, high=1.0, low_open=True, high_open=True
    )
    return max(1, math.ceil(n * c / (1.0 - c)))
