"""Split a training set among federated clients: IID, Dirichlet label skew, label shards.

Every scheme assigns each training example to exactly one client (the client index sets are
disjoint and their union is the whole training set), is vectorised over examples, and is a
pure function of ``(labels, num_clients, options, rng)``: the same generator state gives the
same partition.

Schemes:

``iid``
    A uniform random permutation cut into ``num_clients`` contiguous pieces; sizes differ by
    at most one (``numpy.array_split``).

``dirichlet``
    Label skew after Hsu, Qi & Brown, "Measuring the effects of non-identical data
    distribution for federated visual classification" (arXiv:1909.06335, 2019), as used in
    NIID-Bench (Li et al., ICDE 2022): for every class ``c`` draw client proportions
    ``p_c ~ Dir(alpha * 1_K)`` and give client ``k`` the share ``p_{c,k}`` of class ``c``
    (cut points ``floor(n_c * cumsum(p_c))`` over a random order of the class). Small
    ``alpha`` concentrates each class on few clients; ``alpha -> inf`` tends to IID.
    Tiny clients: the whole draw is repeated (from the same generator, so still
    deterministic) until every client holds at least ``min_size`` examples, at most
    ``max_draws`` times; if no draw qualifies, the last one is repaired by moving the
    missing examples from the currently largest clients (a deterministic rule), so very
    small ``alpha`` still yields a partition.

``shards``
    The pathological non-IID split of McMahan et al., "Communication-efficient learning of
    deep networks from decentralized data" (AISTATS 2017): order the examples by label
    (ties in random order), cut into ``num_clients * shards_per_client`` shards of
    near-equal size, deal the shards out at random, ``shards_per_client`` to each client.
    With the default of two shards each client sees about two classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range

PARTITION_SCHEMES: tuple[str, ...] = ("iid", "dirichlet", "shards")
"""Names accepted by :func:`partition`'s ``scheme``."""

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Partition:
    """Which training examples each client holds.

    Attributes:
        indices: per client, sorted ``int64`` indices into the training set; disjoint.
        sizes: ``int64`` ``(clients,)`` examples per client.
        label_histograms: ``int64`` ``(clients, num_classes)`` examples of each class per
            client.
    """

    indices: tuple[IntArray, ...]
    sizes: IntArray
    label_histograms: IntArray

    @property
    def num_clients(self) -> int:
        """Number of clients."""
        return len(self.indices)

    @property
    def num_classes(self) -> int:
        """Number of classes (columns of :attr:`label_histograms`)."""
        return int(self.label_histograms.shape[1])

    def classes_per_client(self) -> IntArray:
        """Number of distinct labels each client holds."""
        return np.count_nonzero(self.label_histograms, axis=1).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """JSON-ready report: per-client sizes, label histograms and distinct classes."""
        return {
            "num_clients": self.num_clients,
            "num_classes": self.num_classes,
            "sizes": self.sizes.tolist(),
            "label_histograms": self.label_histograms.tolist(),
            "classes_per_client": self.classes_per_client().tolist(),
        }


