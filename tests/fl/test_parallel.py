"""ChannelPool: uplink sends in worker processes give exactly the in-process Deliveries."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel import Channel, Delivery, PlainChannel
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.errors import InputError
from qtfl.fl import parallel
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import TopK
from qtfl.fl.engine import FederatedSimulation
from qtfl.fl.parallel import ChannelPool, parse_workers, resolve_workers
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import LinkSecret
from tests.fl import helpers

CLIENTS = 4


def teleport(fidelity: float = 0.95, *, client: int = 0) -> TeleportationChannel:
    """A teleport channel with FEC; its link secret is fixed per client, so two channels
    built for one client make the same secret choices (check positions, bases, frame)."""
    return TeleportationChannel(
        LinkSpec(WernerPair(fidelity), 1e6, 0.001),
        bits=16,
        fec="auto",
        secret=LinkSecret(bytes([client + 1]) * 32),
    )


def keyed(r: int, k: int) -> np.random.Generator:
    return np.random.default_rng([7, r, k])


def same(a: Delivery, b: Delivery) -> bool:
    """Two Deliveries equal in every field, arrays byte for byte."""
    got = a.received is None or b.received is None or a.received.tobytes() == b.received.tobytes()
    guesses = (a.tap.payload_guess is None) == (b.tap.payload_guess is None) and (
        a.tap.payload_guess is None
        or a.tap.payload_guess.tobytes() == b.tap.payload_guess.tobytes()  # type: ignore[union-attr]
    )
    return bool(
        got
        and (a.received is None) == (b.received is None)
        and a.ledger == b.ledger
        and a.verdict == b.verdict
        and a.tap.kind == b.tap.kind
        and a.tap.observed.tobytes() == b.tap.observed.tobytes()
        and guesses
    )


@pytest.fixture(scope="module")
def pool() -> ChannelPool:
    with ChannelPool(workers=2, min_batch_seconds=0.0) as p:
        p.start(modules=["qtfl.channel.teleportation", "qtfl.fl.compressed_channel"], wait=True)
        yield p  # type: ignore[misc]


def test_pooled_sends_equal_in_process_sends(pool: ChannelPool) -> None:
    # Prepare: per-client teleport channels (FEC, checks) and updates, keyed generators
    updates = [np.random.default_rng(k).normal(0, 0.05, 300).astype(np.float32) for k in range(6)]
    channels = [teleport(f) for f in (0.99, 0.95, 0.9, 0.95, 0.99, 0.9)]
    # Execute
    before = pool.pooled_sends
    pairs = list(enumerate(zip(channels, updates, strict=True)))
    pooled = pool.send_all([(ch, u, keyed(1, k)) for k, (ch, u) in pairs])
    local = [ch.send(u, rng=keyed(1, k)) for k, (ch, u) in pairs]
    # Assert: every send ran in a worker, and each Delivery is the in-process one
    assert pool.pooled_sends - before == 6
    assert all(same(a, b) for a, b in zip(pooled, local, strict=True))
    assert all(d.verdict.accepted for d in pooled)


def test_channel_state_comes_back_from_the_workers(pool: ChannelPool) -> None:
    # Prepare: top-k with error feedback keeps a residual from one send to the next
    def make() -> list[Channel]:
        return [CompressedChannel(teleport(client=k), compressor=TopK(0.2)) for k in range(3)]

    pooled_channels, local_channels = make(), make()
    rng = np.random.default_rng(3)
    rounds = [[rng.normal(0, 1, 200).astype(np.float32) for _ in range(3)] for _ in range(3)]
    # Execute: three rounds through the pool and three in-process
    for r, updates in enumerate(rounds, start=1):
        pooled = pool.send_all(
            [
                (ch, u, keyed(r, k))
                for k, (ch, u) in enumerate(zip(pooled_channels, updates, strict=True))
            ]
        )
        local = [
            ch.send(u, rng=keyed(r, k))
            for k, (ch, u) in enumerate(zip(local_channels, updates, strict=True))
        ]
        assert all(same(a, b) for a, b in zip(pooled, local, strict=True)), f"round {r}"
    # Assert: the parent's channels hold the residual the workers left
    for a, b in zip(pooled_channels, local_channels, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa and sa.keys() == sb.keys()
        assert all(sa[n].tobytes() == sb[n].tobytes() for n in sa)


def test_dependent_jobs_stay_in_process() -> None:
    # Prepare: one channel object or one generator shared by two jobs (order matters)
    shared_rng = np.random.default_rng(0)
    u = np.ones(8, np.float32)
    with ChannelPool(workers=2, min_batch_seconds=0.0) as p:
        # Execute
        a = p.send_all([(PlainChannel(), u, shared_rng), (PlainChannel(), u, shared_rng)])
        ch = PlainChannel()
        b = p.send_all([(ch, u, keyed(1, 0)), (ch, u, keyed(1, 1))])
        # Assert: sent here, in order; no worker process was started
        assert len(a) == len(b) == 2 and not p.started and p.pooled_sends == 0


def make_sim(
    channel_pool: ChannelPool | None, *, rounds: int = 3, keyed_uplinks: bool = True
) -> FederatedSimulation:
    return helpers.make_sim(
        sizes=[15] * CLIENTS,
        test_examples=100,
        uplink=[
            CompressedChannel(teleport(0.9 if k % 2 else 0.97, client=k), compressor=TopK(0.5))
            for k in range(CLIENTS)
        ],
        rounds=rounds,
        client_chunk=3,
        seed=5,
        uplink_rng=keyed if keyed_uplinks else None,
        channel_pool=channel_pool,
    )


def no_clock(sim: FederatedSimulation) -> list[dict[str, object]]:
    return [{**m.as_dict(), "wall_seconds": 0, "train_seconds": 0} for m in sim.history]


def test_simulation_with_two_workers_is_bit_identical(pool: ChannelPool) -> None:
    # Prepare
    alone, pooled = make_sim(None), make_sim(pool)
    before = pool.pooled_sends
    # Execute
    for _ in range(3):
        alone.run_round()
        pooled.run_round()
    # Assert: the pool served the 3-client chunks of rounds 2 and 3 (round 1 measured the
    # in-process cost; a chunk of one client stays here), and model, records, generator and
    # channel states are identical
    assert pool.pooled_sends - before == 2 * 3
    assert pooled.global_params.tobytes() == alone.global_params.tobytes()
    assert no_clock(pooled) == no_clock(alone)
    a, b = alone.state(), pooled.state()
    assert a.rng_states == b.rng_states
    assert a.channel_states.keys() == b.channel_states.keys() and a.channel_states
    for name, value in a.channel_states.items():
        assert value.tobytes() == b.channel_states[name].tobytes()


def test_cheap_or_unkeyed_uplinks_are_never_pooled(pool: ChannelPool) -> None:
    # Prepare: a pool that needs 1 h of sending before it is worth starting, and a
    # simulation whose uplinks share one sequential stream
    before = pool.pooled_sends
    with ChannelPool(workers=2, min_batch_seconds=3600.0) as slow_to_start:
        cheap = make_sim(slow_to_start, rounds=2)
        sequential = make_sim(pool, rounds=2, keyed_uplinks=False)
        # Execute
        for sim in (cheap, sequential):
            sim.run_round()
            sim.run_round()
        # Assert
        assert not slow_to_start.started and slow_to_start.pooled_sends == 0
    assert pool.pooled_sends == before


def test_workers_setting_is_checked() -> None:
    assert resolve_workers(3) == 3
    assert resolve_workers("auto") >= 1
    assert parse_workers(" Auto ") == "auto" and parse_workers("2") == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InputError, match="positive integer or auto"):
            parse_workers(bad)
    with pytest.raises(InputError, match="inprocess"):
        parse_workers("2", engine="flower-sim")
    for wrong in (0, True, 2.0):
        with pytest.raises(InputError, match="workers"):
            resolve_workers(wrong)  # type: ignore[arg-type]


@pytest.mark.parametrize(("load", "expected"), [(0.3, 4), (1.2, 3), (3.9, 1), (10.5, 1)])
def test_auto_workers_are_the_idle_cpus(
    monkeypatch: pytest.MonkeyPatch, load: float, expected: int
) -> None:
    # Prepare: a 4-CPU machine at a given 1-minute load average
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (load, 0.0, 0.0))
    # Execute / Assert
    assert resolve_workers("auto") == expected
    assert ChannelPool(workers="auto").workers == expected


def test_pooled_qkd_otp_sends_equal_in_process_sends(pool: ChannelPool) -> None:
    """QKD-OTP over untouched pairs and over pairs an intercept-resend
    attacker touches (stim): a worker's Delivery is the in-process one, byte for byte."""
    from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
    from qtfl.security.eavesdropper import ClassicalTap, InterceptResend

    # Prepare: two links, fixed link secrets, keyed generators
    def qkd(eve: object, client: int) -> QkdOtpChannel:
        return QkdOtpChannel(
            LinkSpec(WernerPair(0.97), 1e6, 0.001),
            eavesdropper=eve,  # type: ignore[arg-type]
            settings=QkdSettings(qber_tolerance=0.06),
            secret=LinkSecret(bytes([client + 1]) * 32),
        )

    channels = [qkd(ClassicalTap(), 0), qkd(InterceptResend(fraction=0.02), 1)]
    updates = [np.random.default_rng(k).normal(0, 0.05, 2000).astype(np.float32) for k in (0, 1)]
    jobs = [(ch, u, keyed(2, k)) for k, (ch, u) in enumerate(zip(channels, updates, strict=True))]
    # Execute
    before = pool.pooled_sends
    pooled = pool.send_all(jobs)
    local = [ch.send(u, rng=keyed(2, k)) for k, (ch, u, _) in enumerate(jobs)]
    # Assert: both sends ran in a worker, and each Delivery is the in-process one
    assert pool.pooled_sends - before == 2
    assert all(same(a, b) for a, b in zip(pooled, local, strict=True))
    assert all(d.verdict.accepted for d in pooled)
