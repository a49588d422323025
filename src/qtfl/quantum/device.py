r"""The teleport protocol on a fake IBM device, translated to stim with Pauli-twirled noise.

:mod:`qtfl.quantum.reference` runs the transpiled protocol on Qiskit Aer with the device's
full noise model. This module runs *the same transpiled circuit* on stim, so the stim path
can be checked against Aer with device noise and used at stim speed:

* gates: ``rz(kπ/2)`` → ``I, S, Z, S_DAG``; ``sx`` → ``SQRT_X``; ``x``, ``cx``, ``id``,
  ``reset``, ``measure`` → their stim namesakes; the ``"pair"`` barrier → the pair's noise
  exactly as :mod:`qtfl.quantum.teleport` writes it; ``if_test`` blocks holding ``x`` / ``rz(π)``
  → stim feedback ``CX rec[..]`` / ``CZ rec[..]``;
* gate noise: each device ``QuantumError`` (depolarizing + thermal relaxation, from
  ``qiskit_aer.noise.device.basic_device_gate_errors``) is replaced by its Pauli twirl,
  :math:`p_\sigma = \chi_{\sigma\sigma}/2^n` (diagonal of the χ matrix in the Pauli basis),
  emitted as ``PAULI_CHANNEL_1`` / ``PAULI_CHANNEL_2`` after the gate;
* readout: ``M(p)`` with ``p = (P(1|0) + P(0|1))/2`` (the fake devices' readout errors are
  symmetric; an asymmetric one is averaged).

Approximations, both far below the resolution of the comparison tests: the twirl drops the
coherent/non-unital part of thermal relaxation (second order in the error rates), and the
noise of a gate inside an ``if_test`` block is applied with half its probability in every
shot (the Bell bits that trigger it are uniform), where Aer applies it fully when the branch
runs — the same average, up to the gate error (~3e-4 for ``x`` on FakeManilaV2).

References: Wallman & Emerson, PRA 94, 052325 (2016) (Pauli twirling); Qiskit Aer
``NoiseModel.from_backend``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import stim

from qtfl.errors import InputError
from qtfl.quantum import reference
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.teleport import TeleportResult, as_payload_bits, pair_noise

_RZ = ("I", "S", "Z", "S_DAG")
_PLAIN = {"x": "X", "sx": "SQRT_X", "cx": "CX", "id": "I", "reset": "R"}


def twirl(error: Any) -> npt.NDArray[np.float64]:
    """Pauli-twirled probabilities of a Qiskit channel, in Qiskit's little-endian order.

    For n qubits, index ``sum_j P_j 4**j`` with ``P_j`` in ``(I, X, Y, Z)`` on qubit j.
    """
    from qiskit.quantum_info import Chi

    chi = Chi(error)
    n = chi.num_qubits
    p = np.clip(np.real(np.diag(chi.data)) / 2**n, 0.0, None)
    return np.asarray(p / p.sum(), dtype=np.float64)


def _stim_pauli_args(p: npt.NDArray[np.float64], n: int) -> tuple[str, list[float]]:
    """stim's PAULI_CHANNEL_1 (X, Y, Z) or PAULI_CHANNEL_2 (IX ... ZZ, first target first)."""
    if n == 1:
        return "PAULI_CHANNEL_1", [float(x) for x in p[1:]]
    # stim order: first target's Pauli is the first letter, IX means X on the second target.
    # Qiskit index = a + 4*b with a on the first qubit, b on the second.
    args = [float(p[a + 4 * b]) for a in range(4) for b in range(4)][1:]
    return "PAULI_CHANNEL_2", args


@functools.lru_cache(maxsize=4)
def _device_noise(device: str) -> tuple[dict[tuple[str, tuple[int, ...]], Any], dict[int, float]]:
    from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors

    backend, _ = reference.fake_backend(device)
    gates = {
        (name, tuple(q)): twirl(err)
        for name, q, err in basic_device_gate_errors(target=backend.target)
    }
    readout: dict[int, float] = {}
    for qubits, err in basic_device_readout_errors(target=backend.target):
        m = np.asarray(err.probabilities)
        readout[int(qubits[0])] = float((m[0, 1] + m[1, 0]) / 2)
    return gates, readout


def device_stim_circuit(
    pair: BellDiagonalPair, *, payload: int, device: str
) -> tuple[stim.Circuit, tuple[int, int, int]]:
    """The transpiled dynamic protocol for ``device`` as a noisy stim circuit.

    Returns the circuit and the record indices of ``(m0, m1, received)``.
    """
    circuit, record = _device_circuit(pair, payload, device)
    return circuit.copy(), record


