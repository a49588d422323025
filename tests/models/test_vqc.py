"""VQC: outputs against Qiskit's Statevector on random circuits, gradients against finite
differences, and use by the FL engine (loop and vmap backends agree)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from qtfl.errors import InputError
from qtfl.models import build_model
from qtfl.models.vqc import VQC


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _qiskit_state(model: VQC, x: np.ndarray) -> np.ndarray:
    """The same circuit in Qiskit; returns amplitudes in the model's order (qubit 0 = MSB)."""
    n = model.qubits
    feats = np.zeros(model.blocks * n)
    feats[: x.size] = x.ravel()
    w = model.weights.detach().double().numpy()
    qc = QuantumCircuit(n)
    for b in range(model.blocks):
        for q in range(n):
            qc.ry(feats[b * n + q], q)
        for layer in range(model.layers):
            for q in range(n):
                qc.ry(w[b * model.layers + layer, q, 0], q)
                qc.rz(w[b * model.layers + layer, q, 1], q)
            if n > 1:
                for q in range(n - 1):
                    qc.cx(q, q + 1)
                if n > 2:
                    qc.cx(n - 1, 0)
    amps = Statevector(qc).data  # Qiskit: qubit 0 is the least significant bit
    return amps.reshape((2,) * n).transpose(*range(n - 1, -1, -1)).ravel() if n > 1 else amps


@pytest.mark.parametrize(
    ("features", "qubits", "layers"), [(1, 1, 1), (2, 2, 3), (7, 3, 2), (8, 4, 1), (5, 5, 2)]
)
def test_matches_qiskit_statevector_on_random_circuits(
    features: int, qubits: int, layers: int
) -> None:
    torch.manual_seed(features * 10 + qubits)
    model = VQC(num_features=features, num_outputs=3, qubits=qubits, layers=layers).double()
    x = torch.randn(4, features, dtype=torch.float64) * 2
    ours = model.state(x).detach().numpy()
    for i in range(4):
        ref = _qiskit_state(model, x[i].numpy())
        np.testing.assert_allclose(ours[i], ref, atol=1e-12)
    z = model.expect_z(x).detach().numpy()
    sv = Statevector(
        _qiskit_state(model, x[0].numpy())
        .reshape((2,) * qubits)
        .transpose(*range(qubits - 1, -1, -1))
        .ravel()
    )
    for q in range(qubits):
        p = sv.probabilities([q])
        assert z[0, q] == pytest.approx(p[0] - p[1], abs=1e-12)


def test_gradients_match_finite_differences() -> None:
    torch.manual_seed(1)
    model = VQC(num_features=5, num_outputs=2, qubits=3, layers=2).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())

    def f(*ps: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (x,))
        return (out**2).sum()

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_trains_in_the_engine_with_loop_and_vmap_alike() -> None:
    from qtfl.channel import PlainChannel
    from qtfl.fl.client import LocalTraining
    from qtfl.fl.engine import FederatedSimulation, SimulationSettings
    from qtfl.fl.strategies import make_strategy

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 1, 1, 4)).astype(np.float32)
    y = (x[:, 0, 0, 0] > 0).astype(np.int64)
    results = {}
    for backend in ("loop", "vmap"):
        model = build_model("vqc", input_shape=(1, 1, 4), num_classes=2, qubits=4, layers=1, seed=3)
        sim = FederatedSimulation(
            model=model,
            x_train=x,
            y_train=y,
            x_test=x,
            y_test=y,
            client_indices=[np.arange(0, 30), np.arange(30, 60)],
            strategy=make_strategy("fedavg"),
            uplink=PlainChannel(),
            downlink=PlainChannel(),
            training=LocalTraining(lr=0.1, batch_size=10),
            settings=SimulationSettings(rounds=3, backend=backend),
            seed=0,
        )
        for _ in range(3):
            sim.run_round()
        results[backend] = sim.global_params.copy()
        assert sim.history[-1].accuracy is not None
    np.testing.assert_allclose(results["loop"], results["vmap"], atol=1e-5)
    start = build_model("vqc", input_shape=(1, 1, 4), num_classes=2, qubits=4, layers=1, seed=3)
    assert not np.allclose(results["loop"][:8], start.weights.detach().numpy().ravel()[:8])


def test_registry_and_bad_input() -> None:
    model = build_model("vqc", input_shape=(1, 8, 8), num_classes=10, seed=0)
    assert isinstance(model, VQC) and model.qubits == 8 and model.blocks == 8
    assert list(model.buffers()) == []
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(InputError, match="qubits"):
        build_model("vqc", input_shape=(1, 8, 8), num_classes=10, qubits=13)
    with pytest.raises(InputError, match="layers"):
        build_model("vqc", input_shape=(4,), num_classes=2, layers=0)
