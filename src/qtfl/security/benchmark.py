"""Cost and speed of one update over teleportation, QKD + one-time pad, and AES-GCM.

For a Werner link of fidelity ``F`` and an update of ``params`` float32 values at ``bits``
bits per value, each channel sends the same update ``repeats`` times; the result lists the
best wall time (simulation speed on this machine) and the ledger of the first send (Bell
pairs, check pairs, classical bits, link seconds at ``pair_rate_hz``). Figures, not tests.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from qtfl.channel.base import Channel
from qtfl.channel.classical import AeadChannel
from qtfl.channel.qkd import QkdOtpChannel
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec, Verification
from qtfl.errors import require_int, require_range
from qtfl.quantum.noise import WernerPair


def benchmark_channels(
    *,
    params: int = 100_000,
    bits: int = 16,
    fidelity: float = 0.97,
    pair_rate_hz: float = 1e6,
    latency_s: float = 1e-4,
    check_fraction: float = 0.1,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Time and cost each channel on one update; see the module docstring."""
    n = require_int("params", params, low=1)
    reps = require_int("repeats", repeats, low=1)
    require_range("pair_rate_hz", pair_rate_hz, low=0.0, low_open=True)
    link = LinkSpec(WernerPair(fidelity), pair_rate_hz=pair_rate_hz, latency_s=latency_s)
    rng = np.random.default_rng(seed)
    update = rng.normal(0.0, 0.01, n).astype(np.float32)
    channels: dict[str, Channel] = {
        "teleportation": TeleportationChannel(
            link, bits=bits, verification=Verification(check_fraction=check_fraction)
        ),
        "qkd-otp": QkdOtpChannel(link, bits=bits),
        "aead": AeadChannel.from_rng(rng, latency_s=latency_s),
    }
    rows: dict[str, Any] = {}
    for name, channel in channels.items():
        times, first = [], None
        for r in range(reps):
            start = time.perf_counter()
            out = channel.send(update, rng=np.random.default_rng(seed + r))
            times.append(time.perf_counter() - start)
            first = first or out
        assert first is not None
        rows[name] = {
            "wall_seconds_best": min(times),
            "delivered": first.delivered,
            "max_abs_error": None
            if first.received is None
            else float(np.max(np.abs(first.received - update))),
            **first.ledger.as_dict(),
        }
    return {
        "params": n,
        "bits_per_param": bits,
        "fidelity": fidelity,
        "link_qber": link.pair.qber,
        "pair_rate_hz": pair_rate_hz,
        "latency_s": latency_s,
        "repeats": reps,
        "channels": rows,
    }
