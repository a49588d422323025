"""Local client training: a vectorised path (``torch.func`` + ``vmap``) and a plain loop.

Both start each client from its own copy of the global parameters (one flat float32 vector
per client, as delivered by the downlink channel), run ``local_epochs`` of mini-batch
training on the client's examples and return the update ``delta = w_final - w_start`` as a
``(clients, params)`` float32 matrix. Both consume the same :class:`BatchPlan`, so for the
same plan they compute the same updates up to float rounding (batched matrix products sum
in a different order than per-client ones).

* :func:`train_vmap` — the pfl-research recipe taken one step further: the parameters of
  all clients of a chunk are one ``(K, P)`` tensor, a step is one
  ``vmap(grad(loss))`` call through :func:`torch.func.functional_call`, and the optimizer
  (SGD with momentum, or Adam) is applied to the whole matrix at once. Clients with fewer
  examples than others are handled by masking: a padded example contributes nothing to the
  loss, and a client with no example left in a step skips that optimizer step entirely.
* :func:`train_loop` — the plain baseline: one reused model object, ``torch.optim``,
  ``loss.backward()``, one client after the other. It handles every model, including ones
  with buffers or randomness (BatchNorm, dropout) that ``vmap`` cannot batch.

The loss is the mean cross-entropy over a mini-batch (``loss="cross_entropy"``) or, for
regression targets ``(N, outputs)``, the mean squared error averaged over the outputs and the
mini-batch (``loss="mse"``, as ``F.mse_loss``), plus the FedProx proximal term
:math:`\\tfrac{\\mu}{2}\\lVert w - w_{start}\\rVert^2` when ``proximal_mu > 0`` (Li et al.,
MLSys 2020). Optimizer semantics are those of ``torch.optim.SGD`` (dampening 0, no
Nesterov) and ``torch.optim.Adam`` (betas 0.9/0.999, eps 1e-8, bias-corrected).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from qtfl.errors import require_choice, require_int, require_range

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
LOSSES: tuple[str, ...] = ("cross_entropy", "mse")
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


@dataclass(frozen=True)
class LocalTraining:
    """How each client trains in a round.

    Attributes:
        local_epochs: passes over the client's examples per round, >= 1.
        batch_size: mini-batch size, >= 1 (the last batch of an epoch may be smaller).
        lr: learning rate, > 0.
        optimizer: ``"sgd"`` or ``"adam"`` (fresh state every round, as in FedAvg).
        momentum: SGD momentum in [0, 1).
        proximal_mu: FedProx coefficient, >= 0 (0: plain local SGD).
        loss: ``"cross_entropy"`` (classification) or ``"mse"`` (regression).
    """

    local_epochs: int = 1
    batch_size: int = 10
    lr: float = 0.05
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.0
    proximal_mu: float = 0.0
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"

    def __post_init__(self) -> None:
        require_int("training.local_epochs", self.local_epochs, low=1)
        require_int("training.batch_size", self.batch_size, low=1)
        require_range("training.lr", self.lr, low=0.0, low_open=True)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_range("training.momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        require_range("training.proximal_mu", self.proximal_mu, low=0.0)
        require_choice("loss", self.loss, LOSSES)


def example_losses(outputs: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example loss ``(B,)``: cross-entropy, or squared error averaged over the outputs."""
    if loss == "mse":
        return (outputs - y).square().mean(dim=-1)
    return F.cross_entropy(outputs, y, reduction="none")


@dataclass(frozen=True)
class BatchPlan:
    """Which training examples every client uses in every local step.

    Attributes:
        indices: ``int64 (K, T, B)`` indices into the training set (padding points at 0).
        mask: ``bool (K, T, B)``; False marks padding.
        active: ``bool (K, T)``; False where a client has no example in step ``t``.
    """

    indices: torch.Tensor
    mask: torch.Tensor
    active: torch.Tensor


