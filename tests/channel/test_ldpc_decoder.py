"""Lane-batched LDPC decoder vs the ``ldpc`` package's sum-product on identical errors.

Counts (fixed seeds): each of the three codes the project selects at F = 0.99 / 0.95 / 0.90
(ldpc-5/6, ldpc-2/3, ldpc-1/2) at that fidelity's bit error rate (96 blocks) and at the
code's calibrated limit (320 blocks): on every block the reference decodes, the new decoder
returns the same error pattern, and the new decoder's frame errors are no more than the
reference's.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numba
import numpy as np
import pytest

from qtfl.channel._ldpc_kernels import _TANH_MAX, LANES, NARROW_BATCH, _tanh_half, _two_atanh
from qtfl.channel.crc import crc32_bits
from qtfl.channel.fec import FEC_CODES, LdpcCode, decode_blocks, select_code
from qtfl.channel.fec_benchmark import reference_decode_blocks, reference_decode_syndromes
from qtfl.channel.ldpc_decoder import (
    FLIP_MAX_SYNDROME_WEIGHT,
    TannerGraph,
    channel_llr,
    decode_syndromes,
    flip_decode,
    warm_up,
)
from qtfl.errors import InputError


def _errors(code: LdpcCode, p: float, blocks: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((blocks, code.n)) < p).astype(np.uint8)


def _points() -> list[tuple[str, float, int]]:
    out = []
    for f in (0.99, 0.95, 0.90):
        p = 2 * (1 - f) / 3
        code = select_code(p)
        out.append((code.name, p, 96))
        out.append((code.name, code.max_bit_error_rate, 320))
    return out


@pytest.mark.parametrize(("name", "p", "blocks"), _points())
def test_same_codeword_as_reference_and_no_more_frame_errors(
    name: str, p: float, blocks: int
) -> None:
    # Prepare: one set of error patterns for both decoders
    code = FEC_CODES[name]
    errors = _errors(code, p, blocks, seed=round(p * 1e6))
    syndromes = code.syndrome(errors)
    # Execute
    ref_e, ref_ok = reference_decode_syndromes(code, syndromes, bit_error_rate=p)
    new = decode_syndromes(code.tanner_graph, syndromes, bit_error_rate=p)
    # Assert: every block the reference decodes, the new decoder decodes identically
    assert (code.syndrome(new.errors)[new.converged] == syndromes[new.converged]).all()
    np.testing.assert_array_equal(new.errors[ref_ok], ref_e[ref_ok])
    assert new.converged[ref_ok].all()
    ref_frame = int(np.count_nonzero(~ref_ok | (ref_e != errors).any(axis=1)))
    new_frame = int(np.count_nonzero(~new.converged | (new.errors != errors).any(axis=1)))
    assert new_frame <= ref_frame
    # the codes were calibrated to fail <= 1% at the limit: the reference stays near that
    assert ref_frame <= 0.01 * blocks + 4 * np.sqrt(0.01 * blocks) + 1


def test_full_decode_matches_reference_blocks_with_crc() -> None:
    code = FEC_CODES["ldpc-1/2"]
    rng = np.random.default_rng(5)
    data = rng.integers(0, 2, (80, code.data_bits), dtype=np.uint8)
    from qtfl.channel.crc import crc32_bits

    sent = code.encode(np.concatenate([data, crc32_bits(data)], axis=1))
    received = sent ^ _errors(code, 0.07, 80, seed=6)
    got, failed = decode_blocks(code, received, bit_error_rate=0.07)
    ref, ref_failed = reference_decode_blocks(code, received, bit_error_rate=0.07)
    np.testing.assert_array_equal(got[~ref_failed], ref[~ref_failed])
    assert not failed[~ref_failed].any()
    np.testing.assert_array_equal(got[~failed], data[~failed])


def _sent_blocks(code: LdpcCode, blocks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random data blocks and their codewords (CRC-32 appended)."""
    data = np.random.default_rng(seed).integers(0, 2, (blocks, code.data_bits), dtype=np.uint8)
    return data, code.encode(np.concatenate([data, crc32_bits(data)], axis=1))


