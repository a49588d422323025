r"""Teleporting arbitrary (angle / amplitude encoded) payloads: the exact Pauli-channel route.

Teleporting one qubit through a Bell-diagonal pair, with the Bell-measurement results
averaged over (the receiver corrects and discards them), is exactly the Pauli channel

.. math:: \rho \mapsto \sum_{\sigma\in\{I,X,Y,Z\}} p_\sigma\, \sigma\rho\sigma^\dagger,
          \qquad (p_I, p_X, p_Y, p_Z) = (A, C, B, D)

(see :mod:`qtfl.quantum.noise`). An n-qubit payload whose qubit i travels through its own
pair i therefore undergoes the product of n independent single-qubit Pauli channels — the
payload may be entangled across qubits; the channels are still independent. Applying that
product to a density matrix is exact and, for n up to ~12, fast: per qubit k, in the
computational basis,

.. math:: \rho'_{ij} = (p_I + s\,p_Z)\,\rho_{ij} + (p_X + s\,p_Y)\,\rho_{\bar i\bar j},
          \qquad s = (-1)^{i_k \oplus j_k},

where :math:`\bar i` flips bit k of row index i. Each qubit is one vectorised pass over all
:math:`4^n` entries (reshape, then in-place updates of one copy), O(n·4^n) in total, on
numpy or torch arrays.

Conventions: qubit 0 is the most significant bit of a basis index (``|q0 q1 ... >``, as in
:mod:`qtfl.quantum.noise`; Qiskit orders the other way). The circuit-level check of this
equivalence is in the tests (Qiskit Aer density matrices of the full teleport circuits).

References: Bennett et al., PRL 70, 1895 (1993); Bowen & Bose, PRL 87, 267901 (2001)
(teleportation through mixed resources is a Pauli channel); Nielsen & Chuang §8.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError
from qtfl.quantum.noise import BellDiagonalPair

#: Largest register :func:`apply_pauli_channels` accepts (a 4^12 complex128 matrix is 268 MB).
MAX_QUBITS: Final = 12

Array = TypeVar("Array", bound=Any)  # numpy.ndarray or torch.Tensor


def pauli_table(
    pairs: BellDiagonalPair | Sequence[BellDiagonalPair], n_qubits: int
) -> npt.NDArray[np.float64]:
    """``(n_qubits, 4)`` Pauli probabilities ``(p_I, p_X, p_Y, p_Z)``, one row per pair.

    One pair is reused for every qubit; a sequence must hold exactly ``n_qubits`` pairs.
    """
    if isinstance(pairs, BellDiagonalPair):
        return np.tile(pairs.pauli_probabilities, (n_qubits, 1))
    seq = list(pairs)
    if len(seq) != n_qubits:
        raise InputError(f"need one pair per payload qubit: {n_qubits} pairs, got {len(seq)}")
    for p in seq:
        if not isinstance(p, BellDiagonalPair):
            raise InputError(f"pairs must be BellDiagonalPair objects, got {type(p).__name__}")
    return np.stack([p.pauli_probabilities for p in seq])


def apply_pauli_channels(rho: Array, probs: npt.ArrayLike) -> Array:
    """Apply independent single-qubit Pauli channels to an n-qubit density matrix.

    Args:
        rho: ``(..., 2**n, 2**n)`` density matrix (numpy array or torch tensor, complex);
            leading dimensions are a batch.
        probs: ``(n, 4)`` probabilities ``(p_I, p_X, p_Y, p_Z)`` for qubits ``0..n-1``
            (qubit 0 = most significant index bit); rows non-negative, summing to 1.

    Returns:
        The output density matrix, same shape and library (and dtype) as ``rho``.
    """
    p = np.asarray(probs, dtype=np.float64)
    dim = int(rho.shape[-1])
    n = dim.bit_length() - 1
    if rho.ndim < 2 or rho.shape[-2] != dim or dim != 1 << n or n < 1:
        raise InputError(f"rho must be (..., 2**n, 2**n) with n >= 1, got shape {tuple(rho.shape)}")
    if n > MAX_QUBITS:
        raise InputError(f"rho has {n} qubits; at most {MAX_QUBITS} are supported")
    if p.shape != (n, 4):
        raise InputError(f"probs must have shape ({n}, 4) for a {n}-qubit rho, got {p.shape}")
    if (p < -1e-12).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-9):
        raise InputError("each row of probs must be >= 0 and sum to 1")
    batch = tuple(rho.shape[:-2])
    # One copy, then in-place updates of its four (row bit, column bit) blocks per qubit.
    out: Any = (
        rho.reshape((-1, dim, dim)).clone()
        if _is_torch(rho)
        else np.array(rho).reshape((-1, dim, dim))
    )
    for k in range(n):  # one vectorised pass over all 4**n entries per qubit
        left, right = 1 << k, 1 << (n - k - 1)
        x = out.reshape((-1, left, 2, right, left, 2, right))
        x00, x01 = x[:, :, 0, :, :, 0, :], x[:, :, 0, :, :, 1, :]
        x10, x11 = x[:, :, 1, :, :, 0, :], x[:, :, 1, :, :, 1, :]
        i_, x_, y_, z_ = (float(v) for v in p[k])
        _mix(x00, x11, i_ + z_, x_ + y_)  # diagonal blocks: I, Z keep; X, Y swap
        _mix(x01, x10, i_ - z_, x_ - y_)  # off-diagonal: Z and Y change sign
    return out.reshape((*batch, dim, dim))


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def _mix(u: Any, v: Any, keep: float, swap: float) -> None:
    """In place: ``(u, v) <- (keep*u + swap*v, keep*v + swap*u)`` (numpy or torch views)."""
    t = u * swap
    u *= keep
    u += swap * v
    v *= keep
    v += t


def teleport_state(state: Array, pairs: BellDiagonalPair | Sequence[BellDiagonalPair]) -> Array:
    """Density matrix the server holds after teleporting ``state`` qubit by qubit.

    Args:
        state: a ``(2**n,)`` state vector or ``(2**n, 2**n)`` density matrix (numpy or
            torch), qubit 0 = most significant bit.
        pairs: one pair used for every qubit, or n pairs (qubit i through ``pairs[i]``).

    Returns:
        ``(2**n, 2**n)`` density matrix, in the library of ``state``.
    """
    if state.ndim == 1:
        if _is_torch(state):
            rho = state[:, None] * state.conj()[None, :]
        else:
            v = np.asarray(state, dtype=np.complex128)
            rho = np.outer(v, v.conj())
    elif state.ndim == 2:
        rho = state
    else:
        raise InputError(f"state must be a vector or a square matrix, got shape {state.shape}")
    n = int(rho.shape[-1]).bit_length() - 1
    return apply_pauli_channels(rho, pauli_table(pairs, n))
