"""QDataSet generation speed: examples per second for G_1q_XZ_N1 (K = 100) and a two-qubit set.

Run: ``python benchmarks/qdataset.py`` (same as ``qtfl bench qdataset --json``).
"""

from __future__ import annotations

import json

from qtfl.data.qdataset_benchmark import benchmark_qdataset

if __name__ == "__main__":
    print(json.dumps(benchmark_qdataset(), indent=2))
