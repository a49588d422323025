"""Angle encoding: the Ry map against a circuit; an unbiased readout with the derived variance."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit.library import RYGate
from qiskit.quantum_info import Statevector

from qtfl.errors import InputError
from qtfl.quantum.encoding import AngleEncoding
from tests.quantum.test_encoding import check_mean_and_variance

# 21 values spanning [-r, r]: the ends (exact when noise-free), zero (the worst case) and between.
VALUES = np.concatenate([[-2.5, 2.5, 0.0], np.linspace(-2.4, 2.3, 18)]).astype(np.float32)


def test_one_probability_matches_the_ry_circuit() -> None:
    enc = AngleEncoding(shots=10)
    payload = enc.encode(VALUES)
    assert payload.scale == 2.5 and payload.header_bits == 32
    circuit_p1 = [
        Statevector.from_label("0").evolve(RYGate(t)).probabilities()[1] for t in payload.theta
    ]
    np.testing.assert_allclose(enc.one_probability(payload), circuit_p1, atol=1e-12)
    # Flip noise mixes the outcome: P1' = q + (1 - 2q) P1.
    q = 0.07
    np.testing.assert_allclose(
        enc.one_probability(payload, flip_probability=q),
        q + (1 - 2 * q) * np.asarray(circuit_p1),
        atol=1e-12,
    )


@pytest.mark.parametrize("q", [0.0, 0.05])
def test_readout_is_unbiased_with_the_derived_variance(q: float) -> None:
    shots, reps = 64, 4000
    enc = AngleEncoding(shots=shots)
    payload = enc.encode(VALUES)
    counts = enc.sample_counts(
        payload, rng=np.random.default_rng(21), flip_probability=q, repetitions=reps
    )
    assert counts.shape == (reps, VALUES.size)
    estimates = enc.readout(counts, scale=payload.scale, flip_probability=q)
    x = VALUES.astype(np.float64)
    r, c, g = 2.5, x / 2.5, 1 - 2 * q
    variance = r**2 * (1 - g**2 * c**2) / (shots * g**2)  # the closed form, written out here
    np.testing.assert_allclose(enc.variance(payload, flip_probability=q), variance, rtol=1e-12)
    # x_hat is the mean of S iid +-r/g: excess kurtosis (1 - 6p(1-p)) / (S p(1-p)).
    p = enc.one_probability(payload, flip_probability=q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurt = np.where(variance > 0, (1 - 6 * p * (1 - p)) / (shots * p * (1 - p)), 0.0)
    check_mean_and_variance(estimates, x, variance, kurt)
    if q == 0.0:  # c = +-1 are read exactly
        assert (variance[:2] == 0).all()


def test_shots_for_precision_is_the_smallest_sufficient_count() -> None:
    eps, r = 0.05, 2.5
    for q in (0.0, 0.05, [0.01, 0.1, 0.02]):
        shots = AngleEncoding.shots_for_precision(eps, scale=r, flip_probability=q)
        q_max = float(np.max(q))
        worst = [r**2 / (s * (1 - 2 * q_max) ** 2) for s in (shots, shots - 1)]  # c = 0
        assert worst[0] <= eps**2 < worst[1]
        payload = AngleEncoding(shots=shots).encode(VALUES)
        assert AngleEncoding(shots=shots).variance(payload, flip_probability=q_max).max() <= eps**2
    assert AngleEncoding(shots=5).copies_for_precision(VALUES, eps=eps) == 2500
    assert AngleEncoding.shots_for_precision(1.0, scale=0.0) == 1


def test_zero_update_reads_zero() -> None:
    enc = AngleEncoding(shots=9)
    payload = enc.encode(np.zeros(4, np.float32))
    counts = enc.sample_counts(payload, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(enc.readout(counts, scale=payload.scale), np.zeros(4))


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(InputError, match=r"shots must be an integer in \[1, inf\], got 0"):
        AngleEncoding(shots=0)
    enc = AngleEncoding(shots=8)
    payload = enc.encode(VALUES)
    with pytest.raises(InputError, match=r"flip_probability must be in \[0, 0.5\), got 0.5"):
        enc.sample_counts(payload, rng=np.random.default_rng(0), flip_probability=0.5)
    with pytest.raises(InputError, match=r"flip_probability\[1\] must be in \[0, 0.5\), got -0.1"):
        enc.one_probability(payload, flip_probability=[0.1, -0.1] + [0.0] * 19)
    with pytest.raises(InputError, match=r"counts must be in \[0, 8\]"):
        enc.readout(np.array([9, 0]), scale=1.0)
    with pytest.raises(InputError, match="update must be finite"):
        enc.encode(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match=r"eps must be in \(0, inf\), got 0"):
        AngleEncoding.shots_for_precision(0.0, scale=1.0)
