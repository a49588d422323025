"""Poisoning: each attack's transform against its definition, and a digits run where boosted
sign-flipping collapses FedAvg but not the robust aggregators, and a backdoor succeeds
against FedAvg but not against the coordinate-wise median."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from qtfl.attacks.poisoning import (
    Adversary,
    ModelPoisoning,
    alie_update,
    alie_z,
    apply_trigger,
    backdoor_success_rate,
    poison_partition,
)
from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import run_experiment
from qtfl.fl.strategies import make_strategy, norm_bounded_mean


def test_alie_z_is_baruch_et_al_algorithm() -> None:
    # n = 10, m = 3: s = floor(10/2 + 1) - 3 = 3, z = Phi^-1(7/10)
    assert alie_z(10, 3) == pytest.approx(norm.ppf(0.7))
    assert alie_z(50, 12) == pytest.approx(norm.ppf((50 - (26 - 12)) / 50))
    assert alie_z(4, 3) == 0.0  # a malicious majority needs no stealth


def test_alie_update_is_mean_minus_z_std() -> None:
    honest = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 8.0]], np.float32)
    out = alie_update(honest, 0.5)
    np.testing.assert_allclose(out, honest.mean(0) - 0.5 * honest.std(0), rtol=1e-6)


def test_model_poisoning_transforms_only_malicious_clients() -> None:
    u = np.array([1.0, -2.0, 0.5], np.float32)
    post = ModelPoisoning(
        [
            Adversary(clients=(1,), attack="sign-flip", scale=5.0),
            Adversary(clients=(2,), attack="scaling", scale=3.0),
            Adversary(clients=(3,), attack="gaussian", sigma=2.0),
        ],
        rng=np.random.default_rng(0),
    )
    same, w = post.postprocess_one_user(u, client=0, weight=7.0, context=None)
    assert same is u and w == 7.0
    flipped = post.postprocess_one_user(u, client=1, weight=1, context=None)[0]
    scaled = post.postprocess_one_user(u, client=2, weight=1, context=None)[0]
    np.testing.assert_array_equal(flipped, -5 * u)
    np.testing.assert_array_equal(scaled, 3 * u)
    noise = ModelPoisoning(
        [Adversary(clients=(3,), attack="gaussian", sigma=2.0)], rng=np.random.default_rng(1)
    )
    big = np.zeros(200_000, np.float32)
    sample = noise.postprocess_one_user(big, client=3, weight=1, context=None)[0]
    # sample std of 2e5 N(0, 4) draws: standard error 2/sqrt(2 * 2e5) ~ 0.0032; 4 sigma
    assert abs(float(sample.std()) - 2.0) < 4 * 2.0 / math.sqrt(2 * big.size)


def test_alie_cohort_hook_replaces_the_colluders_rows() -> None:
    rng = np.random.default_rng(2)
    updates = rng.normal(size=(10, 5)).astype(np.float32)
    before = updates.copy()
    clients = np.arange(10, dtype=np.int64)
    post = ModelPoisoning([Adversary(clients=(0, 1, 2), attack="alie")], rng=rng)
    out = post.postprocess_cohort(updates, clients=clients, context=None)
    expected = alie_update(before[:3], alie_z(10, 3))
    for row in range(3):
        np.testing.assert_allclose(out[row], expected, rtol=1e-6)
    np.testing.assert_array_equal(out[3:], before[3:])


def test_trigger_and_data_poisoning() -> None:
    x = np.zeros((6, 16), np.float32)
    x[0, 0] = 1.0
    triggered = apply_trigger(x, size=2, value=9.0).reshape(6, 4, 4)
    assert np.all(triggered[:, 2:, 2:] == 9.0) and triggered[:, :2, :].sum() == 1.0
    y = np.array([0, 1, 2, 3, 4, 5], np.int64)
    indices = [np.array([0, 1, 2]), np.array([3, 4, 5])]
    flipped = poison_partition(
        x, y, indices, [Adversary(clients=(1,), attack="label-flip")],
        num_classes=10, rng=np.random.default_rng(0),
    )  # fmt: skip
    np.testing.assert_array_equal(flipped.y[flipped.indices[1]], [6, 5, 4])
    np.testing.assert_array_equal(flipped.indices[0], [0, 1, 2])  # honest clients untouched
    np.testing.assert_array_equal(flipped.y[:6], y)  # the honest data set is never modified
    bd = poison_partition(
        x, y, indices,
        [Adversary(clients=(0,), attack="backdoor", target_label=7, poison_fraction=2 / 3)],
        num_classes=10, rng=np.random.default_rng(0),
    )  # fmt: skip
    labels = bd.y[bd.indices[0]]
    assert int(np.sum(labels == 7)) == 2
    with pytest.raises(InputError, match="square image"):
        apply_trigger(np.zeros((2, 10), np.float32), size=1, value=1.0)
    with pytest.raises(InputError, match="below the number of classes"):
        poison_partition(
            x, y, indices, [Adversary(clients=(0,), attack="backdoor", target_label=10)],
            num_classes=10, rng=np.random.default_rng(0),
        )  # fmt: skip


def test_backdoor_success_rate_counts_non_target_examples_only() -> None:
    x = np.zeros((4, 4), np.float32)
    y = np.array([0, 1, 2, 3], np.int64)
    adv = Adversary(clients=(0,), attack="backdoor", target_label=0, trigger_size=1)
    always_target = backdoor_success_rate(lambda b: np.zeros(len(b)), x, y, adv, trigger_value=1)
    never = backdoor_success_rate(lambda b: np.ones(len(b)), x, y, adv, trigger_value=1)
    assert always_target == 1.0 and never == 0.0


def test_norm_bounding_closed_form() -> None:
    updates = np.array([[3.0, 4.0], [0.0, 1.0], [30.0, 40.0]], np.float32)  # norms 5, 1, 50
    weights = np.array([1.0, 1.0, 2.0])
    clipped = [[3.0, 4.0], [0.0, 1.0], [3.0, 4.0]]  # median bound 5
    expected = (np.array([0.25, 0.25, 0.5]) @ np.array(clipped)).astype(np.float32)
    np.testing.assert_allclose(norm_bounded_mean(updates, weights), expected, rtol=1e-6)
    fixed = make_strategy("norm-bounding", clip_norm=1.0).aggregate(updates, weights)
    unit = [[0.6, 0.8], [0.0, 1.0], [0.6, 0.8]]  # every row clipped to norm 1
    np.testing.assert_allclose(fixed, np.array([0.25, 0.25, 0.5]) @ np.array(unit), rtol=1e-6)


def _scenario(name: str, strategy: dict | None, attack: dict | None) -> dict:
    out: dict = {"name": name}
    if strategy:
        out["strategy"] = strategy
    if attack:
        out["adversaries"] = [attack]
    return out


@pytest.mark.integration
def test_sign_flip_collapses_fedavg_not_robust_aggregators(tmp_path: Path) -> None:
    flip = {"clients": [0, 1, 2], "attack": "sign-flip", "scale": 5.0}  # 30%, boosted 5x
    backdoor = {"clients": [0, 1], "attack": "backdoor", "target_label": 0, "trigger_size": 2}
    cfg = parse_config(
        {
            "seed": 0,
            "data": {"name": "digits", "partition": "iid", "num_clients": 10},
            "model": {"name": "mlp", "hidden": 64},
            "training": {"rounds": 15, "local_epochs": 2, "batch_size": 10, "lr": 0.2},
            "evaluation": {"every": 15},
            "scenarios": [
                _scenario("clean", None, None),
                _scenario("flip-fedavg", None, flip),
                _scenario("flip-median", {"name": "median"}, flip),
                _scenario("flip-trimmed", {"name": "trimmed-mean", "params": {"beta": 0.3}}, flip),
                _scenario("flip-krum", {"name": "krum", "params": {"f": 3}}, flip),
                _scenario("backdoor-fedavg", None, backdoor),
                _scenario("backdoor-median", {"name": "median"}, backdoor),
            ],
        }
    )
    run_experiment(cfg, out_dir=tmp_path / "run")
    s = json.loads((tmp_path / "run" / "summary.json").read_text())["scenarios"]
    clean = s["clean"]["final_accuracy"]
    assert clean > 0.9
    assert s["flip-fedavg"]["final_accuracy"] < 0.3
    for robust in ("flip-median", "flip-trimmed", "flip-krum"):
        assert s[robust]["final_accuracy"] >= clean - 0.05, robust
    assert s["flip-median"]["strategy"] == "median"
    assert s["flip-fedavg"]["malicious_clients"] == [0, 1, 2]
    # The backdoor is learned under FedAvg (chance would be ~0.1 of non-target examples)
    # and not under the median, which discards the two poisoned clients' coordinates.
    assert s["backdoor-fedavg"]["attack_success_rate"] > 0.5
    assert s["backdoor-median"]["attack_success_rate"] < 0.1
    assert s["backdoor-fedavg"]["final_accuracy"] > 0.9  # stealthy: main task unharmed
    assert "attack_success_rate" not in s["clean"]  # no adversary, no such figure
    html = (tmp_path / "run" / "report.html").read_text()
    assert '<section id="adversaries">' in html and "backdoor by 0, 1" in html


def test_adversary_config_errors_name_the_field() -> None:
    base = {"data": {"name": "digits", "num_clients": 4}}
    with pytest.raises(InputError, match="client 9 does not exist"):
        parse_config({**base, "scenarios": [{"name": "a", "adversaries": [
            {"clients": [9], "attack": "sign-flip"}]}]})  # fmt: skip
    twice = [{"clients": [1], "attack": "sign-flip"}, {"clients": [1], "attack": "alie"}]
    with pytest.raises(InputError, match="appears twice"):
        parse_config({**base, "scenarios": [{"name": "a", "adversaries": twice}]})
    with pytest.raises(InputError, match="attack"):
        parse_config({**base, "scenarios": [{"name": "a", "adversaries": [
            {"clients": [1], "attack": "nuke"}]}]})  # fmt: skip
