"""Hostile Flower replies: whatever a malicious client node sends as its wire arrays, the
server's receiving end makes a rejected delivery of it (``malformed-reply``, or the
channel's own rejection such as a failed AES-GCM tag), never an exception in the server.

Each example starts from an honest reply of one channel kind (plain, AEAD, pqc, teleportation,
teleportation with FEC — its first reply, and its answer to a resend request on a link whose
bit errors exceed what the code's decoder assumes —, QKD-OTP's announcements and syndromes,
and its closing answer with hash and ciphertext; with Cascade its announcements, its parity
answers (with and without the verification hash) and its closing ciphertext; compressed:
top-k over plain with its positions, stochastic quantisation over teleportation, top-k over
teleportation with FEC; float32, QEC-protected (also under FEC), angle and amplitude
payloads) and mutates it: arrays dropped, added, truncated, extended, retyped, reshaped,
bytes flipped, values replaced with NaN or huge numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtfl.channel import AeadChannel, PlainChannel
from qtfl.channel.fec import FecCodec
from qtfl.channel.pqc import PqcChannel
from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
from qtfl.channel.split import LinkKey
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import CompressionConfig
from qtfl.flower.ends import FollowUp, uplink_ends
from qtfl.quantum.noise import WernerPair

N = 40
UPDATE = np.random.default_rng(0).normal(0, 0.05, N).astype(np.float32)
KEY = LinkKey(seed=1, scenario="fuzz", round=1, client=0)
CHANNELS = {
    "plain": PlainChannel(),
    "aead": AeadChannel(key=bytes(range(32))),
    "pqc": PqcChannel(),
    "teleport": TeleportationChannel(LinkSpec(WernerPair(1.0)), bits=8),
    "teleport-fec": TeleportationChannel(LinkSpec(WernerPair(0.999)), bits=8, fec="auto"),
    "teleport-fec-resend": TeleportationChannel(
        LinkSpec(WernerPair(0.9)), bits=8, fec="ldpc-1/2", max_retransmissions=2
    ),
}
CHANNELS["qkd-otp"] = QkdOtpChannel(LinkSpec(WernerPair(0.98)), bits=8)
CHANNELS["qkd-otp-closing"] = CHANNELS["qkd-otp"]  # its answer to the kept-blocks request
CHANNELS["qkd-otp-cascade"] = QkdOtpChannel(
    LinkSpec(WernerPair(0.98)), bits=8, settings=QkdSettings(reconciliation="cascade")
)
# Cascade's answers: to the first parity query (block parities), to the pass-3 query that
# asks the verification hash, and the closing answer with the ciphertext
for _answer in ("parities", "hash", "closing"):
    CHANNELS[f"qkd-otp-cascade-{_answer}"] = CHANNELS["qkd-otp-cascade"]
# the resend channel's decoder assumes a bit error of 0.0005, its link has 0.067: pass 1
# fails and the server asks again (the reply mutated is the answer to that request)
CHANNELS["teleport-fec-resend"].codec = FecCodec("ldpc-9/10", bit_error_rate=0.0005)
CHANNELS["topk-plain"] = CompressedChannel(
    PlainChannel(), config=CompressionConfig(kind="topk", ratio=0.25)
)
CHANNELS["quantize-teleport"] = CompressedChannel(
    TeleportationChannel(LinkSpec(WernerPair(1.0)), bits=8),
    config=CompressionConfig(kind="quantize", bits=8),
)
CHANNELS["topk-teleport-fec"] = CompressedChannel(
    TeleportationChannel(LinkSpec(WernerPair(0.999)), bits=8, fec="auto"),
    config=CompressionConfig(kind="topk", ratio=0.25),
)
# the other payloads of teleportation: float32 bits, qec-protected bits, angle and amplitude
# copies (their split ends carry the Pauli frame, qtfl.channel.split_payload)
CHANNELS["teleport-float32"] = TeleportationChannel(LinkSpec(WernerPair(1.0)), encoding="float32")
CHANNELS["teleport-qec"] = TeleportationChannel(LinkSpec(WernerPair(0.99)), bits=8, qec="shor")
CHANNELS["teleport-qec-fec"] = TeleportationChannel(
    LinkSpec(WernerPair(0.99)), bits=8, qec="bit-flip", fec="auto"
)
CHANNELS["teleport-angle"] = TeleportationChannel(
    LinkSpec(WernerPair(1.0)), encoding="angle", shots=256
)
CHANNELS["teleport-amplitude"] = TeleportationChannel(
    LinkSpec(WernerPair(1.0)), encoding="amplitude", shots=4096
)
#: Honest decoding error beyond the 8-bit grid: the values top-k drops, quantisation's step,
#: 6 standard deviations of the analog readouts (at most 0.0073 and 0.0105 here)
TOLERANCE = {"topk-plain": 0.2, "topk-teleport-fec": 0.2,
             "quantize-teleport": 2 * float(np.abs(UPDATE).max()) / 127,
             "teleport-angle": 6 * 0.0073, "teleport-amplitude": 6 * 0.0105}  # fmt: skip


def _honest(kind: str) -> tuple[Any, dict[str, np.ndarray], object]:
    ends = uplink_ends(CHANNELS[kind])
    state, announced = ends.prepare(KEY, N)
    wire = ends.send(UPDATE, KEY, announced)
    if kind.startswith("qkd-otp-cascade-"):  # answer requests up to the one to mutate
        wanted = {"parities": lambda r: "lo" in r,
                  "hash": lambda r: "lo" in r and int(r["want_hash"][0]) == 1,
                  "closing": lambda r: int(r["phase"][0]) == 3}[kind.rsplit("-", 1)[1]]  # fmt: skip
        while True:
            request = ends.step(wire, state, n_values=N)
            assert isinstance(request, FollowUp)
            wire = ends.answer(UPDATE, KEY, request.request)
            if wanted(request.request):
                return ends, wire, state
    if kind.endswith(("-resend", "-closing")):
        request = ends.step(wire, state, n_values=N)
        assert isinstance(request, FollowUp)
        wire = ends.answer(UPDATE, KEY, request.request)
    return ends, wire, state


def _mutate(wire: dict[str, np.ndarray], data: st.DataObject) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in wire.items()}
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(
            ["drop", "add", "truncate", "extend", "retype", "reshape", "flip", "nan", "huge"]
        ))  # fmt: skip
        names = sorted(out)
        name = data.draw(st.sampled_from(names)) if names else None
        if op == "add" or name is None:
            out[data.draw(st.text(min_size=1, max_size=8))] = np.frombuffer(
                data.draw(st.binary(max_size=64)), np.uint8
            )
        elif op == "drop":
            del out[name]
        elif op == "truncate":
            out[name] = out[name][: data.draw(st.integers(0, max(0, out[name].size - 1)))]
        elif op == "extend":
            out[name] = np.concatenate([out[name].ravel(), out[name].ravel()[:7]])
        elif op == "retype":
            dtype = data.draw(st.sampled_from([np.float64, np.int8, np.int64, np.uint16]))
            out[name] = out[name].astype(dtype)
        elif op == "reshape" and out[name].size % 2 == 0 and out[name].size:
            out[name] = out[name].reshape(2, -1)
        elif op == "flip" and out[name].size:
            raw = bytearray(out[name].tobytes())
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
            out[name] = np.frombuffer(bytes(raw), out[name].dtype).reshape(out[name].shape)
        elif op == "nan":
            out[name] = np.full(out[name].shape, np.nan, np.float32)
        elif op == "huge":
            out[name] = np.full(max(1, out[name].size), 2**62, np.int64)
    return out


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run, so the suite is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(kind=st.sampled_from(sorted(CHANNELS)), data=st.data())
def test_mutated_replies_are_rejected_deliveries_never_exceptions(
    kind: str, data: st.DataObject
) -> None:
    ends, wire, state = _honest(kind)
    hostile = _mutate(wire, data)
    delivery = ends.step(hostile, state, n_values=N)
    if isinstance(delivery, FollowUp):  # a valid answer may lead to a further request
        assert kind.endswith("-resend") or kind.startswith("qkd")
        return
    if delivery.delivered:  # a mutation may leave a valid reply: then it decodes to N values
        assert delivery.received is not None and delivery.received.shape == (N,)
        assert np.isfinite(delivery.received).all()
    else:
        assert delivery.verdict.reason != "ok"


def test_honest_replies_decode_and_wrong_sizes_are_rejected() -> None:
    for kind in CHANNELS:
        if kind.endswith("-resend"):
            continue  # its honest answer is checked below
        ends, wire, state = _honest(kind)
        good = ends.step(wire, state, n_values=N)
        while isinstance(good, FollowUp) and kind.startswith("qkd"):  # finish the dialogue
            good = ends.step(ends.answer(UPDATE, KEY, good.request), state, n_values=N)
        assert not isinstance(good, FollowUp) and good.delivered, kind
        atol = TOLERANCE.get(kind, 0.0) + 0.05 / 2**6
        np.testing.assert_allclose(good.received, UPDATE, atol=atol)
        if kind.startswith("qkd"):
            continue  # n_values is checked with the ciphertext, in the last answer
        _, wire, state = _honest(kind)
        bad = ends.step(wire, state, n_values=N + 1)
        assert not isinstance(bad, FollowUp) and bad.verdict.reason == "malformed-reply"
    ends, wire, state = _honest("teleport-fec-resend")
    out = ends.step(wire, state, n_values=N)  # the answer to resend 1 fails again
    assert isinstance(out, FollowUp)
    out = ends.step(ends.answer(UPDATE, KEY, out.request), state, n_values=N)
    # two resends spent, the block still fails its CRC: the safety net rejects the update
    assert not isinstance(out, FollowUp)
    assert out.verdict.reason == "safety-net-flagged" and out.ledger.retransmissions == 2
    ends, wire, state = _honest("teleport")
    for header in (np.nan, np.inf, -np.inf, -1.0):  # found by the fuzzer: NaN was aggregated
        bad = {**wire, "header": np.array([header], np.float32)}
        assert ends.decode(bad, state, n_values=N).verdict.reason == "malformed-reply"
    ends, wire, state = _honest("plain")
    assert ends.decode({}, state, n_values=N).verdict.reason == "malformed-reply"
    nan_plain = {"plaintext": np.frombuffer(np.full(N, np.nan, np.float32).tobytes(), np.uint8)}
    assert ends.decode(nan_plain, state, n_values=N).verdict.reason == "malformed-reply"
    assert ends.decode({"plaintext": "x"}, state, n_values=N).verdict.reason == (  # type: ignore[dict-item]
        "malformed-reply"
    )


def test_compressed_replies_with_bad_positions_are_rejected() -> None:
    ends, wire, state = _honest("topk-plain")
    good = ends.decode(wire, state, n_values=N)
    assert good.delivered and np.count_nonzero(good.received) == N // 4
    bad_positions = [
        wire["indices"][::-1].copy(),  # not increasing
        np.full(N // 4, N, np.int64),  # out of range
        np.concatenate([wire["indices"][:-1], [-1]]).astype(np.int64),  # negative
        wire["indices"][:-1].copy(),  # one position short
        wire["indices"].astype(np.int32),  # retyped
    ]
    for indices in bad_positions:
        hostile = {**wire, "indices": indices}
        assert ends.decode(hostile, state, n_values=N).verdict.reason == "malformed-reply"
    missing = {k: v for k, v in wire.items() if k != "indices"}
    assert ends.decode(missing, state, n_values=N).verdict.reason == "malformed-reply"
    dense_ends, dense_wire, dense_state = _honest("quantize-teleport")
    extra = {**dense_wire, "indices": np.arange(N, dtype=np.int64)}
    assert dense_ends.decode(extra, dense_state, n_values=N).verdict.reason == "malformed-reply"


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    rows=st.lists(
        st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=8,
                 max_size=8),
        min_size=1, max_size=4,
    )
)  # fmt: skip
def test_hostile_masked_rows_never_raise_and_never_poison_the_sum(
    rows: list[list[float]],
) -> None:
    # Prepare: an honest masked row of client 0 next to hostile rows "from" clients 1..m
    from qtfl.fl.privacy import RoundContext, SecureAggregation
    from qtfl.fl.privacy_keys import PrivacyKeys
    from qtfl.security.run_secret import RunSecret

    m = len(rows) + 1
    masker = SecureAggregation(max_abs=1.0, keys=PrivacyKeys(RunSecret(bytes(32)), "fuzz"))
    context = RoundContext(1, np.arange(m), np.ones(m), rng=np.random.default_rng(0))
    honest, _ = masker.postprocess_one_user(
        np.full(8, 0.25, np.float32), client=0, weight=1.0, context=context
    )
    updates = np.vstack([honest, np.array(rows, np.float32)])
    # Execute
    out, weights = masker.postprocess_server(
        updates, np.ones(m), clients=np.arange(m), context=context
    )
    # Assert: a finite aggregate (or none); off-ring rows are left out like dropouts, so
    # when every hostile row is off the ring the sum is the honest client's update alone
    assert np.isfinite(out).all() and out.shape[0] == weights.shape[0] <= 1
    hostile = np.array(rows, np.float32)
    on_ring = np.isfinite(hostile) & (hostile >= 0) & (hostile < 2**24)
    on_ring &= np.rint(np.where(on_ring, hostile, 0)) == hostile
    if not on_ring.all(axis=1).any():
        np.testing.assert_allclose(out[0], 0.25, atol=1e-5)


# -- the other reply kinds: SecAgg+ shares and unmask answers, ALIE's side channel, the
# -- probe's scale and the eavesdropper's tap record. Each reader returns "nothing readable"
# -- (None, empty, the tap untouched, a neutral scale), never an exception or a bad value.


def _honest_records() -> dict[str, dict[str, np.ndarray]]:
    from qtfl.security.shamir import LIMBS

    rng = np.random.default_rng(2)
    return {
        "secagg": {
            "holders": np.array([1, 2, 3], np.int64),
            "shares": rng.integers(0, 256, (3, 4 * LIMBS + 16)).astype(np.uint8),
        },
        "unmasked": {
            "share_pairs": np.array([[1, 0], [2, 0]], np.int64),
            "shares": rng.integers(0, 2**31 - 1, (2, LIMBS)).astype(np.int64),
            "key_pairs": np.array([[0, 3]], np.int64),
            "keys": rng.integers(0, 256, (1, 16)).astype(np.uint8),
        },
        "collude": {"honest": UPDATE.copy()},
        "eve": {"information_bits": np.array([3.5]), "payload_guess": np.zeros(5, np.uint8)},
        "probe": {"max_abs": np.array([0.25])},
    }


def _reply(name: str, arrays: dict[str, np.ndarray]) -> Any:
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    query = Message(RecordDict(), dst_node_id=5, message_type="query")
    record = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})
    content = RecordDict({name: record, "qtfl": ConfigRecord({"client": 2, "round": 1})})
    return Message(content, reply_to=query)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(["secagg", "unmasked", "collude", "eve", "probe"]), data=st.data())
def test_mutated_side_records_are_ignored_never_exceptions(kind: str, data: st.DataObject) -> None:
    from qtfl.channel import Delivery, Ledger, Tap, Verdict
    from qtfl.flower.collusion import read_collusion
    from qtfl.flower.privacy_ends import probe_scale
    from qtfl.flower.secagg_ends import read_shares, read_unmasked
    from qtfl.flower.taps import attach_eve_record
    from qtfl.security.shamir import LIMBS, PRIME

    arrays = _mutate(_honest_records()[kind], data)
    try:
        reply = _reply(kind, arrays)
    except (TypeError, ValueError):
        return  # not even a Flower record (e.g. an object array): it never reaches us
    if kind == "secagg":
        got = read_shares(reply)
        if got is not None:
            holders, cts = got
            assert holders.dtype == np.int64 and cts.shape == (holders.size, 4 * LIMBS + 16)
    elif kind == "unmasked":
        shares, keys = read_unmasked([reply])
        assert all(v.shape == (LIMBS,) and v.min() >= 0 and v.max() < PRIME
                   for v in shares.values())  # fmt: skip
        assert all(isinstance(v, bytes) and len(v) == 16 for v in keys.values())
    elif kind == "collude":
        out = read_collusion(reply, n_values=N)
        if out is not None:
            assert out[1].shape == (N,) and np.isfinite(out[1]).all()
    elif kind == "eve":
        accepted = Delivery(UPDATE, Ledger(payload_bits=40), Verdict.ok(),
                            Tap(kind="bell-measurement-bits"))  # fmt: skip
        record = {k: v.numpy() for k, v in reply.content.array_records["eve"].items()}
        tap = attach_eve_record(accepted, record).tap
        if tap.information_bits is not None:
            assert 0.0 <= tap.information_bits <= 40
        assert tap.payload_guess is None or tap.payload_guess.shape == (40,)
    else:
        scale = probe_scale(reply)
        assert np.isfinite(scale) and scale >= 0


def test_honest_side_records_are_read() -> None:
    from qtfl.channel import Delivery, Ledger, Tap, Verdict
    from qtfl.flower.collusion import read_collusion
    from qtfl.flower.privacy_ends import probe_scale
    from qtfl.flower.secagg_ends import read_shares, read_unmasked
    from qtfl.flower.taps import attach_eve_record

    honest = _honest_records()
    assert read_shares(_reply("secagg", honest["secagg"])) is not None
    shares, keys = read_unmasked([_reply("unmasked", honest["unmasked"])])
    assert set(shares) == {(1, 0), (2, 0)} and set(keys) == {(0, 3)}
    got = read_collusion(_reply("collude", honest["collude"]), n_values=N)
    assert got is not None and got[0] == 2
    accepted = Delivery(UPDATE, Ledger(payload_bits=40), Verdict.ok(),
                        Tap(kind="bell-measurement-bits"))  # fmt: skip
    assert attach_eve_record(accepted, honest["eve"]).tap.information_bits == 3.5
    assert probe_scale(_reply("probe", honest["probe"])) == 0.25


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_a_hostile_unmask_request_is_refused_by_the_node_never_a_crash(
    data: st.DataObject,
) -> None:
    # Prepare: an honest request to the node serving client 0 (a share of client 1's seed
    # and the edge key with client 3), then mutated; the node answers or raises InputError
    # (which Flower returns to the server as an error reply)
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

    from qtfl.errors import InputError
    from qtfl.flower.secagg_ends import unmask_reply

    sim = _quantum_node()
    arrays = {
        "share_pairs": np.array([[1, 0]], np.int64),
        "ciphertexts": np.zeros((1, 36), np.uint8),
        "key_pairs": np.array([[0, 3]], np.int64),
    }
    hostile = _mutate(arrays, data)
    _reply("unmask", {})  # sets the task identity a Message needs outside a ServerApp
    try:
        record = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in hostile.items()})
    except (TypeError, ValueError):
        return
    msg = Message(RecordDict({"unmask": record, "qtfl": ConfigRecord({"round": 1})}),
                  dst_node_id=5, message_type="query.unmask")  # fmt: skip
    try:
        reply = unmask_reply(sim, msg, RecordDict(), served=lambda k: k % 2 == 0)
    except (InputError, KeyError):
        return
    rec = reply.content.array_records["unmasked"]
    assert rec["shares"].numpy().shape[0] == 0  # the zero ciphertext never decrypts


_NODE: list[Any] = []


def _quantum_node() -> Any:
    if not _NODE:
        from qtfl.experiments.config import parse_config
        from qtfl.experiments.runner import build_simulation, prepare_inputs
        from qtfl.security.run_secret import RunSecret

        config = parse_config({
            "seed": 1, "data": {"num_clients": 4},
            "scenarios": [{"name": "q", "privacy": {"secure_aggregation": True,
                                                    "secure_aggregation_keys": "quantum"}}],
        })  # fmt: skip
        sc = config.resolved_scenarios()[0]
        _NODE.append(build_simulation(config, prepare_inputs(config), sc,
                                      secrets=RunSecret(bytes(32))))  # fmt: skip
    return _NODE[0]
