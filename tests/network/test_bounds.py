"""Fiber transmissivity and the PLOB bound against their closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtfl.errors import InputError
from qtfl.network.bounds import compare_with_plob, plob_capacity, transmissivity


@pytest.mark.parametrize(
    ("distance_km", "eta", "plob"), [(30.2, 0.2489, 0.413), (100.0, 0.0100, 0.0145)]
)
def test_eta_and_plob_at_the_reference_distances(
    distance_km: float, eta: float, plob: float
) -> None:
    e = transmissivity(distance_km=distance_km)
    assert e == pytest.approx(10 ** (-0.2 * distance_km / 10), rel=1e-15)
    assert round(e, 4) == eta
    assert plob_capacity(e) == pytest.approx(-math.log2(1 - e), rel=1e-15)
    assert round(plob_capacity(e), 3 if plob > 0.1 else 4) == plob


def test_extra_loss_adds_in_decibels() -> None:
    assert transmissivity(distance_km=10, extra_loss_db=3.0) == pytest.approx(
        10 ** (-(2.0 + 3.0) / 10), rel=1e-15
    )
    assert transmissivity(distance_km=0) == 1.0
    assert plob_capacity(1.0) == math.inf
    assert plob_capacity(0.0) == 0.0


@given(st.floats(min_value=1e-9, max_value=0.999999))
def test_one_pair_per_surviving_photon_never_beats_plob(eta: float) -> None:
    cmp = compare_with_plob(eta=eta, pairs_per_use=eta, clock_hz=1e6)
    assert cmp.fraction_per_use <= 1.0
    assert cmp.fraction_per_s == pytest.approx(cmp.fraction_per_use, rel=1e-12)


def test_low_loss_limit_fraction_is_ln2() -> None:
    cmp = compare_with_plob(eta=1e-6, pairs_per_use=1e-6)
    assert cmp.fraction_per_use == pytest.approx(math.log(2), rel=1e-5)
    assert cmp.plob_ebits_per_s is None and cmp.fraction_per_s is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"distance_km": -1.0}, "distance_km"),
        ({"distance_km": 1.0, "attenuation_db_per_km": -0.1}, "attenuation_db_per_km"),
        ({"distance_km": 1.0, "extra_loss_db": float("nan")}, "extra_loss_db"),
    ],
)
def test_bad_fiber_parameters_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        transmissivity(**kwargs)
    with pytest.raises(InputError, match="eta"):
        plob_capacity(1.5)
