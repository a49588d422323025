r"""Update compression before encoding: stochastic quantisation, top-k with error feedback, sign.

Each compressor is a Channel-independent step on a client's float32 update. It returns a
:class:`Compressed` — the dense vector the receiving end reconstructs (``values``) and the
size of the compressed representation on the wire (``payload_bits``) — and, for the
stateful ones, the client's new residual. The scenario config selects one with
:class:`CompressionConfig`; :func:`make_compressor` builds it. State is passed explicitly
(optax style): ``compressed, state = compressor.compress(update, state, rng=rng)``.

Steps and their guarantees (each tested):

* **Stochastic quantisation to b bits** (QSGD-style, Alistarh et al., NeurIPS 2017): the
  ``2^b - 1`` levels :math:`k\Delta`, :math:`\Delta = s/(2^{b-1}-1)`, :math:`s = \max|x|`
  (the basis encoding's grid); :math:`x` rounds up to the next level with probability equal
  to its fractional position, so :math:`\mathbb{E}[Q(x)] = x` (unbiased) and
  :math:`|Q(x) - x| < \Delta`.
* **Top-k sparsification with error feedback** (Stich, Cordonnier & Jaggi, NeurIPS 2018):
  the client adds its residual to the update, sends the ``k = ceil(ratio·n)`` largest
  magnitudes and keeps the rest as the new residual. Per step
  ``sent + residual' == update + residual`` element for element, so over a run the sent
  updates plus the final residual equal the sum of the inputs (exactly when the additions are
  exact in float32, e.g. dyadic inputs; otherwise up to one rounding per step).
* **Sign with scaling** (signSGD, Bernstein et al., ICML 2018; scaled as in EF-signSGD,
  Karimireddy et al., ICML 2019): ``Q(x) = mean|x| · sign(x)`` (sign(0) = +1), 1 bit per
  value plus a 32-bit scale; it keeps the ℓ1 norm: ``sum|Q(x)| == sum|x|``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range

FloatVector = npt.NDArray[np.float32]
#: Bits on the wire for one float32 scale or value.
FLOAT_BITS = 32
CompressionKind = Literal["none", "quantize", "topk", "sign"]


@dataclass(frozen=True)
class Compressed:
    """A compressed update as the receiving end reconstructs it.

    Attributes:
        values: the dense float32 vector the receiver obtains (same length as the update).
        payload_bits: size of the compressed representation on the wire.
        indices: for a sparse step, the positions that carry values (sorted); ``None`` when
            the representation is dense.
    """

    values: FloatVector
    payload_bits: int
    indices: npt.NDArray[np.int64] | None = None


def quantize_stochastic(
    update: npt.ArrayLike, *, bits: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int32], float]:
    r"""Round unbiasedly to the b-bit symmetric fixed-point grid of the basis encoding.

    .. math:: k = \lfloor x/\Delta + u \rfloor,\quad u \sim U[0, 1),\quad
              \Delta = s/(2^{b-1} - 1),\quad s = \max|x|

    so :math:`\mathbb{E}[k\Delta] = x`, :math:`|k\Delta - x| < \Delta` and
    :math:`k \in [-(2^{b-1}-1), 2^{b-1}-1]` — the grid of
    :class:`qtfl.quantum.encoding.BasisEncoding` with the same ``b`` and header ``max|x|``,
    which therefore carries these values exactly. Returns ``(codes, s)``; a zero vector has
    ``s = 0`` and decodes to zeros. Exactly ``x.size`` uniforms are drawn from ``rng`` whatever
    the values (so a party that knows only the size knows how far ``rng`` advanced).
    """
    b = require_int("bits", bits, low=2, high=24)
    x = np.asarray(update, dtype=np.float64)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    top = (1 << (b - 1)) - 1
    u = rng.random(x.shape)
    if scale == 0.0:
        return np.zeros(x.shape, np.int32), 0.0
    codes = np.floor(x * (top / scale) + u)
    return np.clip(codes, -top, top).astype(np.int32), scale


def dequantize(codes: npt.NDArray[np.int32], *, scale: float, bits: int) -> FloatVector:
    """Inverse of :func:`quantize_stochastic`: code ``k`` is ``k · s/(2^(bits-1) - 1)``."""
    b = require_int("bits", bits, low=2, high=24)
    return (codes.astype(np.float64) * (scale / ((1 << (b - 1)) - 1))).astype(np.float32)


def top_k_indices(values: npt.ArrayLike, *, ratio: float) -> npt.NDArray[np.int64]:
    """Indices of the ``ceil(ratio · n)`` entries of largest magnitude (ties: lowest index)."""
    r = require_compression_ratio(ratio)
    x = np.asarray(values)
    k = max(1, math.ceil(r * x.size))
    if k >= x.size:
        return np.arange(x.size, dtype=np.int64)
    order = np.argsort(-np.abs(x), kind="stable")
    return np.sort(order[:k]).astype(np.int64)


def require_compression_ratio(ratio: float) -> float:
    """Return ``ratio`` if it lies in (0, 1], else raise :class:`InputError`."""
    return require_range("compression ratio", ratio, low=0.0, high=1.0, low_open=True)


def sign_compress(update: npt.ArrayLike) -> FloatVector:
    """``mean|x| · sign(x)`` with sign(0) = +1: one bit per value and one scale."""
    x = np.asarray(update, dtype=np.float32)
    scale = np.float32(np.mean(np.abs(x), dtype=np.float64)) if x.size else np.float32(0.0)
    return np.where(x >= 0, scale, -scale).astype(np.float32)


def index_bits(size: int) -> int:
    """Bits to name one position of a vector of ``size`` entries."""
    return max(1, math.ceil(math.log2(max(size, 2))))


class Compressor(Protocol):
    """A compression step: ``compress(update, state, *, rng) -> (Compressed, state)``."""

    def init(self, size: int) -> FloatVector:
        """The client's initial state (a residual of zeros, or an empty array if stateless)."""
        ...

    def compress(
        self, update: FloatVector, state: FloatVector, *, rng: np.random.Generator
    ) -> tuple[Compressed, FloatVector]:
        """Compress ``update`` given the client's ``state``; return the new state too."""
        ...


