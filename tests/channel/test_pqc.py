"""The post-quantum hybrid channel: exact round trip, tamper rejection, sizes and timing."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import qtfl.channel.pqc as pqc
from qtfl.channel.pqc import (
    ANNOUNCE_BYTES,
    NONCE_BYTES,
    SHARES_BYTES,
    TAG_BYTES,
    HandshakeError,
    PqcChannel,
    PqcReceiver,
    PqcSender,
)
from tests.channel.contract import sample_update


def test_round_trip_is_exact_and_ledger_counts_every_byte() -> None:
    update = sample_update(1000)
    out = PqcChannel(latency_s=0.01, bandwidth_bps=1e6).send(update, rng=np.random.default_rng(0))
    assert out.delivered and out.received is not None
    np.testing.assert_array_equal(out.received, update)
    wire = ANNOUNCE_BYTES + SHARES_BYTES + NONCE_BYTES + 4 * update.size + TAG_BYTES
    assert ANNOUNCE_BYTES == 32 + 1184 and SHARES_BYTES == 32 + 1088  # X25519 + ML-KEM-768
    assert out.ledger.classical_bits == 8 * wire
    assert out.ledger.payload_bits == 32 * update.size
    assert out.ledger.link_seconds == pytest.approx(2 * 0.01 + 8 * wire / 1e6)
    assert out.ledger.bell_pairs == 0 and out.ledger.payload_qubits == 0
    assert out.tap.kind == "ciphertext" and out.tap.observed.size == wire


def test_tampered_ciphertext_is_rejected() -> None:
    update = sample_update(64)
    receiver = PqcReceiver()
    sealed = bytearray(PqcSender.seal(update, receiver.announcement))
    # X25519 share, ML-KEM ciphertext, nonce, body, tag
    for position in (0, 40, SHARES_BYTES, SHARES_BYTES + NONCE_BYTES + 3, len(sealed) - 1):
        forged = bytearray(sealed)
        forged[position] ^= 0x01
        assert receiver.open(bytes(forged)) is None
    assert receiver.open(bytes(sealed[:10])) is None
    assert receiver.open(bytes(32) + bytes(sealed[32:])) is None  # a low-order X25519 point
    opened = receiver.open(bytes(sealed))
    assert opened is not None
    np.testing.assert_array_equal(opened, update)


def test_update_sealed_to_other_keys_does_not_open() -> None:
    # A man in the middle who announces his own keys gets an update the server cannot open.
    update = sample_update(32)
    server, mitm = PqcReceiver(), PqcReceiver()
    sealed = PqcSender.seal(update, mitm.announcement)
    assert server.open(sealed) is None
    assert mitm.open(sealed) is not None  # (what authentication of the keys must prevent)


def test_bad_announcement_raises_one_clear_error() -> None:
    with pytest.raises(HandshakeError, match=f"announcement must be {ANNOUNCE_BYTES} bytes"):
        PqcSender.seal(sample_update(4), b"\x00" * 3)


def test_wire_is_fresh_on_every_send_yet_the_update_is_not() -> None:
    update = sample_update(16)
    ch = PqcChannel()
    a = ch.send(update, rng=np.random.default_rng(3))
    b = ch.send(update, rng=np.random.default_rng(3))
    assert a.received is not None and b.received is not None
    np.testing.assert_array_equal(a.received, b.received)
    # Fresh ephemeral keys: no 32-byte share repeats between the two exchanges.
    assert bytes(a.tap.observed[:32]) != bytes(b.tap.observed[:32])
    # The plaintext bytes never appear on the wire.
    assert update.tobytes() not in bytes(a.tap.observed)


def test_doctest() -> None:
    assert doctest.testmod(pqc).failed == 0
