r"""CRC-32 over bit blocks, vectorised across blocks as one GF(2) matrix product.

CRC-32 (IEEE 802.3, the ``zlib.crc32`` polynomial 0x04C11DB7, reflected, init and final XOR
0xFFFFFFFF) is affine over GF(2) for a fixed message length: ``crc(a ⊕ b) = crc(a) ⊕ crc(b)
⊕ crc(0)``. So for blocks of ``k`` bits, ``crc(x) = x·M ⊕ c`` with ``M`` (k x 32) the CRCs of
the unit vectors XOR ``c = crc(0)``. :func:`crc32_bits` computes the CRCs of all blocks with
one matrix product, exactly equal to ``zlib.crc32`` of each block packed MSB first (and
zero-padded to whole bytes).

Reference: ISO/IEC 8802-3 (Ethernet FCS); zlib's ``crc32``.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError

CRC_BITS = 32
BitArray = npt.NDArray[np.uint8]


def crc32_reference(bits: BitArray) -> int:
    """``zlib.crc32`` of one bit block, packed MSB first and zero-padded to whole bytes."""
    return zlib.crc32(np.packbits(np.asarray(bits, np.uint8)).tobytes())


@lru_cache(maxsize=32)
def _affine_map(k: int) -> tuple[npt.NDArray[np.float32], BitArray]:
    """``(M, c)`` with ``crc(x) = x·M ⊕ c`` for ``k``-bit blocks (float32 for a BLAS product)."""
    zero = crc32_reference(np.zeros(k, np.uint8))
    # crc of every unit vector: pack each row of the identity (k x ceil(k/8) bytes)
    packed = np.packbits(np.eye(k, dtype=np.uint8), axis=1)
    crcs = np.fromiter((zlib.crc32(row.tobytes()) for row in packed), np.uint32, count=k)
    matrix = _to_bits(crcs ^ np.uint32(zero)).astype(np.float32)
    return matrix, _to_bits(np.array([zero], np.uint32))[0]


def _to_bits(words: npt.NDArray[np.uint32]) -> BitArray:
    """32-bit words to bit rows, most significant bit first."""
    shifts = np.arange(CRC_BITS - 1, -1, -1, dtype=np.uint32)
    return ((words[:, None] >> shifts) & np.uint32(1)).astype(np.uint8)


def crc32_bits(blocks: npt.ArrayLike) -> BitArray:
    """CRC-32 of each row of ``blocks`` (shape ``(B, k)``, 0/1) as a ``(B, 32)`` bit array.

    Row ``i`` of the result is ``zlib.crc32`` of row ``i`` packed MSB first, written MSB
    first. All rows are computed by one float32 matrix product (exact: sums stay < 2^24).
    """
    x = np.asarray(blocks, dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"CRC blocks must be a non-empty 2-D bit array, got shape {x.shape}")
    if x.shape[1] >= 1 << 24:
        raise InputError(f"CRC block length must be < 2^24 bits, got {x.shape[1]}")
    matrix, constant = _affine_map(x.shape[1])
    parity = (x.astype(np.float32) @ matrix).astype(np.int64) & 1
    return (parity.astype(np.uint8) ^ constant[None, :]).astype(np.uint8)
