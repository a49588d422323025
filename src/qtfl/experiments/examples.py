"""The example experiment files shipped with qtfl (``qtfl configs``, ``qtfl run NAME``).

In a source tree they are the top-level ``configs/*.yaml``; an installed wheel carries the
same files as ``qtfl/configs/*.yaml`` (package data). ``qtfl run quickstart`` runs the
shipped ``quickstart.yaml`` wherever qtfl is installed; a path that exists always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import qtfl
from qtfl.errors import InputError


@dataclass(frozen=True)
class ExampleConfig:
    """One shipped experiment file: its ``name`` (file stem), ``path`` and first comment line."""

    name: str
    path: Path
    summary: str


def examples_dir() -> Path | None:
    """Where the shipped configs are: inside the installed package, else the source tree."""
    package = Path(qtfl.__file__).resolve().parent
    for candidate in (package / "configs", package.parents[1] / "configs"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return None


def _summary(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#"):
            return text.lstrip("#").strip()
        if text:
            break
    return ""


def example_configs() -> list[ExampleConfig]:
    """Every shipped experiment file, by name."""
    where = examples_dir()
    if where is None:
        return []
    return [ExampleConfig(p.stem, p, _summary(p)) for p in sorted(where.glob("*.yaml"))]


def resolve_config(spec: str) -> Path:
    """``spec`` as a file path if it exists, else the shipped config of that name.

    Raises:
        InputError: neither a file nor a shipped name; the message lists the shipped names.
    """
    path = Path(spec)
    if path.is_file():
        return path
    shipped = {e.name: e.path for e in example_configs()}
    name = path.name.removesuffix(".yaml")
    if name in shipped and (path.parent == Path(".") or not path.parent.exists()):
        return shipped[name]
    listing = ", ".join(shipped) or "none found"
    raise InputError(
        f"configuration file {spec} does not exist and is no shipped config; shipped: {listing}"
    )


__all__ = ["ExampleConfig", "example_configs", "examples_dir", "resolve_config"]
