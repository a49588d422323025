"""The network section in runs: per-client links, the server's timeline, dephasing, deadlines.

Each test builds a small digits run and checks a closed form on what the round recorded.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.network_config import client_links, client_values
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.engine import FederatedSimulation, RoundMetrics
from qtfl.network.link import FiberLink
from qtfl.security.run_secret import RunSecret


def _raw(network: dict[str, Any], *, clients: int = 4, link: dict[str, Any] | None = None,
         rounds: int = 1, **channel: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "seed": 3,
        "data": {"name": "digits", "num_clients": clients},
        "model": {"name": "mlp", "hidden": 8},
        "training": {"rounds": rounds, "local_epochs": 1, "batch_size": 32},
        "channel": {"kind": "plain"},
        "scenarios": [
            {
                "name": "net",
                "uplink": {
                    "kind": "teleport",
                    "link": link or {"fidelity": 0.99, "pair_rate_hz": 1e6},
                    **channel,
                },
                "network": network,
            }
        ],
    }


def _sim(raw: dict[str, Any]) -> FederatedSimulation:
    config = parse_config(raw)
    return build_simulation(
        config, prepare_inputs(config), config.resolved_scenarios()[0], secrets=RunSecret.generate()
    )


def _round(raw: dict[str, Any]) -> RoundMetrics:
    return _sim(raw).run_round()


def test_one_channel_identical_links_makespan_is_the_sum_of_client_times() -> None:
    # Prepare: 5 identical direct-pair links, deterministic heralding, one server channel
    raw = _raw({"server": {"channels": 1, "stochastic": False}}, clients=5)
    # Execute
    record = _round(raw)
    # Assert: makespan = sum of service times = (pairs the ledgers counted) / rate
    assert record.network is not None
    pairs = np.array(record.clients["bell_pairs"], dtype=np.float64)
    service = np.array(record.clients["service_seconds"])
    np.testing.assert_allclose(service, pairs / 1e6, rtol=1e-12)
    assert record.network["makespan_seconds"] == pytest.approx(pairs.sum() / 1e6, rel=1e-12)
    assert record.link_seconds == pytest.approx(pairs.sum() / 1e6, rel=1e-12)
    assert record.network["utilisation"] == pytest.approx(1.0)


def test_channels_at_least_clients_makespan_is_the_slowest_client() -> None:
    # Prepare: different distances (so different times), K = N
    raw = _raw(
        {"clients": {"distance_km": [5.0, 20.0, 40.0, 60.0]},
         "server": {"channels": 4, "stochastic": False}},
        link={"distance_km": 0.0, "source_fidelity": 0.99, "source_rate_hz": 1e7},
    )  # fmt: skip
    # Execute
    record = _round(raw)
    # Assert
    assert record.network is not None
    delivered = np.array(record.clients["delivered_at_seconds"])
    assert record.clients["wait_seconds"] == [0.0] * 4
    assert record.network["makespan_seconds"] == pytest.approx(delivered.max(), rel=1e-12)


def test_heralded_rate_is_eta_times_source_rate() -> None:
    # Prepare: fiber clients at given distances, deterministic service
    distances = [5.0, 30.0, 75.0]
    raw = _raw(
        {"clients": {"distance_km": distances}, "server": {"channels": 3, "stochastic": False}},
        clients=3,
        link={"distance_km": 0.0, "source_fidelity": 0.99, "source_rate_hz": 1e7},
    )
    # Execute
    record = _round(raw)
    # Assert: service = pairs / (eta R), eta = 10^(-0.2 L / 10); delivery adds L / (2e8 m/s)
    pairs = np.array(record.clients["bell_pairs"], dtype=np.float64)
    eta = 10 ** (-0.2 * np.array(distances) / 10)
    np.testing.assert_allclose(record.clients["service_seconds"], pairs / (eta * 1e7), rtol=1e-9)
    np.testing.assert_allclose(
        record.clients["delivered_at_seconds"],
        pairs / (eta * 1e7) + np.array(distances) * 1e3 / 2e8,
        rtol=1e-9,
    )


def test_waiting_in_memory_dephases_as_exp_and_the_checks_see_the_matching_qber() -> None:
    # Prepare: one pair rate chosen so each batch takes D = T2 (deterministic heralding);
    # coherence of the batch: (T2/D)(1 - e^{-D/T2}) = 1 - 1/e for the server's half
    f0, t2, clients, rounds = 0.99, 0.5, 6, 3
    probe = _raw({"server": {"channels": 1, "stochastic": False}}, clients=clients)
    pairs = _round(probe).clients["bell_pairs"][0]  # the same nominal count for every client
    rate = pairs / t2
    raw = _raw(
        {"server": {"channels": 2, "stochastic": False, "memory_t2_s": t2}},
        clients=clients, rounds=rounds, link={"fidelity": f0, "pair_rate_hz": rate},
    )  # fmt: skip
    sim = _sim(raw)
    # Execute
    records = [sim.run_round() for _ in range(rounds)]
    # Assert: the pair used is the Werner pair with one half dephased, p = (1 - c) / 2
    c = 1.0 - math.exp(-1.0)
    p = (1.0 - c) / 2.0
    f_used = (1.0 - p) * f0 + p * (1.0 - f0) / 3.0
    for r in records:
        np.testing.assert_allclose(r.clients["fidelity_used"], f_used, rtol=1e-9)
    # ... and the checks see QBER = (Q_Z + Q_X) / 2 with Q_Z = 2(1-F)/3, Q_X = (1 - V c) / 2
    v = (4.0 * f0 - 1.0) / 3.0
    q = 0.5 * (2.0 * (1.0 - f0) / 3.0 + (1.0 - v * c) / 2.0)
    checks = np.concatenate([r.clients["check_pairs"] for r in records]).astype(np.int64)
    measured = np.concatenate([r.clients["qber"] for r in records])
    errors = int(np.rint(checks * measured).sum())
    n = int(checks.sum())
    # two-sided binomial test at 99.9% (fixed seed): the estimate agrees with the closed form
    assert stats.binomtest(errors, n, q).pvalue > 1e-3
    # and it differs from the undephased QBER (what the checks would see without waiting)
    q0 = 2.0 * (1.0 - f0) / 3.0
    assert stats.binomtest(errors, n, q0).pvalue < 1e-6


def test_repeater_chain_multiplies_visibilities() -> None:
    # Prepare: a client at 2 L0 gets two segments, one at L0 / 2 none
    f0 = 0.97
    raw = _raw(
        {"clients": {"distance_km": [10.0, 80.0]}, "repeaters": {"spacing_km": 40.0},
         "server": {"channels": 2, "stochastic": False}},
        clients=2,
        link={"distance_km": 0.0, "source_fidelity": f0, "source_rate_hz": 1e8},
    )  # fmt: skip
    # Execute
    record = _round(raw)
    # Assert: V_chain = V_segment^2, F = (3 V + 1) / 4
    v = (4 * f0 - 1) / 3
    assert record.clients["fidelity_used"][0] == pytest.approx(f0, rel=1e-12)
    assert record.clients["fidelity_used"][1] == pytest.approx((3 * v**2 + 1) / 4, rel=1e-12)


def test_distances_drawn_from_the_seed_are_reproducible() -> None:
    # Prepare
    link = {"distance_km": 0.0, "source_fidelity": 0.99, "source_rate_hz": 1e7}
    raw = _raw({"clients": {"distance_km": {"uniform": [5, 100]}}}, clients=50, link=link)
    config = parse_config(raw)
    network = config.resolved_scenarios()[0].network
    assert network is not None and network.clients is not None
    # Execute
    a = client_values(network.clients, 50, seed=3)["distance_km"]
    b = client_values(network.clients, 50, seed=3)["distance_km"]
    other = client_values(network.clients, 50, seed=4)["distance_km"]
    base = config.resolved_scenarios()[0].uplink.link  # type: ignore[union-attr]
    links, _ = client_links(base, network, 50, seed=3)
    # Assert
    assert a == b and a != other
    assert min(a) >= 5 and max(a) <= 100
    expected = [FiberLink(distance_km=d, source_fidelity=0.99, source_rate_hz=1e7).pair_rate_hz
                for d in a]  # fmt: skip
    np.testing.assert_allclose([link.pair_rate_hz for link in links], expected, rtol=1e-12)


def test_deadline_makes_stragglers_that_are_not_aggregated() -> None:
    # Prepare: one channel, 6 identical clients of 0.1 s each; deadline after the third
    probe = _raw({"server": {"channels": 1, "stochastic": False}}, clients=6)
    pairs = _round(probe).clients["bell_pairs"][0]
    raw = _raw({"server": {"channels": 1, "stochastic": False, "deadline_s": 0.35}}, clients=6,
               link={"fidelity": 0.99, "pair_rate_hz": pairs / 0.1})  # fmt: skip
    # Execute
    record = _round(raw)
    # Assert: clients 4-6 deliver at 0.4, 0.5, 0.6 s: stragglers, accepted but not aggregated
    assert record.network is not None
    assert record.clients["straggler"] == [False, False, False, True, True, True]
    assert record.network["stragglers"] == 3 and record.network["late_updates"] == 3
    assert all(record.clients["accepted"])
    assert record.aggregated == 3 and record.answered == 6


def test_without_network_the_record_and_hash_are_unchanged() -> None:
    # Prepare: the same file without the section
    raw = _raw({}, clients=3)
    del raw["scenarios"][0]["network"]
    config = parse_config(raw)
    # Execute
    record = _round(raw)
    # Assert: no network key anywhere, and this hash was computed before the section existed
    assert "network" not in config.model_dump_json()
    assert "network" not in record.as_dict()
    assert "wait_seconds" not in record.clients
    explicit_null = parse_config({**raw, "network": None})
    assert explicit_null.config_hash() == config.config_hash()
    assert explicit_null.model_dump_json() == config.model_dump_json()


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"clients": {"distance_km": [1.0, 2.0]}}, "got 2 values for data.num_clients = 4"),
        ({"clients": {"distance_km": {"uniform": [9, 5]}}}, "low <= high"),
        ({"clients": {"distance_km": "far"}}, "numbers only"),
        ({"server": {"channels": 0}}, "channels"),
        ({"server": {"policy": "fastest"}}, "policy"),
        ({"clients": {"colour": [1]}}, "colour"),
    ],
)
def test_network_mistakes_raise_one_clear_error(network: dict[str, Any], message: str) -> None:
    # Prepare / Execute / Assert
    with pytest.raises(InputError, match=message):
        parse_config(_raw(network))


def test_network_needs_a_quantum_uplink() -> None:
    raw = _raw({"server": {"channels": 2}})
    raw["scenarios"][0]["uplink"] = {"kind": "plain"}
    with pytest.raises(InputError, match="teleport"):
        parse_config(raw)


def test_a_fidelity_link_with_per_client_distances_names_the_client() -> None:
    raw = _raw({"clients": {"distance_km": [1.0, 2.0, 3.0, 4.0]}})
    with pytest.raises(InputError, match="client 0"):
        _sim(raw)


def test_run_writes_network_summary_and_report_figures(tmp_path: Any) -> None:
    # Prepare: K = 1 and K = 2 on the same 4 clients, deterministic heralding
    from qtfl.experiments.runner import run_experiment

    raw = _raw({"server": {"channels": 1, "stochastic": False}})
    second = {**raw["scenarios"][0], "name": "net-k2",
              "network": {"server": {"channels": 2, "stochastic": False}}}  # fmt: skip
    raw["scenarios"].append(second)
    # Execute
    summary = run_experiment(parse_config(raw), out_dir=tmp_path / "out", workers=1)
    # Assert: K = 2 halves the makespan of 4 identical clients; the report draws the figures
    k1, k2 = summary["scenarios"]["net"], summary["scenarios"]["net-k2"]
    assert k2["round_makespan_seconds"] == pytest.approx(k1["round_makespan_seconds"] / 2)
    assert k1["network_seconds_total"] == pytest.approx(k1["round_makespan_seconds"])
    assert (k1["channels"], k2["channels"], k1["stragglers_total"]) == (1, 2, 0)
    html = (tmp_path / "out" / "report.html").read_text()
    for fig in ("network-timeline", "network-makespan", "network-time"):
        assert f'<figure id="{fig}">' in html
    assert (tmp_path / "out" / "report-data" / "network_timeline.csv").is_file()


def test_bench_round_mode_reports_min_and_median() -> None:
    # Prepare / Execute: a small instance of the 1000-client benchmark
    from qtfl.experiments.network_benchmark import benchmark_network_round

    out = benchmark_network_round(clients=12, channels=3, repeats=2)
    # Assert: what it measured (timing values are machine figures, not checked here)
    assert out["clients"] == 12 and out["channels"] == 3 and out["parameters"] == 4810
    assert len(out["round_seconds"]) == 2
    assert out["round_seconds_min"] <= out["round_seconds_median"]
    assert out["aggregated"] == 12 and out["bell_pairs"] > 12 * 4810 * 16


def test_a_restored_simulation_continues_the_same_timeline() -> None:
    # Prepare: stochastic heralding, two rounds; the same run secret for both simulations
    link = {"distance_km": 0.0, "source_fidelity": 0.99, "source_rate_hz": 1e7}
    network = {
        "clients": {"distance_km": {"uniform": [5, 60]}},
        "server": {"channels": 2, "memory_t2_s": 0.5},
    }
    raw = _raw(network, rounds=2, link=link)
    config = parse_config(raw)
    inputs, scenario, secret = (
        prepare_inputs(config),
        config.resolved_scenarios()[0],
        RunSecret.generate(),
    )
    straight = build_simulation(config, inputs, scenario, secrets=secret)
    straight.run_round()
    state = straight.state()
    # Execute
    expected = straight.run_round()
    resumed = build_simulation(config, inputs, scenario, secrets=secret)
    resumed.restore(state)
    got = resumed.run_round()
    # Assert: the same schedule, the same dephased pairs, the same checks
    assert got.network == expected.network
    for name in ("wait_seconds", "delivered_at_seconds", "fidelity_used", "qber"):
        assert got.clients[name] == expected.clients[name]


def test_per_client_links_without_a_server_set_each_uplink() -> None:
    # Prepare: per-client source fidelities by list, no server (no timeline)
    fidelities = [0.99, 0.97, 0.95, 0.93]
    raw = _raw(
        {"clients": {"source_fidelity": fidelities, "distance_km": 10.0}},
        link={"distance_km": 0.0, "source_rate_hz": 1e7},
    )
    # Execute
    sim = _sim(raw)
    record = sim.run_round()
    # Assert: each uplink holds its own Werner pair; no timeline fields are recorded
    got = [sim.uplink(k).link.pair.fidelity for k in range(4)]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, fidelities, rtol=1e-12)
    assert record.network is None and "wait_seconds" not in record.clients


def test_top_level_network_serves_quantum_uplinks_and_a_classical_baseline_ignores_it() -> None:
    # Prepare: the network at the top level, a teleport scenario and a plain one
    raw = _raw({})
    del raw["scenarios"][0]["network"]
    raw["network"] = {"server": {"channels": 2}}
    raw["scenarios"].append({"name": "classical", "uplink": {"kind": "plain"}})
    # Execute
    resolved = {sc.name: sc for sc in parse_config(raw).resolved_scenarios()}
    # Assert
    assert resolved["net"].network is not None and resolved["net"].network.server is not None
    assert resolved["classical"].network is None


def test_config_policies_are_the_timeline_policies() -> None:
    from typing import get_args

    from qtfl.experiments.network_config import ServerConfig
    from qtfl.network.timeline import POLICIES

    assert get_args(ServerConfig.model_fields["policy"].annotation) == POLICIES


def test_a_dumped_configuration_parses_back_to_the_same_networks() -> None:
    # Prepare: configs/network.yaml puts the clients at the top level and the server in each
    # scenario; its dump (config.json, a Flower job) writes the scenarios' unset keys as null
    from pathlib import Path

    from qtfl.experiments.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "network.yaml")
    # Execute
    again = parse_config(json.loads(config.model_dump_json()))
    # Assert: every resolved scenario keeps the top level's clients and repeaters
    before = [sc.network for sc in config.resolved_scenarios()]
    after = [sc.network for sc in again.resolved_scenarios()]
    assert after == before
    assert all(n is not None and n.clients is not None and n.repeaters is not None for n in after)

