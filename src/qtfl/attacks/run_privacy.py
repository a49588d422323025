"""The privacy part of an end-to-end run: attack each scenario where its attackers stand.

After a scenario has trained, :func:`assess_simulation` takes its final global model and

* **inversion**: every client computes a one-example, one-step update from the global
  model, passes it through the scenario's privacy post-processors and its own uplink
  Channel (in the round after the last trained; keyed link samples where the simulation
  keys its uplinks, so a Flower run, whose nodes send these updates through their sending
  ends, gives the same deliveries); the eavesdropper attacks the target client's
  ``Delivery.tap`` (the first eavesdropped client of the scenario, else client 0) and the
  honest-but-curious server attacks what it decodes for that client — with secure
  aggregation only the unmasked aggregate of all clients. Each attack is scored against the
  target's example and against the same attack on uniform random codes
  (``baseline_psnr_db``);
* **membership**: loss-threshold and shadow-free LiRA against the final global model
  (members: up to 200 training examples; non-members and the reference population: the
  two halves of the test set).

Methods the model cannot support (analytic recovery without a fully connected first layer)
are reported as ``unsupported`` with the reason instead of failing the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qtfl.attacks.assessment import attack_metrics, client_update, noise_baseline
from qtfl.attacks.membership import evaluate_attack, membership_scores
from qtfl.attacks.views import ViewContext, attacker_view
from qtfl.channel.base import Delivery, FloatVector
from qtfl.errors import InputError
from qtfl.fl.engine import FederatedSimulation
from qtfl.fl.privacy import Reveal, RoundContext, SecureAggregation, Unmask

Deliver = Callable[[RoundContext, list[FloatVector]], "Probes"]
"""``(context, updates) -> Probes``: client ``k``'s honest probe ``updates[k]`` after the
scenario's post-processors (with ``context``: the round after the last trained, every
client in the cohort, equal weights) through its uplink."""


@dataclass(frozen=True)
class Probes:
    """What the probes became: each client's Delivery and the largest magnitude of what it
    sent (the teleportation header's scale, which the attackers are given)."""

    deliveries: list[Delivery]
    sent_max_abs: list[float]


def deliver_in_process(sim: FederatedSimulation, rng: np.random.Generator) -> Deliver:
    """Every client's probe through the post-processors and its own uplink Channel in this
    process; keyed link samples when the simulation keys its uplinks (as the Flower engines
    draw them), else ``rng``. Flower runs instead post-process and send each probe on the
    client node that holds the client's keys (:meth:`qtfl.flower.server.ChannelStrategy.
    deliver`)."""

    def deliver(ctx: RoundContext, updates: list[FloatVector]) -> Probes:
        keyed = sim.uplink_rng
        sent = []
        for k, u in enumerate(updates):
            w = 1.0
            for post in sim.postprocessors:
                u, w = post.postprocess_one_user(u, client=k, weight=w, context=ctx)
            sent.append(u)
        deliveries = [
            sim.uplink(k).send(u, rng=rng if keyed is None else keyed(ctx.round, k))
            for k, u in enumerate(sent)
        ]
        return Probes(deliveries, [float(np.max(np.abs(u))) for u in sent])

    return deliver


def assess_simulation(
    sim: FederatedSimulation,
    *,
    methods: Sequence[str],
    membership: bool = True,
    target_client: int = 0,
    encoding_bits: int = 16,
    seed: int = 0,
    deliver: Deliver | None = None,
    reveal: Reveal | None = None,
    unmask: Unmask | None = None,
) -> dict[str, Any]:
    """Attack results of one trained scenario (see the module docstring).

    ``deliver`` post-processes the clients' probes and sends them through their uplinks
    (default: :func:`deliver_in_process`; the Flower server has each client node mask or
    noise its probe with its own keys and send it through its sending end, then decodes
    the wire, :mod:`qtfl.flower.server`). ``reveal`` / ``unmask``: how the server obtains
    the mask seeds survivors share with clients whose probe did not arrive, and SecAgg+'s
    shares and edge keys (``None``: this process holds every key).
    """
    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, 7_777])
    net = sim.model
    start = sim.global_params.astype(np.float32)
    x_all, y_all = sim.x_train.numpy(), sim.y_train.numpy()
    bounds = (float(x_all.min()), float(x_all.max()))
    lr = sim.training.lr
    n = sim.num_clients
    picks = [int(rng.choice(ix)) for ix in sim.client_indices]
    cohort = np.arange(n, dtype=np.int64)
    ctx = RoundContext(round=sim.round + 1, cohort=cohort, cohort_weights=np.ones(n), rng=rng)
    probes = []
    for k in range(n):
        one = slice(picks[k], picks[k] + 1)
        probes.append(client_update(net, start, x_all[one], y_all[one], lr=lr, local_steps=1))
    out_of = (deliver or deliver_in_process(sim, rng))(ctx, probes)
    deliveries = out_of.deliveries
    t = target_client
    view_ctx = ViewContext(
        n_values=start.size,
        encoding_bits=encoding_bits,
        header_max_abs=out_of.sent_max_abs[t],
    )
    server_ctx = dataclasses.replace(ctx, reveal=reveal, unmask=unmask)
    views = {
        "eavesdropper": attacker_view("eavesdropper", deliveries[t], view_ctx),
        "server": _server_view(sim, deliveries, server_ctx, t, view_ctx),
    }
    truth_x, truth_y = x_all[picks[t] : picks[t] + 1], y_all[picks[t] : picks[t] + 1]
    inversion: dict[str, Any] = {}
    for method in methods:
        for who, update in views.items():

            def attack(v: Any, method: str = method) -> dict[str, Any]:
                return attack_metrics(
                    net,
                    v,
                    start=start,
                    truth_x=truth_x,
                    truth_y=truth_y,
                    method=method,
                    lr=lr,
                    bounds=bounds,
                    num_classes=int(y_all.max()) + 1,
                    rng=rng,
                )

            try:
                m = attack(update)
                base = noise_baseline(
                    attack,
                    size=start.size,
                    bits=encoding_bits,
                    max_abs=view_ctx.header_max_abs,
                    draws=2,
                    rng=rng,
                )
            except InputError as exc:
                inversion[f"{who}/{method}"] = {"unsupported": str(exc)}
                continue
            inversion[f"{who}/{method}"] = {
                "attacker": who,
                "method": method,
                "held_payload": update is not None,
                "psnr_db": m["psnr_db"],
                "ssim": m["ssim"],
                "label_accuracy": m["label_accuracy"],
                "baseline_psnr_db": base["psnr_db"],
            }
    out: dict[str, Any] = {"target_client": t, "inversion": inversion}
    if membership:
        out["membership"] = _membership(sim, rng)
    return out


