"""``qtfl bench fec``: the lane-batched decoder against the ``ldpc`` package on identical errors.

Points: Werner fidelities ``F`` (bit error ``p = 2(1-F)/3``, the code
:func:`~qtfl.channel.fec.select_code` picks) and, for each such code, its calibrated limit
``p = max_bit_error_rate``. At each point one set of ``blocks`` random error patterns is
drawn from ``seed``; both decoders decode the same received words, and the two sides are
timed alternately (new, reference, new, reference, ...) ``repeats`` times so that a load
change on a shared machine hits both. Time is this process's CPU time
(``time.process_time``), so blocks/s are per core when ``threads == 1`` (and summed over
cores otherwise). Reported: blocks/s and payload bits/s of both (best and median repeat),
the per-repeat speed ratio (min and median), frame errors of both (blocks not delivered
correctly: failed or wrong data), and the first-call (JIT compile or cache load) seconds.

:func:`reference_decode_blocks` is the decoder the run path used before
:mod:`qtfl.channel.ldpc_decoder`: the ``ldpc`` package's flooding sum-product, one C++ call
per block. It is imported here only (tests and this benchmark), never on the run path.
"""

from __future__ import annotations

import statistics
import time
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel.crc import crc32_bits
from qtfl.channel.fec import LdpcCode, decode_blocks, select_code
from qtfl.errors import InputError, require_int, require_range

BitArray = npt.NDArray[np.uint8]


@lru_cache(maxsize=16)
def _reference_decoder(code: LdpcCode, bit_error_rate: float, max_iter: int) -> Any:
    try:
        from ldpc import BpDecoder
    except ImportError as exc:  # pragma: no cover - ldpc is a pinned dependency
        raise InputError("the reference decoder needs the 'ldpc' package") from exc
    return BpDecoder(
        code.parity_check_matrix,
        error_rate=min(max(bit_error_rate, 1e-6), 0.49),
        max_iter=max_iter,
        bp_method="product_sum",
        schedule="parallel",
        input_vector_type="syndrome",
    )


def reference_decode_syndromes(
    code: LdpcCode, syndromes: npt.ArrayLike, *, bit_error_rate: float, max_iter: int = 60
) -> tuple[BitArray, npt.NDArray[np.bool_]]:
    """``ldpc`` sum-product per block: error patterns ``(B, n)`` and the converged mask."""
    s = np.asarray(syndromes, dtype=np.uint8)
    errors = np.zeros((s.shape[0], code.n), np.uint8)
    converged = np.ones(s.shape[0], bool)
    decoder = _reference_decoder(code, float(bit_error_rate), int(max_iter))
    for b in np.flatnonzero(s.any(axis=1)):  # one C++ BP call per block of n bits
        errors[b] = decoder.decode(s[b])
        converged[b] = decoder.converge
    return errors, converged


def reference_decode_blocks(
    code: LdpcCode, received: npt.ArrayLike, *, bit_error_rate: float, max_iter: int = 60
) -> tuple[BitArray, npt.NDArray[np.bool_]]:
    """The former :func:`~qtfl.channel.fec.decode_blocks` (``ldpc`` BP + CRC-32)."""
    r = np.asarray(received, dtype=np.uint8)
    syn = ((code.parity_check_matrix @ r.T.astype(np.int32)) & 1).T.astype(np.uint8)
    errors, converged = reference_decode_syndromes(
        code, syn, bit_error_rate=bit_error_rate, max_iter=max_iter
    )
    corrected = r ^ errors
    data = corrected[:, : code.data_bits]
    crc_ok = (crc32_bits(data) == corrected[:, code.data_bits : code.k]).all(axis=1)
    return data, ~(converged & crc_ok)


def fec_points(fidelities: tuple[float, ...]) -> list[tuple[str, LdpcCode, float]]:
    """``(label, code, p)`` for each fidelity and each chosen code's calibrated limit."""
    points: list[tuple[str, LdpcCode, float]] = []
    for f in fidelities:
        fid = require_range("fidelity", f, low=0.25, high=1.0)
        p = 2.0 * (1.0 - fid) / 3.0
        code = select_code(p)
        points.append((f"F={fid:g}", code, p))
        points.append((f"{code.name} limit", code, code.max_bit_error_rate))
    return points


