r"""Membership inference: was this example in the training data?

Two scores per candidate example (higher = "member"), against a model given as a flat
parameter vector:

* **loss threshold** (Yeom et al. 2018): :math:`s = -\ell(x, y)`, the example's
  cross-entropy under the model;
* **shadow-free LiRA** — the offline likelihood-ratio test of Carlini et al. 2022 with the
  "out" distribution estimated from a reference population instead of shadow models: the
  logit-scaled confidence :math:`\phi = \log p_y - \log(1 - p_y)` is compared with a
  Gaussian fitted per class to the same statistic on reference (non-member) examples,
  :math:`s = (\phi - \mu_y)/\sigma_y` (the one-sided Gaussian likelihood ratio is monotone
  in it).

Against a client's update the attacker also knows the model the client started from, so
both statistics are calibrated per example by it: :math:`s = \ell_0 - \ell_1` (the loss drop
the update caused) and the z-score of :math:`\phi_1 - \phi_0` against the reference
population's drops.

AUC and TPR at 1% FPR come from :mod:`qtfl.attacks.metrics`.

References: Yeom, Giacomelli, Fredrikson & Jha, CSF 2018; Carlini, Chien, Nasr, Song,
Terzis & Tramèr, IEEE S&P 2022 (LiRA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from qtfl import registry
from qtfl.attacks.inversion import _params
from qtfl.attacks.metrics import roc_auc, tpr_at_fpr

ATTACKS: tuple[str, ...] = registry.MEMBERSHIP_ATTACKS


@dataclass(frozen=True)
class Statistics:
    """Per-example cross-entropy and logit-scaled confidence of the true class."""

    loss: npt.NDArray[np.float64]
    phi: npt.NDArray[np.float64]


def statistics(
    model: nn.Module,
    params: npt.ArrayLike,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    *,
    batch_size: int = 4096,
) -> Statistics:
    r"""Cross-entropy and :math:`\phi = \log p_y - \log(1-p_y)` (stable via logsumexp)."""
    p = _params(model, params)
    losses, phis = [], []
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            xb = torch.from_numpy(x[i : i + batch_size]).double()
            yb = torch.from_numpy(y[i : i + batch_size])
            logits = functional_call(model, p, (xb,))
            logp = F.log_softmax(logits, dim=1)
            log_py = logp.gather(1, yb[:, None])[:, 0]
            others = logits.clone()
            others[torch.arange(len(yb)), yb] = -torch.inf
            log_rest = torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1)
            losses.append(-log_py)
            phis.append(log_py - log_rest)
    return Statistics(
        loss=torch.cat(losses).numpy().astype(np.float64),
        phi=torch.cat(phis).numpy().astype(np.float64),
    )


def _class_zscore(
    value: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    ref_value: npt.NDArray[np.float64],
    ref_y: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """``(v - mu_y) / sigma_y`` with per-class reference moments (global ones as fallback)."""
    classes = int(max(y.max(initial=0), ref_y.max(initial=0))) + 1
    count = np.bincount(ref_y, minlength=classes).astype(np.float64)
    total = np.bincount(ref_y, weights=ref_value, minlength=classes)
    sq = np.bincount(ref_y, weights=ref_value**2, minlength=classes)
    g_mu, g_sd = float(ref_value.mean()), float(ref_value.std()) + 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(count >= 2, total / count, g_mu)
        var = np.where(count >= 2, sq / count - mu**2, g_sd**2)
    sd = np.sqrt(np.maximum(var, 1e-12))
    return (value - mu[y]) / sd[y]


def membership_scores(
    model: nn.Module,
    params: npt.ArrayLike,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    *,
    reference_x: npt.NDArray[np.float32],
    reference_y: npt.NDArray[np.int64],
    start_params: npt.ArrayLike | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Loss-threshold and shadow-free LiRA scores of candidates ``(x, y)``.

    With ``start_params`` (an attack on a client's update: ``params = start + update``) both
    statistics are differences to the starting model.
    """
    s = statistics(model, params, x, y)
    r = statistics(model, params, reference_x, reference_y)
    if start_params is None:
        return {
            "loss": -s.loss,
            "lira": _class_zscore(s.phi, y, r.phi, reference_y),
        }
    s0 = statistics(model, start_params, x, y)
    r0 = statistics(model, start_params, reference_x, reference_y)
    return {
        "loss": s0.loss - s.loss,
        "lira": _class_zscore(s.phi - s0.phi, y, r.phi - r0.phi, reference_y),
    }


def evaluate_attack(
    members: npt.NDArray[np.float64], non_members: npt.NDArray[np.float64]
) -> dict[str, float]:
    """``auc`` and ``tpr_at_1pct_fpr`` of one score."""
    return {
        "auc": roc_auc(members, non_members),
        "tpr_at_1pct_fpr": tpr_at_fpr(members, non_members, fpr=0.01),
    }
