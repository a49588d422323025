"""Channels: the one interface through which every model update travels.

>>> import numpy as np
>>> from qtfl.channel import LinkSpec, TeleportationChannel
>>> from qtfl.quantum import WernerPair
>>> channel = TeleportationChannel(LinkSpec(WernerPair(1.0)), bits=8)
>>> delivery = channel.send(np.float32([0.5, -0.5, 0.0]), rng=np.random.default_rng(0))
>>> delivery.received.tolist(), delivery.verdict.detected
([0.5, -0.5, 0.0], False)
"""

from qtfl.channel.base import Channel, Delivery, Ledger, Tap, Verdict, validate_update
from qtfl.channel.classical import AeadChannel, ClassicalLink, PlainChannel
from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
from qtfl.channel.teleportation import LinkSpec, TeleportationChannel, Verification

__all__ = [
    "AeadChannel",
    "Channel",
    "ClassicalLink",
    "Delivery",
    "Ledger",
    "LinkSpec",
    "PlainChannel",
    "QkdOtpChannel",
    "QkdSettings",
    "Tap",
    "TeleportationChannel",
    "Verdict",
    "Verification",
    "validate_update",
]
