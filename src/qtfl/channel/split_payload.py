r"""Teleported payloads beyond bare basis bits, split into the sending and the receiving end.

:mod:`qtfl.channel.split` splits teleportation of basis-encoded bits: the server's raw Z
outcomes do not depend on the payload, which enters only through the Bell bit ``m1``. This
module does the same for the other payloads of
:class:`~qtfl.channel.teleportation.TeleportationChannel` — float32 bits, bits protected by a
stabilizer code (``qec``), and the angle and amplitude encodings read out from ``shots``
copies — so each end holds only what its party holds and the split equals the channel in
one process bit for bit (received values, ledger, verdict).

**Pauli frames.** On a :class:`~qtfl.channel.qubit_payload.FramedTeleport` link the
receiving end's record of each payload qubit is its Pauli frame before corrections,
``(raw, raw_z)`` (:class:`~qtfl.channel.split.ReceiverHalf`): the link's error ``(x, z)``
plus the sender's secret Bell frame ``(m1, m0)``. A Pauli ``X`` on a payload qubit flips its
Bell bit ``m1``, a ``Z`` flips ``m0`` (the Bell measurement's CNOT and Hadamard,
Gottesman 1998). The receiving end applies ``X^{m1} Z^{m0}`` in the frame — ``x = raw ⊕ m1``,
``z = raw_z ⊕ m0`` — decodes each code block by syndrome lookup
(:func:`~qtfl.quantum.qec.decode_frames`; no code: the physical frame) and reads each logical
qubit in the Z basis (flipped by ``X_L``) or the X basis (flipped by ``Z_L``).

**Logical payloads as Paulis.** A logical bit ``b`` read in Z is ``X_L^b |0_L>``, read in X
``Z_L^b |+_L>``: the sending end applies the logical Pauli's pattern (:func:`logical_pattern`)
to its Bell frame. For bits (basis, float32) ``b`` is the payload bit.

**Analog payloads (angle, amplitude).** The receiver's readout measurements (Z on each angle
qubit and amplitude register qubit, X on the amplitude ancilla, each logical when ``qec`` is
on) act on other qubits than the sender's Bell measurement, so they commute with it; measured
first, they leave the sender's payload in the eigenstate of the outcome they read, drawn from
the payload's ideal outcome law. So the sending end — which holds its payload state — draws
each copy's ideal outcome (the channel's own draws:
:func:`~qtfl.channel.qubit_payload.angle_counts`,
:func:`~qtfl.channel.qubit_payload.amplitude_counts`, from the transfer's noise stream after
the link sample, in the same order) and teleports that eigenstate. The joint law of the Bell
bits (uniform: the quantum one-time pad) and of the receiver's outcomes (ideal outcome ⊕ its
frame's readout flip) is the protocol's. The receiver then counts and reads out with the
link's readout-flip probabilities, as in process. Caveat, stated plainly: like every noise
draw of a run these draws come from the public ``(seed, scenario, round, client)`` stream
(the same seed reproduces the same readout), so the receiver — the update's intended
recipient — could pin a value closer than ``shots`` allow; an outsider, without the link
secret, sees uniform Bell bits either way. Shot noise is a cost here, not a protection.

What crosses the classical wire from the sender: its check outcomes, ``2`` Bell bits per
physical payload qubit, the header (``max_abs`` float32 for bits, the angle ``scale`` or
amplitude ``norm`` as float64 — the values the channel counts in ``header_bits``) and the
number of values.

References: Bennett et al., PRL 70, 1895 (1993); Gottesman, arXiv:quant-ph/9807006
(Pauli frames through Clifford circuits); Nielsen & Chuang §4.4 (deferred and commuting
measurements) and §10.5 (stabilizer codes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Delivery, FloatVector
from qtfl.channel.qubit_payload import _BLOCK
from qtfl.channel.safety import flagged_verdict
from qtfl.channel.split import (
    LinkKey,
    ReceiverHalf,
    SenderHalf,
    receive_bits,
    simulate_link,
    teleport_bits,
)
from qtfl.channel.verified import VerifiedTeleport
from qtfl.errors import InputError
from qtfl.quantum._amplitude import AmplitudeEncoding, AmplitudePayload
from qtfl.quantum._angle import AngleEncoding, AnglePayload
from qtfl.quantum.encoding import (
    BasisEncoding,
    BasisPayload,
    Float32Encoding,
    readout_flip_probabilities,
)
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.qec import StabilizerCode, decode_frames
from qtfl.security.run_secret import LinkSecret

Bits = npt.NDArray[np.uint8]
PayloadEncoding = BasisEncoding | Float32Encoding | AngleEncoding | AmplitudeEncoding


def logical_pattern(code: StabilizerCode | None, logical: str) -> tuple[Bits, Bits]:
    """``(x, z)`` physical bits of the logical ``X`` or ``Z`` (``logical``) of one block."""
    if code is None:
        return np.array([logical == "X"], np.uint8), np.array([logical == "Z"], np.uint8)
    word = code.logical_x if logical == "X" else code.logical_z
    letters = np.array(list(word.replace("_", "I")))
    return (
        ((letters == "X") | (letters == "Y")).astype(np.uint8),
        ((letters == "Z") | (letters == "Y")).astype(np.uint8),
    )


def physical_flips(code: StabilizerCode | None, apply_x: Bits, apply_z: Bits) -> tuple[Bits, Bits]:
    """``(x, z)`` per physical qubit of ``X_L^{apply_x} Z_L^{apply_z}`` on each logical qubit
    (logical qubit ``j`` on physical ``j*n .. j*n + n - 1``)."""
    lx_x, lx_z = logical_pattern(code, "X")
    lz_x, lz_z = logical_pattern(code, "Z")
    ax, az = apply_x.astype(np.uint8)[:, None], apply_z.astype(np.uint8)[:, None]
    x = (ax * lx_x) ^ (az * lz_x)
    z = (ax * lx_z) ^ (az * lz_z)
    return x.reshape(-1), z.reshape(-1)


def logical_readouts(code: StabilizerCode | None, x: Bits, z: Bits) -> tuple[Bits, Bits]:
    """``(z_readout, x_readout)`` per logical qubit of a payload whose corrected physical
    frame is ``(x, z)`` (module notes: syndrome lookup with a code)."""
    if code is None:
        return x, z
    out = decode_frames(code, x.reshape(-1, code.n), z.reshape(-1, code.n))
    return out[:, 0].copy(), out[:, 1].copy()


@dataclass(frozen=True)
class PayloadMessage:
    """What the sending end puts on the wire: check outcomes per attempt, Bell bits
    ``(n, 2)`` (``None`` if no attempt passed), the header value and the number of values."""

    announced: tuple[Bits, ...]
    bell_bits: Bits | None
    header: float
    n_values: int


class PayloadEnds:
    """Both ends' code for one channel's payload (each end runs only its own methods).

    Args:
        protocol: the channel's verify-then-teleport protocol (a FramedTeleport with a code
            or an analog encoding).
        encoding: the channel's encoding (not basis without a code: :mod:`qtfl.channel.split`
            handles that).
        code: the stabilizer code, or ``None``.
        logical_pair: the Pauli channel one logical qubit sees (the readout's flip law).
    """

    def __init__(
        self,
        protocol: VerifiedTeleport,
        encoding: PayloadEncoding,
        code: StabilizerCode | None,
        logical_pair: BellDiagonalPair,
    ) -> None:
        self.protocol = protocol
        self.encoding = encoding
        self.code = code
        self.logical = logical_pair
        self.analog = isinstance(encoding, AngleEncoding | AmplitudeEncoding)

    def physical_qubits(self, n_values: int) -> int:
        """Physical payload qubits (pairs) of an update of ``n_values`` values."""
        enc = self.encoding
        per_copy = enc.payload_qubits(n_values)
        copies = enc.shots if isinstance(enc, AngleEncoding | AmplitudeEncoding) else 1
        return int(per_copy * copies * (1 if self.code is None else self.code.n))

    # -- the sending end ---------------------------------------------------------------
    def transmit(
        self,
        update: FloatVector,
        key: LinkKey,
        secret: LinkSecret,
        peer_announced: Sequence[Bits],
    ) -> PayloadMessage:
        """Check, then teleport the payload's logical Paulis over the link sample of ``key``
        (the noise stream continues into the analog readout draws, as in process)."""
        n = self.physical_qubits(update.size)
        noise = key.rng()
        sample = simulate_link(self.protocol, n, rng=noise, secret_rng=secret.for_transfer(noise))
        half: SenderHalf = sample.sender
        zeros = np.zeros(n, np.uint8)
        announced, bell = teleport_bits(self.protocol, half, zeros, peer_announced)
        enc = self.encoding
        payload = enc.encode(update)
        header = (
            payload.scale if isinstance(payload, AnglePayload)
            else payload.norm if isinstance(payload, AmplitudePayload)
            else payload.max_abs
        )  # fmt: skip
        if bell is None:
            return PayloadMessage(announced, None, header, update.size)
        if isinstance(enc, AngleEncoding) and isinstance(payload, AnglePayload):
            apply_x = self._angle_outcomes(enc, payload, noise)
            apply_z = np.zeros_like(apply_x)
        elif isinstance(enc, AmplitudeEncoding) and isinstance(payload, AmplitudePayload):
            apply_x, apply_z = self._amplitude_outcomes(enc, payload, noise)
        else:
            assert isinstance(payload, BasisPayload)
            apply_x = payload.bit_array()
            apply_z = np.zeros_like(apply_x)
        px, pz = physical_flips(self.code, apply_x, apply_z)
        bell[:, 1] ^= px
        bell[:, 0] ^= pz
        return PayloadMessage(announced, bell, header, update.size)

    @staticmethod
    def _angle_outcomes(
        enc: AngleEncoding, payload: AnglePayload, rng: np.random.Generator
    ) -> Bits:
        """Each copy's ideal Z outcome, value-major (the draws of ``angle_counts``)."""
        s, d = enc.shots, payload.n_values
        p1 = enc.one_probability(payload)
        ideal = np.empty((d, s), np.uint8)
        step = max(1, _BLOCK // s)
        for start in range(0, d, step):
            stop = min(d, start + step)
            ideal[start:stop] = rng.random((stop - start, s)) < p1[start:stop, None]
        return ideal.reshape(-1)

    @staticmethod
    def _amplitude_outcomes(
        enc: AmplitudeEncoding, payload: AmplitudePayload, rng: np.random.Generator
    ) -> tuple[Bits, Bits]:
        """Each copy's ideal outcome (the draw of ``amplitude_counts``) as logical Paulis:
        the ancilla's X-basis bit as ``Z_L``, the register's Z-basis bits as ``X_L``."""
        n = payload.register_qubits
        dim = 1 << n
        dist = enc.outcome_distribution(payload)
        ideal = rng.choice(2 * dim, size=enc.shots, p=dist)
        shifts = np.arange(n, -1, -1, dtype=np.int64)  # ancilla (weight 2^n) first
        bits = ((ideal[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
        apply_x, apply_z = bits.copy(), np.zeros_like(bits)
        apply_z[:, 0], apply_x[:, 0] = bits[:, 0], 0
        return apply_x.reshape(-1), apply_z.reshape(-1)

    # -- the receiving end -------------------------------------------------------------
    def receive(self, message: PayloadMessage, half: ReceiverHalf, *, n_values: int) -> Delivery:
        """Re-run the test, correct the frame with the Bell bits, decode, read out."""
        enc = self.encoding
        if message.n_values != n_values:
            raise InputError(f"n_values {message.n_values}, expected {n_values}")
        if half.n_bits != self.physical_qubits(n_values):
            raise InputError("link records do not fit this update")
        out = receive_bits(
            self.protocol, half, message.announced, message.bell_bits,
            header_bits=enc.header_bits,
        )  # fmt: skip
        if isinstance(enc, AngleEncoding | AmplitudeEncoding):
            logical_bits = 32 * n_values  # the float32 values the encoder takes
        else:
            logical_bits = n_values * enc.bits
        ledger = dataclasses.replace(out.ledger, payload_bits=logical_bits)
        if out.bits is None:
            return Delivery(None, ledger, out.verdict, out.tap)
        assert message.bell_bits is not None
        x = out.bits
        raw_z = half.raw_z if half.raw_z is not None else np.zeros_like(x)
        z = raw_z ^ np.asarray(message.bell_bits, np.uint8)[:, 0]
        z_read, x_read = logical_readouts(self.code, x, z)
        verdict = out.verdict
        received: FloatVector | None = None
        if isinstance(enc, AngleEncoding):
            counts = z_read.reshape(n_values, enc.shots).sum(axis=1, dtype=np.int64)
            q = self.logical.teleported_bit_error
            angles = enc.readout(counts, scale=message.header, flip_probability=q)
            received = angles.astype(np.float32)
        elif isinstance(enc, AmplitudeEncoding):
            n = enc.register_qubits(n_values)
            width = n + 1
            bits = z_read.reshape(enc.shots, width).astype(np.int64)
            bits[:, 0] = x_read.reshape(enc.shots, width)[:, 0]
            weights = np.int64(1) << np.arange(n, -1, -1, dtype=np.int64)
            counts = np.bincount(bits @ weights, minlength=2 << n).astype(np.int64)
            flips = readout_flip_probabilities(self.logical.pauli_probabilities, register_qubits=n)
            amplitudes = enc.readout(
                counts, norm=message.header, n_values=n_values, flip_probability=flips
            )
            received = amplitudes.astype(np.float32)
        else:
            header = BasisPayload(
                packed=np.zeros((z_read.size + 7) // 8, np.uint8),
                n_values=n_values,
                bits_per_value=enc.bits,
                max_abs=message.header,
            )
            values = enc.decode(header.with_bits(z_read))
            if (
                isinstance(enc, Float32Encoding)
                and enc.flagged(values, max_abs=message.header).any()
            ):
                verdict = flagged_verdict(verdict)
            else:
                received = values
        return Delivery(received, ledger, verdict, out.tap)
