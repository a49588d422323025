r"""Float32 encoding: the IEEE-754 bits of each value, one qubit per bit — lossless.

Each float32 value is sent as its 32 bits (big-endian: sign, 8 exponent bits, 23 fraction
bits, value-major), each prepared as a computational-basis qubit like the fixed-point
:class:`~qtfl.quantum._basis.BasisEncoding`; the receiver reinterprets the 32 bits as a
float32. Without bit errors the decoded vector equals the sent one bit for bit (``-0.0``,
subnormals included), which a fixed-point code of any width cannot promise: this is the
encoding for a teleported *downlink* that must reproduce a plaintext run exactly.

Cost: 32 qubits (pairs) per value, as the 32-bit fixed point, and a 32-bit classical header
``max|x|`` that lets the receiver flag out-of-range values (:meth:`Float32Encoding.flagged`).
A flipped exponent bit can change a value by a factor up to :math:`2^{128}` (or make it
infinite or NaN), so on a noisy link this encoding needs FEC (``fec: auto``); the channel
rejects a delivery with any flagged value rather than aggregating it.

Reference: IEEE Std 754-2019, binary32 interchange format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_int
from qtfl.quantum._basis import BasisPayload
from qtfl.quantum._flip import FlipProbability, flip_vector
from qtfl.updates import FloatVector, validate_update


@dataclass(frozen=True)
class Float32Encoding:
    """The IEEE-754 binary32 bits of each value, 32 qubits per value, exact."""

    name: ClassVar[str] = "float32"
    header_bits: ClassVar[int] = 32
    bits: ClassVar[int] = 32

    def payload_qubits(self, n_values: int) -> int:
        """Qubits per copy: 32 per value."""
        return require_int("n_values", n_values, low=1) * 32

    def encode(self, update: npt.ArrayLike) -> BasisPayload:
        """The big-endian bytes of ``update`` (finite, 1-D float32) and ``max|x|``."""
        x = validate_update(update)
        packed = np.frombuffer(x.astype(">f4").tobytes(), dtype=np.uint8).copy()
        max_abs = float(np.max(np.abs(x))) if x.size else 0.0
        return BasisPayload(packed=packed, n_values=x.size, bits_per_value=32, max_abs=max_abs)

    def decode(self, payload: BasisPayload) -> FloatVector:
        """The float32 values whose bits ``payload`` holds (NaN/inf possible after flips)."""
        if payload.bits_per_value != 32:
            raise InputError(f"payload has {payload.bits_per_value}-bit values, float32 needs 32")
        out: FloatVector = payload.packed.view(">f4").astype(np.float32)
        return out

    @staticmethod
    def flagged(values: npt.ArrayLike, *, max_abs: float) -> npt.NDArray[np.bool_]:
        """True where a decoded value is not finite or lies outside ``[-max_abs, max_abs]``."""
        with np.errstate(invalid="ignore"):  # signalling NaNs from flipped bits
            x = np.asarray(values, dtype=np.float64)
            return ~np.isfinite(x) | (np.abs(x) > max_abs)

    def copies_for_precision(
        self, update: npt.ArrayLike, *, eps: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """One copy: the encoding is exact without flips; with flips use FEC, not copies."""
        if np.max(flip_vector(flip_probability, size=None)) > 0.0:
            raise InputError("float32 encoding on a noisy link needs FEC, not copies")
        return 1
