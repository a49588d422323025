"""``qtfl link``: JSON output carries the contract keys; user mistakes exit 2 without traceback."""

from __future__ import annotations

import json

import pytest

from qtfl.cli import main
from qtfl.network.cost import evaluate_link
from qtfl.network.presets import PRESETS

KEYS = (
    "eta",
    "plob_ebits_per_use",
    "pair_rate_hz",
    "pair_fidelity",
    "expected_qber",
    "latency_s",
    "pairs_per_update",
    "seconds_per_update",
)


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    main(["link", *args, "--json"])
    return json.loads(capsys.readouterr().out)


def test_preset_json_matches_the_library_report(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(capsys, "--preset", "shen2023", "--model-params", "1000")
    for key in KEYS:
        assert key in out
    expected = evaluate_link(preset="shen2023", model_params=1000)
    assert out["pair_rate_hz"] == pytest.approx(7.1, rel=1e-12)
    assert out["pairs_per_update"] == pytest.approx(expected.pairs_per_update, rel=1e-15)
    assert out["seconds_per_update"] == pytest.approx(expected.seconds_per_update, rel=1e-15)
    assert out["citation"].startswith("S. Shen")


def test_physical_parameters_and_purification(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(
        capsys,
        "--distance-km",
        "100",
        "--source-rate-hz",
        "1e9",
        "--source-fidelity",
        "0.9",
        "--target-fidelity",
        "0.95",
        "--bits-per-param",
        "8",
        "--check-fraction",
        "0.2",
    )
    assert round(out["plob_ebits_per_use"], 4) == 0.0145
    assert out["purified_fidelity"] >= 0.95 and out["purification_rounds"] >= 1
    assert out["latency_s"] == pytest.approx(5e-4, rel=1e-12)


def test_unknown_rate_prints_null_and_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(capsys, "--preset", "valivarthi2020")
    assert out["pair_rate_hz"] is None and out["seconds_per_update"] is None
    assert any("--source-rate-hz" in n for n in out["notes"])


def test_list_shows_every_preset_with_its_citation(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(capsys, "--list")
    assert set(out) == set(PRESETS)
    assert all(v["citation"] for v in out.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope"], "'nope' is not one of 'valivarthi2020'"),
        (["--distance-km", "-5"], "distance_km"),
        (["--distance-km", "5", "--attenuation-db-per-km", "-1"], "attenuation_db_per_km"),
        (["--distance-km", "5", "--source-rate-hz", "-1"], "source_rate_hz"),
        (["--distance-km", "5", "--source-fidelity", "1.5"], "source_fidelity"),
        (
            [
                "--distance-km",
                "5",
                "--source-fidelity",
                "0.6",
                "--target-fidelity",
                "0.999",
                "--max-rounds",
                "2",
            ],
            "reachable maximum",
        ),
        (["--preset", "thomas2024"], "--source-fidelity"),
        ([], "--preset"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["link", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
