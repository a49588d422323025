"""Qiskit Aer reference vs the stim path, and the density-matrix route vs Aer circuits.

Agreement tests are two-proportion z-tests on the bit error rate, passing at |z| < 4
(fixed seeds; a few thousand Aer shots each so the suite stays fast).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import stim
from scipy import stats

from qtfl.errors import InputError
from qtfl.quantum.device import _stim_pauli_args, device_stim_circuit, device_teleport, twirl
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.pauli import teleport_state
from qtfl.quantum.reference import aer_teleport, memory_bits, pair_error
from qtfl.quantum.teleport import compile_teleporter
from tests.quantum.teleport_dm import random_pure_state

AER_SHOTS = 4000
STIM_SHOTS = 200_000
LEVELS = [WernerPair(0.95), WernerPair(0.8), BellDiagonalPair([0.7, 0.05, 0.2, 0.05])]


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n1 + 1 / n2))
    return (k1 / n1 - k2 / n2) / se


def errors(bits: np.ndarray, received: np.ndarray) -> int:
    return int((bits != received).sum())


def bits_for(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("pair", LEVELS)
def test_stim_and_aer_agree_without_device_noise(pair: BellDiagonalPair, dynamic: bool) -> None:
    a_bits, s_bits = bits_for(1, AER_SHOTS), bits_for(2, STIM_SHOTS)
    aer = aer_teleport(a_bits, pair, rng=np.random.default_rng(3), dynamic=dynamic)
    fast = compile_teleporter(pair).teleport(s_bits, rng=np.random.default_rng(4))
    for b in (0, 1):  # per payload value: Aer really applies X, stim XORs (the frame trick)
        ma, ms = a_bits == b, s_bits == b
        z = two_proportion_z(
            errors(a_bits[ma], aer.received[ma]), int(ma.sum()),
            errors(s_bits[ms], fast.received[ms]), int(ms.sum()),
        )  # fmt: skip
        assert abs(z) < 4, (pair, b, z)
    # Aer's Bell bits are uniform and independent of the payload too (chi-square, p > 1e-3).
    cells = np.bincount(4 * a_bits + 2 * aer.bell_bits[:, 0] + aer.bell_bits[:, 1], minlength=8)
    assert stats.chisquare(cells).pvalue > 1e-3


def test_aer_noise_free_dynamic_circuit_delivers_every_bit() -> None:
    bits = bits_for(5, 2000)
    res = aer_teleport(bits, WernerPair(1.0), rng=np.random.default_rng(6))
    np.testing.assert_array_equal(res.received, bits)


@pytest.mark.parametrize("pair", [WernerPair(1.0), WernerPair(0.9), WernerPair(0.75)])
def test_stim_and_aer_agree_with_fake_device_noise(pair: BellDiagonalPair) -> None:
    a_bits, s_bits = bits_for(7, AER_SHOTS), bits_for(8, STIM_SHOTS)
    aer = aer_teleport(a_bits, pair, rng=np.random.default_rng(9), device="fake_manila")
    fast = device_teleport(s_bits, pair, device="fake_manila", rng=np.random.default_rng(10))
    z = two_proportion_z(
        errors(a_bits, aer.received), a_bits.size, errors(s_bits, fast.received), s_bits.size
    )
    assert abs(z) < 4, z
    # The device adds errors beyond the pair's 2(1-F)/3: the comparison is not vacuous.
    assert errors(s_bits, fast.received) / s_bits.size > pair.teleported_bit_error + 0.03


def test_device_translation_keeps_the_noise_free_protocol() -> None:
    # With every device error switched off the translated circuit teleports exactly.
    circuit, record = device_stim_circuit(WernerPair(1.0), payload=1, device="fake_manila")
    clean = circuit.without_noise()
    samples = clean.compile_sampler(seed=11).sample(500)
    assert samples[:, record[2]].all()
    bell = samples[:, list(record[:2])].astype(int)
    assert stats.chisquare(np.bincount(2 * bell[:, 0] + bell[:, 1], minlength=4)).pvalue > 1e-3


def test_twirl_and_stim_two_qubit_order() -> None:
    from qiskit_aer.noise import depolarizing_error, pauli_error

    np.testing.assert_allclose(twirl(depolarizing_error(0.3, 1)), [0.775, 0.075, 0.075, 0.075])
    # Qiskit "IX" is X on the first qubit; stim must flip the first target only.
    p = twirl(pauli_error([("IX", 1.0)]))
    name, args = _stim_pauli_args(p, 2)
    c = stim.Circuit()
    c.append(name, [0, 1], args)
    c.append("M", [0, 1])
    np.testing.assert_array_equal(c.compile_sampler(seed=0).sample(10), [[True, False]] * 10)


def _aer_teleported_density_matrix(psi: np.ndarray, pairs: list[BellDiagonalPair]) -> np.ndarray:
    """Full 3n-qubit teleport circuits on Aer's density-matrix method (deferred corrections)."""
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    n = len(pairs)
    payload, client, server = list(range(n)), list(range(n, 2 * n)), list(range(2 * n, 3 * n))
    c = QuantumCircuit(3 * n)
    # A unitary whose first column is psi (up to a global phase) prepares it from |0..0>;
    # qubit lists are reversed: qtfl's qubit 0 is the most significant bit, Qiskit's the least.
    q, _ = np.linalg.qr(np.column_stack([psi, np.eye(2**n)[:, 1:]]))
    c.unitary(q, payload[::-1])
    for i, pair in enumerate(pairs):
        c.h(client[i])
        c.cx(client[i], server[i])
        c.append(pair_error(pair).to_instruction(), [client[i], server[i]])
        c.cx(payload[i], client[i])
        c.h(payload[i])
        c.cx(client[i], server[i])
        c.cz(payload[i], server[i])
    c.save_density_matrix(server[::-1], label="rho")
    result = AerSimulator(method="density_matrix").run(c).result()
    return np.asarray(result.data()["rho"])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_teleport_state_matches_aer_density_matrix_of_the_circuits(n: int) -> None:
    rng = np.random.default_rng(20 + n)
    pairs = [BellDiagonalPair(c) for c in rng.dirichlet(np.ones(4) * 2, size=n)]
    pairs[0] = WernerPair(0.85)
    psi = random_pure_state(rng, 2**n)
    want = _aer_teleported_density_matrix(psi, pairs)
    np.testing.assert_allclose(teleport_state(psi, pairs), want, atol=1e-10)


def test_memory_strings_parse_to_out_m0_m1() -> None:
    # Qiskit prints "out bell" with bell's bit 0 (m0) rightmost.
    rows = memory_bits(["1 01", "0 10", "1 11", "0 00"])
    np.testing.assert_array_equal(rows, [[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]])


def test_bad_input_raises_one_clear_error() -> None:
    with pytest.raises(InputError, match="unknown device 'nope'; allowed: fake_manila"):
        aer_teleport([0, 1], WernerPair(0.9), rng=np.random.default_rng(0), device="nope")
    with pytest.raises(InputError, match="N >= 1"):
        aer_teleport([], WernerPair(0.9), rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="threads must be an integer in"):
        aer_teleport([0], WernerPair(0.9), rng=np.random.default_rng(0), threads=0)
