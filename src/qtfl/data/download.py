"""Fetch data files from mirrors and verify them against published checksums.

Used only when the user asks (``download=True``). A file is written to ``<name>.part``,
its digest compared with the published one, and only then renamed into place, so an
interrupted or corrupted download never leaves a file the loaders would read. Any ``urllib``
URL works as a mirror (``https://``, ``http://``, ``file://``).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from qtfl.errors import InputError

_BLOCK = 1 << 20


def file_digest(path: str | Path, *, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``algorithm`` is any :func:`hashlib.new` name)."""
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path: str | Path, expected: str, *, algorithm: str = "md5") -> None:
    """Raise :class:`InputError` unless the file's digest equals ``expected`` (hex, any case).

    MD5 is what MNIST's publishers list; it guards integrity (truncation, corruption), not
    authenticity. Pass ``algorithm="sha256"`` with a SHA-256 sum where one is published.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"cannot verify {p}: no such file")
    got = file_digest(p, algorithm=algorithm)
    if got != expected.lower():
        raise InputError(f"{p} fails its {algorithm} check: expected {expected.lower()}, got {got}")


def fetch(
    checksums: Mapping[str, str],
    *,
    mirrors: Sequence[str],
    directory: str | Path,
    what: str,
    algorithm: str = "md5",
    timeout_s: float = 30.0,
) -> list[Path]:
    """Make every file of ``checksums`` (name -> digest) present and verified in ``directory``.

    Files already there are verified; missing ones are downloaded from the first mirror that
    serves a copy with the right digest.

    Returns:
        The paths of the verified files, in the order of ``checksums``.

    Raises:
        InputError: a present file fails its check, or no mirror delivered a good copy
            (no network, HTTP error, wrong digest); the message names the file, the mirrors
            tried and what went wrong, and where to put the files by hand.
    """
    target = Path(directory).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create download directory {target}: {exc.strerror}") from None
    paths = []
    for name, expected in checksums.items():
        path = target / name
        if path.is_file():
            verify_checksum(path, expected, algorithm=algorithm)
        else:
            _download_one(name, expected, mirrors, path, what, algorithm, timeout_s)
        paths.append(path)
    return paths


def _download_one(
    name: str,
    expected: str,
    mirrors: Sequence[str],
    path: Path,
    what: str,
    algorithm: str,
    timeout_s: float,
) -> None:
    part = path.with_name(path.name + ".part")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, part.open("wb") as out:
                shutil.copyfileobj(response, out, _BLOCK)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url}: {reason}")
            part.unlink(missing_ok=True)
            continue
        got = file_digest(part, algorithm=algorithm)
        if got == expected.lower():
            part.replace(path)
            return
        failures.append(f"{url}: {algorithm} {got}, expected {expected.lower()}")
        part.unlink(missing_ok=True)
    raise InputError(
        f"could not download {what} file {name} (" + "; ".join(failures) + "); without network, "
        f"copy the files into {path.parent} yourself"
    )
