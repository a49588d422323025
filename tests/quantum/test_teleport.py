"""The stim fast path and the density-matrix route against closed forms and exact models.

Statistical checks use fixed seeds and state their confidence: rates within 4 sigma of the
closed form, chi-square tests passing at p > 1e-3.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import stim
from scipy import stats

from qtfl.errors import InputError
from qtfl.quantum import teleport as tp
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.pauli import apply_pauli_channels, pauli_table, teleport_state
from qtfl.quantum.teleport import BASIS_X, BASIS_Z, compile_teleporter
from tests.quantum.teleport_dm import (
    PAULIS,
    joint_outcomes,
    kron,
    random_density,
    random_pure_state,
)

P_MIN = 1e-3  # chi-square tests must pass at this p-value (fixed seeds)


def within_4_sigma(rate: float, p: float, n: int) -> bool:
    return abs(rate - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def random_bits(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)


def test_noise_free_million_bits_arrive_exactly_and_bell_bits_are_a_one_time_pad() -> None:
    bits = random_bits(0, 1_000_000)
    res = compile_teleporter(WernerPair(1.0)).teleport(bits, rng=np.random.default_rng(1))
    assert res.received.shape == (1_000_000,)
    assert res.bell_bits.shape == (1_000_000, 2)
    np.testing.assert_array_equal(res.received, bits)
    # (payload, m0, m1): 8 cells, each 1/8 if the Bell bits are uniform and independent.
    cells = np.bincount(4 * bits + 2 * res.bell_bits[:, 0] + res.bell_bits[:, 1], minlength=8)
    assert stats.chisquare(cells).pvalue > P_MIN


def test_bell_bits_stay_a_one_time_pad_through_a_noisy_pair() -> None:
    bits = random_bits(2, 400_000)
    res = compile_teleporter(BellDiagonalPair([0.7, 0.1, 0.15, 0.05])).teleport(
        bits, rng=np.random.default_rng(3)
    )
    cells = np.bincount(4 * bits + 2 * res.bell_bits[:, 0] + res.bell_bits[:, 1], minlength=8)
    assert stats.chisquare(cells).pvalue > P_MIN


@pytest.mark.parametrize("fidelity", [0.25, 0.6, 0.85, 0.95, 0.99])
def test_bit_error_rate_is_two_thirds_of_infidelity(fidelity: float) -> None:
    n = 1_000_000
    bits = random_bits(4, n)
    res = compile_teleporter(WernerPair(fidelity)).teleport(bits, rng=np.random.default_rng(5))
    ber = float((res.received != bits).mean())
    assert within_4_sigma(ber, 2 * (1 - fidelity) / 3, n), ber


@pytest.mark.parametrize(
    "pair",
    [
        WernerPair(0.8),
        BellDiagonalPair([0.7, 0.05, 0.2, 0.05]),
        BellDiagonalPair([0.6, 0.3, 0.0, 0.1]),
    ],
)
def test_joint_outcomes_match_exact_density_matrix_protocol(pair: BellDiagonalPair) -> None:
    # Sampled (m0, m1, received) for payload 0 and 1 vs the exact 3-qubit calculation in
    # which the payload |1> is really prepared (so this also proves the XOR trick).
    n = 200_000
    for b in (0, 1):
        res = compile_teleporter(pair).teleport(
            np.full(n, b, np.uint8), rng=np.random.default_rng(6 + b)
        )
        cells = np.bincount(
            4 * res.bell_bits[:, 0] + 2 * res.bell_bits[:, 1] + res.received, minlength=8
        )
        ket = np.zeros(2, complex)
        ket[b] = 1
        probs = joint_outcomes(np.outer(ket, ket), pair.density_matrix()).reshape(-1)
        assert stats.chisquare(cells, probs * n).pvalue > P_MIN


def _real_x_circuit(pair: BellDiagonalPair, payload: np.ndarray, eve: int | None) -> stim.Circuit:
    """The teleporter's circuit with X really applied to q0 in the lanes whose bit is 1."""
    flips = stim.Circuit()
    flips.append("X", [int(i) for i in np.flatnonzero(payload)])
    circuit = compile_teleporter(pair).circuit(lanes=payload.size, eve=eve)
    assert circuit[0].name == "R"  # the flips go right after the reset
    return circuit[0:1] + flips + circuit[1:]


