"""TeleportationChannel: verify-then-teleport, ledger, retries, attackers, bad input.

Statistical checks use fixed seeds and 4-sigma tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.channel.teleportation import LinkSpec, TeleportationChannel, Verification
from qtfl.errors import InputError
from qtfl.quantum.encoding import BasisEncoding
from qtfl.quantum.noise import WernerPair
from qtfl.security.detection import check_count
from qtfl.security.eavesdropper import ClassicalTap, EntanglingMitm, InterceptResend
from qtfl.security.run_secret import LinkSecret
from tests.channel.contract import sample_update

ENC = BasisEncoding(bits=16)


def test_honest_noise_free_link_delivers_the_encoded_update_with_exact_ledger() -> None:
    update = sample_update(300)
    link = LinkSpec(WernerPair(1.0), pair_rate_hz=1e4, latency_s=2e-3)
    ch = TeleportationChannel(link, verification=Verification(check_fraction=0.2))
    out = ch.send(update, rng=np.random.default_rng(0))
    assert out.delivered and out.received is not None
    np.testing.assert_array_equal(out.received, ENC.decode(ENC.encode(update)))
    n = 300 * 16
    k = check_count(n, 0.2)
    led = out.ledger
    assert (led.payload_bits, led.payload_qubits, led.check_pairs) == (n, n, k)
    assert led.bell_pairs == n + k and led.retransmissions == 0
    assert led.classical_bits == k * math.ceil(math.log2(n + k)) + 2 * k + 1 + 2 * n + 32
    assert led.link_seconds == pytest.approx((n + k) / 1e4 + 3 * 2e-3)
    v = out.verdict
    assert (v.qber, v.qber_bound, v.p_value, v.attempts, v.detected) == (0.0, 0.0, 1.0, 1, False)
    assert out.tap.kind == "bell-measurement-bits" and out.tap.payload_guess is None
    assert out.tap.observed.size == 2 * n // 8


def test_compiled_fiber_link_is_accepted() -> None:
    from qtfl.network import FiberLink

    link = FiberLink(distance_km=10.0, source_rate_hz=1e6).compile()
    out = TeleportationChannel(link).send(sample_update(50), rng=np.random.default_rng(1))
    assert out.ledger.link_seconds >= out.ledger.bell_pairs / link.pair_rate_hz


def test_tap_alone_gives_eve_half_the_payload_bits() -> None:
    update = sample_update(2000, seed=1)
    ch = TeleportationChannel(LinkSpec(WernerPair(0.99)), eavesdropper=ClassicalTap())
    rep = ch.transmit(update, rng=np.random.default_rng(2))
    assert rep.delivery.delivered and rep.transfer.leakage is not None
    n = rep.transfer.leakage.n_bits
    assert abs(rep.transfer.leakage.agreement - 0.5) <= 4 * math.sqrt(0.25 / n)


def test_random_intercept_resend_on_all_pairs_is_detected_and_payload_not_sent() -> None:
    ch = TeleportationChannel(
        LinkSpec(WernerPair(1.0)),
        verification=Verification(check_fraction=0.1, max_retries=2),
        eavesdropper=InterceptResend(fraction=1.0, basis="random"),
    )
    rep = ch.transmit(sample_update(500), rng=np.random.default_rng(3))
    out = rep.delivery
    assert not out.delivered and out.verdict.detected
    assert out.verdict.reason == "qber-above-threshold" and out.verdict.attempts == 3
    k = rep.transfer.checks.n_checks
    assert abs(rep.transfer.checks.qber - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / k)
    assert out.verdict.p_value == 0.0
    led = out.ledger
    assert led.payload_qubits == 0  # the payload was never teleported
    assert led.bell_pairs == 3 * (500 * 16 + k) and led.retransmissions == 2
    assert out.tap.payload_guess is None and out.tap.kind == "check-announcements"


def test_z_basis_eve_would_leave_payload_intact_yet_x_checks_catch_her() -> None:
    ch = TeleportationChannel(
        LinkSpec(WernerPair(1.0)), eavesdropper=InterceptResend(fraction=1.0, basis="z")
    )
    rep = ch.transmit(sample_update(200), rng=np.random.default_rng(4))
    assert not rep.delivery.delivered and rep.delivery.verdict.detected
    k = rep.transfer.checks.n_checks
    assert abs(rep.transfer.checks.qber - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / k)


def test_small_undetected_attack_leaks_within_the_qber_bound() -> None:
    """A noisy link hides a 1% MITM; whatever Eve learns stays under n h(Q_X).

    A fixed link secret (check positions): with a fresh one per run the checks reject this
    link in about 2% of runs (4 of 200 measured), as a test at alpha = 0.01 may."""
    ch = TeleportationChannel(
        LinkSpec(WernerPair(0.95)),
        verification=Verification(alpha=0.01),
        eavesdropper=EntanglingMitm(fraction=0.01),
        secret=LinkSecret(bytes(range(32))),
    )
    rep = ch.transmit(sample_update(3000), rng=np.random.default_rng(5))
    assert rep.delivery.delivered and rep.transfer.leakage is not None
    assert rep.transfer.leakage.bound_bits is not None
    assert 0.0 < rep.transfer.leakage.information_bits <= rep.transfer.leakage.bound_bits


def test_chsh_option_aborts_a_link_that_cannot_violate_bell() -> None:
    """~690 checks: Hoeffding margins of ~0.1 per basis leave room only for a clean link."""
    update, rng = sample_update(100), np.random.default_rng(6)
    checks = Verification(check_fraction=0.3, alpha=0.01, chsh=True)
    link = LinkSpec(WernerPair(0.8))  # S = 2√2·V = 2.07: too close to 2 for the margins
    plain = TeleportationChannel(link, verification=Verification(check_fraction=0.3))
    assert plain.send(update, rng=rng).delivered
    out = TeleportationChannel(link, verification=checks).send(update, rng=rng)
    assert not out.delivered and out.verdict.reason == "chsh-not-violated"
    good = TeleportationChannel(LinkSpec(WernerPair(1.0)), verification=checks)
    assert good.send(update, rng=rng).delivered


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"check_fraction": 0.0}, "check_fraction"),
        ({"check_fraction": 1.0}, "check_fraction"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.2}, "alpha"),
        ({"max_retries": -1}, "max_retries"),
        ({"method": "bayes"}, "detection method"),
    ],
)
def test_bad_verification_settings_raise_input_error(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        Verification(**kwargs)


def test_bad_link_raises_input_error() -> None:
    with pytest.raises(InputError, match="BellDiagonalPair"):
        TeleportationChannel(object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="pair_rate_hz"):
        LinkSpec(WernerPair(0.9), pair_rate_hz=0.0)


def test_channel_false_alarm_rate_matches_the_exact_binomial_tail() -> None:
    """400 honest sends at F = 0.95 without retries: abort rate vs P(Bin(k, q) > c) <= alpha."""
    link = LinkSpec(WernerPair(0.95))
    ch = TeleportationChannel(
        link, bits=8, verification=Verification(check_fraction=0.2, alpha=0.1, max_retries=0)
    )
    update, sends = sample_update(20), 400
    rng = np.random.default_rng(12)
    aborts = sum(not ch.send(update, rng=rng).delivered for _ in range(sends))
    k = check_count(20 * 8, 0.2)
    exact = ch.protocol.test.false_alarm(k)
    assert exact <= 0.1
    assert abs(aborts / sends - exact) <= 4 * math.sqrt(exact * (1 - exact) / sends)