@pytest.mark.parametrize(
    ("name", "p", "blocks"),
    [
        ("ldpc-9/10", 0.002, 240),  # the quickstart's purified pairs (F ~ 0.997)
        ("ldpc-9/10", 0.004, 160),
        ("ldpc-9/10", 0.005, 320),  # the code's limit
        ("ldpc-5/6", 0.0067, 160),  # F = 0.99
    ],
)
def test_bit_flipping_then_bp_decodes_what_the_reference_decodes(
    name: str, p: float, blocks: int
) -> None:
    # Prepare: random data, encoded, through BSC(p)
    code = FEC_CODES[name]
    data, sent = _sent_blocks(code, blocks, seed=round(p * 1e5))
    received = sent ^ _errors(code, p, blocks, seed=round(p * 1e5) + 1)
    # Execute: the run path (bit flipping, CRC, belief propagation) and the reference
    got, failed = decode_blocks(code, received, bit_error_rate=p)
    ref, ref_failed = reference_decode_blocks(code, received, bit_error_rate=p)
    # Assert: the same data on every block the reference decodes; no more frame errors
    np.testing.assert_array_equal(got[~ref_failed], ref[~ref_failed])
    assert not failed[~ref_failed].any()
    np.testing.assert_array_equal(got[~failed], data[~failed])
    wrong = failed | (got != data).any(axis=1)
    ref_wrong = ref_failed | (ref != data).any(axis=1)
    assert int(wrong.sum()) <= int(ref_wrong.sum())


def test_bit_flipping_solves_most_quickstart_blocks_and_only_true_solutions() -> None:
    # Prepare: BSC(0.002) errors on ldpc-9/10 (about 8 per block)
    code = FEC_CODES["ldpc-9/10"]
    errors = _errors(code, 0.002, 400, seed=12)
    syndromes = code.syndrome(errors)
    graph = code.tanner_graph
    # Execute: all blocks together, and a few alone
    flips, solved = flip_decode(graph, syndromes)
    alone = [flip_decode(graph, syndromes[[i]]) for i in (0, 7, 399)]
    # Assert: what it calls solved meets the syndrome; at this rate it is the true pattern
    # (fixed seed: every solved block here); most blocks are solved; per-block results
    assert (code.syndrome(flips[solved]) == syndromes[solved]).all()
    np.testing.assert_array_equal(flips[solved], errors[solved])
    assert not flips[~solved].any()
    assert solved.mean() > 0.8
    for i, (e, ok) in zip((0, 7, 399), alone, strict=True):
        np.testing.assert_array_equal(e[0], flips[i])
        assert ok[0] == solved[i]


def test_bit_flipping_leaves_zero_and_heavy_syndromes_to_bp() -> None:
    code = FEC_CODES["ldpc-2/3"]
    errors = _errors(code, 0.03, 4, seed=13)  # ~120 errors: weight far above the limit
    syndromes = np.vstack([np.zeros((1, code.n - code.k), np.uint8), code.syndrome(errors)])
    assert (syndromes[1:].sum(axis=1) > FLIP_MAX_SYNDROME_WEIGHT).all()
    flips, solved = flip_decode(code.tanner_graph, syndromes)
    assert not solved.any() and not flips.any()
    with pytest.raises(InputError, match="syndromes must have shape"):
        flip_decode(code.tanner_graph, syndromes[:, :-1])


def test_one_and_two_threads_and_any_lane_give_bit_identical_results() -> None:
    code = FEC_CODES["ldpc-2/3"]
    errors = _errors(code, code.max_bit_error_rate, 3 * LANES + 5, seed=7)
    syndromes = code.syndrome(errors)
    graph = code.tanner_graph
    one = decode_syndromes(graph, syndromes, bit_error_rate=0.035, threads=1)
    two = decode_syndromes(graph, syndromes, bit_error_rate=0.035, threads=2)
    # a block decoded alone (lane 0, no neighbours) and in reversed order (other lanes)
    alone = decode_syndromes(graph, syndromes[[41]], bit_error_rate=0.035)
    rev = decode_syndromes(graph, syndromes[::-1], bit_error_rate=0.035, threads=2)
    for field in ("errors", "converged", "min_sum_iterations", "sum_product_iterations"):
        a = getattr(one, field)
        np.testing.assert_array_equal(a, getattr(two, field))
        np.testing.assert_array_equal(a[::-1], getattr(rev, field))
        np.testing.assert_array_equal(a[[41]], getattr(alone, field))
    assert one.converged.mean() > 0.95


