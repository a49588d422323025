"""Privacy amplification: the multiply-add-shift family against plain Python integers and its
exact pairwise independence; the family setting; bad seeds and sizes."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.security.privacy_amplification import (
    MultiplyAddShiftSeed,
    multiply_add_shift_hash,
    multiply_add_shift_hash_many,
    multiply_add_shift_seed,
    privacy_amplification_seed,
    privacy_amplify,
    seed_bits,
    toeplitz_hash,
)


def _reference(bits: np.ndarray, a: int, b: int, width: int, out_bits: int) -> np.ndarray:
    """h(x) = ((a x + b) mod 2^w) >> (w - l) with Python ints, x = sum_j bits[j] 2^j."""
    x = sum(int(v) << j for j, v in enumerate(bits.tolist()))
    h = ((a * x + b) % (1 << width)) >> (width - out_bits)
    return np.array([(h >> i) & 1 for i in range(out_bits)], np.uint8)


def _family_is_pairwise_independent(n: int, out_bits: int, width: int) -> bool:
    """Over all (a, b) in [0, 2^w)^2: for every x != y in [0, 2^n), (h(x), h(y)) uniform."""
    size = 1 << width
    cells = 1 << (2 * out_bits)
    for x, y in itertools.combinations(range(1 << n), 2):
        counts = Counter(
            ((a * x + b) % size >> (width - out_bits), (a * y + b) % size >> (width - out_bits))
            for a in range(size)
            for b in range(size)
        )
        if len(counts) != cells or set(counts.values()) != {size * size // cells}:
            return False
    return True


@pytest.mark.parametrize(
    ("n", "out_bits"), [(1, 1), (2, 1), (2, 2), (7, 7), (64, 1), (65, 33), (300, 120), (999, 998)]
)
def test_multiply_add_shift_equals_python_integers(n: int, out_bits: int) -> None:
    # Prepare
    rng = np.random.default_rng(n * 1000 + out_bits)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    seed = multiply_add_shift_seed(n, out_bits, rng=rng)
    # Execute
    got = multiply_add_shift_hash(bits, seed, out_bits)
    # Assert
    assert seed.width == n + out_bits - 1 and seed.bits == 2 * seed.width
    assert 0 <= seed.a < 2**seed.width and 0 <= seed.b < 2**seed.width
    np.testing.assert_array_equal(
        got, _reference(bits, int(seed.a), int(seed.b), seed.width, out_bits)
    )


def test_multiply_add_shift_equals_python_integers_on_random_sizes() -> None:
    rng = np.random.default_rng(11)
    for _ in range(40):
        n = int(rng.integers(1, 2000))
        out_bits = int(rng.integers(1, n + 1))
        bits = rng.integers(0, 2, n, dtype=np.uint8)
        a, b = (int(v) for v in rng.integers(0, 2**62, 2))  # a seed given as plain ints
        width = n + out_bits - 1
        seed = MultiplyAddShiftSeed(a % (1 << width), b % (1 << width), width)
        np.testing.assert_array_equal(
            multiply_add_shift_hash(bits, seed, out_bits),
            _reference(bits, seed.a, seed.b, width, out_bits),
        )


def test_multiply_add_shift_is_exactly_pairwise_independent_by_enumeration() -> None:
    # Every (a, b) at n = 4 input bits, l = 2 output bits, w = n + l - 1 = 5; and the same
    # family one bit narrower is not pairwise independent (the condition is tight).
    assert _family_is_pairwise_independent(4, 2, 5)
    assert _family_is_pairwise_independent(3, 1, 3)
    assert not _family_is_pairwise_independent(4, 2, 4)


def test_the_enumerated_family_is_the_hash_the_code_computes() -> None:
    # Prepare: the n = 4, l = 2, w = 5 family through the library, every (a, b) and x
    n, out_bits, width = 4, 2, 5
    for a, b in itertools.product(range(32), repeat=2):
        seed = MultiplyAddShiftSeed(a, b, width)
        for x in range(16):
            bits = np.array([(x >> j) & 1 for j in range(n)], np.uint8)
            h = ((a * x + b) % 32) >> (width - out_bits)
            got = multiply_add_shift_hash(bits, seed, out_bits)
            assert int(got[0]) + 2 * int(got[1]) == h


def test_equal_strings_share_one_hash_and_different_ones_are_hashed_alone() -> None:
    rng = np.random.default_rng(3)
    n, m = 5000, 1700
    x = rng.integers(0, 2, n, dtype=np.uint8)
    y = x.copy()
    y[123] ^= 1
    seed = multiply_add_shift_seed(n, m, rng=rng)
    hx, hx2, hy = multiply_add_shift_hash_many([x, x.copy(), y], seed, m)
    np.testing.assert_array_equal(hx, hx2)
    np.testing.assert_array_equal(hy, _reference(y, int(seed.a), int(seed.b), seed.width, m))
    assert not np.array_equal(hx, hy)


def test_the_family_setting_selects_seed_hash_and_seed_bits() -> None:
    rng = np.random.default_rng(5)
    n, m = 800, 300
    x = rng.integers(0, 2, n, dtype=np.uint8)
    mas = privacy_amplification_seed("multiply-add-shift", n, m, rng=np.random.default_rng(1))
    toe = privacy_amplification_seed("toeplitz", n, m, rng=np.random.default_rng(1))
    assert isinstance(mas, MultiplyAddShiftSeed)
    assert seed_bits(mas) == 2 * (n + m - 1)
    assert isinstance(toe, np.ndarray) and seed_bits(toe) == n + m - 1
    np.testing.assert_array_equal(
        privacy_amplify([x], mas, m)[0], _reference(x, int(mas.a), int(mas.b), n + m - 1, m)
    )
    np.testing.assert_array_equal(privacy_amplify([x], toe, m)[0], toeplitz_hash(x, toe, m))
    with pytest.raises(InputError, match="privacy_amplification"):
        privacy_amplification_seed("sha256", n, m, rng=rng)


def test_bad_seeds_and_sizes_get_one_clear_error() -> None:
    rng = np.random.default_rng(9)
    x = rng.integers(0, 2, 100, dtype=np.uint8)
    seed = multiply_add_shift_seed(100, 40, rng=rng)
    with pytest.raises(InputError, match=r"width n \+ out_bits - 1 = 138"):
        multiply_add_shift_hash(x, seed, 39)  # a seed drawn for another length
    with pytest.raises(InputError, match=r"in \[0, 2\^139\)"):
        multiply_add_shift_hash(x, MultiplyAddShiftSeed(1 << 139, 0, 139), 40)
    with pytest.raises(InputError, match=r"out_bits must be an integer in \[1, 100\]"):
        multiply_add_shift_hash(x, MultiplyAddShiftSeed(0, 0, 200), 101)  # l > n
    with pytest.raises(InputError, match=r"out_bits must be an integer in \[1, 100\]"):
        multiply_add_shift_seed(100, 101, rng=rng)
    with pytest.raises(InputError, match="same length"):
        multiply_add_shift_hash_many([x, x[:-1]], seed, 40)
