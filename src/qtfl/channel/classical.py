"""Classical channels: the unprotected baseline (and, later, authenticated encryption)."""

from __future__ import annotations

import numpy as np

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger, Tap, Verdict
from qtfl.errors import require_range


class PlainChannel(Channel):
    """Classical plaintext: the receiver gets the exact float32 bytes, and so does a tap.

    Link time is ``latency_s + bits / bandwidth_bps`` (``bandwidth_bps=None``: unlimited).
    """

    name = "plain"

    def __init__(self, *, latency_s: float = 0.0, bandwidth_bps: float | None = None) -> None:
        self.latency_s = require_range("latency_s", latency_s, low=0.0)
        self.bandwidth_bps = (
            None
            if bandwidth_bps is None
            else require_range("bandwidth_bps", bandwidth_bps, low=0.0, low_open=True)
        )

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        wire = update.tobytes()
        bits = 8 * len(wire)
        seconds = self.latency_s + (
            0.0 if self.bandwidth_bps is None else bits / self.bandwidth_bps
        )
        return Delivery(
            received=np.frombuffer(wire, dtype=np.float32).copy(),
            ledger=Ledger(payload_bits=bits, classical_bits=bits, link_seconds=seconds),
            verdict=Verdict.ok(),
            tap=Tap(kind="plaintext", observed=np.frombuffer(wire, dtype=np.uint8).copy()),
        )
