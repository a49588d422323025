"""Where the paper's data sets come from, where they are cached, and fetching them.

=================  ===========================================================  ==========
data set           official source (published SHA-256 in :data:`SOURCES`)       size
=================  ===========================================================  ==========
``mnist``          torchvision's and TensorFlow's mirrors of LeCun's four IDX   11.6 MB
                   ``.gz`` files (the original site no longer serves them)
``fashion-mnist``  Zalando Research's S3 bucket (the four IDX ``.gz`` files);   30.9 MB
                   Debian's ``dataset-fashion-mnist`` is also found
``cifar10``        Krizhevsky's ``cifar-10-python.tar.gz``, unpacked to          170.5 MB
                   ``cifar-10-batches-py``
=================  ===========================================================  ==========

Cache (:func:`data_root`): ``--root`` / ``root=`` if given, else the ``QTFL_DATA``
environment variable, else the per-user cache directory of ``platformdirs``
(``~/.cache/qtfl`` on Linux); each data set lives in ``<root>/<name>``, where the loaders
of :mod:`qtfl.data.registry` look for it.

:func:`fetch_dataset` downloads into ``<file>.part`` and resumes an interrupted transfer
with an HTTP ``Range`` request (also across runs: a ``.part`` left by an interrupted run is
continued), checks the SHA-256 and only then renames the file into place, so nothing
half-written ever carries a final name; a checksum mismatch deletes the partial file and
raises one error naming the file and both digests. Archives are unpacked into a temporary
directory renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qtfl.errors import InputError, require_choice

_BLOCK = 1 << 20
ENV_VAR = "QTFL_DATA"
"""Environment variable that overrides the default cache directory."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name on the server, SHA-256 (hex) and size in bytes."""

    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Source:
    """A data set's official files.

    Attributes:
        mirrors: base URLs tried in order (``<mirror><file name>``).
        files: the published files and digests.
        unpack: for archives, the directory the archive holds (unpacked, archive removed);
            ``None`` for files used as they are.
        reference: where the digests are published.
    """

    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    unpack: str | None = None
    reference: str = ""


SOURCES: dict[str, Source] = {
    "mnist": Source(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9_912_422,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28_881,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1_648_877,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4_542,
            ),
        ),
        reference="LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/ (SHA-256 as listed "
        "by TensorFlow Datasets; MD5 as listed by torchvision in qtfl.data.idx.MNIST_MD5)",
    ),
    "fashion-mnist": Source(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26_421_880,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29_515,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4_422_102,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5_148,
            ),
        ),
        reference="Xiao, Rasul & Vollgraf, github.com/zalandoresearch/fashion-mnist (README)",
    ),
    "cifar10": Source(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(
            RemoteFile(
                "cifar-10-python.tar.gz",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                170_498_071,
            ),
        ),
        unpack="cifar-10-batches-py",
        reference="Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html (MD5 "
        "c58f30108f718f92721af3b95e74349a there; SHA-256 as listed by Keras)",
    ),
}
"""Fetchable data sets: name -> official source (URLs and digests are module constants)."""

FETCHABLE: tuple[str, ...] = tuple(SOURCES)
"""Names ``qtfl data fetch`` accepts."""


def data_root(root: str | Path | None = None) -> Path:
    """The cache directory: ``root`` if given, else ``$QTFL_DATA``, else the user cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qtfl", appauthor=False))


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """Where data set ``name`` is cached: ``data_root(root) / name``."""
    return data_root(root) / name


def fetch_command(name: str) -> str:
    """The shell command that fetches ``name`` into the cache."""
    return f"qtfl data fetch {name}"


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_dataset` did: the data set's directory and per-file byte counts."""

    name: str
    directory: Path
    downloaded_bytes: int
    resumed_bytes: int
    already_present: bool


def is_present(name: str, root: str | Path | None = None) -> bool:
    """True when every file of ``name`` (or its unpacked directory) is in the cache."""
    src = SOURCES[name]
    directory = dataset_dir(name, root)
    if src.unpack is not None:
        return (directory / src.unpack).is_dir()
    return all((directory / f.name).is_file() for f in src.files)