@pytest.mark.parametrize("eve", [None, BASIS_Z, BASIS_X])
def test_xor_payload_equals_a_circuit_that_really_applies_x(eve: int | None) -> None:
    # Joint law of ([eve], m0, m1, received) per payload value, real X vs XOR afterwards.
    # Eve's bit is correlated with m1, so a wrong m1 frame would show here.
    pair = BellDiagonalPair([0.75, 0.05, 0.15, 0.05])
    payload = random_bits(8, 64)
    shots = 4000
    w = 3 if eve is None else 4
    circuit = _real_x_circuit(pair, payload, eve)
    real = circuit.compile_sampler(seed=9).sample(shots).astype(np.uint8).reshape(shots, 64, w)
    fast = compile_teleporter(pair).teleport(
        np.tile(payload, shots), rng=np.random.default_rng(10), eve_bases=eve
    )
    cols = [fast.bell_bits, fast.received[:, None]]
    if fast.eve_bits is not None:
        cols.insert(0, fast.eve_bits[:, None])
    fast_rec = np.concatenate(cols, axis=1).reshape(shots, 64, w)
    weights = 2 ** np.arange(w)[::-1]
    for b in (0, 1):
        lanes = payload == b
        c_real = np.bincount((real[:, lanes] @ weights).ravel(), minlength=2**w)
        c_fast = np.bincount((fast_rec[:, lanes] @ weights).ravel(), minlength=2**w)
        keep = (c_real + c_fast) > 0
        assert stats.chi2_contingency(np.stack([c_real, c_fast])[:, keep]).pvalue > P_MIN
    # Noise-free: the real circuit delivers every payload bit, like the fast path.
    ideal = _real_x_circuit(WernerPair(1.0), payload, None).compile_sampler(seed=11).sample(100)
    np.testing.assert_array_equal(ideal.reshape(100, 64, 3)[:, :, 2], np.tile(payload, (100, 1)))


@pytest.mark.parametrize("p", [0.06, 0.3])
def test_depolarize2_on_the_pair_gives_x_y_z_each_4p_over_15(p: float) -> None:
    # Teleport Z, X and Y eigenstates; basis errors are p_X+p_Y, p_Z+p_Y, p_X+p_Z.
    prep = {"Z": ("", ""), "X": ("H 0", "H 2"), "Y": ("H 0\nS 0", "S_DAG 2\nH 2")}
    shots = 200_000
    err = {}
    for basis, (pre, post) in prep.items():
        c = stim.Circuit(
            f"H 1\nCX 1 2\nDEPOLARIZE2({p}) 1 2\n{pre}\nCX 0 1\nH 0\nM 0 1\n"
            f"CX rec[-1] 2\nCZ rec[-2] 2\n{post}\nM 2"
        )
        err[basis] = float(c.compile_sampler(seed=12).sample(shots)[:, 2].mean())
        assert within_4_sigma(err[basis], 8 * p / 15, shots), (basis, err[basis])
    px = (err["Z"] - err["X"] + err["Y"]) / 2
    py = (err["Z"] + err["X"] - err["Y"]) / 2
    pz = (err["X"] - err["Z"] + err["Y"]) / 2
    sigma = math.sqrt(3 * (8 * p / 15) / shots) / 2
    for got in (px, py, pz):
        assert abs(got - 4 * p / 15) < 4 * sigma


