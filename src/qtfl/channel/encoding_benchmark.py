"""What each encoding and protection of a teleport channel costs and delivers, measured.

``compare_encodings`` sends the same update (``values`` normal values of standard deviation
0.01, like a model delta; seeded) ``repeats`` times through a
:class:`~qtfl.channel.teleportation.TeleportationChannel` over Werner pairs of
``fidelity`` in each configuration of :data:`CONFIGURATIONS`, and reports per configuration:

* ``delivered`` — share of sends accepted (checks passed, no safety-net rejection);
* ``rms_error`` — measured root-mean-square error per value over the delivered sends;
* ``stated_rms_error`` — for angle/amplitude, the library's variance
  (:meth:`TeleportationChannel.readout_variance`) as an RMS over values; ``None`` otherwise;
* ``bell_pairs_per_value``, ``payload_qubits_per_value``, ``classical_bits_per_value`` —
  mean ledger figures per value and send;
* ``seconds_per_send`` — mean wall time of one send on this machine (with its load).

``qtfl bench encodings`` prints it (``--json`` for machines).
"""

from __future__ import annotations

import time
from typing import Any, Final

import numpy as np

from qtfl.benchmarking import machine_load
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec, Verification
from qtfl.errors import require_int, require_range
from qtfl.quantum.noise import WernerPair

CONFIGURATIONS: Final[dict[str, dict[str, Any]]] = {
    "basis-16": {"bits": 16},
    "basis-16+fec": {"bits": 16, "fec": "auto"},
    "basis-16+bit-flip": {"bits": 16, "qec": "bit-flip"},
    "basis-16+five-qubit": {"bits": 16, "qec": "five-qubit"},
    "basis-16+shor": {"bits": 16, "qec": "shor"},
    "float32": {"encoding": "float32"},
    "float32+fec": {"encoding": "float32", "fec": "auto"},
    "angle": {"encoding": "angle"},
    "angle+five-qubit": {"encoding": "angle", "qec": "five-qubit"},
    "amplitude": {"encoding": "amplitude"},
}
"""The compared teleport-channel options, by label (angle/amplitude get ``shots``)."""


def compare_encodings(
    *,
    fidelity: float = 0.95,
    values: int = 650,
    shots: int = 1024,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure every configuration of :data:`CONFIGURATIONS` (module notes)."""
    f = require_range("fidelity", fidelity, low=0.25, high=1.0)
    d = require_int("values", values, low=1, high=1_000_000)
    s = require_int("shots", shots, low=1, high=1_000_000)
    r = require_int("repeats", repeats, low=1, high=10_000)
    update = (np.random.default_rng(require_int("seed", seed, low=0)).normal(size=d) * 0.01).astype(
        np.float32
    )
    rows: dict[str, dict[str, Any]] = {}
    for label, options in CONFIGURATIONS.items():
        opts = dict(options)
        if opts.get("encoding") in ("angle", "amplitude"):
            opts["shots"] = s
        channel = TeleportationChannel(
            LinkSpec(WernerPair(f), pair_rate_hz=1e6), verification=Verification(), **opts
        )
        rng = np.random.default_rng(seed + 1)
        sq, delivered, pairs, qubits, cbits, seconds = 0.0, 0, 0, 0, 0, 0.0
        for _ in range(r):
            t0 = time.perf_counter()
            out = channel.send(update, rng=rng)
            seconds += time.perf_counter() - t0
            pairs += out.ledger.bell_pairs
            qubits += out.ledger.payload_qubits
            cbits += out.ledger.classical_bits
            if out.received is not None:
                delivered += 1
                err = out.received.astype(np.float64) - update.astype(np.float64)
                sq += float(np.sum(err * err))
        stated = None
        if channel.analog:
            stated = float(np.sqrt(np.mean(channel.readout_variance(update))))
        rows[label] = {
            "delivered": delivered / r,
            "rms_error": float(np.sqrt(sq / (delivered * d))) if delivered else None,
            "stated_rms_error": stated,
            "bell_pairs_per_value": pairs / (r * d),
            "payload_qubits_per_value": qubits / (r * d),
            "classical_bits_per_value": cbits / (r * d),
            "seconds_per_send": seconds / r,
        }
    return {
        "fidelity": f,
        "values": d,
        "update_rms": float(np.sqrt(np.mean(update.astype(np.float64) ** 2))),
        "shots": s,
        "repeats": r,
        "seed": seed,
        "encodings": rows,
        "machine": machine_load(),
    }
