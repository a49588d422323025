"""A throw-away CA and a 127.0.0.1/localhost server certificate for tests."""

from __future__ import annotations

from pathlib import Path

from qtfl.flower.trust import TlsFiles, make_tls


def make_tls_files(directory: Path) -> TlsFiles:
    """A fresh per-test CA and SuperLink certificate (what ``--tls-dir`` expects)."""
    return make_tls(directory)
