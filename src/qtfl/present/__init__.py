"""Presentation: everything that turns typed results into text for people.

Library modules compute and return typed results; the CLI and the HTML report format them
through this package, so every number a person reads goes through one formatter
(:mod:`qtfl.present.units`).
"""

from qtfl.present.units import (
    human_bits,
    human_bytes,
    human_count,
    human_number,
    human_percent,
    human_seconds,
)

__all__ = [
    "human_bits",
    "human_bytes",
    "human_count",
    "human_number",
    "human_percent",
    "human_seconds",
]
