"""The teleportation channel split into its two ends (qtfl.channel.split).

Prepare/Execute/Assert: one link sample per key; the sender sees only its half, the
receiver only its half; together they reproduce TeleportationChannel.send bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qtfl.channel.split import (
    LinkKey,
    ReceiverHalf,
    SenderHalf,
    SplitReceiver,
    SplitSender,
    receiver_half,
    sender_half,
    simulate_link,
)
from qtfl.channel.teleportation import TeleportationChannel, Verification
from qtfl.channel.verified import LinkSpec
from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import make_eavesdropper


def _split_send(channel: TeleportationChannel, update: np.ndarray, key: LinkKey):
    sender = SplitSender(channel.protocol, channel.encoding)
    receiver = SplitReceiver(channel.protocol, channel.encoding)
    n = sender.payload_bits(update.size)
    tx = sender_half(channel.protocol, n, key, channel.secret)
    rx = receiver_half(channel.protocol, n, key, channel.secret)
    message = sender.transmit(update, tx, receiver.announce(rx))
    return message, receiver.receive(message, rx)


@pytest.mark.parametrize(
    ("fidelity", "eve", "fraction"),
    [(1.0, "none", None), (0.93, "none", None), (0.97, "intercept-resend", 0.02),
     (0.97, "intercept-resend", 1.0), (0.97, "tap", None)],
)  # fmt: skip
def test_split_reproduces_the_whole_channel_bit_for_bit(fidelity, eve, fraction) -> None:
    # Prepare: one update, one key, the same channel in both forms
    update = np.random.default_rng(1).normal(0, 0.1, 300).astype(np.float32)
    channel = TeleportationChannel(
        LinkSpec(WernerPair(fidelity), pair_rate_hz=1e5, latency_s=1e-3),
        bits=8,
        verification=Verification(check_fraction=0.2, max_retries=1),
        eavesdropper=make_eavesdropper(eve, fraction=fraction),
    )
    key = LinkKey(seed=7, scenario="s", round=3, client=2)
    # Execute
    whole = channel.send(update, rng=key.rng())
    _, split = _split_send(channel, update, key)
    # Assert: same verdict, ledger, wire and decoded update
    assert split.verdict == whole.verdict
    assert split.ledger == whole.ledger
    if whole.received is None:
        assert split.received is None
    else:
        np.testing.assert_array_equal(split.received, whole.received)
        np.testing.assert_array_equal(split.tap.observed, whole.tap.observed)


def test_full_intercept_resend_is_rejected_by_the_receiver() -> None:
    channel = TeleportationChannel(
        LinkSpec(WernerPair(0.99)), bits=8,
        eavesdropper=make_eavesdropper("intercept-resend", fraction=1.0),
    )  # fmt: skip
    update = np.linspace(-1, 1, 200, dtype=np.float32)
    message, delivery = _split_send(channel, update, LinkKey(0, "eve", 1, 0))
    assert message.bell_bits is None  # verify-then-teleport: nothing teleported
    assert not delivery.verdict.accepted and delivery.verdict.detected
    assert delivery.verdict.attempts == channel.protocol.verification.max_retries + 1


def test_each_half_holds_only_its_own_records() -> None:
    # the types themselves: the sender half has no raw outcomes, the receiver no Bell frame
    sender_fields = {f.name for f in dataclasses.fields(SenderHalf)}
    receiver_fields = {f.name for f in dataclasses.fields(ReceiverHalf)}
    assert "raw" not in sender_fields and "bell_frame" not in receiver_fields
    channel = TeleportationChannel(LinkSpec(WernerPair(0.95)), bits=8)
    protocol = channel.protocol
    rng = LinkKey(1, "x", 1, 1).rng()
    joint = simulate_link(protocol, 800, rng=rng, secret_rng=channel.secret.for_transfer(rng))
    # the two ends' check outcomes differ (noise) and are not copies of one another
    assert any((a.outcomes != b.outcomes).any() for a, b in
               zip(joint.sender.checks, joint.receiver.checks, strict=True))  # fmt: skip
    # the sender's message is a function of its half and the receiver's announcements only:
    # any receiver raw outcomes give the same message
    update = np.random.default_rng(2).normal(size=100).astype(np.float32)
    announced = SplitReceiver.announce(joint.receiver)
    sender = SplitSender(protocol, channel.encoding)
    m1 = sender.transmit(update, joint.sender, announced)
    m2 = sender.transmit(update, joint.sender, announced)
    np.testing.assert_array_equal(m1.bell_bits, m2.bell_bits)
    # the receiver cannot decode without the sender's Bell bits: its raw outcomes alone are
    # uncorrelated with the payload (agreement 1/2 within 4 sigma)
    bits = channel.encoding.encode(update).bit_array()
    assert joint.receiver.raw is not None
    agree = float((joint.receiver.raw == bits).mean())
    assert abs(agree - 0.5) < 4 * 0.5 / np.sqrt(bits.size)


def test_bell_bits_are_uniform_whatever_the_payload() -> None:
    # Prepare: two very different payloads (all +max and all -max) through the same link
    channel = TeleportationChannel(LinkSpec(WernerPair(0.98)), bits=16)
    n_values = 4000
    sender = SplitSender(channel.protocol, channel.encoding)
    n = sender.payload_bits(n_values)
    key = LinkKey(3, "u", 1, 0)
    tx = sender_half(channel.protocol, n, key, channel.secret)
    rx = receiver_half(channel.protocol, n, key, channel.secret)
    out = []
    for value in (1.0, -1.0):
        m = sender.transmit(np.full(n_values, value, np.float32), tx, SplitReceiver.announce(rx))
        assert m.bell_bits is not None
        out.append(m.bell_bits)
    # Assert: each Bell bit is 1 half the time (4 sigma), for either payload
    for bell in out:
        for col in range(2):
            assert abs(bell[:, col].mean() - 0.5) < 4 * 0.5 / np.sqrt(n)


def test_a_mismatched_message_is_refused() -> None:
    channel = TeleportationChannel(LinkSpec(WernerPair(0.99)), bits=8)
    sender = SplitSender(channel.protocol, channel.encoding)
    tx = sender_half(channel.protocol, 80, LinkKey(0, "a", 1, 0), channel.secret)
    rx = receiver_half(channel.protocol, 80, LinkKey(0, "a", 1, 0), channel.secret)
    with pytest.raises(InputError, match="80 bits"):
        sender.transmit(np.zeros(20, np.float32), tx, SplitReceiver.announce(rx))