@functools.lru_cache(maxsize=64)
def _device_circuit(
    pair: BellDiagonalPair, payload: int, device: str
) -> tuple[stim.Circuit, tuple[int, int, int]]:
    """The stim circuit and the record indices of ``(m0, m1, received)``."""
    backend, _ = reference.fake_backend(device)
    from qiskit import transpile

    logical = reference.teleport_circuit(payload=payload, dynamic=True)
    _, layout = reference.DEVICES[device]
    qc = transpile(
        logical, backend, initial_layout=list(layout), optimization_level=0, seed_transpiler=0
    )
    out = stim.Circuit()
    where: dict[int, int] = {}  # clbit index -> measurement record index
    qmap = {q: qc.find_bit(q).index for q in qc.qubits}
    cmap = {c: qc.find_bit(c).index for c in qc.clbits}
    _emit(qc, qmap, cmap, out, where, pair, _device_noise(device))
    bell0, bell1 = (where[cmap[b]] for b in qc.cregs[0])
    received = where[cmap[qc.cregs[1][0]]]
    return out, (bell0, bell1, received)


def _emit(
    qc: Any,
    qmap: dict[Any, int],
    cmap: dict[Any, int],
    out: stim.Circuit,
    where: dict[int, int],
    pair: BellDiagonalPair,
    noise: tuple[dict[tuple[str, tuple[int, ...]], Any], dict[int, float]],
    *,
    scale: float = 1.0,
    condition: int | None = None,
) -> None:
    """Append ``qc`` to ``out``; ``qmap``/``cmap`` give device qubit and clbit indices."""
    gates, readout = noise
    for inst in qc.data:
        op, name = inst.operation, inst.operation.name
        qs = [qmap[q] for q in inst.qubits]
        if name == "barrier":
            if op.label == "pair":
                out += pair_noise(pair, [qs[0]], [qs[1]])
            continue
        if name == "delay":
            continue
        if name == "if_else":
            clbit, value = op.condition
            has_else = len(op.blocks) > 1 and op.blocks[1] is not None and op.blocks[1].data
            if value not in (1, True) or has_else:
                raise NotImplementedError("only `if bit == 1` without else is translated")
            body = op.blocks[0]
            _emit(
                body,
                dict(zip(body.qubits, qs, strict=True)),
                dict(zip(body.clbits, [cmap[c] for c in inst.clbits], strict=True)),
                out,
                where,
                pair,
                noise,
                scale=0.5,
                condition=where[cmap[clbit]],
            )
            continue
        if name == "measure":
            out.append("M", qs, readout.get(qs[0], 0.0))
            where[cmap[inst.clbits[0]]] = out.num_measurements - 1
            continue
        if name == "rz":
            k = float(op.params[0]) / (math.pi / 2)
            if abs(k - round(k)) > 1e-9:
                raise NotImplementedError(f"rz({op.params[0]}) is not Clifford")
            gate = _RZ[round(k) % 4]
        elif name in _PLAIN:
            gate = _PLAIN[name]
        else:
            raise NotImplementedError(f"cannot translate {name!r} to stim")
        if condition is None:
            out.append(gate, qs)
        elif gate in ("X", "Z"):
            out.append("C" + gate, [stim.target_rec(condition - out.num_measurements), qs[0]])
        elif gate != "I":
            raise NotImplementedError(f"classically controlled {gate} is not supported by stim")
        probs = gates.get((name, tuple(qs)))
        if probs is not None:
            mixed = scale * probs + (1 - scale) * _identity(len(qs))
            channel, args = _stim_pauli_args(mixed, len(qs))
            out.append(channel, qs, args)


def _identity(n: int) -> npt.NDArray[np.float64]:
    e = np.zeros(4**n)
    e[0] = 1.0
    return e


def device_teleport(
    bits: npt.ArrayLike, pair: BellDiagonalPair, *, device: str, rng: np.random.Generator
) -> TeleportResult:
    """Teleport payload bits through ``pair`` on the stim model of ``device``.

    The payload ``X`` is a real (noisy) device gate here, so payload 0 and 1 are two circuits.
    """
    payload = as_payload_bits("bits", bits)
    if not isinstance(pair, BellDiagonalPair):
        raise InputError(f"pair must be a BellDiagonalPair, got {type(pair).__name__}")
    received = np.empty(payload.size, dtype=np.uint8)
    bell = np.empty((payload.size, 2), dtype=np.uint8)
    for b in (0, 1):  # two circuits, each sampled in bulk
        idx = np.flatnonzero(payload == b)
        if idx.size == 0:
            continue
        circuit, record = _device_circuit(pair, b, device)
        sampler = circuit.compile_sampler(seed=int(rng.integers(2**63)))
        rec = sampler.sample(int(idx.size))[:, list(record)].astype(np.uint8)
        bell[idx], received[idx] = rec[:, :2], rec[:, 2]
    return TeleportResult(received=received, bell_bits=bell)
