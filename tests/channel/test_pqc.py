"""The post-quantum hybrid channel: exact round trip, tamper rejection, sizes and timing."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import qtfl.channel.pqc as pqc
from qtfl.channel.pqc import (
    HELLO_BYTES,
    NONCE_BYTES,
    REPLY_BYTES,
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
    wire = HELLO_BYTES + REPLY_BYTES + NONCE_BYTES + 4 * update.size + TAG_BYTES
    assert HELLO_BYTES == 32 + 1184 and REPLY_BYTES == 32 + 1088  # X25519 + ML-KEM-768 sizes
    assert out.ledger.classical_bits == 8 * wire
    assert out.ledger.payload_bits == 32 * update.size
    assert out.ledger.link_seconds == pytest.approx(3 * 0.01 + 8 * wire / 1e6)
    assert out.ledger.bell_pairs == 0 and out.ledger.payload_qubits == 0
    assert out.tap.kind == "ciphertext" and out.tap.observed.size == wire


def test_tampered_ciphertext_is_rejected() -> None:
    update = sample_update(64)
    sender, receiver = PqcSender(), PqcReceiver()
    reply = receiver.respond(sender.hello)
    sealed = bytearray(sender.seal(update, reply))
    for position in (0, NONCE_BYTES + 3, len(sealed) - 1):  # nonce, body, tag
        forged = bytearray(sealed)
        forged[position] ^= 0x01
        assert receiver.open(bytes(forged)) is None
    assert receiver.open(bytes(sealed[:10])) is None
    opened = receiver.open(bytes(sealed))
    assert opened is not None
    np.testing.assert_array_equal(opened, update)


def test_reply_for_another_hello_does_not_open() -> None:
    # A man in the middle who answers with his own shares yields a key the server lacks.
    update = sample_update(32)
    sender, server, mitm = PqcSender(), PqcReceiver(), PqcReceiver()
    server.respond(sender.hello)
    sealed = sender.seal(update, mitm.respond(sender.hello))
    assert server.open(sealed) is None


def test_bad_handshake_messages_raise_one_clear_error() -> None:
    with pytest.raises(HandshakeError, match=f"hello must be {HELLO_BYTES} bytes"):
        PqcReceiver().respond(b"\x00" * 10)
    with pytest.raises(HandshakeError, match=f"reply must be {REPLY_BYTES} bytes"):
        PqcSender().seal(sample_update(4), b"\x00" * 3)
    with pytest.raises(HandshakeError, match="before respond"):
        PqcReceiver().open(b"\x00" * 64)


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