def plan_batches(
    client_indices: Sequence[npt.NDArray[np.int64]],
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
) -> BatchPlan:
    """Shuffle every client's examples once per epoch and cut them into mini-batches.

    Vectorised over clients and epochs: one uniform key per (client, epoch, example),
    padding keys set above every real key, ``argsort`` gives each client a uniform random
    order of its own examples followed by padding. Step ``t = e * S + s`` (``S`` the steps
    per epoch of the largest client) holds positions ``s*B .. s*B+B-1`` of epoch ``e``.
    """
    k = len(client_indices)
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    max_n = int(sizes.max())
    steps = math.ceil(max_n / batch_size)
    valid = np.arange(max_n)[None, :] < sizes[:, None]
    table = np.zeros((k, max_n), dtype=np.int64)
    table[valid] = np.concatenate(client_indices)
    keys = rng.random((k, epochs, max_n))
    keys[np.broadcast_to(~valid[:, None, :], keys.shape)] = 2.0
    order = np.argsort(keys, axis=-1, kind="stable")
    pad = steps * batch_size - max_n
    if pad:
        order = np.concatenate([order, np.full((k, epochs, pad), max_n, np.int64)], axis=-1)
    mask = order < sizes[:, None, None]
    pos = np.minimum(order, max_n - 1)
    idx = np.take_along_axis(table[:, None, :], pos.reshape(k, 1, -1), axis=-1)
    idx = np.where(mask.reshape(k, 1, -1), idx, 0).reshape(k, epochs * steps, batch_size)
    m = torch.from_numpy(mask.reshape(k, epochs * steps, batch_size))
    return BatchPlan(indices=torch.from_numpy(idx), mask=m, active=m.any(dim=-1))


class ParamLayout:
    """Where each named parameter of a module sits in one flat float32 vector."""

    def __init__(self, model: nn.Module) -> None:
        named = list(model.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.size = int(sum(self.numels))

    def flatten(self, model: nn.Module) -> torch.Tensor:
        """The module's parameters as one new flat float32 tensor."""
        return nn.utils.parameters_to_vector(model.parameters()).detach().clone()

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``flat`` (last dimension) shaped like each named parameter."""
        out: dict[str, torch.Tensor] = {}
        parts = torch.split(flat, self.numels, dim=-1)
        for name, shape, part in zip(self.names, self.shapes, parts, strict=True):
            out[name] = part.reshape(*flat.shape[:-1], *shape)
        return out


def load_flat(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy ``flat`` into ``params`` in place (never aliasing ``flat``'s storage)."""
    with torch.no_grad():
        offset = 0
        for p in params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def vmappable(model: nn.Module) -> bool:
    """True when ``model`` has no buffers and no train-time randomness (safe under vmap)."""
    random_or_stateful = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)
    return not any(True for _ in model.buffers()) and not any(
        isinstance(m, random_or_stateful) for m in model.modules()
    )


