r"""What an eavesdropper learned about the payload: measured, and bounded by the QBER.

Measured. Eve's guess of ``n`` payload bits agrees with them on a fraction ``a``. Treating
her guess as the output of a binary symmetric channel with crossover ``1 - a``, her
information is :math:`I = n\,(1 - h(a))` bits, with the binary entropy
:math:`h(p) = -p\log_2 p - (1-p)\log_2(1-p)`. This is a *lower* estimate of what she knows
when her certainty differs from bit to bit (an intercept-resend attacker knows which bits
she measured in the right basis); it is exact for a uniform attack.

Bounded. The entropic uncertainty relation bounds what anyone holding the environment of a
pair can know about its Z outcome by the X-basis error rate seen on the checks:
:math:`H(Z_A|E) \ge 1 - h(Q_X)`, so Eve's information on a Z-basis payload bit is at most
:math:`h(Q_X)` (and ``1`` bit once ``Q_X \ge 1/2``). With only the pooled QBER of random-basis
checks available, ``Q`` stands for ``Q_X`` — the Shor–Preskill phase-error bound.

References: Shor & Preskill, PRL 85, 441 (2000); Berta et al., Nat. Phys. 6, 659 (2010);
Tomamichel & Renner, PRL 106, 110506 (2011).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_range


def binary_entropy(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    r""":math:`h(p) = -p\log_2 p - (1-p)\log_2(1-p)`, with ``h(0) = h(1) = 0``; vectorised."""
    x = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -x * np.log2(x) - (1.0 - x) * np.log2(1.0 - x)
    return np.nan_to_num(h, nan=0.0)


def information_from_agreement(agreement: float) -> float:
    """Mutual information per bit, ``1 - h(a)``, of a guess agreeing on a fraction ``a``."""
    a = require_range("agreement", agreement, low=0.0, high=1.0)
    return float(1.0 - binary_entropy(a))


def information_bound(qber: float) -> float:
    """Upper bound on Eve's information per payload bit implied by a QBER: ``h(min(Q, 1/2))``.

    ``Q >= 1/2`` gives the trivial bound of 1 bit per bit.
    """
    q = require_range("qber", qber, low=0.0, high=1.0)
    return 1.0 if q >= 0.5 else float(binary_entropy(q))


@dataclass(frozen=True)
class Leakage:
    """Eve's measured knowledge of ``n_bits`` payload bits, and the bound from the checks.

    Attributes:
        n_bits: payload bits Eve guessed.
        bits_correct: how many of her guesses were right.
        agreement: ``bits_correct / n_bits``.
        information_bits: ``n_bits * (1 - h(agreement))``.
        bound_bits: ``n_bits * h(Q)`` from the observed QBER, or ``None`` without checks.
    """

    n_bits: int
    bits_correct: int
    agreement: float
    information_bits: float
    bound_bits: float | None = None


def measure_leakage(
    guess: npt.ArrayLike, payload: npt.ArrayLike, *, qber: float | None = None
) -> Leakage:
    """Compare Eve's guess with the true payload bits (both 0/1, same length)."""
    g = np.asarray(guess)
    p = np.asarray(payload)
    if g.shape != p.shape or g.ndim != 1 or g.size == 0:
        raise InputError(
            f"guess and payload must be 1-D arrays of equal non-zero length, "
            f"got shapes {g.shape} and {p.shape}"
        )
    n = int(p.size)
    correct = int(np.count_nonzero(g.astype(np.uint8) == p.astype(np.uint8)))
    a = correct / n
    return Leakage(
        n_bits=n,
        bits_correct=correct,
        agreement=a,
        information_bits=n * information_from_agreement(a),
        bound_bits=None if qber is None else n * information_bound(qber),
    )
