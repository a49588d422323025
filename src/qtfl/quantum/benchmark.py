"""Timed teleportation runs: the ``qtfl teleport`` summary and the stim-vs-Aer benchmark.

``teleport_summary`` teleports N random payload bits through Werner pairs and reports the
resources and the bit error rate. ``benchmark_teleport`` runs one protocol and noise
(Werner pairs of the given fidelity, depolarizing white noise on the pair) three ways in one
process and reports payload qubits per second:

* **stim** — :class:`qtfl.quantum.teleport.Teleporter` (classically controlled corrections
  by stim feedback, bit-packed lanes), N payload qubits;
* **Aer dynamic** — :func:`qtfl.quantum.reference.aer_teleport` with ``dynamic=True``: the
  protocol as a dynamic circuit with ``if_test`` corrections, one shot per payload qubit
  (like for like → ``ratio``);
* **Aer fastest** — Aer's fastest equivalent: ``lanes`` teleports per circuit, corrections
  deferred to CX/CZ, all measurements at the end, simulated once as a density matrix and
  sampled in bulk; payload bits XORed into the outcomes (exact, as for stim)
  (→ ``ratio_vs_fastest_aer``).

The **direct** Pauli-frame sampler (:func:`qtfl.quantum.teleport.teleport_direct`, exact for
pairs nobody touches) is timed against stim interleaved, stim then direct in each of
``repeats`` rounds, so a loaded machine slows both alike: ``direct_rate_qubits_per_s`` is its
best run, ``direct_vs_stim_min``/``_median`` the per-round speed ratios.

For reference only, ``aer_counts_only_rate_qubits_per_s`` times the same deferred circuit
returning outcome counts instead of per-shot results — cheaper for Aer, but it no longer
delivers the payload (no per-qubit bits), so no ratio is formed with it.

The three compared paths return per-shot results (received bit and both Bell bits for each
payload qubit), so they do the same job. Three lanes on the density-matrix method were the
fastest Aer settings measured here (1 to 4 lanes; density-matrix, automatic and statevector
methods; four lanes make a 12-qubit density matrix and are slower). Each rate is the best
of ``repeats`` timed runs (the first stim call, which builds and caches the circuit, is not
timed). Aer runs with ``max_parallel_threads=threads`` (default 1, like single-threaded
stim).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from qtfl.errors import require_int, require_range
from qtfl.quantum.noise import WernerPair
from qtfl.quantum.teleport import compile_teleporter, teleport_direct
from qtfl.security.run_secret import LinkSecret

#: Largest N for one ``qtfl teleport`` run (about 6 bytes of memory per payload qubit).
MAX_BITS: Final = 200_000_000


@dataclass(frozen=True)
class TeleportSummary:
    """What ``qtfl teleport`` prints."""

    payload_qubits: int
    bell_pairs: int
    classical_bits: int
    bit_error_rate: float
    expected_bit_error_rate: float
    fidelity: float
    seed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def teleport_summary(*, bits: int, fidelity: float, seed: int) -> TeleportSummary:
    """Teleport ``bits`` uniformly random payload bits through Werner pairs of ``fidelity``.

    ``seconds`` is the wall time of the simulation: the direct Pauli-frame teleport (nobody
    touches these pairs; the payload is drawn before timing). Expected bit error rate
    ``2(1-F)/3``; the bit errors follow ``seed``, the Bell bits a fresh secret.
    """
    n = require_int("bits", bits, low=1, high=MAX_BITS)
    s = require_int("seed", seed, low=0)
    pair = WernerPair(fidelity)
    rng = np.random.default_rng(s)
    payload = rng.integers(0, 2, n, dtype=np.uint8)
    secret_rng = LinkSecret().for_transfer(rng)  # the Bell frame never follows the seed
    start = time.perf_counter()
    result = teleport_direct(pair, payload, noise_rng=rng, secret_rng=secret_rng)
    seconds = time.perf_counter() - start
    return TeleportSummary(
        payload_qubits=n,
        bell_pairs=n,
        classical_bits=2 * n,
        bit_error_rate=float(np.count_nonzero(result.received != payload) / n),
        expected_bit_error_rate=pair.teleported_bit_error,
        fidelity=pair.fidelity,
        seed=s,
        seconds=seconds,
    )


def benchmark_teleport(
    *,
    bits: int = 10_000_000,
    aer_shots: int = 20_000,
    aer_fast_shots: int = 200_000,
    lanes: int = 3,
    fidelity: float = 0.95,
    repeats: int = 3,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Rates (payload qubits/s) of stim, Aer dynamic and Aer fastest; see the module notes."""
    from qtfl.extras import require_extra

    require_extra("qiskit", purpose="qtfl bench teleport (stim vs Qiskit Aer)")
    import qiskit_aer
    import stim

    from qtfl.quantum.reference import aer_teleport

    n = require_int("bits", bits, low=1, high=MAX_BITS)
    k_dyn = require_int("aer_shots", aer_shots, low=1, high=10_000_000)
    k_fast = require_int("aer_fast_shots", aer_fast_shots, low=1, high=10_000_000)
    k_lanes = require_int("lanes", lanes, low=1, high=4)
    reps = require_int("repeats", repeats, low=1, high=100)
    require_int("threads", threads, low=1)
    require_range("fidelity", fidelity, low=0.25, high=1.0)
    pair = WernerPair(fidelity)
    rng = np.random.default_rng(require_int("seed", seed, low=0))

    teleporter = compile_teleporter(pair)
    payload = rng.integers(0, 2, n, dtype=np.uint8)
    teleporter.teleport(payload[: min(n, 4096)], rng=rng)  # compile and cache, untimed
    stim_s, stim_res = _best_of(reps, lambda: teleporter.teleport(payload, rng=rng))
    ratios, direct_s = [], float("inf")
    for _ in range(reps):  # interleaved: stim, direct, stim, direct, ...
        one_stim, _ = _best_of(1, lambda: teleporter.teleport(payload, rng=rng))
        one_direct, direct_res = _best_of(
            1, lambda: teleport_direct(pair, payload, noise_rng=rng, secret_rng=rng)
        )
        ratios.append(one_stim / one_direct)
        direct_s = min(direct_s, one_direct)

    dyn_bits = payload[:k_dyn] if k_dyn <= n else rng.integers(0, 2, k_dyn, dtype=np.uint8)
    dyn_s, dyn_res = _best_of(
        reps, lambda: aer_teleport(dyn_bits, pair, rng=rng, dynamic=True, threads=threads)
    )
    fast_bits = rng.integers(0, 2, k_fast * k_lanes, dtype=np.uint8)
    fast_s, fast_received = _best_of(
        reps, lambda: _aer_fastest(fast_bits, pair, lanes=k_lanes, threads=threads, rng=rng)
    )

    counts_s, _ = _best_of(
        reps,
        lambda: _aer_counts_only(k_fast, pair, lanes=k_lanes, threads=threads, rng=rng),
    )

    stim_rate = n / stim_s
    dyn_rate = dyn_bits.size / dyn_s
    fast_rate = fast_bits.size / fast_s
    return {
        "bits": n,
        "fidelity": pair.fidelity,
        "aer_shots": k_dyn,
        "aer_fast_shots": k_fast,
        "aer_fast_lanes": k_lanes,
        "threads": threads,
        "repeats": reps,
        "stim_rate_qubits_per_s": stim_rate,
        "aer_dynamic_rate_qubits_per_s": dyn_rate,
        "aer_fastest_rate_qubits_per_s": fast_rate,
        "ratio": stim_rate / dyn_rate,
        "ratio_vs_fastest_aer": stim_rate / fast_rate,
        "aer_counts_only_rate_qubits_per_s": k_fast * k_lanes / counts_s,
        "stim_seconds": stim_s,
        "direct_rate_qubits_per_s": n / direct_s,
        "direct_vs_stim_min": float(np.min(ratios)),
        "direct_vs_stim_median": float(np.median(ratios)),
        "direct_bit_error_rate": _ber(payload, direct_res.received),
        "expected_bit_error_rate": pair.teleported_bit_error,
        "stim_bit_error_rate": _ber(payload, stim_res.received),
        "aer_dynamic_bit_error_rate": _ber(dyn_bits, dyn_res.received),
        "aer_fastest_bit_error_rate": _ber(fast_bits, fast_received),
        "stim_version": stim.__version__,
        "qiskit_aer_version": qiskit_aer.__version__,
    }


