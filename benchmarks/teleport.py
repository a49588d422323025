"""Teleportation speed: stim fast path vs Qiskit Aer on the same protocol and noise.

Run ``python benchmarks/teleport.py`` (or ``qtfl bench teleport --json``; both call
:func:`qtfl.quantum.benchmark.benchmark_teleport`). Prints one JSON object: payload qubits
per second for stim (N = 10^7 by default), Aer's dynamic circuit and Aer's fastest
equivalent circuit, and the ratios ``ratio`` and ``ratio_vs_fastest_aer``. Figures, not
pass/fail tests; the machine's load changes them.
"""

from __future__ import annotations

import argparse
import json

from qtfl.quantum.benchmark import benchmark_teleport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=10_000_000, help="payload qubits for stim")
    parser.add_argument("--aer-shots", type=int, default=20_000, help="Aer dynamic shots")
    parser.add_argument("--aer-fast-shots", type=int, default=200_000, help="Aer bulk shots")
    parser.add_argument("--fidelity", type=float, default=0.95, help="Werner pair fidelity")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, best kept")
    parser.add_argument("--threads", type=int, default=1, help="Aer max_parallel_threads")
    args = parser.parse_args()
    result = benchmark_teleport(
        bits=args.bits,
        aer_shots=args.aer_shots,
        aer_fast_shots=args.aer_fast_shots,
        fidelity=args.fidelity,
        repeats=args.repeats,
        threads=args.threads,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
