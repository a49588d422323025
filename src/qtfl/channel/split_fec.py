"""Teleportation with FEC split into its two ends: passes over fresh pairs and resend requests.

In one process :meth:`TeleportationChannel._transmit_fec
<qtfl.channel.teleportation.TeleportationChannel>` encodes the payload bits into LDPC
codewords (:mod:`qtfl.channel.fec`), teleports every codeword bit, decodes, and sends the
blocks that failed again over fresh pairs
(:func:`~qtfl.channel.retransmission.deliver_with_retransmission`).
Split between two programs the same protocol is a dialogue:

1. the receiver (server) announces its check outcomes for pass 1 (all blocks);
2. the sender (client) encodes, compares checks and sends the Bell bits of its codeword bits
   (:func:`sender_pass`);
3. the receiver corrects, decodes, checks every block's CRC-32 (:meth:`FecReceiver.take`)
   and, while blocks fail and resend rounds are left, asks for those blocks again with the
   announcements of the next pass (:class:`ResendRequest`); the sender answers with a pass
   over fresh pairs; and so on until every block decodes, a pass aborts, or the rounds run
   out. Then the receiver screens the decoded values (:mod:`qtfl.channel.safety`).

The passes' link samples. In process every pass draws from one generator in turn: the noise
generator of the transfer (``LinkKey.rng()``) and, per pass, the secret generator
``secret.for_transfer(noise)``. Each end reproduces that sequence alone
(:func:`pass_samples`): the receiver keeps its generator between passes; the sender, a new
process per message on Flower, replays the earlier passes from their sizes (which the
request names) and keeps only the last one's half. Same key, same secret, same pass sizes:
the same samples as in process, so the split equals :meth:`TeleportationChannel.send` bit for
bit (received values, ledger, verdict; tests/flower/test_channels.py).

What crosses the wire, per pass: the sender's check outcomes, ``2`` Bell bits per codeword
bit (uniform whatever the payload), and once the 32-bit header; from the receiver its check
outcomes and the list of blocks to resend (public in the protocol, counted in the Ledger as
``retransmissions``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Delivery, FloatVector, Ledger, Tap, Verdict
from qtfl.channel.fec import BlockLayout, FecCodec
from qtfl.channel.retransmission import FecTransfer
from qtfl.channel.safety import flagged_verdict, screen_values
from qtfl.channel.split import (
    LinkKey,
    LinkSample,
    ReceiverHalf,
    receive_bits,
    simulate_link,
    teleport_bits,
)
from qtfl.channel.split_payload import logical_readouts, physical_flips
from qtfl.channel.verified import VerifiedTeleport
from qtfl.errors import InputError
from qtfl.quantum.encoding import BasisEncoding, BasisPayload, Float32Encoding
from qtfl.quantum.qec import StabilizerCode
from qtfl.security.run_secret import LinkSecret

Bits = npt.NDArray[np.uint8]


def pass_samples(
    protocol: VerifiedTeleport, sizes: Sequence[int], key: LinkKey, secret: LinkSecret
) -> Iterator[LinkSample]:
    """The link samples of passes of ``sizes`` codeword bits, in order, as in process."""
    noise = key.rng()
    for n in sizes:
        yield simulate_link(protocol, int(n), rng=noise, secret_rng=secret.for_transfer(noise))


def pass_bits(layout: BlockLayout, blocks: npt.NDArray[np.int64]) -> int:
    """Codeword bits on the channel when ``blocks`` are sent (padding never is)."""
    return int(layout.sent_mask(blocks).sum())


def check_blocks(layout: BlockLayout, blocks: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``blocks`` as increasing distinct block numbers of ``layout``, or InputError."""
    ids = np.asarray(blocks)
    if ids.ndim != 1 or ids.dtype != np.int64 or ids.size == 0:
        raise InputError("blocks to send must be a non-empty 1-d int64 array")
    if ids[0] < 0 or ids[-1] >= layout.blocks or np.any(np.diff(ids) <= 0):
        raise InputError(f"blocks to send must be increasing numbers below {layout.blocks}")
    return ids


def sender_pass(
    protocol: VerifiedTeleport,
    codec: FecCodec,
    bits: Bits,
    *,
    blocks: npt.NDArray[np.int64],
    earlier_sizes: Sequence[int],
    key: LinkKey,
    secret: LinkSecret,
    peer_announced: Sequence[Bits],
    code: StabilizerCode | None = None,
) -> tuple[tuple[Bits, ...], Bits | None]:
    """The sender's pass over ``blocks`` of the payload ``bits``' codewords: its check
    outcomes and Bell bits (``None`` when no attempt passed), on the pass's fresh pairs.
    With a QEC ``code`` each codeword bit is a logical qubit of ``code.n`` pairs
    (:mod:`qtfl.channel.split_payload`); pass sizes then count pairs."""
    codewords, layout = codec.encode(bits)
    ids = check_blocks(layout, blocks)
    outgoing = layout.to_channel(codewords[ids], ids)
    per_bit = 1 if code is None else code.n
    sizes = [*earlier_sizes, int(outgoing.size) * per_bit]
    if len(sizes) > 1 and any(not 1 <= s <= layout.channel_bits * per_bit for s in sizes):
        raise InputError(f"earlier passes must be 1 to {layout.channel_bits * per_bit} pairs each")
    *_, last = pass_samples(protocol, sizes, key, secret)
    if code is None:
        return teleport_bits(protocol, last.sender, outgoing, peer_announced)
    zeros = np.zeros(outgoing.size * per_bit, np.uint8)
    announced, bell = teleport_bits(protocol, last.sender, zeros, peer_announced)
    if bell is not None:  # each codeword bit b as X_L^b on its block's Bell bits
        px, pz = physical_flips(code, outgoing, np.zeros_like(outgoing))
        bell[:, 1] ^= px
        bell[:, 0] ^= pz
    return announced, bell


