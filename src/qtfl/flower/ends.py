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

Teleportation of float32 bits, of qubits protected by a stabilizer code, or of angle and
amplitude copies keeps the server's Pauli frame and puts the payload's logical Paulis on the
Bell bits (:mod:`qtfl.channel.split_payload`, :class:`PayloadTeleportEnds`).

Some channels need more than one exchange: teleportation with FEC asks the client again for
the blocks that failed (:mod:`qtfl.channel.split_fec`). Their :meth:`UplinkEnds.step` returns
a :class:`FollowUp` (the request arrays) instead of a Delivery; the client answers it with
:meth:`UplinkEnds.answer` from the update it kept on its node, and the server steps again
until a Delivery comes out (:mod:`qtfl.flower.exchange`).

QKD-OTP is a dialogue too (:mod:`qtfl.flower.qkd_ends`). Only these arrays cross Flower's
wire. A channel whose ends cannot be split is refused with one message naming the
supported kinds.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import AeadChannel, Channel, Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.channel.pqc import (
    SEAL_OVERHEAD_BYTES,
    PqcChannel,
    PqcReceiver,
    PqcSender,
    pqc_ledger,
)
from qtfl.channel.qkd import QkdOtpChannel
from qtfl.channel.split import (
    LinkKey,
    ReceiverHalf,
    SenderMessage,
    SplitReceiver,
    SplitSender,
    receiver_half,
    sender_half,
)
from qtfl.channel.split_fec import FecReceiver, ResendRequest, sender_pass
from qtfl.channel.split_payload import PayloadEnds, PayloadMessage
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.errors import InputError
from qtfl.quantum.encoding import BasisEncoding, Float32Encoding

BitEncoding = BasisEncoding | Float32Encoding

Arrays = dict[str, npt.NDArray[Any]]
SPLIT_KINDS = (
    "plain",
    "aead",
    "pqc",
    "teleport (every encoding, qec code, fec, purify_to and eavesdroppers)",
    "qkd-otp (ldpc or cascade reconciliation)",
)
"""Channel kinds (:data:`qtfl.registry.CHANNEL_KINDS`) whose ends run on Flower, each with or
without compression."""


@dataclass(frozen=True)
class FollowUp:
    """The server's further request to a client within one transfer (arrays to send)."""

    request: Arrays


class UplinkEnds(abc.ABC):
    """The three steps of one uplink transfer split between server and client."""

    #: True when a transfer may need further exchanges (the client keeps its update).
    multi_step: bool = False

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

    def step(self, wire: Arrays, state: object, *, n_values: int) -> Delivery | FollowUp:
        """Server: a reply (first or further) becomes a Delivery or a further request.

        Hostile replies are rejected deliveries as in :meth:`decode`.
        """
        return self.decode(wire, state, n_values=n_values)

    def answer(self, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays) -> Arrays:
        """Client: the wire arrays answering a further request (multi-step ends only)."""
        raise InputError(f"{type(self).__name__} takes no further requests")

    def abandon(self, state: object) -> Delivery:
        """Server: the rejected Delivery of a client that did not answer a further request
        (``no-answer-to-request``; the ledger holds what the transfer already used)."""
        return Delivery(None, Ledger(), Verdict.abort("no-answer-to-request"), Tap(kind="none"))


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


def _bit_encoding(channel: TeleportationChannel) -> BitEncoding:
    """The channel's bit encoding (basis or float32); FEC protects bits, so a channel with
    ``fec`` never has another (:class:`TeleportationChannel` refuses it)."""
    encoding = channel.encoding
    assert isinstance(encoding, BasisEncoding | Float32Encoding)
    return encoding


