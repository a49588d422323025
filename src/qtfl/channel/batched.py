"""Several independent sends side by side, their FEC blocks decoded in one decoder call.

A teleport send with FEC spends most of its time decoding, and one client's update fills
few of the decoder's 64 lanes (a quickstart update is 22 blocks of ``ldpc-9/10``), so a
decoder call runs until its slowest block converges with most lanes idle. A channel that
can be run step by step (a ``send_steps(update, *, rng)`` method returning
:data:`~qtfl.channel.retransmission.DecodeSteps`, as
:class:`~qtfl.channel.teleportation.TeleportationChannel` has) yields each pass's received
blocks instead of decoding them; :func:`send_batched` advances all such sends of a batch in
lockstep and decodes every pending request at once with
:func:`~qtfl.channel.fec.decode_many` (one decoder call per code and error rate).

Why the Deliveries are the same as sending one after the other: decoding draws no
randomness and decodes each block alone (:mod:`qtfl.channel.ldpc_decoder`: no arithmetic
across lanes; the sum-product fallback and the CRC retry are per block), so every send
sees the same decoded blocks however the sends are grouped into decoder calls (at most
:data:`MAX_PENDING_BLOCKS` blocks wait for one), draws the same numbers from its own
generator in the same order, and returns the same Delivery. That holds only when the jobs
share no Channel and no Generator object (their draws would interleave otherwise); such a
batch is sent one job after the other instead. Channels without ``send_steps`` are sent
with :meth:`Channel.send <qtfl.channel.base.Channel.send>` as they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Channel, Delivery
from qtfl.channel.fec import DecodeRequest, DecodeResult, decode_many
from qtfl.channel.retransmission import DecodeSteps

#: Received blocks held for one decoder call at most (about 8 MB at 4000 bits per block):
#: beyond it the pending sends are decoded and finished before more start (results do not
#: depend on how the jobs are grouped). Ten quickstart clients hold 220 blocks; one
#: paper-size update 618.
MAX_PENDING_BLOCKS = 2048
#: One send: the Channel, the update and the Generator it draws from.
BatchJob = tuple[Channel, npt.ArrayLike, np.random.Generator]


def independent(jobs: Sequence[BatchJob]) -> bool:
    """True when no two jobs share a Channel or a Generator object (their order is free)."""
    return len({id(ch) for ch, _, _ in jobs}) == len(jobs) and len(
        {id(rng) for _, _, rng in jobs}
    ) == len(jobs)


def send_batched(jobs: Sequence[BatchJob]) -> list[Delivery]:
    """Deliveries of every job, equal to ``[ch.send(u, rng=g) for ch, u, g in jobs]``.

    The jobs' FEC decoding is batched across them (module docstring) when they are
    independent (:func:`independent`); otherwise they are sent one after the other.
    """
    if len(jobs) < 2 or not independent(jobs):
        return [channel.send(update, rng=rng) for channel, update, rng in jobs]
    out: list[Delivery | None] = [None] * len(jobs)
    running: dict[int, tuple[DecodeSteps[Delivery], DecodeRequest]] = {}
    for i, (channel, update, rng) in enumerate(jobs):
        start = getattr(channel, "send_steps", None)
        if start is None:
            out[i] = channel.send(update, rng=rng)
            continue
        steps: DecodeSteps[Delivery] = start(update, rng=rng)
        _advance(i, steps, None, running, out)
        if sum(req.blocks.shape[0] for _, req in running.values()) >= MAX_PENDING_BLOCKS:
            _drain(running, out)  # bounds memory: e.g. 128 clients of a large model
    _drain(running, out)
    delivered = [d for d in out if d is not None]
    assert len(delivered) == len(jobs)
    return delivered


def _drain(
    running: dict[int, tuple[DecodeSteps[Delivery], DecodeRequest]],
    out: list[Delivery | None],
) -> None:
    """Decode every pending request together and advance its send, until none is left."""
    while running:
        ids = list(running)
        results = decode_many([running[i][1] for i in ids])
        for i, result in zip(ids, results, strict=True):
            _advance(i, running.pop(i)[0], result, running, out)


def _advance(
    i: int,
    steps: DecodeSteps[Delivery],
    result: DecodeResult | None,
    running: dict[int, tuple[DecodeSteps[Delivery], DecodeRequest]],
    out: list[Delivery | None],
) -> None:
    """Run job ``i`` to its next decode request (kept in ``running``) or its Delivery."""
    try:
        request = next(steps) if result is None else steps.send(result)
    except StopIteration as stop:
        out[i] = stop.value
        return
    running[i] = (steps, request)
