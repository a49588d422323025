"""Encoding throughput: basis pack/unpack, angle and amplitude sampling and readout.

Run ``python benchmarks/encoding.py --json`` (default 10^7 values; ``--values N`` to change).
Prints the best of three wall-clock times per step and the resulting values per second.
Figures, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qtfl.quantum.encoding import AmplitudeEncoding, AngleEncoding, BasisEncoding


def _best(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run(n_values: int, *, seed: int = 0) -> dict[str, Any]:
    """Time every encoding step on a Gaussian float32 update of ``n_values`` values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_values).astype(np.float32)
    result: dict[str, Any] = {"n_values": n_values, "basis": {}, "angle": {}, "amplitude": {}}
    for bits in (8, 13, 16, 32):
        enc = BasisEncoding(bits=bits)
        t_enc, payload = _best(lambda enc=enc: enc.encode(x))
        t_dec, _ = _best(lambda enc=enc, p=payload: enc.decode(p))
        t_bits, _ = _best(lambda p=payload: p.bit_array())
        result["basis"][f"b={bits}"] = {
            "encode_s": t_enc,
            "decode_s": t_dec,
            "bit_array_s": t_bits,
            "encode_values_per_s": n_values / t_enc,
            "decode_values_per_s": n_values / t_dec,
        }
    angle = AngleEncoding(shots=1024)
    t_enc, ap = _best(lambda: angle.encode(x))
    t_smp, counts = _best(lambda: angle.sample_counts(ap, rng=rng, flip_probability=0.02))
    t_rd, _ = _best(lambda: angle.readout(counts, scale=ap.scale, flip_probability=0.02))
    result["angle"] = {"shots": 1024, "encode_s": t_enc, "sample_s": t_smp, "readout_s": t_rd}
    d = min(n_values, 1 << 20)
    amp = AmplitudeEncoding(shots=10**6)
    q = np.full(amp.payload_qubits(d), 0.02)
    t_enc, mp = _best(lambda: amp.encode(x[:d]))
    t_smp, mcounts = _best(lambda: amp.sample_counts(mp, rng=rng, flip_probability=q))
    t_rd, _ = _best(lambda: amp.readout(mcounts, norm=mp.norm, n_values=d, flip_probability=q))
    t_var, _ = _best(lambda: amp.variance(mp, flip_probability=q))
    result["amplitude"] = {
        "n_values": d,
        "shots": 10**6,
        "encode_s": t_enc,
        "sample_s": t_smp,
        "readout_s": t_rd,
        "variance_s": t_var,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10**7)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    out = run(args.values)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
