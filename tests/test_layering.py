"""Imports point down the layers: physics does not import channels, library code does not
import the presentation layer (``qtfl.present``) or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "qtfl"
_DEPRECATED_SHIMS = {"attacks/report.py"}  # re-exports the moved names for old imports


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("quantum", ("qtfl.channel", "qtfl.fl", "qtfl.present", "qtfl.cli")),
        ("network", ("qtfl.channel", "qtfl.fl", "qtfl.present", "qtfl.cli")),
        ("security", ("qtfl.fl", "qtfl.present", "qtfl.cli")),
        ("channel", ("qtfl.fl", "qtfl.present", "qtfl.cli")),
        ("attacks", ("qtfl.present", "qtfl.cli")),
    ],
)
def test_package_does_not_import_upwards(package: str, forbidden: tuple[str, ...]) -> None:
    # Prepare / Execute: every import of every module of the package
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        if path.relative_to(SRC).as_posix() not in _DEPRECATED_SHIMS
        and not path.name.endswith("benchmark.py")  # benchmarks print figures; to be moved
        for name in _imports(path)
        if name.startswith(forbidden)
    ]
    # Assert
    assert bad == []


def _private_imports_across_packages(path: Path) -> list[str]:
    """``from qtfl.<pkg>... import _name`` where ``<pkg>`` is not the importer's package."""
    own = path.relative_to(SRC).parts[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module):
            continue
        parts = node.module.split(".")
        if parts[0] != "qtfl" or len(parts) < 2 or parts[1] == own:
            continue
        found += [
            f"{path.relative_to(SRC)} imports {node.module}.{alias.name}"
            for alias in node.names
            if alias.name.startswith("_") and not alias.name.startswith("__")
        ]
    return found


def test_no_package_imports_a_private_name_of_the_fl_engine() -> None:
    # Prepare / Execute: private names of qtfl.fl imported from another package (e.g. the
    # Flower strategy: the two engines share the round protocol of qtfl.fl.rounds)
    bad = [
        line
        for path in sorted(SRC.rglob("*.py"))
        if len(path.relative_to(SRC).parts) > 1
        for line in _private_imports_across_packages(path)
        if " imports qtfl.fl." in line
    ]
    # Assert
    assert bad == []
