"""QDataSet generator: physics against closed forms and an ODE solver, outputs, files, errors.

Closed forms: the Rabi formula for a constant σx drive with detuning Ω, the noiseless
V_O = 1 and the V_O identity E_ρ[O] = tr(V_O U_c ρ U_c† O) of Perrier et al. (Sci. Data
9:582, 2022). Piecewise-constant evolution is compared with ``scipy.integrate.solve_ivp`` on
the continuous pulse: the midpoint rule is second order, so halving the step must divide the
error by 4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from qtfl.data._qdataset_evolution import (
    _evolve,
    _hamiltonians,
    build_system,
    complex_mm_leading,
    local_parts,
    ordered_product,
    pauli,
    quaternion_to_matrix,
    real_symmetric_expm,
    simulate,
    su2_steps,
)
from qtfl.data._qdataset_pulses import pulse_waveform, time_grid
from qtfl.data.qdataset import generate_qdataset, load_qdataset_file, parse_name
from qtfl.errors import InputError


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _ode_final_state(name: str, time_steps: int) -> tuple[float, int]:
    """|U_c ψ0 - ψ(T)| for one noiseless example of ``name`` (ψ0 = |0...0>)."""
    q = generate_qdataset(name, examples=1, realisations=1, seed=5, time_steps=time_steps)
    spec = q.spec
    system = build_system(spec.qubits, spec.controls, spec.noise_axes)
    params = q.pulse_parameters[0]

    def rhs(t: float, psi: np.ndarray) -> np.ndarray:
        f = pulse_waveform(spec.pulse_shape, params, np.array([t]))[:, 0]
        return -1j * ((system.drift + np.tensordot(f, system.controls, axes=1)) @ psi)

    psi0 = np.zeros(system.dim, complex)
    psi0[0] = 1.0
    sol = solve_ivp(rhs, (0.0, 1.0), psi0, method="DOP853", rtol=1e-10, atol=1e-12)
    return float(np.linalg.norm(q.control_unitary[0] @ psi0 - sol.y[:, -1])), system.dim


@pytest.mark.parametrize("name", ["G_1q_XY", "G_2q_IX-XI-XX", "G_2q_IX-XI"])
def test_noiseless_evolution_matches_schrodinger_integration(name: str) -> None:
    # Prepare/Execute: the same pulse at M = 512 and 1024 steps vs an adaptive ODE solver
    err_512, _ = _ode_final_state(name, 512)
    err_1024, _ = _ode_final_state(name, 1024)
    # Assert: small, and second-order in the step (ratio 4 when the step halves)
    assert err_1024 < 1e-3
    assert 3.6 < err_512 / err_1024 < 4.4


@pytest.mark.parametrize("drive", [3.0, 12.0, 40.0])
def test_constant_sigma_x_drive_is_rabi_oscillation(drive: float) -> None:
    # H = Ω/2 σz + f/2 σx from |0>: the Bloch vector turns by W t about n = (f, 0, Ω)/W
    system = build_system(1, ("X",), ())
    omega = 12.0
    w = np.hypot(drive, omega)
    m = 256
    times = np.array([0.05, 0.3, 0.77, 1.0])
    results = []
    for t in times:
        ev = simulate(system, np.full((1, m, 1), drive), np.zeros((1, 1, m, 0)), dt=t / m)
        results.append(ev.expectations[0, 4])  # state +z; observables X, Y, Z
    got = np.array(results)
    nx, nz = drive / w, omega / w
    expected = np.stack(
        [
            nx * nz * (1 - np.cos(w * times)),
            -nx * np.sin(w * times),
            nz**2 + nx**2 * np.cos(w * times),
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, expected, atol=1e-12)
    p1 = (drive**2 / w**2) * np.sin(w * times / 2) ** 2  # the textbook Rabi formula
    np.testing.assert_allclose((1 - got[:, 2]) / 2, p1, atol=1e-12)


def test_n0_realisations_are_identical_and_vo_is_identity() -> None:
    one = generate_qdataset("G_1q_XZ_N0", examples=3, realisations=1, seed=2, keep_noise=True)
    many = generate_qdataset("G_1q_XZ_N0", examples=3, realisations=9, seed=2, keep_noise=True)
    assert many.noise is not None and not np.any(many.noise)
    np.testing.assert_allclose(many.expectations, one.expectations, atol=1e-13)
    np.testing.assert_allclose(many.vo, np.broadcast_to(np.eye(2), many.vo.shape), atol=1e-13)
    # without noise the expectations are those of the control unitary alone
    noiseless = generate_qdataset("G_1q_X", examples=3, realisations=1, seed=2)
    np.testing.assert_allclose(many.expectations, noiseless.expectations, atol=1e-13)


@pytest.mark.parametrize("name", ["G_1q_XZ_N1", "S_1q_XY_XZ_N3N6_D", "G_2q_IX-XI-XX_IZ-ZI_N1-N6"])
def test_expectations_bounded_and_consistent_with_vo(name: str) -> None:
    q = generate_qdataset(name, examples=2, realisations=12, seed=7)
    spec = parse_name(name)
    system = build_system(spec.qubits, spec.controls, spec.noise_axes)
    assert q.expectation_vector().shape == (2, 18 if spec.qubits == 1 else 540)
    assert np.all(np.abs(q.expectations) <= 1 + 1e-12)
    uc = q.control_unitary
    # E_rho[O] = tr(V_O U_c rho U_c^dagger O), the paper's definition of V_O
    via_vo = np.einsum(
        "eoij,ejk,skl,elm,omi->eso",
        q.vo,
        uc,
        system.states,
        uc.conj().transpose(0, 2, 1),
        system.observables,
    ).real
    np.testing.assert_allclose(q.expectations, via_vo, atol=1e-12)
    # V_O = O <W_O>, W_O unitary: O V_O is Hermitian with spectral norm <= 1
    ov = system.observables[None] @ q.vo
    np.testing.assert_allclose(ov, ov.conj().swapaxes(-1, -2), atol=1e-12)
    assert np.linalg.norm(q.vo, ord=2, axis=(-2, -1)).max() <= 1 + 1e-12
    # noise moves V_O away from the identity
    assert np.abs(q.vo - np.eye(system.dim)).max() > 1e-3


@pytest.mark.parametrize("scale", [0.01, 0.3, 5.0])
def test_step_exponentials_match_torch_matrix_exp(scale: float) -> None:
    # the closed-form SU(2) and the scaled Taylor series against a generic Pade expm
    g = torch.Generator().manual_seed(1)
    h = torch.randn(3, 50, dtype=torch.float64, generator=g) * scale
    paulis = torch.from_numpy(np.stack([pauli(c) for c in "XYZ"]))
    ham = torch.einsum("cn,cij->nij", h.to(torch.complex128), paulis)
    ref = torch.linalg.matrix_exp(-1j * 0.7 * ham)
    ours = quaternion_to_matrix(su2_steps(h, 0.7))
    torch.testing.assert_close(ours, ref, atol=1e-13, rtol=0)
    x = torch.randn(4, 4, 50, dtype=torch.float64, generator=g) * scale
    x = x + x.transpose(0, 1)
    u = real_symmetric_expm(x)
    ref4 = torch.linalg.matrix_exp(-1j * x.permute(2, 0, 1).to(torch.complex128))
    torch.testing.assert_close(torch.complex(u[0], u[1]).permute(2, 0, 1), ref4, atol=1e-12, rtol=0)


def test_uncoupled_two_qubit_sets_factorise_exactly() -> None:
    # without XX the closed-form U_A x U_B path must equal the general 4x4 path
    system = build_system(2, ("XI", "IX"), ("ZI", "IZ"))
    parts = local_parts(system)
    assert parts is not None and local_parts(build_system(2, ("XI", "IX", "XX"), ())) is None
    rng = np.random.default_rng(3)
    m = 128
    ctrl = torch.from_numpy(rng.uniform(-80, 80, (2, 1, m, 2)))
    beta = torch.from_numpy(rng.standard_normal((2, 3, m, 2)) * 3)
    fast = _evolve(system, ctrl, beta, 1 / m)
    steps = real_symmetric_expm(_hamiltonians(system, ctrl, beta) / m)
    pair = ordered_product(steps, complex_mm_leading)
    general = torch.complex(pair[0], pair[1]).permute(2, 3, 0, 1)
    torch.testing.assert_close(fast, general, atol=1e-12, rtol=0)


def test_chunked_realisations_give_the_same_result() -> None:
    # memory-bounded chunks of realisations must not change the averages
    spec = parse_name("G_2q_IX-XI_IZ-ZI_N1-N6")
    system = build_system(spec.qubits, spec.controls, spec.noise_axes)
    rng = np.random.default_rng(0)
    m, k = 64, 5
    controls = rng.uniform(-50, 50, (2, m, 2))
    noise = rng.standard_normal((2, k, m, 2))
    whole = simulate(system, controls, noise, dt=1 / m)
    parts = simulate(system, controls, noise, dt=1 / m, max_steps=2 * m)  # one realisation
    np.testing.assert_allclose(parts.expectations, whole.expectations, atol=1e-13)
    np.testing.assert_allclose(parts.vo, whole.vo, atol=1e-13)


def test_pulses_follow_the_published_recipe() -> None:
    g = generate_qdataset("G_1q_XY", examples=50, realisations=1, seed=3)
    amp, centre, width = np.moveaxis(g.pulse_parameters, -1, 0)
    assert g.pulse_parameters.shape == (50, 2, 5, 3)
    assert np.all(np.abs(amp) <= 100) and amp.min() < -50 < 50 < amp.max()
    np.testing.assert_allclose(width, 0.1 / 6)
    gaps = np.diff(centre, axis=-1)
    assert np.all(gaps >= 0.15 - 1e-12) and np.all(centre > 0.1 - 1e-12) and np.all(centre < 1)
    np.testing.assert_array_equal(g.distorted_pulses, g.pulses)
    t = time_grid(1024)
    np.testing.assert_allclose(
        g.pulses[4, :, 1], pulse_waveform("gaussian", g.pulse_parameters[4, 1], t)
    )
    s = generate_qdataset("S_1q_X_D", examples=4, realisations=1, seed=3)
    np.testing.assert_allclose(s.pulse_parameters[..., 2], 0.1)
    assert set(np.unique(np.round(np.abs(s.pulses[0, :, 0]), 9))) <= {
        0.0,
        *np.round(np.abs(s.pulse_parameters[0, 0, :, 0]), 9),
    }
    # the Chebyshev filter passes DC (gain 1, order 4 has 0.1 dB ripple at DC) and smooths
    assert not np.allclose(s.distorted_pulses, s.pulses)
    dc_gain = s.distorted_pulses.sum(axis=1) / s.pulses.sum(axis=1)
    np.testing.assert_allclose(dc_gain, 10 ** (-0.1 / 20), rtol=1e-9)


def test_reproducible_from_seed_and_independent_of_size(tmp_path) -> None:
    a = generate_qdataset("G_1q_XZ_N2", examples=5, realisations=4, seed=11, keep_noise=True)
    b = generate_qdataset("G_1q_XZ_N2", examples=5, realisations=4, seed=11, keep_noise=True)
    np.testing.assert_array_equal(a.expectations, b.expectations)
    prefix = generate_qdataset("G_1q_XZ_N2", examples=2, realisations=4, seed=11)
    np.testing.assert_allclose(prefix.expectations, a.expectations[:2], atol=1e-13)
    other = generate_qdataset("G_1q_XZ_N2", examples=5, realisations=4, seed=12)
    assert not np.allclose(other.expectations, a.expectations)
    path = a.save(tmp_path / "set.npz")
    back = load_qdataset_file(path)
    assert back.spec == a.spec and back.metadata() == a.metadata()
    np.testing.assert_array_equal(back.vo, a.vo)
    assert back.noise is not None and a.noise is not None
    np.testing.assert_array_equal(back.noise, a.noise)


@pytest.mark.parametrize(
    ("name", "canonical", "profiles"),
    [
        ("G_1q_X_Z_N1", "G_1q_XZ_N1", (1,)),
        ("G_1q_XZ_N4", "G_1q_XZ_N4", (4,)),
        ("S_1q_XY_XZ_N1N5_D", "S_1q_XY_XZ_N1N5_D", (1, 5)),
        ("G_2q_XX-XI-IX_IZ-ZI_N1-N6", "G_2q_IX-XI-XX_IZ-ZI_N1-N6", (1, 6)),
        ("S_2q_IX-XI-XX_IZ-ZI_N1-N6_D", "S_2q_IX-XI-XX_IZ-ZI_N1-N6_D", (1, 6)),
    ],
)
def test_names(name: str, canonical: str, profiles: tuple[int, ...]) -> None:
    spec = parse_name(name)
    assert spec.name == canonical and spec.profiles == profiles
    assert parse_name(canonical) == spec


def test_two_qubit_operators_follow_the_published_scripts() -> None:
    system = build_system(2, ("XI", "IX", "XX"), ("ZI", "IZ"))
    np.testing.assert_allclose(system.drift, 10 * pauli("ZI") + 12 * pauli("IZ"))
    np.testing.assert_allclose(system.controls[2], np.kron(pauli("X"), pauli("X")))
    assert len(system.observable_labels) == 15 and len(system.state_labels) == 36


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "G_1q_Q"}, "valid names"),
        ({"name": "G_3q_X"}, "valid names"),
        ({"name": "G_1q_XY_XZ_N6N1"}, "N6"),
        ({"name": "G_1q_XZ_N7"}, "N7 does not exist"),
        ({"name": "G_1q_XY_XZ_N1"}, "need 2 noise profiles"),
        ({"name": "G_2q_IX-XX_IZ-ZI_N1-N6"}, "valid names"),
        ({"name": "G_1q_XZ_N1", "examples": 0}, "examples"),
        ({"name": "G_1q_XZ_N1", "realisations": -3}, "realisations"),
        ({"name": "G_1q_XZ_N1", "time_steps": 101}, "even"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_qdataset(**kwargs)
