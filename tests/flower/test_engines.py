"""The Flower ServerApp/ClientApp against the in-process engine, on an in-memory Grid.

The real app code runs (strategy wrapper, mods, split channel ends); only the transport is
replaced (:mod:`tests.flower.inline`), so these checks are fast. The Ray simulation engine and
the deployment runtime are exercised in test_sim.py and test_deploy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import qtfl.flower.ends as ends_module
from qtfl.channel import Channel
from qtfl.channel.pqc import PqcChannel
from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.errors import InputError
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.engine import RoundMetrics
from qtfl.flower.client import make_client_app
from qtfl.flower.ends import uplink_ends
from qtfl.flower.job import FlowerJob, write_party_secrets
from qtfl.flower.server import serve
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import RunSecret
from tests.flower.inline import InlineGrid

#: One run secret for both engines (each Flower node gets only its own share of it).
SECRET = RunSecret(bytes(range(32)))

COMPARED = ("round", "accuracy", "loss", "sampled", "dropped", "answered", "aborted",
            "detected", "aggregated", "uplink", "downlink", "clients")  # fmt: skip


def _config(**training: Any) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 3,
            "data": {"num_clients": 5},
            "training": {"rounds": 3, "local_epochs": 1, **training},
            "scenarios": [
                {"name": "plain", "channel": {"kind": "plain"}},
                {"name": "teleport", "uplink": {"kind": "teleport", "link": {"fidelity": 0.97},
                 "bits": 16}},
                {"name": "eve", "uplink": {"kind": "teleport", "link": {"fidelity": 0.97},
                 "bits": 16}, "eavesdroppers": [{"clients": [1], "attack": "intercept-resend"}]},
            ],
        }
    )  # fmt: skip


def _inprocess(config: ExperimentConfig, scenario: str) -> tuple[list[RoundMetrics], np.ndarray]:
    sc = next(s for s in config.resolved_scenarios() if s.name == scenario)
    sim = build_simulation(config, prepare_inputs(config), sc, secrets=SECRET)
    records = [sim.run_round() for _ in range(config.training.rounds)]
    return records, sim.global_params


def _flower(
    config: ExperimentConfig, scenario: str, tmp_path: Path, *, nodes: int = 2, **grid: Any
) -> tuple[list[RoundMetrics], InlineGrid]:
    job = _job(config, scenario, tmp_path, nodes)
    g = InlineGrid(make_client_app(lambda _ctx: job), nodes, **grid)
    return serve(g, job), g


def _job(config: ExperimentConfig, scenario: str, tmp_path: Path, nodes: int) -> FlowerJob:
    secrets = write_party_secrets(
        tmp_path / f"secrets-{scenario}",
        SECRET,
        scenarios=[scenario],
        num_clients=config.data.num_clients,
        num_nodes=nodes,
    )
    path = str(tmp_path / f"{scenario}.json")
    return FlowerJob(config.model_dump_json(), scenario, nodes, path, secrets_dir=str(secrets))


def _rows(records: list[RoundMetrics]) -> list[dict[str, Any]]:
    return [{k: r.as_dict()[k] for k in COMPARED} for r in records]


def test_plain_run_is_bit_identical_to_in_process(tmp_path: Path) -> None:
    # Prepare: sampling, dropouts and two nodes serving five clients all in play
    config = _config(fraction=0.8, dropout_probability=0.2)
    # Execute
    expected, params = _inprocess(config, "plain")
    got, _ = _flower(config, "plain", tmp_path)
    # Assert: every figure equal, accuracy and loss exactly; final parameters bit for bit
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "plain.npy"), params)


@pytest.mark.parametrize("fidelity", [1.0, 0.97])
def test_teleport_run_on_a_noisy_link_is_bit_identical_to_in_process(
    tmp_path: Path, fidelity: float
) -> None:
    # Prepare: both engines key the uplink link samples by (seed, scenario, round, client)
    config = _config().model_copy(
        update={"scenarios": None, "channel": parse_config(
            {"channel": {"kind": "teleport", "link": {"fidelity": fidelity}, "bits": 16}}
        ).channel}
    )  # fmt: skip
    config = parse_config(config.model_dump())
    expected, params = _inprocess(config, "default")
    # Execute
    got, _ = _flower(config, "default", tmp_path)
    # Assert: the split ends over Flower reproduce the whole channel in process exactly
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "default.npy"), params)


def test_nodes_are_found_by_partition_id_not_by_node_id_order(tmp_path: Path) -> None:
    # Prepare: partition-ids in the reverse order of the node ids; each node holds only the
    # link keys of its partition's clients
    config = _config()
    expected, params = _inprocess(config, "teleport")
    # Execute
    got, _ = _flower(config, "teleport", tmp_path, reverse_partitions=True)
    # Assert: every client reached the node holding its key; the run equals in-process
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "teleport.npy"), params)


def test_eavesdropped_client_is_rejected_every_round_as_in_process(tmp_path: Path) -> None:
    config = _config()
    expected, _ = _inprocess(config, "eve")
    got, grid = _flower(config, "eve", tmp_path)
    # same rejections and detections per round (client 1 of 5, full intercept-resend)
    assert [(r.aborted, r.detected, r.aggregated) for r in got] == [
        (r.aborted, r.detected, r.aggregated) for r in expected
    ]
    assert all(r.detected == 1 and r.aggregated == 4 for r in got)
    # the tapped client never put Bell bits on the wire (verify, then teleport); others did
    for reply in grid.replies:
        if reply.metadata.message_type != "train":
            continue  # the server's partition-id queries
        wire = reply.content.array_records["wire"]
        client = int(str(reply.content.config_records["qtfl"]["client"]))
        assert ("bell_bits" in wire) == (client != 1)


def test_neither_end_reads_the_other_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: the link hands out halves through sender_half/receiver_half; make each one
    # fail when called from the wrong end
    side = {"now": "server"}
    real_sender, real_receiver = ends_module.sender_half, ends_module.receiver_half

    def sender_only(*a: Any, **k: Any) -> Any:
        assert side["now"] == "client", "the server asked for the sender's half"
        return real_sender(*a, **k)

    def receiver_only(*a: Any, **k: Any) -> Any:
        assert side["now"] == "server", "a client asked for the receiver's half"
        return real_receiver(*a, **k)

    monkeypatch.setattr(ends_module, "sender_half", sender_only)
    monkeypatch.setattr(ends_module, "receiver_half", receiver_only)
    config = _config()
    job = _job(config, "teleport", tmp_path, 2)
    app = make_client_app(lambda _ctx: job)

    def client_side(msg: Any, ctx: Any) -> Any:
        side["now"] = "client"
        try:
            return app(msg, ctx)
        finally:
            side["now"] = "server"

    grid = InlineGrid(app, 2)
    grid.client_app = client_side  # type: ignore[assignment]
    # Execute / Assert: a whole run passes with both guards in place, and every update arrived
    records = serve(grid, job)
    assert [r.aggregated for r in records] == [5, 5, 5]


def test_a_node_that_stops_answering_drops_its_clients_and_the_round_goes_on(
    tmp_path: Path,
) -> None:
    config = _config()

    def dead(node: int, msg: Any) -> bool:  # the second node dies after round 1
        if msg.metadata.message_type != "train":
            return False  # it answers the server's partition-id query at the start
        return node == 1001 and int(str(msg.content.config_records["qtfl"]["round"])) >= 2

    got, _ = _flower(config, "plain", tmp_path, dead=dead)
    # clients 1 and 3 live on node slot 1 (k % 2): they drop from round 2 on
    assert [(r.answered, r.dropped, r.aggregated) for r in got] == [(5, 0, 5), (3, 2, 3), (3, 2, 3)]
    assert got[-1].accuracy is not None and got[-1].accuracy > 0.5


class _Unsplittable(Channel):
    """A channel kind the Flower ends do not know (e.g. a user's own subclass)."""

    name = "home-made"

    def _send(self, update: Any, *, rng: np.random.Generator) -> Any:
        raise AssertionError("never sent")


def test_a_channel_that_cannot_be_split_is_refused_by_name() -> None:
    with pytest.raises(InputError) as err:
        uplink_ends(_Unsplittable())
    message = str(err.value)
    assert "'home-made' cannot run on Flower" in message
    assert "Supported: plain, aead, pqc, teleport" in message and "qkd-otp" in message


@pytest.mark.parametrize(
    "channel",
    [TeleportationChannel(LinkSpec(WernerPair(0.97)), bits=8, fec="auto"),
     QkdOtpChannel(LinkSpec(WernerPair(0.97)), bits=8)],
)  # fmt: skip
def test_fec_and_qkd_otp_are_no_longer_refused(channel: Channel) -> None:
    assert uplink_ends(channel).multi_step


def test_pqc_is_no_longer_refused_and_takes_one_reply() -> None:
    assert not uplink_ends(PqcChannel()).multi_step


def test_qkd_otp_with_cascade_is_no_longer_refused() -> None:
    channel = QkdOtpChannel(
        LinkSpec(WernerPair(0.97)), bits=8, settings=QkdSettings(reconciliation="cascade")
    )
    ends = uplink_ends(channel)
    assert ends.multi_step and type(ends).__name__ == "CascadeQkdOtpEnds"


def test_aead_uplink_decrypts_on_the_server_and_matches_in_process(tmp_path: Path) -> None:
    config = parse_config(
        {"seed": 1, "data": {"num_clients": 3}, "training": {"rounds": 2, "local_epochs": 1},
         "channel": {"kind": "aead"}}
    )  # fmt: skip
    expected, params = _inprocess(config, "default")
    got, grid = _flower(config, "default", tmp_path)
    assert _rows(got) == _rows(expected)  # AES-GCM is exact: same updates, same model
    np.testing.assert_array_equal(np.load(tmp_path / "default.npy"), params)
    first = next(r for r in grid.replies if r.metadata.message_type == "train")
    wire = first.content.array_records["wire"]
    assert list(wire.keys()) == ["ciphertext"]
