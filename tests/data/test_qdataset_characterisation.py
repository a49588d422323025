"""The QDataSet characterisation task learns — and what its R² does and does not show.

Set: ``G_1q_XZ_N1`` (one qubit, Gaussian pulses on X, 1/f-plus-bump noise on Z), 600
examples (480 train / 120 held out, the task's own split), K = 20 noise realisations,
M = 1024 steps, faithful evolution, seed 0. Target: the 18 noise-averaged expectations;
metric: variance-weighted R² on the held-out split (the FL engine's ``r2``).

Measured (1 torch thread; these are the asserted bounds' sources):

* grey-box inputs (pulse parameters + white-box noiseless expectations): central MLP
  R² ≈ 0.98, federated (4 IID clients, FedAvg, Adam) R² ≈ 0.98 — the >= 0.8 target holds;
* black-box inputs (pulse parameters alone, the published formulation without the white
  box): central MLP R² ≈ -0.05 — no model we tried learns it at this size;
* an affine map of the white-box expectations alone (least squares, no pulse information,
  i.e. a noise model of uniform shrinkage) reaches R² ≈ 0.99: the noise-specific, per-pulse
  part of the targets is NOT learned by the MLPs at this size; the high R² comes from the
  white box. Stated, not hidden: the assertions below pin both facts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from qtfl.channel import PlainChannel
from qtfl.data.dataset import Dataset
from qtfl.data.qdataset_tasks import QDataSetTask, load_qdataset_task
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, SimulationSettings
from qtfl.fl.strategies import make_strategy
from qtfl.models import build_model

SET = {"sets": ("G_1q_XZ_N1",), "task": "characterisation", "examples": 600,
       "realisations": 20, "time_steps": 1024, "seed": 0}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def greybox() -> Dataset:
    return load_qdataset_task(QDataSetTask(**SET))  # type: ignore[arg-type]


def _central_r2(ds: Dataset, *, epochs: int = 50) -> float:
    """Held-out R² of the project's MLP (hidden 64) trained centrally with Adam on MSE."""
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=ds.input_shape, num_classes=18, hidden=64, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 32):
            b = perm[i : i + 32]
            opt.zero_grad()
            torch.mean((model(x[b]) - y[b]) ** 2).backward()
            opt.step()
    with torch.no_grad():
        pred = model(torch.from_numpy(ds.x_test)).numpy()
    return float(r2_score(ds.y_test, pred, multioutput="variance_weighted"))


def test_central_model_learns_the_greybox_formulation(greybox: Dataset) -> None:
    assert greybox.x_train.shape == (480, 1, 1, 28) and greybox.x_test.shape == (120, 1, 1, 28)
    assert _central_r2(greybox) >= 0.8


def test_federated_model_learns_the_greybox_formulation(greybox: Dataset) -> None:
    # Prepare: 4 IID clients, FedAvg, local Adam, plain channels
    ds = greybox
    parts = np.array_split(np.random.default_rng(0).permutation(ds.num_train), 4)
    model = build_model("mlp", input_shape=ds.input_shape, num_classes=18, hidden=64, seed=0)
    sim = FederatedSimulation(
        model=model, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test,
        client_indices=tuple(parts), strategy=make_strategy("fedavg"),
        uplink=PlainChannel(), downlink=PlainChannel(),
        training=LocalTraining(lr=3e-3, batch_size=16, loss="mse", optimizer="adam",
                               local_epochs=2),
        settings=SimulationSettings(rounds=20), seed=0,
    )  # fmt: skip
    # Execute
    last = [sim.run_round() for _ in range(20)][-1]
    # Assert: the engine's r2 on the held-out split
    assert last.accuracy is not None and last.accuracy >= 0.8


def test_black_box_formulation_is_not_learned_and_the_white_box_explains_the_r2(
    greybox: Dataset,
) -> None:
    # the published inputs without the white box: pulse parameters alone
    pulses = load_qdataset_task(QDataSetTask(**SET, features="pulses"))  # type: ignore[arg-type]
    np.testing.assert_array_equal(pulses.y_test, greybox.y_test)  # same examples, same split
    assert _central_r2(pulses) < 0.1
    # an affine map of the white-box expectations alone (columns 10..27), no learning of
    # per-pulse noise effects, already explains the held-out targets
    xtr = greybox.x_train.reshape(greybox.num_train, -1)[:, 10:]
    xte = greybox.x_test.reshape(greybox.num_test, -1)[:, 10:]
    affine = LinearRegression().fit(xtr, greybox.y_train).predict(xte)
    r2_affine = r2_score(greybox.y_test, affine, multioutput="variance_weighted")
    assert r2_affine >= 0.95
    # the MLP does not beat that baseline: the noise-specific part is not learned here
    assert _central_r2(greybox) <= r2_affine + 0.005
