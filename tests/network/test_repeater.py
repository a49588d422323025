"""Entanglement swapping (formula vs density-matrix circuit), E[max] of geometrics, chains."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.network.link import FiberLink
from qtfl.network.repeater import RepeaterChain, expected_max_geometric, swap
from qtfl.quantum.noise import BELL_STATES, BellDiagonalPair, WernerPair
from qtfl.quantum.purification import purify
from tests.network.dm import (
    PAULIS,
    bell_coefficients,
    bell_matrix,
    embed,
    evolve,
    partial_trace_keep,
)

# qubits: a, b1 (pair 1) and b2, c (pair 2); the repeater holds b1, b2.
QA, QB1, QB2, QC = 0, 1, 2, 3


def _swap_circuit(rho1: np.ndarray, rho2: np.ndarray) -> np.ndarray:
    """Bell measurement on (b1, b2), Pauli correction on c chosen from the outcome, trace out."""
    rho = np.kron(rho1, rho2)
    ideal = np.kron(WernerPair(1.0).density_matrix(), WernerPair(1.0).density_matrix())
    phi = BELL_STATES[0]
    out = np.zeros((4, 4), dtype=complex)
    for k in range(4):
        proj = embed(np.outer(BELL_STATES[k], BELL_STATES[k].conj()), [QB1, QB2], 4)
        # correction for outcome k: the Pauli on c that turns the ideal conditional state into Φ+
        ideal_k = partial_trace_keep(evolve(ideal, proj), [QA, QC], 4)
        ideal_k /= np.trace(ideal_k)
        fids = [np.real(phi.conj() @ evolve(ideal_k, np.kron(np.eye(2), p)) @ phi) for p in PAULIS]
        assert max(fids) == pytest.approx(1.0, abs=1e-12)
        fix = embed(PAULIS[int(np.argmax(fids))], [QC], 4)
        out += partial_trace_keep(evolve(evolve(rho, proj), fix), [QA, QC], 4)
    return out


def test_swap_matches_density_matrix_simulation_of_bell_measurement() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        p1, p2 = (
            BellDiagonalPair(rng.dirichlet(np.ones(4))),
            BellDiagonalPair(rng.dirichlet(np.ones(4))),
        )
        out = _swap_circuit(p1.density_matrix(), p2.density_matrix())
        assert np.real(np.trace(out)) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(bell_coefficients(out), swap(p1, p2).coefficients, atol=1e-12)
        offdiag = bell_matrix(out) - np.diag(np.diag(bell_matrix(out)))
        assert np.abs(offdiag).max() < 1e-12


@pytest.mark.parametrize(("v1", "v2"), [(0.9, 0.8), (1.0, 0.5), (0.3, 0.95)])
def test_two_werner_pairs_swap_to_the_product_of_visibilities(v1: float, v2: float) -> None:
    out = swap(WernerPair.from_visibility(v1), WernerPair.from_visibility(v2))
    assert out == WernerPair.from_visibility(v1 * v2)


@pytest.mark.parametrize(("p", "n"), [(0.3, 1), (0.2, 2), (0.05, 4), (0.01, 8)])
def test_expected_max_of_geometrics_matches_monte_carlo(p: float, n: int) -> None:
    rng = np.random.default_rng(17)
    draws = rng.geometric(p, size=(100_000, n)).max(axis=1)
    sem = draws.std(ddof=1) / np.sqrt(draws.size)
    assert abs(draws.mean() - expected_max_geometric(p, n)) < 4 * sem  # 4 sigma, fixed seed


def test_expected_max_limits() -> None:
    assert expected_max_geometric(0.25, 1) == pytest.approx(4.0, rel=1e-14)
    assert expected_max_geometric(1e-6, 2) * 1e-6 == pytest.approx(1.5, rel=1e-5)  # 3/(2p)
    harmonic = sum(1 / k for k in range(1, 33))
    assert expected_max_geometric(1e-7, 32) * 1e-7 == pytest.approx(harmonic, rel=1e-5)
    assert expected_max_geometric(1.0, 5) == 1.0


def test_one_segment_chain_is_the_link_itself() -> None:
    link = FiberLink(distance_km=60, source_rate_hz=1e7, source_fidelity=0.95)
    rep = RepeaterChain(link=link, n_segments=1).evaluate()
    assert rep.pair == link.pair
    assert rep.pair_rate_hz == pytest.approx(link.pair_rate_hz, rel=1e-12)
    assert rep.latency_s == link.latency_s


def test_chain_without_purification_multiplies_visibilities_and_waits_for_slowest() -> None:
    link = FiberLink(distance_km=200, source_rate_hz=1e9, source_fidelity=0.97)
    rep = RepeaterChain(link=link, n_segments=4).evaluate()
    v = WernerPair(0.97).visibility
    assert rep.pair == WernerPair.from_visibility(v**4)
    p_seg = 10 ** (-0.2 * 50 / 10)
    assert rep.segment.distance_km == 50
    assert rep.pair_rate_hz == pytest.approx(1e9 / expected_max_geometric(p_seg, 4), rel=1e-12)
    assert rep.latency_s == pytest.approx(1e-3, rel=1e-15)


def test_nested_purification_cost_and_fidelity() -> None:
    link = FiberLink(distance_km=100, source_rate_hz=1e9, source_fidelity=0.9)
    rep = RepeaterChain(link=link, n_segments=2, purification_rounds=1).evaluate()
    s0 = purify(WernerPair(0.9), rounds=1)
    s1 = purify(swap(s0.pair, s0.pair), rounds=1)
    assert rep.pair == s1.pair
    assert rep.elementary_pairs_per_segment == pytest.approx(
        s0.expected_pairs * s1.expected_pairs, rel=1e-14
    )
    plain = RepeaterChain(link=link, n_segments=2).evaluate()
    assert rep.fidelity > plain.fidelity
    assert rep.pair_rate_hz == pytest.approx(
        plain.pair_rate_hz / rep.elementary_pairs_per_segment, rel=1e-12
    )


def test_bad_chain_parameters() -> None:
    link = FiberLink(distance_km=10)
    with pytest.raises(InputError, match="power of two"):
        RepeaterChain(link=link, n_segments=3, purification_rounds=1)
    with pytest.raises(InputError, match="n_segments"):
        RepeaterChain(link=link, n_segments=0)
    with pytest.raises(InputError, match="protocol"):
        RepeaterChain(link=link, n_segments=2, protocol="x")
    assert RepeaterChain(link=link, n_segments=3).evaluate().pair_rate_hz is None
