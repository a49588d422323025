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
