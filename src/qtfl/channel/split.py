"""Verify-then-teleport split into its two ends, for runs whose ends live in different processes.

In one process :class:`~qtfl.channel.teleportation.TeleportationChannel` simulates the link
and both ends together. When the client and the server are separate programs (Flower's
ClientApp and ServerApp), each end must hold only what it would hold physically:

* the **link simulation** (:func:`simulate_link`) draws one joint sample of the pairs —
  distribution, the attacker's plan, both ends' check outcomes per attempt, and the teleport
  records for an all-zero payload — and hands each node only its half (:func:`sender_half`,
  :func:`receiver_half`). Two keys name a sample: the public :class:`LinkKey` ``(seed,
  scenario, round, client)`` keys the *noise* (which pairs flip, which checks fail), and the
  link's :class:`~qtfl.security.run_secret.LinkSecret` — held by the two ends of that link
  only — keys the check positions and bases, the ends' outcomes and the Bell frame (see
  :mod:`qtfl.channel.verified`). Without the link secret, the Bell bits on the wire are a
  one-time pad: an outsider holding the seed and every wire array learns nothing;
* the **sender** (:class:`SplitSender`, the client) holds its check outcomes and its Bell
  measurement *frame*; it compares its outcomes with the receiver's announced ones, and on
  the first attempt that passes the test Bell-measures the payload: ``m = frame ⊕ (0, x)``;
* the **receiver** (:class:`SplitReceiver`, the server) holds its check outcomes and its raw
  Z outcomes before corrections; it re-evaluates the test on the announced outcomes, applies
  ``X^{m1}`` to its raw outcomes (``Z^{m0}`` does not change a Z outcome) and decodes.

Why an all-zero payload is enough: in the teleport circuit a payload ``X^x`` propagates
through the Bell measurement's CNOT to the client half and flips only ``m1``; the server's
raw outcome (before its corrections) does not depend on the payload, for honest pairs and for
every attacker of :mod:`qtfl.security.eavesdropper` (under the MITM, Eve's relayed flip is
undone by the server's own ``X^{m1}``). :meth:`~qtfl.quantum.teleport.Teleporter.teleport`
samples exactly this way, so on links without a MITM the split reproduces
:meth:`TeleportationChannel.send` bit for bit for the same generator (the tests check it);
under a MITM the payload-grouped circuits draw in another order, same distribution.

What crosses the classical wire from the sender (:class:`SenderMessage`): its check
outcomes (announced in the protocol anyway), ``2n`` Bell bits — uniform whatever the payload,
the quantum one-time pad — and the 32-bit ``max_abs`` header.

References: Bennett et al., PRL 70, 1895 (1993) (teleportation; uniform Bell outcomes);
Gottesman, arXiv:quant-ph/9807006 (Pauli-frame propagation through Clifford circuits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Delivery, FloatVector, Ledger, Tap, Verdict, validate_update
from qtfl.channel.verified import VerifiedTeleport, attempt_ledger
from qtfl.errors import InputError, require_int
from qtfl.quantum.encoding import BasisEncoding, BasisPayload
from qtfl.security.run_secret import LinkSecret

Bits = npt.NDArray[np.uint8]

_KEY_DOMAIN = 3_000  # spawn-key domain of link samples (the runner uses 1_000 and 2_000)


@dataclass(frozen=True)
class LinkKey:
    """Names one link sample's noise: run seed, scenario, round and client (and direction).

    Public: anyone holding the configuration can compute it. The secret parts of the sample
    come from the link's :class:`~qtfl.security.run_secret.LinkSecret`.
    """

    seed: int
    scenario: str
    round: int
    client: int
    direction: int = 0  # 0 uplink, 1 downlink

    def rng(self) -> np.random.Generator:
        """The noise generator of this sample; equal keys give equal noise in any process."""
        digest = hashlib.sha256(self.scenario.encode("utf-8")).digest()[:8]
        ss = np.random.SeedSequence(
            [self.seed, int.from_bytes(digest, "little")],
            spawn_key=(_KEY_DOMAIN, self.direction, self.round, self.client),
        )
        return np.random.default_rng(ss)


@dataclass(frozen=True)
class EndChecks:
    """One end's view of one verification attempt: the public bases and its own outcomes."""

    bases: Bits
    outcomes: Bits


@dataclass(frozen=True)
class SenderHalf:
    """The sending end's records: its check outcomes per attempt and its Bell frame.

    ``bell_frame`` ``(n, 2)`` holds ``(m0, m1)`` for an all-zero payload on the attempt that
    passed the test; ``None`` when every attempt aborted.
    """

    n_bits: int
    checks: tuple[EndChecks, ...]
    bell_frame: Bits | None


