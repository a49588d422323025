"""Classical channels: the unprotected baseline and authenticated encryption (AES-GCM).

Both model the wire as a classical link with a fixed latency and an optional bandwidth:
``link_seconds = latency_s + bits / bandwidth_bps`` (``bandwidth_bps=None``: unlimited).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger, Tap, Verdict
from qtfl.errors import InputError, require_range
from qtfl.security.run_secret import LinkSecret


@dataclass(frozen=True)
class ClassicalLink:
    """Latency and bandwidth of a classical wire."""

    latency_s: float = 0.0
    bandwidth_bps: float | None = None

    def __post_init__(self) -> None:
        require_range("latency_s", self.latency_s, low=0.0)
        if self.bandwidth_bps is not None:
            require_range("bandwidth_bps", self.bandwidth_bps, low=0.0, low_open=True)

    def seconds(self, bits: int) -> float:
        """Time to put ``bits`` on the wire and have them arrive."""
        rate = self.bandwidth_bps
        return self.latency_s + (0.0 if rate is None else bits / rate)


class PlainChannel(Channel):
    """Classical plaintext: the receiver gets the exact float32 bytes, and so does a tap."""

    name = "plain"

    def __init__(self, *, latency_s: float = 0.0, bandwidth_bps: float | None = None) -> None:
        self.link = ClassicalLink(latency_s=latency_s, bandwidth_bps=bandwidth_bps)

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        # One copy is the wire: the receiver and the tap both read exactly those bytes, so
        # they share it, read-only (a plaintext tap sees what the receiver sees).
        wire = update.copy()
        wire.flags.writeable = False
        bits = 8 * wire.nbytes
        return Delivery(
            received=wire,
            ledger=Ledger(
                payload_bits=bits, classical_bits=bits, link_seconds=self.link.seconds(bits)
            ),
            verdict=Verdict.ok(),
            tap=Tap(kind="plaintext", observed=wire.view(np.uint8)),
        )


class AeadChannel(Channel):
    """AES-256-GCM authenticated encryption under a key the two ends already share.

    The wire carries ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; a tap sees exactly
    that. Nonces are random 96-bit values (safe up to about 2^32 messages per key, NIST SP
    800-38D §8.3), drawn from ``nonce_secret``'s generator for the transfer when given (a run
    passes its link secret, so nonces do not follow from the seed), else from the caller's.
    The receiving end really decrypts and verifies the tag; a failed tag aborts the delivery.

    Args:
        key: 16, 24 or 32 bytes; ``AeadChannel.from_rng(rng)`` draws a 256-bit key from a
            numpy generator (tests and attack studies only: a run's key is secret-derived).
        nonce_secret: the link secret whose per-transfer generator draws the nonces.
        associated_data: authenticated, unencrypted context bound to every message.

    References: NIST SP 800-38D (GCM); McGrew & Viega, "The Galois/Counter Mode of
    Operation" (2004).
    """

    name = "aead"
    NONCE_BYTES = 12
    TAG_BYTES = 16

    def __init__(
        self,
        *,
        key: bytes,
        nonce_secret: LinkSecret | None = None,
        associated_data: bytes = b"qtfl-update-v1",
        latency_s: float = 0.0,
        bandwidth_bps: float | None = None,
    ) -> None:
        if not isinstance(key, bytes) or len(key) not in (16, 24, 32):
            got = len(key) if isinstance(key, bytes) else type(key).__name__
            raise InputError(f"AEAD key must be 16, 24 or 32 bytes, got {got}")
        self._aead = AESGCM(key)
        self.nonce_secret = nonce_secret
        self.associated_data = associated_data
        self.link = ClassicalLink(latency_s=latency_s, bandwidth_bps=bandwidth_bps)

    @classmethod
    def from_rng(cls, rng: np.random.Generator, **options: object) -> AeadChannel:
        """A channel with a fresh 256-bit key drawn from ``rng``."""
        return cls(key=rng.bytes(32), **options)  # type: ignore[arg-type]

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        plaintext = update.tobytes()
        source = rng if self.nonce_secret is None else self.nonce_secret.for_transfer(rng)
        nonce = source.bytes(self.NONCE_BYTES)
        wire = nonce + self._aead.encrypt(nonce, plaintext, self.associated_data)
        bits = 8 * len(wire)
        ledger = Ledger(
            payload_bits=8 * len(plaintext),
            classical_bits=bits,
            link_seconds=self.link.seconds(bits),
        )
        tap = Tap(kind="ciphertext", observed=np.frombuffer(wire, dtype=np.uint8).copy())
        received = self._receive(wire)
        if received is None:
            return Delivery(
                received=None,
                ledger=ledger,
                verdict=Verdict.abort("authentication-failed"),
                tap=tap,
            )
        return Delivery(received=received, ledger=ledger, verdict=Verdict.ok(), tap=tap)

    def _receive(self, wire: bytes) -> FloatVector | None:
        """The receiving end: split nonce, verify the tag, decrypt; None if forged."""
        nonce, body = wire[: self.NONCE_BYTES], wire[self.NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, body, self.associated_data)
        except InvalidTag:
            return None
        return np.frombuffer(plaintext, dtype=np.float32).copy()
