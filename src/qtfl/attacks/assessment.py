"""One gradient-inversion experiment end to end: client update -> channel -> attacker -> metrics.

:func:`invert_assessment` is the library behind ``qtfl privacy invert``:

1. draw ``batch`` training examples of one client and compute its update from the
   broadcast model: ``local_steps`` full-batch SGD steps of rate ``lr``
   (``local_steps=1``: the update is exactly ``-lr * gradient``);
2. apply the client-side defences: DP-FedAvg clipping (and noise with
   ``placement="client"``) and, with ``secure_aggregation_clients = K > 1``, pairwise
   masking among ``K`` clients (the other ``K - 1`` train on their own examples);
3. send every update through the chosen Channel; the attacker's view
   (:mod:`qtfl.attacks.views`) turns the Delivery into the update it attacks — for the
   server under masking, the unmasked aggregate of the ``K`` decoded updates;
4. divide by ``-lr`` and run the attack (:mod:`qtfl.attacks.inversion`); measure against the
   target client's examples (images matched by minimum MSE for ``batch > 1``) and against
   a uniform random guess (:func:`~qtfl.attacks.metrics.random_baseline`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from scipy.optimize import linear_sum_assignment

from qtfl import registry
from qtfl.attacks.inversion import (
    METHODS,
    _params,
    gradients_from_update,
    invert,
    model_gradients,
)
from qtfl.attacks.metrics import image_metrics, random_baseline
from qtfl.attacks.views import ViewContext, attacker_view
from qtfl.channel import Channel, Delivery
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.fl.privacy import DPFedAvg, DPSettings, RoundContext, SecureAggregation

CHANNELS: tuple[str, ...] = ("plain", "aead", "teleport")
"""Channel kinds (:data:`qtfl.registry.CHANNEL_KINDS`) an inversion experiment builds."""
ATTACKER_KINDS: tuple[str, ...] = registry.OBSERVERS


def build_channel(
    channel: str,
    *,
    attacker: str,
    fidelity: float = 0.95,
    eve_fraction: float = 0.01,
    bits: int = 16,
    fec: str = "none",
    rng: np.random.Generator,
) -> Channel:
    """The Channel under attack; for teleportation, with the eavesdropper ``attacker`` asks for.

    ``"intercept-resend"`` is a Z-basis intercept-resend on ``eve_fraction`` of the pairs
    (plus the classical tap); it exists on teleportation only. ``fec`` protects the payload
    (:class:`~qtfl.channel.teleportation.TeleportationChannel`); the eavesdropper views then
    decode the first payload bits of her guess and ignore the code (not modelled).
    """
    from qtfl.channel import AeadChannel, PlainChannel
    from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
    from qtfl.quantum.noise import WernerPair
    from qtfl.security.eavesdropper import ClassicalTap, InterceptResend, NoEavesdropper

    channel = require_choice("channel", registry.canonical_channel(channel), CHANNELS)
    require_choice("observer", attacker, ATTACKER_KINDS)
    if attacker == "intercept-resend" and channel != "teleport":
        raise InputError(f"observer 'intercept-resend' needs channel 'teleport', got {channel!r}")
    if channel == "plain":
        return PlainChannel()
    if channel == "aead":
        return AeadChannel.from_rng(rng)
    eve = {
        "tap": ClassicalTap(),
        "intercept-resend": InterceptResend(fraction=eve_fraction, basis="z"),
        "server": NoEavesdropper(),
    }[attacker]
    return TeleportationChannel(
        LinkSpec(WernerPair(fidelity)), bits=bits, eavesdropper=eve, fec=fec
    )


def client_update(
    model: torch.nn.Module,
    start: npt.NDArray[np.float32],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    *,
    lr: float,
    local_steps: int,
) -> npt.NDArray[np.float32]:
    """``local_steps`` full-batch SGD steps from ``start``; returns ``w_end - start`` (float32)."""
    params = _params(model, start)
    xb, yb = torch.from_numpy(x).double(), torch.from_numpy(y)
    for _ in range(local_steps):
        grads = model_gradients(model, xb, yb, params=params)
        params = {k: params[k] - lr * grads[k] for k in params}
    end = torch.cat([v.reshape(-1) for v in params.values()]).numpy()
    return (end - start.astype(np.float64)).astype(np.float32)


def _match(
    images: npt.NDArray[np.float32], truth: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Reorder reconstructions to the truth by minimum total MSE (Hungarian assignment)."""
    if images.shape[0] == 1:
        return images
    a = images.reshape(images.shape[0], -1).astype(np.float64)
    b = truth.reshape(truth.shape[0], -1).astype(np.float64)
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    out = np.empty_like(images)
    out[cols] = images[rows]
    return out


