r"""Poisoning: malicious clients that send crafted updates (model poisoning) or train on
crafted data (data poisoning), and the backdoor's attack success rate.

Model poisoning transforms a malicious client's honest update :math:`\Delta` before its uplink
(a post-processor with the engine's hooks, :mod:`qtfl.fl.privacy`):

* ``sign-flip`` — :math:`-s\,\Delta` (``scale`` s, boosted when s > 1; Damaskinos et al. 2018);
* ``scaling`` — :math:`s\,\Delta`, model replacement when s ≈ n / m (Bagdasaryan et al.,
  "How to backdoor federated learning", AISTATS 2020);
* ``gaussian`` — the update replaced by :math:`\mathcal N(0, \sigma^2 I)` (Fang et al. 2020);
* ``alie`` — "A little is enough" (Baruch, Baruch & Goldberg, NeurIPS 2019): the colluding
  clients compute the coordinate-wise mean :math:`\mu` and standard deviation :math:`\sigma`
  of their own honest updates and all send :math:`\mu - z\,\sigma`, with
  :math:`z = \Phi^{-1}\big((n - s)/n\big)`, :math:`s = \lfloor n/2 + 1\rfloor - m` for
  ``n`` clients in the round of which ``m`` are malicious — small enough per coordinate to
  pass median, trimmed mean and Krum, consistent enough to drag them. Needs >= 2 malicious
  clients in a round (with one, :math:`\sigma = 0` and the update is its honest one).

Data poisoning rewrites a malicious client's training examples before training
(:func:`poison_partition`; the honest data set is never modified — poisoned copies are
appended and the malicious clients' indices point at them):

* ``label-flip`` — every label ``y`` becomes ``C - 1 - y`` (Tolpegin et al., ESORICS 2020);
* ``backdoor`` — a ``poison_fraction`` of the client's examples get a square trigger patch
  (``trigger_size`` pixels of the data set's maximum value in the bottom-right corner of the
  last two axes) and the label ``target_label`` (Gu et al., "BadNets", 2017). Its attack
  success rate (:func:`backdoor_success_rate`) is the share of triggered test examples whose
  true label is not the target that the final model classifies as the target.

Randomness: the attacker's noise and choice of poisoned examples come from the experiment
seed (they are part of the science being reproduced), through the generator the caller
passes. With ``noise_seed`` (what the experiment runner passes), a ``gaussian`` attacker's
noise in round ``r`` is keyed by ``(r, client)`` instead of drawn in sequence, so it is the
same whichever process serves the client and in whatever order (the Flower engines).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from qtfl.errors import InputError, require_choice, require_int, require_range

FloatVector = npt.NDArray[np.float32]
UpdateMatrix = npt.NDArray[np.float32]

MODEL_ATTACKS = ("sign-flip", "scaling", "gaussian", "alie")
DATA_ATTACKS = ("label-flip", "backdoor")
POISONING_ATTACKS = MODEL_ATTACKS + DATA_ATTACKS


@dataclass(frozen=True)
class Adversary:
    """Malicious clients and their attack (see the module docstring for each attack)."""

    clients: tuple[int, ...]
    attack: str
    scale: float = 1.0
    sigma: float = 1.0
    z: float | None = None
    target_label: int = 0
    trigger_size: int = 2
    poison_fraction: float = 0.5

    def __post_init__(self) -> None:
        require_choice("adversaries.attack", self.attack, POISONING_ATTACKS)
        if not self.clients:
            raise InputError("adversaries.clients must name at least one client")
        require_range("adversaries.scale", self.scale, low=0.0, low_open=True, high=1e6)
        require_range("adversaries.sigma", self.sigma, low=0.0, low_open=True, high=1e6)
        if self.z is not None:
            require_range("adversaries.z", self.z, low=0.0, high=100.0)
        require_int("adversaries.target_label", self.target_label, low=0)
        require_int("adversaries.trigger_size", self.trigger_size, low=1, high=64)
        require_range(
            "adversaries.poison_fraction", self.poison_fraction, low=0.0, low_open=True, high=1.0
        )

    @property
    def kind(self) -> str:
        """``"model"`` or ``"data"`` poisoning."""
        return "model" if self.attack in MODEL_ATTACKS else "data"


def alie_z(num_clients: int, num_malicious: int) -> float:
    r""":math:`z^{max} = \Phi^{-1}((n - s)/n)` with :math:`s = \lfloor n/2 + 1\rfloor - m`
    (Baruch et al. 2019, Algorithm 3); 0 when the attackers are a majority."""
    n = require_int("clients", num_clients, low=1)
    m = require_int("malicious clients", num_malicious, low=0, high=n)
    s = math.floor(n / 2 + 1) - m
    return float(max(0.0, norm.ppf((n - s) / n))) if s > 0 else 0.0


def alie_update(honest: UpdateMatrix, z: float) -> FloatVector:
    r""":math:`\mu - z\sigma` of the rows of ``honest`` (population standard deviation)."""
    x = np.asarray(honest, dtype=np.float64)
    return (x.mean(axis=0) - z * x.std(axis=0)).astype(np.float32)


class ModelPoisoning:
    """The model-poisoning attacks as an engine post-processor.

    ``postprocess_cohort`` (called on each chunk of freshly trained updates) applies ALIE;
    ``postprocess_one_user`` the per-client attacks; the server hook passes through.

    Args:
        adversaries: the scenario's adversaries (data attacks are ignored here).
        rng: the generator of the attackers' noise (``gaussian``) when ``noise_seed`` is
            not given or the context carries no round.
        noise_seed: if given, client ``k``'s ``gaussian`` noise in round ``r`` comes from a
            generator of this seed sequence extended by ``(r, k)`` (order-free).
    """

    def __init__(
        self,
        adversaries: Sequence[Adversary],
        *,
        rng: np.random.Generator,
        noise_seed: np.random.SeedSequence | None = None,
    ) -> None:
        self._by_client: dict[int, Adversary] = {}
        for adv in adversaries:
            if adv.kind != "model":
                continue
            for k in adv.clients:
                self._by_client[int(k)] = adv
        self._rng = rng
        self._noise_seed = noise_seed

    @property
    def malicious(self) -> frozenset[int]:
        return frozenset(self._by_client)

    def postprocess_cohort(
        self, updates: UpdateMatrix, *, clients: npt.NDArray[np.int64], context: object
    ) -> UpdateMatrix:
        rows = [i for i, k in enumerate(clients.tolist()) if self._alie(k)]
        if len(rows) >= 2:
            updates[rows] = self.alie_from_pool(
                updates[rows], clients=clients[rows], cohort_size=len(clients)
            )
        return updates

    def colludes(self, client: int) -> bool:
        """True when ``client`` is an ALIE colluder (it pools its honest update)."""
        return self._alie(client)

    def alie_from_pool(
        self,
        pool: UpdateMatrix,
        *,
        clients: npt.NDArray[np.int64],
        cohort_size: int,
        client: int | None = None,
    ) -> FloatVector:
        """What the colluders send: ALIE of their pooled honest updates ``pool`` (rows of
        ``clients``, in sampled order) among ``cohort_size`` clients training together;
        with fewer than two colluders, ``client``'s honest update. One function for both
        engines (the Flower colluders compute it on their nodes, :mod:`qtfl.flower.collusion`).
        """
        if pool.shape[0] < 2:
            row = 0 if client is None else clients.tolist().index(int(client))
            return np.asarray(pool[row], np.float32)
        adv = self._by_client[int(clients[0])]
        z = adv.z if adv.z is not None else alie_z(cohort_size, pool.shape[0])
        return alie_update(pool, z)

    def postprocess_one_user(
        self, update: FloatVector, *, client: int, weight: float, context: object
    ) -> tuple[FloatVector, float]:
        adv = self._by_client.get(int(client))
        if adv is None or adv.attack == "alie":
            return update, weight
        if adv.attack == "sign-flip":
            return (-adv.scale * update).astype(np.float32), weight
        if adv.attack == "scaling":
            return (adv.scale * update).astype(np.float32), weight
        noise = self._noise_rng(client, context).normal(0.0, adv.sigma, size=update.shape)
        return noise.astype(np.float32), weight

    def _noise_rng(self, client: int, context: object) -> np.random.Generator:
        """The keyed generator of ``client``'s noise this round, else the sequential one."""
        round_ = getattr(context, "round", None)
        if self._noise_seed is None or round_ is None:
            return self._rng
        base = self._noise_seed
        keyed = np.random.SeedSequence(
            base.entropy, spawn_key=(*base.spawn_key, int(round_), int(client))
        )
        return np.random.default_rng(keyed)

    def postprocess_server(
        self,
        updates: UpdateMatrix,
        weights: npt.NDArray[np.float64],
        *,
        clients: npt.NDArray[np.int64],
        context: object,
    ) -> tuple[UpdateMatrix, npt.NDArray[np.float64]]:
        return updates, weights

    def _alie(self, client: int) -> bool:
        adv = self._by_client.get(int(client))
        return adv is not None and adv.attack == "alie"


