"""The model update as every layer sees it: a non-empty 1-D float32 vector.

This module sits below both the physics (:mod:`qtfl.quantum` encodes updates into qubits)
and the channels (:mod:`qtfl.channel` sends them), so each imports it without pointing up
the layers.

>>> validate_update([1, 2.5]).dtype
dtype('float32')
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError

FloatVector = npt.NDArray[np.float32]
"""A model update (or model): float32, one dimension."""


def validate_update(update: npt.ArrayLike) -> FloatVector:
    """Return ``update`` as a 1-D float32 array, or raise :class:`InputError`.

    A model update is a non-empty 1-D vector of finite real numbers; NaN or infinity would
    poison every encoder (the fixed-point scale, the amplitude norm) and the aggregate.
    """
    arr = np.asarray(update)
    if arr.ndim != 1:
        raise InputError(f"update must be a 1-D vector, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError("update must have at least one value, got an empty vector")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"update must hold real numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise InputError(f"update must be finite; {bad} of {out.size} values are NaN or infinite")
    return out


__all__ = ["FloatVector", "validate_update"]
