"""Batched FEC decoding across sends: the same blocks and the same Deliveries as one by one."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel import PlainChannel
from qtfl.channel.base import Delivery
from qtfl.channel.batched import send_batched
from qtfl.channel.crc import crc32_bits
from qtfl.channel.fec import (
    DecodeRequest,
    FecCodec,
    binary_symmetric_channel,
    decode_many,
)
from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import InterceptResend
from qtfl.security.run_secret import LinkSecret
from tests.channel.contract import sample_update


def _received(codec: FecCodec, blocks: int, p: float, rng: np.random.Generator) -> np.ndarray:
    code = codec.code
    data = rng.integers(0, 2, (blocks, code.data_bits), dtype=np.uint8)
    words = code.encode(np.concatenate([data, crc32_bits(data)], axis=1))
    return binary_symmetric_channel(words, p=p, rng=rng)


def test_decode_many_equals_decoding_each_request_alone_block_for_block() -> None:
    # Prepare: five "clients" on two codes and two priors; two send blocks noisier than
    # their code corrects, so failed blocks (min-sum and sum-product give up) are included
    rng = np.random.default_rng(2026)
    c23 = FecCodec("ldpc-2/3", bit_error_rate=0.03)
    c23b = FecCodec("ldpc-2/3", bit_error_rate=0.03, threads=2)
    c23p = FecCodec("ldpc-2/3", bit_error_rate=0.02)
    c910 = FecCodec("ldpc-9/10", bit_error_rate=0.004)
    requests = [
        DecodeRequest(c23, _received(c23, 22, 0.03, rng)),
        DecodeRequest(c910, _received(c910, 30, 0.004, rng)),
        DecodeRequest(c23b, _received(c23b, 40, 0.045, rng)),
        DecodeRequest(c23p, _received(c23p, 7, 0.02, rng)),
        DecodeRequest(c910, _received(c910, 25, 0.008, rng)),
    ]
    # Execute
    batched = decode_many(requests)
    alone = [r.codec.decode_blocks(r.blocks) for r in requests]
    # Assert: equal data and failure masks for every block of every request
    assert len(batched) == len(requests)
    for (data, failed), (ref_data, ref_failed), req in zip(batched, alone, requests, strict=True):
        assert data.shape == (req.blocks.shape[0], req.codec.code.data_bits)
        np.testing.assert_array_equal(failed, ref_failed)
        np.testing.assert_array_equal(data, ref_data)
    failures = [int(f.sum()) for _, f in alone]
    assert failures[0] == 0 and failures[3] == 0  # at their design rate: all decode
    assert failures[2] > 0 and failures[4] > 0  # the noisy ones: some blocks fail


def test_decode_many_refuses_blocks_of_the_wrong_length() -> None:
    codec = FecCodec("ldpc-2/3", bit_error_rate=0.03)
    with pytest.raises(InputError, match=r"shape \(B, 4000\)"):
        decode_many([DecodeRequest(codec, np.zeros((2, 3999), np.uint8))])


def _channels(
    secrets: list[bytes],
) -> list[TeleportationChannel | PlainChannel]:
    link = LinkSpec(WernerPair(0.948), pair_rate_hz=1e6)
    return [
        TeleportationChannel(link, fec="ldpc-2/3", secret=LinkSecret(secrets[0])),
        TeleportationChannel(link, fec="ldpc-2/3", secret=LinkSecret(secrets[1])),
        PlainChannel(),  # no send_steps: sent as it comes
        TeleportationChannel(LinkSpec(WernerPair(0.99)), fec="auto", secret=LinkSecret(secrets[2])),
        TeleportationChannel(link, secret=LinkSecret(secrets[3])),  # no FEC: no decoding
        TeleportationChannel(
            LinkSpec(WernerPair(0.99)),
            fec="auto",
            eavesdropper=InterceptResend(fraction=1.0),
            secret=LinkSecret(secrets[4]),
        ),
        TeleportationChannel(link, fec="ldpc-2/3", secret=LinkSecret(secrets[5])),
        # no FEC blocks to yield: analog readout, and qec under FEC over logical bits
        TeleportationChannel(link, encoding="angle", shots=64, secret=LinkSecret(secrets[0])),
        TeleportationChannel(
            LinkSpec(WernerPair(0.97)), qec="bit-flip", fec="auto", secret=LinkSecret(secrets[1])
        ),
    ]


def _assert_same(a: Delivery, b: Delivery) -> None:
    assert a.verdict == b.verdict
    assert a.ledger == b.ledger
    assert (a.received is None) == (b.received is None)
    if a.received is not None and b.received is not None:
        np.testing.assert_array_equal(a.received, b.received)
    assert a.tap.kind == b.tap.kind and a.tap.information_bits == b.tap.information_bits
    np.testing.assert_array_equal(a.tap.observed, b.tap.observed)


def test_send_batched_equals_sending_one_after_the_other() -> None:
    # Prepare: the same channels (same link secrets) twice, one keyed generator per job
    secrets = [bytes([i + 1]) * 32 for i in range(6)]
    updates = [sample_update(2000 + 300 * i, seed=i) for i in range(9)]
    resent = 0
    for seed in range(3):
        jobs_a = [
            (ch, u, np.random.default_rng([seed, k]))
            for k, (ch, u) in enumerate(zip(_channels(secrets), updates, strict=True))
        ]
        jobs_b = [
            (ch, u, np.random.default_rng([seed, k]))
            for k, (ch, u) in enumerate(zip(_channels(secrets), updates, strict=True))
        ]
        # Execute
        batched = send_batched(jobs_a)
        alone = [ch.send(u, rng=g) for ch, u, g in jobs_b]
        # Assert
        for a, b in zip(batched, alone, strict=True):
            _assert_same(a, b)
        assert not batched[5].delivered and batched[5].verdict.detected
        resent += sum(d.ledger.retransmissions for d in batched)
    assert resent > 0  # the resend passes (a second decode step) were exercised


def test_send_batched_with_a_shared_generator_sends_in_order() -> None:
    # one Generator for all jobs: its draws depend on the order, so no interleaving
    secrets = [bytes([i + 1]) * 32 for i in range(6)]
    updates = [sample_update(1500, seed=i) for i in range(9)]
    g_a, g_b = np.random.default_rng(5), np.random.default_rng(5)
    batched = send_batched(
        [(ch, u, g_a) for ch, u in zip(_channels(secrets), updates, strict=True)]
    )
    alone = [ch.send(u, rng=g_b) for ch, u in zip(_channels(secrets), updates, strict=True)]
    for a, b in zip(batched, alone, strict=True):
        _assert_same(a, b)


def test_send_batched_in_several_decoder_calls_when_blocks_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: a cap of 40 pending blocks, below the 7 jobs' ~90 first-pass blocks
    from qtfl.channel import batched

    secrets = [bytes([i + 1]) * 32 for i in range(6)]
    updates = [sample_update(2000 + 300 * i, seed=i) for i in range(9)]
    calls: list[int] = []
    real = batched.decode_many

    def counted(requests):  # type: ignore[no-untyped-def]
        calls.append(sum(r.blocks.shape[0] for r in requests))
        return real(requests)

    monkeypatch.setattr(batched, "MAX_PENDING_BLOCKS", 40)
    monkeypatch.setattr(batched, "decode_many", counted)
    jobs = [
        (ch, u, np.random.default_rng([9, k]))
        for k, (ch, u) in enumerate(zip(_channels(secrets), updates, strict=True))
    ]
    # Execute
    capped = send_batched(jobs)
    alone = [
        ch.send(u, rng=np.random.default_rng([9, k]))
        for k, (ch, u) in enumerate(zip(_channels(secrets), updates, strict=True))
    ]
    # Assert: more than one first-pass call, none far above the cap, same Deliveries
    assert len(calls) >= 2 and max(calls) < 40 + 30
    for a, b in zip(capped, alone, strict=True):
        _assert_same(a, b)
