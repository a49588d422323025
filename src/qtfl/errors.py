"""Errors a user can cause, and the small validators that raise them.

Every mistake a user can make (a config value, a path, a data file, a message) raises one
:class:`InputError` whose text names what is wrong and what is allowed. The CLI prints that
text and exits non-zero without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable
from typing import Final, TypeVar

import numpy as np

T = TypeVar("T")


ECHO_CHARS = 80
"""Most characters of a user's value echoed in an error message."""


def short_repr(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, without walking a huge value
    whole (a 5 MB string or a deeply shared structure costs no more than a short one)."""
    r = reprlib.Repr()
    r.maxstring = r.maxother = r.maxlong = limit
    r.maxlist = r.maxdict = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = 6
    r.maxlevel = 3
    try:
        text = r.repr(value)
    except ValueError:  # an int beyond Python's 4300-digit str() limit
        text = f"<integer of {int(value).bit_length()} bits>" if isinstance(value, int) else "<?>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: What an interrupted run prints (SIGINT/SIGTERM; exit status 130): its last checkpoint stays.
INTERRUPTED_HINT: Final = "aborted; continue with --resume"


class QtflError(Exception):
    """Base of the errors qtfl raises on purpose."""


class InputError(QtflError, ValueError):
    """Bad user input: the message names the value and what is allowed."""


def require_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is finite and inside the interval, else raise.

    ``low_open``/``high_open`` exclude the end points. The message prints the interval in
    mathematical notation, e.g. ``fidelity must be in [0.25, 1], got 1.2``.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {short_repr(value)}") from None
    ok = math.isfinite(x)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:  # the message is formatted only when raised (hot loops call this)
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        interval = f"{left}{_fmt(low, '-inf')}, {_fmt(high, 'inf')}{right}"
        raise InputError(f"{name} must be in {interval}, got {short_repr(value)}")
    return x


def require_int(name: str, value: int, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[low, high]``, else raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {short_repr(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise InputError(f"{name} must be an integer in [{lo}, {hi}], got {v}")
    return v


def require_choice(name: str, value: T, allowed: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``allowed``, else raise listing the allowed values."""
    options = list(allowed)
    if value not in options:
        listing = ", ".join(str(o) for o in options)
        raise InputError(f"unknown {name} {short_repr(value)}; allowed: {listing}")
    return value


def _fmt(bound: float | None, default: str) -> str:
    if bound is None:
        return default
    return f"{bound:g}"