def train_vmap(
    model: nn.Module,
    layout: ParamLayout,
    start: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: BatchPlan,
    training: LocalTraining,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Train ``K`` clients at once from ``start`` ``(K, P)``; returns the deltas ``(K, P)``.

    ``out`` (optional, ``(K, P)``, not overlapping ``start``) is reused as the parameter
    buffer and holds the deltas on return.

    The parameters live in one ``(K, P)`` buffer; each named parameter is a view into it,
    every optimizer update is in place, so a step allocates nothing but the gradients.
    """
    mu = float(training.proximal_mu)
    names = layout.names
    kind = training.loss

    def loss_fn(
        params: tuple[torch.Tensor, ...],
        xb: torch.Tensor,
        yb: torch.Tensor,
        mb: torch.Tensor,
        anchors: tuple[torch.Tensor, ...],
    ) -> torch.Tensor:
        logits = functional_call(model, dict(zip(names, params, strict=True)), (xb,))
        ce = example_losses(logits, yb, kind)
        loss = (ce * mb).sum() / mb.sum().clamp(min=1.0)
        if mu > 0.0:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(params, anchors, strict=True))
            loss = loss + 0.5 * mu * prox
        return loss

    grad_fn = vmap(grad(loss_fn))
    w = start.clone() if out is None else out.copy_(start)
    params = tuple(layout.unflatten(w).values())
    anchors = tuple(layout.unflatten(start).values())
    k = w.shape[0]
    lr = float(training.lr)
    sgd = training.optimizer == "sgd"
    momentum = float(training.momentum)
    m_flat = torch.zeros_like(w) if (not sgd or momentum > 0.0) else None
    v_flat = None if sgd else torch.zeros_like(w)
    m_views = () if m_flat is None else tuple(layout.unflatten(m_flat).values())
    v_views = () if v_flat is None else tuple(layout.unflatten(v_flat).values())
    t_count = torch.zeros(k)
    b1, b2 = _ADAM_BETAS
    for t in range(plan.indices.shape[1]):
        active = plan.active[:, t]
        if not bool(active.any()):
            continue
        everyone = bool(active.all())
        act = active.to(w.dtype)
        idx = plan.indices[:, t]
        grads = grad_fn(params, x[idx], y[idx], plan.mask[:, t].to(w.dtype), anchors)
        for j, (p, g) in enumerate(zip(params, grads, strict=True)):
            rows = (k,) + (1,) * (g.dim() - 1)
            a = act.view(rows)
            if not everyone:
                g.mul_(a)  # an inactive client's gradient counts as absent
            if sgd:
                if m_flat is not None:  # torch.optim.SGD: buf = momentum * buf + g
                    m = m_views[j]
                    m.mul_(momentum if everyone else torch.where(a > 0, momentum, 1.0)).add_(g)
                    g = m if everyone else m * a
                p.add_(g, alpha=-lr)
            else:  # torch.optim.Adam, bias-corrected, per-client step counts
                m, v = m_views[j], v_views[j]
                m.mul_(torch.where(a > 0, b1, 1.0)).add_(g, alpha=1 - b1)
                v.mul_(torch.where(a > 0, b2, 1.0)).addcmul_(g, g, value=1 - b2)
                tc = (t_count + act).clamp(min=1.0).view(rows)
                denom = (v.sqrt() / (1 - b2**tc).sqrt()).add_(_ADAM_EPS)
                p.addcdiv_(m * (a * lr / (1 - b1**tc)), denom, value=-1.0)
        t_count += act
    return w.sub_(start)


def train_loop(
    model: nn.Module,
    layout: ParamLayout,
    start: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: BatchPlan,
    training: LocalTraining,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Train the clients one after the other on one reused ``model``; returns ``(K, P)``."""
    params = list(model.parameters())
    out = torch.empty_like(start) if out is None else out
    mu = float(training.proximal_mu)
    model.train()
    for k in range(start.shape[0]):
        load_flat(params, start[k])
        anchors = [a.detach() for a in layout.unflatten(start[k]).values()] if mu > 0 else []
        opt: torch.optim.Optimizer
        if training.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=training.lr, momentum=training.momentum)
        else:
            opt = torch.optim.Adam(params, lr=training.lr, betas=_ADAM_BETAS, eps=_ADAM_EPS)
        steps = torch.nonzero(plan.active[k]).flatten().tolist()
        for t in steps:
            idx = plan.indices[k, t][plan.mask[k, t]]
            opt.zero_grad(set_to_none=True)
            loss = example_losses(model(x[idx]), y[idx], training.loss).mean()
            if mu > 0.0:
                loss = loss + 0.5 * mu * sum(
                    ((p - a) ** 2).sum() for p, a in zip(params, anchors, strict=True)
                )
            loss.backward()
            opt.step()
        with torch.no_grad():
            out[k] = nn.utils.parameters_to_vector(params) - start[k]
    return out
