"""The ``attacks:`` section and Eve's information on Flower against the in-process engine.

The real ServerApp strategy and ClientApp run on the in-memory Grid (:mod:`tests.flower.
inline`). After the last round the server hands each node its client's honest probe; the
node masks or noises it with its own keys and sends it through its sending end, so the
attack results must equal the in-process assessment exactly (same seed and run secret).
The eavesdropper a client node simulates reports her information beside its wire arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs, scenario_privacy
from qtfl.flower.job import privacy_path
from qtfl.flower.privacy_ends import REVEAL
from qtfl.flower.taps import EVE
from tests.flower.inline import FEC_AT_ITS_LIMIT, fixed_decoder
from tests.flower.test_engines import SECRET, _flower, _inprocess, _rows

TELEPORT = {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 16}


def _config(scenario: dict[str, Any], *, rounds: int = 1, attacks: bool = True) -> ExperimentConfig:
    raw: dict[str, Any] = {
        "seed": 3,
        "data": {"num_clients": 4},
        "training": {"rounds": rounds, "local_epochs": 1},
        "scenarios": [{"name": "s", **scenario}],
    }
    if attacks:
        raw["attacks"] = {"inversion": ["analytic"], "membership": False}
    return parse_config(raw)


def _assessed_in_process(config: ExperimentConfig) -> dict[str, Any]:
    sc = config.resolved_scenarios()[0]
    sim = build_simulation(config, prepare_inputs(config), sc, secrets=SECRET)
    for _ in range(config.training.rounds):
        sim.run_round()
    return scenario_privacy(config, sc, sim)


def _assessed_on_flower(config: ExperimentConfig, tmp_path: Path, **grid: Any) -> Any:
    _, g = _flower(config, "s", tmp_path, **grid)
    return json.loads(privacy_path(tmp_path / "s.json").read_text()), g


@pytest.mark.parametrize(
    "scenario",
    [
        {"uplink": {"kind": "aead"}, "privacy": {"secure_aggregation": True}},
        {"uplink": TELEPORT, "privacy": {"dp": {"placement": "client", "noise_multiplier": 0.5}}},
        {"uplink": {"kind": "plain"}, "privacy": {"secure_aggregation": True,
                                                  "dp": {"placement": "client"}}},
        {"uplink": {"kind": "plain"}, "privacy": {"secure_aggregation": True,
                                                  "secure_aggregation_keys": "quantum"}},
    ],
    ids=["masks", "local-dp", "masks+local-dp", "secagg+"],
)  # fmt: skip
def test_attacks_on_client_keyed_privacy_equal_in_process(
    tmp_path: Path, scenario: dict[str, Any]
) -> None:
    # Prepare: probes that need mask and noise keys only the client nodes hold
    config = _config(scenario)
    # Execute
    expected = _assessed_in_process(config)
    got, grid = _assessed_on_flower(config, tmp_path)
    # Assert: every attack figure equal; the probes crossed the wire masked/noised: the
    # server's view of the target is the unmasked sum (secagg) or a noisy update, never
    # the honest probe it handed out
    assert got == expected
    probes = [m for m in grid.sent if "probe" in m.content.array_records]
    assert len(probes) == 4
    honest = probes[0].content.array_records["probe"]["update"].numpy()
    reply = next(r for r in grid.replies if "probe" in r.content.array_records)
    wire = reply.content.array_records["wire"]
    if "plaintext" in wire:
        sent = np.frombuffer(wire["plaintext"].numpy().tobytes(), np.float32)
        assert not np.allclose(sent, honest, atol=1e-3)


def test_a_probe_lost_with_masks_is_unmasked_from_the_survivors_reveals(tmp_path: Path) -> None:
    # Prepare: node 1 (clients 1, 3) never answers the probes
    config = _config({"uplink": {"kind": "plain"}, "privacy": {"secure_aggregation": True}})

    def dead(node: int, msg: Any) -> bool:
        return node == 1001 and "probe" in msg.content.array_records

    # Execute
    got, grid = _assessed_on_flower(config, tmp_path, dead=dead)
    # Assert: the server asked node 0 for the seeds clients 0 and 2 share with 1 and 3, and
    # attacked the unmasked sum of the two survivors (it holds a payload)
    reveals = [m for m in grid.sent if m.metadata.message_type == REVEAL]
    assert reveals and {m.metadata.dst_node_id for m in reveals} == {1000}
    assert got["inversion"]["server/analytic"]["held_payload"] is True


def test_eves_information_on_flower_equals_in_process(tmp_path: Path) -> None:
    # Prepare: a passive tap on client 1, intercept-resend on 1% of client 2's pairs: both
    # accepted, so the simulation measures what Eve's guess is worth
    eve = [{"clients": [1], "kind": "tap"},
           {"clients": [2], "kind": "intercept-resend", "fraction": 0.01}]  # fmt: skip
    config = _config({"uplink": TELEPORT, "eavesdroppers": eve}, rounds=2, attacks=False)
    expected, _ = _inprocess(config, "s")
    # Execute
    got, grid = _flower(config, "s", tmp_path)
    # Assert: the per-client records equal in-process, Eve's information included (not null)
    assert _rows(got) == _rows(expected)
    info = [r.clients["eve_information_bits"] for r in got]
    assert all(x[1] is not None and x[2] is not None for x in info)
    assert all(x[0] is None and x[3] is None for x in info)
    # the record travels beside the wire arrays, only from the tapped clients' sends, and
    # holds her information only (no guess) in training rounds
    records = [r for r in grid.replies if EVE in r.content.array_records]
    assert {int(str(r.content.config_records["qtfl"]["client"])) for r in records} == {1, 2}
    assert all(set(r.content.array_records[EVE]) == {"information_bits"} for r in records)


@pytest.mark.parametrize(
    ("compression", "uplink"),
    [
        ({"kind": "topk", "ratio": 0.2, "error_feedback": False}, TELEPORT),
        ({"kind": "quantize", "bits": 8}, TELEPORT),  # draws n uniforms before the link
        ({"kind": "topk", "ratio": 0.2, "error_feedback": False}, {**TELEPORT, "fec": "auto"}),
        ({"kind": "topk", "ratio": 0.2, "error_feedback": False},
         {"kind": "qkd-otp", "link": {"fidelity": 0.97}, "bits": 8}),
    ],
    ids=["topk-teleport", "quantize-teleport", "topk-fec", "topk-qkd-otp"],
)  # fmt: skip
def test_eves_information_over_compressed_uplinks_equals_in_process(
    tmp_path: Path, compression: dict[str, Any], uplink: dict[str, Any]
) -> None:
    # Prepare: a passive tap on client 1 of a compressed uplink; in process the compressed
    # channel passes on its inner channel's tap, so Eve's figure is of the values it carried
    eve = [{"clients": [1], "kind": "tap"}]
    config = _config(
        {"uplink": uplink, "compression": compression, "eavesdroppers": eve},
        rounds=2, attacks=False,
    )  # fmt: skip
    expected, _ = _inprocess(config, "s")
    # Execute
    got, _ = _flower(config, "s", tmp_path)
    # Assert: every per-client record equal, Eve's information included, and present for
    # the tapped client only
    assert _rows(got) == _rows(expected)
    info = [r.clients["eve_information_bits"] for r in got]
    assert all(x[1] is not None and x[0] is None and x[2] is None for x in info)


def test_the_eavesdropper_attacks_her_guess_on_flower_as_in_process(tmp_path: Path) -> None:
    # Prepare: the target of the attacks is the eavesdropped client 0 (Eve intercepts 1%
    # of its pairs, too few for the checks to reject it)
    eve = [{"clients": [0], "kind": "intercept-resend", "fraction": 0.01}]
    config = _config({"uplink": TELEPORT, "eavesdroppers": eve})
    # Execute
    expected = _assessed_in_process(config)
    got, grid = _assessed_on_flower(config, tmp_path)
    # Assert: equal, and the probe reply of client 0 carried her guess for the assessment
    assert got == expected
    assert expected["inversion"]["eavesdropper/analytic"]["held_payload"] is True
    probe_replies = [r for r in grid.replies if "probe" in r.content.array_records]
    tapped = [r for r in probe_replies if EVE in r.content.array_records]
    assert len(tapped) == 1 and "payload_guess" in tapped[0].content.array_records[EVE]


def test_eves_information_over_fec_with_resends_equals_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a decoder at its limit forces resends (as tests/flower/test_channels.py);
    # passive taps on clients 1 and 2 guess every pass's codeword bits
    fixed_decoder(monkeypatch, "ldpc-2/3", bit_error_rate=0.035)
    uplink = FEC_AT_ITS_LIMIT
    eve = [{"clients": [1, 2], "kind": "tap"}]
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 4}, "model": {"name": "mlp", "hidden": 16},
         "training": {"rounds": 2, "local_epochs": 1},
         "scenarios": [{"name": "s", "uplink": uplink, "eavesdroppers": eve}]}
    )  # fmt: skip
    expected, _ = _inprocess(config, "s")
    # Execute
    got, _ = _flower(config, "s", tmp_path)
    # Assert: resends happened; per client the sum over passes equals in-process
    assert sum(r.uplink["retransmissions"] for r in expected) > 0
    assert _rows(got) == _rows(expected)
    for r in got:
        row = r.clients["client"].index(1)
        assert r.clients["eve_information_bits"][row] is not None


@pytest.mark.parametrize("kind", ["fec-resends", "qkd-otp"])
def test_probes_over_multi_step_uplinks_equal_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Prepare: uplinks whose transfer takes further requests (FEC resends forced by a
    # decoder at its limit; QKD-OTP's dialogue): the node answers them from the probe it
    # kept, as it does for a trained update
    if kind == "fec-resends":
        from qtfl.channel import teleportation
        from qtfl.channel.fec import FecCodec

        def at_its_limit(fec: str, *, bit_error_rate: float, **_: Any) -> FecCodec:
            return FecCodec("ldpc-2/3", bit_error_rate=0.035)

        monkeypatch.setattr(teleportation.FecCodec, "for_link", staticmethod(at_its_limit))
        uplink: dict[str, Any] = {"kind": "teleport", "link": {"fidelity": 0.937}, "bits": 16,
                                  "fec": "ldpc-2/3", "max_retransmissions": 2}  # fmt: skip
    else:
        uplink = {"kind": "qkd-otp", "link": {"fidelity": 0.97, "latency_s": 0.001}, "bits": 8}
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 2}, "model": {"name": "mlp", "hidden": 16},
         "training": {"rounds": 1, "local_epochs": 1},
         "attacks": {"inversion": ["analytic"], "membership": False},
         "scenarios": [{"name": "s", "uplink": uplink}]}
    )  # fmt: skip
    # Execute
    expected = _assessed_in_process(config)
    got, grid = _assessed_on_flower(config, tmp_path)
    # Assert: equal, every probe delivered, and further requests were answered
    assert got == expected
    assert expected["inversion"]["server/analytic"]["held_payload"] is True
    assert any(m.metadata.message_type == "train.uplink" for m in grid.sent)
