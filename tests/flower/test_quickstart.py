"""Issue 16's must-show: every scenario of configs/quickstart.yaml on both Flower engines.

The whole quickstart configuration (its six scenarios: classical, pqc, teleport-corrected,
teleport-raw, teleport-eavesdropped, qkd-otp) runs as ONE ``qtfl run`` per engine —
in process, ``--engine flower-sim`` and ``--engine flower-deploy`` (2 SuperNodes, TLS and
node keys on: the defaults) — all three with the same ``--secret-file``. Each Flower run's
summary.json equals the in-process one (timing and engine name aside: final and best
accuracy bit for bit, every ledger total, detections and rejections), its metrics.jsonl
equals row for row (wall-clock fields aside: per-round accuracy and loss, uplink and
downlink ledgers, verdict counts, per-client records), and it writes report.html.

Cut to keep the suite fast, each scenario still doing what it is there for:

* ``training.rounds`` 30 -> 2: the second round starts from an aggregated model that went
  down the downlink, so state carried between rounds is compared too;
* ``data.num_clients`` 10 -> 2: one client per SuperNode (a deployed SuperNode handles one
  message at a time, so two clients make one round one wave of messages);
* the eavesdropper of ``teleport-eavesdropped`` on client 0 only (quickstart: clients 0
  and 1): with two clients both would be rejected and the round would aggregate nothing;
  now each round has one rejected (detected) and one aggregated delivery.

The model, data set, link preset, purification target, FEC, check fraction and everything
else are the quickstart's. The in-process reference runs once for both engines (``make
test`` keeps a module's tests on one worker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from qtfl.cli import main
from tests.flower.inline import secret_file

pytestmark = pytest.mark.integration
QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
SCENARIOS = ("classical", "pqc", "teleport-corrected", "teleport-raw",
             "teleport-eavesdropped", "qkd-otp")  # fmt: skip
ROUNDS = 2
WALL_CLOCK = ("wall_seconds", "train_seconds")  # the only per-row fields timing may change


def _cut_quickstart(directory: Path) -> Path:
    raw = yaml.safe_load(QUICKSTART.read_text())
    assert tuple(s["name"] for s in raw["scenarios"]) == SCENARIOS  # the configuration tested
    raw["training"]["rounds"] = ROUNDS
    raw["data"]["num_clients"] = 2
    (eavesdropped,) = [s for s in raw["scenarios"] if s["name"] == "teleport-eavesdropped"]
    (eve,) = eavesdropped["eavesdroppers"]
    assert eve["clients"] == [0, 1]
    eve["clients"] = [0]
    path = directory / "quickstart-cut.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _qtfl_run(config: Path, out: Path, secret: Path, *extra: str) -> None:
    main(["run", str(config), "--out", str(out), "--secret-file", str(secret), "--json", *extra])


def _summary(out: Path) -> dict[str, Any]:
    doc = json.loads((out / "summary.json").read_text())
    doc.pop("timing")
    doc.pop("engine", None)
    return dict(doc)


def _rows(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in WALL_CLOCK:
            row.pop(key)
    return rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The cut quickstart in process, with a run secret the Flower runs reuse."""
    tmp = tmp_path_factory.mktemp("quickstart")
    config, secret = _cut_quickstart(tmp), secret_file(tmp)
    _qtfl_run(config, tmp / "inprocess", secret)
    return {"dir": tmp, "config": config, "secret": secret, "out": tmp / "inprocess"}


def _engine_run(reference: dict[str, Path], engine: str) -> Path:
    out = reference["dir"] / engine
    _qtfl_run(reference["config"], out, reference["secret"], "--engine", engine)
    return out


@pytest.fixture(scope="module")
def simulated(reference: dict[str, Path]) -> Path:
    return _engine_run(reference, "flower-sim")


@pytest.fixture(scope="module")
def deployed(reference: dict[str, Path]) -> Path:
    return _engine_run(reference, "flower-deploy")


def _assert_equal_to_in_process(out: Path, reference: dict[str, Path], engine: str) -> None:
    want_summary, want_rows = _summary(reference["out"]), _rows(reference["out"])
    # the reference is the quickstart: six scenarios, two rounds, each doing its job
    assert list(want_summary["scenarios"]) == list(SCENARIOS)
    assert [(r["scenario"], r["round"]) for r in want_rows] == [
        (s, r) for s in SCENARIOS for r in range(1, ROUNDS + 1)
    ]
    by = {(r["scenario"], r["round"]): r for r in want_rows}
    for r in range(1, ROUNDS + 1):
        assert by["teleport-corrected", r]["uplink"]["purification_pairs"] > 0
        assert by["teleport-eavesdropped", r]["detected"] == 1  # client 0's round rejected
        assert by["teleport-eavesdropped", r]["aggregated"] == 1  # client 1's accepted
        assert by["qkd-otp", r]["aggregated"] == 2
    # Assert: the engine's outputs equal the in-process ones
    assert json.loads((out / "summary.json").read_text())["engine"] == engine
    got_rows = _rows(out)
    for got, want in zip(got_rows, want_rows, strict=True):
        assert got == want, (want["scenario"], want["round"])
    assert _summary(out) == want_summary  # accuracy bit for bit, ledgers, verdicts
    page = (out / "report.html").read_text()
    assert all(name in page for name in SCENARIOS)


def test_every_quickstart_scenario_on_flower_sim_equals_in_process(
    simulated: Path, reference: dict[str, Path]
) -> None:
    _assert_equal_to_in_process(simulated, reference, "flower-sim")


def test_every_quickstart_scenario_on_flower_deploy_equals_in_process(
    deployed: Path, reference: dict[str, Path]
) -> None:
    _assert_equal_to_in_process(deployed, reference, "flower-deploy")
    logs = reference["dir"] / "flower-deploy" / "flower" / "deploy"
    link = (logs / "superlink.log").read_text(errors="replace")
    assert "https://127.0.0.1" in link and "authentication is disabled" not in link  # TLS, keys
    for i in range(2):  # each SuperNode served its own client
        assert "Receiving: train message" in (logs / f"supernode-{i}.log").read_text()
