"""The run secret: HKDF derivation, owner-only files, and one party's share."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qtfl.errors import InputError
from qtfl.security.run_secret import (
    SECRET_BYTES,
    LinkSecret,
    PartySecrets,
    RunSecret,
    link_secret,
)

MATERIAL = bytes(range(32))


def test_keys_are_hkdf_sha256_of_the_secret_with_a_json_context() -> None:
    # independent computation of RFC 5869 HKDF with the documented salt and info
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"qtfl run secret v1",
        info=b'["link","s",0,3]',
    ).derive(MATERIAL)  # fmt: skip
    assert RunSecret(MATERIAL).key("link", "s", 0, 3) == expected


def test_keys_differ_by_purpose_and_context_and_by_secret() -> None:
    s, t = RunSecret(MATERIAL), RunSecret(bytes(32))
    keys = {s.key("link", "s", 0, 0), s.key("link", "s", 0, 1), s.key("link", "s", 1, 0),
            s.key("link", "t", 0, 0), s.key("mask", "s"), t.key("link", "s", 0, 0)}  # fmt: skip
    assert len(keys) == 6 and all(len(k) == SECRET_BYTES for k in keys)
    # a context cannot be forged by joining strings: ("a/b",) differs from ("a", "b")
    assert s.key("x", "a/b") != s.key("x", "a", "b")


def test_generated_secrets_are_fresh_and_never_printed() -> None:
    a, b = RunSecret.generate(), RunSecret.generate()
    assert a.hex() != b.hex()
    assert a.hex() not in repr(a) and "hidden" in repr(a) and "hidden" in repr(LinkSecret())


def test_link_generators_follow_key_and_label() -> None:
    link = LinkSecret(MATERIAL)
    draw = lambda g: g.integers(0, 2**62, 4).tolist()  # noqa: E731
    assert draw(link.generator(b"x")) == draw(link.generator(b"x"))
    assert draw(link.generator(b"x")) != draw(link.generator(b"y"))
    assert draw(link.generator(b"x")) != draw(LinkSecret(bytes(32)).generator(b"x"))
    # the label comes from the noise stream, so both ends derive the same generator
    g1 = link.for_transfer(np.random.default_rng(1))
    g2 = link.for_transfer(np.random.default_rng(1))
    assert draw(g1) == draw(g2)


def test_secret_files_are_owner_only_and_round_trip(tmp_path: Path) -> None:
    secret = RunSecret.generate()
    path = tmp_path / "s.key"
    secret.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert RunSecret.load(path).key("a") == secret.key("a")
    with pytest.raises(InputError, match="never overwritten"):
        secret.save(path)
    path.chmod(0o644)
    with pytest.raises(InputError, match="readable by others"):
        RunSecret.load(path)


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31])
def test_a_malformed_secret_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(InputError, match="64 hex digits"):
        RunSecret.load(path)
    with pytest.raises(InputError, match="does not exist"):
        RunSecret.load(tmp_path / "missing.key")


def test_a_party_holds_only_its_clients_link_keys(tmp_path: Path) -> None:
    secret = RunSecret(MATERIAL)
    party = secret.party(["s", "t"], [1, 3])
    path = tmp_path / "node.key"
    party.save(path)
    loaded = PartySecrets.load(path)
    assert loaded.key("link", "t", 0, 3) == secret.key("link", "t", 0, 3)
    for other in (("link", "s", 0, 0), ("link", "s", 1, 1), ("mask", "s")):
        with pytest.raises(InputError, match="holds no"):
            loaded.key(*other)
    assert not link_secret(loaded, "s", 0, 2).available
    assert link_secret(loaded, "s", 0, 1).available
    with pytest.raises(InputError, match="not an end"):
        link_secret(loaded, "s", 0, 2).subkey("aead")
    assert MATERIAL.hex() not in path.read_text()
