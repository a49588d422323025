"""Local SGD for many clients of a Linear/ReLU network at once, with batched matrix products.

For the commonest FL model — ``[Flatten] -> Linear -> ReLU -> ... -> Linear`` (the ``mlp`` and
``logreg`` of :mod:`qtfl.models`) trained with SGD — the forward and backward passes of all
``K`` clients are a handful of ``torch.bmm`` calls on the ``(K, out, in)`` weight views of the
shared ``(K, P)`` parameter buffer, with the gradient written by hand:

.. math::
    z_l = a_{l-1} W_l^\\top + b_l,\\quad a_l = \\max(z_l, 0),\\qquad
    \\frac{\\partial L}{\\partial z_L} = \\frac{m}{\\sum m}\\,(\\operatorname{softmax}(z_L) - e_y),

    \\frac{\\partial L}{\\partial W_l} = \\delta_l^\\top a_{l-1},\\quad
    \\frac{\\partial L}{\\partial b_l} = \\textstyle\\sum_i \\delta_{l,i},\\quad
    \\delta_{l-1} = (\\delta_l W_l) \\odot [z_{l-1} > 0]

(``m`` the padding mask of the mini-batch: the mean cross-entropy over the client's real
examples, as ``torch.nn.functional.cross_entropy``). Plain SGD fuses gradient and update into
one in-place ``baddbmm_`` per layer (``W -= lr * delta^T a``), so a step allocates no gradient
matrix at all; momentum and the FedProx term use an explicit gradient.

First layer in factored form (plain SGD, when ``T B < d_in d_out / (d_in + d_out)`` for
``T`` steps of ``B`` examples): after ``t`` steps a client's first-layer weights are
:math:`W_t = W_0 - \\eta \\sum_{s<t} \\delta_s^\\top x_s = W_0 + G^\\top X` with the
inputs seen so far stacked in ``X`` and the scaled output gradients in ``G`` (the
low-rank structure of per-example gradients), so
:math:`x W_t^\\top = x W_0^\\top + (x X^\\top) G` — one GEMM shared by all clients when they
start from the same weights, plus small products — and the round's update
:math:`G^\\top X` is formed once at the end instead of reading and writing every
client's dense weights on every step. This avoids the
per-operation overhead of ``torch.func`` transforms and is checked against the plain loop
(:func:`qtfl.fl.client.train_loop`) in the tests. Other models or Adam use
:func:`qtfl.fl.client.train_vmap`.
"""

from __future__ import annotations

import torch
from torch import nn

from qtfl.fl.client import BatchPlan, LocalTraining, ParamLayout


def mlp_layers(model: nn.Module) -> list[tuple[str, str]] | None:
    """Parameter names ``(weight, bias)`` of each Linear if ``model`` is a Linear/ReLU stack.

    Accepted: an ``nn.Sequential`` of an optional leading ``nn.Flatten``, then ``nn.Linear``
    (with bias) and ``nn.ReLU`` alternating, ending with a Linear. Anything else: ``None``.
    """
    if not isinstance(model, nn.Sequential):
        return None
    items = list(model.named_children())
    if items and isinstance(items[0][1], nn.Flatten):
        items = items[1:]
    if not items or len(items) % 2 == 0:
        return None
    names: list[tuple[str, str]] = []
    for i, (name, mod) in enumerate(items):
        if i % 2 == 0:
            if not isinstance(mod, nn.Linear) or mod.bias is None:
                return None
            names.append((f"{name}.weight", f"{name}.bias"))
        elif not isinstance(mod, nn.ReLU):
            return None
    return names


def supports_batched_mlp(model: nn.Module, training: LocalTraining) -> bool:
    """True when :func:`train_batched_mlp` can train ``model`` with ``training`` (SGD on the
    cross-entropy; its backward pass is written for softmax outputs)."""
    return (
        training.optimizer == "sgd"
        and training.loss == "cross_entropy"
        and mlp_layers(model) is not None
    )


