"""Privacy keys per holder: draws depend on the holder's key and the round only."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.fl.privacy import DPFedAvg, DPSettings, RoundContext, SecureAggregation
from qtfl.fl.privacy_keys import PrivacyKeys, party_keys
from qtfl.security.run_secret import RunSecret

SECRET = RunSecret(bytes(range(32)))


def _ctx(round_: int, cohort: list[int]) -> RoundContext:
    ids = np.array(cohort, np.int64)
    return RoundContext(round_, ids, np.ones(ids.size), rng=np.random.default_rng(0))


def test_local_noise_depends_on_client_and_round_not_on_order_or_cohort() -> None:
    dp = DPFedAvg(DPSettings(noise_multiplier=1.0, placement="client"),
                  keys=PrivacyKeys(SECRET, "s"))  # fmt: skip
    zero = np.zeros(16, np.float32)

    def noise(client: int, round_: int, cohort: list[int]) -> np.ndarray:
        return dp.postprocess_one_user(zero, client=client, weight=1.0,
                                       context=_ctx(round_, cohort))[0]  # fmt: skip

    a = noise(2, 1, [0, 1, 2])
    noise(0, 1, [0, 1, 2])  # another client's draw in between changes nothing
    np.testing.assert_array_equal(a, noise(2, 1, [2, 3]))
    assert not np.array_equal(a, noise(2, 2, [0, 1, 2]))  # another round
    assert not np.array_equal(a, noise(1, 1, [0, 1, 2]))  # another client
    other = DPFedAvg(DPSettings(noise_multiplier=1.0, placement="client"),
                     keys=PrivacyKeys(RunSecret(bytes(32)), "s"))  # fmt: skip
    b = other.postprocess_one_user(zero, client=2, weight=1.0, context=_ctx(1, [2]))[0]
    assert not np.array_equal(a, b)  # another run secret


def test_pairwise_masks_cancel_and_each_party_holds_only_its_keys() -> None:
    # Prepare: a whole-secret masker and node shares (node 0: clients 0, 2; node 1: client 1)
    full = SecureAggregation(max_abs=1.0, keys=PrivacyKeys(SECRET, "s"))
    cohort = np.arange(3)
    masks = [full.mask(k, cohort, 4, 32) for k in range(3)]
    # Assert: the masks cancel in the ring; pair seeds are symmetric
    assert not np.any(sum(masks) % (1 << 24))
    assert full.pair_seed(0, 2, 4) == full.pair_seed(2, 0, 4) != full.pair_seed(0, 2, 5)
    node0 = SECRET.share(party_keys("s", clients=[0, 2], num_clients=3))
    server = SECRET.share(party_keys("s", clients=[], num_clients=3, server=True))
    masker = SecureAggregation(max_abs=1.0, keys=PrivacyKeys(node0, "s"))
    np.testing.assert_array_equal(masker.mask(0, cohort, 4, 32), masks[0])
    with pytest.raises(InputError, match="mask-pair"):
        SecureAggregation(keys=PrivacyKeys(server, "s")).pair_seed(0, 1, 4)
    with pytest.raises(InputError, match="dp-noise"):
        PrivacyKeys(node0, "s").client_noise(1, 1)
    with pytest.raises(InputError, match="dp-noise"):
        PrivacyKeys(node0, "s").server_noise(1)
    PrivacyKeys(server, "s").server_noise(1)
