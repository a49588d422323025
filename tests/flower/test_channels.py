"""Teleportation with FEC (and resends), purification and eavesdroppers over Flower.

The real ServerApp/ClientApp code on the in-memory Grid (:mod:`tests.flower.inline`): each
scenario's Flower run must equal the in-process run — accuracy and loss bit for bit, the
same ledgers, verdicts and per-client records — and the resend requests must be real
further messages to the client's node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.flower.ends import FollowUp
from qtfl.flower.exchange import REQUEST_TYPE
from tests.flower.inline import FEC_AT_ITS_LIMIT, fixed_decoder
from tests.flower.test_engines import _flower, _inprocess, _rows

UPLINKS: dict[str, dict[str, Any]] = {
    # F = 0.9475: bit error 0.035, the limit of ldpc-2/3 (<= 1% of blocks fail per pass)
    "fec": {"kind": "teleport", "link": {"fidelity": 0.9475}, "bits": 16, "fec": "ldpc-2/3"},
    "purified": {"kind": "teleport", "link": {"fidelity": 0.93}, "bits": 16,
                 "purify_to": 0.98, "fec": "auto"},
    "purified-nofec": {"kind": "teleport", "link": {"fidelity": 0.95, "pair_rate_hz": 1e6},
                       "bits": 8, "purify_to": 0.99},
}  # fmt: skip


def _config(name: str, **extra: Any) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 5,
            "data": {"num_clients": 4},
            "model": {"name": "mlp", "hidden": 16},
            "training": {"rounds": 2, "local_epochs": 1},
            "scenarios": [{"name": name, "uplink": UPLINKS[name.split(".")[0]], **extra}],
        }
    )


@pytest.mark.parametrize("name", sorted(UPLINKS))
def test_flower_run_equals_in_process(tmp_path: Path, name: str) -> None:
    # Prepare
    config = _config(name)
    expected, params = _inprocess(config, name)
    # Execute
    got, _ = _flower(config, name, tmp_path)
    # Assert: every figure equal (accuracy, loss, ledgers, verdicts, per-client records)
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), params)
    assert all(r.aggregated == 4 for r in got)


def test_fec_with_forced_resends_asks_the_node_again_and_equals_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the link's bit error (0.042 at F = 0.937) is beyond what ldpc-2/3's decoder
    # handles (0.035), so blocks fail and are sent again; the same codec in both engines
    fixed_decoder(monkeypatch, "ldpc-2/3", bit_error_rate=0.035)
    uplink = FEC_AT_ITS_LIMIT
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 4}, "model": {"name": "mlp", "hidden": 16},
         "training": {"rounds": 2, "local_epochs": 1},
         "scenarios": [{"name": "resend", "uplink": uplink}]}
    )  # fmt: skip
    expected, params = _inprocess(config, "resend")
    # Execute
    got, grid = _flower(config, "resend", tmp_path)
    # Assert: resends happened, as further messages to the client's node, and every figure
    # (retransmissions, pairs, verdicts incl. safety-net rejections) equals in-process
    assert sum(r.uplink["retransmissions"] for r in expected) > 0
    requests = [m for m in grid.sent if m.metadata.message_type == REQUEST_TYPE]
    assert requests
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "resend.npy"), params)


@pytest.mark.parametrize("fraction", [1.0, 0.02])
def test_eavesdropped_fec_client_gets_the_in_process_verdict(
    tmp_path: Path, fraction: float
) -> None:
    # Prepare: intercept-resend on client 1's pairs, FEC on every link
    eve = [{"clients": [1], "kind": "intercept-resend", "fraction": fraction, "basis": "random"}]
    config = _config("fec.eve", eavesdroppers=eve)
    expected, _ = _inprocess(config, "fec.eve")
    # Execute
    got, _ = _flower(config, "fec.eve", tmp_path)
    # Assert: same verdicts, QBER, ledgers and Eve's information per client (the client
    # node simulating her reports each pass's; the server sums them as in process); a full
    # attack is rejected and detected every round
    assert _rows(got) == _rows(expected)
    info = [r.clients["eve_information_bits"][r.clients["client"].index(1)] for r in got
            if 1 in r.clients["client"]]  # fmt: skip
    if fraction == 1.0:
        assert all(r.detected == 1 and r.aggregated == 3 for r in got)
        assert all(x is None for x in info)  # nothing teleported: nothing guessed
    else:
        assert info and all(x is not None and x > 0 for x in info)


@pytest.mark.parametrize(
    ("eve", "reconciliation"),
    [(None, "ldpc"), (1.0, "ldpc"), (0.05, "ldpc"), ("tap", "ldpc"), (None, "cascade"),
     (1.0, "cascade"), ("tap", "cascade")],
)  # fmt: skip
def test_qkd_otp_on_flower_equals_in_process(
    tmp_path: Path, eve: float | str | None, reconciliation: str
) -> None:
    # Prepare: BBM92 over F = 0.97 pairs; optionally intercept-resend on client 1's pairs,
    # or a passive tap of client 1's classical messages
    uplink = {"kind": "qkd-otp", "link": {"fidelity": 0.97, "latency_s": 0.001}, "bits": 8,
              "reconciliation": reconciliation}  # fmt: skip
    extra: dict[str, Any] = {}
    if eve == "tap":
        extra["eavesdroppers"] = [{"clients": [1], "kind": "tap"}]
    elif eve is not None:
        extra["eavesdroppers"] = [
            {"clients": [1], "kind": "intercept-resend", "fraction": eve, "basis": "random"}
        ]
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 3}, "model": {"name": "mlp", "hidden": 8},
         "training": {"rounds": 2, "local_epochs": 1},
         "scenarios": [{"name": "qkd", "uplink": uplink, **extra}]}
    )  # fmt: skip
    expected, params = _inprocess(config, "qkd")
    # Execute
    got, grid = _flower(config, "qkd", tmp_path)
    # Assert: accuracy, ledgers, verdicts and Eve's information per client equal (the
    # client node simulating her reports it with its closing answer); further messages
    assert _rows(got) == _rows(expected)
    info = [r.clients["eve_information_bits"][r.clients["client"].index(1)] for r in got
            if 1 in r.clients["client"]]  # fmt: skip
    if eve in ("tap", 0.05):  # she guessed padded bits: the figure is there, at chance
        # level (a guess independent of n bits scores n(1 - h(agreement)) ~ chi2_1/(2 ln 2):
        # mean 0.72 bits, above 10 with probability 2e-4 per update)
        delivered = [x for x in info if x is not None]
        assert delivered and all(0.0 <= x < 10.0 for x in delivered)
    else:
        assert all(x is None for x in info)
    np.testing.assert_array_equal(np.load(tmp_path / "qkd.npy"), params)
    assert any(m.metadata.message_type == REQUEST_TYPE for m in grid.sent)
    if eve == 1.0:  # a full attack: rejected and detected every round, as in process
        assert all(r.detected == 1 and r.aggregated == 2 for r in got)
    assert all(r.uplink["link_seconds"] > 0 for r in got)  # latency counted per message
    # Nothing but announcements, syndromes, CRCs (or Cascade's parities), hashes and
    # ciphertext came from clients
    allowed = {"a_bases", "a_sample", "hash", "ciphertext", "header", "n_values"}
    allowed |= {"parities"} if reconciliation == "cascade" else {"syndromes", "crcs"}
    for reply in grid.replies:
        if "wire" in reply.content.array_records:
            assert set(reply.content.array_records["wire"].keys()) <= allowed


@pytest.mark.parametrize("kind", ["fec", "qkd-otp", "qkd-otp-cascade", "pqc"])
def test_the_wire_tells_an_outsider_nothing_about_the_update(kind: str) -> None:
    # Prepare: one update of 2,000 values, 8 bits each; an outsider holds every wire array
    # (and the seed: the LinkKey is public) but not the link secret
    from qtfl.channel.pqc import SHARES_BYTES, PqcChannel
    from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
    from qtfl.channel.split import LinkKey
    from qtfl.channel.teleportation import TeleportationChannel
    from qtfl.channel.verified import LinkSpec
    from qtfl.flower.ends import FollowUp, uplink_ends
    from qtfl.quantum.noise import WernerPair

    link = LinkSpec(WernerPair(0.97))
    channel: TeleportationChannel | QkdOtpChannel | PqcChannel
    if kind == "fec":
        channel = TeleportationChannel(link, bits=8, fec="auto")
    elif kind == "pqc":
        channel = PqcChannel()
    else:
        cascade = QkdSettings(reconciliation="cascade" if kind.endswith("cascade") else "ldpc")
        channel = QkdOtpChannel(link, bits=8, settings=cascade)
    update = np.random.default_rng(9).normal(0, 0.1, 2000).astype(np.float32)
    key = LinkKey(seed=1, scenario="outsider", round=1, client=0)
    ends = uplink_ends(channel)
    # Execute: the whole dialogue, recording what the client sent
    state, announced = ends.prepare(key, update.size)
    sent = [ends.send(update, key, announced)]
    out = ends.step(sent[-1], state, n_values=update.size)
    while isinstance(out, FollowUp):
        sent.append(ends.answer(update, key, out.request))
        out = ends.step(sent[-1], state, n_values=update.size)
    # Assert: delivered; the payload-carrying array agrees with the payload bits by chance
    assert out.delivered
    if isinstance(channel, PqcChannel):  # the AES-GCM body against the update's bytes
        plain = np.unpackbits(np.frombuffer(update.tobytes(), np.uint8))
        body = sent[0]["sealed"][SHARES_BYTES + 12 : SHARES_BYTES + 12 + update.nbytes]
        tol = 4 * 0.5 / np.sqrt(plain.size)
        assert abs(float((np.unpackbits(body) == plain).mean()) - 0.5) < tol
        assert update.tobytes()[:64] not in sent[0]["sealed"].tobytes()
        return
    payload = channel.encoding.encode(update).bit_array()
    n = payload.size
    tol = 4 * 0.5 / np.sqrt(n)
    if kind == "fec":  # the Bell bits m1 of the codeword bits (payload bits among them)
        assert isinstance(channel, TeleportationChannel) and channel.codec is not None
        codewords, layout = channel.codec.encode(payload)
        payload = layout.to_channel(codewords)
        n = payload.size
        tol = 4 * 0.5 / np.sqrt(n)
        bell = np.unpackbits(sent[0]["bell_bits"], count=2 * n).reshape(n, 2)
        observed = bell[:, 1]
        assert abs(float(bell.mean()) - 0.5) < tol
    else:
        observed = np.unpackbits(next(w for w in sent if "ciphertext" in w)["ciphertext"])[:n]
    assert abs(float((observed == payload).mean()) - 0.5) < tol
    wire = b"".join(v.tobytes() for w in sent for v in w.values())
    assert update.tobytes()[:64] not in wire


@pytest.mark.parametrize("reconciliation", ["ldpc", "cascade"])
def test_a_client_that_does_not_answer_a_request_is_a_rejected_delivery(
    tmp_path: Path, reconciliation: str
) -> None:
    # Prepare: QKD-OTP always takes further requests; node 1001 answers train messages only
    uplink = {"kind": "qkd-otp", "link": {"fidelity": 0.97}, "bits": 8,
              "reconciliation": reconciliation}  # fmt: skip
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 3}, "model": {"name": "mlp", "hidden": 8},
         "training": {"rounds": 1, "local_epochs": 1},
         "scenarios": [{"name": "qkd", "uplink": uplink}]}
    )  # fmt: skip

    def dead(node: int, msg: Any) -> bool:
        return node == 1001 and msg.metadata.message_type == REQUEST_TYPE

    # Execute
    got, _ = _flower(config, "qkd", tmp_path, dead=dead)
    # Assert: client 1 (node slot 1) rejected for not answering, its pairs still counted;
    # clients 0 and 2 aggregated
    (record,) = got
    clients = record.clients
    i = clients["client"].index(1)
    assert clients["reason"][i] == "no-answer-to-request" and not clients["detected"][i]
    assert clients["bell_pairs"][i] > 0
    assert (record.answered, record.aborted, record.aggregated) == (3, 1, 2)


def test_pqc_on_flower_equals_in_process(tmp_path: Path) -> None:
    # Prepare: fresh keys from the OS on both engines (the wire differs), exact AES-GCM
    config = parse_config(
        {"seed": 5, "data": {"num_clients": 3}, "model": {"name": "mlp", "hidden": 8},
         "training": {"rounds": 2, "local_epochs": 1},
         "scenarios": [{"name": "pqc", "uplink": {"kind": "pqc", "latency_s": 0.01,
                                                  "bandwidth_bps": 1e8}}]}
    )  # fmt: skip
    expected, params = _inprocess(config, "pqc")
    # Execute
    got, grid = _flower(config, "pqc", tmp_path)
    # Assert: every figure equal (the ledger counts the same bytes and trips); the server's
    # public keys went out with the train message, the client's one reply held only the
    # sealed exchange, and no private key or update crossed the wire
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "pqc.npy"), params)
    assert all(r.aggregated == 3 for r in got)
    assert not any(m.metadata.message_type == REQUEST_TYPE for m in grid.sent)
    trains = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert trains and all(
        list(m.content.array_records["announce"].keys()) == ["public_keys"] for m in trains
    )
    for reply in grid.replies:
        if "wire" in reply.content.array_records:
            assert list(reply.content.array_records["wire"].keys()) == ["sealed"]


def test_tampered_pqc_ciphertext_is_a_rejected_delivery() -> None:
    # Prepare: one honest exchange between the two ends
    from qtfl.channel.pqc import SHARES_BYTES, PqcChannel
    from qtfl.channel.split import LinkKey
    from qtfl.flower.ends import uplink_ends

    ends = uplink_ends(PqcChannel())
    update = np.random.default_rng(2).normal(0, 0.1, 50).astype(np.float32)
    key = LinkKey(seed=1, scenario="tamper", round=1, client=0)
    for position in (0, 100, SHARES_BYTES + 2, SHARES_BYTES + 20, -1):  # shares, nonce, body, tag
        state, announced = ends.prepare(key, update.size)
        wire = ends.send(update, key, announced)
        forged = wire["sealed"].copy()
        forged[position] ^= 0x01
        # Execute
        out = ends.step({"sealed": forged}, state, n_values=update.size)
        # Assert: authentication fails, nothing delivered, the bytes still counted
        assert not isinstance(out, FollowUp)
        assert not out.delivered and out.verdict.reason == "authentication-failed"
        assert out.ledger.classical_bits == 8 * (announced["public_keys"].size + forged.size)
    state, announced = ends.prepare(key, update.size)
    honest = ends.step(ends.send(update, key, announced), state, n_values=update.size)
    assert not isinstance(honest, FollowUp) and honest.received is not None
    np.testing.assert_array_equal(honest.received, update)


@pytest.mark.parametrize("remember", [True, False])
def test_cascade_client_replays_or_remembers_its_blocks_alike(remember: bool) -> None:
    # Prepare: a first block sized for half the key, so a second block follows (at F = 0.93,
    # QBER 4.7%); the client node either keeps its drawn blocks between messages or
    # replays them from the link secret every time
    from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
    from qtfl.channel.split import LinkKey
    from qtfl.channel.verified import LinkSpec
    from qtfl.flower import cascade_ends
    from qtfl.flower.ends import uplink_ends
    from qtfl.quantum.noise import WernerPair
    from qtfl.security.run_secret import LinkSecret

    settings = QkdSettings(reconciliation="cascade")
    channel = QkdOtpChannel(
        LinkSpec(WernerPair(0.93), latency_s=0.002), bits=8, settings=settings,
        secret=LinkSecret(bytes(32)),
    )  # fmt: skip
    sized = channel.pairs_for_key

    def half_first(key_bits: int, *, qber: float | None = None) -> int | None:
        pairs = sized(key_bits, qber=qber)
        return pairs // 2 if qber is None and pairs is not None else pairs

    channel.pairs_for_key = half_first  # type: ignore[method-assign]
    update = np.random.default_rng(4).normal(0, 0.1, 300).astype(np.float32)
    key = LinkKey(seed=2, scenario="memo", round=1, client=0)
    expected = channel.send(update, rng=key.rng())
    ends = uplink_ends(channel)
    # Execute
    cascade_ends._MEMO.clear()
    state, announced = ends.prepare(key, update.size)
    out = ends.step(ends.send(update, key, announced), state, n_values=update.size)
    replies = 1
    while isinstance(out, FollowUp):
        if not remember:
            cascade_ends._MEMO.clear()
        out = ends.step(ends.answer(update, key, out.request), state, n_values=update.size)
        replies += 1
    # Assert: the in-process delivery exactly; one reply per Cascade query plus the
    # announcements and the closing ciphertext
    assert expected.verdict.attempts == 2 and expected.delivered
    assert out.ledger == expected.ledger and out.verdict == expected.verdict
    assert out.received is not None and expected.received is not None
    np.testing.assert_array_equal(out.received, expected.received)
    assert replies > 10
