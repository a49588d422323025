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
    """Slow tests first: packaging, then ``integration``, otherwise collection order.

    ``make test`` runs ``pytest -n 2 --dist loadscope --no-loadscope-reorder``: every
    module's tests go to one worker (a module's shared fixture — a Flower deployment, a
    whole run — is built once, not once per worker that gets some of its tests), and modules
    are handed out in the order of their first test here, so no multi-minute module is
    handed out last to run alone while the other worker idles. (``--dist loadgroup`` does
    not group with pytest 9: pytest-xdist 3.8 renames ``item._nodeid``, which pytest 9's
    ``Node.nodeid`` no longer reads.)"""
    items.sort(key=_weight)
