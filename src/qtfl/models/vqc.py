"""A variational quantum circuit (VQC) classifier/regressor as a batched torch statevector.

Circuit on ``n`` qubits, all starting in ``|0>``, for an input of ``F`` features (flattened,
zero-padded to ``B = ceil(F / n)`` blocks of ``n``):

.. code-block:: text

    for each block b:                       angle encoding (data re-uploading)
        Ry(x[b n + q]) on every qubit q
        repeat `layers` times:              hardware-efficient ansatz
            Ry(θ_{l,q}) then Rz(φ_{l,q}) on every qubit q
            CNOT(q, q+1) for q = 0..n-2, then CNOT(n-1, 0) when n > 2   (a ring)
    readout ⟨Z_q⟩ for every qubit  ->  a classical Linear(n, outputs) head

Gates follow Qiskit's definitions: :math:`R_y(θ) = e^{-iθY/2}`, :math:`R_z(φ) = e^{-iφZ/2}`.
The statevector has ``2**n`` amplitudes held as ``(batch, 2**n)`` complex tensors; qubit 0
is the most significant bit of the amplitude index (Qiskit's is the least; the tests map
between them). Every gate is one batched ``einsum`` over the batch, the CNOT ring one index
permutation, so autograd gives exact gradients (checked against finite differences) and the
module holds parameters only — no buffers — so the FL engine trains it with its ``loop``
and ``vmap`` backends like any other model. The only trainable quantum parameters are the
ansatz angles ``weights (B * layers, n, 2)``; the linear head is classical.

Encoding several blocks with trainable layers in between (re-uploading, Pérez-Salinas et
al., Quantum 4:226, 2020) lets ``F > n`` features reach ``n`` qubits; the ansatz is the
hardware-efficient one of Kandala et al. (Nature 549:242, 2017).
"""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_QUBITS = 12
"""Largest register :class:`VQC` accepts (``2**12`` amplitudes per example)."""


class VQC(nn.Module):
    """Angle-encoded, hardware-efficient variational circuit with a classical linear head.

    Args:
        num_features: input features per example (``prod(input_shape)``).
        num_outputs: outputs of the linear head (classes or regression targets).
        qubits: register size ``n``, 1..:data:`MAX_QUBITS`.
        layers: ansatz layers after each encoding block, >= 1.
    """

    def __init__(self, *, num_features: int, num_outputs: int, qubits: int, layers: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.qubits = qubits
        self.layers = layers
        self.blocks = math.ceil(num_features / qubits)
        self.weights = nn.Parameter(torch.rand(self.blocks * layers, qubits, 2) * (2 * math.pi))
        self.head = nn.Linear(qubits, num_outputs)
        n = qubits
        ring = [(q, q + 1) for q in range(n - 1)] + ([(n - 1, 0)] if n > 2 else [])
        index = torch.arange(2**n)
        perm = index.clone()
        for c, t in ring:  # state'[i] = state[cnot(i)]; composed in application order
            bc, bt = 1 << (n - 1 - c), 1 << (n - 1 - t)
            perm = perm[torch.where(index & bc != 0, index ^ bt, index)]
        self._ring = perm  # plain attributes, not buffers (vmap needs a buffer-free module)
        bits = (index[:, None] >> torch.arange(n - 1, -1, -1)[None, :]) & 1
        self._z_signs = (1 - 2 * bits).to(torch.float32)  # (2**n, n): <Z_q> = probs @ signs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, *input_shape)`` inputs to ``(batch, num_outputs)`` outputs."""
        return self.head(self.expect_z(x))

    def expect_z(self, x: torch.Tensor) -> torch.Tensor:
        """``⟨Z_q⟩`` of every qubit after the circuit, ``(batch, qubits)``."""
        probs = self.state(x).abs().square()
        return probs @ self._z_signs.to(probs.dtype)

    def state(self, x: torch.Tensor) -> torch.Tensor:
        """The final statevector ``(batch, 2**qubits)`` (qubit 0 most significant)."""
        n = self.qubits
        feats = x.reshape(x.shape[0], -1).to(self.weights.dtype)
        pad = self.blocks * n - feats.shape[1]
        if pad:
            feats = torch.cat([feats, feats.new_zeros(feats.shape[0], pad)], dim=1)
        cdtype = torch.complex128 if self.weights.dtype == torch.float64 else torch.complex64
        psi = torch.zeros(feats.shape[0], 2**n, dtype=cdtype)
        psi[:, 0] = 1.0
        w = self.weights
        for b in range(self.blocks):
            enc = _ry(feats[:, b * n : (b + 1) * n]).to(cdtype)  # (batch, n, 2, 2)
            for q in range(n):
                psi = _apply(psi, enc[:, q], q, n, batched=True)
            for layer in range(self.layers):
                theta = w[b * self.layers + layer]
                gates = (_rz(theta[:, 1]) @ _ry(theta[:, 0]).to(cdtype)).to(cdtype)  # (n, 2, 2)
                for q in range(n):
                    psi = _apply(psi, gates[q], q, n, batched=False)
                if n > 1:
                    psi = psi[:, self._ring]
        return psi


def _ry(theta: torch.Tensor) -> torch.Tensor:
    """``(..., 2, 2)`` real matrices ``[[cos θ/2, -sin θ/2], [sin θ/2, cos θ/2]]``."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _rz(phi: torch.Tensor) -> torch.Tensor:
    """``(..., 2, 2)`` complex matrices ``diag(e^{-iφ/2}, e^{iφ/2})``."""
    e = torch.polar(torch.ones_like(phi), -phi / 2)
    zero = torch.zeros_like(e)
    return torch.stack([torch.stack([e, zero], -1), torch.stack([zero, e.conj()], -1)], -2)


def _apply(psi: torch.Tensor, gate: torch.Tensor, q: int, n: int, *, batched: bool) -> torch.Tensor:
    """Apply a one-qubit gate (``(batch, 2, 2)`` or ``(2, 2)``) to qubit ``q`` of ``psi``."""
    view = psi.reshape(psi.shape[0], 2**q, 2, 2 ** (n - q - 1))
    out = torch.einsum("bij,bajc->baic" if batched else "ij,bajc->baic", gate, view)
    return out.reshape(psi.shape[0], 2**n)


def vqc(*, input_shape: tuple[int, ...], num_outputs: int, qubits: int | None, layers: int) -> VQC:
    """A :class:`VQC` for inputs of ``input_shape``; ``qubits`` defaults to min(features, 8)."""
    features = math.prod(input_shape)
    n = min(features, 8) if qubits is None else qubits
    return VQC(num_features=features, num_outputs=num_outputs, qubits=n, layers=layers)
