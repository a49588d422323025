r"""Post-quantum classical baseline: hybrid X25519 + ML-KEM-768 key exchange, then AES-256-GCM.

The alternative a practitioner would deploy today instead of a quantum link: the hybrid key
agreement of TLS 1.3's ``X25519MLKEM768`` group, one fresh exchange per update (forward
secrecy per round), the shared secrets combined with HKDF-SHA256 and the update sealed with
AES-256-GCM. Secure if either X25519 (classical) or ML-KEM-768 (post-quantum, FIPS 203)
holds.

The exchange, as the two ends run it (:class:`PqcSender` is the client, :class:`PqcReceiver`
the server; each holds only its own private keys):

1. ``hello``  client -> server: an ephemeral X25519 public key (32 B) and an ephemeral
   ML-KEM-768 encapsulation key (1,184 B);
2. ``reply``  server -> client: its ephemeral X25519 public key (32 B) and the ML-KEM
   ciphertext (1,088 B) encapsulated to the client's key;
3. ``sealed`` client -> server: ``nonce (12 B) || AES-256-GCM(update) || tag (16 B)``.

Both ends derive

.. math::

    K = \mathrm{HKDF}_{\mathrm{SHA256}}\big(ss_{\mathrm{KEM}} \,\|\, ss_{\mathrm{X25519}},\;
        \texttt{"qtfl-pqc-v1"} \,\|\, \mathrm{SHA256}(\mathrm{hello} \,\|\, \mathrm{reply})\big)

(the ML-KEM secret first, as in ``X25519MLKEM768``; the transcript hash binds the key to the
exchanged shares). Link time is three one-way trips plus the bits over the bandwidth:
``3 latency_s + bits / bandwidth_bps`` — one round trip more than :class:`AeadChannel`, whose
key is assumed pre-shared.

Secrets: every private key and nonce comes from the operating system's CSPRNG (inside
``cryptography``), never from the experiment generator, so the wire bytes differ on every
send (:attr:`Channel.wire_reproducible` is False) while the received update is exact.

References: FIPS 203 (ML-KEM, 2024); RFC 7748 (X25519); RFC 5869 (HKDF); NIST SP 800-38D
(GCM); Kwiatkowski, Kampanakis, Westerbaan & Stebila, "Post-quantum hybrid ECDHE-MLKEM key
agreement for TLSv1.3", IETF draft-ietf-tls-ecdhe-mlkem (X25519MLKEM768).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.mlkem import (
    MLKEM768PrivateKey,
    MLKEM768PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger, Tap, Verdict
from qtfl.channel.classical import ClassicalLink

X25519_PUBLIC_BYTES = 32
MLKEM768_PUBLIC_BYTES = 1184
MLKEM768_CIPHERTEXT_BYTES = 1088
NONCE_BYTES = 12
TAG_BYTES = 16
HELLO_BYTES = X25519_PUBLIC_BYTES + MLKEM768_PUBLIC_BYTES
REPLY_BYTES = X25519_PUBLIC_BYTES + MLKEM768_CIPHERTEXT_BYTES
#: One-way trips of one exchange: hello, reply, sealed update.
ONE_WAY_TRIPS = 3
_INFO = b"qtfl-pqc-v1"


class HandshakeError(ValueError):
    """A hello or reply of the wrong size or with an invalid key share."""


def _derive_key(ss_kem: bytes, ss_x25519: bytes, hello: bytes, reply: bytes) -> bytes:
    transcript = hashlib.sha256(hello + reply).digest()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + transcript).derive(
        ss_kem + ss_x25519
    )


@dataclass(frozen=True)
class PqcExchange:
    """The three messages of one exchange, exactly as they cross the wire."""

    hello: bytes
    reply: bytes
    sealed: bytes

    @property
    def wire_bytes(self) -> int:
        return len(self.hello) + len(self.reply) + len(self.sealed)

    def transcript(self) -> bytes:
        return self.hello + self.reply + self.sealed


class PqcSender:
    """The client end: ephemeral key shares, then the sealed update."""

    def __init__(self) -> None:
        self._x25519 = X25519PrivateKey.generate()
        self._kem = MLKEM768PrivateKey.generate()
        self.hello = self._x25519.public_key().public_bytes_raw() + (
            self._kem.public_key().public_bytes_raw()
        )

    def seal(self, update: FloatVector, reply: bytes) -> bytes:
        """``nonce || AES-256-GCM(update) || tag`` under the key agreed with ``reply``."""
        if len(reply) != REPLY_BYTES:
            raise HandshakeError(f"reply must be {REPLY_BYTES} bytes, got {len(reply)}")
        peer = X25519PublicKey.from_public_bytes(reply[:X25519_PUBLIC_BYTES])
        ss_kem = self._kem.decapsulate(reply[X25519_PUBLIC_BYTES:])
        key = _derive_key(ss_kem, self._x25519.exchange(peer), self.hello, reply)
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, update.tobytes(), self.hello + reply)


class PqcReceiver:
    """The server end: answers a hello, then opens the sealed update (or rejects it)."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._transcript = b""

    def respond(self, hello: bytes) -> bytes:
        """The reply to ``hello``: an X25519 share and the ML-KEM ciphertext."""
        if len(hello) != HELLO_BYTES:
            raise HandshakeError(f"hello must be {HELLO_BYTES} bytes, got {len(hello)}")
        try:
            peer_x = X25519PublicKey.from_public_bytes(hello[:X25519_PUBLIC_BYTES])
            peer_kem = MLKEM768PublicKey.from_public_bytes(hello[X25519_PUBLIC_BYTES:])
        except ValueError as exc:
            raise HandshakeError(f"invalid key share in hello: {exc}") from None
        own = X25519PrivateKey.generate()
        ss_kem, ciphertext = peer_kem.encapsulate()
        reply = own.public_key().public_bytes_raw() + ciphertext
        self._key = _derive_key(ss_kem, own.exchange(peer_x), hello, reply)
        self._transcript = hello + reply
        return reply

    def open(self, sealed: bytes) -> FloatVector | None:
        """The update, or ``None`` when the tag does not verify (tampered or forged)."""
        if self._key is None:
            raise HandshakeError("open() before respond(): no key agreed")
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            return None
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            plain = AESGCM(self._key).decrypt(nonce, body, self._transcript)
        except InvalidTag:
            return None
        if len(plain) % 4:
            return None
        return np.frombuffer(plain, dtype=np.float32).copy()


