"""Terminal output of the command line: one JSON object, or a table in human units; logging.

Results go to stdout (a table for people, ``--json`` for machines); progress, log lines and
errors go to stderr, so ``qtfl ... --json | jq`` always reads clean JSON.

>>> jsonable({"x": float("nan"), "n": 3})
{'x': None, 'n': 3}
>>> human_value("link_seconds", 5.2e6)
'60.2 d'
>>> human_value("bit_error_rate", 0.0333333)
'0.03333'
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from qtfl.present.units import UNKNOWN, human_bytes, human_number, human_seconds

LOGGER_NAME = "qtfl"
"""The one logger of the package (``logging.getLogger("qtfl")`` and its children)."""


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars unwrapped, NaN as ``None`` and infinities as strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def human_value(key: str, value: Any) -> str:
    """One value for people: seconds and bytes in their units (by the key's name), other
    numbers with :func:`~qtfl.present.units.human_number`, mappings as ``k=v`` pairs."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or (hasattr(value, "item") and callable(value.item)):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return str(number)
        if key.endswith("_s") or "seconds" in key:
            return human_seconds(number)
        if key.endswith("_bytes"):
            return human_bytes(number)
        return human_number(number, digits=4)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={human_value(str(k), v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(human_value(key, v) for v in value)
    return str(value)


def result_table(result: Mapping[str, Any], *, title: str = "") -> Table:
    """A two-column table (quantity, value) of ``result`` in human units."""
    table = Table(title=title or None, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(str(key), human_value(str(key), value))
    return table


def print_result(
    result: Mapping[str, Any], *, as_json: bool, title: str = "", console: Console | None = None
) -> None:
    """Print ``result`` as one JSON object (``as_json``) or as a table in human units."""
    if as_json:
        print(json.dumps(jsonable(result), sort_keys=False))
        return
    (console or Console()).print(result_table(result, title=title))


def configure_logging(verbosity: int) -> None:
    """Send the ``qtfl`` logger to stderr: WARNING by default, INFO at ``-v``, DEBUG at
    ``-vv``; ``-q`` (verbosity -1) shows errors only."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_qtfl", False) for h in logger.handlers):
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._qtfl = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


__all__ = [
    "LOGGER_NAME",
    "configure_logging",
    "human_value",
    "jsonable",
    "print_result",
    "result_table",
]
