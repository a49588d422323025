"""Detection statistics against their closed forms, and circuit-level detection rates.

Simulated rates are compared with the binomial-tail prediction within 4 standard errors
(fixed seeds; a false failure has probability below 1e-4 per comparison).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair
from qtfl.security.curve import detection_curve, simulate_abort_rate
from qtfl.security.detection import (
    QberTest,
    check_count,
    checks_for_margin,
    chsh_from_qber,
    detection_probability,
    hoeffding_margin,
    zero_tolerance_detection,
)
from qtfl.security.eavesdropper import (
    EntanglingMitm,
    InterceptResend,
    NoEavesdropper,
)


def test_hoeffding_margin_and_sample_size_closed_forms() -> None:
    assert hoeffding_margin(200, 0.01) == pytest.approx(math.sqrt(math.log(100) / 400))
    # k >= ln(2/δ)/(2ε²): ε = 0.05, δ = 0.05 -> ln(40)/0.005 = 737.8 -> 738
    assert checks_for_margin(0.05, 0.05) == 738
    assert check_count(900, 0.1) == 100  # checks are 10% of 1000 pairs


@pytest.mark.parametrize("k", [10, 57, 400])
@pytest.mark.parametrize("q", [0.005, 0.0333, 0.0667, 0.2])
@pytest.mark.parametrize("alpha", [0.001, 0.05])
def test_exact_critical_value_is_the_smallest_with_false_alarm_below_alpha(
    k: int, q: float, alpha: float
) -> None:
    test = QberTest(expected_qber=q, alpha=alpha)
    c = test.critical_errors(k)
    assert stats.binom.sf(c, k, q) <= alpha
    if c > 0:
        assert stats.binom.sf(c - 1, k, q) > alpha
    assert test.qber_bound(k) == c / k
    assert test.false_alarm(k) <= alpha


@pytest.mark.parametrize("q", [0.0, 0.02, 0.1])
def test_hoeffding_threshold_keeps_false_alarm_below_alpha(q: float) -> None:
    test = QberTest(expected_qber=q, alpha=0.05, method="hoeffding")
    for k in (20, 100, 1000):
        c = test.critical_errors(k)
        assert c == math.floor(k * (q + hoeffding_margin(k, 0.05)) + 1e-9)
        assert stats.binom.sf(c, k, q) <= 0.05


def test_zero_tolerance_on_a_noise_free_link() -> None:
    test = QberTest(expected_qber=0.0, alpha=0.01)
    assert test.critical_errors(50) == 0
    assert test.evaluate(0, 50).passed and not test.evaluate(1, 50).passed
    assert test.evaluate(1, 50).p_value == 0.0
    for k, p in [(1, 0.25), (20, 0.05), (100, 0.0025)]:
        assert detection_probability(k, p, test=test) == pytest.approx(1 - (1 - p) ** k)
        assert zero_tolerance_detection(k, p) == pytest.approx(1 - (1 - p) ** k)


def test_evaluate_reports_estimate_bound_and_p_value() -> None:
    test = QberTest(expected_qber=0.05, alpha=0.01)
    r = test.evaluate(9, 100)
    assert r.qber == 0.09 and r.n_checks == 100
    assert r.p_value == pytest.approx(stats.binom.sf(8, 100, 0.05))
    c = test.critical_errors(100)
    assert test.evaluate(c, 100).passed and not test.evaluate(c + 1, 100).passed
    assert r.qber_bound == c / 100
    assert test.evaluate(0, 100).p_value == 1.0


def test_chsh_from_qber_matches_werner_closed_form() -> None:
    for f in (1.0, 0.95, 0.8):
        pair = WernerPair(f)
        assert chsh_from_qber(pair.qber_z, pair.qber_x) == pytest.approx(pair.chsh)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"expected_qber": 0.01, "alpha": 0.0}, "alpha"),
        ({"expected_qber": 0.01, "alpha": 1.0}, "alpha"),
        ({"expected_qber": 0.01, "alpha": -0.2}, "alpha"),
        ({"expected_qber": 0.7}, "expected_qber"),
        ({"expected_qber": 0.01, "method": "bayes"}, "detection method"),
    ],
)
def test_bad_test_parameters_raise_input_error(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        QberTest(**kwargs)


@pytest.mark.parametrize("c", [0.0, 1.0, -0.1, 1.5])
def test_check_fraction_outside_open_unit_interval_is_rejected(c: float) -> None:
    with pytest.raises(InputError, match="check_fraction"):
        check_count(100, c)


@pytest.mark.parametrize(("f", "k"), [(1.0, 4), (0.5, 8), (0.2, 16)])
def test_random_basis_eve_detection_matches_binomial_tail(f: float, k: int) -> None:
    """Noise-free link, zero tolerance: P(detect) = 1 - (1 - f/4)^k, simulated at circuit level."""
    pair, trials = WernerPair(1.0), 4000
    test = QberTest(expected_qber=0.0, alpha=0.01)
    rate = simulate_abort_rate(
        pair,
        InterceptResend(fraction=f, basis="random"),
        n_checks=k,
        trials=trials,
        test=test,
        rng=np.random.default_rng(100 + k),
    )
    predicted = 1.0 - (1.0 - f / 4.0) ** k
    sigma = math.sqrt(predicted * (1 - predicted) / trials)
    assert abs(rate - predicted) <= 4 * sigma


@pytest.mark.parametrize("fidelity", [0.99, 0.95, 0.9])
def test_false_alarm_rate_on_honest_links_is_at_most_alpha(fidelity: float) -> None:
    pair, alpha, k, trials = WernerPair(fidelity), 0.05, 200, 4000
    test = QberTest(expected_qber=pair.qber, alpha=alpha)
    rate = simulate_abort_rate(
        pair,
        NoEavesdropper(),
        n_checks=k,
        trials=trials,
        test=test,
        rng=np.random.default_rng(int(fidelity * 1000)),
    )
    exact = test.false_alarm(k)  # <= alpha by construction
    sigma = math.sqrt(alpha * (1 - alpha) / trials)
    assert exact <= alpha
    assert rate <= alpha + 3 * sigma
    assert abs(rate - exact) <= 4 * math.sqrt(exact * (1 - exact) / trials) + 1e-12


def test_noisy_link_mitm_detection_matches_prediction() -> None:
    pair, trials = WernerPair(0.95), 3000
    points = detection_curve(
        pair,
        lambda f: EntanglingMitm(fraction=f),
        check_counts=[50],
        fractions=[0.1],
        alpha=0.01,
        trials=trials,
        rng=np.random.default_rng(9),
    )
    (pt,) = points
    assert pt.check_error_rate == pytest.approx(0.9 * pair.qber + 0.1 * 0.5)
    assert abs(pt.simulated - pt.predicted) <= 4 * pt.stderr
