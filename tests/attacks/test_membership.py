"""Membership inference: scores, and the attack against FL with and without defences.

Significance uses the null distribution of the AUC (members and non-members exchangeable):
mean 1/2, standard deviation sqrt((n1 + n0 + 1) / (12 n1 n0)) (Mann-Whitney).
"""

from __future__ import annotations

import numpy as np

from qtfl.attacks.membership import _class_zscore
from qtfl.attacks.membership_run import membership_assessment
from qtfl.fl.privacy import DPSettings


def _null_sd(n: int) -> float:
    return float(np.sqrt((2 * n + 1) / (12.0 * n * n)))


def test_class_zscore_uses_per_class_reference_moments() -> None:
    ref_y = np.array([0, 0, 0, 1, 1, 1])
    ref_v = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    z = _class_zscore(
        np.array([2.0, 20.0, 2.0 + np.sqrt(2 / 3)]), np.array([0, 1, 0]), ref_v, ref_y
    )
    np.testing.assert_allclose(z, [0.0, 0.0, 1.0])


def test_global_model_leaks_membership_of_a_small_training_set() -> None:
    r = membership_assessment(attack="loss", train_examples=100, rounds=30, local_epochs=10)
    assert r["auc"] > 0.5 + 4 * _null_sd(r["members"])
    assert 0.0 <= r["tpr_at_1pct_fpr"] <= 1.0


def test_client_update_leaks_and_masking_hides_it() -> None:
    open_ = membership_assessment(target="client", attack="lira")
    assert open_["auc"] > 0.5 + 3 * _null_sd(open_["members"])  # 3 sigma: 30 members only
    masked = membership_assessment(
        target="client", attack="lira", secure_aggregation=True, train_examples=600
    )
    assert abs(masked["auc"] - 0.5) < 4 * _null_sd(masked["members"])


def test_strong_dp_brings_the_global_attack_to_chance() -> None:
    r = membership_assessment(
        attack="loss",
        train_examples=100,
        rounds=30,
        local_epochs=10,
        dp=DPSettings(clip_norm=1.0, noise_multiplier=2.0),
    )
    assert abs(r["auc"] - 0.5) < 4 * _null_sd(r["members"])
    assert r["epsilon"] > 0 and r["delta"] == 1e-5