@dataclass(frozen=True)
class ReceiverHalf:
    """The receiving end's records: its check outcomes per attempt and its raw outcomes.

    ``raw`` ``(n,)`` are its Z outcomes before corrections (``None`` if never teleported);
    ``attempt_ledgers`` the link's cost of each attempt (pairs, checks, purification, time).
    ``raw_z`` ``(n,)``: for payloads read out in more than the Z basis (a QEC code's
    syndrome, an X-basis readout; :class:`~qtfl.channel.qubit_payload.FramedTeleport`
    links) the Z component of the Pauli frame its qubits hold before corrections, which
    ``Z^{m0}`` undoes (:mod:`qtfl.channel.split_payload`); ``None`` otherwise.
    """

    n_bits: int
    checks: tuple[EndChecks, ...]
    raw: Bits | None
    attempt_ledgers: tuple[Ledger, ...]
    raw_z: Bits | None = None


@dataclass(frozen=True)
class LinkSample:
    """The joint sample the link simulation draws; a node never receives this object."""

    sender: SenderHalf
    receiver: ReceiverHalf
    eve_guess_frame: Bits | None


def simulate_link(
    protocol: VerifiedTeleport,
    n_bits: int,
    *,
    rng: np.random.Generator,
    secret_rng: np.random.Generator,
) -> LinkSample:
    """Draw the pairs of one transfer of ``n_bits`` payload bits, attempt by attempt.

    Consumes ``rng`` (noise) and ``secret_rng`` exactly as :meth:`VerifiedTeleport.run` does
    (distribution, checks, purification cost, teleport), stopping at the first attempt that
    passes the test.
    """
    n = require_int("n_bits", n_bits, low=1)
    zeros = np.zeros(n, dtype=np.uint8)
    tx: list[EndChecks] = []
    rx: list[EndChecks] = []
    ledgers: list[Ledger] = []
    for attempt in range(1, protocol.verification.max_retries + 2):
        sample = protocol.distribute(n, rng=rng, secret_rng=secret_rng)
        checks = protocol.measure_checks(sample, rng=rng, secret_rng=secret_rng)
        _, reason = protocol.judge(sample.check_bases, checks.errors)
        k = int(sample.check_positions.size)
        ledgers.append(attempt_ledger(protocol.link, sample.n_pairs, k, attempt, rng=rng))
        tx.append(EndChecks(sample.check_bases, checks.client))
        rx.append(EndChecks(sample.check_bases, checks.server))
        if reason != "ok":
            continue
        tele = protocol.teleport(sample, zeros, rng=rng, secret_rng=secret_rng)
        frame_z = getattr(tele, "frame_z", None)  # FramedTeleport keeps the Z errors
        raw_z = None if frame_z is None else frame_z ^ tele.bell_bits[:, 0]
        return LinkSample(
            SenderHalf(n, tuple(tx), tele.bell_bits),
            ReceiverHalf(n, tuple(rx), tele.raw, tuple(ledgers), raw_z),
            tele.eve_guess,
        )
    return LinkSample(
        SenderHalf(n, tuple(tx), None), ReceiverHalf(n, tuple(rx), None, tuple(ledgers)), None
    )


def keyed_sample(
    protocol: VerifiedTeleport, n_bits: int, key: LinkKey, secret: LinkSecret
) -> LinkSample:
    """The sample of ``key``'s transfer: noise from ``key``, secret parts from ``secret``
    (the same generators :meth:`TeleportationChannel.send` uses for ``rng=key.rng()``)."""
    rng = key.rng()
    return simulate_link(protocol, n_bits, rng=rng, secret_rng=secret.for_transfer(rng))


def sender_half(
    protocol: VerifiedTeleport, n_bits: int, key: LinkKey, secret: LinkSecret
) -> SenderHalf:
    """What the link gives the sending end for ``key`` (and nothing else)."""
    return keyed_sample(protocol, n_bits, key, secret).sender


def receiver_half(
    protocol: VerifiedTeleport, n_bits: int, key: LinkKey, secret: LinkSecret
) -> ReceiverHalf:
    """What the link gives the receiving end for ``key`` (and nothing else)."""
    return keyed_sample(protocol, n_bits, key, secret).receiver


@dataclass(frozen=True)
class SenderMessage:
    """What the sender puts on the classical wire.

    ``announced``: its check outcomes, one array per attempt it ran; ``bell_bits`` ``(n, 2)``
    on the attempt that passed (``None`` if none did); ``max_abs``/``n_values``: the header.
    """

    announced: tuple[Bits, ...]
    bell_bits: Bits | None
    max_abs: float
    n_values: int


class SplitSender:
    """The client end of a split teleportation channel."""

    def __init__(self, protocol: VerifiedTeleport, encoding: BasisEncoding) -> None:
        self.protocol = protocol
        self.encoding = encoding

    def payload_bits(self, n_values: int) -> int:
        """Payload bits (and qubits) of an update of ``n_values`` values."""
        return int(self.encoding.payload_qubits(n_values))

    def transmit(
        self, update: npt.ArrayLike, half: SenderHalf, peer_announced: Sequence[Bits]
    ) -> SenderMessage:
        """Compare checks with the receiver's announcements; teleport on the first pass."""
        header = self.encoding.encode(validate_update(update))
        bits = header.bit_array()
        announced, bell = teleport_bits(self.protocol, half, bits, peer_announced)
        return SenderMessage(announced, bell, header.max_abs, header.n_values)


