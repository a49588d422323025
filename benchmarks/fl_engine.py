"""FL engine speed: the vectorised engine against the plain per-client loop, and memory.

Run ``python benchmarks/fl_engine.py --json`` (the same as ``qtfl bench fl --json``):
100 clients x 60 Fashion-MNIST examples (random data of the same shapes when the files are
absent; the output says which), MLP 784-128-10, 1 local epoch, batch 10, plain channels,
torch single-threaded; steady rounds per second of both engines, their ratio, and the peak
resident memory of one round with 1000 clients. Figures, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json

from qtfl.fl.benchmark import benchmark_fl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--memory-clients", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    result = benchmark_fl(
        clients=args.clients,
        samples=args.samples,
        rounds=args.rounds,
        memory_clients=args.memory_clients,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
