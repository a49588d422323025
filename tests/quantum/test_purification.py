"""BBPSSW and DEJMPS: closed forms, circuit-level density-matrix simulation, the scheduler.

The circuits are simulated exactly (4-qubit density matrices, no sampling), so formula and
circuit must agree to rounding (1e-12); the figures quoted in the design reference are
checked to their printed precision.
"""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.purification import (
    bbpssw,
    bilateral_cnot,
    dejmps,
    purify,
    purify_until,
)
from tests.network.dm import (
    CNOT,
    bell_coefficients,
    bell_matrix,
    clifford_group,
    embed,
    evolve,
    partial_trace_keep,
    rx,
    twirl_pair,
)

# qubits: a1 b1 (pair 1, control) a2 b2 (pair 2, target); Alice holds a*, Bob holds b*.
A1, B1, A2, B2 = 0, 1, 2, 3
CLIFFORDS = clifford_group()


def _circuit(
    rho1: np.ndarray, rho2: np.ndarray, *, rotate: bool, twirl: bool
) -> tuple[np.ndarray, float]:
    """Run the purification circuit; return the kept pair's 4x4 state and P(coincidence)."""
    if twirl:
        rho1, rho2 = twirl_pair(rho1, CLIFFORDS), twirl_pair(rho2, CLIFFORDS)
    rho = np.kron(rho1, rho2)
    if rotate:  # DEJMPS: Rx(pi/2) on Alice's qubits, Rx(-pi/2) on Bob's
        for q, theta in ((A1, np.pi / 2), (A2, np.pi / 2), (B1, -np.pi / 2), (B2, -np.pi / 2)):
            rho = evolve(rho, embed(rx(theta), [q], 4))
    rho = evolve(rho, embed(CNOT, [A1, A2], 4))
    rho = evolve(rho, embed(CNOT, [B1, B2], 4))
    # Z measurement of a2 and b2, post-selection on equal outcomes (00 or 11)
    p00 = np.diag([1, 0, 0, 0]).astype(complex)
    p11 = np.diag([0, 0, 0, 1]).astype(complex)
    kept = sum(evolve(rho, embed(p, [A2, B2], 4)) for p in (p00, p11))
    prob = float(np.real(np.trace(kept)))
    out = partial_trace_keep(kept, [A1, B1], 4) / prob
    if twirl:
        out = twirl_pair(out, CLIFFORDS)
    return out, prob


def _random_bell_diagonal(rng: np.random.Generator, *, min_f: float = 0.5) -> BellDiagonalPair:
    while True:
        c = rng.dirichlet(np.ones(4))
        if c[0] > min_f:
            return BellDiagonalPair(c)


@pytest.mark.parametrize(("f", "f_out", "p"), [(0.8, 0.838, 0.769), (0.9, 0.926, 0.876)])
def test_bbpssw_matches_the_published_figures(f: float, f_out: float, p: float) -> None:
    step = bbpssw(WernerPair(f))
    r = (1 - f) / 3
    p_formula = f**2 + 2 * f * (1 - f) / 3 + 5 * r**2
    assert step.success_probability == pytest.approx(p_formula, abs=1e-14)
    assert step.pair.fidelity == pytest.approx((f**2 + r**2) / p_formula, abs=1e-14)
    assert round(step.pair.fidelity, 3) == f_out
    assert round(step.success_probability, 3) == p
    assert isinstance(step.pair, WernerPair)


@pytest.mark.parametrize("f", [0.3, 0.5, 0.6, 0.75, 0.9, 0.99])
def test_dejmps_first_round_on_werner_equals_bbpssw(f: float) -> None:
    b, d = bbpssw(WernerPair(f)), dejmps(WernerPair(f))
    assert d.success_probability == pytest.approx(b.success_probability, abs=1e-14)
    assert d.pair.fidelity == pytest.approx(b.pair.fidelity, abs=1e-14)


def test_dejmps_closed_form_on_equal_pairs() -> None:
    a, b, c, d = 0.7, 0.05, 0.15, 0.1
    n = (a + b) ** 2 + (c + d) ** 2
    step = dejmps(BellDiagonalPair([a, b, c, d]))
    assert step.success_probability == pytest.approx(n, abs=1e-14)
    np.testing.assert_allclose(
        step.pair.coefficients,
        [(a**2 + b**2) / n, 2 * c * d / n, (c**2 + d**2) / n, 2 * a * b / n],
        atol=1e-14,
    )