@pytest.mark.parametrize("pair", [WernerPair(0.9), BellDiagonalPair([0.8, 0.1, 0.06, 0.04])])
def test_check_pairs_estimate_qber_in_each_basis(pair: BellDiagonalPair) -> None:
    n = 400_000
    bases = np.random.default_rng(13).integers(0, 2, n)
    m = compile_teleporter(pair).measure_pairs(bases, rng=np.random.default_rng(14))
    np.testing.assert_array_equal(m.bases, bases)
    z, x = m.bases == BASIS_Z, m.bases == BASIS_X
    assert within_4_sigma(float(m.errors[z].mean()), pair.qber_z, int(z.sum()))
    assert within_4_sigma(float(m.errors[x].mean()), pair.qber_x, int(x.sum()))
    # Each half alone is a uniformly random bit.
    assert within_4_sigma(float(m.client.mean()), 0.5, n)


def test_intercept_resend_in_z_reads_every_payload_bit_and_shows_only_in_x_checks() -> None:
    n = 200_000
    tele = compile_teleporter(WernerPair(1.0))
    bits = random_bits(15, n)
    res = tele.teleport(bits, rng=np.random.default_rng(16), eve_bases=BASIS_Z)
    np.testing.assert_array_equal(res.received, bits)  # the server still decodes correctly
    assert res.eve_bits is not None
    np.testing.assert_array_equal(res.eve_bits ^ res.bell_bits[:, 1], bits)  # Eve learns all
    z_checks = tele.measure_pairs(np.zeros(n, int), rng=np.random.default_rng(17), eve_bases=0)
    x_checks = tele.measure_pairs(np.ones(n, int), rng=np.random.default_rng(18), eve_bases=0)
    assert z_checks.errors.sum() == 0
    assert within_4_sigma(float(x_checks.errors.mean()), 0.5, n)
    rng = np.random.default_rng(19)
    mixed = tele.measure_pairs(rng.integers(0, 2, n), rng=rng, eve_bases=rng.integers(0, 2, n))
    assert within_4_sigma(float(mixed.errors.mean()), 0.25, n)