def apply_trigger(
    x: npt.NDArray[np.float32], *, size: int, value: float
) -> npt.NDArray[np.float32]:
    """A copy of ``x`` (``(N, ..., H, W)``, or ``(N, D)`` with D a perfect square) with a
    ``size`` x ``size`` patch of ``value`` in the bottom-right corner."""
    out = np.array(x, dtype=np.float32, copy=True)
    if out.ndim == 2:
        side = math.isqrt(out.shape[1])
        if side * side != out.shape[1]:
            raise InputError(
                f"a backdoor trigger needs image inputs; got flat inputs of {out.shape[1]} "
                "values (not a square image)"
            )
        view = out.reshape(out.shape[0], side, side)
    else:
        view = out
    h, w = view.shape[-2], view.shape[-1]
    if size > min(h, w):
        raise InputError(f"adversaries.trigger_size {size} exceeds the image ({h}x{w})")
    view[..., h - size :, w - size :] = value
    return out


@dataclass(frozen=True)
class PoisonedData:
    """Training arrays with poisoned copies appended, and the clients' new indices."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    indices: list[npt.NDArray[np.int64]]
    trigger_value: float


def poison_partition(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    indices: Sequence[npt.NDArray[np.int64]],
    adversaries: Sequence[Adversary],
    *,
    num_classes: int,
    rng: np.random.Generator,
) -> PoisonedData:
    """Apply the data attacks of ``adversaries`` (see the module docstring)."""
    value = float(np.max(x)) if x.size else 1.0
    new_x: list[npt.NDArray[np.float32]] = [x]
    new_y: list[npt.NDArray[np.int64]] = [y]
    out_idx = [np.asarray(ix, dtype=np.int64) for ix in indices]
    top = x.shape[0]
    for adv in adversaries:
        if adv.kind != "data":
            continue
        if adv.attack == "backdoor" and adv.target_label >= num_classes:
            raise InputError(
                f"adversaries.target_label must be below the number of classes "
                f"({num_classes}), got {adv.target_label}"
            )
        for k in adv.clients:
            ix = out_idx[k]
            xs, ys = np.array(x[ix], copy=True), np.array(y[ix], copy=True)
            if adv.attack == "label-flip":
                ys = (num_classes - 1 - ys).astype(np.int64)
            else:
                count = max(1, round(adv.poison_fraction * len(ix)))
                chosen = np.sort(rng.choice(len(ix), size=min(count, len(ix)), replace=False))
                xs[chosen] = apply_trigger(xs[chosen], size=adv.trigger_size, value=value)
                ys[chosen] = adv.target_label
            new_x.append(xs)
            new_y.append(ys)
            out_idx[k] = np.arange(top, top + len(ix), dtype=np.int64)
            top += len(ix)
    return PoisonedData(
        x=np.concatenate(new_x) if len(new_x) > 1 else x,
        y=np.concatenate(new_y) if len(new_y) > 1 else y,
        indices=out_idx,
        trigger_value=value,
    )


def backdoor_success_rate(
    predict: Callable[[npt.NDArray[np.float32]], npt.ArrayLike],
    x_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    adversary: Adversary,
    *,
    trigger_value: float,
) -> float:
    """Share of triggered test examples (true label != target) predicted as the target.

    ``predict`` maps a float32 batch to predicted labels (``int`` array).
    """
    keep = y_test != adversary.target_label
    if not np.any(keep):
        raise InputError("no test example has a label other than the backdoor target")
    triggered = apply_trigger(x_test[keep], size=adversary.trigger_size, value=trigger_value)
    labels = np.asarray(predict(triggered))
    return float(np.mean(labels == adversary.target_label))
