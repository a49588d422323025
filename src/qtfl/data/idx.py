"""MNIST-format (IDX) files: the reader, and the MNIST and Fashion-MNIST loaders built on it.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data in
row-major order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64. Files may be gzip-compressed (recognised by their content, not
their name).

Both data sets are four files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``: 60,000
training and 10,000 test 28x28 grey images with labels 0-9. Pixels 0..255 are divided by
255, so ``x`` lies in [0, 1], shaped ``(N, 1, 28, 28)``.

Where the files are looked for, in order:

* ``fashion-mnist``: the user's ``root`` if given (see :func:`idx_candidates`), else the
  cache directory ``qtfl data fetch fashion-mnist`` fills
  (:func:`qtfl.data.sources.dataset_dir`), then the Debian package ``dataset-fashion-mnist``
  (:data:`DEBIAN_FASHION_MNIST_DIR`).
* ``mnist``: the user's ``root``, else the cache directory ``qtfl data fetch mnist`` fills;
  with ``download=True`` missing files are fetched from :data:`MNIST_MIRRORS` and checked
  against the published MD5 sums (:data:`MNIST_MD5`) before use.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from qtfl.data.dataset import Dataset
from qtfl.data.download import fetch
from qtfl.data.sources import data_root, dataset_dir, fetch_command
from qtfl.errors import InputError

IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
"""IDX type byte -> numpy dtype (big-endian)."""

IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four files of an MNIST-format data set (each may also end in ``.gz``)."""

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` installs its four ``.gz`` IDX files."""

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Download mirrors for MNIST, tried in order (torchvision's and TensorFlow's)."""

MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""Published MD5 sums of the MNIST ``.gz`` files (as listed by torchvision)."""

_TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_NUM_CLASSES = 10


MAX_IDX_BYTES = 1 << 30
"""Hard limit on the data of one IDX file after decompression (1 GiB; MNIST's largest file
holds 47 MB). A file is also never decompressed beyond what its header declares."""
MAX_IDX_DIMS = 8
"""Most dimensions an IDX header may declare."""


def read_idx(path: str | Path, *, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (plain or gzip) into a numpy array of its declared type and shape.

    The header is read and checked first; decompression then stops at the declared size
    plus one byte (to detect trailing data), so a small gzip cannot expand into gigabytes,
    and a header declaring more than ``max_bytes`` of data is refused before any is read.

    Raises:
        InputError: the file is missing, not gzip-readable, has a bad magic number, type
            code or dimension count, declares a shape too large, or is shorter or longer
            than its header declares; the message names the file and what is wrong.
    """
    p = Path(path)
    try:
        fh = p.open("rb")
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
    except OSError as exc:
        raise InputError(f"cannot read IDX file {p}: {exc.strerror or exc}") from None
    with fh:
        if not gz:
            return _parse_idx(p, fh, max_bytes=max_bytes)
        try:
            with gzip.GzipFile(fileobj=fh) as unzipped:
                return _parse_idx(p, unzipped, max_bytes=max_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"IDX file {p} is a damaged gzip file: {exc}") from None


def _parse_idx(p: Path, fh: BinaryIO | gzip.GzipFile, *, max_bytes: int) -> np.ndarray:
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise InputError(
            f"{p} is not an IDX file: magic number must start with two zero bytes, "
            f"got {magic.hex() or 'an empty file'}"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in IDX_DTYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise InputError(
            f"IDX file {p} has unknown type code 0x{type_code:02X}; allowed: {allowed}"
        )
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise InputError(f"IDX file {p} declares {ndim} dimensions; allowed 1..{MAX_IDX_DIMS}")
    head = fh.read(4 * ndim)
    if len(head) < 4 * ndim:
        raise InputError(f"IDX file {p} is truncated inside its header ({ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(head, dtype=">u4"))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no int64 overflow
    # an empty dimension makes the data empty, but the others must still form a valid shape
    if math.prod(d for d in dims if d) * dtype.itemsize > max_bytes:
        raise InputError(
            f"IDX file {p} declares shape {dims} ({expected:,} data bytes), more than the "
            f"limit of {max_bytes:,} bytes"
        )
    data = fh.read(expected + 1)
    got = len(data)
    if got != expected:
        what = "truncated" if got < expected else "longer than declared"
        found = f"{got:,}" if got <= expected else "more"
        raise InputError(
            f"IDX file {p} is {what}: header declares shape {dims} ({expected:,} data bytes), "
            f"found {found}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (plain or ``.gz``); ``None`` if any is missing."""
    found: dict[str, Path] = {}
    for key, stem in IDX_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def idx_candidates(name: str, root: str | Path) -> list[Path]:
    """Directories under ``root`` searched for ``name``'s files, in order.

    ``root`` itself, ``root/<name>``, and torchvision's layout ``root/MNIST/raw`` (or
    ``root/FashionMNIST/raw``).
    """
    base = Path(root).expanduser()
    return [base, base / name, base / _TORCHVISION_DIRS[name] / "raw"]


def load_idx_dataset(name: str, files: dict[str, Path]) -> Dataset:
    """Build a :class:`Dataset` from the four IDX files (uint8 28x28 images, labels 0-9)."""
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        img_path, lab_path = files[f"{split}_images"], files[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise InputError(
                f"{img_path} must hold uint8 images (N, H, W), got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise InputError(
                f"{lab_path} must hold one label per image of {img_path} "
                f"({images.shape[0]}), got shape {labels.shape}"
            )
        if labels.size and int(labels.max()) >= _NUM_CLASSES:
            raise InputError(f"{lab_path} has label {int(labels.max())}; allowed 0..9")
    return Dataset(
        name=name,
        x_train=_images(arrays["train_images"]),
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=_images(arrays["test_images"]),
        y_test=arrays["test_labels"].astype(np.int64),
        num_classes=_NUM_CLASSES,
    )


def load_fashion_mnist(*, root: str | Path | None = None) -> Dataset:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf, arXiv:1708.07747, 2017) from IDX files.

    Looks under ``root`` (default: the data cache, :func:`qtfl.data.sources.data_root`),
    then in Debian's ``dataset-fashion-mnist``.

    Raises:
        InputError: files not found (the message says ``apt-get install
            dataset-fashion-mnist`` or pass a directory with the four files), or malformed.
    """
    dirs = idx_candidates("fashion-mnist", data_root(root))
    dirs.append(DEBIAN_FASHION_MNIST_DIR)
    for directory in dirs:
        files = find_idx_files(directory)
        if files is not None:
            return load_idx_dataset("fashion-mnist", files)
    raise InputError(
        "fashion-mnist not found (looked in "
        + ", ".join(str(d) for d in dirs)
        + f"); fetch it with `{fetch_command('fashion-mnist')}`, or install it with "
        "`apt-get install dataset-fashion-mnist`, or pass root= a directory holding " + _file_list()
    )


def load_mnist(*, root: str | Path | None = None, download: bool = False) -> Dataset:
    """MNIST (LeCun et al., 1998) from IDX files under ``root`` (default: the user cache).

    With ``download=True`` any missing file is fetched into ``root`` (or the cache) from
    :data:`MNIST_MIRRORS` and verified against :data:`MNIST_MD5`; a failed download or
    checksum raises :class:`InputError`. Nothing is downloaded unless asked.
    """
    base = dataset_dir("mnist") if root is None else Path(root).expanduser()
    dirs = idx_candidates("mnist", data_root(root))
    for directory in dirs:
        files = find_idx_files(directory)
        if files is not None:
            return load_idx_dataset("mnist", files)
    if download:
        fetch(MNIST_MD5, mirrors=MNIST_MIRRORS, directory=base, what="mnist")
        files = find_idx_files(base)
        assert files is not None  # fetch wrote all four or raised
        return load_idx_dataset("mnist", files)
    raise InputError(
        "mnist not found (looked in "
        + ", ".join(str(d) for d in dirs)
        + f"); fetch it with `{fetch_command('mnist')}`, or pass root= a directory holding "
        + _file_list()
        + " (torchvision's MNIST/raw layout works)"
    )


def default_cache_dir() -> Path:
    """Per-user data cache (:func:`qtfl.data.sources.data_root`)."""
    return data_root()


def _images(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [0, 1]."""
    return (raw.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def _file_list() -> str:
    return ", ".join(IDX_FILES.values()) + " (each optionally .gz)"