def benchmark_fec(
    *,
    fidelities: tuple[float, ...] = (0.99, 0.95, 0.90),
    blocks: int = 256,
    repeats: int = 3,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Time and compare both decoders at every point; see the module docstring."""
    n_blocks = require_int("blocks", blocks, low=1, high=1_000_000)
    reps = require_int("repeats", repeats, low=1, high=100)
    workers = require_int("threads", threads, low=1, high=256)
    rng = np.random.default_rng(seed)
    points = fec_points(tuple(fidelities))
    first_code = points[0][1]
    start = time.perf_counter()  # first call: JIT compile, or load from the on-disk cache
    decode_blocks(first_code, np.ones((1, first_code.n), np.uint8), bit_error_rate=0.01)
    first_call_s = time.perf_counter() - start
    rows = []
    for label, code, p in points:
        data = rng.integers(0, 2, (n_blocks, code.data_bits), dtype=np.uint8)
        sent = code.encode(np.concatenate([data, crc32_bits(data)], axis=1))
        received = sent ^ (rng.random(sent.shape) < p).astype(np.uint8)
        new_t, ref_t = [], []
        new_out = ref_out = None
        for _ in range(reps):  # interleaved: new, reference, new, reference, ...
            t0 = time.process_time()
            new_out = decode_blocks(code, received, bit_error_rate=p, threads=workers)
            new_t.append(time.process_time() - t0)
            t0 = time.process_time()
            ref_out = reference_decode_blocks(code, received, bit_error_rate=p)
            ref_t.append(time.process_time() - t0)
        assert new_out is not None and ref_out is not None
        rows.append(_row(label, code, p, n_blocks, data, new_out, ref_out, new_t, ref_t))
    return {
        "blocks_per_point": n_blocks,
        "repeats": reps,
        "threads": workers,
        "seed": seed,
        "timer": "process CPU seconds",
        "first_call_seconds": first_call_s,
        "points": rows,
    }


def _row(
    label: str,
    code: LdpcCode,
    p: float,
    n_blocks: int,
    data: BitArray,
    new_out: tuple[BitArray, npt.NDArray[np.bool_]],
    ref_out: tuple[BitArray, npt.NDArray[np.bool_]],
    new_t: list[float],
    ref_t: list[float],
) -> dict[str, Any]:
    def frame_errors(out: tuple[BitArray, npt.NDArray[np.bool_]]) -> int:
        return int(np.count_nonzero(out[1] | (out[0] != data).any(axis=1)))

    ratios = [r / max(n, 1e-12) for n, r in zip(new_t, ref_t, strict=True)]
    best_new, best_ref = max(min(new_t), 1e-12), max(min(ref_t), 1e-12)
    med_new = max(statistics.median(new_t), 1e-12)
    return {
        "point": label,
        "code": code.name,
        "bit_error_rate": p,
        "new_blocks_per_s": n_blocks / best_new,
        "new_blocks_per_s_median": n_blocks / med_new,
        "new_payload_bits_per_s": n_blocks * code.data_bits / best_new,
        "reference_blocks_per_s": n_blocks / best_ref,
        "reference_payload_bits_per_s": n_blocks * code.data_bits / best_ref,
        "speedup_min": min(ratios),
        "speedup_median": statistics.median(ratios),
        "new_frame_errors": frame_errors(new_out),
        "reference_frame_errors": frame_errors(ref_out),
    }


def fec_rows(result: dict[str, Any]) -> dict[str, str]:
    """One human line per point for the table view (``qtfl bench fec`` without ``--json``)."""
    from qtfl.present.units import human_count, human_number, human_seconds

    out = {"first call (compile or cache load)": human_seconds(result["first_call_seconds"])}
    for row in result["points"]:
        out[f"{row['point']} ({row['code']}, p={row['bit_error_rate']:.4f})"] = (
            f"new {human_number(row['new_blocks_per_s'])} blocks/s "
            f"({human_number(row['new_payload_bits_per_s'])} b/s), "
            f"ldpc {human_number(row['reference_blocks_per_s'])} blocks/s, "
            f"speedup {human_number(row['speedup_min'])}-{human_number(row['speedup_median'])}x "
            f"(min-median), frame errors {human_count(row['new_frame_errors'])} vs "
            f"{human_count(row['reference_frame_errors'])}"
        )
    return out
