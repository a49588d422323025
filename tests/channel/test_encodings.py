"""Teleport channel encodings and QEC: variance, logical errors, ledger closed forms, exactness.

Statistical tests use fixed seeds and a 4-sigma bound (two-sided normal tail 6.3e-5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec, Verification
from qtfl.errors import InputError
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.qec import CODES, QEC_CHOICES, exact_readout_flip, logical_pauli_channel
from qtfl.security.detection import check_count
from qtfl.security.eavesdropper import make_eavesdropper

Z_BOUND = 4.0


def _channel(fidelity: float, **options: object) -> TeleportationChannel:
    link = LinkSpec(WernerPair(fidelity), pair_rate_hz=1e6)
    return TeleportationChannel(link, verification=Verification(), **options)  # type: ignore[arg-type]


def _normalised_errors(
    channel: TeleportationChannel, update: np.ndarray, repetitions: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(e / sd, e^2 / var)`` over ``repetitions`` deliveries of ``update``."""
    var = channel.readout_variance(update)
    rng = np.random.default_rng(seed)
    errs = []
    for _ in range(repetitions):
        d = channel.send(update, rng=rng)
        assert d.verdict.accepted
        errs.append(d.received.astype(np.float64) - update.astype(np.float64))
    e = np.concatenate(errs)
    v = np.tile(var, repetitions)
    return e / np.sqrt(v), e * e / v


def _assert_variance_matches(z: np.ndarray, ratio: np.ndarray) -> None:
    # unbiased: the mean standardised error is N(0, 1/N)
    assert abs(z.mean()) * math.sqrt(z.size) < Z_BOUND
    # the stated variance: E[e^2 / var] = 1, tested with the sample's own standard error
    se = ratio.std(ddof=1) / math.sqrt(ratio.size)
    assert abs(ratio.mean() - 1.0) < Z_BOUND * se, (ratio.mean(), se)


@pytest.mark.parametrize(
    ("encoding", "fidelity", "qec", "shots"),
    [
        ("angle", 0.95, "none", 256),
        ("angle", 0.9, "five-qubit", 64),
        ("amplitude", 0.95, "none", 512),
        ("amplitude", 0.9, "shor", 128),
    ],
)
def test_analog_delivery_has_the_stated_variance(
    encoding: str, fidelity: float, qec: str, shots: int
) -> None:
    # Prepare: a fixed update with a zero, both extremes and a spread in between
    update = np.linspace(-0.3, 0.5, 16, dtype=np.float32)
    update[3] = 0.0
    channel = _channel(fidelity, encoding=encoding, shots=shots, qec=qec)
    # Execute
    z, ratio = _normalised_errors(channel, update, repetitions=300, seed=11)
    # Assert
    _assert_variance_matches(z, ratio)


def test_angle_variance_closed_form_at_perfect_link() -> None:
    # Prepare: q = 0, so Var = r^2 (1 - c^2) / S and the extremes are read exactly
    update = np.array([-0.5, -0.25, 0.0, 0.25, 0.5], dtype=np.float32)
    channel = _channel(1.0, encoding="angle", shots=100)
    # Execute
    var = channel.readout_variance(update)
    d = channel.send(update, rng=np.random.default_rng(0))
    # Assert
    c = update / 0.5
    np.testing.assert_allclose(var, 0.25 * (1 - c**2) / 100)
    assert d.received is not None
    assert d.received[0] == -0.5 and d.received[4] == 0.5


