"""Attacker views read only Delivery.tap or Delivery.received."""

from __future__ import annotations

import numpy as np

from qtfl.attacks.views import ViewContext, attacker_view
from qtfl.channel import AeadChannel, Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.quantum.encoding import BasisEncoding


def test_plaintext_view_is_the_update_and_ciphertext_is_not() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(0, 1, 500).astype(np.float32)
    ctx = ViewContext(n_values=u.size)
    plain = attacker_view("eavesdropper", PlainChannel().send(u, rng=rng), ctx)
    np.testing.assert_array_equal(plain, u)
    seen = attacker_view("eavesdropper", AeadChannel.from_rng(rng).send(u, rng=rng), ctx)
    assert seen is not None and np.isfinite(seen).all()
    assert abs(np.corrcoef(seen[np.abs(seen) < 1e30], u[np.abs(seen) < 1e30])[0, 1]) < 0.2


def test_bell_view_decodes_a_correct_guess_to_the_quantised_update() -> None:
    rng = np.random.default_rng(1)
    u = rng.normal(0, 1, 300).astype(np.float32)
    enc = BasisEncoding(bits=12)
    payload = enc.encode(u)
    tap = Tap(kind="bell-measurement-bits", payload_guess=payload.bit_array())
    d = Delivery(received=u, ledger=Ledger(), verdict=Verdict.ok(), tap=tap)
    ctx = ViewContext(n_values=u.size, encoding_bits=12, header_max_abs=payload.max_abs)
    np.testing.assert_array_equal(attacker_view("eavesdropper", d, ctx), enc.decode(payload))
    np.testing.assert_array_equal(attacker_view("server", d, ctx), u)


def test_no_payload_no_view() -> None:
    d = Delivery(
        received=None,
        ledger=Ledger(),
        verdict=Verdict.abort("qber-above-threshold", detected=True),
        tap=Tap(kind="check-announcements"),
    )
    ctx = ViewContext(n_values=10)
    assert attacker_view("eavesdropper", d, ctx) is None
    assert attacker_view("server", d, ctx) is None


def test_qkd_otp_tap_decodes_to_an_uncorrelated_update() -> None:
    # the one-time pad under a key Eve does not hold: her decoded update is uncorrelated
    # with the truth (|r| below 4/sqrt(n) for n = 2000 values)
    from qtfl.channel.qkd import QkdOtpChannel
    from qtfl.channel.verified import LinkSpec
    from qtfl.quantum.noise import WernerPair
    from qtfl.security.eavesdropper import ClassicalTap

    rng = np.random.default_rng(2)
    u = rng.normal(0, 1, 2000).astype(np.float32)
    channel = QkdOtpChannel(LinkSpec(WernerPair(0.99)), bits=16, eavesdropper=ClassicalTap())
    d = channel.send(u, rng=rng)
    assert d.tap.kind == "one-time-pad-ciphertext"
    ctx = ViewContext(n_values=u.size, header_max_abs=float(np.abs(u).max()))
    seen = attacker_view("eavesdropper", d, ctx)
    assert seen is not None and seen.shape == u.shape
    assert abs(np.corrcoef(seen, u)[0, 1]) < 4 / np.sqrt(u.size)