class PqcEnds(UplinkEnds):
    """The hybrid post-quantum exchange (:mod:`qtfl.channel.pqc`) with the server speaking first.

    ``prepare`` makes the server's ephemeral X25519 and ML-KEM-768 key pairs (OS CSPRNG) and
    announces their public halves with the train message; the private keys stay in the
    state object on the server. The client encapsulates to them and sends its X25519 share,
    the ML-KEM ciphertext and the AES-GCM sealed update in its one reply.
    """

    def __init__(self, channel: PqcChannel) -> None:
        self.channel = channel

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        receiver = PqcReceiver()
        return receiver, {"public_keys": np.frombuffer(receiver.announcement, np.uint8).copy()}

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        keys = announced["public_keys"]
        if keys.dtype != np.uint8 or keys.ndim != 1:
            raise InputError("public_keys must be bytes")
        sealed = PqcSender.seal(update.astype(np.float32), keys.tobytes())
        return {"sealed": np.frombuffer(sealed, np.uint8).copy()}

    def receive(self, wire: Arrays, state: object) -> Delivery:
        assert isinstance(state, PqcReceiver)
        sealed = wire["sealed"]
        if set(wire) != {"sealed"} or sealed.dtype != np.uint8 or sealed.ndim != 1:
            raise InputError("expected one byte array 'sealed'")
        data = sealed.tobytes()
        ledger = pqc_ledger(
            self.channel.link,
            update_bytes=max(0, len(data) - SEAL_OVERHEAD_BYTES),
            wire_bytes=len(state.announcement) + len(data),
        )
        observed = np.frombuffer(state.announcement + data, np.uint8).copy()
        tap = Tap(kind="ciphertext", observed=observed)
        received = state.open(data)
        if received is None:
            return Delivery(None, ledger, Verdict.abort("authentication-failed"), tap)
        return Delivery(received, ledger, Verdict.ok(), tap)


class TeleportEnds(UplinkEnds):
    """Verify-then-teleport with each node holding only its half (:mod:`qtfl.channel.split`)."""

    def __init__(self, channel: TeleportationChannel) -> None:
        encoding = channel.encoding
        if not isinstance(encoding, BasisEncoding) or channel.code is not None:
            raise InputError("TeleportEnds carries basis bits without qec (PayloadTeleportEnds)")
        self.sender = SplitSender(channel.protocol, encoding)
        self.receiver = SplitReceiver(channel.protocol, encoding)
        self.secret = channel.secret

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        n = self.sender.payload_bits(n_values)
        half = receiver_half(self.receiver.protocol, n, key, self.secret)
        return half, _pack_list("server_checks", SplitReceiver.announce(half))

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        n = self.sender.payload_bits(update.size)
        half = sender_half(self.sender.protocol, n, key, self.secret)
        message = self.sender.transmit(update, half, _unpack_list("server_checks", announced))
        return _message_arrays(
            message.announced, message.bell_bits, header=message.max_abs,
            header_dtype=np.float32, n_values=message.n_values,
        )  # fmt: skip

    def receive(self, wire: Arrays, state: object) -> Delivery:
        assert isinstance(state, ReceiverHalf)
        bell = _unpack_bell(wire, state.n_bits)
        max_abs, n_values = _read_header(wire)
        message = SenderMessage(
            announced=_unpack_list("client_checks", wire),
            bell_bits=bell,
            max_abs=max_abs,
            n_values=n_values,
        )
        return self.receiver.receive(message, state)


class PayloadTeleportEnds(UplinkEnds):
    """Teleportation of float32 bits, qec-protected qubits or angle/amplitude copies, each
    end holding its half of the link and its Pauli frame (:mod:`qtfl.channel.split_payload`)."""

    def __init__(self, channel: TeleportationChannel) -> None:
        self.ends = PayloadEnds(channel.protocol, channel.encoding, channel.code, channel.logical)
        self.secret = channel.secret
        self.analog = self.ends.analog

    @property
    def _header_dtype(self) -> type[np.floating[Any]]:
        """The header the channel counts: an analog norm in float64, a bit scale in float32."""
        return np.float64 if self.analog else np.float32

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        n = self.ends.physical_qubits(n_values)
        half = receiver_half(self.ends.protocol, n, key, self.secret)
        return (half, n_values), _pack_list("server_checks", SplitReceiver.announce(half))

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        peer = _unpack_list("server_checks", announced)
        message = self.ends.transmit(update.astype(np.float32), key, self.secret, peer)
        return _message_arrays(
            message.announced, message.bell_bits, header=message.header,
            header_dtype=self._header_dtype, n_values=message.n_values,
        )  # fmt: skip

    def receive(self, wire: Arrays, state: object) -> Delivery:
        assert isinstance(state, tuple)
        half, n_values = state
        assert isinstance(half, ReceiverHalf)
        bell = _unpack_bell(wire, half.n_bits)
        value, count = _read_header(wire, dtype=self._header_dtype)
        message = PayloadMessage(
            announced=_unpack_list("client_checks", wire),
            bell_bits=bell,
            header=value,
            n_values=count,
        )
        return self.ends.receive(message, half, n_values=n_values)


