"""Data sets by name: ``load_dataset("digits")`` and the list of names it accepts.

=================  ==========================================  ==========  =============
name               source                                      train/test  image
=================  ==========================================  ==========  =============
``digits``         scikit-learn's bundled 8x8 digits (default)  1,437/360   1x8x8, /16
``fashion-mnist``  IDX files: ``root`` or Debian package        60k/10k     1x28x28, /255
                   ``dataset-fashion-mnist``
``mnist``          IDX files: ``root`` (or download=True)       60k/10k     1x28x28, /255
``cifar10``        python or binary batches under ``root``      50k/10k     3x32x32, per-
                                                                            channel z-score
``digits-pca``     ``digits`` reduced to 8 principal components 1,437/360   1x1x8, z-score
``qdataset``       generated QDataSet sets and a task           per task    1x1xF, z-score
                   (:mod:`qtfl.data.qdataset_tasks`)
=================  ==========================================  ==========  =============
"""

from __future__ import annotations

from pathlib import Path

from qtfl.data.cifar import load_cifar10
from qtfl.data.dataset import Dataset
from qtfl.data.digits import load_digits
from qtfl.data.idx import load_fashion_mnist, load_mnist
from qtfl.data.qdataset_tasks import QDataSetTask, load_digits_pca, load_qdataset_task
from qtfl.errors import InputError, require_choice

DATASETS: tuple[str, ...] = (
    "digits",
    "fashion-mnist",
    "mnist",
    "cifar10",
    "digits-pca",
    "qdataset",
)
"""Names :func:`load_dataset` accepts."""


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    qdataset: QDataSetTask | None = None,
) -> Dataset:
    """Load the data set called ``name``.

    Args:
        name: one of :data:`DATASETS` (table in the module docstring).
        root: directory holding the data set's files; ignored by the bundled ``digits``;
            optional for ``fashion-mnist`` (Debian's package is the fallback) and ``mnist``
            (default: the per-user cache ``~/.cache/qtfl/mnist``); required for ``cifar10``.
        download: ``mnist`` only — fetch missing files from a mirror and verify their MD5.
        qdataset: ``qdataset`` only — which sets to generate and the task (default:
            :class:`~qtfl.data.qdataset_tasks.QDataSetTask()`, characterisation on
            ``G_1q_XZ_N1``).

    Raises:
        InputError: unknown name (the message lists :data:`DATASETS`), ``download`` for a
            data set that cannot be downloaded, or the files are missing or malformed (the
            message says how to get them).
    """
    require_choice("data set", name, DATASETS)
    if download and name != "mnist":
        raise InputError(f"download=True is supported for mnist only, not {name!r}")
    if qdataset is not None and name != "qdataset":
        raise InputError(f"qdataset options apply to data set 'qdataset' only, not {name!r}")
    if name == "digits":
        return load_digits()
    if name == "digits-pca":
        return load_digits_pca()
    if name == "qdataset":
        return load_qdataset_task(qdataset or QDataSetTask())
    if name == "fashion-mnist":
        return load_fashion_mnist(root=root)
    if name == "mnist":
        return load_mnist(root=root, download=download)
    return load_cifar10(root=root)
