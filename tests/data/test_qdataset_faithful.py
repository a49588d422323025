"""The ``faithful`` QDataSet evolution against the published generator's discretisation.

Reference written here from the published equations (Perrier, Youssry & Ferrie, Sci. Data
9:582, 2022, and the generator's ``QuantumEvolution``/``HI``/``VoLayer`` layers), step by
step with ``scipy.linalg.expm``: the running control propagator
``U0(t_m) = e^{-i H0(t_m) dt} U0(t_{m-1})``, the interaction-picture noise Hamiltonian
``H_I(t_m) = U0(t_m)^† H1(t_m) U0(t_m)``, ``U_I = Π_m e^{-i H_I(t_m) dt}``,
``Ũ = U_c U_I U_c^†``, ``V_O = <O Ũ^† O Ũ>_k`` and ``E = <tr(V_O U_c ρ U_c^† O)>_k``.
The library computes the same operator by the telescoped Lie–Trotter product, so the two
must agree to rounding; the test asks 1e-6 as the brief states.

Convergence: on a smooth pulse and a smooth noise realisation the faithful mode's error
against a converged reference falls as dt^1 (log-log slope -1 ± 0.15), the exact mode's as
dt^2 (slope -2 ± 0.2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from qtfl.data._qdataset_evolution import QubitSystem, build_system, simulate
from qtfl.data.qdataset import TOTAL_TIME, generate_qdataset
from qtfl.errors import InputError


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _reference(
    system: QubitSystem, controls: np.ndarray, noise: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expectations ``(nS, nO)`` and V_O ``(nO, d, d)`` of one example, the original's way."""
    d = system.dim
    m = controls.shape[0]
    h0 = system.drift + np.einsum("ma,aij->mij", controls, system.controls)
    u0 = np.empty((m, d, d), complex)
    u = np.eye(d, dtype=complex)
    for j in range(m):  # QuantumEvolution(return_sequences=True): U0 after each step
        u = expm(-1j * h0[j] * dt) @ u
        u0[j] = u
    uc = u0[-1]
    vo = np.zeros((len(system.observables), d, d), complex)
    for k in range(noise.shape[0]):
        h1 = np.einsum("mb,bij->mij", noise[k], system.noises)
        ui = np.eye(d, dtype=complex)
        for j in range(m):  # HI = U0^† H1 U0, then QuantumEvolution(return_sequences=False)
            hi = u0[j].conj().T @ h1[j] @ u0[j]
            ui = expm(-1j * hi * dt) @ ui
        ut = uc @ ui @ uc.conj().T  # VoLayer: UI_tilde = Uc UI Uc^†
        for o, obs in enumerate(system.observables):
            vo[o] += obs @ ut.conj().T @ obs @ ut
    vo /= noise.shape[0]
    final = uc @ system.states @ uc.conj().T  # QuantumMeasurement: tr(V_O Uc ρ Uc^† O)
    expect = np.einsum("oij,sjk,oki->so", vo, final, system.observables).real
    return expect, vo


@pytest.mark.parametrize(
    ("name", "time_steps", "realisations"),
    [
        ("G_1q_XZ_N0", 256, 2),  # noiseless
        ("G_1q_XY_XZ_N1N6", 256, 3),  # noisy, two noise axes (N6 correlated with N1)
        ("G_2q_IX-XI-XX_IZ-ZI_N1-N5", 64, 2),  # noisy, coupled two-qubit path
    ],
)
def test_faithful_mode_matches_the_original_discretisation(
    name: str, time_steps: int, realisations: int
) -> None:
    # Prepare: one generated example with its noise realisations kept
    q = generate_qdataset(
        name, examples=1, realisations=realisations, seed=11, time_steps=time_steps,
        keep_noise=True,
    )  # fmt: skip
    assert q.noise is not None and q.evolution == "faithful"
    system = build_system(q.spec.qubits, q.spec.controls, q.spec.noise_axes)
    # Execute: the published equations, step by step
    expect, vo = _reference(
        system, q.distorted_pulses[0], q.noise[0].astype(np.float64), TOTAL_TIME / time_steps
    )
    # Assert
    np.testing.assert_allclose(q.expectations[0], expect, atol=1e-6, rtol=0)
    np.testing.assert_allclose(q.vo[0], vo, atol=1e-6, rtol=0)
    if q.spec.noiseless:
        np.testing.assert_allclose(q.vo[0], np.broadcast_to(np.eye(system.dim), vo.shape))


def test_faithful_and_exact_modes_differ_on_noisy_sets_only() -> None:
    kw = {"examples": 2, "realisations": 4, "seed": 3, "time_steps": 256}
    noisy = [generate_qdataset("G_1q_XZ_N1", evolution=m, **kw) for m in ("faithful", "exact")]
    clean = [generate_qdataset("G_1q_XZ_N0", evolution=m, **kw) for m in ("faithful", "exact")]
    assert np.abs(noisy[0].expectations - noisy[1].expectations).max() > 1e-4
    np.testing.assert_allclose(clean[0].expectations, clean[1].expectations, atol=1e-12)
    np.testing.assert_array_equal(noisy[0].pulse_parameters, noisy[1].pulse_parameters)


def _smooth_example(m: int) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian X pulse and a smooth Z noise realisation sampled at the step midpoints."""
    t = (np.arange(m) + 0.5) / m
    controls = (30.0 * np.exp(-0.5 * ((t - 0.4) / 0.1) ** 2))[None, :, None]
    noise = 4.0 * np.sin(2 * np.pi * 3 * t) + 3.0 * np.cos(2 * np.pi * 5 * t + 0.3)
    return controls, noise[None, None, :, None]


@pytest.mark.parametrize(("mode", "order"), [("faithful", 1.0), ("exact", 2.0)])
def test_convergence_order(mode: str, order: float) -> None:
    # Prepare: a converged reference (exact mode, 2^16 steps) of the same continuous signals
    system = build_system(1, ("X",), ("Z",))
    ref_m = 1 << 16
    ref = simulate(system, *_smooth_example(ref_m), dt=1 / ref_m, mode="exact").expectations
    steps = np.array([256, 512, 1024, 2048, 4096])
    # Execute
    errors = [
        np.abs(simulate(system, *_smooth_example(m), dt=1 / m, mode=mode).expectations - ref).max()
        for m in steps
    ]
    # Assert: log-log slope of error against step count
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert slope == pytest.approx(-order, abs=0.15 if order == 1 else 0.2), (slope, errors)


def test_unknown_evolution_names_the_allowed_ones() -> None:
    with pytest.raises(InputError, match=r"faithful.*exact"):
        generate_qdataset("G_1q_XZ_N1", examples=1, realisations=1, evolution="rk4")
