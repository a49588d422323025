"""The human formatter: units chosen by magnitude, no e-notation, unknowns shown as a dash."""

import doctest
import math

import pytest

from qtfl.present import units
from qtfl.present.units import (
    human_bits,
    human_bytes,
    human_count,
    human_number,
    human_percent,
    human_seconds,
)


def test_doctests() -> None:
    result = doctest.testmod(units)
    assert result.attempted >= 8
    assert result.failed == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5.2e6, "60.2 d"),
        (90.0, "1.5 min"),
        (7200.0, "2 h"),
        (1.0, "1 s"),
        (0.5, "500 ms"),
        (2.5e-6, "2.5 µs"),
        (0.0, "0 s"),
        (3.2e8, "10.1 y"),
    ],
)
def test_seconds(seconds: float, text: str) -> None:
    assert human_seconds(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(358077088, "358 M"), (2892008, "2.89 M"), (7.2e8, "720 M"), (999, "999"), (1500, "1.5 k")],
)
def test_counts(count: float, text: str) -> None:
    assert human_count(count) == text


def test_no_e_notation_anywhere() -> None:
    for exponent in range(-9, 16):
        for fn in (human_number, human_count, human_seconds, human_bits, human_bytes):
            text = fn(3.7 * 10.0**exponent)
            assert "e+" not in text and "e-" not in text, (fn.__name__, exponent, text)


def test_unknown_and_non_finite() -> None:
    for fn in (human_number, human_count, human_seconds, human_bits, human_bytes, human_percent):
        assert fn(None) == "—"
        assert fn(math.inf) == "inf"
        assert fn(math.nan) == "nan"


def test_bytes_bits_percent() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bits(1628320) == "1.63 Mbit"
    assert human_bits(12) == "12 bit"
    assert human_percent(0.25) == "25.0%"
    assert human_number(1234567) == "1,234,567"
    assert human_number(-0.0456) == "-0.0456"
