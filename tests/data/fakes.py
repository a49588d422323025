"""Writers of small data files in the real formats, for the loader tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

IDX_TYPE = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
            np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}  # fmt: skip


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file: magic, big-endian dims, big-endian data."""
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, IDX_TYPE[big.dtype], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + big.tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_dir(
    directory: Path,
    rng: np.random.Generator,
    *,
    n_train: int = 30,
    n_test: int = 12,
    gz: bool = True,
) -> dict[str, np.ndarray]:
    """Write the four MNIST-format files of a random 28x28 data set; return the arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array, gz=gz)
    return arrays


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_arrays(rng: np.random.Generator, *, per_batch: int = 6) -> dict[str, tuple]:
    """Random uint8 (N, 3072) data and labels for the six CIFAR-10 batches."""
    return {
        name: (
            rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            rng.integers(0, 10, per_batch).astype(int).tolist(),
        )
        for name in CIFAR_BATCHES
    }


def write_cifar_python(directory: Path, arrays: dict[str, tuple]) -> None:
    """The python format: pickled dicts with b"data", b"labels" (protocol 2, as shipped)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in arrays.items():
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * len(labels)}  # fmt: skip
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar_binary(directory: Path, arrays: dict[str, tuple]) -> None:
    """The binary format: records of one label byte then 3072 pixel bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in arrays.items():
        records = np.concatenate([np.asarray(labels, np.uint8)[:, None], data], axis=1)
        (directory / f"{name}.bin").write_bytes(records.tobytes())
