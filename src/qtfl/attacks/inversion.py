r"""Gradient inversion: recover a client's training images and labels from its update.

The attacker knows the model the client started from (it is broadcast) and holds an
estimate of the client's gradient: for one local SGD step of rate :math:`\eta` on a batch,
:math:`\Delta w = -\eta\,\nabla_w L`, so :math:`g = -\Delta w/\eta` exactly; for a multi-step
FedAvg update the same division is the standard approximation (the update is treated as one
gradient) and the recovered images degrade — the measurements say by how much.

Attacks (all batched over the images of one update, no loop over pixels):

* :func:`analytic_recovery` — a fully connected first layer :math:`z = W x + b` has
  :math:`\partial L/\partial W_{i,:} = (\partial L/\partial b_i)\,x^\top` per example, so
  for batch 1 :math:`x = \nabla_{W_i} L / \nabla_{b_i} L` for any neuron with a nonzero bias
  gradient (Phong et al. 2018; Geiping et al. 2020 §3). We average the rows of the
  neurons with the largest :math:`|\nabla_{b_i}|`, weighted by it. For batch ``B > 1`` the
  ``B`` largest neurons give ``B`` candidate images (each a mixture of the examples that
  activate it).
* :func:`idlg_labels` — with softmax cross-entropy the last layer's bias gradient is
  :math:`p - \mathrm{onehot}(y)`: only the true class is negative (Zhao et al. 2020, iDLG).
  For ``B > 1`` the ``B`` most negative entries are returned (Yin et al. 2021).
* :func:`dlg` — Deep Leakage from Gradients (Zhu et al. 2019): L-BFGS on a dummy image and
  dummy soft label to minimise :math:`\sum\|\nabla_w L(\hat x, \hat y) - g\|^2`; with
  ``labels`` given (iDLG) only the image is optimised.
* :func:`inverting_gradients` — Geiping et al. 2020: Adam on
  :math:`1 - \cos(\nabla_w L(\hat x, y), g) + \lambda\,\mathrm{TV}(\hat x)` with the image
  projected into the data range after every step.

Every reconstruction is clipped into the data range ``bounds`` the attacker knows.

References: Phong et al., IEEE TIFS 13:1333 (2018); Zhu, Liu & Han, NeurIPS 2019 (DLG);
Zhao, Mopuri & Bilen, arXiv 2001.02610 (iDLG); Geiping et al., NeurIPS 2020 (Inverting
Gradients); Yin et al., CVPR 2021 (GradInversion, batch label restoration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from qtfl import registry
from qtfl.errors import InputError, require_choice, require_int, require_range

METHODS: tuple[str, ...] = registry.INVERSION_METHODS
"""Attack names :func:`invert` accepts."""

Grads = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Reconstruction:
    """Recovered images ``(B, C, H, W)`` and labels ``(B,)`` of one attack."""

    images: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    method: str


def _params(model: nn.Module, flat: npt.ArrayLike | None) -> dict[str, torch.Tensor]:
    """The model's parameters (optionally replaced by a flat vector), detached, float64."""
    named = dict(model.named_parameters())
    if flat is None:
        return {k: v.detach().double() for k, v in named.items()}
    vec = torch.as_tensor(np.asarray(flat, dtype=np.float64))
    total = sum(v.numel() for v in named.values())
    if vec.numel() != total:
        raise InputError(f"parameter vector has {vec.numel()} values, the model has {total}")
    out, i = {}, 0
    for k, v in named.items():
        out[k] = vec[i : i + v.numel()].reshape(v.shape)
        i += v.numel()
    return out


def gradients_from_update(model: nn.Module, update: npt.ArrayLike, *, lr: float) -> Grads:
    r"""The gradient estimate :math:`g = -\Delta w / \eta`, one tensor per named parameter."""
    eta = require_range("lr", lr, low=0.0, low_open=True)
    return {k: -v / eta for k, v in _params(model, update).items()}


