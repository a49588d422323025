"""Data sets by name: ``load_dataset("digits")`` and the list of names it accepts."""

from __future__ import annotations

from pathlib import Path

from qtfl.data.dataset import Dataset
from qtfl.data.digits import load_digits
from qtfl.errors import require_choice

DATASETS: tuple[str, ...] = ("digits",)
"""Names :func:`load_dataset` accepts."""


def load_dataset(name: str, *, root: str | Path | None = None) -> Dataset:
    """Load the data set called ``name``.

    Args:
        name: one of :data:`DATASETS`.
        root: directory holding the data set's files (ignored by the bundled ``digits``).

    Raises:
        InputError: unknown name (the message lists :data:`DATASETS`), or the files of the
            data set are missing or malformed (the message says how to get them).
    """
    require_choice("data set", name, DATASETS)
    del root  # only the bundled digits so far
    return load_digits()