def _best_of(repeats: int, run: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def _ber(sent: npt.NDArray[np.uint8], received: npt.NDArray[np.uint8]) -> float:
    return float(np.count_nonzero(sent != received) / sent.size)


def _deferred_circuit(pair: WernerPair, lanes: int) -> Any:
    """``lanes`` teleports with corrections deferred to CX/CZ and every measurement at the end."""
    from qiskit import QuantumCircuit

    from qtfl.quantum.reference import pair_error

    k = lanes
    c = QuantumCircuit(3 * k, 3 * k)
    err = pair_error(pair).to_instruction()
    for i in range(k):
        q0, q1, q2 = 3 * i, 3 * i + 1, 3 * i + 2
        c.h(q1)
        c.cx(q1, q2)
        c.append(err, [q1, q2])
        c.cx(q0, q1)
        c.h(q0)
        c.cx(q1, q2)
        c.cz(q0, q2)
    c.measure(range(3 * k), range(3 * k))
    return c


def _aer_fastest(
    bits: npt.NDArray[np.uint8],
    pair: WernerPair,
    *,
    lanes: int,
    threads: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.uint8]:
    """The deferred circuit, bulk-sampled with per-shot memory; the received bits.

    The Bell bits are parsed along with the received bits (same work as the other paths)
    and the payload is XORed into ``m1`` and the received bit afterwards.
    """
    from qiskit_aer import AerSimulator

    shots = bits.size // lanes
    sim = AerSimulator(method="density_matrix", max_parallel_threads=threads)
    job = sim.run(
        _deferred_circuit(pair, lanes),
        shots=shots,
        memory=True,
        seed_simulator=int(rng.integers(2**31)),
    )
    strings = job.result().get_memory()
    chars = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
    rec = (chars.reshape(shots, 3 * lanes)[:, ::-1] - ord("0")).reshape(-1, 3)  # m0, m1, out
    rec[:, 1] ^= bits
    received: npt.NDArray[np.uint8] = rec[:, 2] ^ bits
    return received


def _aer_counts_only(
    shots: int, pair: WernerPair, *, lanes: int, threads: int, rng: np.random.Generator
) -> dict[str, int]:
    """The deferred circuit returning only outcome counts (no per-qubit results)."""
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="density_matrix", max_parallel_threads=threads)
    job = sim.run(
        _deferred_circuit(pair, lanes), shots=shots, seed_simulator=int(rng.integers(2**31))
    )
    counts: dict[str, int] = job.result().get_counts()
    return counts
