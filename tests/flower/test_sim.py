"""`qtfl run --engine flower-sim` through the CLI: bad engine options.

Bad engine names and --resume without a run exit 2 with one message. A run through the CLI
whose summary equals the in-process engine's to the last bit is test_quickstart.py's
flower-sim test (every quickstart scenario in one ``qtfl run``; it replaced the one-scenario
run that was here, which cost one more Ray start-up).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qtfl.cli import main

pytestmark = pytest.mark.integration
CONFIG = {"seed": 4, "data": {"num_clients": 3}, "training": {"rounds": 2, "local_epochs": 1}}


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
