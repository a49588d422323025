"""Image and membership metrics against closed forms and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from qtfl.attacks.metrics import (
    PSNR_CAP_DB,
    gaussian_window,
    mse,
    psnr_db,
    random_baseline,
    roc_auc,
    ssim,
    tpr_at_fpr,
)
from qtfl.errors import InputError


def test_psnr_and_mse_closed_form() -> None:
    x = np.zeros((2, 1, 8, 8))
    x_hat = np.full_like(x, 0.1)
    assert mse(x_hat, x) == pytest.approx(0.01)
    assert psnr_db(x_hat, x, data_range=1.0) == pytest.approx(20.0)
    assert psnr_db(x_hat, x, data_range=2.0) == pytest.approx(20.0 + 20 * np.log10(2.0))
    assert psnr_db(x, x, data_range=1.0) == PSNR_CAP_DB


def test_ssim_identity_and_constant_images() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 16, 16))
    assert ssim(x, x, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    # constant images: variances and covariance vanish, only the luminance term is left
    a, b = 0.2, 0.7
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    got = ssim(np.full((1, 1, 8, 8), a), np.full((1, 1, 8, 8), b), data_range=1.0)
    assert got == pytest.approx(expected, rel=1e-9)
    # symmetric, and noise lowers it
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
    assert ssim(x, y, data_range=1.0) == pytest.approx(ssim(y, x, data_range=1.0))
    assert ssim(x, y, data_range=1.0) < 0.9


def test_ssim_hand_example_one_window() -> None:
    # a 3x3 image with a 3-tap window gives exactly one window: SSIM from weighted moments
    w = gaussian_window(3, 1.5)
    k = np.outer(w, w)
    x = np.array([[0.0, 0.5, 1.0], [0.2, 0.4, 0.6], [1.0, 0.0, 0.5]])
    y = np.array([[0.1, 0.5, 0.9], [0.3, 0.3, 0.7], [0.8, 0.1, 0.5]])
    mx, my = (k * x).sum(), (k * y).sum()
    vx, vy = (k * x * x).sum() - mx**2, (k * y * y).sum() - my**2
    cxy = (k * x * y).sum() - mx * my
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(y[None, None], x[None, None], data_range=1.0, window=3) == pytest.approx(expected)


def test_random_baseline_is_the_uniform_guess_expectation() -> None:
    # E[(U - x)^2] for U ~ U(0, 1) is x^2 - x + 1/3; 32 draws of 64 pixels: within 4 SE
    x = np.random.default_rng(1).random((1, 1, 8, 8))
    base = random_baseline(x, [3], low=0.0, high=1.0, num_classes=10, rng=np.random.default_rng(2))
    expected = float(np.mean(x**2 - x + 1 / 3))
    assert abs(base["mse"] - expected) < 4 * np.sqrt(1 / 45 / (32 * 64))  # Var[(U-x)^2] <= 1/45
    assert 0.0 <= base["label_accuracy"] <= 1.0


def test_auc_on_known_inputs_and_against_sklearn() -> None:
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1, 2], [3, 4]) == 0.0
    assert roc_auc([1], [1]) == 0.5
    rng = np.random.default_rng(3)
    s_in, s_out = rng.normal(0.5, 1, 300).round(1), rng.normal(0, 1, 400).round(1)  # with ties
    labels = np.r_[np.ones(300), np.zeros(400)]
    assert roc_auc(s_in, s_out) == pytest.approx(roc_auc_score(labels, np.r_[s_in, s_out]))


def test_tpr_at_fpr_known_and_against_sklearn_roc_curve() -> None:
    non = np.arange(100.0)
    members = np.array([150.0, 99.5, 50.0, -1.0])
    # FPR <= 1% allows flagging only the non-member 99: members 150 and 99.5 are caught
    assert tpr_at_fpr(members, non, fpr=0.01) == 0.5
    assert tpr_at_fpr(members, non, fpr=0.0) == 0.5  # t = 99.5 flags no non-member
    rng = np.random.default_rng(4)
    s_in, s_out = rng.normal(1, 1, 500), rng.normal(0, 1, 800)
    fpr, tpr, _ = roc_curve(np.r_[np.ones(500), np.zeros(800)], np.r_[s_in, s_out])
    assert tpr_at_fpr(s_in, s_out, fpr=0.01) == pytest.approx(tpr[fpr <= 0.01].max())


def test_bad_metric_input_is_named() -> None:
    with pytest.raises(InputError, match="data_range"):
        psnr_db(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)), data_range=0.0)
    with pytest.raises(InputError, match="shape"):
        mse(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(InputError, match="at least one member"):
        roc_auc([], [1.0])
