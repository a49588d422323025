"""The ``network`` section on Flower: per-client links, the server's timeline, stragglers.

The real ServerApp/ClientApp code on the in-memory Grid (:mod:`tests.flower.inline`): the
strategy schedules each round's clients on the server's one channel, dephases their pairs
while they wait, tells each client node the coherence of its pairs, and drops the client
that misses the deadline; the run must equal the in-process one — accuracy bit for bit,
makespan, stragglers, utilisation, every per-client row. One short flower-sim (Ray) run of
the same configuration checks the simulation engine end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.fl.engine import RoundMetrics
from tests.flower.inline import fixed_decoder
from tests.flower.test_engines import _flower, _inprocess, _rows


def _config(
    *, deadline_s: float | None = 0.09, rounds: int = 2, top_level_clients: bool = False
) -> ExperimentConfig:
    # three clients over links of F = 0.995, 0.99, 0.985 at 2e5 pairs/s; each update takes
    # about 0.03 s, so on ONE server channel the third is delivered near 0.105 s: past the
    # 0.09 s deadline. Memories (client T2 0.5 s, server 1 s) dephase waiting pairs.
    uplink = {"kind": "teleport", "link": {"fidelity": 0.99, "pair_rate_hz": 2e5}, "bits": 8,
              "fec": "auto"}  # fmt: skip
    network = {"clients": {"fidelity": [0.995, 0.99, 0.985], "memory_t2_s": 0.5},
               "server": {"channels": 1, "memory_t2_s": 1.0, "deadline_s": deadline_s}}  # fmt: skip
    top: dict[str, Any] = {}
    if top_level_clients:  # as configs/network.yaml: clients for every scenario, server in it
        top = {"network": {"clients": network.pop("clients")}}
    return parse_config(
        {
            "seed": 4,
            "data": {"num_clients": 3},
            "model": {"name": "mlp", "hidden": 8},
            "training": {"rounds": rounds, "local_epochs": 1},
            "scenarios": [{"name": "net", "uplink": uplink, "network": network}],
            **top,
        }
    )


def _network_rows(records: list[RoundMetrics]) -> list[dict[str, Any]]:
    return [{"network": r.network, "link_seconds": r.link_seconds,
             "link_seconds_total": r.link_seconds_total} for r in records]  # fmt: skip


def test_network_run_on_flower_equals_in_process(tmp_path: Path) -> None:
    # Prepare
    config = _config()
    expected, params = _inprocess(config, "net")
    # Execute
    got, grid = _flower(config, "net", tmp_path)
    # Assert: the schedule did something — one straggler per round, counted, not aggregated,
    # pairs dephased below their link's fidelity — and every figure equals in-process
    for record in expected:
        assert record.network is not None and record.network["stragglers"] == 1
        assert record.clients["straggler"] == [False, False, True]
        assert record.aggregated == 2 and record.answered == 3
        assert max(record.clients["fidelity_used"]) < 0.98
    assert _rows(got) == _rows(expected)
    assert _network_rows(got) == _network_rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "net.npy"), params)
    # each train message told the client node its coherence (a public number, no secret)
    trains = [m for m in grid.sent if m.metadata.message_type == "train"]
    told = [m.content.config_records["qtfl"] for m in trains]
    assert len(told) == 6 and all(0.0 < float(str(t["link_parameter"])) < 1.0 for t in told)


def test_without_a_deadline_every_client_is_aggregated_as_in_process(tmp_path: Path) -> None:
    # Prepare: the clients' links at the top level (the Flower job carries the config as
    # JSON: the scenario's unset keys must not hide them)
    config = _config(deadline_s=None, rounds=1, top_level_clients=True)
    expected, params = _inprocess(config, "net")
    # Execute
    got, _ = _flower(config, "net", tmp_path)
    # Assert: K = 1 -> the makespan is the sum of the three service times
    (record,) = got
    assert record.network is not None and record.aggregated == 3
    assert len(set(record.clients["fidelity_used"])) == 3  # three different links
    total = sum(record.clients["service_seconds"])
    assert record.network["makespan_seconds"] == pytest.approx(total, rel=1e-12)
    assert _rows(got) == _rows(expected) and _network_rows(got) == _network_rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "net.npy"), params)


def test_fec_resends_of_a_scheduled_client_use_its_round_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a decoder that assumes fewer errors than the dephased pairs make, so blocks
    # fail and the server asks again; the node must answer over the same round link
    from qtfl.flower.exchange import REQUEST_TYPE

    fixed_decoder(monkeypatch, "ldpc-9/10", bit_error_rate=0.0005)
    config = _config(deadline_s=None, rounds=1)
    expected, params = _inprocess(config, "net")
    # Execute
    got, grid = _flower(config, "net", tmp_path)
    # Assert: resends happened as further messages; every figure equals in-process
    assert expected[0].uplink["retransmissions"] > 0
    assert any(m.metadata.message_type == REQUEST_TYPE for m in grid.sent)
    assert _rows(got) == _rows(expected) and _network_rows(got) == _network_rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "net.npy"), params)


NETWORK_SUMMARY = ("round_makespan_seconds", "network_seconds_total", "stragglers_total",
                   "mean_utilisation", "mean_delivery_seconds", "channels", "policy")  # fmt: skip


def test_network_run_on_flower_sim_equals_in_process(tmp_path: Path) -> None:
    # Prepare: the same configuration, one round, on Flower's Ray simulation engine
    from qtfl.experiments.runner import run_experiment
    from qtfl.flower.run import run_on_flower
    from tests.flower.inline import secret_file, untimed_rows

    config = _config(rounds=1)
    secret = secret_file(tmp_path)
    # Execute
    run_experiment(config, out_dir=tmp_path / "in", secret_file=secret)
    run_on_flower(config, out_dir=tmp_path / "sim", engine="flower-sim", secret_file=secret)
    # Assert: metrics rows (wall time aside; simulated network times included) and the
    # summary's network figures equal; the straggler was there
    got, want = untimed_rows(tmp_path / "sim"), untimed_rows(tmp_path / "in")
    assert got == want
    assert want[0]["network"]["stragglers"] == 1 and want[0]["aggregated"] == 2
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("sim", "in")]
    sim, local = (s["scenarios"]["net"] for s in summaries)
    assert {k: sim[k] for k in NETWORK_SUMMARY} == {k: local[k] for k in NETWORK_SUMMARY}
    assert sim["final_accuracy"] == local["final_accuracy"] is not None
