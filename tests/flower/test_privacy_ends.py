"""Compression, DP and secure aggregation on Flower against the in-process engine.

The real ServerApp strategy and ClientApp run on the in-memory Grid (:mod:`tests.flower.
inline`): each client node holds only its party file's keys and its own error-feedback
residuals; the comparisons are bit for bit (accuracy, loss, ledgers, final parameters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Message, RecordDict
from scipy import stats

import qtfl.flower.server as flower_server
from qtfl.errors import InputError
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.runner import dp_accounting
from qtfl.fl.checkpoint import load_checkpoint
from qtfl.fl.privacy import MODULUS_BITS, DPSettings, dp_epsilon
from qtfl.flower.client import make_client_app
from qtfl.flower.job import SERVER, FlowerJob, build_node, build_simulation_for
from qtfl.flower.server import serve
from tests.flower.inline import InlineGrid
from tests.flower.test_engines import _inprocess, _job, _rows

TELEPORT = {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 16}


def _config(scenario: dict[str, Any], **training: Any) -> ExperimentConfig:
    return parse_config(
        {
            "seed": 4,
            "data": {"num_clients": 5},
            "training": {"rounds": 3, "local_epochs": 1, **training},
            "scenarios": [{"name": "s", **scenario}],
        }
    )


def _job_with_state(config: ExperimentConfig, tmp_path: Path, nodes: int = 2) -> FlowerJob:
    job = _job(config, "s", tmp_path, nodes)
    return FlowerJob(**{**job.__dict__, "state_dir": str(tmp_path / "nodes")})


def _flower(
    config: ExperimentConfig, tmp_path: Path, *, nodes: int = 2, **grid: Any
) -> tuple[list[Any], InlineGrid, FlowerJob]:
    job = _job_with_state(config, tmp_path, nodes)
    g = InlineGrid(make_client_app(lambda _ctx: job), nodes, **grid)
    return serve(g, job), g, job


def _assert_same_as_in_process(
    config: ExperimentConfig, tmp_path: Path
) -> tuple[list[Any], list[Any], InlineGrid]:
    expected, params = _inprocess(config, "s")
    got, grid, _ = _flower(config, tmp_path)
    assert _rows(got) == _rows(expected)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), params)
    return got, expected, grid


@pytest.mark.parametrize(
    ("compression", "uplink"),
    [
        ({"kind": "topk", "ratio": 0.1, "error_feedback": True}, {"kind": "plain"}),
        ({"kind": "topk", "ratio": 0.2, "error_feedback": True}, TELEPORT),
        ({"kind": "quantize", "bits": 16}, TELEPORT),
        ({"kind": "sign", "error_feedback": True}, {"kind": "aead"}),
        ({"kind": "topk", "ratio": 0.2, "error_feedback": True}, {"kind": "pqc"}),
        (
            {"kind": "topk", "ratio": 0.2},
            {"kind": "qkd-otp", "link": {"fidelity": 0.97}, "bits": 8, "reconciliation": "cascade"},
        ),
    ],
    ids=[
        "topk-plain",
        "topk-teleport",
        "quantize-teleport",
        "sign-ef-aead",
        "topk-pqc",
        "topk-qkd-cascade",
    ],
)
def test_compression_with_error_feedback_equals_in_process(
    tmp_path: Path, compression: dict[str, Any], uplink: dict[str, Any]
) -> None:
    # Prepare: sampling and dropouts, so residuals skip rounds; three rounds of feedback
    config = _config(
        {"uplink": uplink, "compression": compression}, fraction=0.8, dropout_probability=0.2
    )
    # Execute / Assert: rows (ledgers with the index bits) and parameters bit for bit
    got, _, _ = _assert_same_as_in_process(config, tmp_path)
    assert all(r.aggregated > 0 for r in got)


def test_error_feedback_residuals_live_on_the_client_nodes_only(tmp_path: Path) -> None:
    config = _config({"compression": {"kind": "topk", "ratio": 0.1, "error_feedback": True}})
    _, grid, job = _flower(config, tmp_path)
    # Assert: every client's residual record sits under the node serving it, none elsewhere
    files = sorted(p.relative_to(tmp_path / "nodes").as_posix() for p in
                   (tmp_path / "nodes").rglob("*.npz"))  # fmt: skip
    assert files == sorted(f"node-{k % 2}/s/client-{k}.npz" for k in range(5))
    # only the k kept values and their positions cross the wire, never the residual
    k = int(np.ceil(0.1 * build_node(job.to_json()).layout.size))
    train = [r for r in grid.replies if "wire" in r.content.array_records]
    for reply in train:
        wire = reply.content.array_records["wire"]
        assert sorted(wire.keys()) == ["indices", "plaintext"]
        assert wire["indices"].numpy().shape == (k,)
        assert wire["plaintext"].numpy().size == 4 * k


def test_resume_with_compression_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: error feedback; the reference run in its own directory
    config = _config(
        {"uplink": TELEPORT, "compression": {"kind": "topk", "ratio": 0.1}},
        fraction=0.8,
    )
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    reference, _, _ = _flower(config, ref_dir)
    reference_params = np.load(ref_dir / "s.npy")
    job = _job_with_state(config, run_dir)
    ckpt = run_dir / "s.pt"
    real = flower_server.ChannelStrategy.aggregate_train

    def interrupted(self: Any, server_round: int, replies: Any) -> Any:
        if server_round + self.round_offset == 3:  # after the nodes recorded round 3's send
            raise KeyboardInterrupt
        return real(self, server_round, replies)

    # Execute: interrupted while round 3 is aggregated, then served again from the checkpoint
    monkeypatch.setattr(flower_server.ChannelStrategy, "aggregate_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        serve(InlineGrid(make_client_app(lambda _ctx: job), 2), job, checkpoint=ckpt)
    assert load_checkpoint(ckpt)[0].round == 2
    monkeypatch.setattr(flower_server.ChannelStrategy, "aggregate_train", real)
    resumed = serve(InlineGrid(make_client_app(lambda _ctx: job), 2), job, checkpoint=ckpt)
    # Assert: the re-run round 3 started from the residuals before its first attempt
    assert _rows(resumed) == _rows(reference)
    assert np.load(run_dir / "s.npy").tobytes() == reference_params.tobytes()


@pytest.mark.parametrize("placement", ["client", "server"])
def test_dp_equals_in_process_in_both_placements(tmp_path: Path, placement: str) -> None:
    dp = {"clip_norm": 0.5, "noise_multiplier": 0.8, "placement": placement}
    config = _config({"privacy": {"dp": dp}}, fraction=0.8)
    got, _, _ = _assert_same_as_in_process(config, tmp_path)
    # the noise is really there: the same run without noise ends elsewhere
    quiet = _config({"privacy": {"dp": {**dp, "noise_multiplier": 0.0}}}, fraction=0.8)
    _, quiet_params = _inprocess(quiet, "s")
    assert not np.array_equal(np.load(tmp_path / "s.npy"), quiet_params)
    # same accounting: both engines' summaries report epsilon over the rounds run
    sc = config.resolved_scenarios()[0]
    accounting = dp_accounting(config, sc, rounds=len(got))
    settings = DPSettings(**dp)  # type: ignore[arg-type]
    q = 0.8 if placement == "server" else 1.0  # local noise: no amplification by sampling
    assert accounting["dp_epsilon"] == settings.epsilon(rounds=3, sample_rate=0.8)
    assert accounting["dp_epsilon"] == dp_epsilon(noise_multiplier=0.8, sample_rate=q, steps=3)


def test_dp_noise_keys_are_held_by_their_owner_only(tmp_path: Path) -> None:
    config = _config({"privacy": {"dp": {"placement": "client"}}})
    job = _job_with_state(config, tmp_path)
    server = build_simulation_for(job, party=SERVER)
    node0 = build_simulation_for(job, party="node-0")
    (dp_server,) = server.postprocessors
    (dp_node,) = node0.postprocessors
    # the server cannot regenerate a client's noise; node 0 (clients 0, 2, 4) not client 1's
    with pytest.raises(InputError, match="no dp-noise key"):
        dp_server._keys.client_noise(1, 0)
    with pytest.raises(InputError, match="no dp-noise key"):
        dp_node._keys.client_noise(1, 1)
    dp_node._keys.client_noise(1, 2)  # its own client's key is there


@pytest.mark.parametrize("with_dp", [False, True], ids=["masks", "masks+local-dp"])
def test_secure_aggregation_with_dropouts_equals_in_process(tmp_path: Path, with_dp: bool) -> None:
    # Prepare: dropouts make the server ask the survivors' nodes to reveal pair seeds
    privacy: dict[str, Any] = {"secure_aggregation": True}
    if with_dp:
        privacy["dp"] = {"placement": "client", "noise_multiplier": 0.3}
    config = _config({"privacy": privacy}, dropout_probability=0.3)
    # Execute / Assert: bit for bit, with the recovery path exercised
    got, expected, grid = _assert_same_as_in_process(config, tmp_path)
    assert any(r.dropped for r in expected) and all(r.aggregated for r in got)
    reveals = [m for m in grid.sent if m.metadata.message_type == "query.reveal"]
    assert len(reveals) >= 1


def test_a_node_lost_mid_round_is_unmasked_from_the_survivors_reveals(tmp_path: Path) -> None:
    # Prepare: node 1 (clients 1, 3) stops answering train messages from round 2 on
    def dead(node: int, msg: Any) -> bool:
        if msg.metadata.message_type != "train":
            return False
        return node == 1001 and int(str(msg.content.config_records["qtfl"]["round"])) >= 2

    masked = _config({"privacy": {"secure_aggregation": True}}, rounds=2)
    plain = _config({}, rounds=2)
    (tmp_path / "m").mkdir()
    (tmp_path / "p").mkdir()
    # Execute
    got, _, _ = _flower(masked, tmp_path / "m", dead=dead)
    _flower(plain, tmp_path / "p", dead=dead)
    # Assert: round 2 aggregated the 3 survivors, and the unmasked mean equals the plain
    # run's within the fixed-point resolution (4 / 2^23 per share, 5 shares)
    assert [r.aggregated for r in got] == [5, 3]
    diff = np.abs(np.load(tmp_path / "m" / "s.npy") - np.load(tmp_path / "p" / "s.npy"))
    assert float(diff.max()) < 1e-4


def test_the_server_sees_uniform_masked_values_and_holds_no_pair_key(tmp_path: Path) -> None:
    # Prepare: plain uplink, so the server reads each client's masked vector directly
    config = _config({"privacy": {"secure_aggregation": True}}, rounds=1)
    _, grid, job = _flower(config, tmp_path)
    replies = [r for r in grid.replies if "wire" in r.content.array_records]
    # Assert 1: each client's reply is integers uniform on [0, 2^24): a chi-square test on
    # 64 bins of every reply at the 0.1% level (fixed seed and secret: deterministic)
    for reply in replies:
        raw = reply.content.array_records["wire"]["plaintext"].numpy().tobytes()
        values = np.frombuffer(raw, np.float32).astype(np.float64)
        assert np.all(values == np.rint(values)) and values.min() >= 0
        assert values.max() < 2**MODULUS_BITS
        counts = np.bincount((values // 2 ** (MODULUS_BITS - 6)).astype(np.int64), minlength=64)
        assert stats.chisquare(counts).pvalue > 1e-3
    # Assert 2: no information about the update: client 0's masked vector is uncorrelated
    # with its code (|r| < 4/sqrt(n)), and masked vectors of two opposite updates are equal
    # in distribution (two-sample KS at the 0.1% level)
    node = build_simulation_for(job, party="node-0")
    masker = node.postprocessors[0]
    size = node.layout.size
    update = np.random.default_rng(1).normal(0, 0.05, size)
    masked = {}
    for sign in (1.0, -1.0):
        code = masker.encode(sign * update, share=0.2, cohort_size=5)
        masked[sign] = (code + masker.mask(0, np.arange(5), 1, size)) % 2**MODULUS_BITS
        assert abs(np.corrcoef(masked[sign], code)[0, 1]) < 4 / np.sqrt(size)
    assert stats.ks_2samp(masked[1.0], masked[-1.0]).pvalue > 1e-3
    # Assert 3: the server holds no pair key, so it cannot remove any single client's mask
    server = build_simulation_for(job, party=SERVER)
    with pytest.raises(InputError, match="no mask-pair key"):
        server.postprocessors[0].pair_seed(0, 1, 1)


def test_a_hostile_masked_reply_is_left_out_like_a_dropout_never_an_exception(
    tmp_path: Path,
) -> None:
    # Prepare: node 1 (clients 1, 3) replaces its masked vectors with values off the ring
    # (non-integers, beyond 2^24); the reference run has node 1 dead instead
    config = _config({"privacy": {"secure_aggregation": True}}, rounds=1)
    job = _job_with_state(config, tmp_path)
    app = make_client_app(lambda _ctx: job)

    def hostile(msg: Any, ctx: Any) -> Any:
        reply = app(msg, ctx)
        if ctx.node_id != 1001 or msg.metadata.message_type != "train":
            return reply
        size = reply.content.array_records["wire"]["plaintext"].numpy().size // 4
        junk = np.linspace(0.5, 2.0**25, size).astype(np.float32)
        wire = ArrayRecord({"plaintext": Array(np.frombuffer(junk.tobytes(), np.uint8))})
        content = RecordDict({"wire": wire, "qtfl": reply.content.config_records["qtfl"]})
        return Message(content, reply_to=msg)

    grid = InlineGrid(app, 2)
    grid.client_app = hostile  # type: ignore[assignment]
    # Execute
    got = serve(grid, job)
    params = np.load(tmp_path / "s.npy")
    (tmp_path / "dead").mkdir()
    _flower(config, tmp_path / "dead", dead=lambda node, msg: (
        node == 1001 and msg.metadata.message_type == "train"))  # fmt: skip
    # Assert: the run went on; the survivors' sum equals the dead-node run's bit for bit
    assert got[0].answered == 5
    np.testing.assert_array_equal(params, np.load(tmp_path / "dead" / "s.npy"))


@pytest.mark.parametrize("compression", [{"kind": "topk", "ratio": 0.3}, {"kind": "quantize"}])
def test_compression_over_fec_with_resends_answers_from_the_compressed_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: dict[str, Any]
) -> None:
    # Prepare: as tests/flower/test_channels.py, a decoder at its limit forces resends; the
    # client node answers them from the compressed values it kept (not the update)
    from qtfl.channel import teleportation
    from qtfl.channel.fec import FecCodec
    from qtfl.flower.exchange import REQUEST_TYPE

    def at_its_limit(fec: str, *, bit_error_rate: float, **_: Any) -> FecCodec:
        return FecCodec("ldpc-2/3", bit_error_rate=0.035)

    monkeypatch.setattr(teleportation.FecCodec, "for_link", staticmethod(at_its_limit))
    uplink = {"kind": "teleport", "link": {"fidelity": 0.937}, "bits": 16, "fec": "ldpc-2/3",
              "max_retransmissions": 2}  # fmt: skip
    config = _config({"uplink": uplink, "compression": compression}, rounds=2)
    # Execute / Assert: resends happened and every figure equals in-process
    _, expected, grid = _assert_same_as_in_process(config, tmp_path)
    assert sum(r.uplink["retransmissions"] for r in expected) > 0
    assert any(m.metadata.message_type == REQUEST_TYPE for m in grid.sent)
