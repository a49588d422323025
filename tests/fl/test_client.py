"""Local training: the batch plan, and the vmap path against the plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qtfl.errors import InputError
from qtfl.fl.batched_mlp import mlp_layers, supports_batched_mlp, train_batched_mlp
from qtfl.fl.client import (
    LocalTraining,
    ParamLayout,
    load_flat,
    plan_batches,
    train_loop,
    train_vmap,
    vmappable,
)
from qtfl.models import build_model
from tests.fl.helpers import blobs, client_split, small_model


def test_plan_covers_each_client_once_per_epoch_in_batches() -> None:
    sizes = [7, 13, 3]
    idx = client_split(sizes)
    plan = plan_batches(idx, epochs=2, batch_size=4, rng=np.random.default_rng(0))
    steps = 2 * int(np.ceil(13 / 4))
    assert plan.indices.shape == (3, steps, 4)
    per_epoch = steps // 2
    for k, ix in enumerate(idx):
        for e in range(2):
            sl = slice(e * per_epoch, (e + 1) * per_epoch)
            used = plan.indices[k, sl][plan.mask[k, sl]].numpy()
            assert sorted(used.tolist()) == ix.tolist()  # a permutation of the client's data
        # active steps are the first ceil(n/B) of each epoch
        expect = np.zeros(per_epoch, bool)
        expect[: int(np.ceil(sizes[k] / 4))] = True
        np.testing.assert_array_equal(plan.active[k].numpy(), np.tile(expect, 2))


def test_plan_is_deterministic_and_shuffles_between_epochs() -> None:
    idx = client_split([40])
    a = plan_batches(idx, epochs=2, batch_size=40, rng=np.random.default_rng(3))
    b = plan_batches(idx, epochs=2, batch_size=40, rng=np.random.default_rng(3))
    assert torch.equal(a.indices, b.indices)
    assert not torch.equal(a.indices[0, 0], a.indices[0, 1])


@pytest.mark.parametrize(
    "training",
    [
        LocalTraining(local_epochs=2, batch_size=4, lr=0.1),
        LocalTraining(local_epochs=2, batch_size=4, lr=0.05, momentum=0.9),
        LocalTraining(local_epochs=2, batch_size=4, lr=0.01, optimizer="adam"),
        LocalTraining(local_epochs=1, batch_size=3, lr=0.1, proximal_mu=0.5),
    ],
    ids=["sgd", "momentum", "adam", "fedprox"],
)
def test_vmap_and_bmm_match_the_plain_loop_with_unequal_clients(training: LocalTraining) -> None:
    torch.set_num_threads(1)
    sizes = [7, 13, 3, 10]
    x, y = blobs(sum(sizes), seed=4)
    model = small_model(seed=1)
    layout = ParamLayout(model)
    g = layout.flatten(model)
    rng = np.random.default_rng(5)
    # clients start from different points (as after a noisy downlink)
    start = g + 0.05 * torch.from_numpy(rng.normal(size=(4, layout.size)).astype(np.float32))
    plan = plan_batches(
        client_split(sizes),
        epochs=training.local_epochs,
        batch_size=training.batch_size,
        rng=np.random.default_rng(6),
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    d_vmap = train_vmap(model, layout, start, xt, yt, plan, training)
    d_loop = train_loop(model, layout, start, xt, yt, plan, training)
    assert d_vmap.abs().max() > 1e-3  # clients really trained
    torch.testing.assert_close(d_vmap, d_loop, rtol=1e-4, atol=1e-5)
    if supports_batched_mlp(model, training):
        d_bmm = train_batched_mlp(model, layout, start, xt, yt, plan, training)
        torch.testing.assert_close(d_bmm, d_loop, rtol=1e-4, atol=1e-5)
    else:
        assert training.optimizer == "adam"


def test_bmm_handles_deeper_mlps_and_logistic_regression() -> None:
    torch.set_num_threads(1)
    sizes = [9, 4, 12]
    x, y = blobs(sum(sizes), seed=8)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    training = LocalTraining(local_epochs=2, batch_size=5, lr=0.1, momentum=0.5, proximal_mu=0.1)
    for model in (
        build_model("mlp", input_shape=(1, 4, 4), num_classes=4, hidden=(8, 6), seed=2),
        build_model("logreg", input_shape=(1, 4, 4), num_classes=4, seed=2),
    ):
        assert mlp_layers(model) is not None
        layout = ParamLayout(model)
        start = layout.flatten(model).expand(3, -1).clone()
        plan = plan_batches(
            client_split(sizes), epochs=2, batch_size=5, rng=np.random.default_rng(1)
        )
        d_bmm = train_batched_mlp(model, layout, start, xt, yt, plan, training)
        d_loop = train_loop(model, layout, start, xt, yt, plan, training)
        assert d_bmm.abs().max() > 1e-3
        torch.testing.assert_close(d_bmm, d_loop, rtol=1e-4, atol=1e-5)
    conv = build_model("lenet", input_shape=(1, 28, 28), num_classes=10, seed=0)
    assert mlp_layers(conv) is None
    assert not supports_batched_mlp(small_model(), LocalTraining(optimizer="adam"))


def test_load_flat_copies_without_aliasing() -> None:
    model = small_model()
    layout = ParamLayout(model)
    flat = torch.arange(layout.size, dtype=torch.float32)
    load_flat(list(model.parameters()), flat)
    assert torch.equal(layout.flatten(model), flat)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert flat[0] == 0.0


def test_vmappable_rejects_dropout_and_batchnorm() -> None:
    assert vmappable(small_model())
    assert not vmappable(nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 4)))
    assert not vmappable(nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(16, 4)))


def test_local_training_options_are_validated() -> None:
    with pytest.raises(InputError, match=r"training.lr must be in \(0, inf\)"):
        LocalTraining(lr=0.0)
    with pytest.raises(InputError, match="unknown optimizer 'rmsprop'; allowed: sgd, adam"):
        LocalTraining(optimizer="rmsprop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"training\.batch_size must be an integer"):
        LocalTraining(batch_size=0)


@pytest.mark.parametrize("shared_start", [True, False])
def test_bmm_low_rank_first_layer_matches_the_loop(shared_start: bool) -> None:
    torch.set_num_threads(1)
    sizes = [5, 7, 3]
    x, y = blobs(sum(sizes), seed=9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = build_model("mlp", input_shape=(1, 4, 4), num_classes=4, hidden=32, seed=3)
    layout = ParamLayout(model)
    start = layout.flatten(model).expand(3, -1).clone()
    if not shared_start:
        start += 0.05 * torch.randn(start.shape, generator=torch.Generator().manual_seed(0))
    training = LocalTraining(local_epochs=1, batch_size=2, lr=0.2)
    plan = plan_batches(client_split(sizes), epochs=1, batch_size=2, rng=np.random.default_rng(2))
    # T * B = 4 * 2 = 8 < 16 * 32 / 48: the automatic rule picks the factored form
    assert plan.indices.shape[1] * 2 * (16 + 32) < 16 * 32
    d_low = train_batched_mlp(model, layout, start, xt, yt, plan, training)
    d_dense = train_batched_mlp(model, layout, start, xt, yt, plan, training, low_rank=False)
    d_loop = train_loop(model, layout, start, xt, yt, plan, training)
    assert d_low.abs().max() > 1e-3
    torch.testing.assert_close(d_low, d_loop, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(d_dense, d_loop, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="low_rank needs plain SGD"):
        train_batched_mlp(
            model, layout, start, xt, yt, plan, LocalTraining(momentum=0.5), low_rank=True
        )