class FecTeleportEnds(UplinkEnds):
    """Teleportation with FEC and selective resends (:mod:`qtfl.channel.split_fec`)."""

    multi_step = True

    def __init__(self, channel: TeleportationChannel) -> None:
        assert channel.codec is not None
        self.protocol = channel.protocol
        self.codec = channel.codec
        self.encoding = _bit_encoding(channel)
        self.code = channel.code
        self.secret = channel.secret
        self.max_retransmissions = channel.max_retransmissions

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        rx = FecReceiver.start(
            self.protocol, self.codec, self.encoding, n_values=n_values, key=key,
            secret=self.secret, max_retransmissions=self.max_retransmissions, code=self.code,
        )  # fmt: skip
        return rx, _pack_list("server_checks", rx.announce())

    def _pass(
        self,
        update: npt.NDArray[np.float32],
        key: LinkKey,
        announced: Arrays,
        blocks: npt.NDArray[np.int64] | None,
        earlier: tuple[int, ...],
    ) -> Arrays:
        bits = self.encoding.encode(update).bit_array()
        if blocks is None:
            blocks = np.arange(self.codec.layout(bits.size).blocks, dtype=np.int64)
        checks, bell = sender_pass(
            self.protocol, self.codec, bits, blocks=blocks, earlier_sizes=earlier, key=key,
            secret=self.secret, peer_announced=_unpack_list("server_checks", announced),
            code=self.code,
        )  # fmt: skip
        out = _pack_list("client_checks", checks)
        if bell is not None:
            out["bell_bits"] = _pack_bell(bell)
        return out

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        out = self._pass(update, key, announced, None, ())
        header = self.encoding.encode(update)
        return out | _header_arrays(header.max_abs, np.float32, n_values=header.n_values)

    def answer(self, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays) -> Arrays:
        sizes = request["pass_sizes"]
        if sizes.dtype != np.int64 or sizes.ndim != 1 or sizes.size < 2:
            raise InputError("pass_sizes must be at least two int64 sizes")
        if sizes.size > self.max_retransmissions + 1:
            raise InputError(f"more than {self.max_retransmissions} resends requested")
        earlier = tuple(int(x) for x in sizes[:-1])
        out = self._pass(update, key, request, request["blocks"], earlier)
        return out

    def receive(self, wire: Arrays, state: object) -> Delivery:
        raise InputError("use step(): a FEC transfer may take several passes")

    def abandon(self, state: object) -> Delivery:
        assert isinstance(state, FecReceiver)
        spent = sum(state.ledgers, Ledger())
        verdict = Verdict.abort("no-answer-to-request")
        return Delivery(None, spent, verdict, Tap(kind="none"))

    def step(self, wire: Arrays, state: object, *, n_values: int) -> Delivery | FollowUp:
        assert isinstance(state, FecReceiver)
        try:
            if any(not isinstance(v, np.ndarray) for v in wire.values()):
                raise InputError("not arrays")
            if sum(int(v.nbytes) for v in wire.values()) > MAX_REPLY_BYTES:
                raise InputError("reply too large")
            out = self._take(wire, state, n_values=n_values)
        except (InputError, ValueError, KeyError, IndexError, TypeError, OverflowError):
            return _malformed()
        if isinstance(out, ResendRequest):
            request = _pack_list("server_checks", out.announced)
            request["blocks"] = out.blocks
            request["pass_sizes"] = np.array(out.sizes, np.int64)
            return FollowUp(request)
        received = out.received
        if received is not None and (
            received.shape != (n_values,) or not np.isfinite(received).all()
        ):
            return _malformed()
        return out

    def _take(self, wire: Arrays, rx: FecReceiver, *, n_values: int) -> Delivery | ResendRequest:
        if rx.header is None:  # pass 1 carries the header
            max_abs, count = _read_header(wire)
            if count != n_values:
                raise InputError(f"n_values {count}, expected {n_values}")
            rx.set_header(max_abs=max_abs, n_values=n_values)
        bell = _unpack_bell(wire, rx.half.n_bits)
        return rx.take(_unpack_list("client_checks", wire), bell)


