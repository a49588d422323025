"""Published presets: figures as cited, unknowns left unknown, rate back-computation."""

from __future__ import annotations

import pytest

from qtfl.errors import InputError
from qtfl.network.presets import PRESETS, get_preset, pair_fidelity_from_teleport_fidelity
from qtfl.quantum.noise import WernerPair


def test_every_preset_carries_a_citation_and_notes() -> None:
    assert set(PRESETS) >= {
        "valivarthi2020",
        "shen2023",
        "sun2016",
        "ren2017",
        "borowska2026",
        "thomas2024",
    }
    for p in PRESETS.values():
        assert p.citation and p.notes and p.distance_km > 0
        if p.teleport_rate_hz is None:
            assert "rate" in p.notes and "unknown" in p.notes


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.teleport_fidelity])
def test_pair_fidelity_reproduces_the_published_teleportation_fidelity(name: str) -> None:
    p = get_preset(name)
    assert p.pair_fidelity == pytest.approx((3 * p.teleport_fidelity - 1) / 2, abs=1e-15)
    assert WernerPair(p.pair_fidelity).average_teleport_fidelity == pytest.approx(
        p.teleport_fidelity, abs=1e-15
    )


def test_shen_rate_is_reproduced_at_64_km_and_scales_with_the_model() -> None:
    shen = get_preset("shen2023")
    assert shen.link().pair_rate_hz == pytest.approx(7.1, rel=1e-12)
    far = shen.link(distance_km=100.0)
    assert far.pair_rate_hz == pytest.approx(7.1 * 10 ** (-0.2 * 36 / 10), rel=1e-12)
    assert far.source_rate_hz == shen.link().source_rate_hz


def test_a_figure_the_paper_does_not_give_must_be_supplied() -> None:
    with pytest.raises(InputError, match="source_fidelity"):
        get_preset("thomas2024").link()
    thomas = get_preset("thomas2024").link(source_fidelity=0.9)
    assert thomas.pair_rate_hz is None and thomas.distance_km == 30.2
    with pytest.raises(InputError, match="extra_loss_db"):
        get_preset("ren2017").link()


def test_the_satellite_uplink_is_not_modelled_as_fiber() -> None:
    micius = get_preset("ren2017").link(extra_loss_db=45.0)
    assert micius.attenuation_db_per_km == 0.0
    assert micius.transmissivity == pytest.approx(10 ** (-4.5), rel=1e-12)
    assert micius.latency_s == pytest.approx(1400e3 / 2.998e8, rel=1e-12)
    assert get_preset("ren2017").transmissivity is None


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown preset 'nope'") as exc:
        get_preset("nope")
    for name in PRESETS:
        assert name in str(exc.value)


def test_teleport_fidelity_below_one_half_has_no_werner_pair() -> None:
    with pytest.raises(InputError, match="teleport_fidelity"):
        pair_fidelity_from_teleport_fidelity(0.4)