@pytest.mark.parametrize("blocks", [LANES + 10, NARROW_BATCH - 4])
def test_narrow_tail_decodes_each_block_as_the_full_lanes_do(blocks: int) -> None:
    # Prepare: above the code's limit, so blocks finish at every iteration count up to
    # max_iter; in a batch the last ones finish in the TAIL_LANES-wide arrays (a batch of
    # at most NARROW_BATCH runs there from the start, refilling its lanes)
    code = FEC_CODES["ldpc-2/3"]
    errors = _errors(code, 0.042, blocks, seed=9)
    syndromes = code.syndrome(errors)
    graph = code.tanner_graph
    # Execute: min-sum only (max_iter 60, no sum-product), batched vs each block alone
    batched = decode_syndromes(graph, syndromes, bit_error_rate=0.042, max_iter=60)
    alone = [
        decode_syndromes(graph, syndromes[[i]], bit_error_rate=0.042) for i in range(len(errors))
    ]
    # Assert: the same pattern, verdict and iteration count for every block
    for i, one in enumerate(alone):
        np.testing.assert_array_equal(batched.errors[i], one.errors[0])
        assert batched.converged[i] == one.converged[0]
        assert batched.min_sum_iterations[i] == one.min_sum_iterations[0]
        assert batched.sum_product_iterations[i] == one.sum_product_iterations[0]
    its = batched.min_sum_iterations
    assert (its == 60).sum() >= 1 and (its < 20).sum() >= 10  # both ends of the range
    assert blocks <= NARROW_BATCH or (its == 60).sum() >= 3


def test_sum_product_fallback_solves_what_min_sum_left() -> None:
    # one min-sum iteration solves almost nothing at p = 0.03; sum-product must finish it
    code = FEC_CODES["ldpc-2/3"]
    errors = _errors(code, 0.03, 12, seed=8)
    syndromes = code.syndrome(errors)
    out = decode_syndromes(code.tanner_graph, syndromes, bit_error_rate=0.03, max_iter=1)
    assert out.redecoded >= 10
    assert out.converged.all()
    np.testing.assert_array_equal(out.errors, errors)
    assert (out.min_sum_iterations == 1).all()


def test_zero_syndromes_skip_decoding_and_llr_is_clamped() -> None:
    assert warm_up() >= 0.0  # loads or compiles every kernel on a 3-bit code
    g = TannerGraph.from_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.uint8))
    out = decode_syndromes(g, np.zeros((3, 2), np.uint8), bit_error_rate=0.1)
    assert out.converged.all() and not out.errors.any()
    assert (out.min_sum_iterations == 0).all()
    assert channel_llr(0.0) == pytest.approx(np.log((1 - 1e-6) / 1e-6))
    # a single flipped middle bit explains syndrome (1, 1) on the 3-bit repetition check
    one = decode_syndromes(g, np.array([[1, 1]], np.uint8), bit_error_rate=0.1)
    np.testing.assert_array_equal(one.errors, [[0, 1, 0]])


def test_bad_input_names_the_shape_and_the_range() -> None:
    g = FEC_CODES["ldpc-1/2"].tanner_graph
    with pytest.raises(InputError, match=r"syndromes must have shape \(B, 2000\)"):
        decode_syndromes(g, np.zeros((2, 5), np.uint8), bit_error_rate=0.05)
    with pytest.raises(InputError, match="bit error rate must be in"):
        decode_syndromes(g, np.zeros((2, 2000), np.uint8), bit_error_rate=0.7)
    with pytest.raises(InputError, match="threads"):
        decode_syndromes(g, np.zeros((2, 2000), np.uint8), bit_error_rate=0.05, threads=0)


