"""`qtfl bench channel` on a tiny experiment: structure, consistency and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qtfl.errors import InputError
from qtfl.experiments.benchmark import channel_bench_lines, round_ratio, update_seconds

RAW = {
    "seed": 1,
    "data": {"name": "digits", "num_clients": 3},
    "model": {"name": "mlp", "hidden": 8},
    "training": {"rounds": 3, "local_epochs": 1, "batch_size": 20, "lr": 0.2},
    "scenarios": [
        {"name": "classical"},
        {
            "name": "teleport-corrected",
            "uplink": {
                "kind": "teleport",
                "link": {"fidelity": 0.95, "pair_rate_hz": 1.0e6},
                "fec": "auto",
            },
        },
    ],
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(RAW))
    return path


def test_round_ratio_pairs_interleaved_rounds(config: Path) -> None:
    # Execute
    result = round_ratio(config=config, rounds=2)
    # Assert: each pair's ratio is A/B of its two rounds; the summary is their min/median
    a, b = result["scenario_round_seconds"], result["baseline_round_seconds"]
    assert len(a) == len(b) == 2
    assert result["ratio_pairs"] == pytest.approx([x / y for x, y in zip(a, b, strict=True)])
    ratio = result["ratio_round_seconds"]
    assert ratio["min"] == min(result["ratio_pairs"])
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    # the FEC scenario decodes: its decoding time is part of its round time
    assert 0 < result["decode_seconds"] < sum(a)
    assert 0 < result["decode_share"] < 1


def test_update_seconds_per_configuration() -> None:
    result = update_seconds(fidelities=(0.95,), repeats=1, params=300)
    names = {"teleport-fec F=0.95", "teleport-raw F=0.95", "qkd-otp F=0.95"}
    assert set(result["update_seconds"]) == names
    assert result["update_payload_bits"] == 300 * 16
    # FEC delivers at F = 0.95; whether the others are accepted is the channel's business
    # (a raw payload may trip the safety net, a short key may not come out of QKD)
    assert result["update_accepted"]["teleport-fec F=0.95"] is True
    assert all(isinstance(result["update_accepted"][n], bool) for n in names)
    for name in names:
        [t] = result["update_seconds_raw"][name]
        assert result["update_seconds"][name] == t > 0
        assert result["update_payload_bits_per_s"][name] == pytest.approx(4800 / t)


def test_update_ratio_is_taken_per_interleaved_pair() -> None:
    # QKD-OTP over teleport+FEC at each fidelity: per pair of interleaved sends, and of the
    # medians; a fidelity where QKD-OTP cannot be built has no ratio
    result = update_seconds(fidelities=(0.95, 0.80), repeats=3, params=300)
    assert set(result["ratio_qkd_otp_to_teleport_fec"]) == {"F=0.95"}
    assert result["update_skipped"]["qkd-otp F=0.8"].startswith("link QBER 0.1333")
    r = result["ratio_qkd_otp_to_teleport_fec"]["F=0.95"]
    qkd = result["update_seconds_raw"]["qkd-otp F=0.95"]
    fec = result["update_seconds_raw"]["teleport-fec F=0.95"]
    assert r["pairs"] == pytest.approx([a / b for a, b in zip(qkd, fec, strict=True)])
    assert (r["min"], r["max"]) == (min(r["pairs"]), max(r["pairs"]))
    assert r["median"] == pytest.approx(sorted(r["pairs"])[1])
    assert r["of_medians"] == pytest.approx(sorted(qkd)[1] / sorted(fec)[1])


def test_round_ratio_refuses_bad_input(config: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a file"):
        round_ratio(config=tmp_path / "missing.yaml")
    with pytest.raises(InputError, match=r"scenario 'qkd' is not in .*classical"):
        round_ratio(config=config, scenario="qkd", rounds=1)
    with pytest.raises(InputError, match="rounds must be at most 2"):
        round_ratio(config=config, rounds=3)


def test_human_lines_use_human_units() -> None:
    # Prepare: a result shaped like benchmark_channel's, with large and small figures
    result = {
        "scenario": "teleport-corrected",
        "baseline": "classical",
        "timed_round_pairs": 6,
        "ratio_round_seconds": {"min": 21.0, "median": 36.98, "max": 41.66},
        "scenario_median_round_seconds": 1.0135,
        "baseline_median_round_seconds": 0.0267,
        "decode_share": 0.6307,
        "workers": 1,
        "pooled_sends": 0,
        "update_seconds": {"teleport-raw F=0.99": 0.83},
        "update_payload_bits_per_s": {"teleport-raw F=0.99": 1_962_000.0},
        "update_skipped": {"qkd-otp F=0.8": "link QBER above 11%"},
        "ratio_qkd_otp_to_teleport_fec": {
            "F=0.95": {
                "min": 1.5,
                "median": 1.8123,
                "max": 2.25,
                "pairs": [1.5, 1.8123, 2.25],
                "of_medians": 1.79,
            },
        },
        "load_before": {"cpus": 2, "loadavg_1_5_15": [11.58, 9.75, 6.41]},
        "load_after": {"cpus": 2, "loadavg_1_5_15": None},
    }
    # Execute
    lines = channel_bench_lines(result)
    # Assert
    assert lines["round ratio teleport-corrected / classical"].startswith("median 37x (min 21x")
    assert lines["classical round"] == "26.7 ms (median)"
    assert lines["FEC decoding share"] == "63.1%"
    assert lines["update teleport-raw F=0.99"] == "830 ms (1.96 Mb/s)"
    assert lines["update qkd-otp F=0.8"] == "skipped: link QBER above 11%"
    assert lines["update ratio qkd-otp / teleport-fec F=0.95"] == (
        "median 1.81x (min 1.5x, max 2.25x, 3 interleaved pairs; of the medians 1.79x)"
    )
    assert lines["load after"] == "unknown on 2 CPUs"
    assert not any("e+" in v or "e-" in v for v in lines.values())


def test_round_ratio_with_workers_interleaves_an_in_process_twin(config: Path) -> None:
    # Execute
    result = round_ratio(config=config, rounds=1, workers=2)
    # Assert: pooled A, in-process A and B each ran one timed round; the speed-up is
    # in-process / pooled seconds
    [pooled] = result["scenario_round_seconds"]
    [alone] = result["in_process_round_seconds"]
    assert result["workers"] == 2
    assert result["workers_speedup"]["median"] == pytest.approx(alone / pooled)
    assert result["decode_share"] is None
