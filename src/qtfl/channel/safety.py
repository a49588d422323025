r"""Decoder safety net: flag decoded values that cannot be trusted, and never aggregate them.

Two independent pieces of evidence mark a decoded value of a basis-encoded update as
unreliable:

* it lies outside the representable range ``[-max|x|, max|x|]`` of the update's scale (the
  classical header) — :meth:`qtfl.quantum.encoding.BasisEncoding.out_of_range`; with b-bit
  two's complement only the code ``-2^(b-1)``, reachable only through bit flips, does;
* one of its ``b`` bits sat in an FEC block that failed to decode (BP or CRC-32), as
  reported by :attr:`qtfl.channel.retransmission.FecTransfer.failed_blocks`.

:func:`screen_values` returns the mask and the count, :func:`flagged_verdict` the rejection
a receiving end reports when any value is flagged; :func:`withhold` replaces the flagged
values by 0 (the neutral element of a sum of updates) so a caller that still aggregates
cannot be poisoned silently — the count travels with the result and belongs in the
Delivery's verdict or metrics. Out-of-range screening alone cannot catch in-range garbage:
a flipped high bit of a positive code gives another in-range code, which is why the FEC
failure mask is the primary signal and raw (un-coded) teleportation stays unsafe.

What raw bit flips do to a decoded value (:func:`flip_noise`): in b-bit two's complement
with step ``s``, bit ``j`` (weight ``-2^(b-1)`` for the sign, ``2^(b-1-j)`` otherwise) reads
as ``p + (1-2p)·bit`` on average, so

.. math:: \mathbb{E}[x' \mid x] = (1-2p)\,x - p\,s,\qquad
          \operatorname{Var}[x' \mid x] = p(1-p)\,s^2\,\frac{4^b - 1}{3}
          \approx \tfrac{4}{3}p(1-p)\max|x|^2 .

Raw teleportation is a slight shrinkage plus zero-mean noise — harmful to any single
update, but averaged away by FedAvg over clients and rounds (docs: concepts/fec.md and
results/fec.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Verdict
from qtfl.errors import InputError, require_int, require_range
from qtfl.quantum.encoding import BasisEncoding

FloatVector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Screening:
    """Which decoded values to withhold, and why.

    Attributes:
        flagged: per value, True when it must not be aggregated.
        out_of_range: values outside ``[-max_abs, max_abs]``.
        in_failed_block: values with a bit in a block the FEC decoder could not repair.
    """

    flagged: npt.NDArray[np.bool_]
    out_of_range: int
    in_failed_block: int

    @property
    def count(self) -> int:
        """Number of values withheld."""
        return int(self.flagged.sum())


def screen_values(
    values: npt.ArrayLike,
    *,
    max_abs: float,
    failed_bit_mask: npt.ArrayLike | None = None,
    bits_per_value: int | None = None,
) -> Screening:
    """Flag decoded ``values`` outside ``[-max_abs, max_abs]`` or touched by a failed block.

    Args:
        values: the decoded float vector.
        max_abs: the payload header ``max|x|`` (the representable range of its scale).
        failed_bit_mask: per payload bit, True when its FEC block failed (``None``: no FEC).
        bits_per_value: ``b``, the bits per value of the basis encoding (with the mask).
    """
    x = np.asarray(values, dtype=np.float64)
    outside = BasisEncoding.out_of_range(x, max_abs=max_abs)
    touched: npt.NDArray[np.bool_] = np.zeros(x.shape, bool)
    if failed_bit_mask is not None:
        if bits_per_value is None:
            raise InputError("bits_per_value is required with failed_bit_mask")
        b = require_int("bits_per_value", bits_per_value, low=1)
        mask = np.asarray(failed_bit_mask, dtype=bool)
        if mask.size != x.size * b:
            raise InputError(
                f"failed_bit_mask has {mask.size} bits; {x.size} values of {b} bits need "
                f"{x.size * b}"
            )
        touched = np.any(mask.reshape(x.size, b), axis=1)
    return Screening(outside | touched, int(outside.sum()), int(touched.sum()))


@dataclass(frozen=True)
class FlipNoise:
    """Conditional moments of a decoded value when each bit flips with probability ``p``.

    ``E[x'|x] = slope·x + bias``, ``SD[x'|x] = std`` (the same for every x).
    """

    slope: float
    bias: float
    std: float


def flip_noise(*, p: float, bits: int, max_abs: float) -> FlipNoise:
    """Moments of a b-bit two's-complement value (scale ``max_abs/(2^(b-1)-1)``) whose bits
    flip independently with probability ``p`` (formula in the module docstring)."""
    q = require_range("p", p, low=0.0, high=1.0)
    b = require_int("bits", bits, low=2, high=32)
    step = require_range("max_abs", max_abs, low=0.0) / (2 ** (b - 1) - 1)
    var = q * (1.0 - q) * step**2 * (4.0**b - 1.0) / 3.0
    return FlipNoise(slope=1.0 - 2.0 * q, bias=-q * step, std=float(np.sqrt(var)))


def withhold(values: npt.ArrayLike, screening: Screening) -> FloatVector:
    """``values`` with every flagged entry set to 0 (a copy; the input is not changed)."""
    out = np.array(values, dtype=np.float32)
    out[screening.flagged] = 0.0
    return out


def flagged_verdict(verdict: Verdict) -> Verdict:
    """The checks' ``verdict`` turned into a safety-net rejection (``"safety-net-flagged"``),
    keeping its evidence (QBER, bound, p-value, attempts): what every teleportation receiving
    end — in process or split — reports when :func:`screen_values` flags a decoded value."""
    return Verdict.abort(
        "safety-net-flagged", qber=verdict.qber, qber_bound=verdict.qber_bound,
        p_value=verdict.p_value, attempts=verdict.attempts,
    )  # fmt: skip
