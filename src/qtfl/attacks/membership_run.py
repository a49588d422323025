"""One membership-inference experiment end to end: federated training, then the attack.

:func:`membership_assessment` is the library behind ``qtfl privacy membership``. It trains a
federation with :class:`~qtfl.fl.engine.FederatedSimulation` on ``train_examples`` training
examples (few, so the model can memorise them) with the chosen defences as engine
post-processors, then attacks

* ``target="global"``: the final global model — public to every participant, whatever the
  channel; members are the training examples, non-members held-out test examples;
* ``target="client"``: one client's next update as the honest-but-curious server decodes
  it (with masking: only the aggregate of all clients' masked updates); members are that
  client's examples.

The test set is split in two halves: the attacker's reference population (LiRA's "out"
distribution) and the non-members scored. Members and non-members are balanced.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from qtfl.attacks.assessment import client_update
from qtfl.attacks.membership import ATTACKS, evaluate_attack, membership_scores
from qtfl.errors import require_choice, require_int, require_range
from qtfl.fl.privacy import DPSettings, RoundContext, SecureAggregation, make_postprocessors

TARGETS: tuple[str, ...] = ("global", "client")


def membership_assessment(
    *,
    dataset: str = "digits",
    model: str = "mlp",
    hidden: int = 64,
    target: str = "global",
    attack: str = "lira",
    num_clients: int = 10,
    train_examples: int = 300,
    rounds: int = 20,
    fraction: float = 1.0,
    local_epochs: int = 5,
    batch_size: int = 10,
    lr: float = 0.2,
    dp: DPSettings | None = None,
    secure_aggregation: bool = False,
    root: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train, attack, report ``auc`` and ``tpr_at_1pct_fpr`` of ``attack`` (and of both)."""
    from qtfl.channel import PlainChannel
    from qtfl.data import load_dataset
    from qtfl.fl.client import LocalTraining
    from qtfl.fl.engine import FederatedSimulation, SimulationSettings
    from qtfl.fl.strategies import FedAvg
    from qtfl.models.registry import build_model

    torch.set_num_threads(1)
    require_choice("membership target", target, TARGETS)
    require_choice("membership attack", attack, ATTACKS)
    n_clients = require_int("num_clients", num_clients, low=1, high=100_000)
    require_range("fraction", fraction, low=0.0, high=1.0, low_open=True)
    require_int("rounds", rounds, low=1, high=100_000)
    require_int("local_epochs", local_epochs, low=1, high=1_000)
    require_int("hidden", hidden, low=1, high=8_192)
    data = load_dataset(dataset, root=root)
    n_train = require_int("train_examples", train_examples, low=n_clients, high=data.num_train)
    rng = np.random.default_rng(require_int("seed", seed, low=0))
    subset = rng.choice(data.num_train, size=n_train, replace=False)
    x, y = data.x_train[subset], data.y_train[subset]
    clients = np.array_split(rng.permutation(n_train).astype(np.int64), n_clients)
    net = build_model(
        model, input_shape=data.input_shape, num_classes=data.num_classes, hidden=hidden, seed=seed
    )
    training = LocalTraining(local_epochs=local_epochs, batch_size=batch_size, lr=lr)
    sim = FederatedSimulation(
        model=net,
        x_train=x,
        y_train=y,
        x_test=data.x_test,
        y_test=data.y_test,
        client_indices=clients,
        strategy=FedAvg(),
        uplink=PlainChannel(),
        downlink=PlainChannel(),
        training=training,
        settings=SimulationSettings(rounds=rounds, fraction=fraction),
        seed=seed,
        postprocessors=make_postprocessors(
            dp=dp, secure_aggregation=secure_aggregation, max_abs=4.0
        ),
    )
    for _ in range(rounds):
        sim.run_round()
    accuracy, _ = sim.evaluate()
    params = sim.global_params.astype(np.float64)

    order = rng.permutation(data.num_test)
    ref, out = order[: data.num_test // 2], order[data.num_test // 2 :]
    start = None
    if target == "global":
        members = np.arange(n_train)
    else:
        members = clients[0]
        start = params
        params = start + _server_view_of_client_update(
            net, start, x, y, clients, training, dp=dp, masked=secure_aggregation, seed=seed
        )
    k = min(members.size, out.size)
    members = rng.choice(members, size=k, replace=False)
    non_members = rng.choice(out, size=k, replace=False)
    cand_x = np.concatenate([x[members], data.x_test[non_members]])
    cand_y = np.concatenate([y[members], data.y_test[non_members]])
    scores = membership_scores(
        net,
        params,
        cand_x,
        cand_y,
        reference_x=data.x_test[ref],
        reference_y=data.y_test[ref],
        start_params=start,
    )
    per_attack = {name: evaluate_attack(s[:k], s[k:]) for name, s in scores.items()}
    result: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "target": target,
        "attack": attack,
        "members": k,
        "non_members": k,
        **per_attack[attack],
        "test_accuracy": accuracy,
        "attacks": per_attack,
        "secure_aggregation": secure_aggregation,
    }
    if dp is not None:
        result["epsilon"] = dp.epsilon(rounds=rounds, sample_rate=fraction)
        result["delta"] = 1e-5
    return result


def _server_view_of_client_update(
    net: torch.nn.Module,
    start: npt.NDArray[np.float64],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    clients: list[npt.NDArray[np.int64]],
    training: Any,
    *,
    dp: DPSettings | None,
    masked: bool,
    seed: int,
) -> npt.NDArray[np.float64]:
    """Client 0's next update as the server decodes it (the aggregate when masked)."""
    from qtfl.fl.privacy import DPFedAvg

    cohort = np.arange(len(clients)) if masked else np.zeros(1, np.int64)
    weights = np.array([float(len(clients[k])) for k in cohort])
    ctx = RoundContext(
        round=10**6, cohort=cohort, cohort_weights=weights, rng=np.random.default_rng(seed)
    )
    chain: list[Any] = [DPFedAvg(dp)] if dp is not None else []
    if masked:
        chain.append(SecureAggregation(max_abs=4.0))
    rows = []
    for k, w in zip(cohort.tolist(), weights.tolist(), strict=True):
        ix = clients[k]
        steps = training.local_epochs * max(1, math.ceil(ix.size / training.batch_size))
        u = client_update(
            net, start.astype(np.float32), x[ix], y[ix], lr=training.lr, local_steps=steps
        )
        for post in chain:
            u, w = post.postprocess_one_user(u, client=k, weight=w, context=ctx)
        rows.append(u)
    updates = np.stack(rows)
    if masked:
        agg, _ = chain[-1].postprocess_server(updates, weights, clients=cohort, context=ctx)
        return agg[0].astype(np.float64)
    return updates[0].astype(np.float64)
