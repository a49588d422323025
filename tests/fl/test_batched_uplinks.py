"""The engine's in-process uplinks decode their FEC blocks together: same run as one by one."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel import batched
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.channel.verified import LinkSpec
from qtfl.fl import engine
from qtfl.fl.engine import FederatedSimulation
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import LinkSecret
from tests.fl import helpers

CLIENTS = 5


def make_sim() -> FederatedSimulation:
    return helpers.make_sim(
        sizes=[15] * CLIENTS,
        test_examples=100,
        uplink=[  # two codes (ldpc-2/3 near its limit, and ldpc-5/6): two groups per call
            TeleportationChannel(
                LinkSpec(WernerPair(0.948 if k % 2 else 0.99), 1e6, 0.001),
                fec="ldpc-2/3" if k % 2 else "auto",
                secret=LinkSecret(bytes([k + 1]) * 32),
            )
            for k in range(CLIENTS)
        ],
        rounds=4,
        seed=5,
        uplink_rng=lambda r, k: np.random.default_rng([7, r, k]),
    )


def test_batched_uplinks_give_the_run_of_one_by_one_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: the same simulation twice; the second sends its uplinks one after the other
    together, alone = make_sim(), make_sim()
    decoded: list[int] = []  # requests per decoder call
    real = batched.decode_many

    def counted(requests):  # type: ignore[no-untyped-def]
        decoded.append(len(requests))
        return real(requests)

    monkeypatch.setattr(batched, "decode_many", counted)
    # Execute
    for _ in range(4):
        together.run_round()
    monkeypatch.setattr(
        engine, "send_batched", lambda jobs: [ch.send(u, rng=g) for ch, u, g in jobs]
    )
    for _ in range(4):
        alone.run_round()
    # Assert: every round's first passes were decoded in one call for all clients (resend
    # passes, if any, in later calls; tests/channel/test_batched.py has them), and model,
    # records and generator states are identical
    assert decoded.count(CLIENTS) == 4
    assert together.global_params.tobytes() == alone.global_params.tobytes()
    clockless = [
        [{**m.as_dict(), "wall_seconds": 0, "train_seconds": 0} for m in s.history]
        for s in (together, alone)
    ]
    assert clockless[0] == clockless[1]
    assert together.state().rng_states == alone.state().rng_states
