"""Exact density-matrix teleportation on 3 qubits in numpy: the independent check.

Qubits ``|q0 q1 q2>`` (q0 most significant): q0 payload, q1 client half, q2 server half.
The client's Bell measurement is ``CX q0 q1; H q0`` then Z on both; outcome ``(m0, m1)``
triggers ``X^{m1}`` then ``Z^{m0}`` on q2. Averaging over outcomes gives the channel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

C = npt.NDArray[np.complex128]

I2 = np.eye(2, dtype=np.complex128)
X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2)
PAULIS = (I2, X, Y, Z)
P0 = np.diag([1.0, 0.0]).astype(np.complex128)
P1 = np.diag([0.0, 1.0]).astype(np.complex128)


def kron(*ops: C) -> C:
    out = np.eye(1, dtype=np.complex128)
    for op in ops:
        out = np.kron(out, op)
    return out


CX01 = kron(P0, I2, I2) + kron(P1, X, I2)


def teleport_dm(rho_in: C, pair: C) -> C:
    """Server's 1-qubit state after teleporting ``rho_in`` through the 4x4 ``pair``."""
    rho = np.kron(rho_in, pair)
    u = kron(H, I2, I2) @ CX01
    rho = u @ rho @ u.conj().T
    out = np.zeros((2, 2), dtype=np.complex128)
    for m0 in (0, 1):
        for m1 in (0, 1):
            proj = kron(P1 if m0 else P0, P1 if m1 else P0, I2)
            corr = kron(I2, I2, np.linalg.matrix_power(Z, m0) @ np.linalg.matrix_power(X, m1))
            branch = corr @ proj @ rho @ proj @ corr.conj().T
            out += branch.reshape(4, 2, 4, 2).trace(axis1=0, axis2=2)
    return out


def pauli_channel(rho: C, probs: npt.ArrayLike) -> C:
    """``sum_s p_s s rho s`` on one qubit."""
    p = np.asarray(probs, dtype=np.float64)
    return sum(
        (p[k] * s @ rho @ s.conj().T for k, s in enumerate(PAULIS)), np.zeros((2, 2), complex)
    )


def random_pure_state(rng: np.random.Generator, dim: int) -> npt.NDArray[np.complex128]:
    """Haar-random state vector."""
    v = rng.normal(size=dim) + 1j * rng.normal(size=dim)
    return v / np.linalg.norm(v)


def random_density(rng: np.random.Generator, dim: int) -> C:
    """A random full-rank density matrix (Ginibre)."""
    g = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    r = g @ g.conj().T
    return r / np.trace(r)


def joint_outcomes(rho_in: C, pair: C) -> npt.NDArray[np.float64]:
    """Exact ``P[m0, m1, received]`` of the protocol (received = Z result of corrected q2)."""
    rho = np.kron(rho_in, pair)
    u = kron(H, I2, I2) @ CX01
    rho = u @ rho @ u.conj().T
    out = np.zeros((2, 2, 2))
    for m0 in (0, 1):
        for m1 in (0, 1):
            for r in (0, 1):
                proj = kron(P1 if m0 else P0, P1 if m1 else P0, I2)
                corr = kron(I2, I2, np.linalg.matrix_power(Z, m0) @ np.linalg.matrix_power(X, m1))
                final = kron(I2, I2, P1 if r else P0)
                op = final @ corr @ proj
                out[m0, m1, r] = np.real(np.trace(op @ rho @ op.conj().T))
    return out
