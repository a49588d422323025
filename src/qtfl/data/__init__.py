"""Data sets for the FL engine: in-memory ``(N, C, H, W)`` float32 images, int64 labels."""

from qtfl.data.dataset import Dataset
from qtfl.data.digits import load_digits
from qtfl.data.registry import DATASETS, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset", "load_digits"]
