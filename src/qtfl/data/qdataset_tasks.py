"""Learning tasks on QDataSet data, the partition by noise profile, and PCA-reduced digits.

Tasks (:data:`QDATASET_TASKS`), built from one or more generated QDataSet sets
(:func:`qtfl.data.qdataset.generate_qdataset`), every example tagged with its set's index as
its *group* (for QDataSet: its noise profile):

``characterisation``
    The paper's characterisation task (Perrier, Youssry & Ferrie, Sci. Data 9:582, 2022, its
    machine-learning example: the grey-box model of Youssry, Chapman, Ferrie & Paz, npj
    Quantum Inf. 6:95, 2020): predict the 18 (one qubit) or 540 (two qubits) noise-averaged
    Pauli expectation values of an example. Inputs (``features="all"``): the control pulse
    parameters — amplitude and centre of every pulse on every axis (the width is the same
    for all pulses and is left out) — and the grey-box model's white-box part, the
    noiseless expectations :math:`\\mathrm{tr}(O\\,U_c ρ U_c^\\dagger)` that the known
    control Hamiltonian gives for the same pulses
    (:meth:`~qtfl.data.qdataset.QDataSet.control_expectations`); the model has to learn
    what the noise (V_O) does to them. ``features="pulses"`` gives the pulse parameters
    alone (the black-box formulation: at the sizes we tried no model learns it, R² ≈ 0;
    docs/guide/datasets.md). Regression, float32 targets in [-1, 1]; the FL engine trains it
    with the mean squared error and reports R² (metric ``r2``).
``classification``
    Noise-profile classification: from the pulse parameters, the measured expectation
    values and the purity of every evolved state, :math:`\\mathrm{tr}\\,ρ^2 =
    (1 + \\sum_P \\langle P\\rangle^2)/d` (a function of the same expectations: noise
    shows as lost purity, which a small model does not find by itself from the raw values),
    say which set (noise profile) an example came from; label = set index. Needs two or
    more sets with the same controls, e.g. ``G_1q_XZ_N0 .. G_1q_XZ_N4``. With
    ``features="purity"`` the inputs are the purities alone (6 or 36 values): few enough
    for one encoding block of a small VQC, which does not learn from all 34 inputs at the
    sizes we tried (docs: results/qdataset.md).

Inputs are z-scored with the training split's mean and standard deviation and shaped
``(N, 1, 1, F)`` so the image models and the VQC take them as they are. The train/test split
is a random permutation from the task's own seed (fixed per task, independent of the FL
run's seed, like the digits split).

Partition by noise profile (:func:`partition_by_group`): client ``k`` holds examples of group
``k mod G`` only, each group split evenly among its clients — naturally non-IID, since every
noise environment maps pulses to expectations differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from qtfl.data.dataset import Dataset
from qtfl.errors import InputError, require_choice, require_int, require_range

if TYPE_CHECKING:
    from qtfl.fl.partition import Partition

QDATASET_TASKS: tuple[str, ...] = ("characterisation", "classification")
QDATASET_FEATURES: tuple[str, ...] = ("all", "purity", "pulses")


@dataclass(frozen=True)
class QDataSetTask:
    """Which QDataSet sets to generate and which task to pose on them.

    Attributes:
        sets: QDataSet names (:data:`qtfl.data.qdataset.NAME_PATTERN`), one group each.
        task: one of :data:`QDATASET_TASKS`.
        examples: examples generated per set, >= 2.
        realisations: noise realisations K per example, >= 1.
        time_steps: M steps over T = 1 (even, >= 8).
        seed: seed of the generation and of the train/test split.
        test_fraction: share of every set held out for testing, in (0, 1).
        features: ``"all"`` (module docstring), ``"purity"`` (classification only: the
            purities of the evolved states alone) or ``"pulses"`` (characterisation only: the
            pulse parameters alone, the black-box formulation).
        evolution: ``"faithful"`` (the published generator's discretisation) or ``"exact"``
            (:func:`qtfl.data.qdataset.generate_qdataset`).
    """

    sets: tuple[str, ...] = ("G_1q_XZ_N1",)
    task: str = "characterisation"
    examples: int = 400
    realisations: int = 50
    time_steps: int = 1024
    seed: int = 0
    test_fraction: float = 0.2
    features: str = "all"
    evolution: str = "faithful"

    def __post_init__(self) -> None:
        require_choice("qdataset.task", self.task, QDATASET_TASKS)
        if not self.sets:
            raise InputError("qdataset.sets must name at least one QDataSet set")
        if self.task == "classification" and len(set(self.sets)) < 2:
            raise InputError(
                "qdataset.task 'classification' needs two or more different sets "
                "(one class per noise profile), e.g. [G_1q_XZ_N1, G_1q_XZ_N2]"
            )
        require_choice("qdataset.features", self.features, QDATASET_FEATURES)
        if self.features == "purity" and self.task != "classification":
            raise InputError("qdataset.features 'purity' applies to task 'classification' only")
        if self.features == "pulses" and self.task != "characterisation":
            raise InputError("qdataset.features 'pulses' applies to task 'characterisation' only")
        require_choice("qdataset.evolution", self.evolution, ("faithful", "exact"))
        require_int("qdataset.examples", self.examples, low=2)
        require_int("qdataset.realisations", self.realisations, low=1)
        require_int("qdataset.seed", self.seed, low=0)
        require_range(
            "qdataset.test_fraction", self.test_fraction, low=0, high=1, low_open=True,
            high_open=True,
        )  # fmt: skip


def load_qdataset_task(task: QDataSetTask) -> Dataset:
    """Generate ``task.sets`` and pose ``task.task`` on them (module docstring)."""
    from qtfl.data.qdataset import generate_qdataset, parse_name

    specs = [parse_name(s) for s in task.sets]
    if len({(s.qubits, s.controls) for s in specs}) > 1:
        raise InputError(
            "qdataset.sets must share qubits and controls (same input features), got "
            + ", ".join(s.name for s in specs)
        )
    xs, ys, groups = [], [], []
    for j, name in enumerate(task.sets):
        child = int(np.random.SeedSequence(task.seed, spawn_key=(j,)).generate_state(1)[0])
        q = generate_qdataset(
            name,
            examples=task.examples,
            realisations=task.realisations,
            seed=child,
            time_steps=task.time_steps,
            evolution=task.evolution,
        )
        pulse = q.pulse_parameters[..., :2].reshape(q.examples, -1)  # amplitude, centre
        expect = q.expectation_vector()
        if task.task == "characterisation":
            control = q.control_expectations().reshape(q.examples, -1)
            xs.append(pulse if task.features == "pulses" else np.hstack([pulse, control]))
        else:
            purity = (1 + np.square(q.expectations).sum(axis=-1)) / 2**q.spec.qubits
            xs.append(purity if task.features == "purity" else np.hstack([pulse, expect, purity]))
        ys.append(expect)
        groups.append(np.full(q.examples, j, dtype=np.int64))
    x, y, g = np.vstack(xs), np.vstack(ys), np.concatenate(groups)
    rng = np.random.default_rng(np.random.SeedSequence(task.seed, spawn_key=(1 << 20,)))
    test = np.zeros(len(g), dtype=bool)
    for j in range(len(task.sets)):  # the same share of every group in the test split
        members = np.flatnonzero(g == j)
        n_test = max(1, round(task.test_fraction * len(members)))
        test[rng.choice(members, size=n_test, replace=False)] = True
    x_train, x_test = _zscore(x[~test], x[test])
    if task.task == "characterisation":
        targets = (y[~test].astype(np.float32), y[test].astype(np.float32))
        n_out = y.shape[1]
    else:
        targets = (g[~test], g[test])  # type: ignore[assignment]
        n_out = len(task.sets)
    return Dataset(
        name="qdataset",
        x_train=x_train,
        y_train=cast(npt.NDArray[np.int64], targets[0]),
        x_test=x_test,
        y_test=cast(npt.NDArray[np.int64], targets[1]),
        num_classes=n_out,
        task="regression" if task.task == "characterisation" else "classification",
        groups_train=g[~test],
        group_names=tuple(s.noise_label for s in specs),
    )


def _zscore(
    train: npt.NDArray[np.float64], test: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    out = [((a - mean) / std).astype(np.float32)[:, None, None, :] for a in (train, test)]
    return np.ascontiguousarray(out[0]), np.ascontiguousarray(out[1])


def partition_by_group(
    groups: npt.ArrayLike, num_clients: int, *, rng: np.random.Generator
) -> Partition:
    """Clients by group: client ``k`` holds only group ``k mod G``, split evenly and at random.

    With fewer clients than groups, client ``k`` takes every group ``g`` with
    ``g mod num_clients == k``. Returns a :class:`qtfl.fl.partition.Partition` whose
    ``label_histograms`` count groups.
    """
    from qtfl.fl.partition import Partition

    g = np.asarray(groups, dtype=np.int64)
    k = require_int("data.num_clients", num_clients, low=1, high=max(1, g.size))
    n_groups = int(g.max()) + 1 if g.size else 0
    owner = np.empty(g.size, dtype=np.int64)
    for j in range(n_groups):
        members = rng.permutation(np.flatnonzero(g == j))
        clients = np.arange(j % k, k, n_groups) if k >= n_groups else np.array([j % k])
        if len(members) < len(clients):
            raise InputError(
                f"group {j} has {len(members)} examples for {len(clients)} clients; "
                "use fewer clients or more examples"
            )
        for part, c in zip(np.array_split(members, len(clients)), clients, strict=True):
            owner[part] = c
    indices = tuple(np.flatnonzero(owner == c) for c in range(k))
    hist = np.zeros((k, max(1, n_groups)), dtype=np.int64)
    np.add.at(hist, (owner, g), 1)
    return Partition(
        indices=indices, sizes=np.array([len(i) for i in indices], np.int64), label_histograms=hist
    )


def load_digits_pca(components: int = 8) -> Dataset:
    """The 8x8 digits reduced to ``components`` principal components, z-scored.

    PCA and z-scoring are fitted on the fixed training split (:mod:`qtfl.data.digits`) and
    applied to both splits; shape ``(N, 1, 1, components)``: small enough for a VQC with one
    qubit per component.
    """
    from sklearn.decomposition import PCA

    from qtfl.data.digits import load_digits

    require_int("components", components, low=1, high=64)
    ds = load_digits()
    pca = PCA(n_components=components, random_state=0)
    train = pca.fit_transform(ds.x_train.reshape(ds.num_train, -1))
    test = pca.transform(ds.x_test.reshape(ds.num_test, -1))
    x_train, x_test = _zscore(train, test)
    return Dataset(
        name="digits-pca",
        x_train=x_train,
        y_train=ds.y_train,
        x_test=x_test,
        y_test=ds.y_test,
        num_classes=10,
    )