def uplink_ends(channel: Channel) -> UplinkEnds:
    """The split form of ``channel``, or InputError naming the kinds that can be split."""
    from qtfl.experiments.channels import UnavailableChannel

    if isinstance(channel, UnavailableChannel):
        raise InputError(f"this node is not an end of client {channel.client}'s link")
    from qtfl.fl.compressed_channel import CompressedChannel

    if isinstance(channel, CompressedChannel):  # compression on the client node
        from qtfl.flower.compression_ends import CompressedEnds

        return CompressedEnds(channel, uplink_ends(channel.inner))
    if isinstance(channel, PlainChannel):
        return PlainEnds(channel)
    if isinstance(channel, AeadChannel):
        return AeadEnds(channel)
    if isinstance(channel, PqcChannel):
        return PqcEnds(channel)
    if isinstance(channel, TeleportationChannel):
        if channel.codec is not None:
            return FecTeleportEnds(channel)
        if isinstance(channel.encoding, BasisEncoding) and channel.code is None:
            return TeleportEnds(channel)
        return PayloadTeleportEnds(channel)
    if isinstance(channel, QkdOtpChannel):
        from qtfl.flower.cascade_ends import CascadeQkdOtpEnds  # they build on this module
        from qtfl.flower.qkd_ends import QkdOtpEnds

        if channel.settings.reconciliation == "cascade":
            return CascadeQkdOtpEnds(channel)
        return QkdOtpEnds(channel)
    raise InputError(
        f"uplink channel {channel.name!r} cannot run on Flower; its ends cannot yet be "
        f"split between client and server. Supported: {', '.join(SPLIT_KINDS)}; any of "
        "these with compression"
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


def _message_arrays(
    announced: tuple[npt.NDArray[np.uint8], ...],
    bell_bits: npt.NDArray[np.uint8] | None,
    *,
    header: float,
    header_dtype: type[np.floating[Any]],
    n_values: int,
) -> Arrays:
    """A teleportation sender's one-pass message on the wire: its check outcomes, the header
    (one ``header_dtype`` value) and ``n_values`` (int64), then its Bell bits packed (absent
    when no attempt passed). :func:`_read_header` and :func:`_unpack_bell` read it back."""
    out = _pack_list("client_checks", announced) | _header_arrays(
        header, header_dtype, n_values=n_values
    )
    if bell_bits is not None:
        out["bell_bits"] = _pack_bell(bell_bits)
    return out


def _header_arrays(value: float, dtype: type[np.floating[Any]], *, n_values: int) -> Arrays:
    """The header's wire arrays: its value (one ``dtype`` value) and ``n_values`` (int64)."""
    return {
        "header": np.array([value], dtype=dtype),
        "n_values": np.array([n_values], dtype=np.int64),
    }


def _read_header(wire: Arrays, *, dtype: type[np.floating[Any]] | None = None) -> tuple[float, int]:
    """The header value and ``n_values`` of a sender's reply, which may be hostile.

    Both must be single values and the header (a scale or a norm) finite and >= 0 — an
    encoder's never is otherwise. With ``dtype`` the arrays' dtypes must be the sender's too
    (header ``dtype``, n_values int64). Raises InputError.
    """
    header, count = wire["header"], wire["n_values"]
    if header.shape != (1,) or count.shape != (1,):
        raise InputError("header and n_values must be single values")
    if dtype is not None and (header.dtype != dtype or count.dtype != np.int64):
        raise InputError(f"header must be {dtype.__name__} and n_values int64")
    value = float(header[0])
    if not (math.isfinite(value) and value >= 0.0):
        raise InputError(f"header must be finite and >= 0, got {value}")
    return value, int(count[0])


def _pack_bell(bell_bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``(n, 2)`` Bell bits packed 8 to a byte, row by row."""
    return np.packbits(bell_bits.reshape(-1))


def _unpack_bell(wire: Arrays, n_bits: int) -> npt.NDArray[np.uint8] | None:
    """The ``(n_bits, 2)`` Bell bits of a reply (``None`` when it has none); InputError
    unless they are exactly ``2 * n_bits`` bits packed as uint8."""
    if "bell_bits" not in wire:
        return None
    packed = wire["bell_bits"]
    if packed.dtype != np.uint8 or packed.shape != (-(-2 * n_bits // 8),):
        raise InputError(f"bell_bits must be {2 * n_bits} packed bits")
    return np.unpackbits(packed, count=2 * n_bits).reshape(n_bits, 2)
