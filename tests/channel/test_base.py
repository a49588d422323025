from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel import Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.errors import InputError


def test_ledger_adds_field_by_field() -> None:
    a = Ledger(
        payload_bits=10,
        payload_qubits=3,
        bell_pairs=5,
        check_pairs=2,
        classical_bits=6,
        link_seconds=0.5,
    )
    b = Ledger(
        payload_bits=1, bell_pairs=1, purification_pairs=1, link_seconds=0.25, retransmissions=1
    )
    s = a + b
    assert s == Ledger(
        payload_bits=11,
        payload_qubits=3,
        bell_pairs=6,
        check_pairs=2,
        purification_pairs=1,
        classical_bits=6,
        link_seconds=0.75,
        retransmissions=1,
    )
    assert sum([a, b], Ledger()) == s


def test_ledger_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="bell_pairs"):
        Ledger(bell_pairs=-1)


def test_delivery_received_iff_accepted() -> None:
    with pytest.raises(ValueError, match="exactly when"):
        Delivery(received=None, ledger=Ledger(), verdict=Verdict.ok(), tap=Tap("x"))
    with pytest.raises(ValueError, match="exactly when"):
        Delivery(
            received=np.zeros(1, np.float32),
            ledger=Ledger(),
            verdict=Verdict.abort("qber-above-threshold", detected=True),
            tap=Tap("x"),
        )


def test_plain_channel_is_exact_and_fully_tapped() -> None:
    update = np.array([0.5, -1.25, 3e-8], np.float32)
    out = PlainChannel(latency_s=0.01, bandwidth_bps=96.0).send(
        update, rng=np.random.default_rng(0)
    )
    assert out.received is not None
    np.testing.assert_array_equal(out.received, update)
    # The tap sees the exact bytes: the attacker recovers the update bit for bit.
    np.testing.assert_array_equal(out.tap.observed.view(np.float32), update)
    assert out.ledger.classical_bits == 96 and out.ledger.payload_qubits == 0
    assert out.ledger.link_seconds == pytest.approx(0.01 + 96 / 96.0)


def test_plain_channel_rejects_bad_parameters() -> None:
    with pytest.raises(InputError, match=r"latency_s must be in \[0, inf\), got -1"):
        PlainChannel(latency_s=-1)
    with pytest.raises(InputError, match=r"bandwidth_bps must be in \(0, inf\)"):
        PlainChannel(bandwidth_bps=0)
