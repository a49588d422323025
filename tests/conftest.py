"""Shared fixtures. Analytic answers (closed forms from the design reference) live in the
test modules that use them; fixtures here keep every test single-threaded and seeded."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")


def _weight(item: pytest.Item) -> int:
    """0 for the packaging test (minutes), 1 for whole-pipeline tests, 2 for the rest."""
    if item.get_closest_marker("packaging") is not None:
        return 0
    return 1 if item.get_closest_marker("integration") is not None else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``), keep every test of a module that
    uses one of the module's own module-scoped fixtures on one worker, so that fixture (a
    Flower deployment, a whole run) is built once rather than once per worker that gets
    some of its tests. Tests already in an ``xdist_group`` keep theirs.

    Then the slow tests go first (packaging, then ``integration``; otherwise collection
    order): xdist hands out work in collection order, and a multi-minute test handed out
    last would run alone at the end while the other worker idles."""
    items.sort(key=_weight)
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        module = item.nodeid.split("::", 1)[0]
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope == "module" and d[-1].baseid == module for d in defs):
            item.add_marker(pytest.mark.xdist_group(module))
