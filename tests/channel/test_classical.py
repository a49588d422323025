from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qtfl.channel import AeadChannel
from qtfl.errors import InputError


def test_aead_delivers_exactly_and_tap_sees_only_ciphertext() -> None:
    rng = np.random.default_rng(0)
    channel = AeadChannel.from_rng(rng)
    update = np.linspace(-1, 1, 4096, dtype=np.float32)
    out = channel.send(update, rng=rng)
    assert out.received is not None
    np.testing.assert_array_equal(out.received, update)
    wire = out.tap.observed
    assert out.tap.kind == "ciphertext"
    assert wire.size == 12 + update.nbytes + 16
    assert out.ledger.classical_bits == 8 * wire.size
    assert out.ledger.payload_bits == 8 * update.nbytes
    # The plaintext bytes are highly structured; the ciphertext bytes are uniform
    # (chi-square over 256 byte values, 16,384 bytes; p > 1e-4 at this fixed seed).
    body = wire[12:-16]
    assert not np.array_equal(body, np.frombuffer(update.tobytes(), np.uint8))
    counts = np.bincount(body, minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-4
    plain_counts = np.bincount(np.frombuffer(update.tobytes(), np.uint8), minlength=256)
    assert stats.chisquare(plain_counts).pvalue < 1e-12


def test_aead_fresh_nonce_each_message() -> None:
    rng = np.random.default_rng(1)
    channel = AeadChannel.from_rng(rng)
    update = np.ones(8, np.float32)
    a = channel.send(update, rng=rng).tap.observed
    b = channel.send(update, rng=rng).tap.observed
    assert not np.array_equal(a[:12], b[:12])
    assert not np.array_equal(a[12:], b[12:])


def test_aead_receiver_rejects_forgery() -> None:
    rng = np.random.default_rng(2)
    channel = AeadChannel.from_rng(rng)
    wire = channel.send(np.ones(8, np.float32), rng=rng).tap.observed.tobytes()
    forged = bytearray(wire)
    forged[20] ^= 0x01
    assert channel._receive(bytes(forged)) is None
    other = AeadChannel.from_rng(np.random.default_rng(3))
    assert other._receive(wire) is None
    received = channel._receive(wire)
    assert received is not None
    np.testing.assert_array_equal(received, np.ones(8, np.float32))


def test_aead_rejects_bad_keys() -> None:
    with pytest.raises(InputError, match="16, 24 or 32 bytes, got 5"):
        AeadChannel(key=b"short")
    with pytest.raises(InputError, match="got str"):
        AeadChannel(key="0" * 32)  # type: ignore[arg-type]
