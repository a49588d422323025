"""QDataSet from the command line and in experiment configurations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qtfl.cli import main
from qtfl.data.qdataset import load_qdataset_file
from qtfl.errors import InputError
from qtfl.experiments.config import load_config, parse_config
from qtfl.experiments.runner import run_experiment

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_generate_writes_the_npz_and_reports_it(tmp_path, capsys) -> None:
    out = tmp_path / "set.npz"
    argv = ["qdataset", "generate", "S_1q_XY_XZ_N1N6_D", "--examples", "3", "--realisations"]
    main([*argv, "2", "--seed", "4", "--time-steps", "64", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "S_1q_XY_XZ_N1N6_D" and report["examples"] == 3
    assert report["expectations_per_example"] == 18 and report["noise_profiles"] == ["N1", "N6"]
    data = load_qdataset_file(out)
    assert data.expectations.shape == (3, 6, 3) and data.seed == 4
    assert not np.allclose(data.distorted_pulses, data.pulses)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["G_1q_ZZ_N1"], "valid names"),
        (["G_1q_XZ_N1", "--examples", "0"], "examples"),
        (["G_1q_XZ_N1", "--realisations", "0"], "realisations"),
        (["G_1q_XY_XZ_N6N1"], "N6"),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["qdataset", "generate", *args, "--out", str(tmp_path / "x.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_shipped_configs_validate() -> None:
    for name, model in (("qdataset.yaml", "mlp"), ("qdataset-vqc.yaml", "vqc")):
        cfg = load_config(CONFIGS / name)
        assert cfg.data.name == "qdataset" and cfg.model.name == model
        assert cfg.data.qdataset is not None and len(cfg.data.qdataset.sets) == 3
        assert [s.name for s in cfg.resolved_scenarios()] == ["classical", "teleport"]
    digits = load_config(CONFIGS / "digits-pca-vqc.yaml")
    assert digits.data.name == "digits-pca" and digits.model.name == "vqc"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "digits", "qdataset": {"sets": ["G_1q_XZ_N1"]}}, "qdataset' only"),
        ({"name": "digits", "partition": "noise-profile"}, "needs data set 'qdataset'"),
        ({"name": "qdataset", "qdataset": {"sets": ["G_1q_XZ_N8"]}}, "N8"),
        ({"name": "qdataset", "qdataset": {"task": "classification"}}, "two or more"),
        ({"name": "qdataset", "qdataset": {"realisations": 0}}, "realisations"),
    ],
)
def test_config_errors_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_config({"data": data})


def test_run_characterisation_partitioned_by_noise_profile_with_a_vqc(tmp_path) -> None:
    cfg = parse_config(
        {
            "data": {
                "name": "qdataset",
                "partition": "noise-profile",
                "num_clients": 4,
                "qdataset": {
                    "sets": ["G_1q_XZ_N1", "G_1q_XZ_N2"],
                    "examples": 20,
                    "realisations": 2,
                    "time_steps": 64,
                },
            },
            "model": {"name": "vqc", "qubits": 3, "layers": 1},
            "training": {"rounds": 2, "local_epochs": 1, "batch_size": 8, "lr": 0.05},
        }
    )
    summary = run_experiment(cfg, out_dir=tmp_path / "run")
    assert summary["metric"] == "r2"
    scenario = summary["scenarios"]["default"]
    assert scenario["rounds"] == 2 and scenario["final_loss"] is not None
    assert scenario["final_accuracy"] <= 1.0  # R², may be negative this early


def test_list_names_the_52_published_sets(capsys) -> None:
    main(["qdataset", "list", "--json"])
    sets = json.loads(capsys.readouterr().out)["sets"]

    names = [s["name"] for s in sets]
    assert len(names) == len(set(names)) == 52
    by_name = {s["name"]: s for s in sets}
    assert by_name["G_1q_XY_XZ_N1N6_D"] == {
        "name": "G_1q_XY_XZ_N1N6_D", "qubits": 1, "pulse_shape": "gaussian",
        "controls": ["X", "Y"], "noise_axes": ["X", "Z"], "noise_profile": "N1N6",
        "distortion": True,
    }  # fmt: skip
    assert by_name["S_2q_IX-XI-XX"]["noise_profile"] == "N0"
    assert sum(s["qubits"] == 2 for s in sets) == 16  # 4 configurations x G/S x D
    assert {s["pulse_shape"] for s in sets} == {"gaussian", "square"}


def test_characterisation_config_runs_and_reports_r2(tmp_path) -> None:
    # the shipped config, shortened: fewer examples and steps, three rounds, classical only
    raw = yaml.safe_load((CONFIGS / "qdataset-characterisation.yaml").read_text())
    assert raw["data"]["qdataset"]["task"] == "characterisation"
    raw["data"]["qdataset"].update(examples=40, time_steps=64)
    raw["training"]["rounds"] = 3
    raw["scenarios"] = [{"name": "classical"}]
    load_config(CONFIGS / "qdataset-characterisation.yaml")  # the full file validates

    summary = run_experiment(parse_config(raw), out_dir=tmp_path / "run")

    assert summary["metric"] == "r2"
    scenario = summary["scenarios"]["classical"]
    assert scenario["rounds"] == 3 and -10 < scenario["final_accuracy"] <= 1.0
