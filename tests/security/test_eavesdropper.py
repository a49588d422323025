"""Each attacker, sampled at circuit level with stim, against its closed-form signature.

Rates are compared with the closed form within 4 binomial standard errors (fixed seeds).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.security.eavesdropper import (
    INTERCEPT_X,
    INTERCEPT_Z,
    MITM,
    NONE,
    ClassicalTap,
    EntanglingMitm,
    InterceptResend,
    NoEavesdropper,
    make_eavesdropper,
    sample_checks,
    sample_teleport,
)

N = 40_000


def within(rate: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(rate - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12


def run(pair: BellDiagonalPair, eve, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    codes = eve.plan(N, rng=rng)
    bases = rng.integers(0, 2, N, dtype=np.uint8)
    checks = sample_checks(pair, bases, codes, rng=rng)
    bits = rng.integers(0, 2, N, dtype=np.uint8)
    tele = sample_teleport(pair, bits, codes, rng=rng)
    received = tele.raw ^ tele.bell_bits[:, 1]
    return codes, checks, bits, tele, received


def test_classical_tap_alone_learns_nothing() -> None:
    pair = WernerPair(0.97)
    _, checks, bits, tele, received = run(pair, ClassicalTap())
    assert within(float(np.mean(tele.eve_guess == bits)), 0.5, N)
    assert within(float(checks.errors.mean()), pair.qber, N)
    assert within(float(np.mean(received != bits)), pair.teleported_bit_error, N)
    # The Bell-measurement bits are uniform whatever the payload (quantum one-time pad).
    zeros = sample_teleport(
        pair, np.zeros(N, np.uint8), np.zeros(N, np.uint8), rng=np.random.default_rng(3)
    )
    assert within(float(zeros.bell_bits[:, 0].mean()), 0.5, N)
    assert within(float(zeros.bell_bits[:, 1].mean()), 0.5, N)


def test_random_basis_intercept_resend_on_all_pairs() -> None:
    _, checks, bits, tele, received = run(WernerPair(1.0), InterceptResend(fraction=1.0))
    assert within(float(checks.errors.mean()), 0.25, N)
    assert within(float(np.mean(received != bits)), 0.25, N)
    assert within(float(np.mean(tele.eve_guess == bits)), 0.75, N)


def test_z_basis_intercept_keeps_payload_intact_but_x_checks_see_half() -> None:
    pair = WernerPair(1.0)
    _, checks, bits, tele, received = run(pair, InterceptResend(fraction=1.0, basis="z"))
    np.testing.assert_array_equal(received, bits)  # payload integrity is no test
    np.testing.assert_array_equal(tele.eve_guess, bits)  # Eve learns every bit
    z = checks.bases == 0
    assert checks.errors[z].sum() == 0
    assert within(float(checks.errors[~z].mean()), 0.5, int((~z).sum()))


def test_x_basis_intercept_scrambles_payload_and_z_checks() -> None:
    _, checks, bits, tele, received = run(WernerPair(1.0), InterceptResend(basis="x"))
    z = checks.bases == 0
    assert within(float(checks.errors[z].mean()), 0.5, int(z.sum()))
    assert checks.errors[~z].sum() == 0
    assert within(float(np.mean(received != bits)), 0.5, N)
    assert within(float(np.mean(tele.eve_guess == bits)), 0.5, N)


def test_entangling_mitm_reads_payload_and_breaks_correlations() -> None:
    _, checks, bits, tele, received = run(WernerPair(1.0), EntanglingMitm(fraction=1.0))
    np.testing.assert_array_equal(tele.eve_guess, bits)
    for basis in (0, 1):
        sel = checks.bases == basis
        assert within(float(checks.errors[sel].mean()), 0.5, int(sel.sum()))
    assert within(float(np.mean(received != bits)), 0.5, N)


@pytest.mark.parametrize(
    "eve",
    [
        InterceptResend(fraction=0.3, basis="z"),
        InterceptResend(fraction=0.6, basis="x"),
        InterceptResend(fraction=0.5),
        EntanglingMitm(fraction=0.4),
        NoEavesdropper(),
    ],
    ids=lambda e: f"{e.name}-{getattr(e, 'basis', '')}-{getattr(e, 'fraction', 0)}",
)
def test_check_error_rate_on_a_bell_diagonal_pair_matches_prediction(eve) -> None:  # type: ignore[no-untyped-def]
    pair = BellDiagonalPair([0.9, 0.02, 0.03, 0.05])  # unequal Q_Z = 0.05, Q_X = 0.07
    codes, checks, *_ = run(pair, eve, seed=7)
    assert within(float(np.mean(codes != NONE)), eve.attacked_fraction, N)
    assert within(float(checks.errors.mean()), eve.check_error_rate(pair), N)


def test_plan_codes_follow_basis_choice() -> None:
    rng = np.random.default_rng(1)
    assert set(np.unique(InterceptResend(basis="z").plan(1000, rng=rng))) == {INTERCEPT_Z}
    assert set(np.unique(InterceptResend(basis="x").plan(1000, rng=rng))) == {INTERCEPT_X}
    mixed = InterceptResend(basis="random").plan(N, rng=rng)
    assert within(float(np.mean(mixed == INTERCEPT_Z)), 0.5, N)
    assert set(np.unique(EntanglingMitm().plan(100, rng=rng))) == {MITM}
    assert not InterceptResend(fraction=0.0).plan(100, rng=rng).any()


@pytest.mark.parametrize(
    ("kind", "kwargs", "words"),
    [
        ("intercept-resend", {"fraction": 1.5}, "eavesdropper fraction"),
        ("mitm", {"fraction": -0.1}, "eavesdropper fraction"),
        ("intercept-resend", {"basis": "y"}, "eavesdropper basis"),
        ("photon-splitting", {}, "eavesdropper"),
        ("mitm", {"basis": "z"}, "basis applies to intercept-resend only"),
        ("tap", {"fraction": 0.5}, "fraction applies to intercept-resend and mitm only"),
    ],
)
def test_bad_attacker_settings_raise_input_error(kind: str, kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        make_eavesdropper(kind, **kwargs)


def test_make_eavesdropper_builds_each_kind() -> None:
    assert isinstance(make_eavesdropper("none"), NoEavesdropper)
    assert isinstance(make_eavesdropper("tap"), ClassicalTap)
    ir = make_eavesdropper("intercept-resend", fraction=0.2, basis="z")
    assert ir == InterceptResend(fraction=0.2, basis="z")
    assert make_eavesdropper("mitm", fraction=0.3) == EntanglingMitm(fraction=0.3)
