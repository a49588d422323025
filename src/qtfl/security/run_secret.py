"""The run secret: the randomness that protects a run, kept apart from the experiment seed.

A run has two kinds of randomness (see ``docs/guide/randomness-and-secrets.md``):

* the **experiment seed** reproduces the science — data, partitions, client sampling, model
  initialisation and the *noise statistics* (which pairs flip, which checks fail). It is
  written to ``config.json`` and ``summary.json``;
* the **run secret** (:class:`RunSecret`, 32 bytes from the operating system's CSPRNG,
  :func:`secrets.token_bytes`) protects the run: the Bell-measurement frame that makes
  teleportation a one-time pad, the check positions and bases, AEAD keys and nonces, and
  secure-aggregation mask keys. It is never derived from the seed and never written to the
  summary, the configuration, a Flower job file, metrics or logs.

Keys are derived per purpose, party and context with HKDF-SHA256 (RFC 5869)::

    key(purpose, *context) = HKDF-SHA256(ikm = run secret, salt = "qtfl run secret v1",
                                         info = JSON [purpose, *context], length = 32)

so a key names what it protects (``key("link", scenario, direction, client)`` is the secret
both ends of client ``k``'s link share, and nobody else). A key in turn seeds the generator of
one transfer: :meth:`LinkSecret.generator` ``(label)`` is PCG64 seeded by
``HKDF(key, info = "generator" || label)``. The label is public (the channels draw it from the
seed-keyed noise stream, so both ends of a link derive the same label on their own); without
the key the generator's output is unpredictable.

A node of a Flower run holds only its party's keys (:class:`PartySecrets`): the server the
whole :class:`RunSecret`, a client node only the link keys of the clients it serves. Both
implement :class:`SecretSource`.

Files are written owner-only (mode ``0600``) and atomically; :meth:`RunSecret.load` refuses
a file that others can read.

References: Krawczyk & Eronen, RFC 5869 (HKDF); NIST SP 800-90A (CSPRNG use).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Protocol

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qtfl.errors import InputError

#: Bytes of a run secret (and of every derived key).
SECRET_BYTES: Final = 32
#: Name of the run secret inside a run directory (owner-only; read by ``--resume``).
SECRET_FILE: Final = "run-secret.key"
_SALT: Final = b"qtfl run secret v1"
_PARTY_FORMAT: Final = "qtfl-party-secrets-v1"

Context = str | int


def _info(purpose: str, context: Iterable[Context]) -> bytes:
    """Unambiguous HKDF ``info`` of a purpose and its context (a JSON list)."""
    parts: list[Context] = [purpose]
    for c in context:
        if isinstance(c, bool) or not isinstance(c, str | int):
            raise TypeError(f"key context must be str or int, got {type(c).__name__}")
        parts.append(c)
    return json.dumps(parts, separators=(",", ":")).encode("utf-8")


def hkdf(material: bytes, info: bytes, *, salt: bytes = _SALT, length: int = SECRET_BYTES) -> bytes:
    """HKDF-SHA256 of ``material`` (RFC 5869), ``length`` bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(material)


class SecretSource(Protocol):
    """Anything that hands out the keys of a run (the whole secret, or one party's share)."""

    def key(self, purpose: str, *context: Context) -> bytes: ...


class LinkSecret:
    """The key two ends of one link share; seeds the secret generator of each transfer.

    Args:
        key: 32 bytes (``RunSecret.key("link", scenario, direction, client)``), or ``None``
            for a fresh key from the OS CSPRNG (a channel built without a run).
    """

    __slots__ = ("_key", "_missing")

    def __init__(self, key: bytes | None = None) -> None:
        if key is None:
            key = secrets.token_bytes(SECRET_BYTES)
        if not isinstance(key, bytes) or len(key) != SECRET_BYTES:
            raise InputError(f"a link secret must be {SECRET_BYTES} bytes")
        self._key: bytes | None = key
        self._missing = ""

    @classmethod
    def unavailable(cls, reason: str) -> LinkSecret:
        """The secret of a link this party is no end of: every use raises ``reason``."""
        out = cls()
        out._key, out._missing = None, reason
        return out

    @property
    def available(self) -> bool:
        """False on a node that is not an end of this link."""
        return self._key is not None

    def _material(self) -> bytes:
        if self._key is None:
            raise InputError(self._missing)
        return self._key

    def subkey(self, purpose: str) -> bytes:
        """A key for one use of this link (e.g. ``"aead"``), 32 bytes."""
        return hkdf(self._material(), _info(purpose, ()))

    def generator(self, label: bytes) -> np.random.Generator:
        """The secret generator of the transfer named by the public ``label``."""
        seed = hkdf(self._material(), b"generator" + bytes(label))
        return np.random.Generator(np.random.PCG64(int.from_bytes(seed, "little")))

    def for_transfer(self, noise_rng: np.random.Generator) -> np.random.Generator:
        """The secret generator of the next transfer: a 128-bit public label is drawn from
        the seed-keyed ``noise_rng`` (both ends of the link draw the same) and keyed."""
        return self.generator(noise_rng.bytes(16))

    def __repr__(self) -> str:
        return "LinkSecret(<hidden>)"