def test_bit_flip_code_logical_error_matches_closed_form() -> None:
    # Prepare: the 1-bit sign code, so a received sign flip is a logical bit error
    f, n = 0.9, 40_000
    q = 2 * (1 - f) / 3  # teleported Z-bit error of a Werner pair
    expected = 3 * q**2 - 2 * q**3
    update = np.where(np.random.default_rng(1).random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    channel = _channel(f, bits=1, qec="bit-flip")
    # Execute
    d = channel.send(update, rng=np.random.default_rng(2))
    # Assert
    assert d.received is not None
    errors = int(np.count_nonzero(np.sign(d.received) != np.sign(update)))
    sd = math.sqrt(n * expected * (1 - expected))
    assert abs(errors - n * expected) < Z_BOUND * sd, (errors, n * expected)


@pytest.mark.parametrize("code", ["shor", "five-qubit"])
def test_distance_three_codes_match_exact_readout_flip(code: str) -> None:
    # Prepare
    f, n = 0.9, 40_000
    expected = exact_readout_flip(code, noise="depolarizing", p=1 - f, basis="Z")
    update = np.where(np.random.default_rng(3).random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    channel = _channel(f, bits=1, qec=code)
    # Execute
    d = channel.send(update, rng=np.random.default_rng(4))
    # Assert
    assert d.received is not None
    errors = int(np.count_nonzero(np.sign(d.received) != np.sign(update)))
    sd = math.sqrt(n * expected * (1 - expected))
    assert abs(errors - n * expected) < Z_BOUND * sd, (errors, n * expected)


def test_logical_channel_of_a_werner_pair_equals_the_depolarizing_closed_form() -> None:
    # Prepare
    pair = WernerPair(0.93)
    for name in CODES:
        # Execute
        p = logical_pauli_channel(name, pair.pauli_probabilities)
        # Assert
        z_flip = exact_readout_flip(name, noise="depolarizing", p=0.07, basis="Z")
        x_flip = exact_readout_flip(name, noise="depolarizing", p=0.07, basis="X")
        assert p[1] + p[2] == pytest.approx(z_flip, rel=1e-9)
        assert p[2] + p[3] == pytest.approx(x_flip, rel=1e-9)
    assert ("none", *CODES) == QEC_CHOICES


def test_bit_flip_code_under_pure_dephasing_pairs_never_flips_z_readout() -> None:
    # Prepare: Bell-diagonal pair with only Phi- weight (pure Z noise on the payload)
    pair = BellDiagonalPair((0.8, 0.0, 0.0, 0.2))
    # Execute
    p = logical_pauli_channel("bit-flip", pair.pauli_probabilities)
    # Assert: Z errors commute with a Z readout; the logical Z weight is 1 - (0.8^3 + 3*...)
    assert p[1] == pytest.approx(0.0) and p[2] == pytest.approx(0.0)
    assert p[3] == pytest.approx(0.5 * (1 - (1 - 2 * 0.2) ** 3))


@pytest.mark.parametrize(
    ("options", "qubits_per_value"),
    [
        ({"bits": 12}, lambda d: 12 * d),
        ({"encoding": "float32"}, lambda d: 32 * d),
        ({"encoding": "angle", "shots": 40}, lambda d: 40 * d),
        ({"encoding": "amplitude", "shots": 40}, lambda d: 40 * ((d - 1).bit_length() + 1)),
        ({"bits": 8, "qec": "shor"}, lambda d: 9 * 8 * d),
        ({"encoding": "angle", "shots": 10, "qec": "five-qubit"}, lambda d: 5 * 10 * d),
    ],
)
def test_ledger_counts_match_closed_forms(options: dict, qubits_per_value) -> None:  # type: ignore[no-untyped-def]
    # Prepare: F = 1, so one attempt, no purification, no retries
    d = 37
    update = np.linspace(-1, 1, d, dtype=np.float32)
    channel = _channel(1.0, **options)
    # Execute
    out = channel.send(update, rng=np.random.default_rng(0))
    # Assert
    n = qubits_per_value(d)
    k = check_count(n, 0.1)
    header = channel.encoding.header_bits
    assert channel.payload_qubits(d) == n
    assert out.ledger.payload_qubits == n
    assert out.ledger.check_pairs == k
    assert out.ledger.bell_pairs == n + k
    positions = k * math.ceil(math.log2(n + k))
    assert out.ledger.classical_bits == positions + 2 * k + 1 + 2 * n + header
    assert out.ledger.link_seconds == pytest.approx((n + k) / 1e6)


def test_float32_encoding_is_exact_at_perfect_link() -> None:
    # Prepare: signed zero, subnormals, extremes and ordinary values
    f32 = np.finfo(np.float32)
    update = np.array(
        [0.0, -0.0, f32.smallest_subnormal, -f32.tiny, f32.max, -f32.max, 1 / 3, -2.5e-7],
        dtype=np.float32,
    )
    channel = _channel(1.0, encoding="float32")
    # Execute
    d = channel.send(update, rng=np.random.default_rng(0))
    # Assert
    assert d.received is not None
    assert np.array_equal(d.received.view(np.uint32), update.view(np.uint32))


def test_float32_without_fec_on_noisy_link_is_rejected_not_aggregated() -> None:
    # Prepare: at F = 0.9 some of 32,000 bits flip, some in exponents
    update = np.random.default_rng(5).normal(size=1000).astype(np.float32)
    # Execute
    d = _channel(0.9, encoding="float32").send(update, rng=np.random.default_rng(6))
    fec = _channel(0.9, encoding="float32", fec="auto").send(update, rng=np.random.default_rng(6))
    # Assert
    assert not d.verdict.accepted and d.verdict.reason == "safety-net-flagged"
    assert fec.received is not None and np.array_equal(fec.received, update)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"encoding": "qubit"}, "allowed: basis, angle, amplitude, float32"),
        ({"qec": "steane"}, "allowed: none, bit-flip, phase-flip, shor, five-qubit"),
        ({"encoding": "angle", "fec": "auto"}, "fec protects bits"),
        ({"shots": 10}, "shots applies to the angle and amplitude"),
        ({"encoding": "angle", "shots": 0}, "shots"),
    ],
)
def test_bad_options_give_one_clear_error(options: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError, match=needle):
        _channel(0.95, **options)


@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
def test_analog_readout_over_useless_pairs_is_refused(encoding: str) -> None:
    with pytest.raises(InputError, match="cannot be read out over these pairs"):
        _channel(0.25, encoding=encoding)


@pytest.mark.parametrize("options", [{"encoding": "angle"}, {"qec": "shor"}])
def test_pair_attackers_are_refused_for_unmodelled_payloads(options: dict) -> None:  # type: ignore[type-arg]
    # Prepare
    eve = make_eavesdropper("intercept-resend", fraction=1.0, basis="z")
    # Execute / Assert
    with pytest.raises(InputError, match="is modelled for basis-encoded bits without qec only"):
        TeleportationChannel(LinkSpec(WernerPair(0.95)), eavesdropper=eve, **options)  # type: ignore[arg-type]


def test_checks_still_detect_a_noisy_link_under_analog_encoding() -> None:
    # Prepare: the test expects F = 0.99 pairs but gets F = 0.8 ones
    link = LinkSpec(WernerPair(0.99))
    channel = TeleportationChannel(link, encoding="angle", shots=64, qec="five-qubit")
    channel.protocol.link = LinkSpec(WernerPair(0.8))  # the pairs degrade after setup
    # Execute
    d = channel.send(np.ones(200, np.float32), rng=np.random.default_rng(0))
    # Assert
    assert not d.verdict.accepted and d.verdict.detected
    assert d.verdict.reason == "qber-above-threshold"


def test_one_name_per_encoding_and_code_across_registry_library_and_config() -> None:
    from qtfl import registry
    from qtfl.quantum.encoding import ENCODINGS

    assert tuple(ENCODINGS) == registry.ENCODINGS
    assert registry.QEC_CODES == QEC_CHOICES == ("none", *CODES)