class PqcChannel(Channel):
    """Hybrid post-quantum key exchange (X25519 + ML-KEM-768) feeding AES-256-GCM.

    One fresh exchange per update; see the module docstring for the messages and the key
    derivation. The Ledger counts every byte of all three messages in ``classical_bits``;
    ``link_seconds`` is ``3 latency_s + bits / bandwidth_bps``.

    Args:
        latency_s: one-way latency of the classical wire.
        bandwidth_bps: its bandwidth (``None``: unlimited).

    Example:
        >>> import numpy as np
        >>> out = PqcChannel().send(np.ones(4, np.float32), rng=np.random.default_rng(0))
        >>> out.received.tolist(), out.ledger.classical_bits
        ([1.0, 1.0, 1.0, 1.0], 19040)
    """

    name = "pqc"
    wire_reproducible = False

    def __init__(self, *, latency_s: float = 0.0, bandwidth_bps: float | None = None) -> None:
        self.link = ClassicalLink(latency_s=latency_s, bandwidth_bps=bandwidth_bps)

    def exchange(self, update: FloatVector) -> tuple[PqcExchange, FloatVector | None]:
        """Run both ends once; returns the wire messages and what the server opened."""
        sender, receiver = PqcSender(), PqcReceiver()
        reply = receiver.respond(sender.hello)
        sealed = sender.seal(update, reply)
        return PqcExchange(sender.hello, reply, sealed), receiver.open(sealed)

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        wire, received = self.exchange(update)
        bits = 8 * wire.wire_bytes
        ledger = Ledger(
            payload_bits=8 * update.nbytes,
            classical_bits=bits,
            link_seconds=ONE_WAY_TRIPS * self.link.latency_s
            + (0.0 if self.link.bandwidth_bps is None else bits / self.link.bandwidth_bps),
        )
        tap = Tap(kind="ciphertext", observed=np.frombuffer(wire.transcript(), np.uint8).copy())
        if received is None:
            verdict = Verdict.abort("authentication-failed")
            return Delivery(received=None, ledger=ledger, verdict=verdict, tap=tap)
        return Delivery(received=received, ledger=ledger, verdict=Verdict.ok(), tap=tap)
