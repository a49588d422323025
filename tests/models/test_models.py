"""Models: shapes, parameter counts from the layer formulas, seeding, vmap-ability, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from qtfl.data import load_digits
from qtfl.errors import InputError
from qtfl.models import MODELS, build_model

torch.set_num_threads(1)

CANONICAL = {
    "logreg": (1, 28, 28),
    "mlp": (1, 28, 28),
    "lenet": (1, 28, 28),
    "convnet": (3, 32, 32),
    "vqc": (1, 1, 8),  # e.g. 8 PCA features of digits: 8 qubits, one encoding block
}


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


EXPECTED_PARAMS = {  # layer by layer, from the architectures in the docstrings
    "logreg": _linear(784, 10),
    "mlp": _linear(784, 128) + _linear(128, 10),
    "lenet": _conv(1, 6, 5) + _conv(6, 16, 5) + _linear(16 * 5 * 5, 120) + _linear(120, 84)
    + _linear(84, 10),
    "convnet": _conv(3, 32, 3) + _conv(32, 64, 3) + _conv(64, 64, 3) + _linear(64 * 4 * 4, 128)
    + _linear(128, 10),
    "vqc": 2 * 8 * 2 + _linear(8, 10),  # 2 layers x 8 qubits x (Ry, Rz), classical head
}  # fmt: skip


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_model_maps_images_to_logits_with_the_documented_size(name: str) -> None:
    model = build_model(name, input_shape=CANONICAL[name], num_classes=10, seed=0)

    out = model(torch.zeros(4, *CANONICAL[name]))

    assert out.shape == (4, 10) and out.dtype == torch.float32
    assert _n_params(model) == EXPECTED_PARAMS[name]
    assert list(model.buffers()) == []  # nothing updated in place: safe under vmap


def test_mlp_hidden_widths_are_configurable() -> None:
    model = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, hidden=(32, 16))

    assert _n_params(model) == _linear(64, 32) + _linear(32, 16) + _linear(16, 10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("convnet", (1, 8, 8)), ("lenet", (3, 32, 32)), ("lenet", (1, 12, 12)), ("logreg", (1, 8, 8))],
)
def test_models_accept_other_shapes_above_their_minimum(name: str, shape: tuple) -> None:
    model = build_model(name, input_shape=shape, num_classes=3)

    assert model(torch.zeros(2, *shape)).shape == (2, 3)


@pytest.mark.parametrize("name", MODELS)
def test_seed_fixes_the_init_and_leaves_global_rng_alone(name: str) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)

    a = build_model(name, input_shape=CANONICAL[name], num_classes=10, seed=7)
    b = build_model(name, input_shape=CANONICAL[name], num_classes=10, seed=7)
    c = build_model(name, input_shape=CANONICAL[name], num_classes=10, seed=8)

    torch.testing.assert_close(torch.rand(3), expected_next)  # global stream untouched
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
        assert not torch.equal(pa, pc)


def test_without_seed_init_follows_torch_manual_seed() -> None:
    torch.manual_seed(5)
    a = build_model("mlp", input_shape=(1, 8, 8), num_classes=10)
    torch.manual_seed(5)
    b = build_model("mlp", input_shape=(1, 8, 8), num_classes=10)

    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


@pytest.mark.parametrize("name", MODELS)
def test_functional_call_under_vmap_matches_each_client_model(name: str) -> None:
    # float64: in float32 the batched (grouped) convolution rounds differently, and a
    # max-pool window whose two largest inputs differ by less than the rounding can route
    # its gradient to the other input; in float64 such near-ties do not occur here.
    shape = CANONICAL[name]
    clients = [
        build_model(name, input_shape=shape, num_classes=10, seed=s).double() for s in range(3)
    ]
    params, buffers = stack_module_state(clients)
    base = clients[0]
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4])

    def forward(p: dict, b: dict) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    def loss(p: dict, b: dict) -> torch.Tensor:
        return nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    batched = vmap(forward)(params, buffers)
    grads = vmap(grad(loss))(params, buffers)

    for i, model in enumerate(clients):
        torch.testing.assert_close(batched[i], model(x), rtol=1e-10, atol=1e-12)
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None
            torch.testing.assert_close(grads[pname][i], p.grad, rtol=1e-9, atol=1e-12)


def test_mlp_reaches_95_percent_on_digits_centrally() -> None:
    # Sanity check that the default MLP can learn the default data set: Flatten (64) ->
    # 128 -> 10 on 8x8 digits, Adam, 20 epochs of mini-batches of 32 (seeds 0-3 give
    # 0.96-0.975 on the 360 test images).
    ds = load_digits()
    model = build_model("mlp", input_shape=ds.input_shape, num_classes=10, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    order = np.random.default_rng(0)
    for _ in range(20):
        for batch in np.array_split(order.permutation(ds.num_train), math.ceil(ds.num_train / 32)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()

    with torch.no_grad():
        pred = model(torch.from_numpy(ds.x_test)).argmax(dim=1).numpy()
    assert np.mean(pred == ds.y_test) >= 0.95


def test_unknown_model_lists_the_allowed_names() -> None:
    with pytest.raises(InputError) as exc:
        build_model("resnet", input_shape=(1, 8, 8), num_classes=10)
    message = str(exc.value)
    assert "'resnet'" in message
    for name in MODELS:
        assert name in message


@pytest.mark.parametrize(
    ("name", "kwargs", "pattern"),
    [
        ("lenet", {"input_shape": (1, 8, 8)},
         r"'lenet' needs input_shape \(C, H, W\) with H, W >= 12, got \(1, 8, 8\)"),
        ("lenet", {"input_shape": (28, 28)}, r"'lenet' needs input_shape \(C, H, W\)"),
        ("convnet", {"input_shape": (3, 4, 4)}, r"H, W >= 8, got \(3, 4, 4\)"),
        ("mlp", {"input_shape": (1, 0, 8)}, r"positive ints, got \(1, 0, 8\)"),
        ("mlp", {"input_shape": 64}, "input_shape must be a tuple of ints, got 64"),
        ("mlp", {"num_classes": 1}, r"num_classes must be an integer in \[2, inf\], got 1"),
        ("mlp", {"hidden": 0}, r"hidden\[0\] must be an integer in \[1, inf\], got 0"),
        ("mlp", {"hidden": (64, 2.5)}, r"hidden\[1\] must be an integer, got 2.5"),
        ("mlp", {"seed": -1}, r"seed must be an integer in \[0, inf\], got -1"),
    ],
)  # fmt: skip
def test_bad_model_options_raise_one_clear_error(name: str, kwargs: dict, pattern: str) -> None:
    args = {"input_shape": (1, 8, 8), "num_classes": 10, **kwargs}

    with pytest.raises(InputError, match=pattern):
        build_model(name, **args)
