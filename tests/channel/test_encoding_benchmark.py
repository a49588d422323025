"""`qtfl bench encodings`: figures against closed forms at a perfect link; clean errors."""

from __future__ import annotations

import json

import pytest

from qtfl.cli import main


def test_bench_encodings_json_at_perfect_link(capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare / Execute
    main(["bench", "encodings", "--fidelity", "1", "--values", "20", "--shots", "16",
          "--repeats", "1", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    # Assert
    rows = out["encodings"]
    assert rows["float32"]["rms_error"] == 0.0 and rows["float32"]["delivered"] == 1.0
    assert rows["float32"]["payload_qubits_per_value"] == 32
    assert rows["basis-16"]["payload_qubits_per_value"] == 16
    assert rows["basis-16+shor"]["payload_qubits_per_value"] == 16 * 9
    assert rows["angle"]["payload_qubits_per_value"] == 16
    assert rows["angle+five-qubit"]["payload_qubits_per_value"] == 16 * 5
    assert rows["amplitude"]["payload_qubits_per_value"] * 20 == 16 * (5 + 1)
    assert rows["angle"]["stated_rms_error"] > 0 and rows["basis-16"]["stated_rms_error"] is None


def test_bench_encodings_table_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    main(["bench", "encodings", "--values", "8", "--shots", "4", "--repeats", "1"])
    table = capsys.readouterr().out
    # Assert
    assert "amplitude" in table and "e-0" not in table
    with pytest.raises(SystemExit) as err:
        main(["bench", "encodings", "--fidelity", "1.5"])
    assert err.value.code != 0
    assert "fidelity" in capsys.readouterr().err
