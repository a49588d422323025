"""Amplitude encoding: outcome distributions against Qiskit circuits; an unbiased readout with
the derived variance, noise-free and under per-qubit flip noise."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import StatePreparation
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, Statevector

from qtfl.errors import InputError
from qtfl.quantum.encoding import AmplitudeEncoding, AmplitudePayload, readout_flip_probabilities
from qtfl.quantum.noise import BellDiagonalPair
from tests.quantum.test_encoding import check_mean_and_variance

PAULIS = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]


def _preparation(payload: AmplitudePayload) -> QuantumCircuit:
    """(|0>|psi> + |1>|r>)/sqrt2 on register qubits 0..n-1 and ancilla qubit n (no final H)."""
    n = payload.register_qubits
    qc = QuantumCircuit(n + 1)
    qc.h(n)
    qc.append(StatePreparation(payload.state).control(1, ctrl_state=0), [n, *range(n)])
    qc.append(StatePreparation(payload.reference).control(1, ctrl_state=1), [n, *range(n)])
    return qc


def _dense(mats: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """Kronecker product in outcome-axis order (ancilla first, then register MSB..LSB)."""
    return functools.reduce(np.kron, mats, np.eye(1))


def _flip(q: float) -> npt.NDArray[np.float64]:
    return np.array([[1 - q, q], [q, 1 - q]])


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_noise_free_distribution_matches_the_circuit(d: int) -> None:
    rng = np.random.default_rng(d)
    enc = AmplitudeEncoding(shots=10)
    for _ in range(3):
        payload = enc.encode(rng.standard_normal(d).astype(np.float32))
        assert payload.register_qubits == enc.register_qubits(d) == int(np.ceil(np.log2(d)))
        qc = _preparation(payload)
        qc.h(payload.register_qubits)
        np.testing.assert_allclose(
            enc.outcome_distribution(payload), Statevector(qc).probabilities(), atol=1e-10
        )


def test_pauli_noise_before_the_readout_matches_a_density_matrix_simulation() -> None:
    rng = np.random.default_rng(3)
    enc = AmplitudeEncoding(shots=10)
    payload = enc.encode(rng.standard_normal(5).astype(np.float32))
    n = payload.register_qubits  # 3
    # One Pauli channel per teleported qubit, rows ancilla first, then register MSB..LSB.
    pauli = rng.dirichlet([30, 1, 2, 3], size=n + 1)
    rho = DensityMatrix(_preparation(payload))
    for row, p in enumerate(pauli):
        qubit = n if row == 0 else n - row
        kraus = Kraus([np.sqrt(pk) * m for pk, m in zip(p, PAULIS, strict=True)])
        rho = rho.evolve(kraus, qargs=[qubit])
    h = QuantumCircuit(n + 1)
    h.h(n)
    expected = rho.evolve(Operator(h)).probabilities()
    flips = readout_flip_probabilities(pauli, register_qubits=n)
    np.testing.assert_allclose(flips[0], pauli[0, 2] + pauli[0, 3])
    np.testing.assert_allclose(flips[1:], pauli[1:, 1] + pauli[1:, 2])
    got = enc.outcome_distribution(payload, flip_probability=flips)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    clean = enc.outcome_distribution(payload)
    np.testing.assert_allclose(got, _dense([_flip(q) for q in flips]) @ clean, atol=1e-12)


def test_readout_flips_of_a_bell_diagonal_pair() -> None:
    pair = BellDiagonalPair([0.85, 0.02, 0.05, 0.08])  # p_I, p_X, p_Y, p_Z = A, C, B, D
    flips = readout_flip_probabilities(pair.pauli_probabilities, register_qubits=2)
    np.testing.assert_allclose(flips, [0.02 + 0.08, pair.teleported_bit_error, 0.05 + 0.02])


def _brute_force_moments(
    payload: AmplitudePayload, q: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean, variance and excess kurtosis of one shot's contribution to psi_hat (dense maths)."""
    dim = payload.state.size
    clean = (
        np.concatenate(
            [(payload.state + payload.reference) ** 2, (payload.state - payload.reference) ** 2]
        )
        / 4
    )
    noisy = _dense([_flip(qj) for qj in q]) @ clean
    inv = _dense([np.linalg.inv(_flip(qj)) for qj in q])
    weights = (inv[:dim] - inv[dim:]) * np.sqrt(dim)  # psi_hat = weights @ frequencies
    mean = weights @ noisy
    centred = weights - mean[:, None]
    var = centred**2 @ noisy
    with np.errstate(divide="ignore", invalid="ignore"):
        kurt = np.where(var > 0, (centred**4 @ noisy) / var**2 - 3.0, 0.0)
    return mean, var, kurt