def test_dejmps_circuit_matches_formula_on_random_bell_diagonal_pairs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(6):
        p1, p2 = _random_bell_diagonal(rng), _random_bell_diagonal(rng)
        out, prob = _circuit(p1.density_matrix(), p2.density_matrix(), rotate=True, twirl=False)
        step = dejmps(p1, p2)
        assert prob == pytest.approx(step.success_probability, abs=1e-12)
        np.testing.assert_allclose(bell_coefficients(out), step.pair.coefficients, atol=1e-12)
        # the kept pair is again Bell-diagonal (no coherences between Bell states)
        offdiag = bell_matrix(out) - np.diag(np.diag(bell_matrix(out)))
        assert np.abs(offdiag).max() < 1e-12


def test_plain_bilateral_cnot_circuit_matches_formula() -> None:
    rng = np.random.default_rng(11)
    p1, p2 = _random_bell_diagonal(rng), _random_bell_diagonal(rng)
    out, prob = _circuit(p1.density_matrix(), p2.density_matrix(), rotate=False, twirl=False)
    kept, n = bilateral_cnot(p1.coefficients, p2.coefficients)
    assert prob == pytest.approx(n, abs=1e-12)
    np.testing.assert_allclose(bell_coefficients(out), kept, atol=1e-12)


def test_bbpssw_circuit_with_twirls_matches_formula_on_non_werner_input() -> None:
    rng = np.random.default_rng(3)
    assert len(CLIFFORDS) == 24
    p1 = _random_bell_diagonal(rng)
    out, prob = _circuit(p1.density_matrix(), p1.density_matrix(), rotate=False, twirl=True)
    step = bbpssw(p1)
    assert prob == pytest.approx(step.success_probability, abs=1e-12)
    np.testing.assert_allclose(bell_coefficients(out), step.pair.coefficients, atol=1e-12)


def test_purify_cost_is_two_to_the_k_over_product_of_success() -> None:
    sched = purify(WernerPair(0.8), rounds=3, protocol="bbpssw")
    ps = []
    f = 0.8
    for _ in range(3):
        r = (1 - f) / 3
        p = f**2 + 2 * f * (1 - f) / 3 + 5 * r**2
        ps.append(p)
        f = (f**2 + r**2) / p
    assert sched.success_probabilities == pytest.approx(tuple(ps), abs=1e-14)
    assert sched.fidelity == pytest.approx(f, abs=1e-14)
    assert sched.expected_pairs == pytest.approx(8 / np.prod(ps), rel=1e-14)
    assert purify(WernerPair(0.8), rounds=0).expected_pairs == 1.0


def test_purify_until_stops_at_the_first_round_reaching_target() -> None:
    sched = purify_until(WernerPair(0.8), target_fidelity=0.95, protocol="dejmps")
    assert sched.fidelities[-1] >= 0.95
    assert all(f < 0.95 for f in sched.fidelities[:-1])
    assert sched.rounds == len(sched.success_probabilities) == len(sched.fidelities) - 1
    none_needed = purify_until(WernerPair(0.97), target_fidelity=0.95)
    assert none_needed.rounds == 0 and none_needed.expected_pairs == 1.0


def test_dejmps_reaches_high_fidelity_faster_than_bbpssw() -> None:
    d = purify_until(WernerPair(0.7), target_fidelity=0.99, protocol="dejmps")
    b = purify_until(WernerPair(0.7), target_fidelity=0.99, protocol="bbpssw", max_rounds=30)
    assert d.rounds < b.rounds
    assert d.expected_pairs < b.expected_pairs


def test_unreachable_target_names_the_reachable_maximum() -> None:
    sched = purify(WernerPair(0.7), rounds=2, protocol="dejmps")
    with pytest.raises(InputError, match=r"reachable maximum 0\.\d+") as exc:
        purify_until(WernerPair(0.7), target_fidelity=0.999, max_rounds=2)
    assert f"{max(sched.fidelities):.6g}" in str(exc.value)


def test_bbpssw_cannot_improve_a_pair_at_or_below_one_half() -> None:
    assert bbpssw(WernerPair(0.45)).pair.fidelity < 0.45
    with pytest.raises(InputError, match=r"reachable maximum 0\.45 \(after 0 rounds\)"):
        purify_until(WernerPair(0.45), target_fidelity=0.6, protocol="bbpssw")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_fidelity": 1.2}, "target_fidelity"),
        ({"target_fidelity": 0.9, "protocol": "magic"}, "protocol"),
        ({"target_fidelity": 0.9, "max_rounds": -1}, "max_rounds"),
    ],
)
def test_bad_scheduler_input_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        purify_until(WernerPair(0.8), **kwargs)
