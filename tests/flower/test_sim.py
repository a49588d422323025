"""`qtfl run --engine flower-sim`: Flower's Ray simulation engine through the CLI.

One small run (Ray takes tens of seconds to start, so one test): 3 clients on 3 virtual
SuperNodes, 2 rounds of digits, plain channels — the summary equals the in-process engine's
to the last bit. Bad engine names and --resume exit 2 with one message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qtfl.cli import main
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs

pytestmark = pytest.mark.integration
CONFIG = {"seed": 4, "data": {"num_clients": 3}, "training": {"rounds": 2, "local_epochs": 1}}


def test_flower_sim_through_the_cli_equals_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    main(["run", str(path), "--out", str(tmp_path / "out"), "--engine", "flower-sim", "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = parse_config(CONFIG)
    sim = build_simulation(config, prepare_inputs(config), config.resolved_scenarios()[0])
    records = [sim.run_round() for _ in range(2)]
    assert summary["engine"] == "flower-sim"
    assert summary["scenarios"]["default"]["final_accuracy"] == records[-1].accuracy
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == [r.loss for r in records]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "flower-cloud"], "engine"),
        (["--engine", "flower-sim", "--resume"], "--resume"),
    ],
)
def test_bad_engine_options_exit_2_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--out", str(tmp_path / "o"), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