def _server_view(
    sim: FederatedSimulation,
    deliveries: list[Any],
    ctx: RoundContext,
    target: int,
    view_ctx: ViewContext,
) -> Any:
    masking = [p for p in sim.postprocessors if isinstance(p, SecureAggregation)]
    if not masking:
        return attacker_view("server", deliveries[target], view_ctx)
    ok = [k for k, d in enumerate(deliveries) if d.received is not None]
    if not ok:
        return None
    rows = np.stack([deliveries[k].received for k in ok])
    agg, _ = masking[0].postprocess_server(
        rows, np.ones(len(ok)), clients=np.asarray(ok, np.int64), context=ctx
    )
    return agg[0] if agg.shape[0] else None  # no valid masked row, or a seed withheld


def _membership(sim: FederatedSimulation, rng: np.random.Generator) -> dict[str, Any]:
    x_tr, y_tr = sim.x_train.numpy(), sim.y_train.numpy()
    x_te, y_te = sim.x_test.numpy(), sim.y_test.numpy()
    order = rng.permutation(len(y_te))
    ref, out = order[: len(y_te) // 2], order[len(y_te) // 2 :]
    k = min(200, len(out), len(y_tr))
    members = rng.choice(len(y_tr), size=k, replace=False)
    non = rng.choice(out, size=k, replace=False)
    scores = membership_scores(
        sim.model,
        sim.global_params,
        np.concatenate([x_tr[members], x_te[non]]),
        np.concatenate([y_tr[members], y_te[non]]),
        reference_x=x_te[ref],
        reference_y=y_te[ref],
    )
    return {"members": k, **{a: evaluate_attack(s[:k], s[k:]) for a, s in scores.items()}}


def privacy_tables(privacy: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Report tables (title -> rows) from the per-scenario results of a run summary."""
    inv, mem = [], []
    for scenario, res in privacy.items():
        for key, row in res.get("inversion", {}).items():
            if "unsupported" in row:
                who, method = key.split("/", 1)
                inv.append(
                    {
                        "scenario": scenario,
                        "attacker": who,
                        "method": method,
                        "psnr_db": None,
                        "note": row["unsupported"],
                    }
                )
                continue
            shown = {k: v for k, v in row.items() if k != "held_payload"}
            note = "" if row["held_payload"] else "nothing held"
            inv.append({"scenario": scenario, **shown, "note": note})
        m = res.get("membership")
        if m:
            for attack in ("loss", "lira"):
                mem.append(
                    {
                        "scenario": scenario,
                        "attack": attack,
                        **m[attack],
                        "epsilon": res.get("epsilon"),
                    }
                )
    return {
        "Gradient inversion of one client's one-example update": inv,
        "Membership inference against the final global model": mem,
    }