def test_same_generator_state_reproduces_and_chunking_keeps_the_law(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bits = random_bits(20, 50_000)
    tele = compile_teleporter(WernerPair(0.9))
    a = tele.teleport(bits, rng=np.random.default_rng(21))
    b = tele.teleport(bits, rng=np.random.default_rng(21))
    c = tele.teleport(bits, rng=np.random.default_rng(22))
    np.testing.assert_array_equal(a.received, b.received)
    np.testing.assert_array_equal(a.bell_bits, b.bell_bits)
    assert (a.received != c.received).any()
    monkeypatch.setattr(tp, "CHUNK_QUBITS", 4096)
    n = 300_001
    chunked = tele.teleport(random_bits(23, n), rng=np.random.default_rng(24))
    ber = float((chunked.received != random_bits(23, n)).mean())
    assert within_4_sigma(ber, 2 * 0.1 / 3, n)
    cells = np.bincount(2 * chunked.bell_bits[:, 0] + chunked.bell_bits[:, 1], minlength=4)
    assert stats.chisquare(cells).pvalue > P_MIN


@pytest.mark.parametrize("n", [1, 7, 9, 255, 257])
def test_any_batch_size_is_delivered_noise_free(n: int) -> None:
    bits = random_bits(n, n)
    res = compile_teleporter(WernerPair(1.0)).teleport(bits, rng=np.random.default_rng(n))
    np.testing.assert_array_equal(res.received, bits)
    assert res.bell_bits.shape == (n, 2)


# ----------------------------------------------------------------- density-matrix route


def _explicit_channels(rho: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Sum over all 4**n Pauli strings with product probabilities (slow, obviously right)."""
    n = probs.shape[0]
    out = np.zeros_like(rho)
    for idx in itertools.product(range(4), repeat=n):
        op = kron(*[PAULIS[i] for i in idx])
        out += np.prod([probs[q, i] for q, i in enumerate(idx)]) * op @ rho @ op.conj().T
    return out


@pytest.mark.parametrize("n", [1, 2, 3])
def test_apply_pauli_channels_matches_explicit_sum_numpy_and_torch(n: int) -> None:
    import torch

    rng = np.random.default_rng(30 + n)
    rho = random_density(rng, 2**n)
    probs = rng.dirichlet(np.ones(4), size=n)
    want = _explicit_channels(rho, probs)
    np.testing.assert_allclose(apply_pauli_channels(rho, probs), want, atol=1e-12)
    got_t = apply_pauli_channels(torch.as_tensor(rho), probs)
    assert isinstance(got_t, torch.Tensor)
    np.testing.assert_allclose(got_t.numpy(), want, atol=1e-12)
    batch = np.stack([rho, rho.conj()])
    got_b = apply_pauli_channels(batch, probs)
    np.testing.assert_allclose(got_b[1], _explicit_channels(rho.conj(), probs), atol=1e-12)


def test_average_teleportation_fidelity_is_two_f_plus_one_over_three() -> None:
    rng = np.random.default_rng(40)
    for f in (0.5, 0.8, 0.95):
        fids = []
        for _ in range(2000):
            psi = random_pure_state(rng, 2)
            rho = teleport_state(psi, WernerPair(f))
            fids.append(float(np.real(psi.conj() @ rho @ psi)))
        mean, sem = float(np.mean(fids)), float(np.std(fids) / math.sqrt(len(fids)))
        assert abs(mean - (2 * f + 1) / 3) < 4 * sem + 1e-12, (f, mean)


def test_teleport_state_per_qubit_pairs_and_twelve_qubits() -> None:
    pairs = [WernerPair(0.9), BellDiagonalPair([0.7, 0.2, 0.05, 0.05])]
    psi = random_pure_state(np.random.default_rng(41), 4)
    rho = teleport_state(psi, pairs)
    np.testing.assert_allclose(
        rho, _explicit_channels(np.outer(psi, psi.conj()), pauli_table(pairs, 2))
    )
    big = np.zeros((2**12, 2**12), complex)
    big[0, 0] = 1.0
    out = teleport_state(big, WernerPair(0.97))
    # |0...0> keeps its Z value on each qubit with probability 1 - 2(1-F)/3.
    assert out[0, 0].real == pytest.approx((1 - 2 * 0.03 / 3) ** 12)
    assert np.trace(out).real == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.teleport(np.array([], np.uint8), rng=np.random.default_rng(0)), "N >= 1"),
        (lambda t: t.teleport(np.array([0, 2]), rng=np.random.default_rng(0)), "only 0 and 1"),
        (lambda t: t.teleport(np.zeros((2, 2), int), rng=np.random.default_rng(0)), "1-D"),
        (lambda t: t.teleport([0.5], rng=np.random.default_rng(0)), "0/1 integers"),
        (lambda t: t.measure_pairs([0, 2], rng=np.random.default_rng(0)), "0 .Z. and 1 .X."),
        (
            lambda t: t.teleport([0, 1], rng=np.random.default_rng(0), eve_bases=[0]),
            "2 basis codes",
        ),
    ],
)
def test_bad_input_raises_one_clear_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        call(compile_teleporter(WernerPair(0.9)))


def test_bad_density_matrix_input_raises() -> None:
    with pytest.raises(InputError, match="probs must have shape"):
        apply_pauli_channels(np.eye(4, dtype=complex) / 4, np.ones((3, 4)) / 4)
    with pytest.raises(InputError, match="one pair per payload qubit"):
        teleport_state(np.ones(4) / 2, [WernerPair(0.9)])
    with pytest.raises(InputError, match="at most 12"):
        huge = np.broadcast_to(np.zeros((1, 1), np.complex64), (2**13, 2**13))
        apply_pauli_channels(huge, np.ones((13, 4)) / 4)
