"""Hostile IDX and CIFAR files: bombs, overflowing headers, ragged and huge declared content.

Each case is one InputError naming the file, found before memory is spent on it.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from qtfl.data import load_dataset
from qtfl.data.cifar import MAX_BATCH_BYTES, _read_python_batch
from qtfl.data.idx import read_idx
from qtfl.errors import InputError
from tests.data.fakes import cifar_arrays, idx_bytes, write_cifar_python


def test_a_gzip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    # header declares 10 bytes; the gzip expands to 64 MB of zeros (it used to be read whole)
    bomb = tmp_path / "bomb.gz"
    header = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10)
    bomb.write_bytes(gzip.compress(header + bytes(64 << 20), compresslevel=9))
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    with pytest.raises(InputError, match=r"bomb\.gz is longer than declared"):
        read_idx(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak:,} bytes while refusing a 64 MB expansion"


def test_a_declared_shape_above_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big-idx"
    p.write_bytes(bytes([0, 0, 0x0E, 3]) + struct.pack(">III", 60_000, 28, 28 * 100))
    with pytest.raises(InputError, match=r"big-idx declares shape \(60000, 28, 2800\)"):
        read_idx(p, max_bytes=1 << 20)


def test_dimensions_whose_product_overflows_int64_are_refused(tmp_path: Path) -> None:
    # 2**32-1 to the 4th overflows int64 (np.prod wrapped around before)
    p = tmp_path / "overflow-idx"
    p.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">IIII", *[2**32 - 1] * 4) + b"\0" * 16)
    with pytest.raises(InputError, match="overflow-idx declares shape"):
        read_idx(p)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "an empty file"),
        (bytes([0, 0, 0x08, 0]), "declares 0 dimensions"),
        (bytes([0, 0, 0x08, 200]) + b"\0" * 800, "declares 200 dimensions"),
        (bytes([0, 0, 0x08, 2, 0, 0]), "truncated inside its header"),
        (b"\x1f\x8b\x08\x00garbage", "damaged gzip"),
        (gzip.compress(idx_bytes(np.zeros((3, 2), np.uint8)), mtime=0)[:-9], "damaged gzip"),
    ],
)
def test_malformed_idx_is_one_error_naming_the_file(
    tmp_path: Path, content: bytes, match: str
) -> None:
    p = tmp_path / "case-idx"
    p.write_bytes(content)
    with pytest.raises(InputError, match=match) as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_reading_a_directory_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read IDX file"):
        read_idx(tmp_path)


def _cifar_with(tmp_path: Path, payload: bytes) -> Path:
    write_cifar_python(tmp_path, cifar_arrays(np.random.default_rng(4)))
    (tmp_path / "data_batch_2").write_bytes(payload)
    return tmp_path


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ({b"data": [[1, 2, 3], [4, 5]], b"labels": [0, 1]}, "not a rectangular array"),
        ({b"data": [[1] * 3072, [2] * 3072], b"labels": [[0], [1, 2]]}, "not a rectangular"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": "ab"}, "labels must be an array"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10**30]}, "integer labels"),
        ({b"data": b"\x00" * 3072, b"labels": [0]}, r"uint8 \(N, 3072\)"),
    ],
)
def test_ragged_or_odd_cifar_batches_are_one_error(tmp_path: Path, batch: dict, match: str) -> None:
    root = _cifar_with(tmp_path, pickle.dumps(batch, protocol=2))
    with pytest.raises(InputError, match=f"data_batch_2.*{match}"):
        load_dataset("cifar10", root=root)


def test_a_huge_declared_length_inside_a_batch_is_one_error(tmp_path: Path) -> None:
    # BINBYTES8 declaring 2**62 bytes followed by nothing: the pickle claims more than exists
    payload = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"abc"
    root = _cifar_with(tmp_path, payload)
    with pytest.raises(InputError, match="data_batch_2 is not a readable python batch"):
        load_dataset("cifar10", root=root)


def test_a_batch_file_above_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    p = tmp_path / "data_batch_1"
    with p.open("wb") as fh:  # sparse: no disk or memory spent
        fh.truncate(MAX_BATCH_BYTES + 1)
    with pytest.raises(InputError, match="more than the limit"):
        _read_python_batch(p)