class RunSecret:
    """32 secret bytes of one run; every protecting key is derived from it (see module)."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if not isinstance(material, bytes) or len(material) != SECRET_BYTES:
            raise InputError(f"a run secret must be {SECRET_BYTES} bytes")
        self._material = material

    @classmethod
    def generate(cls) -> RunSecret:
        """A fresh secret from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(SECRET_BYTES))

    def key(self, purpose: str, *context: Context) -> bytes:
        """The 32-byte key of ``purpose`` in ``context`` (HKDF-SHA256; see module)."""
        return hkdf(self._material, _info(purpose, context))

    def party(self, scenarios: Iterable[str], clients: Iterable[int]) -> PartySecrets:
        """What a client node serving ``clients`` may hold: their uplink keys per scenario."""
        keys = {}
        served = [int(k) for k in clients]
        for name in scenarios:
            for k in served:
                keys[_info("link", (name, 0, k)).decode()] = self.key("link", name, 0, k)
        return PartySecrets(keys)

    def share(self, keys: Iterable[tuple[Context, ...]]) -> PartySecrets:
        """A party's share: the keys named by ``(purpose, *context)`` tuples, nothing else."""
        out = {}
        for purpose, *context in keys:
            out[_info(str(purpose), context).decode()] = self.key(str(purpose), *context)
        return PartySecrets(out)

    def hex(self) -> str:
        """The secret as 64 hex digits (for files only; never log it)."""
        return self._material.hex()

    def save(self, path: str | Path) -> None:
        """Write the secret owner-only (0600), atomically; refuse to overwrite."""
        dest = Path(path)
        if dest.exists():
            raise InputError(f"{dest} exists; a run secret is never overwritten")
        write_private(dest, (self.hex() + "\n").encode("ascii"))

    @classmethod
    def load(cls, path: str | Path) -> RunSecret:
        """Read a secret file written by :meth:`save` (or by hand: 64 hex digits)."""
        text = read_private(Path(path), what="run secret").decode("ascii", "replace").strip()
        try:
            material = bytes.fromhex(text)
        except ValueError:
            material = b""
        if len(material) != SECRET_BYTES:
            raise InputError(
                f"{path}: a run secret file holds {2 * SECRET_BYTES} hex digits "
                "(e.g. from: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return cls(material)

    def __repr__(self) -> str:
        return "RunSecret(<hidden>)"


class PartySecrets:
    """One party's share of a run's keys; asking for any other key is refused."""

    __slots__ = ("_keys",)

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = dict(keys)

    def key(self, purpose: str, *context: Context) -> bytes:
        info = _info(purpose, context).decode()
        if info not in self._keys:
            raise InputError(f"this node holds no {purpose} key for {list(context)}")
        return self._keys[info]

    def save(self, path: str | Path) -> None:
        """Write owner-only (0600), atomically."""
        doc = {"format": _PARTY_FORMAT, "keys": {k: v.hex() for k, v in self._keys.items()}}
        write_private(Path(path), json.dumps(doc).encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> PartySecrets:
        raw = read_private(Path(path), what="party secrets")
        try:
            doc = json.loads(raw)
            if doc.get("format") != _PARTY_FORMAT:
                raise ValueError
            return cls({str(k): bytes.fromhex(v) for k, v in doc["keys"].items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(f"{path} is not a qtfl party secrets file") from None

    def __repr__(self) -> str:
        return f"PartySecrets(<{len(self._keys)} keys hidden>)"


def link_secret(
    source: SecretSource | None, scenario: str, direction: int, client: int
) -> LinkSecret:
    """The :class:`LinkSecret` of ``client``'s link (direction 0 up, 1 down); fresh if no source."""
    if source is None:
        return LinkSecret()
    try:
        return LinkSecret(source.key("link", scenario, direction, client))
    except InputError:
        return LinkSecret.unavailable(
            f"this node is not an end of client {client}'s link and holds no key for it"
        )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable and writable by the owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_private(path: Path, *, what: str) -> bytes:
    """Bytes of an owner-only file; InputError if missing or readable by others."""
    try:
        st = path.stat()
    except OSError:
        raise InputError(f"{what} file {path} does not exist or cannot be read") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
        raise InputError(f"{what} file {path} must be a regular file under 1 MiB")
    if st.st_mode & 0o077:
        raise InputError(
            f"{what} file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    return path.read_bytes()
