"""A Channel split into the part the server runs and the part the client runs, over Flower.

Every uplink Channel of a scenario becomes an :class:`UplinkEnds`: three steps around one
Flower message exchange.

1. ``prepare`` (server, before the train message): the receiving end's public
   announcements — for teleportation its check outcomes per attempt (from its half of the
   link sample: noise keyed by ``(seed, scenario, round, client)``, secret parts by the
   link secret both ends hold), nothing for classical channels;
2. ``send`` (client, inside the ClientApp mod): the update becomes exactly what the channel's
   sending end transmits — plaintext float32 bytes, AES-GCM ``nonce||ciphertext||tag``, or
   the teleportation sender's check outcomes, ``2n`` Bell bits and the 32-bit header;
3. ``receive`` (server, in the strategy wrapper): the receiving end turns the wire arrays
   into a :class:`~qtfl.channel.Delivery` (accepted or aborted) before aggregation.

Only these arrays cross Flower's wire. Channels that cannot be split this way (FEC, QKD-OTP)
are refused with one message naming the supported kinds.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import AeadChannel, Channel, Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.channel.split import (
    LinkKey,
    ReceiverHalf,
    SenderMessage,
    SplitReceiver,
    SplitSender,
    receiver_half,
    sender_half,
)
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.errors import InputError

Arrays = dict[str, npt.NDArray[Any]]
SPLIT_KINDS = ("plain", "aead", "teleport (without fec)")
"""Channel kinds (:data:`qtfl.registry.CHANNEL_KINDS`) whose ends run on Flower."""


class UplinkEnds(abc.ABC):
    """The three steps of one uplink transfer split between server and client."""

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        """Server: private state for :meth:`receive` and the public announcements."""
        return None, {}

    @abc.abstractmethod
    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        """Client: the arrays the sending end puts on the wire."""

    @abc.abstractmethod
    def receive(self, wire: Arrays, state: object) -> Delivery:
        """Server: the Delivery the receiving end makes of the wire arrays."""

    def decode(self, wire: Arrays, state: object, *, n_values: int) -> Delivery:
        """Server: :meth:`receive` on arrays a client sent, which may be hostile.

        A reply that is not what this channel's sending end produces — missing or extra
        arrays, wrong dtypes or lengths, values that do not decode, an update of the wrong
        size — is a rejected delivery (``malformed-reply``), never an exception in the server.
        """
        try:
            if any(not isinstance(v, np.ndarray) for v in wire.values()):
                raise InputError("not arrays")
            if sum(int(v.nbytes) for v in wire.values()) > MAX_REPLY_BYTES:
                raise InputError("reply too large")
            delivery = self.receive(wire, state)
        except (InputError, ValueError, KeyError, IndexError, TypeError, OverflowError):
            return _malformed()
        received = delivery.received
        if received is not None and (
            received.shape != (n_values,) or not np.isfinite(received).all()
        ):  # e.g. a NaN or infinite fixed-point header: it would poison the aggregate
            return _malformed()
        return delivery


#: Largest reply a server decodes: far above any honest one (a 100M-parameter model's
#: plaintext is 400 MB), a bound on what a hostile client can make the server hold.
MAX_REPLY_BYTES = 1 << 30


def _malformed() -> Delivery:
    return Delivery(None, Ledger(), Verdict.abort("malformed-reply"), Tap(kind="malformed"))


class PlainEnds(UplinkEnds):
    def __init__(self, channel: PlainChannel) -> None:
        self.channel = channel

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        return {"plaintext": np.frombuffer(update.astype(np.float32).tobytes(), np.uint8)}

    def receive(self, wire: Arrays, state: object) -> Delivery:
        values = np.frombuffer(wire["plaintext"].tobytes(), dtype=np.float32)
        return self.channel.send(values, rng=np.random.default_rng(0))  # deterministic


class AeadEnds(UplinkEnds):
    def __init__(self, channel: AeadChannel) -> None:
        self.channel = channel

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        delivery = self.channel.send(update, rng=key.rng())
        return {"ciphertext": delivery.tap.observed}

    def receive(self, wire: Arrays, state: object) -> Delivery:
        data = wire["ciphertext"].tobytes()
        bits = 8 * len(data)
        overhead = AeadChannel.NONCE_BYTES + AeadChannel.TAG_BYTES
        ledger = Ledger(
            payload_bits=8 * max(0, len(data) - overhead),
            classical_bits=bits,
            link_seconds=self.channel.link.seconds(bits),
        )
        tap = Tap(kind="ciphertext", observed=wire["ciphertext"].copy())
        received = self.channel._receive(data)  # the channel's own receiving end
        if received is None:
            return Delivery(None, ledger, Verdict.abort("authentication-failed"), tap)
        return Delivery(received, ledger, Verdict.ok(), tap)


class TeleportEnds(UplinkEnds):
    """Verify-then-teleport with each node holding only its half (:mod:`qtfl.channel.split`)."""

    def __init__(self, channel: TeleportationChannel) -> None:
        self.sender = SplitSender(channel.protocol, channel.encoding)
        self.receiver = SplitReceiver(channel.protocol, channel.encoding)
        self.secret = channel.secret

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        n = self.sender.payload_bits(n_values)
        half = receiver_half(self.receiver.protocol, n, key, self.secret)
        return half, _pack_list("server_checks", SplitReceiver.announce(half))

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        n = self.sender.payload_bits(update.size)
        half = sender_half(self.sender.protocol, n, key, self.secret)
        message = self.sender.transmit(update, half, _unpack_list("server_checks", announced))
        out = _pack_list("client_checks", message.announced)
        out["header"] = np.array([message.max_abs], dtype=np.float32)
        out["n_values"] = np.array([message.n_values], dtype=np.int64)
        if message.bell_bits is not None:
            out["bell_bits"] = np.packbits(message.bell_bits.reshape(-1))
        return out

    def receive(self, wire: Arrays, state: object) -> Delivery:
        assert isinstance(state, ReceiverHalf)
        n = state.n_bits
        bell = None
        if "bell_bits" in wire:
            bell = np.unpackbits(wire["bell_bits"], count=2 * n).reshape(n, 2)
        header, count = wire["header"], wire["n_values"]
        if header.shape != (1,) or count.shape != (1,):
            raise InputError("header and n_values must be single values")
        max_abs = float(header[0])
        if not (math.isfinite(max_abs) and max_abs >= 0.0):  # an encoder's scale never is
            raise InputError(f"header max_abs must be finite and >= 0, got {max_abs}")
        message = SenderMessage(
            announced=_unpack_list("client_checks", wire),
            bell_bits=bell,
            max_abs=max_abs,
            n_values=int(count[0]),
        )
        return self.receiver.receive(message, state)


def uplink_ends(channel: Channel) -> UplinkEnds:
    """The split form of ``channel``, or InputError naming the kinds that can be split."""
    from qtfl.experiments.channels import UnavailableChannel

    if isinstance(channel, UnavailableChannel):
        raise InputError(f"this node is not an end of client {channel.client}'s link")
    if isinstance(channel, PlainChannel):
        return PlainEnds(channel)
    if isinstance(channel, AeadChannel):
        return AeadEnds(channel)
    if isinstance(channel, TeleportationChannel) and channel.codec is None:
        return TeleportEnds(channel)
    raise InputError(
        f"uplink channel {channel.name!r} cannot run on Flower; its ends cannot yet be "
        f"split between client and server. Supported: {', '.join(SPLIT_KINDS)}"
    )


def _pack_list(name: str, parts: tuple[npt.NDArray[np.uint8], ...]) -> Arrays:
    """0/1 arrays as one bit-packed array plus their lengths."""
    flat = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return {name: np.packbits(flat), f"{name}_sizes": np.array([p.size for p in parts], np.int64)}


def _unpack_list(name: str, arrays: Arrays) -> tuple[npt.NDArray[np.uint8], ...]:
    raw_sizes, packed = arrays[f"{name}_sizes"], arrays[name]
    if raw_sizes.dtype != np.int64 or packed.dtype != np.uint8 or raw_sizes.ndim != 1:
        raise InputError(f"{name}: expected uint8 bits and int64 sizes")
    sizes = raw_sizes
    if np.any(sizes < 0) or int(sizes.sum()) > 8 * packed.size:
        raise InputError(f"{name}: sizes do not fit the bits sent")  # no allocation bombs
    flat = np.unpackbits(packed, count=int(sizes.sum()))
    return tuple(np.split(flat, np.cumsum(sizes)[:-1])) if sizes.size else ()