def train_batched_mlp(
    model: nn.Module,
    layout: ParamLayout,
    start: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: BatchPlan,
    training: LocalTraining,
    *,
    out: torch.Tensor | None = None,
    low_rank: bool | None = None,
) -> torch.Tensor:
    """Train ``K`` clients of a Linear/ReLU ``model`` from ``start`` ``(K, P)``; returns deltas.

    ``out`` (optional, ``(K, P)``, not overlapping ``start``) receives the deltas.
    ``low_rank`` (default: when it saves work) keeps the first layer in factored form.
    """
    names = mlp_layers(model)
    if names is None or training.optimizer != "sgd":
        raise ValueError("train_batched_mlp needs a Linear/ReLU nn.Sequential and SGD")
    k, steps, batch = plan.indices.shape
    w = torch.empty_like(start) if out is None else out
    views = layout.unflatten(w)
    anchors = layout.unflatten(start)
    lr, mu, momentum = float(training.lr), float(training.proximal_mu), float(training.momentum)
    fused = mu == 0.0 and momentum == 0.0
    w0_name = names[0][0]
    d_out, d_in = anchors[w0_name].shape[1:]
    if low_rank is None:
        low_rank = fused and steps * batch * (d_in + d_out) < d_in * d_out
    elif low_rank and not fused:
        raise ValueError("low_rank needs plain SGD (no momentum, no proximal term)")
    # contiguous per-layer copies: in-place batched products on strided views of the flat
    # buffer would copy the whole weight tensor on every step
    params = [
        (anchors[wn] if (j == 0 and low_rank) else anchors[wn].clone(), anchors[bn].clone())
        for j, (wn, bn) in enumerate(names)
    ]
    if low_rank:
        w0_shared = anchors[w0_name][0] if torch.equal(start, start[:1].expand_as(start)) else None
        x_hist = x[plan.indices.reshape(k, -1)].reshape(k, steps * batch, d_in)
        g_hist = torch.zeros(k, steps * batch, d_out, dtype=w.dtype)
    bufs: dict[str, torch.Tensor] = {}
    if momentum > 0.0:
        for (wn, bn), (weight, bias) in zip(names, params, strict=True):
            bufs[wn], bufs[bn] = torch.zeros_like(weight), torch.zeros_like(bias)
    num_classes = params[-1][0].shape[1]
    for t in range(steps):
        active = plan.active[:, t]
        if not bool(active.any()):
            continue
        everyone = bool(active.all())
        idx = plan.indices[:, t]
        mask = plan.mask[:, t].to(w.dtype)  # (K, B)
        # in factored form this step's inputs are already gathered in the history
        a = x_hist[:, t * batch : (t + 1) * batch] if low_rank else x[idx].reshape(k, batch, -1)
        acts = [a]
        for j, (weight, bias) in enumerate(params):
            if j == 0 and low_rank:  # x W_t^T = x W_0^T + (x X_hist^T) G_hist
                if w0_shared is not None:
                    z = (a.reshape(k * batch, d_in) @ w0_shared.T).view(k, batch, d_out)
                    z.add_(bias.unsqueeze(1))
                else:
                    z = torch.baddbmm(bias.unsqueeze(1), a, weight.transpose(1, 2))
                if t > 0:
                    past = slice(0, t * batch)
                    z.baddbmm_(torch.bmm(a, x_hist[:, past].transpose(1, 2)), g_hist[:, past])
            else:
                z = torch.baddbmm(bias.unsqueeze(1), a, weight.transpose(1, 2))
            a = z.clamp_min(0.0) if j < len(params) - 1 else z
            acts.append(a)
        delta = torch.softmax(acts[-1], dim=-1)
        delta.view(-1, num_classes)[
            torch.arange(delta.shape[0] * delta.shape[1]), y[idx].reshape(-1)
        ] -= 1.0
        delta.mul_((mask / mask.sum(dim=1, keepdim=True).clamp(min=1.0)).unsqueeze(-1))
        for j in range(len(params) - 1, -1, -1):
            weight, bias = params[j]
            a_prev = acts[j]
            back = torch.bmm(delta, weight) if j > 0 else None  # with the weights before the step
            if j == 0 and low_rank:  # remember -lr * delta; W_0 itself is never formed
                torch.mul(delta, -lr, out=g_hist[:, t * batch : (t + 1) * batch])
                bias.add_(delta.sum(dim=1), alpha=-lr)
            elif fused:  # inactive clients have delta == 0, so their weights stay as they are
                weight.baddbmm_(delta.transpose(1, 2), a_prev, alpha=-lr)
                bias.add_(delta.sum(dim=1), alpha=-lr)
            else:
                wn, bn = names[j]
                gw = torch.bmm(delta.transpose(1, 2), a_prev)
                gb = delta.sum(dim=1)
                for p, g, name in ((weight, gw, wn), (bias, gb, bn)):
                    _sgd_step(
                        p, g, anchors[name], bufs.get(name), active, everyone, lr, mu, momentum
                    )
            if back is not None:
                delta = back.mul_(acts[j] > 0)
    for j, ((wn, bn), (weight, bias)) in enumerate(zip(names, params, strict=True)):
        if j == 0 and low_rank:  # the whole round's update: sum_t G_t^T X_t
            torch.bmm(g_hist.transpose(1, 2), x_hist, out=views[wn])
        else:
            torch.sub(weight, anchors[wn], out=views[wn])
        torch.sub(bias, anchors[bn], out=views[bn])
    return w


def _sgd_step(
    p: torch.Tensor,
    g: torch.Tensor,
    anchor: torch.Tensor,
    buf: torch.Tensor | None,
    active: torch.Tensor,
    everyone: bool,
    lr: float,
    mu: float,
    momentum: float,
) -> None:
    """``torch.optim.SGD`` step (dampening 0) on the rows of the active clients, in place."""
    rows = active.to(p.dtype).view((-1,) + (1,) * (p.dim() - 1))
    if mu > 0.0:
        g.add_(p - anchor, alpha=mu)
    if not everyone:
        g.mul_(rows)
    if buf is not None:
        buf.mul_(momentum if everyone else torch.where(rows > 0, momentum, 1.0)).add_(g)
        g = buf if everyone else buf * rows
    p.add_(g, alpha=-lr)
