r"""Batched piecewise-constant evolution of QDataSet systems, V_O operators and expectations.

For one example with control waveforms ``f_a(t_m)`` and K noise realisations ``β_{k,b}(t_m)``
(M steps of ``dt = T/M``) the propagators are time-ordered products

.. math::
    U_c = \prod_{m=M}^{1} e^{-i H_0(t_m) dt}

and the noisy U_k (one per realisation k, in one of two modes below), all computed for all
examples, realisations and steps at once: one qubit with the closed-form
SU(2) exponential :math:`e^{-i\,\mathbf h\cdot\boldsymbol\sigma\,dt} = \cos θ -
i \sin θ\,\hat{\mathbf h}\cdot\boldsymbol\sigma` (θ = |h| dt) held as a real
quaternion ``(w, x, y, z)`` for ``w - i(xX + yY + zZ)``; two qubits with
a scaled Taylor series of cos and sin of the real symmetric 4x4 ``H dt``
(:func:`real_symmetric_expm`), or — without the XX coupling — exactly as ``U_A ⊗ U_B`` of two
one-qubit closed forms (:func:`local_parts`). The product over time is a pairwise tree
(``log2 M`` batched multiplications; later steps on the left).

Two discretisations of the noisy propagators (``mode``, :data:`EVOLUTION_MODES`):

``"faithful"`` (the default: the published generator's discretisation)
    The published generator (github.com/eperrier/QDataSet, ``simulation/simulator.py``,
    layers ``QuantumEvolution``, ``HI``, ``VoLayer``) steps an interaction picture: with
    :math:`S^0_m = e^{-i H_0(t_m) dt}`, :math:`S^1_m = e^{-i H_1(t_m) dt}` and the running
    control propagator :math:`U_0(t_m) = S^0_m \cdots S^0_1` (*including* step m), it forms
    :math:`H_I(t_m) = U_0(t_m)^\dagger H_1(t_m) U_0(t_m)`,
    :math:`U_I = \prod_{m=M}^{1} e^{-i H_I(t_m) dt}` and uses :math:`U_c U_I` as the noisy
    propagator. Since :math:`e^{-i U^\dagger H U dt} = U^\dagger e^{-i H dt} U` and
    :math:`U_0(t_m) U_0(t_{m-1})^\dagger = S^0_m`, the product telescopes exactly to

    .. math:: U_c U_I = S^1_M S^0_M\, S^1_{M-1} S^0_{M-1} \cdots S^1_1 S^0_1,

    a Lie–Trotter splitting, which is how it is computed here (the same tree product, one
    extra product per step; no running propagators stored). Its global error against the
    continuous dynamics is first order, O(dt) (leading term from :math:`[H_0, H_1]`).
``"exact"``
    :math:`U_k = \prod_{m} e^{-i (H_0(t_m) + H_1^{(k)}(t_m)) dt}`: exact for the
    piecewise-constant Hamiltonian; for smooth signals sampled at the step midpoints (as
    the generator's time grid does) this is the exponential midpoint rule, second order,
    O(dt²). On G_1q_XZ_N1 at M = 1024 the two modes' expectations differ by up to 7e-4
    (100 examples, K = 50; docs/guide/datasets.md).

Noiseless (N0) propagators are the same in both modes: :math:`U_c = \prod_m S^0_m`.

QDataSet quantities (Perrier, Youssry & Ferrie, Sci. Data 9:582, 2022; published generator
``VoLayer``/``QuantumMeasurement``): with :math:`\tilde U_k = U_k U_c^\dagger` (the
interaction-picture noise unitary :math:`U_c U_I U_c^\dagger`),

.. math::
    V_O = \big\langle O\,\tilde U_k^\dagger O \tilde U_k \big\rangle_k,\qquad
    E_ρ[O] = \big\langle \mathrm{tr}(O\,U_k ρ U_k^\dagger) \big\rangle_k
          = \mathrm{tr}(V_O\, U_c ρ U_c^\dagger\, O),

the last equality holding because O² = 1. Expectations are computed from their definition
(Heisenberg operators averaged over k) and V_O separately, so the identity above is a check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import numpy.typing as npt
import torch

PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}
STATE_LABELS_1Q = ("+x", "-x", "+y", "-y", "+z", "-z")
_KETS = {
    "+x": np.array([1, 1]) / np.sqrt(2),
    "-x": np.array([1, -1]) / np.sqrt(2),
    "+y": np.array([1, 1j]) / np.sqrt(2),
    "-y": np.array([1, -1j]) / np.sqrt(2),
    "+z": np.array([1, 0]),
    "-z": np.array([0, 1]),
}
OMEGA_1Q = 12.0
EVOLUTION_MODES: tuple[str, ...] = ("faithful", "exact")
"""Discretisations of the noisy propagators (module docstring)."""
OMEGA_2Q = (10.0, 12.0)


def pauli(label: str) -> npt.NDArray[np.complex128]:
    """Tensor product of single-qubit Paulis, leftmost factor = first (most significant) qubit."""
    out: npt.NDArray[np.complex128] = np.ones((1, 1), dtype=np.complex128)
    for c in label:
        out = np.asarray(np.kron(out, PAULI[c]), dtype=np.complex128)
    return out


@dataclass(frozen=True)
class QubitSystem:
    """Operators of a QDataSet system (Hamiltonian ``drift + Σ f_a C_a + Σ β_b N_b``).

    Attributes:
        qubits: 1 or 2.
        drift, controls, noises: ``(d, d)``, ``(A, d, d)``, ``(B, d, d)`` Hermitian matrices
            (including the factors 1/2 and Ω of the Hamiltonian).
        observables: ``(nO, d, d)``: X, Y, Z (1 qubit) or the 15 non-identity Paulis.
        states: ``(nS, d, d)`` initial density matrices: the 6 Pauli eigenstates
            (+x, -x, +y, -y, +z, -z) or their 36 products.
        observable_labels, state_labels: names in the same order.
    """

    qubits: int
    drift: npt.NDArray[np.complex128]
    controls: npt.NDArray[np.complex128]
    noises: npt.NDArray[np.complex128]
    observables: npt.NDArray[np.complex128]
    states: npt.NDArray[np.complex128]
    observable_labels: tuple[str, ...]
    state_labels: tuple[str, ...]

    @property
    def dim(self) -> int:
        """Hilbert-space dimension ``2**qubits``."""
        return 2**self.qubits


def build_system(
    qubits: int, controls: tuple[str, ...], noise_axes: tuple[str, ...]
) -> QubitSystem:
    """The system of a QDataSet spec: Ω/2 σz drift (1 qubit) or Ω1 ZI + Ω2 IZ (2 qubits)."""
    if qubits == 1:
        half = 0.5
        drift = half * OMEGA_1Q * pauli("Z")
        obs_labels: tuple[str, ...] = ("X", "Y", "Z")
        state_labels: tuple[str, ...] = STATE_LABELS_1Q
    else:
        half = 1.0  # the published two-qubit scripts carry no factor 1/2
        drift = OMEGA_2Q[0] * pauli("ZI") + OMEGA_2Q[1] * pauli("IZ")
        obs_labels = tuple("".join(p) for p in product("IXYZ", repeat=2))[1:]
        state_labels = tuple(f"{a},{b}" for a, b in product(STATE_LABELS_1Q, repeat=2))
    kets = [_ket(s) for s in state_labels]
    states = np.stack([np.outer(k, np.conj(k)) for k in kets]).astype(np.complex128)
    d = 2**qubits
    return QubitSystem(
        qubits=qubits,
        drift=drift,
        controls=_stack([half * pauli(c) for c in controls], d),
        noises=_stack([half * pauli(b) for b in noise_axes], d),
        observables=np.stack([pauli(o) for o in obs_labels]),
        states=states,
        observable_labels=obs_labels,
        state_labels=state_labels,
    )


def _stack(ops: list[npt.NDArray[np.complex128]], d: int) -> npt.NDArray[np.complex128]:
    return np.stack(ops) if ops else np.zeros((0, d, d), dtype=np.complex128)


def _ket(label: str) -> npt.NDArray[np.complex128]:
    out = np.ones(1, dtype=np.complex128)
    for part in label.split(","):
        out = np.kron(out, _KETS[part])
    return out


@dataclass(frozen=True)
class Evolution:
    """Results for a batch of examples.

    Attributes:
        expectations: ``(E, nS, nO)`` float64, averaged over realisations.
        vo: ``(E, nO, d, d)`` complex128, the V_O operators averaged over realisations.
        control_unitary: ``(E, d, d)`` complex128, U_c.
    """

    expectations: npt.NDArray[np.float64]
    vo: npt.NDArray[np.complex128]
    control_unitary: npt.NDArray[np.complex128]


def simulate(
    system: QubitSystem,
    controls: npt.NDArray[np.float64],
    noise: npt.NDArray[np.float64],
    *,
    dt: float,
    mode: str = "faithful",
    max_steps: int = 1 << 21,
) -> Evolution:
    """Evolve ``E`` examples: ``controls (E, M, A)``, ``noise (E, K, M, B)``.

    ``mode`` is one of :data:`EVOLUTION_MODES` (module docstring).

    Realisations are processed in chunks of at most ``max_steps`` step unitaries (memory
    bound); the results do not depend on the chunking beyond float rounding.
    """
    if mode not in EVOLUTION_MODES:
        raise ValueError(f"mode must be one of {EVOLUTION_MODES}, got {mode!r}")
    e, k, m = noise.shape[0], noise.shape[1], noise.shape[2]
    ctrl = torch.from_numpy(np.ascontiguousarray(controls, dtype=np.float64))
    uc = _evolve(system, ctrl[:, None], None, dt)[:, 0]  # (E, d, d)
    obs = torch.from_numpy(system.observables)
    d = system.dim
    heis = torch.zeros((e, len(obs), d, d), dtype=torch.complex128)
    vsum = torch.zeros_like(heis)
    chunk = max(1, max_steps // max(1, e * m))
    uc_dag = uc.conj().transpose(-1, -2)[:, None, None]  # (E, 1, 1, d, d)
    for r0 in range(0, k, chunk):
        beta = torch.from_numpy(np.ascontiguousarray(noise[:, r0 : r0 + chunk]))
        u = _evolve(system, ctrl[:, None], beta, dt, mode)[:, :, None]  # (E, r, 1, d, d)
        u_dag = u.conj().transpose(-1, -2)
        heis += (u_dag @ obs @ u).sum(dim=1)
        ut = u @ uc_dag
        vsum += (obs @ ut.conj().transpose(-1, -2) @ obs @ ut).sum(dim=1)
    heis /= k
    vsum /= k
    rho = torch.from_numpy(system.states)
    expect = torch.einsum("sij,eoji->eso", rho, heis).real
    return Evolution(
        expectations=expect.numpy(),
        vo=vsum.numpy(),
        control_unitary=uc.numpy(),
    )


def _evolve(
    system: QubitSystem,
    ctrl: torch.Tensor,
    beta: torch.Tensor | None,
    dt: float,
    mode: str = "exact",
) -> torch.Tensor:
    """Propagators ``(E, R, d, d)`` for controls ``(E, 1, M, A)`` and noise ``(E, R, M, B)``.

    ``mode="faithful"`` with noise: the step unitaries are ``S1_m S0_m`` (module docstring).
    """
    split = mode == "faithful" and beta is not None
    noise_only = _noise_only(system) if split else system
    if system.qubits == 1:
        if split:
            q0 = su2_steps(_coefficients(system, ctrl, None), dt)
            q1 = su2_steps(_coefficients(noise_only, ctrl[..., :0], beta), dt)
            q = quaternion_mul(q1, q0)
        else:
            q = su2_steps(_coefficients(system, ctrl, beta), dt)
        return quaternion_to_matrix(ordered_product(q, quaternion_mul))
    parts = local_parts(system)
    if parts is not None:  # no coupling term: U = U_A ⊗ U_B, each in closed form
        ua, ub = (_evolve(p, ctrl, beta, dt, mode) for p in parts)
        e, r = ua.shape[:2]
        return torch.einsum("erij,erkl->erikjl", ua, ub).reshape(e, r, 4, 4)
    if split:
        s0 = real_symmetric_expm(_hamiltonians(system, ctrl, None) * dt)
        s1 = real_symmetric_expm(_hamiltonians(noise_only, ctrl[..., :0], beta) * dt)
        steps = complex_mm_leading(s1, s0)
    else:
        steps = real_symmetric_expm(_hamiltonians(system, ctrl, beta) * dt)
    pair = ordered_product(steps, complex_mm_leading)  # (2, d, d, E, R)
    return torch.complex(pair[0], pair[1]).permute(2, 3, 0, 1)


def _noise_only(system: QubitSystem) -> QubitSystem:
    """The system with its drift and controls removed (``H = Σ β_b N_b``)."""
    d = system.dim
    return replace(
        system,
        drift=np.zeros((d, d), np.complex128),
        controls=np.zeros((0, d, d), np.complex128),
    )


def local_parts(system: QubitSystem) -> tuple[QubitSystem, QubitSystem] | None:
    """One-qubit systems A, B with every two-qubit term ``= a ⊗ 1 + 1 ⊗ b``, or ``None``.

    Without an XX control the two-qubit QDataSet Hamiltonians are sums of one-qubit terms, so
    the evolution factorises exactly into ``U_A ⊗ U_B`` (terms on different qubits commute).
    """
    if system.qubits != 2:
        return None
    ops = [system.drift, *system.controls, *system.noises]
    split = []
    for op in ops:
        t = op.reshape(2, 2, 2, 2)
        a = np.einsum("ijkj->ik", t) / 2  # partial traces (all terms here are traceless)
        b = np.einsum("ijil->jl", t) / 2
        if not np.allclose(np.kron(a, PAULI["I"]) + np.kron(PAULI["I"], b), op, atol=1e-12):
            return None
        split.append((a, b))
    n_c = len(system.controls)
    out = []
    for side in (0, 1):
        mats = [pair[side] for pair in split]
        out.append(
            QubitSystem(
                qubits=1,
                drift=mats[0],
                controls=_stack(mats[1 : 1 + n_c], 2),
                noises=_stack(mats[1 + n_c :], 2),
                observables=np.zeros((0, 2, 2), np.complex128),
                states=np.zeros((0, 2, 2), np.complex128),
                observable_labels=(),
                state_labels=(),
            )
        )
    return out[0], out[1]


def _coefficients(
    system: QubitSystem, ctrl: torch.Tensor, beta: torch.Tensor | None
) -> torch.Tensor:
    """Pauli vector ``h (3, E, R, M)`` with ``H = h·σ`` (one-qubit Hamiltonians are traceless).

    Built component by component, skipping terms that do not touch a component.
    """

    def vec(op: npt.NDArray[np.complex128]) -> list[float]:
        return [0.5 * float(np.trace(op @ PAULI[c]).real) for c in "XYZ"]

    r = 1 if beta is None else beta.shape[1]
    shape = (ctrl.shape[0], r, ctrl.shape[2])
    terms = [(ctrl[..., a], vec(op)) for a, op in enumerate(system.controls)]
    if beta is not None:
        terms += [(beta[..., b], vec(op)) for b, op in enumerate(system.noises)]
    base = vec(system.drift)
    h = torch.empty((3, *shape), dtype=torch.float64)
    for c in range(3):
        h[c] = base[c]
        for signal, v in terms:
            if v[c] != 0.0:
                h[c] += v[c] * signal
    return h


def _hamiltonians(
    system: QubitSystem, ctrl: torch.Tensor, beta: torch.Tensor | None
) -> torch.Tensor:
    """Real Hamiltonians ``(d, d, E, R, M)`` (two-qubit QDataSet terms are all real)."""
    ops = [system.drift, *system.controls, *system.noises]
    if any(np.abs(op.imag).max() > 0 for op in ops):
        raise ValueError("the two-qubit path expects real Hamiltonian terms")
    d = system.dim
    e, r = ctrl.shape[0], 1 if beta is None else beta.shape[1]
    m = ctrl.shape[2]
    h = torch.from_numpy(system.drift.real.copy()).reshape(d, d, 1, 1, 1).expand(d, d, e, r, m)
    h = h.clone()
    for a, op in enumerate(system.controls):
        h += torch.from_numpy(op.real.copy()).reshape(d, d, 1, 1, 1) * ctrl[..., a]
    if beta is not None:
        for b, op in enumerate(system.noises):
            h += torch.from_numpy(op.real.copy()).reshape(d, d, 1, 1, 1) * beta[..., b]
    return h


def mm_leading(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product over the two *leading* axes, batched over the trailing ones.

    ``(n, k, ...) x (k, p, ...) -> (n, p, ...)`` as a sum of ``k`` broadcast rank-1 terms:
    for 4x4 matrices this is ~5x faster than ``torch.matmul`` on ``(N, 4, 4)`` batches.
    """
    c = a[:, 0:1] * b[0:1, :]
    for j in range(1, a.shape[1]):
        c.addcmul_(a[:, j : j + 1], b[j : j + 1, :])
    return c


