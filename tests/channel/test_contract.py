"""Every Channel passes the shared contract suite (``contract.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from qtfl.channel import AeadChannel, Channel, PlainChannel
from qtfl.channel.pqc import PqcChannel
from qtfl.channel.qkd import QkdOtpChannel
from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import InterceptResend
from tests.channel.contract import CONTRACT_CHECKS

CHANNEL_FACTORIES: dict[str, Callable[[], Channel]] = {
    "plain": PlainChannel,
    "plain-slow-link": lambda: PlainChannel(latency_s=1e-3, bandwidth_bps=1e9),
    "aead": lambda: AeadChannel.from_rng(np.random.default_rng(11)),
    "teleportation": lambda: TeleportationChannel(
        LinkSpec(WernerPair(0.97), pair_rate_hz=1e4, latency_s=1e-3)
    ),
    "teleportation-attacked": lambda: TeleportationChannel(
        LinkSpec(WernerPair(1.0)), eavesdropper=InterceptResend(fraction=1.0)
    ),
    "teleportation-float32": lambda: TeleportationChannel(
        LinkSpec(WernerPair(0.97), pair_rate_hz=1e4), encoding="float32", fec="auto"
    ),
    "teleportation-angle-qec": lambda: TeleportationChannel(
        LinkSpec(WernerPair(0.97), pair_rate_hz=1e4), encoding="angle", shots=32, qec="five-qubit"
    ),
    "teleportation-amplitude": lambda: TeleportationChannel(
        LinkSpec(WernerPair(0.97), pair_rate_hz=1e4), encoding="amplitude", shots=64
    ),
    "teleportation-shor-fec": lambda: TeleportationChannel(
        LinkSpec(WernerPair(0.9), pair_rate_hz=1e4), bits=8, qec="shor", fec="auto"
    ),
    "pqc": PqcChannel,
    "pqc-slow-link": lambda: PqcChannel(latency_s=1e-3, bandwidth_bps=1e8),
    "qkd-otp": lambda: QkdOtpChannel(LinkSpec(WernerPair(0.98), pair_rate_hz=1e4)),
}


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("factory", CHANNEL_FACTORIES.values(), ids=list(CHANNEL_FACTORIES))
def test_channel_contract(factory: Callable[[], Channel], check: Callable[[Channel], None]) -> None:
    check(factory())
