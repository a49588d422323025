"""CompressedChannel: any compression step in front of any Channel, with the client residual."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from qtfl.channel import Channel, Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.channel.base import FloatVector
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import CompressionConfig, TopK, index_bits
from tests.channel.contract import CONTRACT_CHECKS, check_reproducible

FACTORIES: dict[str, Callable[[], Channel]] = {
    "quantize-8": lambda: CompressedChannel(
        PlainChannel(), config=CompressionConfig(kind="quantize", bits=8)
    ),
    "topk-10%": lambda: CompressedChannel(
        PlainChannel(), config=CompressionConfig(kind="topk", ratio=0.1, error_feedback=False)
    ),
    "sign": lambda: CompressedChannel(
        PlainChannel(), config=CompressionConfig(kind="sign", error_feedback=False)
    ),
    "topk-ef": lambda: CompressedChannel(PlainChannel(), compressor=TopK(0.05)),
}


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(FACTORIES))
def test_contract(name: str, check: Callable[[Channel], None]) -> None:
    if name == "topk-ef" and check is check_reproducible:
        pytest.skip("stateful: reproducible per (rng, residual) state, checked below")
    check(FACTORIES[name]())


def test_error_feedback_channel_is_reproducible_from_a_fresh_state() -> None:
    u = np.random.default_rng(0).normal(size=200).astype(np.float32)
    a = FACTORIES["topk-ef"]().send(u, rng=np.random.default_rng(1))
    b = FACTORIES["topk-ef"]().send(u, rng=np.random.default_rng(1))
    assert a.received is not None and b.received is not None
    np.testing.assert_array_equal(a.received, b.received)
    assert a.ledger == b.ledger


def test_top_k_sends_only_k_values_and_pays_for_positions() -> None:
    n, ratio = 1000, 0.01
    channel = CompressedChannel(PlainChannel(), compressor=TopK(ratio, error_feedback=False))
    u = np.random.default_rng(2).normal(size=n).astype(np.float32)
    out = channel.send(u, rng=np.random.default_rng(3))
    plain = PlainChannel().send(np.zeros(10, np.float32), rng=np.random.default_rng(0))
    assert out.received is not None
    assert np.count_nonzero(out.received) == 10
    keep = np.argsort(-np.abs(u))[:10]
    np.testing.assert_array_equal(out.received[keep], u[keep])
    assert out.ledger.payload_bits == plain.ledger.payload_bits  # 10 values on the inner
    assert out.ledger.classical_bits == plain.ledger.classical_bits + 10 * index_bits(n)


def test_error_feedback_over_rounds_loses_nothing() -> None:
    channel = CompressedChannel(PlainChannel(), compressor=TopK(0.02))
    rng = np.random.default_rng(4)
    got = np.zeros(400, np.float32)
    sent = np.zeros(400, np.float32)
    for _ in range(20):
        u = (rng.integers(-32, 33, size=400) / 128.0).astype(np.float32)  # exact in float32
        out = channel.send(u, rng=rng)
        assert out.received is not None
        got += out.received
        sent += u
    residual = channel.residual
    assert residual is not None
    np.testing.assert_array_equal(got + residual, sent)


class _AlwaysAborts(Channel):
    name = "aborts"

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        return Delivery(
            None, Ledger(payload_bits=32 * update.size), Verdict.abort("test"), Tap("x")
        )


def test_undelivered_update_stays_in_the_residual() -> None:
    channel = CompressedChannel(_AlwaysAborts(), compressor=TopK(0.1))
    u1 = np.arange(10, dtype=np.float32)
    u2 = np.ones(10, np.float32)
    assert not channel.send(u1, rng=np.random.default_rng(0)).delivered
    assert not channel.send(u2, rng=np.random.default_rng(0)).delivered
    residual = channel.residual
    assert residual is not None
    np.testing.assert_array_equal(residual, u1 + u2)


def test_quantized_values_cross_a_teleportation_channel_unchanged() -> None:
    from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
    from qtfl.quantum.noise import WernerPair

    config = CompressionConfig(kind="quantize", bits=6)
    u = np.random.default_rng(5).normal(size=300).astype(np.float32)
    plain = CompressedChannel(PlainChannel(), config=config).send(u, rng=np.random.default_rng(6))
    perfect = TeleportationChannel(LinkSpec(WernerPair(1.0)), bits=6)
    tele = CompressedChannel(perfect, config=config).send(u, rng=np.random.default_rng(6))
    assert plain.received is not None and tele.received is not None
    np.testing.assert_array_equal(tele.received, plain.received)
    assert tele.ledger.payload_qubits == 300 * 6
