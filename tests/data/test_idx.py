"""IDX reader and the MNIST / Fashion-MNIST loaders, on IDX files the tests write."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import qtfl.data.idx as idx
from qtfl.data import load_dataset, read_idx
from qtfl.errors import InputError
from tests.data.fakes import idx_bytes, write_idx, write_mnist_dir


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_round_trips_every_type(tmp_path: Path, dtype: str, gz: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)

    got = read_idx(write_idx(tmp_path / "a.idx", array, gz=gz))

    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, array)


def test_read_idx_header_is_big_endian(tmp_path: Path) -> None:
    # Hand-written file: uint8, 1 dimension of size 258 = 0x00000102.
    raw = bytes([0, 0, 0x08, 1, 0, 0, 1, 2]) + bytes(range(256)) + b"\x07\x08"
    (tmp_path / "h.idx").write_bytes(raw)

    got = read_idx(tmp_path / "h.idx")

    assert got.shape == (258,)
    assert got[-1] == 8


def _corrupt(kind: str) -> bytes:
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    return {
        "bad magic": b"\x01\x02" + good[2:],
        "unknown type": good[:2] + b"\x0a" + good[3:],
        "truncated header": good[:10],
        "truncated data": good[:-1],
        "extra data": good + b"\x00",
        "empty": b"",
        "damaged gzip": gzip.compress(good)[:-8],
    }[kind]


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("bad magic", "not an IDX file"),
        ("unknown type", "unknown type code 0x0A"),
        ("truncated header", "truncated inside its header"),
        ("truncated data", r"truncated: header declares shape \(2, 3, 4\) \(24 data bytes\), "
                           "found 23"),
        ("extra data", "longer than declared"),
        ("empty", "not an IDX file"),
        ("damaged gzip", "damaged gzip"),
    ],
)  # fmt: skip
def test_malformed_idx_names_the_file_and_the_fault(
    tmp_path: Path, kind: str, pattern: str
) -> None:
    path = tmp_path / "broken-file.idx"
    path.write_bytes(_corrupt(kind))

    with pytest.raises(InputError, match=pattern) as exc:
        read_idx(path)
    assert "broken-file.idx" in str(exc.value)


def test_missing_idx_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read IDX file .*nothing\.idx"):
        read_idx(tmp_path / "nothing.idx")


@pytest.mark.parametrize("layout", ["flat", "named", "torchvision"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_loads_from_user_directory(tmp_path: Path, layout: str, gz: bool) -> None:
    where = {"flat": tmp_path, "named": tmp_path / "mnist", "torchvision": tmp_path / "MNIST/raw"}
    arrays = write_mnist_dir(where[layout], np.random.default_rng(2), gz=gz)

    ds = load_dataset("mnist", root=tmp_path)

    assert ds.name == "mnist" and ds.num_classes == 10
    assert ds.input_shape == (1, 28, 28) and (ds.num_train, ds.num_test) == (30, 12)
    np.testing.assert_array_equal(ds.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"])
    np.testing.assert_allclose(ds.x_test[:, 0], arrays["t10k-images-idx3-ubyte"] / 255, atol=1e-7)
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    assert ds.y_test.dtype == np.int64


def test_missing_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_dataset("mnist", root=tmp_path)
    message = str(exc.value)
    assert str(tmp_path) in message
    assert "train-images-idx3-ubyte" in message and "qtfl data fetch mnist" in message


def test_mnist_label_count_must_match_images(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, np.random.default_rng(3))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8), gz=True)

    with pytest.raises(InputError, match="one label per image"):
        load_dataset("mnist", root=tmp_path)


def test_mnist_labels_must_be_digits(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, np.random.default_rng(3))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(12, 10, np.uint8), gz=True)

    with pytest.raises(InputError, match=r"label 10; allowed 0\.\.9"):
        load_dataset("mnist", root=tmp_path)


def test_fashion_mnist_prefers_user_root(tmp_path: Path) -> None:
    arrays = write_mnist_dir(tmp_path / "FashionMNIST/raw", np.random.default_rng(4), gz=False)

    ds = load_dataset("fashion-mnist", root=tmp_path)

    assert ds.name == "fashion-mnist" and ds.num_train == 30
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_missing_fashion_mnist_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "not-installed")

    with pytest.raises(InputError) as exc:
        load_dataset("fashion-mnist", root=tmp_path / "empty")
    message = str(exc.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "train-images-idx3-ubyte" in message and "not-installed" in message


@pytest.mark.skipif(
    not os.path.isdir(idx.DEBIAN_FASHION_MNIST_DIR),
    reason="Debian package dataset-fashion-mnist not installed (make installs it as root)",
)
def test_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion-mnist")

    assert (ds.num_train, ds.num_test, ds.input_shape) == (60000, 10000, (1, 28, 28))
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
