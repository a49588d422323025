r"""Basis encoding: a float32 vector as b-bit two's-complement fixed point, one bit per qubit.

Each value becomes an integer code :math:`k_i = \operatorname{round}(x_i / s)` with the
per-tensor scale

.. math:: s = \frac{\max_i |x_i|}{2^{b-1} - 1},

so codes lie in the symmetric range :math:`[-(2^{b-1}-1),\ 2^{b-1}-1]` and :math:`\pm\max|x|`
are represented exactly. Each code is written as ``b`` two's-complement bits and each bit is
prepared as a computational-basis qubit (``|0>`` or ``|1>``), which is what the teleport layer
carries. The code :math:`-2^{b-1}` never comes out of the encoder but can arrive after a bit
flip; it decodes to :math:`-2^{b-1} s`, just outside the representable range, and
:meth:`BasisEncoding.out_of_range` flags such values.

Bit order (value-major, most significant bit first): bit ``j`` of value ``i`` is element
``i*b + j`` of :meth:`BasisPayload.bit_array`, ``j = 0`` being the sign bit. The packed form is
``np.packbits`` of that stream (big bit order, zero-padded to whole bytes).

Side information: ``max|x|`` travels as one float32 (32 ``header_bits``) over the
authenticated classical channel; both ends derive ``s`` from it in float64. (Sending
``max|x|`` rather than a rounded float32 ``s`` keeps ``±max|x|`` exact after decoding.)
``n_values`` and ``b`` are fixed by the protocol (model size, configuration), not sent.

Round-trip error. The encoder picks the nearest code, :math:`|x_i - k_i s| \le s/2`. This is
exact for ``b <= 28``: with ``u`` the float32 ulp of :math:`x_i`, :math:`x_i = Xu` and
:math:`\max|x| = Tu` for integers :math:`X < 2^{24}` and ``T``, so the quotient
:math:`q = X(2^{b-1}-1)/T` is either a half-integer or at least :math:`1/(2T) =
q/(2X(2^{b-1}-1))` away from one, which exceeds its float64 rounding error
(:math:`\le 2^{-52}q`) whenever :math:`X(2^{b-1}-1) < 2^{51}`. For larger ``b`` a value within
:math:`2^{b-53}s` of a tie may take the other code: the bound is :math:`s/2 + 2^{b-53}s`. The
float32 vector :meth:`BasisEncoding.decode` returns adds the rounding of any float32 result,
at most half a float32 ulp of each value.

Reference: fixed-point quantisation as in Gupta et al., "Deep learning with limited numerical
precision", ICML 2015; two's complement as in any computer-arithmetic text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import stats

from qtfl.errors import InputError, require_int, require_range
from qtfl.quantum._flip import FlipProbability, flip_vector
from qtfl.updates import FloatVector, validate_update

_F32_MAX = float(np.finfo(np.float32).max)
_CHUNK = 1 << 18  # values per vectorised block (a multiple of 8: blocks end on whole bytes)
_MAX_COPIES = 10**9 + 1  # odd: the most copies copies_for_precision considers


@dataclass(frozen=True, eq=False)
class BasisPayload:
    """Fixed-point codes of one update, bit-packed, plus the classical header.

    Attributes:
        packed: the ``n_values * bits_per_value`` code bits, ``np.packbits`` order (``uint8``).
        n_values: number of values encoded.
        bits_per_value: ``b``.
        max_abs: ``max|x|`` as float32 (the classical header); ``scale`` is derived from it.
        header_bits: classical side information in bits (the float32 ``max_abs``).
    """

    packed: npt.NDArray[np.uint8]
    n_values: int
    bits_per_value: int
    max_abs: float
    header_bits: int = 32

    def __post_init__(self) -> None:
        expected = (self.n_bits + 7) // 8
        if self.packed.dtype != np.uint8 or self.packed.shape != (expected,):
            raise InputError(
                f"packed must be {expected} uint8 bytes for {self.n_values} values of "
                f"{self.bits_per_value} bits, got {self.packed.dtype} shape {self.packed.shape}"
            )

    @property
    def n_bits(self) -> int:
        """Payload bits (= payload qubits per copy): ``n_values * bits_per_value``."""
        return self.n_values * self.bits_per_value

    @property
    def scale(self) -> float:
        """Quantisation step ``s = max_abs / (2^(b-1) - 1)`` (0 for an all-zero update; the
        1-bit sign code: ``max_abs``, the magnitude of every value)."""
        return self.max_abs / max(1, 2 ** (self.bits_per_value - 1) - 1)

    def bit_array(self) -> npt.NDArray[np.uint8]:
        """The payload as ``n_bits`` 0/1 ``uint8`` values, value-major, MSB first."""
        return np.unpackbits(self.packed, count=self.n_bits)

    def with_bits(self, bits: npt.ArrayLike) -> BasisPayload:
        """The same header with the payload replaced by received 0/1 ``bits``.

        This is how a receiver rebuilds a payload from the teleported bits and the header it
        got over the classical channel.
        """
        arr = np.asarray(bits)
        if arr.shape != (self.n_bits,):
            raise InputError(f"bits must have shape ({self.n_bits},), got {arr.shape}")
        if (arr > 1).any() if arr.dtype == np.uint8 else ((arr != 0) & (arr != 1)).any():
            raise InputError("bits must hold only 0 and 1")
        return BasisPayload(
            packed=np.packbits(arr.astype(np.uint8, copy=False)),
            n_values=self.n_values,
            bits_per_value=self.bits_per_value,
            max_abs=self.max_abs,
            header_bits=self.header_bits,
        )


@dataclass(frozen=True)
class BasisEncoding:
    """b-bit two's-complement fixed point with a per-tensor scale; one qubit per bit.

    ``b = 1`` is the sign code of 1-bit compression (signSGD): bit 0 decodes to ``+max|x|``,
    bit 1 to ``-max|x|`` (``sign(0) = +1``), so a vector of values ``±s`` travels exactly in
    one qubit per value.

    Args:
        bits: ``b`` in ``[1, 32]``.
    """

    bits: int = 16
    name: ClassVar[str] = "basis"
    header_bits: ClassVar[int] = 32

    def __post_init__(self) -> None:
        require_int("bits", self.bits, low=1, high=32)

    @property
    def max_code(self) -> int:
        """Largest code magnitude the encoder emits: ``2^(b-1) - 1`` (the sign code: 1)."""
        return 1 if self.bits == 1 else 2 ** (self.bits - 1) - 1

    def payload_qubits(self, n_values: int) -> int:
        """Qubits per copy: one per bit, ``n_values * b``."""
        return require_int("n_values", n_values, low=1) * self.bits

    def encode(self, update: npt.ArrayLike) -> BasisPayload:
        """Quantise ``update`` (finite, 1-D) to ``b``-bit codes and pack them."""
        x = validate_update(update)
        max_abs = float(np.max(np.abs(x)))
        b, m = self.bits, self.max_code
        if b == 1:  # the sign code: one bit per value, 1 where negative
            packed = np.packbits((x < 0).astype(np.uint8))
            return BasisPayload(packed=packed, n_values=x.size, bits_per_value=1, max_abs=max_abs)
        out = np.empty((x.size * b + 7) // 8, np.uint8)
        for start in range(0, x.size, _CHUNK):
            block = x[start : start + _CHUNK].astype(np.float64)
            if max_abs > 0.0:
                codes = np.clip(np.rint(block * (m / max_abs)), -m, m).astype(np.int64)
            else:
                codes = np.zeros(block.size, np.int64)
            chunk = _pack(codes & ((1 << b) - 1), b)
            out[start * b // 8 : start * b // 8 + chunk.size] = chunk
        return BasisPayload(packed=out, n_values=x.size, bits_per_value=b, max_abs=max_abs)

    def decode_integers(self, payload: BasisPayload) -> npt.NDArray[np.int64]:
        """The signed codes ``k_i`` in ``[-2^(b-1), 2^(b-1) - 1]`` (the sign code: ``±1``)."""
        self._check(payload)
        b, n = self.bits, payload.n_values
        if b == 1:  # the sign code: +1 or -1
            return 1 - 2 * np.unpackbits(payload.packed, count=n).astype(np.int64)
        codes = np.empty(n, np.int64)
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            raw = payload.packed[start * b // 8 : (stop * b + 7) // 8]
            codes[start:stop] = _unpack(raw, stop - start, b)
        half = np.int64(1) << (b - 1)
        codes -= (codes >= half).astype(np.int64) << b
        return codes

    def decode(self, payload: BasisPayload) -> FloatVector:
        r"""The float32 vector :math:`k_i \max|x| / (2^{b-1}-1)` (float64 product, then cast)."""
        k = self.decode_integers(payload).astype(np.float64)
        values = k * payload.max_abs / self.max_code
        return np.clip(values, -_F32_MAX, _F32_MAX).astype(np.float32)

    @staticmethod
    def out_of_range(values: npt.ArrayLike, *, max_abs: float) -> npt.NDArray[np.bool_]:
        """True where a decoded value lies outside ``[-max_abs, max_abs]``.

        ``max_abs`` is the payload header (``= (2^(b-1) - 1) * scale``), the largest magnitude
        the encoder can produce; only the code ``-2^(b-1)`` (reachable through bit flips)
        decodes outside it. For ``b >= 25`` that value rounds to ``-max_abs`` in float32 and
        is not flagged (its float32 error is then below one ulp).
        """
        limit = require_range("max_abs", max_abs, low=0.0)
        return np.abs(np.asarray(values, dtype=np.float64)) > limit

    def rms_error_bound(
        self, *, scale: float, flip_probability: float = 0.0, copies: int = 1
    ) -> float:
        r"""Worst-case root-mean-square error of one decoded value.

        With each payload bit flipped independently with probability ``q`` and ``copies``
        (odd ``m``) repeated payloads combined by :meth:`majority_vote`, a bit is wrong with
        :math:`p = P[\mathrm{Bin}(m, q) > m/2]`. A wrong bit ``j`` moves the code by
        :math:`\pm 2^j` (the sign bit by :math:`\mp 2^{b-1}`), so with quantisation error
        :math:`|e_q| \le s/2`

        .. math:: E[e^2] \le \big(s/2 + s\,p\,(2^b - 1)\big)^2 + s^2 p(1-p)\,\tfrac{4^b - 1}{3}.
        """
        s = require_range("scale", scale, low=0.0)
        q = require_range("flip_probability", flip_probability, low=0.0, high=0.5, high_open=True)
        m = require_int("copies", copies, low=1)
        if m % 2 == 0:
            raise InputError(f"copies must be odd (majority vote), got {m}")
        p = float(stats.binom.sf(m // 2, m, q)) if q > 0.0 else 0.0
        b = self.bits
        mean = s / 2.0 + s * p * (2.0**b - 1.0)
        var = s * s * p * (1.0 - p) * (4.0**b - 1.0) / 3.0
        return math.sqrt(mean * mean + var)

    def copies_for_precision(
        self, update: npt.ArrayLike, *, eps: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """Smallest odd number of payload copies whose majority vote meets RMS error ``eps``.

        Uses :meth:`rms_error_bound` with the scale of ``update`` and the largest flip
        probability given (one number, or one per payload qubit). Quantisation alone leaves
        ``scale/2``, so a smaller ``eps`` needs more bits, not more copies: that raises.
        """
        x = validate_update(update)
        e = require_range("eps", eps, low=0.0, low_open=True)
        s = float(np.max(np.abs(x))) / self.max_code
        q = float(np.max(flip_vector(flip_probability, size=None)))
        if self.rms_error_bound(scale=s, flip_probability=q, copies=_MAX_COPIES) > e:
            raise InputError(
                f"eps={e:g} is below what {self.bits}-bit codes reach (quantisation floor "
                f"scale/2={s / 2:g}); use more bits or a larger eps"
            )

        def ok(m: int) -> bool:
            return self.rms_error_bound(scale=s, flip_probability=q, copies=m) <= e

        lo, hi = 0, 0  # search odd copies 2*j + 1: ok(2*hi + 1) holds, ok(2*lo + 1) may not
        while not ok(2 * hi + 1):
            lo, hi = hi + 1, 2 * hi + 1
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(2 * mid + 1) else (mid + 1, hi)
        return 2 * hi + 1

    @staticmethod
    def majority_vote(copies: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """Bitwise majority over an odd number of received bit arrays, shape ``(m, n_bits)``."""
        arr = np.asarray(copies, dtype=np.uint8)
        if arr.ndim != 2 or arr.shape[0] % 2 == 0:
            raise InputError(
                f"copies must have shape (m, n_bits) with m odd, got shape {arr.shape}"
            )
        return (2 * arr.sum(axis=0, dtype=np.int64) > arr.shape[0]).astype(np.uint8)

    def _check(self, payload: BasisPayload) -> None:
        if payload.bits_per_value != self.bits:
            raise InputError(
                f"payload has {payload.bits_per_value}-bit values, this encoding {self.bits}"
            )


#: Big-endian integer types of the code widths that are whole bytes of a numpy integer.
_WHOLE_BYTES: dict[int, str] = {8: "u1", 16: ">u2", 32: ">u4"}


def _pack(unsigned: npt.NDArray[np.int64], b: int) -> npt.NDArray[np.uint8]:
    """Pack codes (``0 <= u < 2^b``) as a value-major MSB-first bit stream."""
    if b in _WHOLE_BYTES:  # one big-endian integer per value (no strided byte copies)
        out: npt.NDArray[np.uint8] = unsigned.astype(_WHOLE_BYTES[b]).view(np.uint8)
        return out
    octets = unsigned.astype(">u4").view(np.uint8).reshape(-1, 4)
    if b % 8 == 0:
        return np.ascontiguousarray(octets[:, 4 - b // 8 :]).reshape(-1)
    bits = np.unpackbits(octets, axis=1)[:, 32 - b :]
    return np.packbits(bits.reshape(-1))


def _unpack(raw: npt.NDArray[np.uint8], n: int, b: int) -> npt.NDArray[np.int64]:
    """Inverse of :func:`_pack`: ``n`` unsigned ``b``-bit codes."""
    if b in _WHOLE_BYTES:
        whole: npt.NDArray[np.int64] = (
            np.ascontiguousarray(raw[: n * b // 8]).view(_WHOLE_BYTES[b]).astype(np.int64)
        )
        return whole
    octets = np.zeros((n, 4), np.uint8)
    if b % 8 == 0:
        octets[:, 4 - b // 8 :] = raw.reshape(n, b // 8)
    else:
        bits = np.zeros((n, 32), np.uint8)
        bits[:, 32 - b :] = np.unpackbits(raw, count=n * b).reshape(n, b)
        octets = np.packbits(bits, axis=1)
    return octets.view(">u4").reshape(-1).astype(np.int64)