@pytest.mark.parametrize("noisy", [False, True], ids=["noise-free", "flip-noise"])
def test_readout_is_unbiased_with_the_derived_variance(noisy: bool) -> None:
    shots, reps, d = 200, 4000, 5
    rng = np.random.default_rng(55)
    x = rng.standard_normal(d).astype(np.float32)
    enc = AmplitudeEncoding(shots=shots)
    payload = enc.encode(x)
    q = np.array([0.04, 0.02, 0.06, 0.03]) if noisy else np.zeros(4)
    psi, dim = payload.state[:d], payload.state.size
    if not noisy:  # the closed form of the module docstring, written out
        closed = payload.norm**2 * (0.5 + psi**2 * (dim / 2 - 1)) / shots
        np.testing.assert_allclose(enc.variance(payload), closed, rtol=1e-12)
    mean, var1, kurt1 = _brute_force_moments(payload, q)
    np.testing.assert_allclose(mean[:d], psi, atol=1e-12)  # unbiased in expectation
    variance = enc.variance(payload, flip_probability=q)
    np.testing.assert_allclose(variance, payload.norm**2 * var1[:d] / shots, rtol=1e-10)
    counts = enc.sample_counts(payload, rng=rng, flip_probability=q, repetitions=reps)
    assert counts.shape == (reps, 2 * dim) and (counts.sum(axis=1) == shots).all()
    estimates = enc.readout(counts, norm=payload.norm, n_values=d, flip_probability=q)
    check_mean_and_variance(estimates, x.astype(np.float64), variance, kurt1[:d] / shots)
    if noisy:  # inverting the flips costs variance, within the documented bound
        assert (variance > enc.variance(payload)).all()
        t = q * (1 - q)
        marginal = (payload.state**2 + 1 / dim) / 2
        bound = (
            marginal.max() * dim / (1 - 2 * q[0]) ** 2 * np.prod((1 - 2 * t[1:]) / (1 - 4 * t[1:]))
        )
        assert (variance <= payload.norm**2 * bound / shots).all()


def test_single_value_needs_only_the_ancilla_and_reads_its_sign() -> None:
    enc = AmplitudeEncoding(shots=16)
    payload = enc.encode(np.array([-3.0], np.float32))
    assert enc.payload_qubits(1) == 1 and payload.register_qubits == 0
    counts = enc.sample_counts(payload, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(counts, [0, 16])
    np.testing.assert_array_equal(enc.readout(counts, norm=payload.norm, n_values=1), [-3.0])


def test_shots_for_precision_is_the_smallest_sufficient_count() -> None:
    x = np.random.default_rng(8).standard_normal(6).astype(np.float32)
    eps = 0.1
    for q in (0.0, [0.05, 0.01, 0.02, 0.03]):
        shots = AmplitudeEncoding().copies_for_precision(x, eps=eps, flip_probability=q)
        payload = AmplitudeEncoding().encode(x)
        assert AmplitudeEncoding(shots=shots).variance(payload, flip_probability=q).max() <= eps**2
        assert (
            AmplitudeEncoding(shots=shots - 1).variance(payload, flip_probability=q).max() > eps**2
        )


def test_zero_update_reads_zero() -> None:
    enc = AmplitudeEncoding(shots=32)
    payload = enc.encode(np.zeros(3, np.float32))
    counts = enc.sample_counts(payload, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(enc.readout(counts, norm=payload.norm, n_values=3), np.zeros(3))


def test_bad_inputs_are_clear_errors() -> None:
    enc = AmplitudeEncoding(shots=4)
    payload = enc.encode(np.arange(1.0, 4.0))
    with pytest.raises(InputError, match=r"last axis 8 .* got int64 shape \(6,\)"):
        enc.readout(np.zeros(6, np.int64), norm=1.0, n_values=3)
    with pytest.raises(InputError, match="sum to shots=4"):
        enc.readout(np.ones(8, np.int64), norm=1.0, n_values=3)
    with pytest.raises(InputError, match=r"one number or 3 numbers .* got shape \(2,\)"):
        enc.outcome_distribution(payload, flip_probability=[0.1, 0.1])
    with pytest.raises(InputError, match=r"pauli_probabilities must have shape \(4,\) or \(3, 4\)"):
        readout_flip_probabilities(np.ones(3) / 3, register_qubits=2)
    with pytest.raises(InputError, match="update must be finite"):
        enc.encode(np.array([np.inf, 1.0]))
