"""What a Flower run leaves in --out: the in-process outputs (attacks and report included),
nothing after a refusal or a failure, and the clients whose node did not answer.

One Ray run (2 clients, 2 rounds, three scenarios); the others are refused before Flower
starts or run on the in-memory Grid (:mod:`tests.flower.inline`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import qtfl.flower.run as flower_run
from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.metrics import metrics_jsonl
from qtfl.experiments.report import render_report
from qtfl.experiments.runner import (
    build_simulation,
    build_summary,
    prepare_inputs,
    run_experiment,
    scenario_privacy,
)
from qtfl.flower.client import make_client_app
from qtfl.flower.job import FlowerJob, privacy_path, write_party_secrets
from qtfl.flower.run import run_on_flower
from qtfl.flower.server import serve
from qtfl.security.run_secret import RunSecret
from tests.flower.inline import InlineGrid

TIMING = ("wall_seconds", "train_seconds")
TELEPORT = {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 16}


def _raw(**extra: Any) -> dict[str, Any]:
    return {
        "seed": 6,
        "data": {"num_clients": 2},
        "model": {"name": "mlp", "hidden": 16},
        "training": {"rounds": 2, "local_epochs": 1},
        **extra,
    }


def _untimed(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("timing")
    summary.pop("engine", None)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in TIMING:
            row.pop(key)
    return summary, rows


@pytest.mark.integration
def test_flower_sim_writes_what_in_process_writes_attacks_and_report_included(
    tmp_path: Path,
) -> None:
    # Prepare: plain, AEAD and raw teleport; the attacks section on; one secret for both
    config = parse_config(
        _raw(
            attacks={"inversion": ["analytic"], "membership": True},
            scenarios=[
                {"name": "plain", "channel": {"kind": "plain"}},
                {"name": "aead", "channel": {"kind": "aead"}},
                {"name": "teleport", "uplink": TELEPORT},
            ],
        )
    )
    secret = tmp_path / "secret.key"
    RunSecret.generate().save(secret)
    # Execute
    run_experiment(config, out_dir=tmp_path / "in", secret_file=secret)
    summary = run_on_flower(
        config, out_dir=tmp_path / "fl", engine="flower-sim", secret_file=secret
    )
    # Assert: equal summaries (accuracy, ledgers, verdicts, attack results) and records
    assert summary["engine"] == "flower-sim"
    theirs, our = _untimed(tmp_path / "in"), _untimed(tmp_path / "fl")
    assert set(theirs[0]["privacy"]) == {"plain", "aead", "teleport"}
    assert our == theirs
    assert (tmp_path / "fl" / "report.html").is_file()
    assert (tmp_path / "fl" / "flower" / "aead.privacy.json").is_file()  # assessed on Flower
    assert all(row["unanswered_clients"] == [] for row in our[1])


@pytest.mark.parametrize("existed", [False, True])
def test_a_refused_flower_run_leaves_out_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    # Prepare: every shipped channel kind splits, so an uplink whose ends cannot be split
    # (a channel a user added without Flower ends) stands in; --out absent, or present and
    # empty
    import qtfl.flower.ends as ends_module

    real = ends_module.uplink_ends

    def unsplittable(channel: Any) -> Any:
        if "teleport" in channel.name:
            raise InputError(f"uplink channel {channel.name!r} cannot run on Flower")
        return real(channel)

    monkeypatch.setattr(ends_module, "uplink_ends", unsplittable)
    scenario = {"name": "tp", "uplink": {"kind": "teleport", "link": {"fidelity": 0.99}}}
    config = parse_config(_raw(scenarios=[{"name": "plain"}, scenario]))
    out = tmp_path / "out"
    if existed:
        out.mkdir()
    # Execute
    with pytest.raises(InputError, match="cannot run on Flower") as exc:
        run_on_flower(config, out_dir=out, engine="flower-sim")
    # Assert: one message naming the scenario; --out untouched
    assert str(exc.value).startswith("scenario 'tp': ")
    assert out.exists() == existed
    assert not existed or list(out.iterdir()) == []


def test_a_flower_run_that_fails_after_writing_removes_what_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: Flower fails once the run has written its first files
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the SuperLink went away")

    monkeypatch.setattr(flower_run, "run_scenarios_on_flower", fail)
    config = parse_config(_raw())
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # the user's own file: resume-style directory
    (out / "config.json").write_text(config.model_dump_json(indent=2) + "\n")
    # Execute
    with pytest.raises(RuntimeError):
        run_on_flower(config, out_dir=out, engine="flower-sim", resume=True)
    # Assert: only the files that were there before remain
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]


def test_clients_whose_node_does_not_answer_are_in_metrics_and_report(tmp_path: Path) -> None:
    # Prepare: 4 clients on 2 nodes; node slot 1 (clients 1 and 3) dies after round 1
    config = parse_config(
        {"seed": 2, "data": {"num_clients": 4}, "training": {"rounds": 2, "local_epochs": 1}}
    )
    secrets = write_party_secrets(
        tmp_path / "secrets", RunSecret.generate(), scenarios=["default"], num_clients=4,
        num_nodes=2,
    )  # fmt: skip
    job = FlowerJob(
        config.model_dump_json(), "default", 2, str(tmp_path / "r.json"), secrets_dir=str(secrets)
    )

    def dead(node: int, msg: Any) -> bool:
        if msg.metadata.message_type != "train":
            return False
        return node == 1001 and int(str(msg.content.config_records["qtfl"]["round"])) >= 2

    # Execute
    records = serve(InlineGrid(make_client_app(lambda _ctx: job), 2, dead=dead), job)
    lines = [json.loads(x) for x in metrics_jsonl({"default": records}).splitlines()]
    summary = build_summary(config, {"default": records}, {"default": True}, {})
    page = render_report(summary, {"default": records})
    # Assert: per round, who did not answer (and counted as dropped)
    assert [(x["unanswered_clients"], x["dropped"]) for x in lines] == [([], 0), ([1, 3], 2)]
    assert 'id="unanswered"' in page and "1, 3" in page


def test_the_attacks_read_the_wire_the_nodes_send_and_equal_in_process(tmp_path: Path) -> None:
    # Prepare: the attacks section on plaintext and raw teleport, one secret for both engines
    config = parse_config(
        _raw(
            attacks={"inversion": ["analytic"], "membership": False},
            scenarios=[{"name": "plain", "channel": {"kind": "plain"}},
                       {"name": "teleport", "uplink": TELEPORT}],
        )
    )  # fmt: skip
    secret = RunSecret.generate()
    inputs = prepare_inputs(config)
    for sc in config.resolved_scenarios():
        secrets = write_party_secrets(
            tmp_path / f"s-{sc.name}", secret, scenarios=[sc.name], num_clients=2, num_nodes=2
        )
        job = FlowerJob(
            config.model_dump_json(), sc.name, 2, str(tmp_path / f"{sc.name}.json"),
            secrets_dir=str(secrets),
        )  # fmt: skip
        grid = InlineGrid(make_client_app(lambda _ctx, job=job: job), 2)
        sim = build_simulation(config, inputs, sc, secrets=secret)
        # Execute: the ServerApp's run (training, then the probe exchange); in-process
        serve(grid, job)
        for _ in range(config.training.rounds):
            sim.run_round()
        expected = json.loads(json.dumps(scenario_privacy(config, sc, sim)))
        # Assert: the same attack results, from the probes each node sent as wire arrays
        got = json.loads(privacy_path(Path(job.result_path)).read_text())
        assert got == expected
        probes = [m for m in grid.sent if "probe" in m.content.array_records]
        assert sorted(int(str(m.content.config_records["qtfl"]["client"])) for m in probes) == [
            0,
            1,
        ]
        answers = grid.replies[-2:]
        assert all("update" not in a.content.array_records for a in answers)
        wire = set(answers[0].content.array_records["wire"])
        assert wire == ({"plaintext"} if sc.name == "plain" else wire | {"bell_bits"})
