"""Eve's record on Flower: what the simulated eavesdropper learned, from the end that simulates her.

In process one Channel draws the link sample, Eve's actions on it and both ends' records
together, and :class:`~qtfl.channel.Tap` carries her payload guess and its worth
(``information_bits``, measured against the true bits). On Flower no protocol party holds
her guess: the eavesdropper acts on the wire between them. The party that *simulates* her
is the client node: it draws the link sample (:func:`qtfl.channel.split.keyed_sample`,
keyed by the public link key and the link secret it holds) whose ``eve_guess_frame`` is her
guess for an all-zero payload, and it holds the payload bits. In the split teleport circuit
a payload ``x`` flips only the X-correction bit ``m1`` (:mod:`qtfl.channel.split`), and her
guess is her own outcome XOR the tapped ``m1`` where she intercepted, the tapped ``m1``
elsewhere, so her guess of ``x`` is ``eve_guess_frame XOR x``.

The node therefore sends, beside its wire arrays and in a record of its own (``eve``), a
**tap record**: ``information_bits`` (:func:`qtfl.security.leakage.measure_leakage` of that
guess against the payload bits, as in process) and, for the privacy assessment's probes
only, the guess itself (bit-packed) so that the eavesdropper attacks what she holds. The
server's receiving end never reads it: :func:`attach_eve_record` copies it into the
Delivery's tap after decoding, and only onto a delivery the server accepted whose tap holds
Bell bits. It is a simulation record, not protocol data: a real deployment has no such
message, and a hostile node can misreport it (it cannot change the decoded update).

Covered: teleportation of basis-encoded (and float32) bits without compression,
single-pass and with FEC. Not for qubits under a QEC code or analog payloads: in process the
simulation teleports an all-zero physical payload for them and measures her guess against
it, a figure with no meaning for the update, so Flower reports ``null``. With FEC every
pass teleports fresh pairs and Eve guesses each pass's codeword bits:
the node reports each pass's information with that pass (its train reply, then each answer
to a resend request, :func:`fec_pass_record`), and the server sums them over the transfer
as the in-process channel does (:func:`attach_information`). QKD-OTP: the node's half of
each key block carries the simulated eavesdropper's raw-key guess, which it hashes under
the block's public seed beside its own key; its closing answer (the one with the
ciphertext) carries the record of her guess of the padded bits, ciphertext XOR her key
guess (:func:`qtfl.flower.qkd_ends.eve_information`), attached only to a delivered update,
as in process. A compressed uplink's record is its inner channel's, of the compressed
values it carried (the node keeps them), as the in-process compressed channel passes its
inner delivery's tap on.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import Delivery
from qtfl.channel.split import LinkKey, keyed_sample, teleport_bits
from qtfl.channel.split_fec import pass_samples
from qtfl.flower.compression_ends import CompressedEnds
from qtfl.flower.ends import (
    Arrays,
    FecTeleportEnds,
    PayloadTeleportEnds,
    TeleportEnds,
    _unpack_list,
)
from qtfl.flower.qkd_ends import QkdOtpEnds
from qtfl.quantum.encoding import BasisEncoding, Float32Encoding
from qtfl.security.leakage import measure_leakage

#: Name of the reply record that carries the tap record.
EVE = "eve"


def eve_record(
    ends: Any,
    update: npt.NDArray[np.float32],
    key: LinkKey,
    announced: Arrays,
    *,
    with_guess: bool = False,
) -> Arrays:
    """Client node: the tap record of the transfer ``ends.send(update, key, announced)`` made.

    For compressed ends ``update`` is what the inner channel carried (the kept compressed
    values, :func:`qtfl.flower.client.send_update`), and the record is the inner channel's,
    as the in-process :class:`~qtfl.fl.compressed_channel.CompressedChannel` passes its
    inner delivery's tap on.

    Empty when the link has no classical tap, the channel is no teleportation of basis bits
    (QKD-OTP reports with its closing answer, :func:`answer_with_record`), or no attempt
    passed its checks (nothing teleported, nothing guessed). With FEC it is
    the first pass's record, without her guess (the assessment's eavesdropper view of an FEC
    probe therefore falls back to the tapped X-correction bits on Flower, where in process
    she holds the last pass's guess: the same bits for a passive tap, other bits where she
    also measured pairs).
    """
    if isinstance(ends, CompressedEnds):  # the inner channel carried the compressed values
        inner_key = ends.inner_key(key, int(np.asarray(update).size))
        return eve_record(ends.inner, update, inner_key, announced, with_guess=with_guess)
    if type(ends) is FecTeleportEnds:
        return fec_pass_record(ends, update, key, announced, blocks=None, earlier=())
    encoding: BasisEncoding | Float32Encoding
    if type(ends) is TeleportEnds:
        protocol, encoding = ends.sender.protocol, ends.sender.encoding
    elif (
        type(ends) is PayloadTeleportEnds
        and ends.ends.code is None
        and isinstance(ends.ends.encoding, Float32Encoding)
    ):
        protocol, encoding = ends.ends.protocol, ends.ends.encoding
    else:
        return {}
    if not protocol.eavesdropper.taps_classical:
        return {}
    bits = encoding.encode(np.asarray(update, np.float32)).bit_array()
    sample = keyed_sample(protocol, int(bits.size), key, ends.secret)
    peer = _unpack_list("server_checks", announced)
    _, bell = teleport_bits(protocol, sample.sender, bits, peer)
    if bell is None or sample.eve_guess_frame is None:
        return {}
    guess = (sample.eve_guess_frame ^ bits).astype(np.uint8)
    out: Arrays = {
        "information_bits": np.array([measure_leakage(guess, bits).information_bits], np.float64)
    }
    if with_guess:
        out["payload_guess"] = np.packbits(guess)
    return out


def fec_pass_record(
    ends: FecTeleportEnds,
    update: npt.NDArray[np.float32],
    key: LinkKey,
    announced: Arrays,
    *,
    blocks: npt.NDArray[np.int64] | None,
    earlier: tuple[int, ...],
) -> Arrays:
    """Client node: the tap record of one FEC pass over ``blocks`` (``None``: all), the pass
    after passes of ``earlier`` sizes (what :func:`qtfl.channel.split_fec.sender_pass` sent)."""
    protocol = ends.protocol
    if not protocol.eavesdropper.taps_classical or ends.code is not None:
        return {}  # qec: the in-process figure is of the all-zero physical payload it models
    bits = ends.encoding.encode(np.asarray(update, np.float32)).bit_array()
    codewords, layout = ends.codec.encode(bits)
    ids = np.arange(layout.blocks, dtype=np.int64) if blocks is None else blocks
    outgoing = layout.to_channel(codewords[ids], ids)
    *_, last = pass_samples(protocol, [*earlier, int(outgoing.size)], key, ends.secret)
    peer = _unpack_list("server_checks", announced)
    _, bell = teleport_bits(protocol, last.sender, outgoing, peer)
    if bell is None or last.eve_guess_frame is None:
        return {}
    guess = (last.eve_guess_frame ^ outgoing).astype(np.uint8)
    info = measure_leakage(guess, outgoing).information_bits
    return {"information_bits": np.array([info], np.float64)}


def fec_answer_record(ends: Any, update: npt.NDArray[np.float32], key: LinkKey,
                      request: Arrays) -> Arrays:  # fmt: skip
    """Client node: the tap record of the pass answering a FEC resend ``request``."""
    if type(ends) is not FecTeleportEnds:
        return {}
    earlier = tuple(int(x) for x in request["pass_sizes"][:-1])
    return fec_pass_record(ends, update, key, request, blocks=request["blocks"], earlier=earlier)


def answer_with_record(
    ends: Any, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays
) -> tuple[Arrays, Arrays]:
    """Client node: the answer to a further ``request`` and its tap record (empty if none):
    a FEC resend's pass record, or QKD-OTP's closing record, which the QKD ends compute
    with the answer (:meth:`~qtfl.flower.qkd_ends.QkdOtpEnds.answer_with_record`: Eve's
    key guess is hashed under the seed the answer draws)."""
    if isinstance(ends, CompressedEnds):  # answered from the kept compressed values
        inner_key = ends.inner_key(key, int(np.asarray(update).size))
        return answer_with_record(ends.inner, update, inner_key, request)
    if isinstance(ends, QkdOtpEnds):
        return ends.answer_with_record(update, key, request)
    return ends.answer(update, key, request), fec_answer_record(ends, update, key, request)


def pass_information(record: Arrays | None) -> float | None:
    """Server: the information bits of one pass's tap record (None: none readable)."""
    if not record:
        return None
    try:
        info = record["information_bits"]
        if info.dtype != np.float64 or info.shape != (1,):
            return None
        value = float(info[0])
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0.0 else None