def teleport_bits(
    protocol: VerifiedTeleport, half: SenderHalf, bits: Bits, peer_announced: Sequence[Bits]
) -> tuple[tuple[Bits, ...], Bits | None]:
    """The sender's side of one transfer of 0/1 ``bits``: its check outcomes per attempt
    (up to the first that passes the test on both ends' outcomes) and, if one passed, the
    ``(n, 2)`` Bell bits ``frame ⊕ (0, x)`` (``None`` otherwise)."""
    if bits.size != half.n_bits or len(peer_announced) != len(half.checks):
        raise InputError(
            f"link records are for {half.n_bits} bits and {len(half.checks)} attempts, "
            f"got an update of {bits.size} bits and {len(peer_announced)} announcements"
        )
    announced: list[Bits] = []
    for own, theirs in zip(half.checks, peer_announced, strict=True):
        announced.append(own.outcomes)
        _, reason = protocol.judge(own.bases, own.outcomes ^ theirs)
        if reason == "ok" and half.bell_frame is not None:
            bell = half.bell_frame.copy()
            bell[:, 1] ^= bits
            return tuple(announced), bell
    return tuple(announced), None


@dataclass(frozen=True)
class BitsReceived:
    """The receiver's side of one transfer of bits: corrected bits (``None`` on abort), the
    link's cost without any header, the verdict and the wire tap."""

    bits: Bits | None
    ledger: Ledger
    verdict: Verdict
    tap: Tap


def receive_bits(
    protocol: VerifiedTeleport,
    half: ReceiverHalf,
    announced: Sequence[Bits],
    bell_bits: Bits | None,
    *,
    header_bits: int = 0,
) -> BitsReceived:
    """Re-run the test on the sender's announcements and correct the raw outcomes with its
    Bell bits; the ledger is the one :meth:`VerifiedTeleport.run` counts (same order of sums)."""
    n = half.n_bits
    tries = len(announced)
    if not 1 <= tries <= len(half.checks):
        raise InputError(f"sender announced {tries} attempts, the link ran {len(half.checks)}")
    ledger = Ledger(payload_bits=n)
    for cost in half.attempt_ledgers[:tries]:
        ledger += cost
    result, reason = None, "ok"
    for own, theirs in zip(half.checks, announced, strict=False):
        if theirs.shape != own.outcomes.shape:
            raise InputError(
                f"announced {theirs.size} check outcomes, expected {own.outcomes.size}"
            )
        result, reason = protocol.judge(own.bases, own.outcomes ^ theirs)
        if reason == "ok":
            break
    assert result is not None
    evidence = {"qber": result.qber, "qber_bound": result.qber_bound}
    if reason != "ok" or bell_bits is None or half.raw is None:
        if reason == "ok":
            reason = "announcement-mismatch"
        verdict = Verdict.abort(
            reason, detected=True, **evidence, p_value=result.p_value, attempts=tries
        )
        return BitsReceived(None, ledger, verdict, Tap(kind="check-announcements"))
    bell = np.asarray(bell_bits, dtype=np.uint8)
    if bell.shape != (n, 2):
        raise InputError(f"bell_bits must have shape ({n}, 2), got {bell.shape}")
    ledger += Ledger(
        payload_qubits=n,
        classical_bits=2 * n + header_bits,
        link_seconds=float(protocol.link.latency_s),
    )
    verdict = Verdict.ok(**evidence, p_value=result.p_value, attempts=tries)
    tap = Tap(kind="bell-measurement-bits", observed=np.packbits(bell.reshape(-1)))
    return BitsReceived(half.raw ^ bell[:, 1], ledger, verdict, tap)


class SplitReceiver:
    """The server end of a split teleportation channel."""

    def __init__(self, protocol: VerifiedTeleport, encoding: BasisEncoding) -> None:
        self.protocol = protocol
        self.encoding = encoding

    @staticmethod
    def announce(half: ReceiverHalf) -> tuple[Bits, ...]:
        """The receiver's check outcomes, announced before the sender decides."""
        return tuple(c.outcomes for c in half.checks)

    def receive(self, message: SenderMessage, half: ReceiverHalf) -> Delivery:
        """Re-run the test on the announcements, correct, decode; abort if none passed."""
        n = half.n_bits
        header = BasisPayload(
            packed=np.zeros((n + 7) // 8, np.uint8),
            n_values=message.n_values,
            bits_per_value=self.encoding.bits,
            max_abs=message.max_abs,
        )
        out = receive_bits(
            self.protocol,
            half,
            message.announced,
            message.bell_bits,
            header_bits=header.header_bits,
        )
        if out.bits is None:
            return Delivery(None, out.ledger, out.verdict, out.tap)
        received: FloatVector = self.encoding.decode(header.with_bits(out.bits))
        return Delivery(received, out.ledger, out.verdict, out.tap)
