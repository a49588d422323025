from __future__ import annotations

import math

import pytest

from qtfl.errors import InputError, require_choice, require_int, require_range


def test_require_range_accepts_and_names_interval() -> None:
    assert require_range("fidelity", 0.25, low=0.25, high=1.0) == 0.25
    with pytest.raises(InputError, match=r"fidelity must be in \[0.25, 1\], got 1.2"):
        require_range("fidelity", 1.2, low=0.25, high=1.0)
    with pytest.raises(InputError, match=r"alpha must be in \(0, 1\), got 1"):
        require_range("alpha", 1, low=0.0, high=1.0, low_open=True, high_open=True)
    with pytest.raises(InputError, match="must be in"):
        require_range("x", math.nan, low=0.0)
    with pytest.raises(InputError, match="must be a number"):
        require_range("x", "abc")  # type: ignore[arg-type]


def test_require_int_and_choice() -> None:
    assert require_int("bits", 5, low=1) == 5
    with pytest.raises(InputError, match=r"bits must be an integer in \[1, inf\], got 0"):
        require_int("bits", 0, low=1)
    with pytest.raises(InputError, match="must be an integer"):
        require_int("bits", 2.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be an integer"):
        require_int("bits", True)
    assert require_choice("basis", "z", ["z", "x"]) == "z"
    with pytest.raises(InputError, match="unknown basis 'y'; allowed: z, x"):
        require_choice("basis", "y", ["z", "x"])
