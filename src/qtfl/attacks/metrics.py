r"""What an attack recovered, measured: image metrics and membership-inference metrics.

Image metrics compare a reconstruction ``x_hat`` with the truth ``x``, both ``(N, C, H, W)``
(or ``(C, H, W)``), over a stated ``data_range`` (max - min of the pixel domain: 1 for
digits and Fashion-MNIST, the z-scored range for CIFAR-10):

* :func:`mse` — mean squared error per image, averaged;
* :func:`psnr_db` — :math:`10\log_{10}(R^2/\mathrm{MSE})` per image, averaged (an exact
  reconstruction is capped at :data:`PSNR_CAP_DB`);
* :func:`ssim` — structural similarity of Wang et al. with a Gaussian window
  (:math:`\sigma = 1.5`, 11 taps, shrunk to the image side for small images), constants
  :math:`C_1 = (0.01R)^2`, :math:`C_2 = (0.03R)^2`, "valid" windows, channels averaged:

  .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
            {(\mu_x^2+\mu_y^2+C_1)(\sigma_x^2+\sigma_y^2+C_2)}

* :func:`random_baseline` — the same metrics for a guess drawn uniformly in the data range
  and a uniform random label: the score of an attacker who learnt nothing.

Membership metrics take one score per example (higher = "member"):

* :func:`roc_auc` — the Mann-Whitney statistic :math:`P[s_{in} > s_{out}] + \tfrac12 P[=]`,
  exact from the ranks (ties averaged);
* :func:`tpr_at_fpr` — the largest true-positive rate of a threshold whose false-positive
  rate is at most the target (Carlini et al. 2022 report it at 1% FPR).

References: Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13:600 (2004) (SSIM);
Hanley & McNeil, Radiology 143:29 (1982) (AUC as Mann-Whitney); Carlini et al., "Membership
Inference Attacks From First Principles", IEEE S&P 2022 (TPR at low FPR).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import correlate1d
from scipy.stats import rankdata

from qtfl.errors import InputError, require_range

PSNR_CAP_DB = 100.0
"""PSNR reported for a reconstruction whose error is below float precision."""

Array = npt.NDArray[np.floating[Any]]


def _as_images(x: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise InputError(f"{name} must be images (N, C, H, W) or (C, H, W), got shape {a.shape}")
    return a


def _pair(x_hat: npt.ArrayLike, x: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    a, b = _as_images(x_hat, "reconstruction"), _as_images(x, "truth")
    if a.shape != b.shape:
        raise InputError(f"reconstruction shape {a.shape} differs from truth shape {b.shape}")
    return a, b


def mse(x_hat: npt.ArrayLike, x: npt.ArrayLike) -> float:
    """Mean squared error per image, averaged over images."""
    a, b = _pair(x_hat, x)
    return float(np.mean((a - b) ** 2))


def psnr_db(x_hat: npt.ArrayLike, x: npt.ArrayLike, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB per image, averaged (capped at :data:`PSNR_CAP_DB`)."""
    r = require_range("data_range", data_range, low=0.0, low_open=True)
    a, b = _pair(x_hat, x)
    per_image = np.mean((a - b) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(r * r / per_image)
    return float(np.mean(np.minimum(values, PSNR_CAP_DB)))


def gaussian_window(size: int, sigma: float = 1.5) -> npt.NDArray[np.float64]:
    """Normalised 1-D Gaussian taps (the separable SSIM window)."""
    half = (size - 1) / 2.0
    t = np.arange(size) - half
    w = np.exp(-(t**2) / (2.0 * sigma * sigma))
    return w / w.sum()


def ssim(
    x_hat: npt.ArrayLike,
    x: npt.ArrayLike,
    *,
    data_range: float,
    window: int = 11,
    sigma: float = 1.5,
) -> float:
    """Mean SSIM (Wang et al. 2004) over images, channels and valid window positions.

    The window is ``min(window, smallest image side)`` taps (odd), so 8x8 digits use 7x7.
    """
    r = require_range("data_range", data_range, low=0.0, low_open=True)
    a, b = _pair(x_hat, x)
    side = min(window, a.shape[2], a.shape[3])
    side -= 1 - side % 2  # odd number of taps
    w = gaussian_window(side, sigma)
    crop = side // 2

    def blur(img: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = correlate1d(correlate1d(img, w, axis=2, mode="constant"), w, axis=3, mode="constant")
        h, wd = out.shape[2], out.shape[3]
        return out[:, :, crop : h - crop, crop : wd - crop]

    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def label_accuracy(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Share of labels recovered exactly."""
    p, t = np.asarray(predicted).reshape(-1), np.asarray(truth).reshape(-1)
    if p.shape != t.shape:
        raise InputError(f"{p.size} predicted labels for {t.size} true labels")
    return float(np.mean(p == t))


def image_metrics(
    x_hat: npt.ArrayLike,
    x: npt.ArrayLike,
    *,
    data_range: float,
    labels_hat: npt.ArrayLike | None = None,
    labels: npt.ArrayLike | None = None,
) -> dict[str, float | None]:
    """``mse``, ``psnr_db``, ``ssim`` and ``label_accuracy`` (None without labels)."""
    acc = None
    if labels_hat is not None and labels is not None:
        acc = label_accuracy(labels_hat, labels)
    return {
        "mse": mse(x_hat, x),
        "psnr_db": psnr_db(x_hat, x, data_range=data_range),
        "ssim": ssim(x_hat, x, data_range=data_range),
        "label_accuracy": acc,
    }


def random_baseline(
    x: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    low: float,
    high: float,
    num_classes: int,
    rng: np.random.Generator,
    draws: int = 32,
) -> dict[str, float | None]:
    """Metrics of guesses uniform in ``[low, high]`` with uniform labels, averaged over draws.

    This is the score of an attacker who learnt nothing about ``x``: an attack on a view that
    carries no information should land here.
    """
    truth = _as_images(x, "truth")
    y = np.asarray(labels).reshape(-1)
    guesses = rng.uniform(low, high, size=(draws, *truth.shape))
    label_guess = rng.integers(0, num_classes, size=(draws, y.size))
    rows = [
        image_metrics(g, truth, data_range=high - low, labels_hat=lg, labels=y)
        for g, lg in zip(guesses, label_guess, strict=True)
    ]
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}


# --------------------------------------------------------------------------- membership


def _scores(members: npt.ArrayLike, non_members: npt.ArrayLike) -> tuple[Array, Array]:
    s_in = np.asarray(members, dtype=np.float64).reshape(-1)
    s_out = np.asarray(non_members, dtype=np.float64).reshape(-1)
    if s_in.size == 0 or s_out.size == 0:
        raise InputError("membership metrics need at least one member and one non-member score")
    if not (np.isfinite(s_in).all() and np.isfinite(s_out).all()):
        raise InputError("membership scores must be finite")
    return s_in, s_out


def roc_auc(members: npt.ArrayLike, non_members: npt.ArrayLike) -> float:
    """Area under the ROC curve: ``P[s_in > s_out] + P[s_in == s_out] / 2``, from ranks."""
    s_in, s_out = _scores(members, non_members)
    ranks = rankdata(np.concatenate([s_in, s_out]))
    n1, n0 = s_in.size, s_out.size
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def tpr_at_fpr(members: npt.ArrayLike, non_members: npt.ArrayLike, *, fpr: float = 0.01) -> float:
    """Largest TPR over thresholds ``t`` (predict member when ``s >= t``) with FPR <= ``fpr``."""
    target = require_range("fpr", fpr, low=0.0, high=1.0)
    s_in, s_out = _scores(members, non_members)
    # the thresholds worth trying are the observed scores, plus +inf (nothing flagged)
    thresholds = np.concatenate([np.unique(np.concatenate([s_in, s_out])), [math.inf]])
    out_sorted, in_sorted = np.sort(s_out), np.sort(s_in)
    fp = s_out.size - np.searchsorted(out_sorted, thresholds, side="left")
    tp = s_in.size - np.searchsorted(in_sorted, thresholds, side="left")
    ok = fp / s_out.size <= target + 1e-12
    return float(np.max(tp[ok]) / s_in.size)
