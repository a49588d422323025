"""QEC codes on stim: logical error vs physical error against closed forms and exact sums.

Statistical checks: a simulated logical error rate from ``N`` shots must lie within 4 sigma
(``sigma = sqrt(P(1-P)/N)``) of the closed form; seeds are fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.quantum.qec import (
    CODES,
    exact_logical_error,
    failure_counts,
    memory_circuit,
    simulate_logical_error,
    teleport_logical_error,
)

SHOTS = 200_000


def _within_4_sigma(simulated: float, expected: float, shots: int = SHOTS) -> bool:
    sigma = math.sqrt(max(expected * (1 - expected), 1e-12) / shots)
    return abs(simulated - expected) < 4 * sigma


@pytest.mark.parametrize(("code", "noise"), [("bit-flip", "x"), ("phase-flip", "z")])
@pytest.mark.parametrize("p", [0.01, 0.05, 0.1, 0.3])
def test_three_qubit_code_matches_3p2_minus_2p3(code: str, noise: str, p: float) -> None:
    closed = 3 * p**2 - 2 * p**3
    assert exact_logical_error(code, noise=noise, p=p) == pytest.approx(closed, rel=1e-12)
    sim = simulate_logical_error(code, noise=noise, p=p, shots=SHOTS, seed=17)
    assert _within_4_sigma(sim, closed)
    assert sim < p  # below p = 1/2 the code helps


@pytest.mark.parametrize("p", [0.02, 0.1])
def test_bit_flip_code_gives_no_protection_against_phase_flips(p: float) -> None:
    # Any odd number of Z errors is a logical Z: P = (1 - (1-2p)^3)/2 > p.
    closed = (1 - (1 - 2 * p) ** 3) / 2
    assert exact_logical_error("bit-flip", noise="z", p=p) == pytest.approx(closed, rel=1e-12)
    sim = simulate_logical_error("bit-flip", noise="z", p=p, shots=SHOTS, seed=18)
    assert _within_4_sigma(sim, closed)
    assert closed > p


@pytest.mark.parametrize("code", ["shor", "five-qubit"])
@pytest.mark.parametrize("p", [0.01, 0.05, 0.15])
def test_distance_three_codes_match_exact_enumeration_under_depolarizing(
    code: str, p: float
) -> None:
    exact = exact_logical_error(code, noise="depolarizing", p=p)
    sim = simulate_logical_error(code, noise="depolarizing", p=p, shots=SHOTS, seed=19)
    assert _within_4_sigma(sim, exact)


@pytest.mark.parametrize("code", ["shor", "five-qubit"])
def test_distance_three_codes_correct_every_single_qubit_error(code: str) -> None:
    counts = failure_counts(code, "depolarizing")
    assert counts[0] == 0
    assert counts[1] == 0
    assert counts[2] > 0
    # leading order: P_L = A_2 (p/3)^2 + O(p^3)
    p = 1e-4
    assert exact_logical_error(code, noise="depolarizing", p=p) == pytest.approx(
        counts[2] * (p / 3) ** 2, rel=1e-2
    )


def test_five_qubit_code_fails_on_every_weight_two_error() -> None:
    # Perfect code: 16 syndromes = 1 + 15 weight-1 errors, so a weight-2 error is "corrected"
    # by a weight-1 Pauli into a weight <= 3 operator with trivial syndrome, which is a
    # logical (all nontrivial stabilizers have weight 4): A_2 = C(5,2)·9 = 90.
    assert failure_counts("five-qubit", "depolarizing")[2] == math.comb(5, 2) * 9


def test_failure_counts_sum_to_exact_probability_one_at_p_equal_total() -> None:
    # Sanity of the enumeration: at p = 3/4 every depolarizing error is equally likely
    # (4^-n each), so P_L is the failing fraction of all 4^n Paulis.
    for name, code in CODES.items():
        counts = failure_counts(name, "depolarizing")
        assert exact_logical_error(name, noise="depolarizing", p=0.75) == pytest.approx(
            counts.sum() / 4**code.n
        )


@pytest.mark.parametrize("code", sorted(CODES))
def test_noiseless_circuit_prepares_the_code_state(code: str) -> None:
    circuit = memory_circuit(code, noise="depolarizing", p=0.0)
    record = circuit.compile_sampler(seed=1).sample(256)
    assert not np.asarray(record).any()  # all syndromes trivial, R perfectly correlated
    assert simulate_logical_error(code, noise="depolarizing", p=0.0, shots=256, seed=2) == 0.0


def test_teleportation_noise_is_depolarizing_with_p_one_minus_f() -> None:
    for f in (0.9, 0.95, 0.99):
        assert teleport_logical_error("shor", fidelity=f) == exact_logical_error(
            "shor", noise="depolarizing", p=1 - f
        )
    with pytest.raises(InputError, match="corrects only one Pauli type"):
        teleport_logical_error("bit-flip", fidelity=0.95)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="unknown QEC code 'steane'; allowed: bit-flip"):
        exact_logical_error("steane", noise="x", p=0.1)
    with pytest.raises(InputError, match="unknown noise 'amplitude'"):
        memory_circuit("shor", noise="amplitude", p=0.1)
    with pytest.raises(InputError, match=r"p must be in \[0, 1\]"):
        simulate_logical_error("shor", noise="x", p=1.5, shots=10, seed=0)


@pytest.mark.parametrize("p", [0.02, 0.1])
def test_readout_flips_of_the_bit_flip_code(p: float) -> None:
    from qtfl.quantum.qec import exact_readout_flip

    # Under X noise only a logical X remains: it flips a Z readout (3p^2 - 2p^3), never X.
    assert exact_readout_flip("bit-flip", noise="x", p=p, basis="Z") == pytest.approx(
        3 * p**2 - 2 * p**3, rel=1e-12
    )
    assert exact_readout_flip("bit-flip", noise="x", p=p, basis="X") == 0.0


@pytest.mark.parametrize("code", ["shor", "five-qubit"])
def test_readout_flips_match_stim_per_basis(code: str) -> None:
    from qtfl.quantum.qec import exact_readout_flip, simulate_logical_flips

    p = 0.05
    flips = simulate_logical_flips(code, noise="depolarizing", p=p, shots=SHOTS, seed=23)
    for column, basis in ((0, "X"), (1, "Z")):
        exact = exact_readout_flip(code, noise="depolarizing", p=p, basis=basis)
        assert _within_4_sigma(float(flips[:, column].mean()), exact)
    # one readout basis sees part of the logical errors: max <= P_L <= sum
    zx = [exact_readout_flip(code, noise="depolarizing", p=p, basis=b) for b in ("Z", "X")]
    total = exact_logical_error(code, noise="depolarizing", p=p)
    assert max(zx) <= total <= sum(zx) + 1e-15
