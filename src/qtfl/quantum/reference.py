r"""The teleportation protocol on Qiskit Aer: the reference the stim fast path is checked against.

Two circuits run the same protocol on qubits ``q0`` (payload), ``q1`` (client half), ``q2``
(server half), as in :mod:`qtfl.quantum.teleport`:

* ``dynamic=True`` — the protocol as a device runs it: mid-circuit Bell measurement into the
  classical register ``bell = (m0, m1)``, corrections ``X`` / ``Z`` on ``q2`` inside
  ``with circuit.if_test(...)`` blocks, then ``q2`` measured into ``out``;
* ``dynamic=False`` — the fastest equivalent: corrections deferred to quantum ``CX(q1, q2)``
  and ``CZ(q0, q2)``, every measurement at the end (same outcome distribution by the
  deferred-measurement principle), simulated as a density matrix once and sampled in bulk.

Pair noise is inserted right after the pair is made (at a barrier labelled ``"pair"``, so it
survives transpilation): a Werner pair as ``depolarizing_error(16p/15, 2)`` on both halves
with ``p = 5(1-F)/4`` — the channel stim calls ``DEPOLARIZE2(p)`` — and any other
Bell-diagonal pair as ``pauli_error`` ``(p_I, p_X, p_Y, p_Z)`` on the client half.

A device adds the noise model of a fake IBM backend from ``qiskit_ibm_runtime.fake_provider``
(offline calibration snapshots): the circuit is transpiled to its basis gates on a chosen
line of physical qubits and run on Aer with ``NoiseModel.from_backend`` (gate errors with
thermal relaxation, readout errors) on top of the pair noise.

Payload bits: the circuit really prepares ``X|0>`` on ``q0`` for a 1; the pairs with payload
0 and with payload 1 are two runs of ``shots`` each, their per-shot results put back in place.

References: Bennett et al., PRL 70, 1895 (1993); Nielsen & Chuang §4.4 (deferred
measurement); Qiskit Aer documentation (``AerSimulator``, ``NoiseModel.from_backend``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int
from qtfl.extras import require_extra
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.teleport import TeleportResult, as_payload_bits

require_extra("qiskit", purpose="the Qiskit reference simulation")

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

#: Fake devices offered, with the physical qubits (payload, client, server): a coupled line.
DEVICES: Final = {"fake_manila": ("FakeManilaV2", (0, 1, 2))}


def pair_error(pair: BellDiagonalPair) -> Any:
    """The Aer ``QuantumError`` that turns a perfect ``|Φ+>`` on (client, server) into ``pair``.

    Werner: ``depolarizing_error(16p/15, 2)`` with ``p = 5(1-F)/4`` on both halves (= stim
    ``DEPOLARIZE2(p)``); otherwise ``pauli_error`` with ``(p_I, p_X, p_Y, p_Z)`` on the
    client half, returned as a 2-qubit error (identity on the server half).
    """
    from qiskit_aer.noise import depolarizing_error, pauli_error

    pi, px, py, pz = pair.pauli_probabilities
    if isinstance(pair, WernerPair) or px == py == pz:
        return depolarizing_error(16.0 / 15.0 * 1.25 * (1.0 - pair.fidelity), 2)
    # Qiskit labels are little-endian: "IX" acts X on the first qubit (the client half).
    terms = [
        (lab, float(p)) for lab, p in zip(("II", "IX", "IY", "IZ"), (pi, px, py, pz), strict=True)
    ]
    return pauli_error([t for t in terms if t[1] > 0.0])


def teleport_circuit(*, payload: int, dynamic: bool = True) -> QuantumCircuit:
    """The noise-free protocol for one payload bit, with a ``"pair"`` barrier for the noise.

    Registers: qubits ``q = (q0, q1, q2)``; classical ``bell = (m0, m1)`` and ``out``.
    """
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    b = require_choice("payload", payload, (0, 1))
    q, bell, out = (
        QuantumRegister(3, "q"),
        ClassicalRegister(2, "bell"),
        ClassicalRegister(1, "out"),
    )
    c = QuantumCircuit(q, bell, out)
    if b:
        c.x(q[0])
    c.h(q[1])
    c.cx(q[1], q[2])
    c.barrier(q[1], q[2], label="pair")
    c.cx(q[0], q[1])
    c.h(q[0])
    if dynamic:
        c.measure(q[0], bell[0])
        c.measure(q[1], bell[1])
        with c.if_test((bell[1], 1)):
            c.x(q[2])
        with c.if_test((bell[0], 1)):
            c.z(q[2])
    else:
        c.cx(q[1], q[2])
        c.cz(q[0], q[2])
        c.measure(q[0], bell[0])
        c.measure(q[1], bell[1])
    c.measure(q[2], out[0])
    return c


def noisy_teleport_circuit(
    pair: BellDiagonalPair, *, payload: int, dynamic: bool = True, device: str | None = None
) -> QuantumCircuit:
    """:func:`teleport_circuit` with the pair noise inserted (transpiled for ``device``)."""
    c = teleport_circuit(payload=payload, dynamic=dynamic)
    if device is not None:
        from qiskit import transpile

        backend, layout = fake_backend(device)
        c = transpile(
            c, backend, initial_layout=list(layout), optimization_level=0, seed_transpiler=0
        )
    return _insert_at_barrier(c, "pair", pair_error(pair))


def _insert_at_barrier(circuit: QuantumCircuit, label: str, error: Any) -> QuantumCircuit:
    out = circuit.copy_empty_like()
    found = False
    for inst in circuit.data:
        if inst.operation.name == "barrier" and inst.operation.label == label:
            out.append(error.to_instruction(), inst.qubits)
            found = True
        else:
            out.append(inst)
    if not found:
        raise RuntimeError(f"no barrier labelled {label!r} in the circuit")
    return out


@functools.lru_cache(maxsize=4)
def fake_backend(device: str) -> tuple[Any, tuple[int, int, int]]:
    """The fake backend named ``device`` (cached) and its (payload, client, server) qubits."""
    require_choice("device", device, DEVICES)
    from qiskit_ibm_runtime import fake_provider

    cls_name, layout = DEVICES[device]
    return getattr(fake_provider, cls_name)(), layout


@functools.lru_cache(maxsize=4)
def _simulator(device: str | None, method: str, threads: int) -> Any:
    from qiskit_aer import AerSimulator

    if device is None:
        return AerSimulator(method=method, max_parallel_threads=threads)
    from qiskit_aer.noise import NoiseModel

    backend, _ = fake_backend(device)
    return AerSimulator(
        method=method, noise_model=NoiseModel.from_backend(backend), max_parallel_threads=threads
    )


def aer_teleport(
    bits: npt.ArrayLike,
    pair: BellDiagonalPair,
    *,
    rng: np.random.Generator,
    dynamic: bool = True,
    device: str | None = None,
    threads: int = 1,
) -> TeleportResult:
    """Teleport payload bits on Qiskit Aer; same result layout as the stim path.

    Args:
        bits: ``(N,)`` payload bits 0/1; one shot per bit.
        pair: the Bell pair state every shot consumes.
        rng: seeds the simulator (``seed_simulator``), one seed per run.
        dynamic: classically controlled corrections (True) or the deferred bulk-sampled
            circuit (False, simulated with Aer's ``density_matrix`` method).
        device: a key of :data:`DEVICES` to add its noise model, or None.
        threads: Aer's ``max_parallel_threads`` (1 = like-for-like with single-threaded stim).
    """
    payload = as_payload_bits("bits", bits)
    if not isinstance(pair, BellDiagonalPair):
        raise InputError(f"pair must be a BellDiagonalPair, got {type(pair).__name__}")
    require_int("threads", threads, low=1)
    if device is not None:
        require_choice("device", device, DEVICES)
    sim = _simulator(device, "automatic" if dynamic else "density_matrix", threads)
    received = np.empty(payload.size, dtype=np.uint8)
    bell = np.empty((payload.size, 2), dtype=np.uint8)
    for b in (0, 1):  # two runs (payload 0, payload 1), not a loop over shots
        idx = np.flatnonzero(payload == b)
        if idx.size == 0:
            continue
        circuit = _cached_circuit(pair, b, dynamic, device)
        result = sim.run(
            circuit, shots=int(idx.size), memory=True, seed_simulator=int(rng.integers(2**31))
        ).result()
        rec = memory_bits(result.get_memory(circuit))
        received[idx], bell[idx] = rec[:, 0], rec[:, 1:]
    return TeleportResult(received=received, bell_bits=bell)


@functools.lru_cache(maxsize=64)
def _cached_circuit(
    pair: BellDiagonalPair, payload: int, dynamic: bool, device: str | None
) -> QuantumCircuit:
    return noisy_teleport_circuit(pair, payload=payload, dynamic=dynamic, device=device)


def memory_bits(memory: list[str]) -> npt.NDArray[np.uint8]:
    """Parse Aer memory strings ``"o m1m0"`` into rows ``(out, m0, m1)`` of 0/1 ``uint8``.

    Qiskit prints registers last-declared first, each with its bit 0 rightmost.
    """
    if not memory:
        return np.zeros((0, 3), dtype=np.uint8)
    width = len(memory[0])
    if width != 4:
        raise ValueError(f"unexpected memory format {memory[0]!r}")
    chars = np.frombuffer("".join(memory).encode("ascii"), dtype=np.uint8).reshape(-1, width)
    bits = chars - ord("0")
    return np.stack([bits[:, 0], bits[:, 3], bits[:, 2]], axis=1).astype(np.uint8)
