"""Data sets for the FL engine: in-memory ``(N, C, H, W)`` float32 images, int64 labels.

``load_dataset(name, root=...)`` is the one entry point; :data:`DATASETS` lists the names.
"""

from qtfl.data.cifar import load_cifar10
from qtfl.data.dataset import Dataset
from qtfl.data.digits import load_digits
from qtfl.data.download import fetch, verify_checksum
from qtfl.data.idx import load_fashion_mnist, load_mnist, read_idx
from qtfl.data.registry import DATASETS, DatasetStatus, dataset_status, load_dataset
from qtfl.data.sources import FETCHABLE, data_root, fetch_dataset

__all__ = [
    "DATASETS",
    "FETCHABLE",
    "Dataset",
    "DatasetStatus",
    "data_root",
    "dataset_status",
    "fetch",
    "fetch_dataset",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "verify_checksum",
]
