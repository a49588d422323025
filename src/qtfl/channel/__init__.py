"""Channels: the one interface through which every model update travels."""

from qtfl.channel.base import Channel, Delivery, Ledger, Tap, Verdict, validate_update
from qtfl.channel.classical import PlainChannel

__all__ = ["Channel", "Delivery", "Ledger", "PlainChannel", "Tap", "Verdict", "validate_update"]