@dataclass(frozen=True)
class ResendRequest:
    """The receiver's request for another pass: the blocks, every pass's size so far (the
    new one last) and its check outcomes for the new pass."""

    blocks: npt.NDArray[np.int64]
    sizes: tuple[int, ...]
    announced: tuple[Bits, ...]


@dataclass
class FecReceiver:
    """The receiving end's state across the passes of one transfer (kept on the server)."""

    protocol: VerifiedTeleport
    codec: FecCodec
    encoding: BasisEncoding | Float32Encoding
    layout: BlockLayout
    max_retransmissions: int
    noise: np.random.Generator
    secret: LinkSecret
    pending: npt.NDArray[np.int64]
    half: ReceiverHalf
    sizes: list[int]
    data: Bits
    header: BasisPayload | None = None
    ledgers: list[Ledger] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)
    verdict: Verdict | None = None
    resent: int = 0
    code: StabilizerCode | None = None

    @classmethod
    def start(
        cls,
        protocol: VerifiedTeleport,
        codec: FecCodec,
        encoding: BasisEncoding | Float32Encoding,
        *,
        n_values: int,
        key: LinkKey,
        secret: LinkSecret,
        max_retransmissions: int,
        code: StabilizerCode | None = None,
    ) -> FecReceiver:
        """The receiver before pass 1 (all blocks), its half of that pass drawn. With a QEC
        ``code`` each codeword bit is a logical qubit of ``code.n`` pairs."""
        layout = codec.layout(int(encoding.payload_qubits(n_values)))
        blocks = np.arange(layout.blocks, dtype=np.int64)
        noise = key.rng()
        size = pass_bits(layout, blocks) * (1 if code is None else code.n)
        half = simulate_link(protocol, size, rng=noise, secret_rng=secret.for_transfer(noise))
        data = np.zeros((layout.blocks, layout.data_bits_per_block), np.uint8)
        return cls(protocol, codec, encoding, layout, max_retransmissions, noise, secret,
                   blocks, half.receiver, [size], data, code=code)  # fmt: skip

    def announce(self) -> tuple[Bits, ...]:
        """The receiver's check outcomes of the current pass."""
        return tuple(c.outcomes for c in self.half.checks)

    def take(self, announced: Sequence[Bits], bell_bits: Bits | None) -> ResendRequest | Delivery:
        """Correct and decode the current pass; the next request, or the final Delivery."""
        out = receive_bits(self.protocol, self.half, announced, bell_bits)
        self.ledgers.append(out.ledger)
        self.taps.append(out.tap)
        self.verdict = out.verdict
        if out.bits is None:
            return self._finish(aborted=True)
        received = out.bits
        if self.code is not None:  # correct the frame with m0 too, decode each block
            assert bell_bits is not None and self.half.raw_z is not None
            z = self.half.raw_z ^ np.asarray(bell_bits, np.uint8)[:, 0]
            received, _ = logical_readouts(self.code, out.bits, z)
        words = self.layout.from_channel(received, self.pending)
        decoded, failed = self.codec.decode_blocks(words)
        self.data[self.pending] = decoded
        self.pending = self.pending[failed]
        if not self.pending.size or len(self.sizes) > self.max_retransmissions:
            return self._finish(aborted=False)
        self.resent += int(self.pending.size)
        size = pass_bits(self.layout, self.pending) * (1 if self.code is None else self.code.n)
        sample = simulate_link(
            self.protocol, size, rng=self.noise, secret_rng=self.secret.for_transfer(self.noise)
        )
        self.half = sample.receiver
        self.sizes.append(size)
        return ResendRequest(self.pending.copy(), tuple(self.sizes), self.announce())

    def _finish(self, *, aborted: bool) -> Delivery:
        assert self.header is not None and self.verdict is not None
        failed = np.zeros(self.layout.blocks, bool)
        failed[self.pending] = True
        layout = self.layout
        bits = self.data.reshape(-1)[: layout.payload_bits].copy()
        transfer = FecTransfer(bits, layout, failed, sum(self.sizes), self.resent,
                               len(self.sizes), aborted)  # fmt: skip
        total = sum(self.ledgers, Ledger())
        ledger = dataclasses.replace(
            total,
            payload_bits=layout.payload_bits,
            classical_bits=total.classical_bits + self.header.header_bits,
            retransmissions=total.retransmissions + self.resent,
        )
        verdict, received = self.verdict, None
        if not aborted:
            values: FloatVector = self.encoding.decode(self.header.with_bits(bits))
            screening = screen_values(
                values,
                max_abs=self.header.max_abs,
                failed_bit_mask=transfer.failed_bit_mask(),
                bits_per_value=self.encoding.bits,
            )
            if screening.count or not np.isfinite(values).all():  # float32: inf/NaN bits
                verdict = flagged_verdict(verdict)
            else:
                received = values
        return Delivery(received, ledger, verdict, self.taps[-1])

    def set_header(self, *, max_abs: float, n_values: int) -> None:
        """The header the sender sent with pass 1 (scale and number of values)."""
        n = self.layout.payload_bits
        self.header = BasisPayload(
            packed=np.zeros((n + 7) // 8, np.uint8),
            n_values=n_values,
            bits_per_value=self.encoding.bits,
            max_abs=max_abs,
        )
