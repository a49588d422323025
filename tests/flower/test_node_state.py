"""The client node's residual records: which residual a client starts a round from."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.fl.engine import RoundMetrics
from qtfl.flower.node_state import LastDelivery, ResidualStore, last_delivery

BEFORE = np.array([1.0, 2.0], np.float32)
ACCEPTED = np.array([0.0, 2.0], np.float32)
REJECTED = np.array([3.0, 4.0], np.float32)


def _store(tmp_path: Path) -> ResidualStore:
    store = ResidualStore(tmp_path, "node-0", "s")
    store.record(4, round_=2, before=BEFORE, accepted=ACCEPTED, rejected=REJECTED)
    return store


@pytest.mark.parametrize(
    ("round_", "last", "expected"),
    [
        (3, LastDelivery(2, True), ACCEPTED),  # the server accepted round 2's delivery
        (3, LastDelivery(2, False), REJECTED),  # it rejected it: the residual keeps all
        (3, LastDelivery(1, True), REJECTED),  # round 2's reply never reached the server
        (2, LastDelivery(1, True), BEFORE),  # round 2 re-run after a resume
    ],
    ids=["accepted", "rejected", "reply-lost", "re-run"],
)
def test_the_start_residual_follows_the_servers_record(
    tmp_path: Path, round_: int, last: LastDelivery, expected: np.ndarray
) -> None:
    got = _store(tmp_path).current(4, round_=round_, last=last)
    assert got is not None
    np.testing.assert_array_equal(got, expected)


def test_fresh_clients_start_empty_and_lost_records_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.current(5, round_=1, last=LastDelivery()) is None
    with pytest.raises(InputError, match="no residual record"):
        store.current(5, round_=3, last=LastDelivery(2, True))
    with pytest.raises(InputError, match="older than"):
        store.current(4, round_=5, last=LastDelivery(3, True))
    store.record(6, round_=1, before=None, accepted=ACCEPTED, rejected=REJECTED)
    assert store.current(6, round_=1, last=LastDelivery()) is None  # re-run of its first send
    # the records sit in an owner-only directory of this party
    mode = stat.S_IMODE((tmp_path / "node-0" / "s").stat().st_mode)
    assert mode & 0o077 == 0


def test_last_delivery_is_the_latest_record_of_the_client() -> None:
    def record(r: int, clients: list[int], accepted: list[bool]) -> RoundMetrics:
        return RoundMetrics(r, None, None, 2, 0, 2, 0, 0, 2,
                            clients={"client": clients, "accepted": accepted})  # fmt: skip

    history = [record(1, [0, 1], [True, True]), record(2, [1, 2], [False, True])]
    assert last_delivery(history, 1) == LastDelivery(2, False)
    assert last_delivery(history, 0) == LastDelivery(1, True)
    assert last_delivery(history, 3) == LastDelivery()
