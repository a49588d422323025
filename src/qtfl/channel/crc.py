r"""CRC-32 over bit blocks, vectorised across blocks as one GF(2) matrix product.

CRC-32 (IEEE 802.3, the ``zlib.crc32`` polynomial 0x04C11DB7, reflected, init and final XOR
0xFFFFFFFF) is affine over GF(2) for a fixed message length: ``crc(a ⊕ b) = crc(a) ⊕ crc(b)
⊕ crc(0)``. So for blocks of ``k`` bits, ``crc(x) = x·M ⊕ c`` with ``M`` (k x 32) the CRCs of
the unit vectors XOR ``c = crc(0)``. :func:`crc32_bits` packs the blocks MSB first (zero
padded to whole bytes) and runs zlib's byte-wise table algorithm over every row in one
compiled loop (numba, no BLAS: a float matrix product with ``M`` was exact too, but BLAS's
threads made it 100-200x slower on a loaded machine), exactly equal to ``zlib.crc32`` of
each block; the tests check both against ``zlib``.

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


def _to_bits(words: npt.NDArray[np.uint32]) -> BitArray:
    """32-bit words to bit rows, most significant bit first."""
    shifts = np.arange(CRC_BITS - 1, -1, -1, dtype=np.uint32)
    return ((words[:, None] >> shifts) & np.uint32(1)).astype(np.uint8)


def crc32_bits(blocks: npt.ArrayLike) -> BitArray:
    """CRC-32 of each row of ``blocks`` (shape ``(B, k)``, 0/1) as a ``(B, 32)`` bit array.

    Row ``i`` of the result is ``zlib.crc32`` of row ``i`` packed MSB first, written MSB
    first.
    """
    x = np.asarray(blocks, dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"CRC blocks must be a non-empty 2-D bit array, got shape {x.shape}")
    if x.shape[1] >= 1 << 24:
        raise InputError(f"CRC block length must be < 2^24 bits, got {x.shape[1]}")
    from qtfl.channel._ldpc_kernels import crc32_rows

    words = crc32_rows(np.packbits(x, axis=1), _table())
    return _to_bits(words)


@lru_cache(maxsize=1)
def _table() -> npt.NDArray[np.uint32]:
    """zlib's byte table of the reflected polynomial 0xEDB88320."""
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = np.where(c & 1, np.uint32(0xEDB88320) ^ (c >> 1), c >> 1).astype(np.uint32)
    return c