def _uninformative_update(
    size: int, *, bits: int, max_abs: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """Uniform random ``b``-bit two's-complement codes times the public scale."""
    half = 1 << (bits - 1)
    codes = rng.integers(-half, half, size).astype(np.float64)
    return (codes * max_abs / (half - 1)).astype(np.float32)


def _label_recall(labels_hat: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Share of the true labels recovered, as multisets (order-free for batches)."""
    want = Counter(np.asarray(labels).tolist())
    got = Counter(np.asarray(labels_hat).tolist())
    return sum(min(c, got[k]) for k, c in want.items()) / max(1, sum(want.values()))


def attack_metrics(
    net: torch.nn.Module,
    update: npt.NDArray[np.float32] | None,
    *,
    start: npt.NDArray[np.float32],
    truth_x: npt.NDArray[np.float32],
    truth_y: npt.NDArray[np.int64],
    method: str,
    lr: float,
    bounds: tuple[float, float],
    num_classes: int,
    iterations: int | None = None,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Attack ``update`` (``None``: nothing held) and measure against the client's examples."""
    if update is None:
        return dict.fromkeys(("psnr_db", "ssim", "mse", "label_accuracy"))
    grads = gradients_from_update(net, update, lr=lr)
    rec = invert(
        method,
        net,
        grads,
        start_params=start,
        input_shape=truth_x.shape[1:],
        num_classes=num_classes,
        batch=truth_x.shape[0],
        bounds=bounds,
        iterations=iterations,
        rng=rng,
    )
    images = _match(rec.images, truth_x)
    m = image_metrics(images, truth_x, data_range=bounds[1] - bounds[0])
    m["label_accuracy"] = _label_recall(rec.labels, truth_y)
    return m


def noise_baseline(
    attack: Callable[[npt.NDArray[np.float32]], dict[str, Any]],
    *,
    size: int,
    bits: int,
    max_abs: float,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """The same attack on ``draws`` uniform random ``bits``-bit code vectors, averaged."""
    rows = [
        attack(_uninformative_update(size, bits=bits, max_abs=max_abs, rng=rng))
        for _ in range(draws)
    ]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def invert_assessment(
    *,
    dataset: str = "digits",
    model: str = "mlp",
    hidden: int = 64,
    channel: str = "plain",
    attacker: str = "tap",
    method: str = "analytic",
    batch: int = 1,
    local_steps: int = 1,
    lr: float = 0.1,
    dp: DPSettings | None = None,
    secure_aggregation_clients: int = 0,
    fidelity: float = 0.95,
    eve_fraction: float = 0.01,
    bits: int = 16,
    fec: str = "none",
    iterations: int | None = None,
    baseline_draws: int = 4,
    root: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Attack one client's update as ``attacker`` sees it on ``channel``; metrics vs baseline.

    Returns ``psnr_db``, ``ssim``, ``mse``, ``label_accuracy``; ``baseline_*``, the same
    attack and metrics on ``baseline_draws`` views that carry no information (uniform random
    ``bits``-bit codes on the same public scale: what decoding uniform bits gives);
    ``uniform_guess_psnr_db``, a uniform random image; plus what the attacker held (``delivered``,
    ``detected``) and ``epsilon`` (client-level, one round, delta 1e-5) under DP. When the
    attacker holds nothing (the teleportation aborted) the metrics are ``None``.
    """
    from qtfl.data import load_dataset
    from qtfl.models.registry import build_model

    torch.set_num_threads(1)
    require_choice("attack method", method, METHODS)
    require_int("batch", batch, low=1, high=64)
    require_int("local_steps", local_steps, low=1, high=10_000)
    require_range("lr", lr, low=0.0, low_open=True, high=100.0)
    require_int("baseline_draws", baseline_draws, low=1, high=1_000)
    require_int("hidden", hidden, low=1, high=8_192)
    if iterations is not None:
        require_int("iterations", iterations, low=1, high=1_000_000)
    k_clients = require_int(
        "secure_aggregation_clients", secure_aggregation_clients, low=0, high=100_000
    )
    rng = np.random.default_rng(require_int("seed", seed, low=0))
    data = load_dataset(dataset, root=root)
    net = build_model(
        model, input_shape=data.input_shape, num_classes=data.num_classes, hidden=hidden, seed=seed
    )
    start = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    bounds = (float(data.x_train.min()), float(data.x_train.max()))
    wire = build_channel(
        channel,
        attacker=attacker,
        fidelity=fidelity,
        eve_fraction=eve_fraction,
        bits=bits,
        fec=fec,
        rng=rng,
    )

    n_clients = max(1, k_clients)
    picks = rng.choice(data.num_train, size=(n_clients, batch), replace=False)
    updates = np.stack(
        [
            client_update(
                net,
                start,
                data.x_train[ix],
                data.y_train[ix],
                lr=lr,
                local_steps=local_steps,
            )
            for ix in picks
        ]
    )
    ctx = RoundContext(
        round=1,
        cohort=np.arange(n_clients),
        cohort_weights=np.full(n_clients, float(batch)),
        rng=rng,
    )
    chain: list[Any] = []
    if dp is not None:
        chain.append(DPFedAvg(dp))
    if k_clients > 1:
        chain.append(SecureAggregation(max_abs=float(np.abs(updates).max()) or 1.0))
    sent = []
    for k in range(n_clients):
        u, w = updates[k], float(batch)
        for post in chain:
            u, w = post.postprocess_one_user(u, client=k, weight=w, context=ctx)
        sent.append(u)
    deliveries: list[Delivery] = [wire.send(u, rng=rng) for u in sent]
    target = deliveries[0]
    view_ctx = ViewContext(
        n_values=start.size,
        encoding_bits=bits,
        header_max_abs=float(np.max(np.abs(sent[0]))),
    )
    if attacker == "server" and k_clients > 1:
        received = [d.received for d in deliveries]
        if any(r is None for r in received):
            observed = None
        else:
            agg, _ = chain[-1].postprocess_server(
                np.stack(received),  # type: ignore[arg-type]
                np.full(n_clients, float(batch)),
                clients=np.arange(n_clients),
                context=ctx,
            )
            observed = agg[0]
    else:
        observed = attacker_view(
            "server" if attacker == "server" else "eavesdropper", target, view_ctx
        )

    truth_x, truth_y = data.x_train[picks[0]], data.y_train[picks[0]]
    result: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "channel": channel,
        "attacker": attacker,
        "method": method,
        "batch": batch,
        "local_steps": local_steps,
        "secure_aggregation_clients": k_clients,
        "delivered": target.verdict.accepted,
        "detected": target.verdict.detected,
        "attacker_has_payload": observed is not None,
    }

    def attack(update: npt.NDArray[np.float32] | None) -> dict[str, Any]:
        return attack_metrics(
            net,
            update,
            start=start,
            truth_x=truth_x,
            truth_y=truth_y,
            method=method,
            lr=lr,
            bounds=bounds,
            num_classes=data.num_classes,
            iterations=iterations,
            rng=rng,
        )

    metrics = attack(observed)
    baseline = noise_baseline(
        attack,
        size=start.size,
        bits=bits,
        max_abs=view_ctx.header_max_abs,
        draws=baseline_draws,
        rng=np.random.default_rng([seed, 1]),
    )
    result.update(metrics)
    result.update({f"baseline_{k}": v for k, v in baseline.items()})
    guess = random_baseline(
        truth_x,
        truth_y,
        low=bounds[0],
        high=bounds[1],
        num_classes=data.num_classes,
        rng=np.random.default_rng([seed, 2]),
    )
    result["uniform_guess_psnr_db"] = guess["psnr_db"]
    if dp is not None:
        result["epsilon"] = dp.epsilon(rounds=1, sample_rate=1.0)
    return result