def partition(
    labels: npt.ArrayLike,
    num_clients: int,
    *,
    scheme: str = "iid",
    alpha: float = 0.5,
    shards_per_client: int = 2,
    num_classes: int | None = None,
    min_size: int = 1,
    max_draws: int = 100,
    rng: np.random.Generator,
) -> Partition:
    """Assign every training example to one of ``num_clients`` clients.

    Args:
        labels: integer class labels of the training set, shape ``(N,)``.
        num_clients: number of clients, ``1 <= num_clients <= N``.
        scheme: one of :data:`PARTITION_SCHEMES` (see the module docstring).
        alpha: Dirichlet concentration, ``> 0`` (``dirichlet`` only).
        shards_per_client: shards dealt to each client (``shards`` only); needs
            ``num_clients * shards_per_client <= N``.
        num_classes: number of classes; default ``max(labels) + 1``.
        min_size: smallest client the ``dirichlet`` scheme accepts (``iid`` and ``shards``
            are near-equal by construction); ``1 <= min_size <= N // num_clients``.
        max_draws: Dirichlet draws tried before repairing the last one.
        rng: the generator every random choice comes from.

    Returns:
        The :class:`Partition`.

    Raises:
        InputError: unknown scheme, ``num_clients <= 0``, more clients than examples,
            ``alpha <= 0``, labels not integers in ``0..num_classes-1``, or options out of
            range; each message names the value and what is allowed.
    """
    y = _validate_labels(labels)
    n = int(y.size)
    require_choice("partition scheme", scheme, PARTITION_SCHEMES)
    k = require_int("num_clients", num_clients, low=1)
    if k > n:
        raise InputError(
            f"num_clients must be at most the number of training examples ({n}), got {k}"
        )
    if num_classes is None:
        c = int(y.max()) + 1
    else:
        c = require_int("num_classes", num_classes, low=1)
        if int(y.max()) >= c:
            raise InputError(
                f"labels must lie in 0..num_classes-1 = 0..{c - 1}, found label {int(y.max())}"
            )

    if scheme == "iid":
        owner = _iid(n, k, rng)
    elif scheme == "dirichlet":
        a = require_range("alpha", alpha, low=0.0, low_open=True)
        m = require_int("min_size", min_size, low=1, high=n // k)
        draws = require_int("max_draws", max_draws, low=1)
        owner = _dirichlet(y, k, c, a, m, draws, rng)
    else:
        s = require_int("shards_per_client", shards_per_client, low=1)
        if k * s > n:
            raise InputError(
                f"num_clients * shards_per_client must be at most the number of training "
                f"examples ({n}), got {k} * {s} = {k * s}"
            )
        owner = _shards(y, k, s, rng)
    return _from_owner(owner, y, k, c)


def _validate_labels(labels: npt.ArrayLike) -> IntArray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be integers, got dtype {y.dtype}")
    if int(y.min()) < 0:
        raise InputError(f"labels must be >= 0, found {int(y.min())}")
    return y.astype(np.int64, copy=False)


def _from_owner(owner: IntArray, y: IntArray, k: int, c: int) -> Partition:
    """Group example indices by owning client (stable, so each client's list is sorted)."""
    order = np.argsort(owner, kind="stable")
    sizes = np.bincount(owner, minlength=k).astype(np.int64)
    indices = tuple(np.split(order.astype(np.int64), np.cumsum(sizes)[:-1]))
    hist = np.bincount(owner * c + y, minlength=k * c).reshape(k, c).astype(np.int64)
    return Partition(indices=indices, sizes=sizes, label_histograms=hist)


def _iid(n: int, k: int, rng: np.random.Generator) -> IntArray:
    perm = rng.permutation(n)
    owner = np.empty(n, dtype=np.int64)
    # array_split sizes: the first n % k clients get one extra example.
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    owner[perm] = np.repeat(np.arange(k, dtype=np.int64), sizes)
    return owner


def _class_order(y: IntArray, rng: np.random.Generator) -> IntArray:
    """Example indices grouped by label, random order inside each class."""
    perm = rng.permutation(y.size)
    return perm[np.argsort(y[perm], kind="stable")]


def _dirichlet(
    y: IntArray,
    k: int,
    c: int,
    alpha: float,
    min_size: int,
    max_draws: int,
    rng: np.random.Generator,
) -> IntArray:
    order = _class_order(y, rng)
    counts = np.bincount(y, minlength=c)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(y.size)
    owner_sorted = np.empty(y.size, dtype=np.int64)
    for _ in range(max_draws):
        props = rng.dirichlet(np.full(k, alpha), size=c)  # (classes, clients)
        # Start of client j's slice of class i: starts[i] + floor(n_i * sum_{l<j} p_il).
        cum = np.cumsum(props, axis=1) - props
        bounds = starts[:, None] + np.floor(counts[:, None] * cum).astype(np.int64)
        # side="right" skips empty slices (equal bounds) to the last one, which is non-empty.
        segment = np.searchsorted(bounds.ravel(), position, side="right") - 1
        owner_sorted = segment % k
        if np.bincount(owner_sorted, minlength=k).min() >= min_size:
            break
    else:
        owner_sorted = _repair(owner_sorted, k, min_size)
    owner = np.empty(y.size, dtype=np.int64)
    owner[order] = owner_sorted
    return owner


def _repair(owner: IntArray, k: int, min_size: int) -> IntArray:
    """Give every client ``min_size`` examples, taking them from the largest clients.

    Deterministic: clients short of examples are served in index order, each from the
    client that currently holds the most (lowest index on ties), taking its last examples
    in class order. One step per short client, not per example.
    """
    owner = owner.copy()
    sizes = np.bincount(owner, minlength=k)
    for client in np.flatnonzero(sizes < min_size):
        while sizes[client] < min_size:
            # Someone holds more than min_size while a client is short, since N >= K * min_size.
            donor = int(np.argmax(sizes))
            take = int(min(min_size - sizes[client], sizes[donor] - min_size))
            owner[np.flatnonzero(owner == donor)[-take:]] = client
            sizes[donor] -= take
            sizes[client] += take
    return owner


def _shards(y: IntArray, k: int, s: int, rng: np.random.Generator) -> IntArray:
    order = _class_order(y, rng)
    n_shards = k * s
    shard_sizes = np.full(n_shards, y.size // n_shards, dtype=np.int64)
    shard_sizes[: y.size % n_shards] += 1
    shard_of_position = np.repeat(np.arange(n_shards, dtype=np.int64), shard_sizes)
    # Deal: a random permutation of shard ids, read s at a time per client.
    client_of_shard = np.empty(n_shards, dtype=np.int64)
    client_of_shard[rng.permutation(n_shards)] = np.arange(n_shards, dtype=np.int64) // s
    owner = np.empty(y.size, dtype=np.int64)
    owner[order] = client_of_shard[shard_of_position]
    return owner