@dataclass(frozen=True)
class Identity:
    """No compression: the update as float32 (32 bits per value)."""

    def init(self, size: int) -> FloatVector:
        return np.zeros(0, np.float32)

    def compress(
        self, update: FloatVector, state: FloatVector, *, rng: np.random.Generator
    ) -> tuple[Compressed, FloatVector]:
        x = np.asarray(update, dtype=np.float32)
        return Compressed(x.copy(), FLOAT_BITS * x.size), state


@dataclass(frozen=True)
class StochasticQuantizer:
    """Unbiased stochastic rounding to ``bits`` bits per value plus one float32 scale."""

    bits: int = 8

    def __post_init__(self) -> None:
        require_int("bits", self.bits, low=2, high=24)

    def init(self, size: int) -> FloatVector:
        return np.zeros(0, np.float32)

    def compress(
        self, update: FloatVector, state: FloatVector, *, rng: np.random.Generator
    ) -> tuple[Compressed, FloatVector]:
        codes, scale = quantize_stochastic(update, bits=self.bits, rng=rng)
        values = dequantize(codes, scale=scale, bits=self.bits)
        return Compressed(values, self.bits * codes.size + FLOAT_BITS), state


@dataclass(frozen=True)
class TopK:
    """Top-k sparsification; with ``error_feedback`` the unsent rest stays on the client.

    Wire size: ``k`` float32 values plus ``k`` indices of ``ceil(log2 n)`` bits.
    """

    ratio: float = 0.1
    error_feedback: bool = True

    def __post_init__(self) -> None:
        require_compression_ratio(self.ratio)

    def init(self, size: int) -> FloatVector:
        return np.zeros(size if self.error_feedback else 0, np.float32)

    def compress(
        self, update: FloatVector, state: FloatVector, *, rng: np.random.Generator
    ) -> tuple[Compressed, FloatVector]:
        x = np.asarray(update, dtype=np.float32)
        corrected = x + _residual(state, x) if self.error_feedback else x.copy()
        keep = top_k_indices(corrected, ratio=self.ratio)
        sent = np.zeros_like(corrected)
        sent[keep] = corrected[keep]
        residual = corrected.copy()
        residual[keep] = 0.0
        bits = keep.size * (FLOAT_BITS + index_bits(x.size))
        return Compressed(sent, bits, keep), residual if self.error_feedback else state


@dataclass(frozen=True)
class SignCompressor:
    """1-bit sign with ``mean|x|`` scaling; ``error_feedback`` keeps the difference locally."""

    error_feedback: bool = False

    def init(self, size: int) -> FloatVector:
        return np.zeros(size if self.error_feedback else 0, np.float32)

    def compress(
        self, update: FloatVector, state: FloatVector, *, rng: np.random.Generator
    ) -> tuple[Compressed, FloatVector]:
        x = np.asarray(update, dtype=np.float32)
        corrected = x + _residual(state, x) if self.error_feedback else x
        sent = sign_compress(corrected)
        new_state = (corrected - sent) if self.error_feedback else state
        return Compressed(sent, x.size + FLOAT_BITS), new_state


def _residual(state: FloatVector, update: FloatVector) -> FloatVector:
    if state.shape != update.shape:
        raise InputError(
            f"error-feedback residual has shape {state.shape}, update has {update.shape}; "
            "start each client with compressor.init(update size)"
        )
    return state


@dataclass(frozen=True)
class CompressionConfig:
    """Which compression step a scenario applies before encoding.

    Attributes:
        kind: ``none``, ``quantize`` (stochastic, ``bits``), ``topk`` (``ratio``) or ``sign``.
        bits: bits per value for ``quantize``, in [2, 24].
        ratio: kept fraction for ``topk``, in (0, 1].
        error_feedback: keep the unsent part on the client (``topk`` and ``sign``).
    """

    kind: CompressionKind = "none"
    bits: int = 8
    ratio: float = 0.1
    error_feedback: bool = True

    def __post_init__(self) -> None:
        require_choice("compression kind", self.kind, ("none", "quantize", "topk", "sign"))
        require_int("bits", self.bits, low=2, high=24)
        require_compression_ratio(self.ratio)


def make_compressor(config: CompressionConfig) -> Compressor:
    """The compression step ``config`` selects."""
    if config.kind == "quantize":
        return StochasticQuantizer(bits=config.bits)
    if config.kind == "topk":
        return TopK(ratio=config.ratio, error_feedback=config.error_feedback)
    if config.kind == "sign":
        return SignCompressor(error_feedback=config.error_feedback)
    if config.kind == "none":
        return Identity()
    raise InputError(f"unknown compression kind {config.kind!r}")  # unreachable after validation