def model_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    params: dict[str, torch.Tensor],
    create_graph: bool = False,
) -> Grads:
    """Gradients of the mean cross-entropy at ``params``; ``y`` class ids or soft labels."""
    live = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
    logits = functional_call(model, live, (x,))
    if y.dtype.is_floating_point:
        loss = -(y * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    else:
        loss = F.cross_entropy(logits, y)
    grads = torch.autograd.grad(loss, list(live.values()), create_graph=create_graph)
    return dict(zip(live.keys(), grads, strict=True))


def _linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def _first_layer_is_linear(model: nn.Module) -> str | None:
    """Name of the first Linear layer if nothing but Flatten precedes it, else None."""
    for name, module in model.named_modules():
        if name == "" or isinstance(module, (nn.Sequential, nn.Flatten)):
            continue
        return name if isinstance(module, nn.Linear) and module.bias is not None else None
    return None


def idlg_labels(model: nn.Module, grads: Grads, *, batch: int = 1) -> npt.NDArray[np.int64]:
    """Labels from the last layer's bias gradient: the ``batch`` most negative classes."""
    layers = _linear_layers(model)
    if not layers or layers[-1][1].bias is None:
        raise InputError("label recovery (iDLG) needs a final Linear layer with a bias")
    name = layers[-1][0]
    g_bias = grads[f"{name}.bias"].detach().double()
    if not torch.isfinite(g_bias).all():
        g_bias = torch.nan_to_num(g_bias, nan=0.0, posinf=0.0, neginf=0.0)
    k = min(batch, g_bias.numel())
    order = torch.argsort(g_bias)[:k].numpy().astype(np.int64)
    return order if k == batch else np.resize(order, batch).astype(np.int64)


def analytic_recovery(
    model: nn.Module,
    grads: Grads,
    *,
    input_shape: Sequence[int],
    batch: int = 1,
    bounds: tuple[float, float] = (0.0, 1.0),
    top: int = 8,
) -> Reconstruction:
    r"""Input recovery from a fully connected first layer: :math:`x = \nabla_{W_i}/\nabla_{b_i}`.

    Raises:
        InputError: the model's first layer (after Flatten) is not a Linear layer with bias.
    """
    name = _first_layer_is_linear(model)
    if name is None:
        raise InputError(
            "analytic recovery needs a fully connected first layer with bias "
            "(Flatten -> Linear, e.g. model 'mlp' or 'logreg'); use dlg, idlg or ig"
        )
    g_w = torch.nan_to_num(grads[f"{name}.weight"].detach().double())
    g_b = torch.nan_to_num(grads[f"{name}.bias"].detach().double())
    order = torch.argsort(g_b.abs(), descending=True)
    if batch == 1:
        rows = order[: max(1, top)]
        weights = g_b[rows]  # sum_i g_b_i * (g_W_i / g_b_i) / sum_i g_b_i^2 ... least squares
        images = (weights[:, None] * g_w[rows]).sum(0, keepdim=True) / (weights**2).sum().clamp_min(
            1e-300
        )
    else:
        rows = order[:batch]
        images = g_w[rows] / g_b[rows, None].where(g_b[rows, None] != 0, torch.ones(()))
    lo, hi = bounds
    x = images.reshape(batch, *input_shape).clamp(lo, hi).float().numpy()
    return Reconstruction(
        images=x, labels=idlg_labels(model, grads, batch=batch), method="analytic"
    )


def _flat(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def dlg(
    model: nn.Module,
    grads: Grads,
    *,
    params: dict[str, torch.Tensor],
    input_shape: Sequence[int],
    num_classes: int,
    batch: int = 1,
    labels: npt.ArrayLike | None = None,
    iterations: int = 60,
    bounds: tuple[float, float] = (0.0, 1.0),
    rng: np.random.Generator,
) -> Reconstruction:
    """DLG (labels optimised jointly) or, with ``labels``, iDLG's image-only L-BFGS."""
    require_int("iterations", iterations, low=1)
    target = _flat([grads[k].detach().double() for k in params])
    lo, hi = bounds
    gen = torch.Generator().manual_seed(int(rng.integers(2**63)))
    x = lo + (hi - lo) * torch.rand((batch, *input_shape), generator=gen, dtype=torch.float64)
    x.requires_grad_(True)
    variables = [x]
    fixed = None
    if labels is not None:
        fixed = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(batch))
        y_logits = None
    else:
        y_logits = torch.randn((batch, num_classes), generator=gen, dtype=torch.float64)
        y_logits.requires_grad_(True)
        variables.append(y_logits)
    opt = torch.optim.LBFGS(
        variables, lr=1.0, max_iter=iterations, history_size=100, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        y = F.softmax(y_logits, dim=1) if y_logits is not None else fixed
        assert y is not None
        g = model_gradients(model, x, y, params=params, create_graph=True)
        loss = ((_flat(list(g.values())) - target) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        out = x.clamp(lo, hi).float().numpy()
        if y_logits is None:
            y_hat = np.asarray(fixed.numpy(), dtype=np.int64)  # type: ignore[union-attr]
        else:
            y_hat = y_logits.argmax(dim=1).numpy().astype(np.int64)
    return Reconstruction(images=out, labels=y_hat, method="dlg" if labels is None else "idlg")


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels."""
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()
    return dh + dw


def inverting_gradients(
    model: nn.Module,
    grads: Grads,
    *,
    params: dict[str, torch.Tensor],
    input_shape: Sequence[int],
    labels: npt.ArrayLike,
    iterations: int = 300,
    step_size: float = 0.1,
    tv_weight: float = 1e-2,
    bounds: tuple[float, float] = (0.0, 1.0),
    rng: np.random.Generator,
) -> Reconstruction:
    """Inverting Gradients: cosine gradient distance + TV, Adam, projected into ``bounds``."""
    require_int("iterations", iterations, low=1)
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1))
    batch = int(y.numel())
    target = _flat([grads[k].detach().double() for k in params])
    lo, hi = bounds
    gen = torch.Generator().manual_seed(int(rng.integers(2**63)))
    x = lo + (hi - lo) * torch.rand((batch, *input_shape), generator=gen, dtype=torch.float64)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=step_size * (hi - lo))
    for _ in range(iterations):
        opt.zero_grad()
        g = _flat(list(model_gradients(model, x, y, params=params, create_graph=True).values()))
        cos = F.cosine_similarity(g, target, dim=0, eps=1e-12)
        loss = 1.0 - cos + tv_weight * total_variation(x)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(lo, hi)
    return Reconstruction(
        images=x.detach().float().numpy(), labels=y.numpy().astype(np.int64), method="ig"
    )


def invert(
    method: str,
    model: nn.Module,
    grads: Grads,
    *,
    start_params: npt.ArrayLike,
    input_shape: Sequence[int],
    num_classes: int,
    batch: int = 1,
    bounds: tuple[float, float] = (0.0, 1.0),
    iterations: int | None = None,
    rng: np.random.Generator,
) -> Reconstruction:
    """Run attack ``method`` (one of :data:`METHODS`) on gradient estimate ``grads``.

    ``start_params`` is the flat model the client started from (known to the attacker).
    ``iterations`` overrides the attack's default budget (L-BFGS iterations for DLG/iDLG,
    Adam steps for IG).
    """
    require_choice("attack method", method, METHODS)
    require_int("batch", batch, low=1)
    if method == "analytic":
        return analytic_recovery(model, grads, input_shape=input_shape, batch=batch, bounds=bounds)
    params = _params(model, start_params)
    # iDLG is DLG with the labels read off the last layer's bias gradient
    labels = None if method == "dlg" else idlg_labels(model, grads, batch=batch)
    if labels is None or method == "idlg":
        return dlg(
            model,
            grads,
            params=params,
            input_shape=input_shape,
            num_classes=num_classes,
            batch=batch,
            labels=labels,
            iterations=iterations or 200,
            bounds=bounds,
            rng=rng,
        )
    return inverting_gradients(
        model,
        grads,
        params=params,
        input_shape=input_shape,
        labels=labels,
        iterations=iterations or 300,
        bounds=bounds,
        rng=rng,
    )
