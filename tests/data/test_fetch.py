"""``qtfl data fetch``: downloads from a local HTTP server the test starts on 127.0.0.1.

The server (``http.server`` in a thread) serves generated small files in the real formats,
honours ``Range: bytes=N-`` with 206 responses, and can close the connection halfway
through a file once. The real sources' URLs and digests are module constants
(:data:`qtfl.data.sources.SOURCES`) replaced here; nothing touches the internet.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import qtfl.data.sources as sources
from qtfl.cli import main
from qtfl.data import load_dataset
from qtfl.data.registry import dataset_status
from qtfl.data.sources import RemoteFile, Source, data_root, fetch_dataset
from qtfl.errors import InputError
from tests.data.fakes import cifar_arrays, write_cifar_python, write_mnist_dir


class _Server:
    """Files by URL path; ``cut_once`` names files whose first GET stops halfway."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_once: set[str] = set()
        self.ranges: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.ranges.append((name, self.headers.get("Range")))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.cut_once:
                    server.cut_once.discard(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def source(self, *, unpack: str | None = None, wrong: str | None = None) -> Source:
        """A :class:`Source` for every served file (``wrong``: publish a bad digest)."""
        files = tuple(
            RemoteFile(n, hashlib.sha256(b"x" if n == wrong else d).hexdigest(), len(d))
            for n, d in self.files.items()
        )
        return Source(mirrors=(self.url,), files=files, unpack=unpack)


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _serve_mnist(server: _Server, tmp_path: Path) -> dict[str, np.ndarray]:
    arrays = write_mnist_dir(tmp_path / "gen", np.random.default_rng(3), gz=True)
    for stem in arrays:
        server.files[f"{stem}.gz"] = (tmp_path / "gen" / f"{stem}.gz").read_bytes()
    return arrays


def test_fetch_then_the_loader_finds_it_in_the_cache(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the generated MNIST files behind the server; the cache via QTFL_DATA
    arrays = _serve_mnist(server, tmp_path)
    monkeypatch.setitem(sources.SOURCES, "mnist", server.source())
    monkeypatch.setenv("QTFL_DATA", str(tmp_path / "cache"))
    assert not {s.name: s.present for s in dataset_status()}["mnist"]
    # Execute
    result = fetch_dataset("mnist")
    again = fetch_dataset("mnist")
    # Assert: files under their final names only, loaded from the cache, no second download
    assert result.directory == tmp_path / "cache" / "mnist" == data_root() / "mnist"
    assert sorted(p.name for p in result.directory.iterdir()) == sorted(server.files)
    assert result.downloaded_bytes == sum(len(d) for d in server.files.values())
    assert again.already_present and len(server.ranges) == len(server.files)
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert {s.name: s.present for s in dataset_status()}["mnist"]


def test_interrupted_download_is_resumed_with_a_range_request(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the server closes the connection halfway through the largest file, once
    _serve_mnist(server, tmp_path)
    big = "train-images-idx3-ubyte.gz"
    server.cut_once.add(big)
    monkeypatch.setitem(sources.SOURCES, "mnist", server.source())
    # Execute
    result = fetch_dataset("mnist", root=tmp_path / "cache")
    # Assert: the second request for the file asked for the rest only; bytes identical
    requests = [r for name, r in server.ranges if name == big]
    half = len(server.files[big]) // 2
    assert requests == [None, f"bytes={half}-"]
    assert result.resumed_bytes == half
    assert (result.directory / big).read_bytes() == server.files[big]
    assert not list(result.directory.glob("*.part"))


def test_partial_file_from_an_earlier_run_is_continued(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a .part holding the first 100 bytes, as an interrupted run leaves it
    server.files["blob.bin"] = np.random.default_rng(1).bytes(5000)
    monkeypatch.setitem(sources.SOURCES, "mnist", server.source())
    directory = tmp_path / "mnist"
    directory.mkdir()
    (directory / "blob.bin.part").write_bytes(server.files["blob.bin"][:100])
    # Execute
    result = fetch_dataset("mnist", root=tmp_path)
    # Assert
    assert server.ranges == [("blob.bin", "bytes=100-")]
    assert result.resumed_bytes == 100 and result.downloaded_bytes == 4900
    assert (directory / "blob.bin").read_bytes() == server.files["blob.bin"]


def test_checksum_mismatch_is_refused_and_nothing_half_written_is_kept(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the published digest of one file does not match what the server sends
    _serve_mnist(server, tmp_path)
    bad = "t10k-images-idx3-ubyte.gz"
    monkeypatch.setitem(sources.SOURCES, "mnist", server.source(wrong=bad))
    # Execute
    with pytest.raises(InputError) as exc:
        fetch_dataset("mnist", root=tmp_path / "cache")
    # Assert: one message naming the file, expected and actual digest; no file of that name
    expected = hashlib.sha256(b"x").hexdigest()
    actual = hashlib.sha256(server.files[bad]).hexdigest()
    assert f"{bad} fails its checksum: expected sha256 {expected}, got {actual}" in str(exc.value)
    directory = tmp_path / "cache" / "mnist"
    assert not (directory / bad).exists() and not (directory / f"{bad}.part").exists()
    assert not {s.name: s.present for s in dataset_status(root=tmp_path / "cache")}["mnist"]


def test_cifar10_archive_is_unpacked_where_the_loader_looks(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a small cifar-10-python.tar.gz (six python batches) behind the server
    arrays = cifar_arrays(np.random.default_rng(2))
    write_cifar_python(tmp_path / "gen" / "cifar-10-batches-py", arrays)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "gen" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    server.files["cifar-10-python.tar.gz"] = buf.getvalue()
    monkeypatch.setitem(sources.SOURCES, "cifar10", server.source(unpack="cifar-10-batches-py"))
    # Execute
    result = fetch_dataset("cifar10", root=tmp_path / "cache")
    ds = load_dataset("cifar10", root=tmp_path / "cache")
    # Assert: batches in place, archive and temporary directory gone
    assert sorted(p.name for p in result.directory.iterdir()) == ["cifar-10-batches-py"]
    np.testing.assert_array_equal(ds.y_test, arrays["test_batch"][1])


def test_unknown_or_missing_data_sets_name_what_to_do(tmp_path: Path, capsys) -> None:
    with pytest.raises(InputError, match="allowed: mnist, fashion-mnist, cifar10"):
        fetch_dataset("imagenet", root=tmp_path)
    with pytest.raises(InputError, match="qtfl data fetch mnist"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(InputError, match="qtfl data fetch cifar10"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "imagenet", "--root", str(tmp_path)])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())  # a typed choice: click lists the names
    assert "'imagenet' is not one of 'mnist', 'fashion-mnist', 'cifar10'" in err


def test_cli_fetch_and_list_in_json(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _serve_mnist(server, tmp_path)
    monkeypatch.setitem(sources.SOURCES, "mnist", server.source())
    root = str(tmp_path / "cache")

    main(["data", "fetch", "mnist", "--root", root, "--json"])
    fetched = json.loads(capsys.readouterr().out)
    main(["data", "list", "--root", root, "--json"])
    listing = json.loads(capsys.readouterr().out)

    assert fetched["dataset"] == "mnist" and fetched["already_present"] is False
    rows = {r["name"]: r for r in listing["datasets"]}
    assert rows["mnist"]["present"] and rows["mnist"]["location"] == fetched["directory"]
    assert rows["cifar10"] == {
        "name": "cifar10", "present": False, "location": None,
        "fetch_command": "qtfl data fetch cifar10",
    }  # fmt: skip
    assert set(rows) == {"digits", "fashion-mnist", "mnist", "cifar10", "digits-pca", "qdataset"}


def test_fetched_fashion_mnist_is_found_before_debian_package(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _serve_mnist(server, tmp_path)  # same IDX layout as MNIST
    monkeypatch.setitem(sources.SOURCES, "fashion-mnist", server.source())

    result = fetch_dataset("fashion-mnist", root=tmp_path / "cache")
    ds = load_dataset("fashion-mnist", root=tmp_path / "cache")

    assert result.directory == tmp_path / "cache" / "fashion-mnist"
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
