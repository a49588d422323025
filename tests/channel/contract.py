"""The shared Channel contract suite: every Channel in qtfl must pass it.

Add a factory for a new channel to ``CHANNEL_FACTORIES`` in ``test_contract.py``; each check
below then runs against it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qtfl.channel import Channel, Delivery, Ledger, Tap, Verdict
from qtfl.errors import InputError


def sample_update(size: int = 257, seed: int = 0) -> np.ndarray:
    """A model-update-like vector: small Gaussian values, a few larger ones."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.01, size).astype(np.float32)
    u[:: max(1, size // 7)] *= 20.0
    return u


def check_returns_delivery(channel: Channel) -> None:
    update = sample_update()
    out = channel.send(update, rng=np.random.default_rng(1))
    assert isinstance(out, Delivery)
    assert isinstance(out.ledger, Ledger)
    assert isinstance(out.verdict, Verdict)
    assert isinstance(out.tap, Tap)
    assert out.tap.observed.dtype == np.uint8
    if out.delivered:
        assert out.received is not None
        assert out.received.dtype == np.float32
        assert out.received.shape == update.shape
        assert np.isfinite(out.received).all()
    else:
        assert out.received is None


def check_ledger_counts_payload(channel: Channel) -> None:
    update = sample_update(100)
    out = channel.send(update, rng=np.random.default_rng(2))
    led = out.ledger
    assert led.payload_bits > 0
    assert led.classical_bits >= 0 and led.link_seconds >= 0.0
    # Pairs consumed are never fewer than the payload qubits plus the checks and purification.
    assert led.bell_pairs >= led.payload_qubits + led.check_pairs + led.purification_pairs - 0
    total = led + led
    for f in dataclasses.fields(Ledger):
        assert getattr(total, f.name) == pytest.approx(2 * getattr(led, f.name))


def check_reproducible(channel: Channel) -> None:
    update = sample_update(300, seed=5)
    a = channel.send(update, rng=np.random.default_rng(7))
    b = channel.send(update, rng=np.random.default_rng(7))
    assert a.ledger == b.ledger
    assert a.verdict == b.verdict
    if channel.wire_reproducible:
        np.testing.assert_array_equal(a.tap.observed, b.tap.observed)
    else:  # fresh CSPRNG keys and nonces: same length on the wire, different bytes
        assert a.tap.observed.shape == b.tap.observed.shape
        assert not np.array_equal(a.tap.observed, b.tap.observed)
    if a.delivered:
        assert b.received is not None and a.received is not None
        np.testing.assert_array_equal(a.received, b.received)


def check_does_not_mutate(channel: Channel) -> None:
    update = sample_update()
    before = update.copy()
    out = channel.send(update, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(update, before)
    if out.received is not None:
        assert not np.shares_memory(out.received, update)


def check_rejects_bad_updates(channel: Channel) -> None:
    rng = np.random.default_rng(4)
    for bad, words in [
        (np.array([1.0, np.nan], np.float32), "finite"),
        (np.array([1.0, np.inf], np.float32), "finite"),
        (np.zeros((2, 2), np.float32), "1-D"),
        (np.zeros(0, np.float32), "at least one"),
        (np.array(["a", "b"]), "real numbers"),
    ]:
        with pytest.raises(InputError, match=words):
            channel.send(bad, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        channel.send(sample_update(), rng=42)  # type: ignore[arg-type]


CONTRACT_CHECKS = [
    check_returns_delivery,
    check_ledger_counts_payload,
    check_reproducible,
    check_does_not_mutate,
    check_rejects_bad_updates,
]
