"""Leakage measures against closed forms, and the QBER bound against measured attacks."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import (
    EntanglingMitm,
    InterceptResend,
    sample_checks,
    sample_teleport,
)
from qtfl.security.leakage import (
    binary_entropy,
    information_bound,
    information_from_agreement,
    measure_leakage,
)


def test_binary_entropy_closed_forms() -> None:
    np.testing.assert_allclose(binary_entropy([0.0, 0.5, 1.0]), [0.0, 1.0, 0.0])
    p = 0.11
    assert float(binary_entropy(p)) == pytest.approx(-p * np.log2(p) - (1 - p) * np.log2(1 - p))
    assert float(binary_entropy(0.110028)) == pytest.approx(0.5, abs=1e-4)  # Shor–Preskill


def test_information_from_agreement_and_bound() -> None:
    assert information_from_agreement(0.5) == 0.0
    assert information_from_agreement(1.0) == 1.0
    assert information_from_agreement(0.0) == 1.0  # an always-wrong guess is a perfect one
    assert information_from_agreement(0.75) == pytest.approx(1 - float(binary_entropy(0.75)))
    assert information_bound(0.0) == 0.0
    assert information_bound(0.5) == information_bound(0.8) == 1.0


def test_measure_leakage_counts_agreement() -> None:
    payload = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.uint8)
    guess = payload.copy()
    guess[:2] ^= 1
    leak = measure_leakage(guess, payload, qber=0.1)
    assert leak.bits_correct == 6 and leak.agreement == 0.75
    assert leak.information_bits == pytest.approx(8 * (1 - float(binary_entropy(0.75))))
    assert leak.bound_bits == pytest.approx(8 * float(binary_entropy(0.1)))
    with pytest.raises(InputError, match="equal"):
        measure_leakage(guess[:3], payload)


@pytest.mark.parametrize(
    "eve",
    [
        InterceptResend(fraction=1.0, basis="z"),
        InterceptResend(fraction=0.3),
        EntanglingMitm(fraction=0.2),
    ],
    ids=["z-all", "random-0.3", "mitm-0.2"],
)
def test_measured_information_never_exceeds_the_x_qber_bound(eve) -> None:  # type: ignore[no-untyped-def]
    """I(measured) <= n h(Q_X): with a 4-sigma allowance on the estimated Q_X."""
    pair, n = WernerPair(0.98), 30_000
    rng = np.random.default_rng(5)
    codes = eve.plan(2 * n, rng=rng)
    x_checks = sample_checks(pair, np.ones(n, np.uint8), codes[:n], rng=rng)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    tele = sample_teleport(pair, bits, codes[n:], rng=rng)
    qx = float(x_checks.errors.mean())
    qx_high = min(0.5, qx + 4 * np.sqrt(max(qx * (1 - qx), 1e-9) / n))
    leak = measure_leakage(tele.eve_guess, bits, qber=qx_high)
    assert leak.bound_bits is not None
    assert leak.information_bits <= leak.bound_bits + 1e-9
    assert leak.information_bits > 0.0  # these attackers do learn something