def fetch_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    timeout_s: float = 60.0,
    attempts: int = 4,
    progress: Callable[[str, int, int], None] | None = None,
) -> FetchResult:
    """Download, verify and (for archives) unpack data set ``name`` into its cache directory.

    Args:
        name: one of :data:`FETCHABLE`.
        root: cache root (:func:`data_root`).
        timeout_s: socket timeout per request.
        attempts: connections tried per mirror and file; each one after the first resumes
            the partial file with an HTTP Range request.
        progress: called as ``progress(file, bytes_so_far, total_bytes)``.

    Raises:
        InputError: unknown name (the allowed ones are listed), a checksum mismatch (the file,
            the expected and the actual SHA-256; the partial file is deleted), or no mirror
            delivered the file (each URL and its error).
    """
    require_choice("data set to fetch", name, FETCHABLE)
    src = SOURCES[name]
    directory = dataset_dir(name, root)
    if is_present(name, root):
        return FetchResult(name, directory, 0, 0, already_present=True)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create data directory {directory}: {exc.strerror}") from None
    downloaded = resumed = 0
    for remote in src.files:
        target = directory / remote.name
        if target.is_file():
            check_sha256(target, remote.sha256, delete=False)
            continue
        got, res = _download(remote, src.mirrors, target, timeout_s, attempts, progress)
        downloaded += got
        resumed += res
    if src.unpack is not None:
        for remote in src.files:
            _unpack(directory / remote.name, directory, src.unpack)
    return FetchResult(name, directory, downloaded, resumed, already_present=False)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: Path, expected: str, *, delete: bool, name: str | None = None) -> None:
    """Raise :class:`InputError` unless ``path`` has SHA-256 ``expected``; ``delete`` it then.

    ``name`` is the file's name in the message (default: the path's own name).
    """
    actual = sha256_of(path)
    if actual != expected.lower():
        if delete:
            path.unlink(missing_ok=True)
        raise InputError(
            f"{name or path.name} fails its checksum: expected sha256 {expected.lower()}, "
            f"got {actual}"
            + (" (partial file deleted)" if delete else f"; delete {path} and fetch again")
        )


def _download(
    remote: RemoteFile,
    mirrors: tuple[str, ...],
    target: Path,
    timeout_s: float,
    attempts: int,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[int, int]:
    """Fetch one file into ``target`` via ``target.part``; returns (bytes fetched, resumed)."""
    part = target.with_name(target.name + ".part")
    failures: list[str] = []
    fetched = resumed = 0
    for mirror in mirrors:
        url = mirror + remote.name
        for _ in range(max(1, attempts)):
            offset = part.stat().st_size if part.is_file() else 0
            if offset > remote.size_bytes:  # not a prefix of this file: start again
                part.unlink()
                offset = 0
            if offset == remote.size_bytes:  # complete from an earlier run: verify only
                check_sha256(part, remote.sha256, delete=True, name=remote.name)
                part.replace(target)
                return fetched, resumed + offset
            try:
                got = _transfer(url, part, offset, remote, timeout_s, progress)
            except _Retry as exc:
                fetched += exc.bytes_read
                failures.append(f"{url}: {exc.reason}")
                continue
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
                break  # this mirror does not serve the file: try the next
            fetched += got
            resumed += offset if got < remote.size_bytes else 0
            check_sha256(part, remote.sha256, delete=True, name=remote.name)
            part.replace(target)
            return fetched, resumed
    raise InputError(
        f"could not download {remote.name} (" + "; ".join(failures) + f"); the partial file "
        f"{part} is kept and the next fetch resumes it"
        if part.is_file()
        else f"could not download {remote.name} (" + "; ".join(failures) + ")"
    )


class _Retry(Exception):
    """The connection ended early; the partial file holds what arrived."""

    def __init__(self, reason: str, bytes_read: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bytes_read = bytes_read


def _transfer(
    url: str,
    part: Path,
    offset: int,
    remote: RemoteFile,
    timeout_s: float,
    progress: Callable[[str, int, int], None] | None,
) -> int:
    """Append ``url`` from byte ``offset`` to ``part``; returns the bytes read this time."""
    headers = {"User-Agent": "qtfl"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    read = 0
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        status = getattr(response, "status", 200)
        if offset and status != 206:  # server ignored the range: start from zero
            offset = 0
        with part.open("ab" if offset else "wb") as out:
            try:
                while block := response.read(_BLOCK):
                    out.write(block)
                    read += len(block)
                    if progress is not None:
                        progress(remote.name, offset + read, remote.size_bytes)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                reason = f"connection ended after {offset + read} bytes ({exc!r})"
                raise _Retry(reason, read) from None
    if offset + read < remote.size_bytes:
        raise _Retry(f"connection ended after {offset + read} of {remote.size_bytes} bytes", read)
    return read


def _unpack(archive: Path, directory: Path, member_dir: str) -> None:
    """Unpack ``member_dir`` of a tar archive into ``directory`` atomically; remove the archive.

    Only regular files directly under ``member_dir`` are extracted (no links, no paths
    outside it), into ``directory/.<member_dir>.tmp``, renamed into place when complete.
    """
    tmp = directory / f".{member_dir}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 2 or parts[0] != member_dir:
                    continue
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, (tmp / parts[1]).open("wb") as out:
                    shutil.copyfileobj(source, out, _BLOCK)
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot unpack {archive}: {exc}") from None
    tmp.replace(directory / member_dir)
    archive.unlink()
