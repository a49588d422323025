"""Every Channel passes the shared contract suite (``contract.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from qtfl.channel import AeadChannel, Channel, PlainChannel
from tests.channel.contract import CONTRACT_CHECKS

CHANNEL_FACTORIES: dict[str, Callable[[], Channel]] = {
    "plain": PlainChannel,
    "plain-slow-link": lambda: PlainChannel(latency_s=1e-3, bandwidth_bps=1e9),
    "aead": lambda: AeadChannel.from_rng(np.random.default_rng(11)),
}


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("factory", CHANNEL_FACTORIES.values(), ids=list(CHANNEL_FACTORIES))
def test_channel_contract(factory: Callable[[], Channel], check: Callable[[Channel], None]) -> None:
    check(factory())
