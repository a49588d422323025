"""Eavesdroppers on a teleportation link, their detection, and what they learn.

* :mod:`~qtfl.security.eavesdropper` — attackers simulated at circuit level (stim);
* :mod:`~qtfl.security.detection` — the check-pair QBER test, p-values, predictions;
* :mod:`~qtfl.security.leakage` — Eve's measured information and the QBER bound;
* :mod:`~qtfl.security.qkd` — BBM92 post-processing for the QKD + one-time-pad channel;
* :mod:`~qtfl.security.curve` — detection probability vs check pairs and attacked fraction.
"""

from qtfl.security.detection import (
    CheckResult,
    QberTest,
    check_count,
    checks_for_margin,
    chsh_from_qber,
    detection_probability,
    hoeffding_margin,
    zero_tolerance_detection,
)
from qtfl.security.eavesdropper import (
    EVE_BASES,
    EVE_KINDS,
    ClassicalTap,
    Eavesdropper,
    EntanglingMitm,
    InterceptResend,
    NoEavesdropper,
    make_eavesdropper,
)
from qtfl.security.leakage import (
    Leakage,
    binary_entropy,
    information_bound,
    information_from_agreement,
    measure_leakage,
)

__all__ = [
    "EVE_BASES",
    "EVE_KINDS",
    "CheckResult",
    "ClassicalTap",
    "Eavesdropper",
    "EntanglingMitm",
    "InterceptResend",
    "Leakage",
    "NoEavesdropper",
    "QberTest",
    "binary_entropy",
    "check_count",
    "checks_for_margin",
    "chsh_from_qber",
    "detection_probability",
    "hoeffding_margin",
    "information_bound",
    "information_from_agreement",
    "make_eavesdropper",
    "measure_leakage",
    "zero_tolerance_detection",
]
