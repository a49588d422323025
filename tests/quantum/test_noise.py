"""Closed forms of qtfl.quantum.noise against explicit density-matrix calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.quantum.noise import (
    BELL_STATES,
    BellDiagonalPair,
    ReadoutError,
    WernerPair,
    dephasing_probability,
)
from tests.quantum.teleport_dm import (
    PAULIS,
    X,
    Y,
    Z,
    kron,
    pauli_channel,
    random_density,
    teleport_dm,
)

I2 = PAULIS[0]


def random_pairs(seed: int, n: int) -> list[BellDiagonalPair]:
    rng = np.random.default_rng(seed)
    return [BellDiagonalPair(c) for c in rng.dirichlet(np.ones(4), size=n)]


@pytest.mark.parametrize("pair", [WernerPair(0.9), WernerPair(0.5), *random_pairs(1, 4)])
def test_pauli_probabilities_match_explicit_teleportation(pair: BellDiagonalPair) -> None:
    # Teleport random mixed inputs through the 4x4 pair with projectors and corrections.
    rng = np.random.default_rng(2)
    for _ in range(3):
        rho = random_density(rng, 2)
        got = teleport_dm(rho, pair.density_matrix())
        want = pauli_channel(rho, pair.pauli_probabilities)
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_pauli_probabilities_are_distinguishable_per_pauli() -> None:
    # A pure (sigma x I)|Phi+> pair must teleport exactly sigma: checks the (A, C, B, D) order.
    for k, sigma in enumerate(PAULIS):
        vec = kron(sigma, I2) @ BELL_STATES[0]
        pair = np.outer(vec, vec.conj())
        probs = np.zeros(4)
        probs[k] = 1.0
        rho = random_density(np.random.default_rng(k), 2)
        np.testing.assert_allclose(teleport_dm(rho, pair), sigma @ rho @ sigma.conj().T, atol=1e-12)
        coeff = np.real(np.einsum("bi,ij,bj->b", BELL_STATES.conj(), pair, BELL_STATES))
        np.testing.assert_allclose(BellDiagonalPair(coeff).pauli_probabilities, probs, atol=1e-12)


@pytest.mark.parametrize("pair", [WernerPair(0.8), *random_pairs(3, 4)])
def test_qber_and_correlations_from_density_matrix(pair: BellDiagonalPair) -> None:
    rho = pair.density_matrix()
    np.testing.assert_allclose(np.trace(rho), 1.0, atol=1e-12)
    corr = [np.real(np.trace(rho @ kron(s, s))) for s in (X, Y, Z)]
    np.testing.assert_allclose(pair.correlations, corr, atol=1e-12)
    assert pair.qber_z == pytest.approx((1 - corr[2]) / 2, abs=1e-12)
    assert pair.qber_x == pytest.approx((1 - corr[0]) / 2, abs=1e-12)
    assert pair.teleported_bit_error == pytest.approx(pair.qber_z, abs=1e-15)


@pytest.mark.parametrize("fidelity", [0.25, 0.5, 0.78, 0.9, 1.0])
def test_werner_closed_forms(fidelity: float) -> None:
    pair = WernerPair(fidelity)
    v = (4 * fidelity - 1) / 3
    assert pair.visibility == pytest.approx(v)
    assert pair.qber_z == pytest.approx(2 * (1 - fidelity) / 3)
    assert pair.qber_x == pytest.approx((1 - v) / 2)
    assert pair.chsh == pytest.approx(2 * math.sqrt(2) * v)
    assert pair.average_teleport_fidelity == pytest.approx((2 * fidelity + 1) / 3)
    np.testing.assert_allclose(pair.pauli_probabilities, [fidelity, *[(1 - fidelity) / 3] * 3])


def test_chsh_violation_iff_qber_below_14_6_percent() -> None:
    threshold = (1 - 1 / math.sqrt(2)) / 2  # 0.1464...
    for f in np.linspace(0.25, 1.0, 301):
        pair = WernerPair(float(f))
        if abs(pair.qber - threshold) > 1e-9:
            assert (pair.chsh > 2) == (pair.qber < threshold), f


@pytest.mark.parametrize("pair", random_pairs(4, 5))
def test_chsh_matches_horodecki_criterion(pair: BellDiagonalPair) -> None:
    rho = pair.density_matrix()
    t = np.array([[np.real(np.trace(rho @ kron(a, b))) for b in (X, Y, Z)] for a in (X, Y, Z)])
    eig = np.sort(np.linalg.eigvalsh(t.T @ t))[::-1]
    assert pair.chsh == pytest.approx(2 * math.sqrt(eig[0] + eig[1]), abs=1e-12)


def test_depolarize2_is_werner_with_4p_over_15() -> None:
    # stim DEPOLARIZE2(p): each of the 15 non-identity two-qubit Paulis with p/15.
    p = 0.3
    phi = np.outer(BELL_STATES[0], BELL_STATES[0].conj())
    out = (1 - p) * phi
    for a in range(4):
        for b in range(4):
            if a or b:
                op = kron(PAULIS[a], PAULIS[b])
                out = out + p / 15 * op @ phi @ op.conj().T
    werner = WernerPair(1 - 4 * p / 5)
    np.testing.assert_allclose(out, werner.density_matrix(), atol=1e-12)
    np.testing.assert_allclose(werner.pauli_probabilities[1:], [4 * p / 15] * 3)


@pytest.mark.parametrize("halves", [1, 2])
def test_dephasing_matches_kraus_evolution(halves: int) -> None:
    wait_s, t2_s = 0.3e-3, 1.0e-3
    p = dephasing_probability(wait_s=wait_s, t2_s=t2_s)
    assert p == pytest.approx(0.5 * (1 - math.exp(-0.3)))
    pair = random_pairs(5, 1)[0]
    rho = pair.density_matrix()
    # Kraus operators {sqrt(1-p) I, sqrt(p) Z} on each waiting half, independently.
    for z in [kron(Z, I2), kron(I2, Z)][:halves]:
        rho = (1 - p) * rho + p * z @ rho @ z
    got = pair.dephase(wait_s=wait_s, t2_s=t2_s, halves=halves).density_matrix()
    np.testing.assert_allclose(got, rho, atol=1e-12)


def test_dephasing_decays_coherence_as_exp_minus_t_over_t2() -> None:
    plus = np.full((2, 2), 0.5, dtype=np.complex128)
    for t in (0.0, 0.1, 1.0, 3.0):
        p = dephasing_probability(wait_s=t, t2_s=1.0)
        out = (1 - p) * plus + p * Z @ plus @ Z
        assert 2 * abs(out[0, 1]) == pytest.approx(math.exp(-t))
    assert dephasing_probability(wait_s=5.0, t2_s=math.inf) == 0.0


def test_readout_error_rates_within_4_sigma() -> None:
    ro = ReadoutError(p01=0.02, p10=0.07)
    rng = np.random.default_rng(6)
    n = 400_000
    for value, p in ((0, 0.02), (1, 0.07)):
        bits = np.full(n, value, dtype=np.uint8)
        flips = (ro.apply(bits, rng=rng) != bits).mean()
        assert abs(flips - p) < 4 * math.sqrt(p * (1 - p) / n)
    bits = (rng.random(n) < 0.3).astype(np.uint8)
    rate = (ro.apply(bits, rng=rng) != bits).mean()
    p = ro.flip_probability(0.3)
    assert p == pytest.approx(0.7 * 0.02 + 0.3 * 0.07)
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: WernerPair(1.2), r"fidelity must be in \[0.25, 1\], got 1.2"),
        (lambda: WernerPair(0.1), r"fidelity must be in \[0.25, 1\], got 0.1"),
        (lambda: WernerPair(float("nan")), "fidelity must be in"),
        (lambda: BellDiagonalPair([0.5, 0.5, 0.5, 0.0]), "sum to 1"),
        (lambda: BellDiagonalPair([1.0, 0.0]), "4 finite numbers"),
        (lambda: ReadoutError(p01=0.6, p10=0.0), r"p01 must be in \[0, 0.5\]"),
        (lambda: dephasing_probability(wait_s=-1.0, t2_s=1.0), "wait_s must be in"),
        (lambda: dephasing_probability(wait_s=1.0, t2_s=0.0), "t2_s must be in"),
    ],
)
def test_bad_input_raises_one_clear_error(build, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        build()
