"""TeleportationChannel: encode, verify the pairs, teleport, correct and decode.

The update is basis-encoded (:class:`~qtfl.quantum.encoding.BasisEncoding`, one qubit per
bit), the bits go through :class:`~qtfl.channel.verified.VerifiedTeleport` (verify, then
teleport; retries; ledger — see that module), and the server corrects and decodes. The two
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

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger, Verdict
from qtfl.channel.fec import FecCodec
from qtfl.channel.retransmission import deliver_with_retransmission
from qtfl.channel.safety import screen_values
from qtfl.channel.verified import (
    BitTransfer,
    LinkSpec,
    PairLink,
    PurifiedLink,
    Verification,
    VerifiedTeleport,
)
from qtfl.errors import require_int, require_range
from qtfl.quantum.encoding import BasisEncoding, BasisPayload
from qtfl.quantum.noise import WernerPair
from qtfl.quantum.purification import purify_until
from qtfl.security.eavesdropper import Eavesdropper, make_eavesdropper
from qtfl.security.run_secret import LinkSecret

Bits = npt.NDArray[np.uint8]

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

    def __init__(self, encoding: BasisEncoding) -> None:
        self.encoding = encoding

    def encode(self, update: FloatVector) -> BasisPayload:
        return self.encoding.encode(update)


class TeleportReceiver:
    """The server end: applies the corrections ``X^{m1} Z^{m0}`` and decodes."""

    def __init__(self, encoding: BasisEncoding) -> None:
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
        verification: Verification | None = None,
        eavesdropper: Eavesdropper | None = None,
        purify_to: float | None = None,
        fec: str = "none",
        max_retransmissions: int = 8,
        secret: LinkSecret | None = None,
    ) -> None:
        self.secret = secret if secret is not None else LinkSecret()
        if purify_to is not None:
            target = require_range("purify_to", purify_to, low=0.25, high=1.0)
            link = PurifiedLink(link, purify_until(link.pair, target_fidelity=target))
        self.protocol = VerifiedTeleport(link, verification=verification, eavesdropper=eavesdropper)
        self.codec = FecCodec.for_link(fec, bit_error_rate=min(0.5, link.pair.teleported_bit_error))
        self.max_retransmissions = require_int("max_retransmissions", max_retransmissions, low=0)
        self.encoding = BasisEncoding(bits=bits)
        self.sender = TeleportSender(self.encoding)
        self.receiver = TeleportReceiver(self.encoding)

    @property
    def link(self) -> PairLink:
        return self.protocol.link

    @property
    def eavesdropper(self) -> Eavesdropper:
        return self.protocol.eavesdropper

    def transmit(self, update: FloatVector, *, rng: np.random.Generator) -> TeleportReport:
        """Run the whole protocol and keep the simulation-side evidence."""
        header = self.sender.encode(update)
        bits = header.bit_array()
        if self.codec is not None:
            return self._transmit_fec(header, bits, rng=rng)
        secret_rng = self.secret.for_transfer(rng)
        t = self.protocol.run(bits, rng=rng, secret_rng=secret_rng, header_bits=header.header_bits)
        received = None
        if t.sample is not None:
            corrected = self.receiver.correct(t.sample.raw, t.sample.bell_bits)
            received = self.receiver.decode(header, corrected)
        delivery = Delivery(received=received, ledger=t.ledger, verdict=t.verdict, tap=t.tap)
        return TeleportReport(delivery=delivery, payload_bits=bits, transfer=t)

    def _transmit_fec(
        self, header: BasisPayload, bits: Bits, *, rng: np.random.Generator
    ) -> TeleportReport:
        """FEC-encode, teleport every pass over fresh verified pairs, decode, screen."""
        assert self.codec is not None
        transfers: list[BitTransfer] = []

        def send(x: Bits, g: np.random.Generator) -> Bits | None:
            t = self.protocol.run(x, rng=g, secret_rng=self.secret.for_transfer(g))
            transfers.append(t)
            if t.sample is None:
                return None
            return self.receiver.correct(t.sample.raw, t.sample.bell_bits)

        out = deliver_with_retransmission(
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
            screening = screen_values(
                values,
                max_abs=header.max_abs,
                failed_bit_mask=out.failed_bit_mask(),
                bits_per_value=self.encoding.bits,
            )
            if screening.count:
                verdict = Verdict.abort(
                    "safety-net-flagged", qber=verdict.qber, qber_bound=verdict.qber_bound,
                    p_value=verdict.p_value, attempts=verdict.attempts,
                )  # fmt: skip
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
