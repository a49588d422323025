"""Cost of one update on a link: closed forms and the distance scaling of the rate model."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtfl.errors import InputError
from qtfl.network.cost import (
    MLP_100K_PARAMS,
    QUICKSTART_MODEL_PARAMS,
    evaluate_link,
    link_report,
    update_cost,
)
from qtfl.network.link import FiberLink
from qtfl.network.presets import PRESETS
from qtfl.present.links import update_cost_table
from qtfl.quantum.noise import WernerPair
from qtfl.quantum.purification import purify_until


def test_pairs_are_payload_over_one_minus_check_fraction_times_purification_cost() -> None:
    plain = update_cost(WernerPair(0.9), model_params=1000, bits_per_param=8, check_fraction=0.2)
    assert plain.payload_qubits == 8000
    assert plain.pairs_per_update == pytest.approx(8000 / 0.8, rel=1e-15)
    purified = update_cost(
        WernerPair(0.9),
        model_params=1000,
        bits_per_param=8,
        check_fraction=0.2,
        target_fidelity=0.97,
    )
    sched = purify_until(WernerPair(0.9), target_fidelity=0.97)
    assert purified.pairs_per_update == pytest.approx(10_000 * sched.expected_pairs, rel=1e-15)
    assert purified.teleport_pair == sched.pair


def test_seconds_and_source_pairs_scale_with_distance_as_the_rate_model_says() -> None:
    near, far = (
        link_report(FiberLink(distance_km=d, source_rate_hz=1e8, source_fidelity=0.95))
        for d in (20.0, 70.0)
    )
    ratio = 10 ** (0.2 * 50 / 10)
    assert far.pairs_per_update == near.pairs_per_update  # fidelity does not depend on loss
    assert far.source_pairs_per_update / near.source_pairs_per_update == pytest.approx(
        ratio, rel=1e-12
    )
    assert (far.seconds_per_update - far.latency_s) / (
        near.seconds_per_update - near.latency_s
    ) == pytest.approx(ratio, rel=1e-12)
    assert far.pair_rate_hz / near.pair_rate_hz == pytest.approx(1 / ratio, rel=1e-12)


def test_with_a_finite_memory_pairs_per_update_grow_with_distance_through_purification() -> None:
    reports = []
    for d in (10.0, 50.0, 100.0):
        link = FiberLink(
            distance_km=d,
            source_rate_hz=1e8,
            source_fidelity=0.97,
            heralded=True,
            memory_t2_s=5e-3,
        )
        r = link_report(link, model_params=500, target_fidelity=0.97)
        sched = purify_until(link.pair, target_fidelity=0.97)
        assert r.pairs_per_update == pytest.approx(500 * 16 / 0.9 * sched.expected_pairs, rel=1e-14)
        assert r.seconds_per_update == pytest.approx(
            r.pairs_per_update / link.pair_rate_hz + link.latency_s, rel=1e-14
        )
        reports.append(r)
    costs = [r.pairs_per_update for r in reports]
    assert costs == sorted(costs) and costs[0] < costs[-1]


def test_report_fields_and_plob_time() -> None:
    link = FiberLink(distance_km=30.2, source_rate_hz=1e6, source_fidelity=0.9)
    r = link_report(link, model_params=100)
    assert r.eta == pytest.approx(link.transmissivity, rel=1e-15)
    assert round(r.plob_ebits_per_use, 3) == 0.413
    assert r.expected_qber == pytest.approx(2 * 0.1 / 3, rel=1e-12)
    assert r.plob_seconds_per_update == pytest.approx(
        r.pairs_per_update / (r.plob_ebits_per_use * 1e6) + r.latency_s, rel=1e-14
    )
    assert r.plob_seconds_per_update < r.seconds_per_update
    assert r.purified_fidelity is None and r.purification_rounds == 0


def test_unknown_rate_leaves_seconds_unknown_and_says_so() -> None:
    r = evaluate_link(preset="sun2016")
    assert r.pair_rate_hz is None and r.seconds_per_update is None
    assert any("pair rate unknown" in n for n in r.notes)
    assert r.pairs_per_update == pytest.approx(QUICKSTART_MODEL_PARAMS * 16 / 0.9, rel=1e-15)
    with_rate = evaluate_link(preset="sun2016", source_rate_hz=1e6)
    assert with_rate.seconds_per_update is not None


def test_evaluate_link_needs_a_preset_or_a_distance_and_validates_input() -> None:
    with pytest.raises(InputError, match="--preset"):
        evaluate_link()
    with pytest.raises(InputError, match="check_fraction"):
        evaluate_link(distance_km=10, check_fraction=1.0)
    with pytest.raises(InputError, match="reachable maximum"):
        evaluate_link(distance_km=10, source_fidelity=0.6, target_fidelity=0.99, max_rounds=1)
    with pytest.raises(InputError, match="protocol"):
        evaluate_link(distance_km=10, protocol="x")
    r = evaluate_link(distance_km=10)
    assert any("assumed 1" in n for n in r.notes)


def test_table_has_a_row_per_model_and_preset_and_marks_unpublished_figures() -> None:
    table = update_cost_table()
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == 2 * len(PRESETS)
    assert MLP_100K_PARAMS == 101_770 and QUICKSTART_MODEL_PARAMS == 4810
    for row in rows:
        name = row.split("|")[2].strip()
        rate_cell = row.split("|")[5].strip()
        assert (rate_cell == "not published") == (PRESETS[name].teleport_rate_hz is None)
    assert "loss not published" in next(
        line.split("|")[9].strip() for line in rows if "ren2017" in line
    )


def test_results_page_table_is_the_generated_one() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "results" / "links.md"
    assert update_cost_table() in page.read_text(encoding="utf-8"), (
        "regenerate the table of docs/results/links.md (the command is on that page)"
    )
