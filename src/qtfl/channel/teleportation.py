"""TeleportationChannel: encode, verify the pairs, teleport, correct and decode.

By default the update is basis-encoded (:class:`~qtfl.quantum.encoding.BasisEncoding`, one
qubit per bit), the bits go through :class:`~qtfl.channel.verified.VerifiedTeleport` (verify,
then teleport; retries; ledger — see that module), and the server corrects and decodes.
``encoding="float32"`` sends the exact IEEE-754 bits instead
(:class:`~qtfl.quantum.encoding.Float32Encoding`); ``"angle"``/``"amplitude"`` teleport
quantum states read out from ``shots`` copies, and ``qec`` encodes each payload qubit in a
stabilizer code — both simulated from the protocol's sampled Pauli frame
(:mod:`qtfl.channel.qubit_payload`). The two
ends are separate objects (:class:`TeleportSender`: encode; :class:`TeleportReceiver`:
corrections ``X^{m1} Z^{m0}`` + decode) around the shared link sample, so later stages (FEC,
purification, a Flower client/server split) slot in between.

Options. ``purify_to=F*`` purifies the link's pairs (DEJMPS recurrence, fewest rounds reaching
``F*``) before checks and payload, counting the sacrificed pairs in
``Ledger.purification_pairs`` (:class:`~qtfl.channel.verified.PurifiedLink`). ``fec`` protects
the payload bits with an LDPC code + CRC-32 per block (:mod:`qtfl.channel.fec`); blocks that
fail are sent again over fresh, freshly verified pairs
(:func:`~qtfl.channel.retransmission.deliver_with_retransmission`), and a delivery with a
block still failing, or a value outside the header's range, is rejected by the decoder
safety net (:mod:`qtfl.channel.safety`; ``Verdict.reason`` ``"safety-net-flagged"``, not
``detected``) rather than aggregated. Then ``payload_qubits`` counts every teleported codeword
bit (parity and resends included), so ``bell_pairs = payload_qubits + check_pairs +
purification_pairs`` holds for every delivery whose attempts all passed their checks.

Secrets. The channel holds its link's :class:`~qtfl.security.run_secret.LinkSecret` (a fresh
one from the OS CSPRNG unless given). ``send(update, rng=...)`` draws the noise from ``rng``
and the check positions, bases and Bell frame from the link secret's generator for this
transfer (:meth:`LinkSecret.for_transfer`), so the same ``rng`` with another secret gives
the same received values and verdicts on untouched pairs and different wire bits.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl import registry
from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger
from qtfl.channel.fec import FecCodec
from qtfl.channel.qubit_payload import (
    FramedTeleport,
    amplitude_counts,
    angle_counts,
    logical_pair,
    readout_flips,
)
from qtfl.channel.retransmission import DecodeSteps, retransmission_steps, run_steps
from qtfl.channel.safety import flagged_verdict, screen_values
from qtfl.channel.verified import (
    BitTransfer,
    LinkSpec,
    PairLink,
    PurifiedLink,
    Verification,
    VerifiedTeleport,
)
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.encoding import (
    AmplitudeEncoding,
    AngleEncoding,
    BasisEncoding,
    BasisPayload,
    Float32Encoding,
    readout_flip_probabilities,
)
from qtfl.quantum.noise import WernerPair
from qtfl.quantum.purification import purify_until
from qtfl.quantum.qec import get_code
from qtfl.security.eavesdropper import (
    ClassicalTap,
    Eavesdropper,
    NoEavesdropper,
    make_eavesdropper,
)
from qtfl.security.run_secret import LinkSecret
from qtfl.updates import validate_update

Bits = npt.NDArray[np.uint8]
BitEncoding = BasisEncoding | Float32Encoding
AnalogEncoding = AngleEncoding | AmplitudeEncoding
ANALOG_ENCODINGS: tuple[str, ...] = ("angle", "amplitude")
"""Encodings whose payload is a quantum state read out statistically (no bits to FEC)."""
DEFAULT_SHOTS = 1024
"""Copies per readout of an analog encoding when ``shots`` is not given."""

__all__ = [
    "LinkSpec",
    "PairLink",
    "TeleportReceiver",
    "TeleportReport",
    "TeleportSender",
    "TeleportationChannel",
    "Verification",
    "VerifiedTransfer",
    "verified_transfer",
]


class TeleportSender:
    """The client end: encodes the update and produces the Bell-measurement bits."""

    def __init__(self, encoding: BitEncoding) -> None:
        self.encoding = encoding

    def encode(self, update: FloatVector) -> BasisPayload:
        return self.encoding.encode(update)


class TeleportReceiver:
    """The server end: applies the corrections ``X^{m1} Z^{m0}`` and decodes."""

    def __init__(self, encoding: BitEncoding) -> None:
        self.encoding = encoding

    @staticmethod
    def correct(raw: Bits, bell_bits: Bits) -> Bits:
        """Z-basis outcome after corrections: only ``X^{m1}`` flips it."""
        out: Bits = raw ^ bell_bits[:, 1]
        return out

    def decode(self, header: BasisPayload, bits: Bits) -> FloatVector:
        return self.encoding.decode(header.with_bits(bits))


@dataclass(frozen=True)
class TeleportReport:
    """A Delivery plus what only the simulation knows: payload bits and the bit transfer."""

    delivery: Delivery
    payload_bits: Bits
    transfer: BitTransfer


class TeleportationChannel(Channel):
    """Basis-encoded update teleported through a link's pairs after an eavesdropping test.

    Args:
        link: anything with ``pair``, ``pair_rate_hz``, ``latency_s`` (:class:`LinkSpec`, a
            compiled ``FiberLink``).
        bits: fixed-point bits per value of the basis encoding.
        encoding: ``basis`` (``bits``-bit fixed point, one qubit per bit), ``float32`` (the
            IEEE-754 bits, 32 qubits per value, exact), ``angle`` (one qubit per value) or
            ``amplitude`` (``ceil(log2 d) + 1`` qubits for the whole update), the last two
            read out from ``shots`` copies (:mod:`qtfl.quantum.encoding`,
            :mod:`qtfl.channel.qubit_payload`); one of :data:`qtfl.registry.ENCODINGS`.
        shots: copies per readout of ``angle``/``amplitude`` (default 1024); refused for the
            bit encodings.
        qec: ``none`` or a code of :data:`qtfl.registry.QEC_CODES`: each payload qubit is
            encoded in ``code.n`` physical qubits, each teleported through its own pair, and
            decoded by syndrome lookup (:mod:`qtfl.quantum.qec`); the Ledger counts the
            physical pairs. Combines with ``fec`` (FEC over the decoded logical bits, the
            code chosen for the logical bit error) and ``purify_to`` (pairs purified first).
        verification: the check-pair test (:class:`Verification`).
        eavesdropper: the attacker on this link (default: none).
        purify_to: purify the pairs (DEJMPS) up to this fidelity first (default: no).
        fec: ``"none"``, ``"auto"`` or a code of :data:`qtfl.channel.fec.FEC_CODES`, chosen
            for the (purified) pair's teleported bit error.
        max_retransmissions: FEC resend rounds for blocks that failed.
        secret: the key both ends of this link share (default: a fresh random one).

    The channel contract: ``send(update, rng=...)`` returns a :class:`~qtfl.channel.base.Delivery`
    with the received update, the ledger of what it cost, the verdict of the checks and what
    a wiretap saw:

    >>> import numpy as np
    >>> from qtfl.channel.verified import LinkSpec, Verification
    >>> from qtfl.quantum.noise import WernerPair
    >>> link = LinkSpec(WernerPair(0.97), pair_rate_hz=1e6, latency_s=1e-4)
    >>> channel = TeleportationChannel(link, bits=16, verification=Verification(), fec="auto")
    >>> update = np.linspace(-1, 1, 100, dtype=np.float32)
    >>> out = channel.send(update, rng=np.random.default_rng(0))
    >>> out.verdict.accepted, out.tap.kind
    (True, 'bell-measurement-bits')
    >>> out.ledger.payload_bits, out.ledger.bell_pairs >= out.ledger.payload_bits
    (1600, True)
    >>> bool(np.abs(out.received - update).max() < 2 / (2**15 - 1))  # within one 16-bit step
    True
    """

    name = "teleport"

    def __init__(
        self,
        link: PairLink,
        *,
        bits: int = 16,
        encoding: str = "basis",
        shots: int | None = None,
        qec: str = "none",
        verification: Verification | None = None,
        eavesdropper: Eavesdropper | None = None,
        purify_to: float | None = None,
        fec: str = "none",
        max_retransmissions: int = 8,
        secret: LinkSecret | None = None,
    ) -> None:
        self.secret = secret if secret is not None else LinkSecret()
        name = require_choice("encoding", encoding, registry.ENCODINGS)
        self.analog = name in ANALOG_ENCODINGS
        if shots is not None and not self.analog:
            raise InputError(
                f"shots applies to the angle and amplitude encodings (copies read out), not "
                f"to {name!r}, which sends each bit once"
            )
        self.code = None if require_choice("qec", qec, registry.QEC_CODES) == "none" else (
            get_code(qec)
        )
        if self.analog and fec != "none":
            raise InputError(
                f"fec protects bits, but the {name} encoding teleports quantum states read out "
                "statistically; protect them with qec (bit-flip, phase-flip, shor, "
                "five-qubit), or use encoding basis with fec"
            )
        attacker = eavesdropper or NoEavesdropper()
        if (self.analog or self.code is not None) and not isinstance(
            attacker, NoEavesdropper | ClassicalTap
        ):
            what = f"the {name} encoding" if self.analog else f"qec {qec!r}"
            raise InputError(
                f"an eavesdropper on the pairs ({attacker.name}) is modelled for basis-encoded "
                f"bits without qec only; what it learns from {what} is not: use encoding "
                "basis and qec none on attacked links (a classical 'tap' is accepted)"
            )
        if purify_to is not None:
            target = require_range("purify_to", purify_to, low=0.25, high=1.0)
            link = PurifiedLink(link, purify_until(link.pair, target_fidelity=target))
        protocol = FramedTeleport if (self.analog or self.code is not None) else VerifiedTeleport
        self.protocol = protocol(link, verification=verification, eavesdropper=eavesdropper)
        self.logical = logical_pair(link.pair, self.code)
        flips = (self.logical.qber_z, self.logical.qber_x)  # Z- and X-basis readout flips
        if self.analog and max(flips) >= 0.5 - 1e-9:
            raise InputError(
                f"the {name} encoding cannot be read out over these pairs: a teleported "
                f"qubit's readout flips with probability {max(flips):.3f} (>= 1/2 carries no "
                "information); raise the fidelity, purify_to, or use qec"
            )
        self.codec = FecCodec.for_link(
            fec, bit_error_rate=min(0.5, self.logical.teleported_bit_error)
        )
        self.max_retransmissions = require_int("max_retransmissions", max_retransmissions, low=0)
        copies = DEFAULT_SHOTS if shots is None else shots
        bit_encoding: BitEncoding = Float32Encoding() if name == "float32" else BasisEncoding(bits)
        self.encoding: BitEncoding | AnalogEncoding = bit_encoding
        if name == "angle":
            self.encoding = AngleEncoding(shots=copies)
        elif name == "amplitude":
            self.encoding = AmplitudeEncoding(shots=copies)
        self.sender = TeleportSender(bit_encoding)
        self.receiver = TeleportReceiver(bit_encoding)

    @property
    def link(self) -> PairLink:
        return self.protocol.link

    @property
    def eavesdropper(self) -> Eavesdropper:
        return self.protocol.eavesdropper

    def payload_qubits(self, n_values: int) -> int:
        """Teleported (physical) payload qubits per update of ``n_values`` values, before
        checks, purification, FEC parity and resends: ``copies x qubits per copy x code.n``."""
        per_copy = self.encoding.payload_qubits(n_values)
        copies = self.encoding.shots if isinstance(self.encoding, AnalogEncoding) else 1
        return per_copy * copies * (1 if self.code is None else self.code.n)

    def readout_variance(self, update: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per-value variance the library states for an analog encoding's delivered values
        (:meth:`AngleEncoding.variance`, :meth:`AmplitudeEncoding.variance`) at this link's
        (logical, after ``qec``) readout flips; each delivered value is unbiased."""
        enc = self.encoding
        if isinstance(enc, AngleEncoding):
            payload = enc.encode(update)
            return enc.variance(payload, flip_probability=self.logical.teleported_bit_error)
        if isinstance(enc, AmplitudeEncoding):
            amp = enc.encode(update)
            return enc.variance(amp, flip_probability=self._amplitude_flips(amp.register_qubits))
        raise InputError(f"the {enc.name} encoding is not statistical: it has no readout variance")

    def _amplitude_flips(self, register_qubits: int) -> npt.NDArray[np.float64]:
        return readout_flip_probabilities(
            self.logical.pauli_probabilities, register_qubits=register_qubits
        )

    def transmit(self, update: FloatVector, *, rng: np.random.Generator) -> TeleportReport:
        """Run the whole protocol and keep the simulation-side evidence."""
        return run_steps(self._transmit_steps(update, rng=rng))

    def send_steps(
        self, update: npt.ArrayLike, *, rng: np.random.Generator
    ) -> DecodeSteps[Delivery]:
        """:meth:`send` step by step: yields each FEC pass's received blocks to decode
        (none without ``fec``) and returns the Delivery. Run alone
        (:func:`~qtfl.channel.retransmission.run_steps`) it is :meth:`send`;
        :func:`~qtfl.channel.batched.send_batched` runs several clients' sends side by side
        and decodes their blocks in one decoder call, with the same Deliveries."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        report = yield from self._transmit_steps(validate_update(update), rng=rng)
        return report.delivery

    def _transmit_steps(
        self, update: FloatVector, *, rng: np.random.Generator
    ) -> DecodeSteps[TeleportReport]:
        if self.analog:
            return self._transmit_analog(update, rng=rng)
        header = self.sender.encode(update)
        bits = header.bit_array()
        if self.codec is not None:
            return (yield from self._transmit_fec(header, bits, rng=rng))
        t, corrected = self._teleport_bits(bits, rng, header_bits=header.header_bits)
        verdict, received = t.verdict, None
        if corrected is not None:
            values = self.receiver.decode(header, corrected)
            if isinstance(self.encoding, Float32Encoding) and self.encoding.flagged(
                values, max_abs=header.max_abs
            ).any():
                verdict = flagged_verdict(verdict)
            else:
                received = values
        delivery = Delivery(received=received, ledger=t.ledger, verdict=verdict, tap=t.tap)
        return TeleportReport(delivery=delivery, payload_bits=bits, transfer=t)

    def _teleport_bits(
        self, bits: Bits, rng: np.random.Generator, *, header_bits: int = 0
    ) -> tuple[BitTransfer, Bits | None]:
        """One verified transfer of ``bits``: the transfer and the corrected bits (``None``
        when it aborted). With ``qec`` each bit is a logical qubit of ``code.n`` pairs."""
        secret_rng = self.secret.for_transfer(rng)
        if self.code is None:
            t = self.protocol.run(bits, rng=rng, secret_rng=secret_rng, header_bits=header_bits)
            if t.sample is None:
                return t, None
            return t, self.receiver.correct(t.sample.raw, t.sample.bell_bits)
        physical = np.zeros(bits.size * self.code.n, np.uint8)
        t = self.protocol.run(physical, rng=rng, secret_rng=secret_rng, header_bits=header_bits)
        t = dataclasses.replace(t, ledger=dataclasses.replace(t.ledger, payload_bits=bits.size))
        if t.sample is None:
            return t, None
        z_flips, _ = readout_flips(t.sample, self.code)
        out: Bits = bits ^ z_flips
        return t, out

    def _transmit_analog(self, update: FloatVector, *, rng: np.random.Generator) -> TeleportReport:
        """Angle/amplitude: verify and teleport every copy's qubits, sample the readout."""
        enc = self.encoding
        assert isinstance(enc, AnalogEncoding)
        physical = np.zeros(self.payload_qubits(update.size), np.uint8)
        secret_rng = self.secret.for_transfer(rng)
        t = self.protocol.run(physical, rng=rng, secret_rng=secret_rng, header_bits=enc.header_bits)
        # the encoder takes the float32 values themselves: 32 bits each (no bits on qubits)
        ledger = dataclasses.replace(t.ledger, payload_bits=32 * update.size)
        received = None
        if t.sample is not None:
            z_flips, x_flips = readout_flips(t.sample, self.code)
            if isinstance(enc, AngleEncoding):
                angles = enc.encode(update)
                counts = angle_counts(enc, angles, z_flips, rng=rng)
                q = self.logical.teleported_bit_error
                values = enc.readout(counts, scale=angles.scale, flip_probability=q)
            else:
                amp = enc.encode(update)
                counts = amplitude_counts(enc, amp, z_flips, x_flips, rng=rng)
                flips = self._amplitude_flips(amp.register_qubits)
                values = enc.readout(
                    counts, norm=amp.norm, n_values=amp.n_values, flip_probability=flips
                )
            received = values.astype(np.float32)
        delivery = Delivery(received=received, ledger=ledger, verdict=t.verdict, tap=t.tap)
        return TeleportReport(delivery=delivery, payload_bits=physical, transfer=t)

    def _transmit_fec(
        self, header: BasisPayload, bits: Bits, *, rng: np.random.Generator
    ) -> DecodeSteps[TeleportReport]:
        """FEC-encode, teleport every pass over fresh verified pairs, decode, screen."""
        assert self.codec is not None
        transfers: list[BitTransfer] = []

        def send(x: Bits, g: np.random.Generator) -> Bits | None:
            t, corrected = self._teleport_bits(x, g)
            transfers.append(t)
            return corrected

        out = yield from retransmission_steps(
            self.codec, bits, send, rng=rng, max_retransmissions=self.max_retransmissions
        )
        total = sum((t.ledger for t in transfers), Ledger())
        ledger = dataclasses.replace(
            total,
            payload_bits=int(bits.size),
            classical_bits=total.classical_bits + header.header_bits,
            retransmissions=total.retransmissions + out.retransmitted_blocks,
        )
        last = transfers[-1]
        verdict, received = last.verdict, None
        if not out.aborted:
            values = self.receiver.decode(header, out.bits)
            screening = screen_values(  # no failed block: no value can be in one
                values,
                max_abs=header.max_abs,
                failed_bit_mask=out.failed_bit_mask() if out.failed_blocks.any() else None,
                bits_per_value=header.bits_per_value,
            )
            if screening.count or not np.isfinite(values).all():
                verdict = flagged_verdict(verdict)
            else:
                received = values
        learned = [t.leakage.information_bits for t in transfers if t.leakage is not None]
        tap = dataclasses.replace(last.tap, information_bits=sum(learned) if learned else None)
        delivery = Delivery(received=received, ledger=ledger, verdict=verdict, tap=tap)
        return TeleportReport(delivery=delivery, payload_bits=bits, transfer=last)

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        return self.transmit(update, rng=rng).delivery


