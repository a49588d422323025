"""The :class:`Dataset` record every loader returns.

A data set is held in memory as four numpy arrays with one fixed convention, whatever its
file format: images ``float32`` shaped ``(N, C, H, W)`` (channels first, as torch expects),
labels ``int64`` in ``0..num_classes-1``. How the pixels are normalised is fixed by each
loader and documented there (:mod:`qtfl.data.digits`, :mod:`qtfl.data.idx`,
:mod:`qtfl.data.cifar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Dataset:
    """A labelled data set split into train and test: classification or regression.

    Attributes:
        name: registry name (``"digits"``, ``"mnist"``...).
        x_train: ``float32`` images ``(N_train, C, H, W)``, normalised by the loader.
        y_train: ``int64`` labels ``(N_train,)`` in ``0..num_classes-1``.
        x_test: ``float32`` images ``(N_test, C, H, W)``, normalised like ``x_train``.
        y_test: ``int64`` labels ``(N_test,)``.
        num_classes: number of classes; for regression, the number of target values.
        task: ``"classification"`` (``y`` int64 labels) or ``"regression"`` (``y`` float32
            targets ``(N, num_classes)``; the FL engine then trains with the mean squared
            error and reports R², :mod:`qtfl.fl.engine`).
        groups_train: optional ``int64 (N_train,)`` group of every training example (the
            QDataSet noise profile), for partitions by group
            (:func:`qtfl.data.qdataset_tasks.partition_by_group`).
        group_names: the name of each group index.
    """

    name: str
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]
    num_classes: int
    task: Literal["classification", "regression"] = "classification"
    groups_train: npt.NDArray[np.int64] | None = None
    group_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Loader bugs, not user errors: a loader must hand over the documented layout.
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if x.dtype != np.float32 or x.ndim != 4:
                raise ValueError(
                    f"{self.name}: x_{split} must be float32 (N, C, H, W), got {x.dtype} {x.shape}"
                )
            if self.task == "regression":
                if y.dtype != np.float32 or y.shape != (x.shape[0], self.num_classes):
                    raise ValueError(
                        f"{self.name}: y_{split} must be float32 "
                        f"({x.shape[0]}, {self.num_classes}), got {y.dtype} {y.shape}"
                    )
                continue
            if y.dtype != np.int64 or y.shape != (x.shape[0],):
                raise ValueError(
                    f"{self.name}: y_{split} must be int64 ({x.shape[0]},), got {y.dtype} {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"{self.name}: y_{split} outside 0..{self.num_classes - 1}")
        if self.groups_train is not None and self.groups_train.shape != (self.num_train,):
            raise ValueError(f"{self.name}: groups_train must have one entry per example")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"{self.name}: train images {self.x_train.shape[1:]} and test "
                f"images {self.x_test.shape[1:]} differ in shape"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(C, H, W)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test examples."""
        return int(self.x_test.shape[0])
