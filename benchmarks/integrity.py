"""Payload integrity benchmarks: FEC code limits and cost, QEC logical error, cost optimizer.

Run ``python benchmarks/integrity.py --json`` for the FEC table (rate, Shannon limit, measured
block failures, pairs per payload bit, decode throughput) at F = 0.95 and 0.90,
``--section qec`` for logical vs physical error of the QEC codes, ``--section angle`` for the
pairs an angle payload needs with and without a QEC code, ``--section plan`` for the
cheapest of FEC / purification / both per fidelity, and
``python benchmarks/integrity.py --calibrate`` to re-measure each code's
``max_bit_error_rate`` (the values stored in ``qtfl.channel.fec.FEC_CODES``).
Figures, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from qtfl.channel.fec import (
    FEC_CODES,
    FecCodec,
    LdpcCode,
    binary_entropy,
    binary_symmetric_channel,
    measure_block_failures,
    select_code,
)
from qtfl.channel.integrity import plan_integrity
from qtfl.channel.retransmission import deliver_with_retransmission
from qtfl.quantum.encoding import AngleEncoding
from qtfl.quantum.noise import WernerPair
from qtfl.quantum.qec import CODES, exact_logical_error, exact_readout_flip, simulate_logical_error

#: Calibration: a code "handles" p when at most this fraction of blocks fails there.
TARGET_BLOCK_FAILURE = 0.01
CALIBRATION_BLOCKS = 400


def _grid() -> list[float]:
    fine = np.arange(0.0025, 0.02, 0.0025)
    coarse = np.arange(0.02, 0.2, 0.005)
    return sorted({round(float(p), 4) for p in np.concatenate([fine, coarse])})


def calibrate(code: LdpcCode, *, seed: int = 0) -> dict[str, object]:
    """Largest grid p at which ``code`` fails <= 1% of 400 blocks.

    Block failure grows with p, so the grid (capped at the Shannon limit, where no code of
    this rate can work) is bisected; a point stops early once more than 1% have failed.
    """
    rng = np.random.default_rng(seed)
    allowed = int(TARGET_BLOCK_FAILURE * CALIBRATION_BLOCKS)
    grid = [p for p in _grid() if code.rate < 1.0 - binary_entropy(p)]
    trail: list[dict[str, float]] = []

    def passes(p: float) -> bool:
        failed = undetected = 0
        for _ in range(CALIBRATION_BLOCKS // 25):
            f, u = measure_block_failures(code, bit_error_rate=p, blocks=25, rng=rng)
            failed, undetected = failed + f, undetected + u
            if failed > allowed:
                break
        trail.append({"p": p, "failed": failed, "undetected": undetected})
        return failed <= allowed

    lo, hi = -1, len(grid)  # invariant: grid[lo] passes (or lo = -1), grid[hi] fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(grid[mid]):
            lo = mid
        else:
            hi = mid
    limit = grid[lo] if lo >= 0 else 0.0
    return {"code": code.name, "rate": code.rate, "max_bit_error_rate": limit, "trail": trail}


def fec_table(*, payload_bits: int, seed: int = 1) -> list[dict[str, object]]:
    """Deliver ``payload_bits`` random bits at F = 0.95 and 0.90 with fec=auto over a BSC."""
    rows = []
    for fidelity in (0.95, 0.90):
        p = WernerPair(fidelity).teleported_bit_error
        code = select_code(p)
        codec = FecCodec(code, bit_error_rate=p)
        rng = np.random.default_rng(seed)
        bits = rng.integers(0, 2, payload_bits, dtype=np.uint8)

        def bsc(x: np.ndarray, g: np.random.Generator, p: float = p) -> np.ndarray:
            return binary_symmetric_channel(x, p=p, rng=g)

        start = time.perf_counter()
        out = deliver_with_retransmission(codec, bits, bsc, rng=rng)
        seconds = time.perf_counter() - start
        wrong = int(np.count_nonzero(out.bits != bits))
        rows.append(
            {
                "fidelity": fidelity,
                "bit_error_rate": p,
                "code": code.name,
                "code_rate": code.rate,
                "payload_rate": code.payload_rate,
                "shannon_limit_rate": 1.0 - binary_entropy(p),
                "payload_bits": payload_bits,
                "blocks": out.layout.blocks,
                "retransmitted_blocks": out.retransmitted_blocks,
                "residual_failed_blocks": out.residual_failures,
                "residual_bit_errors": wrong,
                "residual_bit_error_rate": wrong / payload_bits,
                "pairs_per_payload_bit": out.pairs_per_payload_bit,
                "seconds": seconds,
                "channel_bits_per_s": out.channel_bits / seconds,
            }
        )
    return rows


def qec_table(*, shots: int = 200_000, seed: int = 3) -> list[dict[str, object]]:
    """Logical error vs physical p (stim sampling and exact enumeration) for every code."""
    rows = []
    for name in CODES:
        noises = ("x",) if name == "bit-flip" else ("z",) if name == "phase-flip" else ()
        for noise in (*noises, "depolarizing"):
            for p in (0.001, 0.01, 0.05, 0.1):
                sim = simulate_logical_error(name, noise=noise, p=p, shots=shots, seed=seed)
                exact = exact_logical_error(name, noise=noise, p=p)
                rows.append(
                    {"code": name, "noise": noise, "p": p, "simulated": sim, "exact": exact}
                )
    return rows


def angle_table(*, eps: float = 0.01) -> list[dict[str, object]]:
    """Pairs per value for an angle payload read out to standard deviation ``eps`` (scale 1):
    copies ``S = 1/(eps^2 (1-2q)^2)`` times qubits per copy, raw or inside a QEC code."""
    rows = []
    for fidelity in (0.99, 0.95, 0.90):
        p = 1.0 - fidelity  # teleportation through a Werner pair: depolarizing p = 1 - F
        for name, qubits in (("none", 1), ("shor", 9), ("five-qubit", 5)):
            if name == "none":
                q = WernerPair(fidelity).teleported_bit_error
            else:
                q = exact_readout_flip(name, noise="depolarizing", p=p, basis="Z")
            copies = AngleEncoding.shots_for_precision(eps, scale=1.0, flip_probability=q)
            rows.append(
                {
                    "fidelity": fidelity,
                    "code": name,
                    "readout_flip": q,
                    "copies": copies,
                    "pairs_per_value": copies * qubits,
                }
            )
    return rows


def plan_table(*, target: float = 1e-6) -> list[dict[str, object]]:
    """Cheapest plan per fidelity, next to the cheapest FEC-only and purification-only plans."""
    rows = []
    for fidelity in (0.99, 0.95, 0.90, 0.85, 0.80, 0.75):
        plan = plan_integrity(WernerPair(fidelity), target_bit_error_rate=target, max_rounds=8)
        ok = [o for o in plan.candidates if o.residual_bit_error_rate <= target]

        def cheapest(method: str, ok: list = ok) -> float | None:
            costs = [o.pairs_per_payload_bit for o in ok if o.method == method]
            return min(costs) if costs else None

        rows.append(
            {
                "fidelity": fidelity,
                "target": target,
                "best": plan.best.method,
                "rounds": plan.best.rounds,
                "code": plan.best.code,
                "pairs_per_payload_bit": plan.best.pairs_per_payload_bit,
                "fec_only": cheapest("fec"),
                "purification_only": cheapest("purification"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="re-measure code limits")
    parser.add_argument("--section", choices=("fec", "qec", "angle", "plan"), default="fec")
    parser.add_argument("--codes", default=",".join(FEC_CODES), help="codes to calibrate")
    parser.add_argument("--payload-bits", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    if args.calibrate:
        rows = [calibrate(FEC_CODES[name]) for name in args.codes.split(",")]
    elif args.section == "qec":
        rows = qec_table()
    elif args.section == "angle":
        rows = angle_table()
    elif args.section == "plan":
        rows = plan_table()
    else:
        rows = fec_table(payload_bits=args.payload_bits)
    for row in rows:
        print(json.dumps(row) if args.json else row, flush=True)


if __name__ == "__main__":
    main()