def attach_information(delivery: Delivery, passes: list[float]) -> Delivery:
    """Server: a multi-message transfer's delivery with Eve's information summed over its
    records: a FEC transfer's passes (as the in-process channel sums them, whatever the
    verdict), QKD-OTP's one closing record (only onto a delivered update, as in process:
    a key that fails its hash check pads nothing); unchanged without any."""
    if not passes:
        return delivery
    if delivery.tap.kind == "qkd-public-discussion":  # the key failed: nothing was padded
        return delivery
    tap = dataclasses.replace(delivery.tap, information_bits=sum(passes))
    return dataclasses.replace(delivery, tap=tap)


def attach_eve_record(delivery: Delivery, record: Arrays | None) -> Delivery:
    """Server: ``delivery`` with the node's tap record in its tap (see the module docstring).

    A record that is not one float64 within ``[0, payload bits]`` (and, if present, a guess
    of the payload's length, bit-packed) is ignored: the tap keeps ``None``.
    """
    if not record or not delivery.delivered or delivery.tap.kind != "bell-measurement-bits":
        return delivery
    n_bits = int(delivery.ledger.payload_bits)
    try:
        info = record["information_bits"]
        if info.dtype != np.float64 or info.shape != (1,):
            return delivery
        value = float(info[0])
        if not (math.isfinite(value) and 0.0 <= value <= n_bits):
            return delivery
        guess = None
        if "payload_guess" in record:
            packed = record["payload_guess"]
            if packed.dtype != np.uint8 or packed.shape != (-(-n_bits // 8),):
                return delivery
            guess = np.unpackbits(packed, count=n_bits)
    except (KeyError, AttributeError, TypeError, ValueError):
        return delivery
    tap = delivery.tap
    return dataclasses.replace(
        delivery, tap=dataclasses.replace(tap, information_bits=value, payload_guess=guess)
    )
