"""Gradient inversion on the digits MLP, on what each attacker observes.

Thresholds are the issue's acceptance figures (analytic >= 40 dB, DLG >= 25 dB, iDLG labels
exact on plaintext); "no information" is the same attack run on uniform random codes
(``baseline_*``), and chance-level labels are checked against a binomial at 4 sigma.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qtfl.attacks.assessment import build_channel, invert_assessment
from qtfl.attacks.inversion import _params, analytic_recovery, idlg_labels, model_gradients
from qtfl.attacks.views import ViewContext, attacker_view
from qtfl.data import load_dataset
from qtfl.errors import InputError
from qtfl.fl.privacy import DPSettings
from qtfl.models.registry import build_model


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    return load_dataset("digits")


def test_plaintext_tap_analytic_dlg_and_idlg(digits) -> None:  # type: ignore[no-untyped-def]
    analytic = invert_assessment(method="analytic", baseline_draws=1)
    assert analytic["psnr_db"] >= 40.0 and analytic["label_accuracy"] == 1.0
    dlg = invert_assessment(method="dlg", baseline_draws=1, iterations=60)
    assert dlg["psnr_db"] >= 25.0 and dlg["label_accuracy"] == 1.0
    ig = invert_assessment(method="ig", baseline_draws=1, iterations=150)
    assert ig["psnr_db"] > ig["baseline_psnr_db"] + 10.0
    # iDLG's label rule is exact for batch 1 whatever the example
    net = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, hidden=64, seed=0)
    p = _params(net, None)
    for i in range(20):
        x = torch.from_numpy(digits.x_train[i : i + 1]).double()
        y = torch.from_numpy(digits.y_train[i : i + 1])
        assert idlg_labels(net, model_gradients(net, x, y, params=p))[0] == int(y[0])


def test_multi_step_batch1_update_still_gives_the_image() -> None:
    # every step's first-layer gradient is (dL/db) x^T for the same x: the ratio stays exact
    r = invert_assessment(method="analytic", local_steps=10, baseline_draws=1)
    assert r["psnr_db"] >= 40.0


def test_batches_blur_the_analytic_recovery() -> None:
    # each neuron's ratio mixes the examples that activate it: above noise, below exact
    r = invert_assessment(method="analytic", batch=4, baseline_draws=2)
    assert r["baseline_psnr_db"] + 3.0 < r["psnr_db"] < 40.0


def test_analytic_needs_a_fully_connected_first_layer(digits) -> None:  # type: ignore[no-untyped-def]
    net = build_model("convnet", input_shape=(1, 8, 8), num_classes=10, seed=0)
    with pytest.raises(InputError, match="fully connected first layer"):
        analytic_recovery(net, {}, input_shape=(1, 8, 8))


def test_teleportation_tap_is_no_better_than_noise() -> None:
    # mean over 8 seeds: the tap's PSNR within 1 dB of the same attack on uniform codes
    runs = [
        invert_assessment(channel="teleport", attacker="tap", seed=s, baseline_draws=2)
        for s in range(8)
    ]
    psnr = np.mean([r["psnr_db"] for r in runs])
    base = np.mean([r["baseline_psnr_db"] for r in runs])
    assert abs(psnr - base) <= 1.0
    assert all(r["delivered"] and not r["detected"] for r in runs)


def test_teleportation_tap_labels_are_at_chance(digits) -> None:  # type: ignore[no-untyped-def]
    # 80 taps of 80 different updates; correct labels ~ Binomial(80, 1/10): within 4 sigma
    net = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, hidden=64, seed=0)
    p = _params(net, None)
    rng = np.random.default_rng(5)
    wire = build_channel("teleport", attacker="tap", rng=rng)
    n, hits = 80, 0
    for i in range(n):
        x = torch.from_numpy(digits.x_train[i : i + 1]).double()
        y = torch.from_numpy(digits.y_train[i : i + 1])
        g = model_gradients(net, x, y, params=p)
        update = (-0.1 * torch.cat([v.reshape(-1) for v in g.values()])).float().numpy()
        d = wire.send(update, rng=rng)
        ctx = ViewContext(n_values=update.size, header_max_abs=float(np.abs(update).max()))
        seen = attacker_view("eavesdropper", d, ctx)
        assert seen is not None
        grads = {k: -torch.as_tensor(v) for k, v in _params(net, seen).items()}
        hits += int(idlg_labels(net, grads)[0] == int(y[0]))
    assert abs(hits - n * 0.1) <= 4 * np.sqrt(n * 0.1 * 0.9)


def test_intercept_resend_below_threshold_and_aead_learn_nothing() -> None:
    # Eve intercepts 0.3% of the pairs in Z: the checks usually miss her (a retry on fresh
    # pairs follows an abort); whenever the payload went through, what she holds is noise
    runs = [
        invert_assessment(channel="teleport", attacker="intercept-resend", seed=s)
        for s in range(6)
    ]
    seen = [r for r in runs if r["attacker_has_payload"]]
    assert len(seen) >= 3
    assert abs(np.mean([r["psnr_db"] - r["baseline_psnr_db"] for r in seen])) <= 1.0
    aead = [invert_assessment(channel="aead", seed=s) for s in range(4)]
    assert max(r["psnr_db"] for r in aead) < 15.0  # far below any recovery (>= 40 dB)


def test_curious_server_succeeds_unless_dp_or_masking() -> None:
    plain = invert_assessment(attacker="server")
    ideal_teleport = invert_assessment(channel="teleport", attacker="server", fidelity=1.0)
    assert plain["psnr_db"] >= 40.0 and ideal_teleport["psnr_db"] >= 40.0
    dp = invert_assessment(
        attacker="server", dp=DPSettings(clip_norm=1.0, noise_multiplier=1.0, placement="client")
    )
    assert abs(dp["psnr_db"] - dp["baseline_psnr_db"]) <= 1.5
    masked = invert_assessment(attacker="server", secure_aggregation_clients=10)
    tap_masked = invert_assessment(attacker="tap", secure_aggregation_clients=10)
    # the server attacks the sum of 10 clients: a blend, far from the 100 dB of one update
    assert masked["psnr_db"] < 20.0
    assert abs(tap_masked["psnr_db"] - tap_masked["baseline_psnr_db"]) <= 1.5


def test_bad_attack_settings_are_named() -> None:
    with pytest.raises(InputError, match="intercept-resend"):
        invert_assessment(channel="plain", attacker="intercept-resend")
    with pytest.raises(InputError, match="attack method"):
        invert_assessment(method="magic")
