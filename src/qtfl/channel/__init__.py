"""Channels: the one interface through which every model update travels."""

from qtfl.channel.base import Channel, Delivery, Ledger, Tap, Verdict, validate_update
from qtfl.channel.classical import AeadChannel, ClassicalLink, PlainChannel

__all__ = [
    "AeadChannel",
    "Channel",
    "ClassicalLink",
    "Delivery",
    "Ledger",
    "PlainChannel",
    "Tap",
    "Verdict",
    "validate_update",
]
