"""Selective retransmission of FEC blocks that fail to decode, over fresh pairs.

:func:`deliver_with_retransmission` encodes payload bits with a :class:`~qtfl.channel.fec.FecCodec`,
hands every codeword bit to ``send_fn`` (the caller's channel: a BSC sampler in tests, the
teleporter in :mod:`qtfl.channel.teleportation`), decodes, and sends the blocks whose
belief propagation or CRC-32 failed again — each resend is a new call of ``send_fn`` and so
uses fresh pairs — until every block decodes or ``max_retransmissions`` rounds are spent.

What it reports (:class:`FecTransfer`) is what a :class:`~qtfl.channel.base.Ledger` needs:
``channel_bits`` is every bit handed to ``send_fn`` (one Bell pair each for a basis-encoded
payload), ``retransmitted_blocks`` every block sent again, ``failed_blocks`` the blocks still
wrong at the end (flagged, never silently delivered). With ``m`` blocks each failing with
probability ``q`` per attempt, the expected channel bits are ``m·n/(1 - q)`` and the chance
that a block is still failed after ``r`` resends is ``q^(r+1)``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from qtfl.channel.fec import (
    BitArray,
    BlockLayout,
    DecodeRequest,
    DecodeResult,
    FecCodec,
)
from qtfl.errors import InputError, require_int

#: ``send_fn(bits, rng) -> received bits``: one pass of 0/1 bits over the channel (fresh
#: pairs), or ``None`` when the channel refused to send (e.g. its eavesdropping test aborted).
SendFn = Callable[[BitArray, np.random.Generator], BitArray | None]
T = TypeVar("T")
#: A computation run step by step: it yields the blocks it needs decoded
#: (:class:`~qtfl.channel.fec.DecodeRequest`), is sent their :data:`DecodeResult`, and
#: returns its result. :func:`run_steps` runs one alone; :func:`qtfl.channel.batched.
#: send_batched` runs several sends side by side and decodes their blocks together.
DecodeSteps = Generator[DecodeRequest, DecodeResult, T]


def run_steps(steps: DecodeSteps[T]) -> T:
    """Run ``steps`` to the end, decoding each request as it comes; return its result."""
    try:
        request = next(steps)
        while True:
            request = steps.send(request.codec.decode_blocks(request.blocks))
    except StopIteration as stop:
        result: T = stop.value
        return result


@dataclass(frozen=True)
class FecTransfer:
    """Outcome of :func:`deliver_with_retransmission`.

    Attributes:
        bits: the decoded payload bits (those of failed blocks are the decoder's best guess).
        layout: the block layout.
        failed_blocks: mask of blocks still failing after the last resend.
        channel_bits: all bits handed to ``send_fn``, first pass, resends and an aborted
            pass included (one pair each for a basis-encoded payload).
        retransmitted_blocks: blocks sent again (a block sent three times counts 2).
        rounds: passes over the channel (1 when nothing failed), the aborted one included.
        aborted: True when ``send_fn`` refused a pass; the blocks still pending stay failed.
    """

    bits: BitArray
    layout: BlockLayout
    failed_blocks: npt.NDArray[np.bool_]
    channel_bits: int
    retransmitted_blocks: int
    rounds: int
    aborted: bool = False

    @property
    def residual_failures(self) -> int:
        """Blocks that never decoded (their payload must not be used)."""
        return int(self.failed_blocks.sum())

    @property
    def delivered(self) -> bool:
        """True when every block decoded and passed its CRC."""
        return self.residual_failures == 0

    @property
    def pairs_per_payload_bit(self) -> float:
        """Channel bits (pairs, for basis encoding) spent per payload bit."""
        return self.channel_bits / self.layout.payload_bits

    def failed_bit_mask(self) -> npt.NDArray[np.bool_]:
        """Per payload bit: True where the bit belongs to a block that failed."""
        per_bit = np.repeat(self.failed_blocks, self.layout.data_bits_per_block)
        return per_bit[: self.layout.payload_bits]


def deliver_with_retransmission(
    codec: FecCodec,
    bits: npt.ArrayLike,
    send_fn: SendFn,
    *,
    rng: np.random.Generator,
    max_retransmissions: int = 8,
) -> FecTransfer:
    """Send ``bits`` FEC-encoded through ``send_fn``; resend failed blocks over fresh pairs.

    Args:
        codec: the FEC code and the channel bit error rate its decoder assumes.
        bits: 0/1 payload bits.
        send_fn: ``send_fn(bits, rng) -> received`` for a flat uint8 array; must return the
            same length, or ``None`` to abort (nothing of that pass arrived; no further
            pass is tried). Each call is one pass over the channel with fresh pairs; the
            caller counts its own resources (pairs, checks, cbits) inside ``send_fn``.
        rng: the generator every ``send_fn`` call draws from.
        max_retransmissions: resend rounds after the first pass (0 disables resending).
    """
    return run_steps(
        retransmission_steps(codec, bits, send_fn, rng=rng, max_retransmissions=max_retransmissions)
    )


def retransmission_steps(
    codec: FecCodec,
    bits: npt.ArrayLike,
    send_fn: SendFn,
    *,
    rng: np.random.Generator,
    max_retransmissions: int = 8,
) -> DecodeSteps[FecTransfer]:
    """:func:`deliver_with_retransmission` step by step: after each pass it yields the
    received blocks as a :class:`~qtfl.channel.fec.DecodeRequest` and continues with the
    decoded data and failed-block mask it is sent. Decoding draws no randomness, so who
    decodes, and together with which other blocks, changes nothing
    (:func:`~qtfl.channel.fec.decode_many`)."""
    rounds_cap = require_int("max_retransmissions", max_retransmissions, low=0, high=1000)
    codewords, layout = codec.encode(bits)
    data = np.zeros((layout.blocks, layout.data_bits_per_block), np.uint8)
    pending = np.arange(layout.blocks)
    channel_bits = resent = rounds = 0
    aborted = False
    while pending.size and rounds <= rounds_cap:
        outgoing = layout.to_channel(codewords[pending], pending)
        reply = send_fn(outgoing, rng)
        channel_bits += outgoing.size
        resent += pending.size if rounds else 0
        rounds += 1
        if reply is None:
            aborted = True
            break
        received = np.asarray(reply, dtype=np.uint8)
        if received.shape != outgoing.shape:
            raise InputError(
                f"send_fn returned {received.shape} bits for {outgoing.shape} sent; it must "
                "return one received bit per sent bit"
            )
        decoded, failed = yield DecodeRequest(codec, layout.from_channel(received, pending))
        data[pending] = decoded
        pending = pending[failed]
    failed_mask = np.zeros(layout.blocks, bool)
    failed_mask[pending] = True
    payload = data.reshape(-1)[: layout.payload_bits].copy()
    return FecTransfer(payload, layout, failed_mask, channel_bits, resent, rounds, aborted)
