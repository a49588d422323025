"""CIFAR-10 loader on generated batches in the python (pickle) and binary formats."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from qtfl.data import load_dataset
from qtfl.errors import InputError
from tests.data.fakes import CIFAR_BATCHES, cifar_arrays, write_cifar_binary, write_cifar_python


def _raw(arrays: dict[str, tuple], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([arrays[n][0] for n in names]).reshape(-1, 3, 32, 32)
    y = np.concatenate([arrays[n][1] for n in names])
    return x, y


def test_python_batches_load_in_order_and_normalise_per_channel(tmp_path: Path) -> None:
    arrays = cifar_arrays(np.random.default_rng(0))
    write_cifar_python(tmp_path / "cifar-10-batches-py", arrays)

    ds = load_dataset("cifar10", root=tmp_path)

    x_train, y_train = _raw(arrays, CIFAR_BATCHES[:5])
    x_test, y_test = _raw(arrays, CIFAR_BATCHES[5:])
    assert ds.input_shape == (3, 32, 32) and (ds.num_train, ds.num_test) == (30, 6)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_test, y_test)
    # Independent recomputation of the documented normalisation (training statistics).
    mean = (x_train / 255.0).mean(axis=(0, 2, 3), keepdims=True)
    std = (x_train / 255.0).std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(ds.x_train, (x_train / 255.0 - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (x_test / 255.0 - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3)), 1.0, atol=1e-5)


def test_pixel_layout_is_red_green_blue_planes_row_major(tmp_path: Path) -> None:
    arrays = cifar_arrays(np.random.default_rng(1))
    data = arrays["data_batch_1"][0]
    data[0] = 0
    data[1] = 255
    data[0, 1024 + 5 * 32 + 7] = 255  # green plane, row 5, column 7 of image 0
    write_cifar_python(tmp_path, arrays)

    ds = load_dataset("cifar10", root=tmp_path)

    image = ds.x_train[0]
    bright = np.argwhere(image > image.min(axis=(1, 2), keepdims=True))
    np.testing.assert_array_equal(bright, [[1, 5, 7]])


def test_binary_batches_give_the_same_data_set(tmp_path: Path) -> None:
    arrays = cifar_arrays(np.random.default_rng(2))
    write_cifar_python(tmp_path / "py", arrays)
    write_cifar_binary(tmp_path / "bin" / "cifar-10-batches-bin", arrays)

    a = load_dataset("cifar10", root=tmp_path / "py")
    b = load_dataset("cifar10", root=tmp_path / "bin")

    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_batches_pickled_by_numpy_1_load(tmp_path: Path) -> None:
    # The distributed batches were pickled under numpy 1, whose arrays name the module
    # numpy.core.multiarray (numpy 2 says numpy._core.multiarray); both must be accepted.
    arrays = cifar_arrays(np.random.default_rng(6))
    write_cifar_python(tmp_path, arrays)
    for name in CIFAR_BATCHES:
        raw = (tmp_path / name).read_bytes()
        assert b"numpy._core.multiarray" in raw
        (tmp_path / name).write_bytes(
            raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        )

    ds = load_dataset("cifar10", root=tmp_path)

    np.testing.assert_array_equal(ds.y_test, arrays["test_batch"][1])


class _RunsCode:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())  # harmless, but any global outside numpy must be refused


def test_batch_that_would_run_code_is_refused(tmp_path: Path) -> None:
    arrays = cifar_arrays(np.random.default_rng(3))
    write_cifar_python(tmp_path, arrays)
    batch = {b"data": arrays["test_batch"][0], b"labels": _RunsCode()}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))

    with pytest.raises(InputError, match=r"test_batch is not a readable .*getcwd is not allowed"):
        load_dataset("cifar10", root=tmp_path)


@pytest.mark.parametrize(
    ("batch", "pattern"),
    [
        ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"uint8 \(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "needs 2 integer labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels must be in 0..9"),
        ({b"labels": [0]}, "dict with b'data' and b'labels'"),
    ],
)
def test_malformed_python_batch_names_the_file(tmp_path: Path, batch: dict, pattern: str) -> None:
    write_cifar_python(tmp_path, cifar_arrays(np.random.default_rng(4)))
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))

    with pytest.raises(InputError, match=f"data_batch_3.*{pattern}"):
        load_dataset("cifar10", root=tmp_path)


def test_truncated_binary_batch_names_the_file(tmp_path: Path) -> None:
    write_cifar_binary(tmp_path, cifar_arrays(np.random.default_rng(5)))
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-1])

    with pytest.raises(InputError, match=r"test_batch\.bin has 18437 bytes, not a positive"):
        load_dataset("cifar10", root=tmp_path)


def test_missing_cifar_says_where_to_get_it(tmp_path: Path) -> None:
    for root in (None, tmp_path):
        with pytest.raises(InputError, match=r"cifar-10-python.tar.gz from https://www.cs"):
            load_dataset("cifar10", root=root)
