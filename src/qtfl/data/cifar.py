"""CIFAR-10 from its distribution batches (python pickle or binary), in a user directory.

CIFAR-10 (Krizhevsky, "Learning multiple layers of features from tiny images", 2009;
https://www.cs.toronto.edu/~kriz/cifar.html): 50,000 training and 10,000 test 32x32 colour
images in 10 classes, shipped as five training batches and one test batch.

Formats read (the first found wins), under ``root`` (default: the data cache,
:func:`qtfl.data.sources.data_root`), ``root/cifar-10-batches-py``,
``root/cifar-10-batches-bin`` or ``root/cifar10/cifar-10-batches-py`` (where
``qtfl data fetch cifar10`` unpacks them):

* python: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a pickled dict with
  ``b"data"`` (uint8 ``(N, 3072)``: 1024 red, 1024 green, 1024 blue values, rows of 32) and
  ``b"labels"`` (N ints). Unpickling is restricted to plain containers and numpy arrays, so a
  doctored batch file cannot run code.
* binary: ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, records of
  1 label byte followed by the same 3072 pixel bytes.

Normalisation: pixels / 255, then per channel ``(x - mean_c) / std_c`` with the mean and
standard deviation of that channel over the *training* images (for the real data set about
mean (0.491, 0.482, 0.447), std (0.247, 0.244, 0.262)); the test images use the training
statistics. Shape ``(N, 3, 32, 32)``.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.data.dataset import Dataset
from qtfl.errors import InputError, short_repr

TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
"""Class names, label order."""

_PIXELS = 3 * 32 * 32
_SUBDIRS = (
    "",
    "cifar-10-batches-py",
    "cifar-10-batches-bin",
    "cifar10/cifar-10-batches-py",  # where `qtfl data fetch cifar10` unpacks them
)


def find_cifar10(root: str | Path | None = None) -> tuple[Path, str] | None:
    """The directory holding all six batches and their format (``"python"``/``"binary"``)."""
    from qtfl.data.sources import data_root

    base = data_root(root)
    for sub in _SUBDIRS:
        directory = base / sub if sub else base
        if all((directory / b).is_file() for b in (*TRAIN_BATCHES, TEST_BATCH)):
            return directory, "python"
        if all((directory / f"{b}.bin").is_file() for b in (*TRAIN_BATCHES, TEST_BATCH)):
            return directory, "binary"
    return None


def load_cifar10(*, root: str | Path | None = None) -> Dataset:
    """Load CIFAR-10 from the batches under ``root`` (see the module docstring).

    Raises:
        InputError: no batches under ``root`` (the message names the fetch command), or a
            batch file is malformed (the message names the file).
    """
    from qtfl.data.sources import data_root

    found = find_cifar10(root)
    if found is None:
        base = data_root(root)
        looked = ", ".join(str(base / s) if s else str(base) for s in _SUBDIRS)
        raise InputError(
            f"cifar10 batches not found (looked in {looked} for {', '.join(TRAIN_BATCHES)} and "
            f"{TEST_BATCH}, python or .bin); fetch it with `qtfl data fetch cifar10`, or "
            "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
            "and unpack it into root"
        )
    directory, fmt = found
    read = _read_python_batch if fmt == "python" else _read_binary_batch
    suffix = "" if fmt == "python" else ".bin"
    train = [read(directory / f"{b}{suffix}") for b in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = read(directory / f"{TEST_BATCH}{suffix}")
    mean, std = channel_stats(x_train)
    return Dataset(
        name="cifar10",
        x_train=_normalise(x_train, mean, std),
        y_train=y_train,
        x_test=_normalise(x_test, mean, std),
        y_test=y_test,
        num_classes=len(CLASSES),
    )


def channel_stats(
    images: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-channel mean and standard deviation of uint8 ``(N, 3, 32, 32)`` images, in [0, 1]."""
    x = images.astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    return mean, np.where(std > 0, std, 1.0)


def _normalise(
    images: npt.NDArray[np.uint8], mean: npt.NDArray[np.float64], std: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    scale = (1.0 / (255.0 * std)).astype(np.float32)[None, :, None, None]
    shift = (mean / std).astype(np.float32)[None, :, None, None]
    return images.astype(np.float32) * scale - shift


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays and builtin containers."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a batch")
        if module.endswith("multiarray"):
            module = "numpy._core.multiarray"
        return getattr(importlib.import_module(module), name)


MAX_BATCH_BYTES = 256 << 20
"""Largest batch file read (256 MiB; a real CIFAR-10 batch has about 31 MB). The file is
read whole, checked against this size first, and unpickled from memory, so a declared
length inside the pickle cannot make the reader allocate more than the file holds."""


def _read_bounded(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BATCH_BYTES:
            raise InputError(
                f"CIFAR-10 batch {path} has {size:,} bytes, more than the limit of "
                f"{MAX_BATCH_BYTES:,}; a real batch has about 31 MB"
            )
        with path.open("rb") as fh:
            return fh.read(MAX_BATCH_BYTES + 1)[:MAX_BATCH_BYTES]
    except OSError as exc:
        raise InputError(f"cannot read CIFAR-10 batch {path}: {exc.strerror or exc}") from None


def _read_python_batch(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    raw = _read_bounded(path)
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any failure to parse an untrusted file means "malformed"
        raise InputError(
            f"CIFAR-10 batch {path} is not a readable python batch "
            f"({type(exc).__name__}: {short_repr(str(exc))})"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise InputError(f"CIFAR-10 batch {path} must be a dict with b'data' and b'labels'")
    data = _as_array(path, "data", batch[b"data"])
    labels = _as_array(path, "labels", batch[b"labels"])
    return _check(path, data, labels)


def _as_array(path: Path, what: str, value: Any) -> np.ndarray:
    """``np.asarray(value)`` for plain numeric content; ragged or odd lists are one error."""
    if isinstance(value, np.ndarray):
        return value
    if not isinstance(value, (list, tuple, bytes)):
        raise InputError(f"CIFAR-10 batch {path}: {what} must be an array or a list")
    try:
        if isinstance(value, bytes):
            return np.frombuffer(value, dtype=np.uint8)
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(
            f"CIFAR-10 batch {path}: {what} is not a rectangular array of numbers "
            f"({type(exc).__name__})"
        ) from None


def _read_binary_batch(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    raw = np.frombuffer(_read_bounded(path), dtype=np.uint8)
    if raw.size == 0 or raw.size % (_PIXELS + 1):
        raise InputError(
            f"CIFAR-10 batch {path} has {raw.size} bytes, not a positive multiple of the "
            f"{_PIXELS + 1}-byte record"
        )
    records = raw.reshape(-1, _PIXELS + 1)
    return _check(path, records[:, 1:], records[:, 0])


def _check(
    path: Path, data: np.ndarray, labels: np.ndarray
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise InputError(
            f"CIFAR-10 batch {path}: data must be uint8 (N, {_PIXELS}), got "
            f"{data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"CIFAR-10 batch {path}: needs {data.shape[0]} integer labels, got "
            f"{labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise InputError(f"CIFAR-10 batch {path}: labels must be in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)
