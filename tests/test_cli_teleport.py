"""`qtfl teleport` and `qtfl bench teleport`: output contract and clean errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from qtfl.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    main(list(args))
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fidelity", [0.9, 1.0])
def test_teleport_json_reports_resources_and_bit_error_rate(
    capsys: pytest.CaptureFixture[str], fidelity: float
) -> None:
    n = 200_000
    out = run_json(
        capsys, "teleport", "--payload-bits", str(n), "--fidelity", str(fidelity),
        "--seed", "7", "--json",
    )  # fmt: skip
    assert out["payload_qubits"] == n
    assert out["bell_pairs"] == n
    assert out["classical_bits"] == 2 * n
    assert out["seconds"] > 0
    p = 2 * (1 - fidelity) / 3
    assert abs(out["bit_error_rate"] - p) <= 4 * math.sqrt(p * (1 - p) / n)  # within 4 sigma
    again = run_json(
        capsys, "teleport", "--payload-bits", str(n), "--fidelity", str(fidelity),
        "--seed", "7", "--json",
    )  # fmt: skip
    assert again["bit_error_rate"] == out["bit_error_rate"]  # same seed, same run


def test_teleport_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    main(["teleport", "--payload-bits", "1000", "--fidelity", "0.8"])
    text = capsys.readouterr().out
    for key in ("payload_qubits", "bell_pairs", "classical_bits", "bit_error_rate", "seconds"):
        assert key in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--payload-bits", "0"], "bits must be an integer in [1, 200000000], got 0"),
        (["--payload-bits", "-5"], "bits must be an integer in [1, 200000000], got -5"),
        (["--fidelity", "1.2"], "fidelity must be in [0.25, 1], got 1.2"),
        (["--fidelity", "0.1"], "fidelity must be in [0.25, 1], got 0.1"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["teleport", *args, "--json"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_bad_input_in_a_subprocess_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qtfl.cli", "teleport", "--fidelity", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "fidelity must be in [0.25, 1], got 2" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_bench_teleport_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    # Small sizes: this checks the output contract, not the speed (that is the benchmark's job).
    out = run_json(
        capsys,
        "bench", "teleport", "--payload-bits", "100000", "--aer-shots", "300",
        "--aer-fast-shots", "2000", "--repeats", "1", "--json",
    )  # fmt: skip
    for key in ("stim_rate_qubits_per_s", "aer_dynamic_rate_qubits_per_s",
                "aer_fastest_rate_qubits_per_s", "aer_counts_only_rate_qubits_per_s"):  # fmt: skip
        assert out[key] > 0
    assert out["bits"] == 100_000
    assert out["aer_shots"] == 300
    assert out["ratio"] == pytest.approx(
        out["stim_rate_qubits_per_s"] / out["aer_dynamic_rate_qubits_per_s"]
    )
    assert out["ratio_vs_fastest_aer"] == pytest.approx(
        out["stim_rate_qubits_per_s"] / out["aer_fastest_rate_qubits_per_s"]
    )
    # All three paths ran the same noisy protocol: bit error rates near 2(1-F)/3 = 1/30.
    assert out["expected_bit_error_rate"] == pytest.approx(2 * 0.05 / 3)
    for key, n in (("stim_bit_error_rate", 100_000), ("aer_fastest_bit_error_rate", 6000)):
        p = out["expected_bit_error_rate"]
        assert abs(out[key] - p) <= 4 * math.sqrt(p * (1 - p) / n), key


def test_bench_teleport_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "teleport", "--aer-shots", "0", "--json"])
    assert exc.value.code == 2
    assert "aer_shots must be an integer in [1, 10000000], got 0" in capsys.readouterr().err
