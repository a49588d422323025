"""Teleportation vs QKD + one-time pad vs AES-GCM: cost and simulation speed per update.

Run ``python benchmarks/security.py --json`` (or ``qtfl bench security --json``). The target
is a 1e5-parameter update at 16 bits per parameter: each channel's best wall time over
``--repeats`` sends, and its ledger (Bell pairs, classical bits, link seconds). Figures, not
pass/fail tests.
"""

from __future__ import annotations

import argparse
import json

from qtfl.security.benchmark import benchmark_channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--bits", type=int, default=16)
    parser.add_argument("--fidelity", type=float, default=0.97)
    parser.add_argument("--pair-rate-hz", type=float, default=1e6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    result = benchmark_channels(
        params=a.params,
        bits=a.bits,
        fidelity=a.fidelity,
        pair_rate_hz=a.pair_rate_hz,
        repeats=a.repeats,
    )
    print(json.dumps(result, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
