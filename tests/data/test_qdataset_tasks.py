"""QDataSet tasks for FL: characterisation (regression) and noise-profile classification,
the partition by noise profile, and regression in the FL engine (MSE loss, R² metric)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score

from qtfl.channel import PlainChannel
from qtfl.data import load_dataset
from qtfl.data.qdataset_tasks import QDataSetTask, load_qdataset_task, partition_by_group
from qtfl.errors import InputError
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, SimulationSettings
from qtfl.fl.strategies import make_strategy
from qtfl.models import build_model

SMALL = {"examples": 40, "realisations": 3, "time_steps": 64}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def characterisation() -> object:
    return load_qdataset_task(
        QDataSetTask(sets=("G_1q_XZ_N1", "G_1q_XZ_N0"), task="characterisation", **SMALL)
    )


def test_characterisation_maps_pulses_to_the_18_expectations(characterisation) -> None:
    ds = characterisation
    assert ds.task == "regression" and ds.num_classes == 18
    # 10 pulse parameters + the 18 noiseless (white-box) expectations
    assert ds.x_train.shape == (64, 1, 1, 28) and ds.x_test.shape == (16, 1, 1, 28)
    assert ds.y_train.dtype == np.float32 and np.all(np.abs(ds.y_train) <= 1)
    np.testing.assert_allclose(ds.x_train.reshape(64, -1).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.reshape(64, -1).std(0), 1, atol=1e-4)
    assert np.bincount(ds.groups_train).tolist() == [32, 32] and ds.group_names == ("N1", "N0")
    # on the noiseless set the white-box inputs are the targets (up to the z-score)
    x = ds.x_train.reshape(64, -1)[:, 10:][ds.groups_train == 1]
    y = ds.y_train[ds.groups_train == 1]
    corr = [np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(18) if y[:, j].std() > 1e-6]
    np.testing.assert_allclose(corr, 1.0, atol=1e-6)
    pulses = load_qdataset_task(
        QDataSetTask(sets=("G_1q_XZ_N1",), task="characterisation", features="pulses", **SMALL)
    )
    assert pulses.x_train.shape[-1] == 10


def test_classification_labels_are_the_noise_profiles() -> None:
    ds = load_qdataset_task(
        QDataSetTask(
            sets=("G_1q_XZ_N0", "G_1q_XZ_N2", "G_1q_XZ_N4"), task="classification", **SMALL
        )
    )
    assert ds.task == "classification" and ds.num_classes == 3
    assert ds.x_train.shape[-1] == 10 + 18 + 6  # pulse parameters, expectations, purities
    np.testing.assert_array_equal(ds.y_train, ds.groups_train)
    assert np.bincount(ds.y_test).tolist() == [8, 8, 8]
    only = load_qdataset_task(
        QDataSetTask(
            sets=("G_1q_XZ_N0", "G_1q_XZ_N2"), task="classification", features="purity", **SMALL
        )
    )
    assert only.x_train.shape[-1] == 6
    # purity 1 without noise, below 1 with it: N0's inputs sit above N2's (z-scored)
    x = only.x_train.reshape(len(only.x_train), -1).mean(axis=1)
    assert x[only.y_train == 0].min() > x[only.y_train == 1].mean()


def test_partition_by_noise_profile_is_disjoint_covering_and_single_profile() -> None:
    groups = np.repeat(np.arange(3), [30, 20, 10])
    part = partition_by_group(groups, 7, rng=np.random.default_rng(0))
    allidx = np.concatenate(part.indices)
    assert sorted(allidx.tolist()) == list(range(60))
    assert np.all(part.classes_per_client() == 1)
    assert part.label_histograms.sum(axis=0).tolist() == [30, 20, 10]
    np.testing.assert_array_equal(np.argmax(part.label_histograms, axis=1), np.arange(7) % 3)
    few = partition_by_group(groups, 2, rng=np.random.default_rng(0))
    assert few.label_histograms.tolist() == [[30, 0, 10], [0, 20, 0]]
    with pytest.raises(InputError, match="group 2 has 10 examples for 11 clients"):
        partition_by_group(groups, 34, rng=np.random.default_rng(0))


def test_fl_engine_regression_mse_and_r2(characterisation) -> None:
    ds = characterisation
    results = {}
    split = partition_by_group(ds.groups_train, 4, rng=np.random.default_rng(1))
    for backend in ("auto", "loop"):
        model = build_model("mlp", input_shape=ds.input_shape, num_classes=18, hidden=16, seed=0)
        sim = FederatedSimulation(
            model=model, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
            y_test=ds.y_test,
            client_indices=split.indices,
            strategy=make_strategy("fedavg"), uplink=PlainChannel(), downlink=PlainChannel(),
            training=LocalTraining(lr=0.05, batch_size=8, loss="mse"),
            settings=SimulationSettings(rounds=5, backend=backend), seed=0,
        )  # fmt: skip
        assert sim.backend != "bmm"  # the bmm backward is written for softmax outputs
        first = sim.run_round()
        for _ in range(4):
            last = sim.run_round()
        assert last.loss is not None and first.loss is not None and last.loss < first.loss
        # the metric is R^2 = 1 - SSE/SST, sklearn's variance-weighted R^2
        with torch.no_grad():
            pred = sim.final_model()(torch.from_numpy(ds.x_test)).numpy()
        r2 = r2_score(ds.y_test, pred, multioutput="variance_weighted")
        assert last.accuracy == pytest.approx(r2, abs=1e-5)
        assert last.loss == pytest.approx(np.mean((pred - ds.y_test) ** 2), rel=1e-5)
        results[backend] = sim.global_params
    np.testing.assert_allclose(results["auto"], results["loop"], atol=1e-5)


def test_registry_and_errors() -> None:
    ds = load_dataset("digits-pca")
    assert ds.x_train.shape == (1437, 1, 1, 8) and ds.num_classes == 10
    with pytest.raises(InputError, match="only"):
        load_dataset("digits", qdataset=QDataSetTask())
    with pytest.raises(InputError, match="two or more"):
        QDataSetTask(sets=("G_1q_XZ_N1",), task="classification")
    with pytest.raises(InputError, match="task"):
        QDataSetTask(task="tomography")
    with pytest.raises(InputError, match="classification' only"):
        QDataSetTask(features="purity")
    with pytest.raises(InputError, match="share qubits and controls"):
        load_qdataset_task(QDataSetTask(sets=("G_1q_XZ_N1", "G_1q_XY"), **SMALL))
    with pytest.raises(InputError, match="valid names"):
        load_qdataset_task(QDataSetTask(sets=("G_1q_XZ_N9x",), **SMALL))
