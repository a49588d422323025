"""One number formatter for all human output: human units, no raw e-notation.

Every function takes a number (or ``None`` for "unknown") and returns a short string:

>>> human_count(358077088)
'358 M'
>>> human_seconds(5.2e6)
'60.2 d'
>>> human_seconds(0.0123)
'12.3 ms'
>>> human_bytes(3 * 1024**2)
'3.0 MiB'
>>> human_percent(0.0312)
'3.1%'
>>> human_number(0.000123)
'0.000123'
>>> human_count(None)
'—'

Machines read ``--json``; these strings are for people only and never parsed back.
"""

from __future__ import annotations

import math

UNKNOWN = "—"

_COUNT_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_SECOND_UNITS = ((365.25 * 86400.0, "y"), (86400.0, "d"), (3600.0, "h"), (60.0, "min"))
_SUBSECOND_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
_BYTE_UNITS = ((1024.0**4, "TiB"), (1024.0**3, "GiB"), (1024.0**2, "MiB"), (1024.0, "KiB"))


def _finite(value: float | int | None) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _sig(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, positional (never e-notation)."""
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def human_number(value: float | int | None, *, digits: int = 3) -> str:
    """A plain number with ``digits`` significant digits and thousands separators.

    >>> human_number(1234567)
    '1,234,567'
    >>> human_number(2.0 / 3.0)
    '0.667'
    """
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    if abs(x) >= 10 ** digits and float(x).is_integer():
        return f"{int(x):,}"
    if abs(x) >= 10 ** digits:
        return f"{round(x):,}"
    return _sig(x, digits)


def human_count(value: float | int | None) -> str:
    """A count with a k/M/G/T suffix above a thousand (``'2.89 M'``, ``'512'``)."""
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    for scale, unit in _COUNT_UNITS:
        if abs(x) >= scale:
            return f"{_sig(x / scale)} {unit}"
    return human_number(x)


def human_bits(value: float | int | None) -> str:
    """A number of bits: ``'1.63 Mbit'``."""
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    return f"{human_count(x)}bit" if abs(x) >= 1e3 else f"{human_number(x)} bit"


def human_bytes(value: float | int | None) -> str:
    """A number of bytes in binary units: ``'3.0 MiB'``."""
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    for scale, unit in _BYTE_UNITS:
        if abs(x) >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{round(x)} B"


def human_seconds(value: float | int | None) -> str:
    """A duration in the largest fitting unit: ns, µs, ms, s, min, h, d, y."""
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    if x == 0:
        return "0 s"
    for scale, unit in _SECOND_UNITS:
        if abs(x) >= scale:
            return f"{_sig(x / scale)} {unit}"
    for scale, unit in _SUBSECOND_UNITS:
        if abs(x) >= scale:
            return f"{_sig(x / scale)} {unit}"
    return f"{_sig(x / 1e-9)} ns"


def human_percent(value: float | int | None, *, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.0312 -> '3.1%'``."""
    x = _finite(value)
    if x is None:
        return UNKNOWN if value is None else str(value)
    return f"{100.0 * x:.{decimals}f}%"
