r"""Privacy amplification: hashing the reconciled key down to its finite-key length.

Both ends apply one function, drawn from a public family by a public seed, to their equal
reconciled strings; the leftover hash lemma (Renner, PhD thesis ETH Zürich 2005, and the
finite-key bound of Tomamichel, Lim, Gisin & Renner, Nat. Commun. 3, 634 (2012), which
:func:`qtfl.security.qkd.finite_key_length` implements) needs a **two-universal** family:
for any two different inputs ``x ≠ y`` the collision probability over the seed is at most
``2^-l``. Two families, one setting (``privacy_amplification``):

* ``multiply-add-shift`` (the default) — Dietzfelbinger, "Universal hashing and k-wise
  independent random variables via integer arithmetic without primes", STACS 1996, LNCS
  1046, pp. 569–580; presented as the strongly universal *multiply-add-shift* scheme in
  Thorup, "High speed hashing for integers and strings", arXiv:1504.06804 (2015). The
  ``n`` key bits are the integer :math:`x = \sum_j x_j 2^j` (``x_j`` the ``j``-th bit), and
  with :math:`\bar w \ge n + l - 1` and ``a``, ``b`` independent and uniform in
  :math:`[0, 2^{\bar w})`

  .. math:: h_{a,b}(x) = \big((a x + b) \bmod 2^{\bar w}\big) \gg (\bar w - l),

  the top ``l`` of the low :math:`\bar w` bits of :math:`a x + b`, bit ``i`` of the key =
  bit ``i`` of :math:`h`. The family is **strongly universal** (pairwise independent): for
  ``x ≠ y`` in :math:`[0, 2^n)` the pair :math:`(h(x), h(y))` is uniform on
  :math:`[0, 2^l)^2`, so the collision probability is exactly :math:`2^{-l}` — the same
  two-universality the Toeplitz family gives, so the leftover hash lemma and the finite-key
  length are unchanged. ``a`` may be even (unlike the plain multiply-shift scheme, which
  needs an odd multiplier); the condition :math:`\bar w \ge n + l - 1` is tight
  (tests/security/test_privacy_amplification.py enumerates every ``(a, b)`` at small sizes,
  and finds the family not pairwise independent at :math:`\bar w = n + l - 2`). Here
  :math:`\bar w = n + l - 1` exactly; the public seed is ``a`` and ``b``, :math:`2\bar w`
  bits. One big-integer multiplication (GMP through ``gmpy2``, FFT-based for millions of
  bits): 20-50 ms for ``n`` = 4-5M, ``l`` = 1.7M bits on a loaded 2-core machine, where the
  FFT Toeplitz hash below took about 0.6 s. It is not GF(2)-linear: a string equal to one
  already hashed reuses its hash, any other is hashed separately.
* ``toeplitz`` — a random binary ``l × n`` Toeplitz matrix (Krawczyk, CRYPTO '94;
  Carter & Wegman, JCSS 18, 143 (1979)), seed ``n + l - 1`` bits, applied with one float
  FFT convolution per string (:func:`toeplitz_hash_many`); GF(2)-linear, so a string close
  to one already hashed costs a few seed slices.

Seeds are drawn from the transfer's secret generator (never the experiment seed) and then
published; each end draws the same seed (:func:`privacy_amplification_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import gmpy2
import numpy as np
import numpy.typing as npt
from scipy import fft as sp_fft

from qtfl.errors import InputError, require_choice, require_int
from qtfl.quantum.teleport import uniform_bits

Bits = npt.NDArray[np.uint8]

#: The hash families of privacy amplification (the setting ``privacy_amplification``).
PRIVACY_AMPLIFICATIONS: Final = ("multiply-add-shift", "toeplitz")


@dataclass(frozen=True)
class MultiplyAddShiftSeed:
    """The public seed of :func:`multiply_add_shift_hash`: ``a`` and ``b`` in
    ``[0, 2^width)`` (``gmpy2.mpz`` or ``int``), ``width`` = :math:`\\bar w`."""

    a: Any
    b: Any
    width: int

    @property
    def bits(self) -> int:
        """Bits sent to publish the seed: ``2 · width``."""
        return 2 * self.width


def multiply_add_shift_seed(
    n_bits: int, out_bits: int, *, rng: np.random.Generator
) -> MultiplyAddShiftSeed:
    """``a`` and ``b`` uniform in ``[0, 2^w)``, ``w = n_bits + out_bits - 1``: each from
    ``⌈w/8⌉`` random bytes of ``rng`` (little-endian), the bits above ``w`` cleared."""
    n = require_int("n_bits", n_bits, low=1)
    m = require_int("out_bits", out_bits, low=1, high=n)
    width = n + m - 1
    size = (width + 7) // 8
    a = gmpy2.f_mod_2exp(gmpy2.mpz.from_bytes(rng.bytes(size), "little"), width)
    b = gmpy2.f_mod_2exp(gmpy2.mpz.from_bytes(rng.bytes(size), "little"), width)
    return MultiplyAddShiftSeed(a, b, width)


def multiply_add_shift_hash(bits: Bits, seed: MultiplyAddShiftSeed, out_bits: int) -> Bits:
    r""":math:`h_{a,b}(x)` of ``bits`` (module docstring), ``out_bits`` key bits.

    Requires ``1 <= out_bits <= n`` and a seed of width exactly ``n + out_bits - 1`` with
    ``a``, ``b`` in ``[0, 2^width)``; anything else is an :class:`~qtfl.errors.InputError`.
    """
    return multiply_add_shift_hash_many([bits], seed, out_bits)[0]


def multiply_add_shift_hash_many(
    strings: list[Bits], seed: MultiplyAddShiftSeed, out_bits: int
) -> list[Bits]:
    """:func:`multiply_add_shift_hash` of several equal-length strings under one seed; a
    string equal to one already hashed (Bob's reconciled key) reuses that hash."""
    n = _common_length(strings)
    m = require_int("out_bits", out_bits, low=1, high=n)
    width = n + m - 1
    if seed.width != width:
        raise InputError(
            f"multiply-add-shift seed has width {seed.width}; hashing {n} bits to {m} needs "
            f"width n + out_bits - 1 = {width}"
        )
    if not (0 <= seed.a < (gmpy2.mpz(1) << width) and 0 <= seed.b < (gmpy2.mpz(1) << width)):
        raise InputError(f"multiply-add-shift seed a and b must be in [0, 2^{width})")
    a, b, shift = gmpy2.mpz(seed.a), gmpy2.mpz(seed.b), width - m
    out: list[Bits] = []
    for i, x in enumerate(strings):
        same = next((out[j] for j in range(i) if np.array_equal(strings[j], x)), None)
        if same is not None:
            out.append(same.copy())
            continue
        xi = gmpy2.mpz.from_bytes(np.packbits(x, bitorder="little").tobytes(), "little")
        h = gmpy2.f_div_2exp(gmpy2.f_mod_2exp(a * xi + b, width), shift)
        raw = np.frombuffer(h.to_bytes((m + 7) // 8, "little"), np.uint8)
        out.append(np.unpackbits(raw, count=m, bitorder="little"))
    return out


def _common_length(strings: list[Bits]) -> int:
    if not strings:
        raise InputError("privacy amplification needs at least one string")
    n = int(strings[0].size)
    if n < 1 or any(x.size != n for x in strings):
        raise InputError("all strings hashed under one seed must have the same length >= 1")
    return n


HashSeed = Bits | MultiplyAddShiftSeed


def privacy_amplification_seed(
    family: str, n_bits: int, out_bits: int, *, rng: np.random.Generator
) -> HashSeed:
    """The public seed of ``family`` (:data:`PRIVACY_AMPLIFICATIONS`) for ``n_bits`` →
    ``out_bits``, drawn from ``rng``."""
    if require_choice("privacy_amplification", family, PRIVACY_AMPLIFICATIONS) == "toeplitz":
        return toeplitz_seed(n_bits, out_bits, rng=rng)
    return multiply_add_shift_seed(n_bits, out_bits, rng=rng)


def seed_bits(seed: HashSeed) -> int:
    """Classical bits that publish ``seed`` (counted in the Ledger)."""
    return seed.bits if isinstance(seed, MultiplyAddShiftSeed) else int(seed.size)


def privacy_amplify(strings: list[Bits], seed: HashSeed, out_bits: int) -> list[Bits]:
    """Hash each of ``strings`` with the function ``seed`` selects (its family's ``*_many``)."""
    if isinstance(seed, MultiplyAddShiftSeed):
        return multiply_add_shift_hash_many(strings, seed, out_bits)
    return toeplitz_hash_many(strings, seed, out_bits)


# ---- Toeplitz ----------------------------------------------------------------------------


def toeplitz_seed(n_bits: int, out_bits: int, *, rng: np.random.Generator) -> Bits:
    """The public seed of an ``out_bits × n_bits`` Toeplitz hash: ``n_bits + out_bits - 1``
    fair bits, eight per random byte of ``rng``."""
    n = require_int("n_bits", n_bits, low=1)
    m = require_int("out_bits", out_bits, low=1)
    return uniform_bits((n + m - 1,), rng=rng)


def toeplitz_hash(bits: Bits, seed: Bits, out_bits: int) -> Bits:
    r"""Multiply ``bits`` (length ``n``) by the ``out_bits × n`` Toeplitz matrix of ``seed``.

    ``T[i, j] = seed[i - j + n - 1]`` (``seed`` has ``n + out_bits - 1`` bits), so
    :math:`y_i = \bigoplus_j T_{ij} x_j = (\text{seed} * x)_{i+n-1} \bmod 2`, one circular
    FFT convolution of length ``n + out_bits - 1``. The float result is checked to be within
    0.25 of an integer before rounding.
    """
    return toeplitz_hash_many([bits], seed, out_bits)[0]


#: A string whose difference from an already hashed one (or from zero) has at most this many
#: ones is hashed by linearity, one seed slice per one, instead of by FFT.
SPARSE_HASH_ONES: Final = 64


def toeplitz_hash_many(strings: list[Bits], seed: Bits, out_bits: int) -> list[Bits]:
    r""":func:`toeplitz_hash` of several equal-length strings under one seed.

    Linear over GF(2): :math:`T x = T r \oplus T (x \oplus r)`, and column ``j`` of ``T`` is
    the seed slice ``seed[n-1-j : n-1-j+out_bits]``. A string that differs in at most
    :data:`SPARSE_HASH_ONES` positions from one already hashed (or from the zero string) is
    hashed as that hash XOR those columns: Bob's reconciled key (equal to Alice's, or a few
    bits off) and an absent eavesdropper's all-zero guess cost no transform. The others go
    through one FFT convolution each, the seed's transform shared.
    """
    n = strings[0].size
    m = require_int("out_bits", out_bits, low=0)
    if any(x.size != n for x in strings):
        raise InputError("all strings hashed under one seed must have the same length")
    if m == 0:
        return [np.zeros(0, np.uint8) for _ in strings]
    if seed.size != n + m - 1:
        raise InputError(f"seed must have n + out_bits - 1 = {n + m - 1} bits, got {seed.size}")
    seed_f: npt.NDArray[np.complex128] | None = None
    done: list[tuple[Bits, Bits]] = []
    out: list[Bits] = []
    for x in strings:
        y = _hash_by_linearity(x, done, seed, m)
        if y is None:
            if seed_f is None:
                size = _fft_size(seed.size)
                seed_f = sp_fft.rfft(_padded(seed, size), overwrite_x=True)
            y = _hash_by_fft(x, seed_f, seed.size, m)
        done.append((x, y))
        out.append(y)
    return out


def _fft_size(seed_bits: int) -> int:
    # Circular convolution of length >= len(seed) suffices: for the outputs i in
    # [n-1, n+m-2], seed indices i-j stay in [0, n+m-2], so nothing wraps around.
    return int(sp_fft.next_fast_len(seed_bits, real=True))


def _padded(bits: Bits, size: int) -> npt.NDArray[np.float64]:
    """``bits`` as float64, zero-padded to ``size`` (one pass, transformed in place)."""
    buf = np.zeros(size, np.float64)
    buf[: bits.size] = bits
    return buf


def _hash_by_fft(x: Bits, seed_f: npt.NDArray[np.complex128], seed_bits: int, m: int) -> Bits:
    n, size = x.size, _fft_size(seed_bits)
    spectrum = sp_fft.rfft(_padded(x, size), overwrite_x=True)
    spectrum *= seed_f
    conv = sp_fft.irfft(spectrum, size, overwrite_x=True)
    window = conv[n - 1 : n - 1 + m]
    rounded = np.rint(window)
    if np.abs(window - rounded).max() > 0.25:  # pragma: no cover - float failure guard
        raise ArithmeticError("FFT convolution lost integer precision in Toeplitz hashing")
    return (rounded.astype(np.int64) & 1).astype(np.uint8)


def _hash_by_linearity(x: Bits, done: list[tuple[Bits, Bits]], seed: Bits, m: int) -> Bits | None:
    """``T x`` from a hashed ``(r, T r)`` (or ``r = 0``) with ``x ⊕ r`` sparse; else ``None``."""
    n = x.size
    for ref, ref_hash in [(None, None), *done]:
        diff = x if ref is None else x ^ ref
        if np.count_nonzero(diff) > SPARSE_HASH_ONES:
            continue
        y = np.zeros(m, np.uint8) if ref_hash is None else ref_hash.copy()
        for j in np.flatnonzero(diff):
            y ^= seed[n - 1 - j : n - 1 - j + m]
        return y
    return None
