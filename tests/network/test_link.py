"""FiberLink: rate model, memory waits, dephasing vs density-matrix evolution, the sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.network.link import FiberLink
from qtfl.quantum.noise import WernerPair
from tests.network.dm import bell_coefficients


def test_rate_is_source_rate_times_arm_transmissions_and_detectors() -> None:
    for source in ("end", "midpoint"):
        link = FiberLink(distance_km=50, source=source, source_rate_hz=1e6, detector_efficiency=0.8)
        eta = 10 ** (-0.2 * 50 / 10)
        assert link.transmissivity == pytest.approx(eta, rel=1e-15)
        assert link.pair_rate_hz == pytest.approx(1e6 * eta * 0.8**2, rel=1e-14)
    mid = FiberLink(distance_km=50, source="midpoint", extra_loss_db=2.0)
    a, b = mid.arm_transmissivities
    assert a == b == pytest.approx(10 ** (-(0.2 * 25 + 1.0) / 10), rel=1e-15)
    assert FiberLink(distance_km=50).arm_transmissivities[0] == 1.0
    assert FiberLink(distance_km=50).pair_rate_hz is None  # unknown source rate stays unknown


def test_latency_is_five_microseconds_per_km() -> None:
    assert FiberLink(distance_km=100).latency_s == pytest.approx(5e-4, rel=1e-15)


@pytest.mark.parametrize(
    ("source", "heralded", "waits_in_tau"),
    [
        ("end", True, (2, 2)),
        ("end", False, (0, 0)),
        ("midpoint", True, (1, 2)),
        ("midpoint", False, (0, 1)),
    ],
)
def test_memory_waits_follow_the_documented_table(
    source: str, heralded: bool, waits_in_tau: tuple[int, int]
) -> None:
    link = FiberLink(distance_km=40, source=source, heralded=heralded)
    tau = 40e3 / 2e8
    assert link.memory_waits_s == pytest.approx(tuple(w * tau for w in waits_in_tau), abs=0)


def _dephase_dm(rho: np.ndarray, qubit: int, factor: float) -> np.ndarray:
    """Pure dephasing of one qubit: coherences between its |0> and |1> shrink by ``factor``."""
    idx = np.arange(4)
    bit = (idx >> (1 - qubit)) & 1
    mask = np.where(bit[:, None] != bit[None, :], factor, 1.0)
    return rho * mask


@pytest.mark.parametrize(
    ("source", "heralded"), [("end", True), ("midpoint", True), ("midpoint", False)]
)
def test_delivered_pair_matches_density_matrix_dephasing(source: str, heralded: bool) -> None:
    t2 = 3e-3
    link = FiberLink(
        distance_km=150, source=source, heralded=heralded, source_fidelity=0.93, memory_t2_s=t2
    )
    rho = WernerPair(0.93).density_matrix()
    for qubit, wait in enumerate(link.memory_waits_s):
        rho = _dephase_dm(rho, qubit, math.exp(-wait / t2))
    np.testing.assert_allclose(link.pair.density_matrix(), rho, atol=1e-14)
    np.testing.assert_allclose(link.pair.coefficients, bell_coefficients(rho), atol=1e-14)
    assert link.pair.fidelity < 0.93
    assert link.expected_qber == pytest.approx(link.pair.qber, abs=0)


def test_without_memory_noise_the_pair_is_the_werner_source_pair() -> None:
    link = FiberLink(distance_km=80, source_fidelity=0.9, heralded=True)
    assert link.pair == WernerPair(0.9)
    assert link.expected_qber == pytest.approx(2 * (1 - 0.9) / 3, abs=1e-15)


def test_compiled_sampler_draws_pauli_labels_with_the_pair_probabilities() -> None:
    link = FiberLink(
        distance_km=100, source_fidelity=0.8, memory_t2_s=1e-3, heralded=True, source_rate_hz=1e8
    )
    compiled = link.compile()
    assert compiled.pair == link.pair and compiled == link.compile()
    assert compiled.pair_rate_hz == link.pair_rate_hz and compiled.latency_s == link.latency_s
    n = 200_000
    labels = compiled.sample(n, rng=np.random.default_rng(5))
    assert labels.dtype == np.uint8 and labels.shape == (n,) and labels.max() <= 3
    freq = np.bincount(labels, minlength=4) / n
    p = link.pair.pauli_probabilities
    sigma = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) < 4 * sigma)  # within 4 sigma, fixed seed
    again = compiled.sample(n, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(labels, again)
    assert compiled.seconds_for_pairs(1000) == pytest.approx(
        1000 / link.pair_rate_hz + link.latency_s, rel=1e-15
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"distance_km": -3}, "distance_km"),
        ({"distance_km": 3, "attenuation_db_per_km": -0.2}, "attenuation_db_per_km"),
        ({"distance_km": 3, "source_rate_hz": -5.0}, "source_rate_hz"),
        ({"distance_km": 3, "source_rate_hz": 0.0}, "source_rate_hz"),
        ({"distance_km": 3, "source_fidelity": 0.2}, "source_fidelity"),
        ({"distance_km": 3, "source_fidelity": 1.01}, "source_fidelity"),
        ({"distance_km": 3, "detector_efficiency": 0.0}, "detector_efficiency"),
        ({"distance_km": 3, "source": "sideways"}, "source"),
        ({"distance_km": 3, "memory_t2_s": 0.0}, "memory_t2_s"),
    ],
)
def test_bad_link_parameters_raise_one_clear_error(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        FiberLink(**kwargs)
    with pytest.raises(InputError, match="n"):
        FiberLink(distance_km=1).compile().sample(-1, rng=np.random.default_rng(0))
