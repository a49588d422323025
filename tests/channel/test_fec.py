"""FEC layer: CRC-32, IRA LDPC codes, block decoding, retransmission, code choice, bad input.

The headline test sends 10^6 payload bits at F = 0.95 and F = 0.90 over the exact binary
symmetric channel BSC(2(1-F)/3) (and, smaller, through the stim teleporter): every bit must
arrive (residual bit error rate below 1e-6, i.e. zero wrong bits in 10^6) or sit in a block
that the CRC flagged.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from qtfl.channel.crc import crc32_bits, crc32_reference
from qtfl.channel.fec import (
    FEC_CODES,
    FecCodec,
    binary_entropy,
    binary_symmetric_channel,
    decode_blocks,
    resolve_code,
    select_code,
)
from qtfl.channel.retransmission import deliver_with_retransmission
from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair

BitArray = np.ndarray


def _bsc(p: float):  # type: ignore[no-untyped-def]
    def send(bits: BitArray, rng: np.random.Generator) -> BitArray:
        return binary_symmetric_channel(bits, p=p, rng=rng)

    return send


@pytest.mark.parametrize("k", [8, 13, 1000, 3968])
def test_crc32_matches_zlib_for_every_block(k: int) -> None:
    rng = np.random.default_rng(k)
    blocks = rng.integers(0, 2, (20, k), dtype=np.uint8)
    got = crc32_bits(blocks)
    want = [crc32_reference(b) for b in blocks]
    as_int = (got.astype(np.uint64) << np.arange(31, -1, -1, dtype=np.uint64)).sum(axis=1)
    assert as_int.tolist() == want
    assert crc32_reference(np.array([0, 1, 1, 0, 0, 0, 0, 1], np.uint8)) == zlib.crc32(b"a")


def test_ira_code_is_systematic_and_every_codeword_checks() -> None:
    code = FEC_CODES["ldpc-2/3"]
    h = code.parity_check_matrix
    assert h.shape == (code.n - code.k, code.n)
    assert (np.asarray(code.h1.sum(axis=0)).ravel() == code.column_weight).all()
    rng = np.random.default_rng(0)
    info = rng.integers(0, 2, (16, code.k), dtype=np.uint8)
    words = code.encode(info)
    np.testing.assert_array_equal(words[:, : code.k], info)
    assert not code.syndrome(words).any()
    # the same seed rebuilds the same code (both ends must agree)
    assert (FEC_CODES["ldpc-2/3"].h1 != code.h1).nnz == 0


@pytest.mark.parametrize("name", ["ldpc-1/2", "ldpc-2/3"])
def test_clean_channel_round_trip(name: str) -> None:
    codec = FecCodec(name, bit_error_rate=0.01)
    bits = np.random.default_rng(1).integers(0, 2, 10_001, dtype=np.uint8)
    words, layout = codec.encode(bits)
    assert layout.blocks == -(-10_001 // codec.code.data_bits)
    assert layout.padding_bits == layout.blocks * codec.code.data_bits - 10_001
    sent = layout.to_channel(words)
    assert sent.size == layout.channel_bits == layout.blocks * codec.code.n - layout.padding_bits
    got, failed = codec.decode(sent, layout)
    np.testing.assert_array_equal(got, bits)
    assert not failed.any()


def test_padding_of_the_last_block_is_never_sent() -> None:
    # 1000 payload bits in one ldpc-1/2 block of 1968 data bits: the 968 zeros stay home.
    codec = FecCodec("ldpc-1/2", bit_error_rate=0.05)
    bits = np.random.default_rng(9).integers(0, 2, 1000, dtype=np.uint8)
    sent_sizes: list[int] = []

    def bsc(x: BitArray, rng: np.random.Generator) -> BitArray:
        sent_sizes.append(x.size)
        return binary_symmetric_channel(x, p=0.05, rng=rng)

    out = deliver_with_retransmission(codec, bits, bsc, rng=np.random.default_rng(10))
    assert out.layout.padding_bits == codec.code.data_bits - 1000
    assert sent_sizes[0] == codec.code.n - out.layout.padding_bits
    assert out.delivered
    np.testing.assert_array_equal(out.bits, bits)


@pytest.mark.parametrize("payload", [76_960, 3_568, 3 * 3_568, 100, 7_000])
def test_channel_bits_are_the_sent_mask_bits_for_any_block_subset(payload: int) -> None:
    # Prepare: ldpc-9/10 blocks of a payload with (or without) padding in the last block
    codec = FecCodec("ldpc-9/10", bit_error_rate=0.002)
    bits = np.random.default_rng(payload).integers(0, 2, payload, dtype=np.uint8)
    words, layout = codec.encode(bits)
    last = layout.blocks - 1
    subsets = [None, np.arange(layout.blocks), np.array([last]), np.array([0])]
    subsets += [np.arange(layout.blocks)[::2], np.unique([last, 0])[::-1]]
    for blocks in subsets:
        rows = words if blocks is None else words[blocks]
        mask = layout.sent_mask(blocks)
        # Execute
        sent = layout.to_channel(rows, blocks)
        back = layout.from_channel(sent, blocks)
        # Assert: exactly the masked bits in row-major order, and back with zeros put in
        np.testing.assert_array_equal(sent, rows[mask])
        np.testing.assert_array_equal(back, np.where(mask, rows, 0))
    with pytest.raises(InputError, match="received"):
        layout.from_channel(np.zeros(5, np.uint8))


@pytest.mark.parametrize("fidelity", [0.95, 0.90])
def test_million_bits_arrive_intact_at_realistic_fidelity(fidelity: float) -> None:
    p = WernerPair(fidelity).teleported_bit_error
    code = select_code(p)
    codec = FecCodec.for_link("auto", bit_error_rate=p)
    assert codec is not None
    assert codec.code == code
    rng = np.random.default_rng(2024)
    bits = rng.integers(0, 2, 1_000_000, dtype=np.uint8)
    out = deliver_with_retransmission(codec, bits, _bsc(p), rng=rng)
    wrong = np.count_nonzero(out.bits != bits)
    assert out.delivered
    assert wrong == 0  # residual bit error rate < 1e-6
    # every block sent once plus each resend; nothing else is charged or forgotten
    n, resent, once = code.n, out.retransmitted_blocks, out.layout.channel_bits
    assert once + resent * (n - out.layout.padding_bits) <= out.channel_bits <= once + resent * n
    assert out.pairs_per_payload_bit == pytest.approx(out.channel_bits / 1_000_000)
    assert out.pairs_per_payload_bit < 1.0 / (1.0 - binary_entropy(p)) * 1.5
    # the code was calibrated to fail <= 1% of blocks at p <= its limit: resends stay
    # within 4 sigma of 1% of the blocks
    m = out.layout.blocks
    assert out.retransmitted_blocks <= 0.01 * m + 4 * np.sqrt(0.01 * m) + 1


def test_through_the_stim_teleporter_at_f090() -> None:
    from qtfl.quantum.teleport import compile_teleporter

    pair = WernerPair(0.90)
    teleporter = compile_teleporter(pair)

    def teleport(bits: BitArray, rng: np.random.Generator) -> BitArray:
        return teleporter.teleport(bits, rng=rng).received

    codec = FecCodec.for_link("auto", bit_error_rate=pair.teleported_bit_error)
    assert codec is not None
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2, 100_000, dtype=np.uint8)
    raw_errors = np.count_nonzero(teleport(bits, rng) != bits)
    # raw teleportation flips 2(1-F)/3 of the bits (within 4 sigma)
    p = pair.teleported_bit_error
    assert abs(raw_errors - p * bits.size) < 4 * np.sqrt(bits.size * p * (1 - p))
    out = deliver_with_retransmission(codec, bits, teleport, rng=rng)
    assert out.delivered
    np.testing.assert_array_equal(out.bits, bits)


def test_hopeless_channel_every_failure_is_flagged_never_silent() -> None:
    code = FEC_CODES["ldpc-2/3"]
    rng = np.random.default_rng(3)
    info = rng.integers(0, 2, (12, code.data_bits), dtype=np.uint8)
    codec = FecCodec(code, bit_error_rate=code.max_bit_error_rate)
    words, _ = codec.encode(info.reshape(-1))
    received = binary_symmetric_channel(words, p=0.15, rng=rng)  # far beyond the code
    data, failed = decode_blocks(code, received, bit_error_rate=code.max_bit_error_rate)
    wrong = (data != info).any(axis=1)
    assert failed.all()
    assert not (wrong & ~failed).any()


def test_retransmission_resends_only_failed_blocks() -> None:
    codec = FecCodec("ldpc-1/2", bit_error_rate=0.02)
    n = codec.code.n
    bits = np.random.default_rng(4).integers(0, 2, 5 * codec.code.data_bits, dtype=np.uint8)
    calls: list[int] = []

    def jam_blocks_1_and_3_once(x: BitArray, rng: np.random.Generator) -> BitArray:
        calls.append(x.size)
        y = x.copy()
        if len(calls) == 1:
            y[n : 2 * n] ^= 1  # every bit of block 1 flipped
            y[3 * n : 3 * n + n // 2] = rng.integers(0, 2, n // 2)  # half of block 3 noise
        return y

    out = deliver_with_retransmission(
        codec, bits, jam_blocks_1_and_3_once, rng=np.random.default_rng(5)
    )
    assert calls == [5 * n, 2 * n]
    assert out.retransmitted_blocks == 2
    assert out.rounds == 2
    assert out.channel_bits == 7 * n
    assert out.delivered
    np.testing.assert_array_equal(out.bits, bits)


def test_residual_failures_are_reported_and_masked() -> None:
    codec = FecCodec("ldpc-1/2", bit_error_rate=0.02)
    bits = np.ones(2 * codec.code.data_bits + 5, np.uint8)

    def garbage(x: BitArray, rng: np.random.Generator) -> BitArray:
        return rng.integers(0, 2, x.size).astype(np.uint8)

    out = deliver_with_retransmission(
        codec, bits, garbage, rng=np.random.default_rng(6), max_retransmissions=2
    )
    assert out.rounds == 3
    assert out.residual_failures == 3
    assert not out.delivered
    assert out.retransmitted_blocks == 6
    assert out.failed_bit_mask().all()
    assert out.failed_bit_mask().size == bits.size


def test_auto_picks_the_highest_rate_code_that_handles_p() -> None:
    for p in (0.005, 0.0333, 0.0667):
        chosen = select_code(p)
        assert chosen.max_bit_error_rate >= p
        higher = [c for c in FEC_CODES.values() if c.rate > chosen.rate]
        assert all(c.max_bit_error_rate < p for c in higher)
        assert resolve_code("auto", bit_error_rate=p) == chosen
    assert resolve_code("none", bit_error_rate=0.2) is None


def test_calibrated_limits_respect_shannon() -> None:
    # A code cannot work above capacity: rate < 1 - h(p) at its measured limit. Limits also
    # fall as the rate rises.
    codes = sorted(FEC_CODES.values(), key=lambda c: c.rate)
    for code in codes:
        assert code.rate < 1.0 - binary_entropy(code.max_bit_error_rate)
    limits = [c.max_bit_error_rate for c in codes]
    assert limits == sorted(limits, reverse=True)


def test_code_that_cannot_correct_the_link_names_the_rate_that_would() -> None:
    p = WernerPair(0.90).teleported_bit_error
    with pytest.raises(
        InputError,
        match=r"fec ldpc-5/6 \(code rate 0.833\) cannot correct "
        r"p = 0.0667.*use rate <= 0.5 \(ldpc-1/2\) or fec=auto",
    ):
        FecCodec("ldpc-5/6", bit_error_rate=p)
    with pytest.raises(
        InputError,
        match=r"no FEC code corrects bit error rate p = 0.3.*"
        r"1 - h\(p\) = 0.119.*purify",
    ):
        resolve_code("auto", bit_error_rate=0.3)
    with pytest.raises(InputError, match="unknown fec 'turbo'; allowed: none, auto, ldpc-1/4"):
        resolve_code("turbo", bit_error_rate=0.01)
    with pytest.raises(InputError, match="payload bits must be 0 or 1"):
        FecCodec("ldpc-1/2", bit_error_rate=0.01).encode(np.array([0, 2, 1]))


def test_an_aborted_pass_stops_delivery_and_keeps_pending_blocks_failed() -> None:
    codec = FecCodec("ldpc-1/2", bit_error_rate=0.02)
    n = codec.code.n
    bits = np.random.default_rng(7).integers(0, 2, 3 * codec.code.data_bits, dtype=np.uint8)
    calls: list[int] = []

    def jam_then_abort(x: BitArray, rng: np.random.Generator) -> BitArray | None:
        calls.append(x.size)
        if len(calls) > 1:
            return None  # e.g. the eavesdropping test aborted the resend
        y = x.copy()
        y[:n] ^= 1  # block 0 unreadable
        return y

    out = deliver_with_retransmission(codec, bits, jam_then_abort, rng=np.random.default_rng(8))
    assert out.aborted
    assert calls == [3 * n, n]
    assert out.failed_blocks.tolist() == [True, False, False]
    assert out.channel_bits == 4 * n
    assert out.retransmitted_blocks == 1
    np.testing.assert_array_equal(out.bits[codec.code.data_bits :], bits[codec.code.data_bits :])


def test_encoding_equals_the_sparse_prefix_xor_construction() -> None:
    # p = prefix-XOR(H1 s) computed with scipy's sparse product, for every code
    rng = np.random.default_rng(31)
    for code in FEC_CODES.values():
        info = rng.integers(0, 2, (70, code.k), dtype=np.uint8)
        v = (code.h1 @ info.T.astype(np.int64)) % 2
        parity = np.bitwise_xor.accumulate(v.astype(np.uint8), axis=0).T
        np.testing.assert_array_equal(code.encode(info), np.concatenate([info, parity], axis=1))
