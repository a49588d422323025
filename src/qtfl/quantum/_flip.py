r"""Independent readout bit flips, shared by the three encodings.

A Pauli channel on a qubit that is then measured in the computational basis acts on the
outcome as a classical bit flip: X and Y flip it, Z does not. Teleporting through a
Bell-diagonal pair therefore flips a Z-basis readout with probability ``p_X + p_Y``
(:attr:`qtfl.quantum.noise.BellDiagonalPair.teleported_bit_error`). The flip matrix of one
bit is

.. math:: M(q) = \begin{pmatrix} 1-q & q \\ q & 1-q \end{pmatrix},\qquad
          M(q)^{-1} = \frac{1}{1-2q}\begin{pmatrix} 1-q & -q \\ -q & 1-q \end{pmatrix},

invertible for ``q < 1/2``; that is why every flip probability here lies in ``[0, 0.5)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError

FlipProbability = float | Sequence[float] | npt.NDArray[np.floating]


def flip_vector(
    value: FlipProbability, *, size: int | None, name: str = "flip_probability"
) -> npt.NDArray[np.float64]:
    """``value`` (one number, or ``size`` numbers) as a float64 vector of length ``size``.

    ``size=None`` accepts one number (returned as a 1-vector) or a 1-D vector of any length.
    Raises :class:`InputError` naming the offending entry unless every value is in
    ``[0, 0.5)`` (``q = 1/2`` erases the bit; the readout cannot be inverted).
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 0.5), got {value!r}") from None
    if arr.ndim == 0:
        if not 0.0 <= float(arr) < 0.5:
            raise InputError(f"{name} must be in [0, 0.5), got {float(arr)!r}")
        return np.full(1 if size is None else size, float(arr))
    if arr.ndim != 1 or arr.size == 0 or (size is not None and arr.shape != (size,)):
        raise InputError(
            f"{name} must be one number or {size or 'a vector of'} numbers (one per qubit), "
            f"got shape {arr.shape}"
        )
    bad = ~((arr >= 0.0) & (arr < 0.5))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name}[{i}] must be in [0, 0.5), got {float(arr[i])!r}")
    return arr


def flip_matrices(q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The flip matrices ``M(q_j)``, shape ``(len(q), 2, 2)``."""
    return np.stack([np.stack([1.0 - q, q], -1), np.stack([q, 1.0 - q], -1)], -2)


def inverse_flip_matrices(q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The inverses ``M(q_j)^{-1}``, shape ``(len(q), 2, 2)``."""
    inv = np.stack([np.stack([1.0 - q, -q], -1), np.stack([-q, 1.0 - q], -1)], -2)
    return inv / (1.0 - 2.0 * q)[:, None, None]


def apply_per_axis(
    tensor: npt.NDArray[np.float64], matrices: npt.NDArray[np.float64], *, first_axis: int
) -> npt.NDArray[np.float64]:
    """Apply ``matrices[j]`` (2x2) along axis ``first_axis + j`` of ``tensor``.

    This is the action of :math:`\\bigotimes_j M_j` on a tensor of shape ``(..., 2, 2, ...)``
    without forming the :math:`2^n \\times 2^n` matrix: one vectorised contraction per
    tensor axis (``log2`` of the data size), never a loop over outcomes.
    """
    out = tensor
    shape = tensor.shape
    for j, mat in enumerate(matrices):
        axis = first_axis + j
        pre = int(np.prod(shape[:axis], dtype=np.int64))
        post = int(np.prod(shape[axis + 1 :], dtype=np.int64))
        out = np.einsum("ab,pbq->paq", mat, out.reshape(pre, 2, post)).reshape(shape)
    return out