@dataclass(frozen=True)
class VerifiedTransfer:
    """One verified transfer of ``payload`` random bits, with the eavesdropper that attacked
    it: what ``qtfl teleport`` reports (:func:`qtfl.present.teleport.teleport_figures`).

    ``payload_bit_errors`` is ``None`` when the verdict withheld the payload.
    """

    payload: npt.NDArray[np.uint8] = dataclasses.field(repr=False)
    transfer: BitTransfer
    eavesdropper: Eavesdropper
    check_fraction: float
    alpha: float
    seconds: float
    payload_bit_errors: int | None

    @property
    def payload_bits(self) -> int:
        return int(self.payload.size)

    @property
    def bit_error_rate(self) -> float | None:
        """Payload bit errors over payload bits of this run (``None``: payload withheld)."""
        if self.payload_bit_errors is None:
            return None
        return self.payload_bit_errors / self.payload_bits


def verified_transfer(
    *,
    bits: int,
    fidelity: float,
    seed: int,
    eavesdropper: str = "none",
    eavesdropper_fraction: float | None = None,
    eavesdropper_basis: str | None = None,
    check_fraction: float = 0.1,
    alpha: float = 0.01,
    secret: LinkSecret | None = None,
) -> VerifiedTransfer:
    """``bits`` random payload bits through Werner pairs of ``fidelity``: check pairs first,
    then teleport (:class:`~qtfl.channel.verified.VerifiedTeleport`), under ``eavesdropper``
    (:func:`~qtfl.security.eavesdropper.make_eavesdropper`; its options are refused where
    they do not apply). ``seconds`` is the wall time of the protocol run.

    ``seed`` fixes the payload and the noise; the ends' secret choices come from ``secret``
    (fresh by default), so under an attack the figures are reproducible only with the same
    secret.
    """
    n = require_int("bits", bits, low=1, high=200_000_000)
    attacker = make_eavesdropper(
        eavesdropper, fraction=eavesdropper_fraction, basis=eavesdropper_basis
    )
    protocol = VerifiedTeleport(
        LinkSpec(WernerPair(fidelity)),
        verification=Verification(check_fraction=check_fraction, alpha=alpha),
        eavesdropper=attacker,
    )
    rng = np.random.default_rng(require_int("seed", seed, low=0))
    payload = rng.integers(0, 2, n, dtype=np.uint8)
    link_secret = secret if secret is not None else LinkSecret()
    start = time.perf_counter()
    t = protocol.run(payload, rng=rng, secret_rng=link_secret.for_transfer(rng))
    seconds = time.perf_counter() - start
    errors = None
    if t.sample is not None:
        received = TeleportReceiver.correct(t.sample.raw, t.sample.bell_bits)
        errors = int(np.count_nonzero(received != payload))
    return VerifiedTransfer(
        payload=payload,
        transfer=t,
        eavesdropper=attacker,
        check_fraction=check_fraction,
        alpha=alpha,
        seconds=seconds,
        payload_bit_errors=errors,
    )
