"""Checksum verification and mirror fetching, on local files only (file:// mirrors)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import qtfl.data.idx as idx
from qtfl.data import fetch, load_dataset, verify_checksum
from qtfl.data.download import file_digest
from qtfl.errors import InputError
from tests.data.fakes import write_mnist_dir

MD5_OF_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"  # RFC 1321 test suite: MD5("")


def test_digest_matches_rfc_1321_and_hashlib(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    blob = np.random.default_rng(0).bytes(3 << 20)  # spans several read blocks
    (tmp_path / "blob").write_bytes(blob)

    assert file_digest(tmp_path / "empty") == MD5_OF_EMPTY
    assert file_digest(tmp_path / "blob", algorithm="sha256") == hashlib.sha256(blob).hexdigest()


def test_verify_checksum_accepts_the_right_sum_in_any_case(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")

    verify_checksum(tmp_path / "empty", MD5_OF_EMPTY.upper())


def test_verify_checksum_rejects_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"\x00")

    with pytest.raises(InputError, match=f"f fails its md5 check: expected {MD5_OF_EMPTY}"):
        verify_checksum(tmp_path / "f", MD5_OF_EMPTY)


def _mirror(tmp_path: Path, name: str, files: dict[str, bytes]) -> str:
    d = tmp_path / name
    d.mkdir()
    for fname, data in files.items():
        (d / fname).write_bytes(data)
    return d.as_uri() + "/"


def test_fetch_skips_dead_and_corrupt_mirrors(tmp_path: Path) -> None:
    good = {"a.bin": b"alpha", "b.bin": b"beta"}
    sums = {k: hashlib.md5(v).hexdigest() for k, v in good.items()}
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    corrupt = _mirror(tmp_path, "corrupt", {"a.bin": b"alphX", "b.bin": b"betX"})
    honest = _mirror(tmp_path, "honest", good)

    paths = fetch(sums, mirrors=[dead, corrupt, honest], directory=tmp_path / "out", what="t")

    assert [p.read_bytes() for p in paths] == [b"alpha", b"beta"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin", "b.bin"]


def test_fetch_fails_clearly_when_no_mirror_delivers(tmp_path: Path) -> None:
    corrupt = _mirror(tmp_path, "corrupt", {"a.bin": b"alphX"})
    unreachable = "http://127.0.0.1:9/"  # discard port on the loopback: refused, no network

    with pytest.raises(InputError) as exc:
        fetch({"a.bin": MD5_OF_EMPTY}, mirrors=[corrupt, unreachable],
              directory=tmp_path / "out", what="toy", timeout_s=2.0)  # fmt: skip
    message = str(exc.value)
    assert "could not download toy file a.bin" in message
    assert f"expected {MD5_OF_EMPTY}" in message and "127.0.0.1:9" in message
    assert not list((tmp_path / "out").iterdir())  # no partial file left behind


def test_fetch_verifies_files_already_present(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"tampered")

    with pytest.raises(InputError, match=r"a\.bin fails its md5 check"):
        fetch({"a.bin": MD5_OF_EMPTY}, mirrors=[], directory=tmp_path, what="toy")


def test_mnist_download_fetches_verifies_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mirror"
    arrays = write_mnist_dir(source, np.random.default_rng(5), gz=True)
    sums = {f"{stem}.gz": file_digest(source / f"{stem}.gz") for stem in arrays}
    monkeypatch.setattr(idx, "MNIST_MD5", sums)
    monkeypatch.setattr(idx, "MNIST_MIRRORS", (source.as_uri() + "/",))

    ds = load_dataset("mnist", root=tmp_path / "cache", download=True)

    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(sums)


def test_mnist_download_rejects_a_mirror_with_wrong_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mirror"
    write_mnist_dir(source, np.random.default_rng(6), gz=True)
    monkeypatch.setattr(idx, "MNIST_MIRRORS", (source.as_uri() + "/",))  # real MNIST sums

    with pytest.raises(InputError, match="could not download mnist file train-images"):
        load_dataset("mnist", root=tmp_path / "cache", download=True)