def test_run_path_never_imports_the_ldpc_package() -> None:
    code = (
        "import sys, numpy as np\n"
        "import qtfl.channel.fec as fec, qtfl.channel.teleportation\n"
        "c = fec.FecCodec('ldpc-1/2', bit_error_rate=0.05)\n"
        "w, lay = c.encode(np.ones(100, np.uint8))\n"
        "c.decode(lay.to_channel(w), lay)\n"
        "assert 'ldpc' not in sys.modules, 'ldpc imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bench_fec_compares_both_decoders_on_the_same_errors() -> None:
    from qtfl.channel.fec_benchmark import benchmark_fec, fec_rows

    out = benchmark_fec(fidelities=(0.95,), blocks=16, repeats=2, seed=3)
    assert [r["point"] for r in out["points"]] == ["F=0.95", "ldpc-2/3 limit"]
    for row in out["points"]:
        assert row["code"] == "ldpc-2/3"
        assert row["new_frame_errors"] <= row["reference_frame_errors"]
        assert row["speedup_min"] <= row["speedup_median"]
        assert row["new_payload_bits_per_s"] == pytest.approx(
            row["new_blocks_per_s"] * FEC_CODES["ldpc-2/3"].data_bits
        )
    assert out["points"][1]["bit_error_rate"] == FEC_CODES["ldpc-2/3"].max_bit_error_rate
    assert "e+" not in " ".join(fec_rows(out).values())  # human units, no e-notation


def test_bench_fec_cli_json_contract_and_clean_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from qtfl.cli import main

    main(["bench", "fec", "--blocks", "8", "--repeats", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in out["points"]] == ["ldpc-5/6"] * 2 + ["ldpc-2/3"] * 2 + [
        "ldpc-1/2"
    ] * 2
    assert out["threads"] == 1 and out["timer"] == "process CPU seconds"
    with pytest.raises(SystemExit) as exc:
        main(["bench", "fec", "--blocks", "0", "--json"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "blocks must be" in " ".join(err.split()) and "Traceback" not in err


@pytest.mark.parametrize("blocks", [1, LANES, 2 * LANES + 3])
def test_syndromes_equal_the_sparse_matrix_product(blocks: int) -> None:
    # the lane-chunked kernel against H w mod 2 by scipy, for whole and partial chunks
    rng = np.random.default_rng(blocks)
    for code in FEC_CODES.values():
        words = (rng.random((blocks, code.n)) < 0.3).astype(np.uint8)
        expected = (code.parity_check_matrix @ words.T.astype(np.int64)).T % 2
        np.testing.assert_array_equal(code.syndrome(words), expected.astype(np.uint8))


def test_sum_product_transcendentals_match_libm() -> None:
    # tanh(t/2) as one exp and 2 atanh(x) as one log1p (the fallbacks' check update) agree
    # with libm's to double precision over normal draws, wide and tiny arguments and the
    # clamp at _TANH_MAX
    @numba.njit
    def worst(ts: np.ndarray) -> tuple[float, float]:
        e_tanh, e_atanh = 0.0, 0.0
        for t in ts:
            x = math.tanh(0.5 * t)
            e_tanh = max(e_tanh, abs(_tanh_half(t) - x))
            x = min(max(x, -_TANH_MAX), _TANH_MAX)
            want = 2.0 * math.atanh(x)
            e_atanh = max(e_atanh, abs(_two_atanh(x) - want) / max(1.0, abs(want)))
        return e_tanh, e_atanh

    ts = np.concatenate(
        [
            np.random.default_rng(0).normal(0.0, 10.0, 200_000),
            np.linspace(-800.0, 800.0, 20_001),
            np.array([0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8]),
        ]
    )
    e_tanh, e_atanh = worst(ts)
    assert e_tanh <= 4.5e-16 and e_atanh <= 4.5e-16  # two units in the last place