def complex_mm_leading(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`mm_leading` for complex matrices held as ``(2, n, k, ...)`` real/imaginary pairs."""
    re = mm_leading(a[0], b[0]) - mm_leading(a[1], b[1])
    im = mm_leading(a[0], b[1]) + mm_leading(a[1], b[0])
    return torch.stack([re, im])


TAYLOR_TERMS = 8
"""Terms of each of the cos/sin Taylor series after scaling to ``‖H dt‖_F <= 1/2``:
truncation error below ``(1/2)^{16}/16! < 1e-17`` per step."""


def real_symmetric_expm(x: torch.Tensor) -> torch.Tensor:
    r""":math:`e^{-iX} = \cos X - i \sin X` for real symmetric ``x (d, d, ...)``.

    Returns ``(2, d, d, ...)`` real/imaginary parts. Scaling and squaring: X is divided by
    ``2^s`` so that the largest Frobenius norm is at most 1/2, the even and odd Taylor
    series of cos and sin (degree 7 in ``Y = X^2``) are summed by the Paterson–Stockmeyer
    scheme — ``Y^2, Y^3, Y^4`` once, then ``p(Y) = (a_0 + a_1 Y + a_2 Y^2 + a_3 Y^3) +
    Y^4 (a_4 + ... + a_7 Y^3)``, 7 matrix products in all instead of 16 by Horner's rule —
    and the result squared ``s`` times.
    """
    norm = float(_norm_leading(x.reshape(-1, x[0, 0].numel())).max()) if x.numel() else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    x = x / (2.0**s)
    x2 = mm_leading(x, x)
    n = TAYLOR_TERMS
    y2 = mm_leading(x2, x2)
    powers = (x2, y2, mm_leading(y2, x2), mm_leading(y2, y2))
    c = _paterson_stockmeyer(powers, [(-1) ** j / math.factorial(2 * j) for j in range(n)])
    sn = _paterson_stockmeyer(powers, [(-1) ** j / math.factorial(2 * j + 1) for j in range(n)])
    u = torch.stack([c, -mm_leading(x, sn)])
    for _ in range(s):
        u = complex_mm_leading(u, u)
    return u


def _norm_leading(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the first axis of ``(n, N)`` (as ``n`` fused multiply-adds)."""
    acc = x[0].square()
    for row in x[1:]:
        acc.addcmul_(row, row)
    return acc.sqrt_()


def _paterson_stockmeyer(powers: tuple[torch.Tensor, ...], coef: list[float]) -> torch.Tensor:
    """``Σ_{j<8} coef[j] Y^j`` from ``powers = (Y, Y^2, Y^3, Y^4)`` with one matrix product."""

    def block(a: list[float]) -> torch.Tensor:
        out = powers[0] * a[1]
        out.add_(powers[1], alpha=a[2]).add_(powers[2], alpha=a[3])
        _add_diagonal(out, a[0])
        return out

    p = mm_leading(powers[3], block(coef[4:8]))
    return p.add_(block(coef[0:4]))


def _add_diagonal(m: torch.Tensor, value: float) -> None:
    for i in range(m.shape[0]):
        m[i, i] += value


def su2_steps(h: torch.Tensor, dt: float) -> torch.Tensor:
    """Quaternions ``(4, ...)`` of :math:`e^{-i\\,\\mathbf h\\cdot\\boldsymbol\\sigma\\,dt}`
    for Pauli vectors ``h (3, ...)``: ``(cos θ, sin θ ĥ)`` with θ = |h| dt."""
    theta = _norm_leading(h.reshape(3, -1)).reshape(h.shape[1:]).mul_(dt)
    q = torch.empty((4, *h.shape[1:]), dtype=h.dtype)
    torch.cos(theta, out=q[0])
    torch.mul(h, dt * torch.sinc(theta / torch.pi), out=q[1:])  # sin θ / θ, exact at θ = 0
    return q


def quaternion_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Products ``a b`` of SU(2) elements held as quaternions ``(4, ...)`` = ``w - i v·σ``.

    From (a0 - i a·σ)(b0 - i b·σ) = a0 b0 - a·b - i (a0 b + b0 a + a × b)·σ.
    """
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    out = torch.empty_like(a)
    torch.mul(a0, b0, out=out[0])
    out[0].addcmul_(a1, b1, value=-1).addcmul_(a2, b2, value=-1).addcmul_(a3, b3, value=-1)
    torch.mul(a0, b1, out=out[1])
    out[1].addcmul_(b0, a1).addcmul_(a2, b3).addcmul_(a3, b2, value=-1)
    torch.mul(a0, b2, out=out[2])
    out[2].addcmul_(b0, a2).addcmul_(a3, b1).addcmul_(a1, b3, value=-1)
    torch.mul(a0, b3, out=out[3])
    out[3].addcmul_(b0, a3).addcmul_(a1, b2).addcmul_(a2, b1, value=-1)
    return out


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """``(4, ...)`` quaternions to ``(..., 2, 2)`` complex128 matrices ``w - i(xX + yY + zZ)``."""
    w, x, y, z = (q[i].to(torch.complex128) for i in range(4))
    row0 = torch.stack([w - 1j * z, -y - 1j * x], dim=-1)
    row1 = torch.stack([y - 1j * x, w + 1j * z], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def ordered_product(
    steps: torch.Tensor, mul: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Time-ordered product ``S_{M-1} ... S_1 S_0`` over the *last* axis of ``steps``.

    A pairwise tree: each level multiplies neighbours (later on the left) in one batched
    ``mul`` call, carrying an odd last step to the next level: ``ceil(log2 M)`` calls.
    """
    x = steps
    while x.shape[-1] > 1:
        n = x.shape[-1]
        even = n - n % 2
        paired = mul(x[..., 1:even:2], x[..., 0:even:2])
        x = torch.cat([paired, x[..., even:]], dim=-1) if n % 2 else paired
    return x[..., 0]
