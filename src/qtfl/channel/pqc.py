r"""Post-quantum classical baseline: hybrid X25519 + ML-KEM-768 key exchange, then AES-256-GCM.

The alternative a practitioner would deploy today instead of a quantum link: the hybrid key
agreement of TLS 1.3's ``X25519MLKEM768`` group, one fresh exchange per update (forward
secrecy per round), the shared secrets combined with HKDF-SHA256 and the update sealed with
AES-256-GCM. Secure if either X25519 (classical) or ML-KEM-768 (post-quantum, FIPS 203)
holds.

The exchange, as the two ends run it (:class:`PqcReceiver` is the server, :class:`PqcSender`
the client; each holds only its own private keys). The receiver speaks first, so that on
Flower its keys ride with the train message and a transfer takes one reply:

1. ``announcement``  server -> client: an ephemeral X25519 public key (32 B) and an
   ephemeral ML-KEM-768 encapsulation key (1,184 B);
2. ``sealed``  client -> server: its ephemeral X25519 public key (32 B), the ML-KEM
   ciphertext (1,088 B) encapsulated to the server's key, then
   ``nonce (12 B) || AES-256-GCM(update) || tag (16 B)``.

Both ends derive

.. math::

    K = \mathrm{HKDF}_{\mathrm{SHA256}}\big(ss_{\mathrm{KEM}} \,\|\, ss_{\mathrm{X25519}},\;
        \texttt{"qtfl-pqc-v2"} \,\|\, \mathrm{SHA256}(\mathrm{announcement} \,\|\,
        \mathrm{shares})\big)

(the ML-KEM secret first, as in ``X25519MLKEM768``; the transcript hash binds the key to the
exchanged shares, which are also the AES-GCM associated data). Link time is two one-way
trips plus the bits over the bandwidth: ``2 latency_s + bits / bandwidth_bps`` — one trip
more than :class:`AeadChannel`, whose key is assumed pre-shared.

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
#: The receiver's announcement: its X25519 public key and ML-KEM-768 encapsulation key.
ANNOUNCE_BYTES = X25519_PUBLIC_BYTES + MLKEM768_PUBLIC_BYTES
#: The sender's key shares before the sealed update: X25519 public key, ML-KEM ciphertext.
SHARES_BYTES = X25519_PUBLIC_BYTES + MLKEM768_CIPHERTEXT_BYTES
#: Bytes of the sender's message beyond the update itself.
SEAL_OVERHEAD_BYTES = SHARES_BYTES + NONCE_BYTES + TAG_BYTES
#: One-way trips of one exchange: the announcement, the sealed update.
ONE_WAY_TRIPS = 2
_INFO = b"qtfl-pqc-v2"


class HandshakeError(ValueError):
    """An announcement of the wrong size or with an invalid key share."""


def _derive_key(ss_kem: bytes, ss_x25519: bytes, announcement: bytes, shares: bytes) -> bytes:
    transcript = hashlib.sha256(announcement + shares).digest()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + transcript).derive(
        ss_kem + ss_x25519
    )


@dataclass(frozen=True)
class PqcExchange:
    """The two messages of one exchange, exactly as they cross the wire."""

    announcement: bytes
    sealed: bytes

    @property
    def wire_bytes(self) -> int:
        return len(self.announcement) + len(self.sealed)

    def transcript(self) -> bytes:
        return self.announcement + self.sealed


class PqcReceiver:
    """The server end: fresh key pairs, their public halves announced; opens a sealed update.

    The private keys stay in this object (one per transfer, never serialised).
    """

    def __init__(self) -> None:
        self._x25519 = X25519PrivateKey.generate()
        self._kem = MLKEM768PrivateKey.generate()
        self.announcement = self._x25519.public_key().public_bytes_raw() + (
            self._kem.public_key().public_bytes_raw()
        )

    def open(self, sealed: bytes) -> FloatVector | None:
        """The update, or ``None`` when the message does not authenticate (tampered, forged,
        sealed to other keys, or too short to hold the shares, nonce and tag)."""
        if len(sealed) < SEAL_OVERHEAD_BYTES:
            return None
        shares = sealed[:SHARES_BYTES]
        nonce = sealed[SHARES_BYTES : SHARES_BYTES + NONCE_BYTES]
        body = sealed[SHARES_BYTES + NONCE_BYTES :]
        try:
            peer = X25519PublicKey.from_public_bytes(shares[:X25519_PUBLIC_BYTES])
            ss_x = self._x25519.exchange(peer)  # ValueError on a low-order point
            ss_kem = self._kem.decapsulate(shares[X25519_PUBLIC_BYTES:])  # implicit rejection
            key = _derive_key(ss_kem, ss_x, self.announcement, shares)
            plain = AESGCM(key).decrypt(nonce, body, self.announcement + shares)
        except (InvalidTag, ValueError):
            return None
        if len(plain) % 4:
            return None
        return np.frombuffer(plain, dtype=np.float32).copy()


class PqcSender:
    """The client end: encapsulates to the announced keys and seals the update."""

    @staticmethod
    def seal(update: FloatVector, announcement: bytes) -> bytes:
        """``x25519 share || ML-KEM ciphertext || nonce || AES-256-GCM(update) || tag``."""
        if len(announcement) != ANNOUNCE_BYTES:
            raise HandshakeError(
                f"announcement must be {ANNOUNCE_BYTES} bytes, got {len(announcement)}"
            )
        try:
            peer_x = X25519PublicKey.from_public_bytes(announcement[:X25519_PUBLIC_BYTES])
            peer_kem = MLKEM768PublicKey.from_public_bytes(announcement[X25519_PUBLIC_BYTES:])
        except ValueError as exc:
            raise HandshakeError(f"invalid key share in announcement: {exc}") from None
        own = X25519PrivateKey.generate()
        ss_kem, ciphertext = peer_kem.encapsulate()
        shares = own.public_key().public_bytes_raw() + ciphertext
        key = _derive_key(ss_kem, own.exchange(peer_x), announcement, shares)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, update.tobytes(), announcement + shares)
        return shares + nonce + sealed


def pqc_ledger(link: ClassicalLink, *, update_bytes: int, wire_bytes: int) -> Ledger:
    """The cost of one exchange (both ends count it alike): every byte of both messages."""
    bits = 8 * wire_bytes
    return Ledger(
        payload_bits=8 * update_bytes,
        classical_bits=bits,
        link_seconds=ONE_WAY_TRIPS * link.latency_s
        + (0.0 if link.bandwidth_bps is None else bits / link.bandwidth_bps),
    )


class PqcChannel(Channel):
    """Hybrid post-quantum key exchange (X25519 + ML-KEM-768) feeding AES-256-GCM.

    One fresh exchange per update; see the module docstring for the messages and the key
    derivation. The Ledger counts every byte of both messages in ``classical_bits``;
    ``link_seconds`` is ``2 latency_s + bits / bandwidth_bps``.

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
        receiver = PqcReceiver()
        sealed = PqcSender.seal(update, receiver.announcement)
        return PqcExchange(receiver.announcement, sealed), receiver.open(sealed)

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        wire, received = self.exchange(update)
        ledger = pqc_ledger(self.link, update_bytes=update.nbytes, wire_bytes=wire.wire_bytes)
        tap = Tap(kind="ciphertext", observed=np.frombuffer(wire.transcript(), np.uint8).copy())
        if received is None:
            verdict = Verdict.abort("authentication-failed")
            return Delivery(received=None, ledger=ledger, verdict=verdict, tap=tap)
        return Delivery(received=received, ledger=ledger, verdict=Verdict.ok(), tap=tap)
