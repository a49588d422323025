"""TeleportationChannel options: purification (pairs counted) and FEC (exact delivery,
safety net). Statistical checks use fixed seeds and 4-sigma tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.channel.fec import FEC_CODES
from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
from qtfl.channel.verified import PurifiedLink, Verification, VerifiedTeleport
from qtfl.quantum.encoding import BasisEncoding
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.purification import purify, purify_until
from qtfl.security.eavesdropper import InterceptResend
from tests.channel.contract import sample_update

ENC = BasisEncoding(bits=16)


def test_one_round_purification_cost_matches_the_negative_binomial_closed_form() -> None:
    # one round: raw = 2 (m + NB(m, p)); E = 2m/p, SD = 2 sqrt(m (1-p)) / p
    schedule = purify(WernerPair(0.8), rounds=1)
    p = schedule.success_probabilities[0]
    link = PurifiedLink(LinkSpec(WernerPair(0.8)), schedule)
    m = 100_000
    extra, attempts = link.purification_cost(m, rng=np.random.default_rng(0))
    raw = m + extra
    assert raw == 2 * attempts
    assert abs(raw - 2 * m / p) <= 4 * 2 * math.sqrt(m * (1 - p)) / p


def test_multi_round_purification_cost_averages_to_the_schedule_expectation() -> None:
    schedule = purify(WernerPair(0.85), rounds=3)
    link = PurifiedLink(LinkSpec(WernerPair(0.85)), schedule)
    rng = np.random.default_rng(1)
    m = 1000
    ratios = np.array([(m + link.purification_cost(m, rng=rng)[0]) / m for _ in range(300)])
    sem = ratios.std(ddof=1) / math.sqrt(ratios.size)
    assert abs(ratios.mean() - schedule.expected_pairs) <= 4 * sem


def test_purified_teleportation_counts_every_pair_and_uses_the_purified_pair() -> None:
    update = sample_update(400)
    ch = TeleportationChannel(LinkSpec(WernerPair(0.9), pair_rate_hz=1e6), purify_to=0.97)
    target = purify_until(WernerPair(0.9), target_fidelity=0.97)
    assert ch.link.pair == target.pair and ch.link.pair.fidelity >= 0.97
    out = ch.send(update, rng=np.random.default_rng(2))
    led = out.ledger
    assert out.delivered and led.purification_pairs > 0
    assert led.bell_pairs == led.payload_qubits + led.check_pairs + led.purification_pairs
    # purification costs about expected_pairs raw pairs per used pair
    used = led.payload_qubits + led.check_pairs
    assert led.bell_pairs / used == pytest.approx(target.expected_pairs, rel=0.05)
    assert led.link_seconds >= led.bell_pairs / 1e6


def test_fec_delivers_the_encoded_update_exactly_and_counts_codeword_qubits() -> None:
    update = sample_update(3000, seed=4)
    ch = TeleportationChannel(LinkSpec(WernerPair(0.95)), fec="auto")
    assert ch.codec is not None and ch.codec.code == FEC_CODES["ldpc-2/3"]
    out = ch.send(update, rng=np.random.default_rng(3))
    assert out.delivered and out.received is not None
    np.testing.assert_array_equal(out.received, ENC.decode(ENC.encode(update)))
    led = out.ledger
    first_pass = ch.codec.layout(3000 * 16).channel_bits  # the last block is shortened
    assert led.payload_bits == 3000 * 16
    assert first_pass <= led.payload_qubits <= first_pass + led.retransmissions * ch.codec.code.n
    assert led.bell_pairs == led.payload_qubits + led.check_pairs + led.purification_pairs


def test_fec_under_intercept_resend_is_detected_and_not_delivered() -> None:
    ch = TeleportationChannel(
        LinkSpec(WernerPair(0.97)), fec="auto", eavesdropper=InterceptResend(fraction=1.0)
    )
    out = ch.send(sample_update(500), rng=np.random.default_rng(5))
    assert not out.delivered and out.verdict.detected
    assert out.verdict.reason == "qber-above-threshold"
    assert out.ledger.payload_qubits == 0 and out.ledger.bell_pairs > out.ledger.check_pairs


def test_a_block_that_never_decodes_is_rejected_by_the_safety_net(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = TeleportationChannel(LinkSpec(WernerPair(0.99)), fec="auto", max_retransmissions=1)
    assert ch.codec is not None
    real = ch.codec.decode_blocks

    def first_block_fails(received: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data, failed = real(received)
        failed = failed.copy()
        failed[0] = True
        return data, failed

    monkeypatch.setattr(ch.codec, "decode_blocks", first_block_fails)
    out = ch.send(sample_update(800), rng=np.random.default_rng(6))
    assert not out.delivered and out.received is None
    assert out.verdict.reason == "safety-net-flagged" and not out.verdict.detected
    assert out.ledger.retransmissions == 1  # the failing block was sent once more


def test_qkd_over_a_purified_link_counts_purification_pairs() -> None:
    from qtfl.channel.qkd import QkdOtpChannel

    schedule = purify_until(WernerPair(0.86), target_fidelity=0.97)
    link = PurifiedLink(LinkSpec(WernerPair(0.86)), schedule)
    out = QkdOtpChannel(link).send(sample_update(300), rng=np.random.default_rng(7))
    led = out.ledger
    assert out.delivered and led.purification_pairs > 0
    measured = led.bell_pairs - led.purification_pairs  # pairs the key protocol measured
    assert led.bell_pairs / measured == pytest.approx(schedule.expected_pairs, rel=0.05)


@pytest.mark.parametrize(
    "pair",
    [WernerPair(0.97), BellDiagonalPair([0.9, 0.01, 0.03, 0.06])],
    ids=["werner", "bell-diagonal"],
)
def test_untouched_check_errors_follow_each_bases_qber(pair: BellDiagonalPair) -> None:
    # Prepare: many checks on untouched pairs (Z and X bases at random)
    protocol = VerifiedTeleport(LinkSpec(pair), verification=Verification(check_fraction=0.5))
    rng, secret = np.random.default_rng(3), np.random.default_rng(4)
    errors = {0: [0, 0], 1: [0, 0]}  # basis -> [errors, checks]
    # Execute
    for _ in range(20):
        sample = protocol.distribute(20_000, rng=rng, secret_rng=secret)
        checks = protocol.measure_checks(sample, rng=rng, secret_rng=secret)
        for basis in (0, 1):
            sel = checks.bases == basis
            errors[basis][0] += int(checks.errors[sel].sum())
            errors[basis][1] += int(sel.sum())
    # Assert: each basis's error count is Binomial(checks, its QBER) (4 sigma)
    for basis, q in ((0, pair.qber_z), (1, pair.qber_x)):
        e, k = errors[basis]
        assert abs(e - k * q) <= 4 * math.sqrt(k * q * (1 - q))
