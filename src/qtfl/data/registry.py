"""Data sets by name: ``load_dataset("digits")`` and the list of names it accepts.

=================  ============================================  ==========  =============
name               source                                        train/test  image
=================  ============================================  ==========  =============
``digits``         scikit-learn's bundled 8x8 digits (default)   1,437/360   1x8x8, /16
``fashion-mnist``  IDX files: ``root``, the cache or Debian's     60k/10k     1x28x28, /255
                   ``dataset-fashion-mnist``
``mnist``          IDX files: ``root`` or the cache              60k/10k     1x28x28, /255
``cifar10``        python or binary batches: ``root``/cache      50k/10k     3x32x32, per-
                                                                             channel z-score
``digits-pca``     ``digits`` reduced to 8 principal components  1,437/360   1x1x8, z-score
``qdataset``       generated QDataSet sets and a task            per task    1x1xF, z-score
                   (:mod:`qtfl.data.qdataset_tasks`)
=================  ============================================  ==========  =============

The cache is the directory ``qtfl data fetch NAME`` fills (:mod:`qtfl.data.sources`: ``--root``,
else ``$QTFL_DATA``, else the per-user cache); :func:`dataset_status` says which data sets are
present and how to fetch the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qtfl import registry
from qtfl.data.cifar import load_cifar10
from qtfl.data.dataset import Dataset
from qtfl.data.digits import load_digits
from qtfl.data.idx import load_fashion_mnist, load_mnist
from qtfl.data.qdataset_tasks import QDataSetTask, load_digits_pca, load_qdataset_task
from qtfl.errors import InputError, require_choice

DATASETS: tuple[str, ...] = registry.DATASETS
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
        root: directory holding the data set's files (default: the data cache,
            :func:`qtfl.data.sources.data_root`); ignored by the bundled ``digits``; for
            ``fashion-mnist`` Debian's package is the fallback.
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


@dataclass(frozen=True)
class DatasetStatus:
    """Whether a data set is available here and how to get it.

    Attributes:
        name: one of :data:`DATASETS`.
        present: its files are found (bundled and generated sets are always present).
        location: where they were found (``"bundled"``, ``"generated"`` or a directory).
        fetch_command: the command that fetches it (``None`` when nothing to fetch).
    """

    name: str
    present: bool
    location: str | None
    fetch_command: str | None


def dataset_status(*, root: str | Path | None = None) -> list[DatasetStatus]:
    """Every data set of :data:`DATASETS` with whether it is present under ``root``/the cache."""
    from qtfl.data.cifar import find_cifar10
    from qtfl.data.idx import DEBIAN_FASHION_MNIST_DIR, find_idx_files, idx_candidates
    from qtfl.data.sources import data_root, fetch_command

    out = []
    for name in DATASETS:
        location: str | None
        if name in ("digits", "digits-pca"):
            location, command = "bundled (scikit-learn)", None
        elif name == "qdataset":
            location, command = "generated on demand", None
        elif name == "cifar10":
            found = find_cifar10(root)
            location, command = (str(found[0]) if found else None), fetch_command(name)
        else:
            dirs = idx_candidates(name, data_root(root))
            if name == "fashion-mnist":
                dirs.append(DEBIAN_FASHION_MNIST_DIR)
            hit = next((d for d in dirs if find_idx_files(d) is not None), None)
            location, command = (str(hit) if hit else None), fetch_command(name)
        out.append(DatasetStatus(name, location is not None, location, command))
    return out
