"""Privacy attacks on what each attacker observes: gradient inversion and membership inference.

Public names: the attacks (:mod:`~qtfl.attacks.inversion`, :mod:`~qtfl.attacks.membership`),
their metrics (:mod:`~qtfl.attacks.metrics`), the attackers' views of a Delivery
(:mod:`~qtfl.attacks.views`) and the end-to-end experiments behind ``qtfl attack``
(:func:`invert_assessment`, :func:`membership_assessment`).
"""

from qtfl.attacks.inversion import (
    METHODS,
    Reconstruction,
    analytic_recovery,
    dlg,
    gradients_from_update,
    idlg_labels,
    invert,
    inverting_gradients,
    model_gradients,
)
from qtfl.attacks.membership import evaluate_attack, membership_scores
from qtfl.attacks.metrics import (
    image_metrics,
    label_accuracy,
    mse,
    psnr_db,
    random_baseline,
    roc_auc,
    ssim,
    tpr_at_fpr,
)
from qtfl.attacks.views import ViewContext, attacker_view

__all__ = [
    "METHODS",
    "Reconstruction",
    "ViewContext",
    "analytic_recovery",
    "attacker_view",
    "dlg",
    "evaluate_attack",
    "gradients_from_update",
    "idlg_labels",
    "image_metrics",
    "invert",
    "inverting_gradients",
    "label_accuracy",
    "membership_scores",
    "model_gradients",
    "mse",
    "psnr_db",
    "random_baseline",
    "roc_auc",
    "ssim",
    "tpr_at_fpr",
]
