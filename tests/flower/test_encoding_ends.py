"""Float32, angle, amplitude and QEC-protected teleportation split across Flower's two ends.

The real ServerApp/ClientApp code on the in-memory Grid (:mod:`tests.flower.inline`): each
uplink's Flower run must equal the in-process run — accuracy and loss bit for bit, the same
ledgers, verdicts and per-client records, the same final parameters. The split ends alone
(no Flower) are checked against the channel for every encoding and code, and the wire of a
new payload kind against an outsider holding the seed but not the link secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.channel.split import LinkKey
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.flower.ends import FollowUp, PayloadTeleportEnds, uplink_ends
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import LinkSecret
from tests.flower.test_engines import _flower, _inprocess, _rows

UPLINKS: dict[str, dict[str, Any]] = {
    # F = 0.999: float32 bits mostly arrive whole; a flipped exponent bit is a safety-net flag
    "float32": {"kind": "teleport", "link": {"fidelity": 0.999}, "encoding": "float32"},
    "angle": {"kind": "teleport", "link": {"fidelity": 0.97}, "encoding": "angle", "shots": 64},
    "amplitude": {"kind": "teleport", "link": {"fidelity": 0.99}, "encoding": "amplitude",
                  "shots": 512},
    "qec": {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 8, "qec": "five-qubit"},
}  # fmt: skip


def _config(name: str) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 5,
            "data": {"num_clients": 3},
            "model": {"name": "mlp", "hidden": 8},
            "training": {"rounds": 2, "local_epochs": 1},
            "scenarios": [{"name": name, "uplink": UPLINKS[name]}],
        }
    )


@pytest.mark.parametrize("name", sorted(UPLINKS))
def test_flower_run_equals_in_process(tmp_path: Path, name: str) -> None:
    # Prepare
    config = _config(name)
    expected, params = _inprocess(config, name)
    # Execute
    got, _ = _flower(config, name, tmp_path)
    # Assert: every figure equal (accuracy, loss, ledgers, verdicts, per-client records) and
    # the final parameters bit for bit; something was aggregated
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), params)
    assert sum(r.aggregated for r in got) > 0


def _channel(fidelity: float, **options: Any) -> TeleportationChannel:
    link = LinkSpec(WernerPair(fidelity), pair_rate_hz=1e6, latency_s=1e-3)
    return TeleportationChannel(link, secret=LinkSecret(bytes(32)), **options)


def _split_send(
    channel: TeleportationChannel, update: np.ndarray, key: LinkKey
) -> tuple[Any, list[dict[str, np.ndarray]]]:
    ends = uplink_ends(channel)
    state, announced = ends.prepare(key, update.size)
    sent = [ends.send(update, key, announced)]
    out = ends.step(sent[-1], state, n_values=update.size)
    while isinstance(out, FollowUp):
        sent.append(ends.answer(update, key, out.request))
        out = ends.step(sent[-1], state, n_values=update.size)
    return out, sent


@pytest.mark.parametrize(
    ("fidelity", "options"),
    [
        (0.97, {"encoding": "float32"}),  # flipped exponent bits: safety-net flagged
        (0.9995, {"encoding": "float32"}),
        (0.97, {"encoding": "float32", "fec": "auto"}),
        (0.95, {"qec": "bit-flip", "fec": "auto"}),
        (0.97, {"encoding": "float32", "qec": "shor", "fec": "auto"}),
        (0.97, {"qec": "bit-flip"}),
        (0.97, {"qec": "phase-flip"}),
        (0.97, {"qec": "shor"}),
        (0.995, {"encoding": "float32", "qec": "five-qubit"}),
        (0.97, {"encoding": "angle", "shots": 32, "qec": "shor"}),
        (0.97, {"encoding": "amplitude", "shots": 256}),
        (0.97, {"encoding": "amplitude", "shots": 256, "qec": "phase-flip"}),
        (0.97, {"encoding": "amplitude", "shots": 256, "qec": "five-qubit"}),
    ],
)
def test_split_ends_equal_the_channel(fidelity: float, options: dict[str, Any]) -> None:
    # Prepare: one update over a noisy link, the same key and link secret for both
    channel = _channel(fidelity, **options)
    update = np.random.default_rng(3).normal(0, 0.1, 37).astype(np.float32)
    key = LinkKey(seed=2, scenario="s", round=1, client=0)
    expected = channel.send(update, rng=key.rng())
    # Execute
    got, _ = _split_send(channel, update, key)
    # Assert: received values bit for bit, the same ledger and verdict
    assert got.verdict == expected.verdict
    assert got.ledger == expected.ledger
    if expected.received is None:
        assert got.received is None
    else:
        np.testing.assert_array_equal(got.received, expected.received)


@pytest.mark.parametrize("code", ["five-qubit", "shor"])
def test_split_qec_decoding_gives_the_codes_logical_error(code: str) -> None:
    # Prepare: 1-bit (sign) values, so a wrong sign is a logical readout flip; F = 0.97
    # pairs flip a bare Z readout with 2(1-F)/3 = 2%
    from qtfl.channel.qubit_payload import logical_pair

    fidelity = 0.97
    channel = _channel(fidelity, bits=1, qec=code)
    update = np.where(np.random.default_rng(4).random(20_000) < 0.5, -1.0, 1.0)
    update = update.astype(np.float32)
    key = LinkKey(seed=3, scenario="s", round=1, client=0)
    # Execute
    out, _ = _split_send(channel, update, key)
    # Assert: the flip rate is the code's closed-form logical Z-readout error (4 sigma), well
    # below the bare pair's
    assert out.delivered
    rate = float(np.mean(np.sign(out.received) != np.sign(update)))
    q = logical_pair(WernerPair(fidelity), channel.code).qber_z
    assert abs(rate - q) < 4 * np.sqrt(q * (1 - q) / update.size)
    assert q < 0.5 * 2 * (1 - fidelity) / 3


@pytest.mark.parametrize(
    "options",
    [{"encoding": "float32"}, {"qec": "shor"}, {"encoding": "angle", "shots": 16}],
)
def test_the_wire_tells_an_outsider_nothing_about_the_payload(options: dict[str, Any]) -> None:
    # Prepare: an outsider holds every wire array and the seed (the LinkKey is public), not
    # the link secret; it compares the Bell bits with what the payload puts on them
    from qtfl.channel.split_payload import physical_flips

    fidelity = 1.0 if options.get("encoding") == "float32" else 0.99  # flips would be flagged
    channel = _channel(fidelity, **options)
    update = np.random.default_rng(9).normal(0, 0.1, 300).astype(np.float32)
    key = LinkKey(seed=1, scenario="outsider", round=1, client=0)
    # Execute
    out, sent = _split_send(channel, update, key)
    # Assert: delivered; each Bell bit agrees with the payload's Pauli at chance (4 sigma)
    assert out.delivered
    enc = channel.encoding
    if options.get("encoding") == "angle":  # the payload's sign pattern per copy
        logical = np.repeat(update > 0, enc.shots).astype(np.uint8)  # type: ignore[union-attr]
    else:
        logical = enc.encode(update).bit_array()  # type: ignore[union-attr]
    px, pz = physical_flips(channel.code, logical, np.zeros_like(logical))
    n = px.size
    bell = np.unpackbits(sent[0]["bell_bits"], count=2 * n).reshape(n, 2)
    tol = 4 * 0.5 / np.sqrt(n)
    assert abs(float((bell[:, 1] == px).mean()) - 0.5) < tol
    assert abs(float((bell[:, 0] == pz).mean()) - 0.5) < tol
    wire = b"".join(v.tobytes() for w in sent for v in w.values())
    assert update.tobytes()[:64] not in wire


@pytest.mark.parametrize(("fidelity", "code"), [(0.9, "bit-flip"), (0.93, "five-qubit")])
def test_qec_under_fec_with_resends_equals_the_channel(fidelity: float, code: str) -> None:
    # Prepare: the FEC decoder assumes a logical bit error of 0.0005, the link's is far
    # higher, so blocks fail and are asked for again (each over fresh code blocks of pairs)
    from qtfl.channel.fec import FecCodec

    channel = _channel(fidelity, qec=code, fec="auto", max_retransmissions=3)
    channel.codec = FecCodec("ldpc-9/10", bit_error_rate=0.0005)
    update = np.random.default_rng(3).normal(0, 0.1, 300).astype(np.float32)
    key = LinkKey(seed=2, scenario="s", round=1, client=0)
    expected = channel.send(update, rng=key.rng())
    # Execute
    got, sent = _split_send(channel, update, key)
    # Assert: resends were real further exchanges; everything equals the channel
    assert expected.ledger.retransmissions > 0 and len(sent) > 1
    assert got.verdict == expected.verdict and got.ledger == expected.ledger
    if expected.received is None:
        assert got.received is None
    else:
        np.testing.assert_array_equal(got.received, expected.received)


def test_a_hostile_header_is_a_rejected_delivery() -> None:
    # Prepare: an angle payload whose header claims another dtype, then a NaN scale
    channel = _channel(0.99, encoding="angle", shots=8)
    update = np.linspace(-1, 1, 10, dtype=np.float32)
    key = LinkKey(seed=1, scenario="s", round=1, client=0)
    ends = uplink_ends(channel)
    assert isinstance(ends, PayloadTeleportEnds)
    state, announced = ends.prepare(key, update.size)
    wire = ends.send(update, key, announced)
    # Execute
    wrong_dtype = ends.step({**wire, "header": wire["header"].astype(np.float32)}, state,
                            n_values=update.size)  # fmt: skip
    nan = ends.step({**wire, "header": np.array([np.nan])}, state, n_values=update.size)
    honest = ends.step(wire, state, n_values=update.size)
    # Assert
    assert not isinstance(wrong_dtype, FollowUp) and wrong_dtype.verdict.reason == "malformed-reply"
    assert not isinstance(nan, FollowUp) and nan.verdict.reason == "malformed-reply"
    assert not isinstance(honest, FollowUp) and honest.delivered


@pytest.mark.parametrize(
    ("uplink", "eve_reported"),
    [
        ({"encoding": "float32", "link": {"fidelity": 1.0}}, True),
        ({"bits": 8, "qec": "bit-flip", "fec": "auto", "link": {"fidelity": 0.97}}, False),
    ],
)
def test_a_tapped_client_of_a_new_payload_equals_in_process(
    tmp_path: Path, uplink: dict[str, Any], eve_reported: bool
) -> None:
    # Prepare: a classical tap on client 1's Bell bits (the only attacker these payloads take)
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 3}, "model": {"name": "mlp", "hidden": 8},
         "training": {"rounds": 1, "local_epochs": 1},
         "scenarios": [{"name": "tap", "uplink": {"kind": "teleport", **uplink},
                        "eavesdroppers": [{"clients": [1], "kind": "tap"}]}]}
    )  # fmt: skip
    expected, params = _inprocess(config, "tap")
    # Execute
    got, _ = _flower(config, "tap", tmp_path)
    # Assert: everything equal; Eve's information as in process for float32 bits, null for
    # qec (in process it is measured against the all-zero physical payload the simulation
    # teleports: no figure about the update)
    def without_eve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "clients": {k: v for k, v in r["clients"].items()
                                  if k != "eve_information_bits"}} for r in rows]  # fmt: skip

    assert without_eve(_rows(got)) == without_eve(_rows(expected))
    np.testing.assert_array_equal(np.load(tmp_path / "tap.npy"), params)
    eve = got[0].clients["eve_information_bits"][got[0].clients["client"].index(1)]
    if eve_reported:
        assert _rows(got) == _rows(expected) and eve is not None and eve > 0
    else:
        assert eve is None
