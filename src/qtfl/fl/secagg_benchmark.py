"""Cost of quantum-keyed secure aggregation per round as the cohort grows.

For each cohort size, one round of :class:`qtfl.fl.secagg.QuantumSecAgg` on updates the size
of the digits MLP (64-64-10, 4,810 parameters) with a fraction ``dropout`` of the clients
dropping after the setup: the neighbour degree and threshold, the pairs, key bits, classical
bits, messages and bytes of the protocol, wall-clock seconds of each step, and whether the
unmasked sum equals the plain sum of the survivors' codes exactly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from qtfl.errors import require_int, require_range
from qtfl.fl.privacy import RoundContext
from qtfl.fl.secagg import QuantumSecAgg, QuantumSecAggSettings

DIGITS_MLP_PARAMETERS = 64 * 64 + 64 + 64 * 10 + 10  # 4,810


def benchmark_secagg(
    *,
    clients: Sequence[int] = (100, 300, 1000),
    dropout: float = 0.3,
    parameters: int = DIGITS_MLP_PARAMETERS,
    seed: int = 0,
) -> dict[str, Any]:
    """One round per cohort size (see the module docstring)."""
    require_range("dropout", dropout, low=0.0, high=1.0, high_open=True)
    require_int("parameters", parameters, low=1, high=10_000_000)
    rows = []
    load_before = os.getloadavg()[0]
    for n in clients:
        require_int("clients", n, low=3, high=100_000)
        rng = np.random.default_rng([seed, n])
        updates = rng.normal(0.0, 0.05, (n, parameters)).astype(np.float32)
        sa = QuantumSecAgg(
            QuantumSecAggSettings(dropout_tolerance=dropout), rng=np.random.default_rng(seed)
        )
        ctx = RoundContext(round=1, cohort=np.arange(n), cohort_weights=np.ones(n), rng=rng)
        t0 = time.perf_counter()
        sa.setup(1, np.arange(n))
        t1 = time.perf_counter()
        alive = np.flatnonzero(rng.random(n) >= dropout)
        masked = np.stack(
            [sa.postprocess_one_user(updates[c], client=int(c), weight=1.0, context=ctx)[0]
             for c in alive]
        )  # fmt: skip
        t2 = time.perf_counter()
        total = sa.unmask_sum(masked, survivors=alive, cohort=np.arange(n), round_=1)
        t3 = time.perf_counter()
        plain = np.sum(
            [sa.encode(updates[c], share=1.0 / n, cohort_size=n) for c in alive], axis=0
        ) % (1 << 24)
        r = sa.rounds[-1]
        rows.append(
            {
                "clients": n,
                "dropped": r.dropped,
                "neighbours": r.neighbours,
                "threshold": r.threshold,
                "edges": r.edges,
                "keys_established": r.keys_established,
                "bell_pairs": r.ledger.bell_pairs,
                "key_bits": r.ledger.payload_bits,
                "classical_bits": r.ledger.classical_bits,
                "messages": r.messages,
                "share_and_reveal_bytes": r.bytes_sent,
                "setup_seconds": t1 - t0,
                "mask_seconds": t2 - t1,
                "unmask_seconds": t3 - t2,
                "round_seconds": t3 - t0,
                "exact": bool(total is not None and np.array_equal(total, plain)),
            }
        )
    return {
        "parameters": parameters,
        "dropout": dropout,
        "rounds": rows,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }
